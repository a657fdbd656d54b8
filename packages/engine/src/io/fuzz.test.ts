import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../data/batches.js';
import { EngineError } from '../errors.js';
import type { TensorData } from '../onnx/ir.js';
import { parseModelConfigText } from './config.js';
import { floatToBf16 } from './convert.js';
import { ConfigError, SafetensorsError } from './errors.js';
import { parseSafetensors } from './safetensors-read.js';
import { serializeSafetensors } from './safetensors-write.js';
import { FIXTURES } from './test-paths.js';

// Issue 3 "Bad input": generated malformed safetensors files and config.json files must each end in a typed
// error or a valid parse — no crash, no hang, no allocation beyond what the input justifies. Every case is
// derived from (SEED, index), so a failure message names both and the case reproduces on its own.
const SEED = Number(process.env.TUNEMESH_FUZZ_SEED ?? 20240611);
const CASES = 1200;
/** One case parses a few-kilobyte input; anything near this is a hang or a quadratic blow-up. */
const CASE_MS = 250;

const rng = seededRandom;

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
}

const WILD_NUMBERS = [
  0,
  -1,
  1,
  2,
  3,
  7,
  0.5,
  -0.0,
  1e-300,
  1e300,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 60,
  2 ** 64,
  Number.MAX_SAFE_INTEGER,
  1.5,
  1e21,
];
function wildValue(g: Gen): unknown {
  switch (g.int(9)) {
    case 0:
      return g.pick(WILD_NUMBERS);
    case 1:
      return g.int(5000);
    case 2:
      return null;
    case 3:
      return g.pick([
        '',
        'x',
        'F32',
        'BF16',
        'linear',
        'llama3',
        'yarn',
        'silu',
        'LlamaForCausalLM',
        '\u0000',
        '__proto__',
      ]);
    case 4:
      return g.chance(0.5);
    case 5:
      return [g.pick(WILD_NUMBERS), g.int(100)];
    case 6:
      return {};
    case 7:
      return Array.from({ length: g.int(4) }, () => g.pick(WILD_NUMBERS));
    default:
      return { type: g.pick(['linear', 'dynamic', 'llama3', 'yarn', 'default']), factor: g.pick(WILD_NUMBERS) };
  }
}

// ---- safetensors -------------------------------------------------------------------------------------------

function validFile(g: Gen): Uint8Array {
  const tensors: Record<string, TensorData> = {};
  const n = 1 + g.int(4);
  for (let i = 0; i < n; i++) {
    const dims = Array.from({ length: g.int(3) }, () => g.int(5));
    const count = dims.reduce((a, b) => a * b, 1);
    const kind = g.int(4);
    tensors[`t${i}`] =
      kind === 0
        ? { dtype: 'float32', dims, data: Float32Array.from({ length: count }, () => g.r() - 0.5) }
        : kind === 1
          ? { dtype: 'bfloat16', dims, data: Uint16Array.from({ length: count }, () => floatToBf16(g.r())) }
          : kind === 2
            ? { dtype: 'int64', dims, data: BigInt64Array.from({ length: count }, (_, j) => BigInt(j)) }
            : { dtype: 'uint8', dims, data: Uint8Array.from({ length: count }, () => g.int(256)) };
  }
  return serializeSafetensors(tensors, g.chance(0.5) ? { format: 'pt' } : undefined);
}

function withHeader(json: string, data: Uint8Array, lenDelta = 0): Uint8Array {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, h.length + lenDelta)), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function split(file: Uint8Array): { header: Record<string, Record<string, unknown>>; data: Uint8Array } {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))), data: file.subarray(8 + n) };
}

