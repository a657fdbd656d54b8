import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../onnx/ir.js';
import { floatToBf16 } from './convert.js';
import { ModelDirError } from './errors.js';
import { loadModelDir } from './model-dir.js';
import { loadSafetensors, readSafetensorsHeader } from './safetensors-read.js';
import { writeSafetensors } from './safetensors-write.js';
import { FIXTURES } from './test-paths.js';
import { checkWeights, expectedWeights } from './weights.js';

const MODELS = join(FIXTURES, 'models');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'tm-modeldir-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('fixture models', () => {
  it.each(['tiny-qwen2', 'tiny-qwen2-bf16', 'tiny-llama', 'tiny-gpt2'])(
    '%s loads with every expected tensor in float32',
    async (name) => {
      const m = await loadModelDir(join(MODELS, name));
      const specs = expectedWeights(m.config).filter((s) => m.weights.has(s.name));
      expect(specs.length).toBe(m.weights.size);
      for (const s of specs) {
        const t = m.weights.get(s.name) as TensorData;
        expect(t.dtype).toBe('float32');
        expect(t.dims).toEqual(s.shape);
      }
      expect(m.files).toEqual([join(MODELS, name, 'model.safetensors')]);
    },
  );

  it('ties embeddings where the config says so', async () => {
    const qwen = await loadModelDir(join(MODELS, 'tiny-qwen2'));
    expect(qwen.lmHead).toBe('model.embed_tokens.weight');
    expect(qwen.weights.has('lm_head.weight')).toBe(false);
    const llama = await loadModelDir(join(MODELS, 'tiny-llama'));
    expect(llama.lmHead).toBe('lm_head.weight');
    const gpt2 = await loadModelDir(join(MODELS, 'tiny-gpt2'));
    expect(gpt2.lmHead).toBe('transformer.wte.weight');
    // Conv1D stores [in, out]: c_attn maps 64 -> 192.
    expect(gpt2.weights.get('transformer.h.0.attn.c_attn.weight')?.dims).toEqual([64, 192]);
  });

  it('tiny-qwen2-bf16 holds the float32 weights rounded to bf16, and loads to exactly those values', async () => {
    const header = await readSafetensorsHeader(join(MODELS, 'tiny-qwen2-bf16', 'model.safetensors'));
    expect(new Set(header.tensors.map((t) => t.dtype))).toEqual(new Set(['BF16']));
    const f32 = (await loadModelDir(join(MODELS, 'tiny-qwen2'))).weights;
    const bf = (await loadModelDir(join(MODELS, 'tiny-qwen2-bf16'))).weights;
    expect([...bf.keys()].sort()).toEqual([...f32.keys()].sort());
    let mismatches = 0;
    let total = 0;
    for (const [name, t] of bf) {
      const ref = f32.get(name)?.data as Float32Array;
      const got = t.data as Float32Array;
      expect(got.length).toBe(ref.length);
      const bits = new Uint32Array(got.buffer, got.byteOffset, got.length);
      for (let i = 0; i < ref.length; i++) {
        total++;
        // Loaded bf16 has a zero low half, and equals the float32 reference rounded to nearest even.
        if ((bits[i] as number) & 0xffff || floatToBf16(ref[i] as number) !== (bits[i] as number) >>> 16) mismatches++;
      }
    }
    expect(total).toBeGreaterThan(40000);
    expect(mismatches).toBe(0);
  });
});

describe('model directory errors', () => {
  it('reports a missing directory, config or weights file', async () => {
    await expect(loadModelDir(join(tmp, 'nope'))).rejects.toMatchObject({ code: 'not-found' });
    const empty = join(tmp, 'empty');
    await cp(join(MODELS, 'tiny-llama', 'config.json'), join(empty, 'config.json'));
    await expect(loadModelDir(tmp)).rejects.toMatchObject({ code: 'missing-config' });
    await expect(loadModelDir(empty)).rejects.toMatchObject({ code: 'missing-weights-file' });
  });

  it('lists missing, mis-shaped and unexpected tensors in one error', async () => {
    const m = await loadModelDir(join(MODELS, 'tiny-llama'));
    const w = new Map(m.weights);
    w.delete('model.layers.1.mlp.up_proj.weight');
    w.set('model.layers.0.self_attn.k_proj.weight', { dtype: 'float32', dims: [64, 64], data: new Float32Array(4096) });
    w.set('model.layers.0.self_attn.extra', { dtype: 'float32', dims: [1], data: new Float32Array(1) });
    const err = (() => {
      try {
        checkWeights(m.config, w, 'x.safetensors');
      } catch (e) {
        return e as ModelDirError;
      }
      throw new Error('expected an error');
    })();
    expect(err).toBeInstanceOf(ModelDirError);
    expect(err.code).toBe('missing-weights');
    expect(err.message).toContain('model.layers.1.mlp.up_proj.weight [128, 64]');
    expect(err.message).toContain('model.layers.0.self_attn.k_proj.weight: expected [32, 64], got [64, 64]');
    expect(err.message).toContain('model.layers.0.self_attn.extra');
    expect(err.message).toContain('x.safetensors');
  });

  it('requires lm_head.weight when embeddings are not tied', async () => {
    const m = await loadModelDir(join(MODELS, 'tiny-llama'));
    const w = new Map(m.weights);
    w.delete('lm_head.weight');
    expect(() => checkWeights(m.config, w)).toThrow(/lm_head\.weight \[320, 64\]/);
  });

  it('accepts unprefixed GPT-2 names and drops the attention-mask buffers old checkpoints carry', async () => {
    const m = await loadModelDir(join(MODELS, 'tiny-gpt2'));
    const w = new Map<string, TensorData>();
    for (const [k, v] of m.weights) w.set(k.replace(/^transformer\./, ''), v);
    w.set('h.0.attn.bias', { dtype: 'float32', dims: [1, 1, 2, 2], data: new Float32Array(4) });
    const checked = checkWeights(m.config, w);
    expect([...checked.weights.keys()].sort()).toEqual([...m.weights.keys()].sort());
  });

  it('loads a sharded model directory through its index', async () => {
    const dir = join(tmp, 'sharded');
    const src = join(MODELS, 'tiny-qwen2');
    await cp(join(src, 'config.json'), join(dir, 'config.json'));
    const all = await loadSafetensors(join(src, 'model.safetensors'), { dtype: 'keep' });
    const names = [...all.keys()].sort();
    const half = Math.ceil(names.length / 2);
    const weightMap: Record<string, string> = {};
    for (const [i, part] of [names.slice(0, half), names.slice(half)].entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await writeSafetensors(join(dir, file), new Map(part.map((n) => [n, all.get(n) as TensorData])));
      for (const n of part) weightMap[n] = file;
    }
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const m = await loadModelDir(dir);
    expect(m.files.length).toBe(3);
    const ref = await loadModelDir(src);
    for (const [n, t] of ref.weights) expect(m.weights.get(n)?.data, n).toEqual(t.data);
    expect(JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')).weight_map).toEqual(weightMap);
  });
});
