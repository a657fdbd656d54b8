// Sliding-window attention (Mistral; Qwen2 with use_sliding_window): query q sees keys k with
// q - window < k <= q. Checked by a property that needs no reference model: in a one-layer model the keys are
// functions of their own token only, so position t's logits with window W equal the full-attention logits of
// the last position of tokens t-W+1..t (same position ids).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseModelConfig } from '../io/config.js';
import { loadModelDir } from '../io/model-dir.js';
import type { TensorData } from '../onnx/ir.js';
import { createSession, releaseAllSessions, type Session } from '../onnx/runtime.js';
import { buildCausalLM } from './causal-lm.js';
import { slidingWindowFor } from './config.js';
import { FIXTURES } from './testing.js';

afterAll(releaseAllSessions);

const i64 = (rows: number[][]): TensorData => ({
  dtype: 'int64',
  dims: [rows.length, rows[0]!.length],
  data: BigInt64Array.from(rows.flat().map(BigInt)),
});

async function mistral(window: number | null, layers: number) {
  const dir = join(FIXTURES, 'models', 'tiny-llama');
  const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const config = parseModelConfig(
    {
      ...json,
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      num_hidden_layers: layers,
      sliding_window: window,
    },
    'mistral test config',
  );
  const { weights } = await loadModelDir(dir);
  const kept = new Map(
    [...weights].filter(([n]) => !/^model\.layers\.(\d+)\./.test(n) || Number(/\d+/.exec(n)![0]) < layers),
  );
  return { config, weights: kept };
}

const TOKENS = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10, 318, 97, 115, 115];
const V = 320;

const sessions = new Map<string, Session>();

async function logits(window: number | null, layers: number, ids: number[], pos: number[]): Promise<Float32Array> {
  const key = `${window}/${layers}`;
  let session = sessions.get(key);
  if (session === undefined) {
    const { config, weights } = await mistral(window, layers);
    session = await createSession(buildCausalLM(config, weights, { mode: 'logits' }));
    sessions.set(key, session);
  }
  const out = await session.run({
    input_ids: i64([ids]),
    attention_mask: i64([ids.map(() => 1)]),
    position_ids: i64([pos]),
  });
  return out.logits!.data as Float32Array;
}

describe('sliding-window attention', () => {
  it('a position with window W sees exactly its last W tokens (one-layer model)', async () => {
    const W = 4;
    const T = TOKENS.length;
    const all = TOKENS.map((_, t) => t);
    const windowed = await logits(W, 1, TOKENS, all);
    const full = await logits(null, 1, TOKENS, all);
    let maxDiffFromFull = 0;
    for (let t = 0; t < T; t++) {
      const from = Math.max(0, t - W + 1);
      const ref = await logits(null, 1, TOKENS.slice(from, t + 1), all.slice(from, t + 1));
      const last = (t - from) * V;
      for (let v = 0; v < V; v++) {
        expect(Math.abs(windowed[t * V + v]! - ref[last + v]!)).toBeLessThan(1e-5);
        maxDiffFromFull = Math.max(maxDiffFromFull, Math.abs(windowed[t * V + v]! - full[t * V + v]!));
      }
    }
    expect(maxDiffFromFull).toBeGreaterThan(1e-2); // the window did change positions beyond it
  });

  it('a window at least as long as the sequence changes nothing', async () => {
    const all = TOKENS.map((_, t) => t);
    const a = await logits(TOKENS.length, 2, TOKENS, all);
    const b = await logits(null, 2, TOKENS, all);
    expect(a).toEqual(b);
  });

  it('Qwen2 slides only with use_sliding_window, on layers >= max_window_layers', async () => {
    const json = JSON.parse(await readFile(join(FIXTURES, 'models', 'tiny-qwen2', 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const off = parseModelConfig({ ...json, sliding_window: 8 }, 'qwen2');
    expect([0, 1].map((i) => slidingWindowFor(off, i))).toEqual([null, null]);
    const on = parseModelConfig(
      { ...json, use_sliding_window: true, sliding_window: 8, max_window_layers: 1 },
      'qwen2',
    );
    expect([0, 1].map((i) => slidingWindowFor(on, i))).toEqual([null, 8]);
    const { config: llama } = await mistral(null, 2);
    expect(slidingWindowFor(llama, 0)).toBeNull();
  });
});