function mutateSafetensors(g: Gen): Uint8Array {
  const file = validFile(g);
  const { header, data } = split(file);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const victim = names.length ? (header[g.pick(names)] as Record<string, unknown>) : {};
  switch (g.int(14)) {
    case 0: // truncated anywhere
      return file.subarray(0, g.int(file.length));
    case 1: {
      // header length set to something else
      const out = file.slice();
      const v = g.pick([
        0n,
        1n,
        7n,
        BigInt(out.length),
        BigInt(out.length - 7),
        2n ** 32n,
        2n ** 60n,
        2n ** 64n - 1n,
        BigInt(g.int(out.length * 2)),
      ]);
      new DataView(out.buffer).setBigUint64(0, v, true);
      return out;
    }
    case 2: {
      // random bytes flipped in the header
      const out = file.slice();
      const n = Number(new DataView(out.buffer).getBigUint64(0, true));
      for (let i = 0; i < 1 + g.int(4); i++) out[8 + g.int(n)] = g.int(256);
      return out;
    }
    case 3: // garbled JSON text
      return withHeader(JSON.stringify(header).slice(0, g.int(60)) + g.pick(['', '}', ']', '"', ',}', '{']), data);
    case 4:
      victim.dtype = g.pick([
        'F32',
        'F16',
        'BF16',
        'I64',
        'I16',
        'U16',
        'U32',
        'BOOL',
        'U64',
        'F8_E4M3',
        'f32',
        '',
        'Q8',
        7,
        null,
      ]);
      break;
    case 5:
      victim.shape = g.pick([
        [2 ** 60],
        [2 ** 30, 2 ** 30, 2 ** 30],
        [-1],
        [1.5],
        ['3'],
        4,
        null,
        [],
        [0],
        [Number.MAX_SAFE_INTEGER, 2],
        [1e308, 1e308],
      ]);
      break;
    case 6: {
      const o = victim.data_offsets as number[] | undefined;
      const [b = 0, e = 0] = o ?? [];
      victim.data_offsets = g.pick([
        [e, b],
        [b + 1, e + 1],
        [b - 1, e - 1],
        [0, e],
        [b, data.length + 8],
        [b],
        [b, e, 0],
        null,
        [2 ** 60, 2 ** 60 + 4],
        [-4, 0],
        ['0', '4'],
      ]);
      break;
    }
    case 7:
      delete victim[g.pick(['dtype', 'shape', 'data_offsets'])];
      break;
    case 8:
      header[`extra${g.int(9)}`] = (
        g.chance(0.5) ? { dtype: 'U8', shape: [1], data_offsets: [0, 1] } : wildValue(g)
      ) as Record<string, unknown>;
      break;
    case 9:
      header.__metadata__ = g.pick([{ a: 1 }, [], 'x', null, { a: 'b' }, { a: { b: 'c' } }]) as Record<string, unknown>;
      break;
    case 10: // data section too long or short
      return withHeader(
        JSON.stringify(header),
        g.chance(0.5)
          ? new Uint8Array(data.length + 1 + g.int(9))
          : data.subarray(0, Math.max(0, data.length - 1 - g.int(9))),
      );
    case 11: // header length off by a little
      return withHeader(JSON.stringify(header), data, g.pick([-3, -1, 1, 2, 9]));
    case 12: {
      // invalid UTF-8 inside a name
      const out = withHeader(JSON.stringify({ ...header, ['\u00ff']: victim }), data).slice();
      const i = out.indexOf(0xc3, 8);
      if (i > 0) out[i] = 0xff;
      return out;
    }
    default: // pure garbage
      return Uint8Array.from({ length: g.int(64) }, () => g.int(256));
  }
  return withHeader(JSON.stringify(header), data, g.chance(0.1) ? g.pick([-1, 1]) : 0);
}

function outputBytes(tensors: Map<string, TensorData>): number {
  let n = 0;
  for (const t of tensors.values()) n += t.data.byteLength;
  return n;
}

// ---- config.json -------------------------------------------------------------------------------------------

const BASE_CONFIGS = ['tiny-qwen2', 'tiny-llama', 'tiny-gpt2', 'tiny-qwen2-bf16'].map((m) =>
  readFileSync(join(FIXTURES, 'models', m, 'config.json'), 'utf8'),
);

function mutateConfig(g: Gen): string {
  const text = g.pick(BASE_CONFIGS);
  const cfg = JSON.parse(text) as Record<string, unknown>;
  const keys = Object.keys(cfg);
  const extraKeys = [
    'head_dim',
    'rope_scaling',
    'rope_parameters',
    'attention_bias',
    'mlp_bias',
    'sliding_window',
    'use_sliding_window',
    'n_inner',
    'pad_token_id',
    'architectures',
    'model_type',
  ];
  const mutations = 1 + g.int(3);
  for (let m = 0; m < mutations; m++) {
    switch (g.int(8)) {
      case 0:
        delete cfg[g.pick(keys)];
        break;
      case 1:
      case 2:
        cfg[g.pick(g.chance(0.7) ? keys : extraKeys)] = wildValue(g);
        break;
      case 3:
        cfg.architectures = g.pick([
          ['FalconForCausalLM'],
          [],
          'LlamaForCausalLM',
          [3],
          ['GPT2LMHeadModel'],
          ['MistralForCausalLM'],
          null,
        ]);
        break;
      case 4:
        cfg.rope_scaling = g.pick([
          null,
          { type: 'linear', factor: 2 },
          { rope_type: 'yarn', factor: 4 },
          { type: 'llama3', factor: 8 },
          { type: 'dynamic' },
          { type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 10 },
          [],
          'linear',
        ]);
        break;
      case 5: // sizes that do not divide
        cfg[g.pick(['hidden_size', 'n_embd', 'num_attention_heads', 'n_head', 'num_key_value_heads'])] = g.pick([
          3, 5, 7, 63, 65, 0, -4,
        ]);
        break;
      case 6:
        return JSON.stringify(cfg).slice(0, g.int(text.length));
      default:
        return g.pick(['', 'null', '[]', '"x"', '1', '{', '{"architectures": ["LlamaForCausalLM"]}', '\u0000']);
    }
  }
  return JSON.stringify(cfg);
}

// ---- the runs ----------------------------------------------------------------------------------------------

function runCases(
  kind: string,
  make: (g: Gen) => unknown,
  check: (input: never) => 'ok' | 'error',
  typed: (e: unknown) => boolean,
): { ok: number; errors: number } {
  let ok = 0;
  let errors = 0;
  for (let i = 0; i < CASES; i++) {
    const g = new Gen(rng(SEED * 7919 + i));
    const where = `${kind} fuzz case ${i} (seed ${SEED}; rerun with TUNEMESH_FUZZ_SEED=${SEED})`;
    const input = make(g);
    const start = performance.now();
    let outcome: 'ok' | 'error';
    try {
      outcome = check(input as never);
    } catch (e) {
      if (!typed(e)) throw new Error(`${where}: untyped failure ${String(e)}`, { cause: e });
      if (!(e as Error).message) throw new Error(`${where}: typed error without a message`);
      outcome = 'error';
    }
    const ms = performance.now() - start;
    if (ms > CASE_MS) throw new Error(`${where}: took ${ms.toFixed(0)} ms`);
    if (outcome === 'ok') ok++;
    else errors++;
  }
  return { ok, errors };
}

describe('fuzz', () => {
  it(`${CASES} malformed safetensors files end in a typed error or a valid parse`, () => {
    const { ok, errors } = runCases(
      'safetensors',
      mutateSafetensors,
      (buf: Uint8Array) => {
        const { tensors } = parseSafetensors(buf, { file: 'fuzz.safetensors' });
        // A parse that succeeds allocates at most twice the input (bf16 -> float32 is the widest conversion).
        if (outputBytes(tensors) > 2 * buf.length)
          throw new Error(`allocated ${outputBytes(tensors)} bytes from a ${buf.length}-byte input`);
        return 'ok';
      },
      (e) => e instanceof SafetensorsError,
    );
    expect(ok + errors).toBe(CASES);
    // The generator must mostly produce broken files, or the test proves little.
    expect(errors).toBeGreaterThan(CASES * 0.6);
  });

  it(`${CASES} malformed config.json files end in a typed error or a consistent config`, () => {
    const { ok, errors } = runCases(
      'config.json',
      mutateConfig,
      (text: string) => {
        const c = parseModelConfigText(text, 'fuzz/config.json');
        for (const v of [
          c.hiddenSize,
          c.numLayers,
          c.numHeads,
          c.numKvHeads,
          c.headDim,
          c.intermediateSize,
          c.vocabSize,
        ]) {
          if (!Number.isSafeInteger(v) || v <= 0)
            throw new Error(`accepted a config with a non-positive or non-integer size: ${JSON.stringify(c)}`);
        }
        if (c.numHeads % c.numKvHeads !== 0) throw new Error('accepted heads not divisible by kv heads');
        return 'ok';
      },
      (e) => e instanceof ConfigError && e instanceof EngineError,
    );
    expect(ok + errors).toBe(CASES);
    expect(errors).toBeGreaterThan(CASES * 0.5);
    expect(ok).toBeGreaterThan(0);
  });
});
