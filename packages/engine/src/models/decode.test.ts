// Decode mode (KV cache, HF-ONNX names): feeding a sequence in chunks with the cache gives the logits of the
// full-sequence graph, for a grouped-query model (Qwen2) and GPT-2, right- and left-padded.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../io/model-dir.js';
import type { TensorData } from '../onnx/ir.js';
import { createSession, releaseAllSessions, runGraph } from '../onnx/runtime.js';
import { buildCausalLM, CAUSAL_LM_NAMES as N } from './causal-lm.js';
import { FIXTURES, fixtureBatch } from './testing.js';

afterAll(releaseAllSessions);

const i64 = (rows: number[][]): TensorData => ({
  dtype: 'int64',
  dims: [rows.length, rows[0]!.length],
  data: BigInt64Array.from(rows.flat().map(BigInt)),
});

/** Columns [from, to) of a [B, T] int64 tensor as number rows. */
function cols(t: TensorData, from: number, to: number): number[][] {
  const [B, T] = t.dims as [number, number];
  const d = t.data as BigInt64Array;
  return Array.from({ length: B }, (_, b) => Array.from({ length: to - from }, (_, j) => Number(d[b * T + from + j])));
}

describe.each(['tiny-qwen2', 'tiny-gpt2'])('%s decode mode', (name) => {
  it('chunked decoding with the KV cache reproduces the full-sequence logits (1e-4)', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', name));
    const { feeds } = await fixtureBatch(join(FIXTURES, 'data', 'tiny-chat.jsonl'));
    const T = 24; // the first 24 positions keep the test fast; every row has at least 24 tokens
    const ids = cols(feeds.input_ids, 0, T);
    const pos = cols(feeds.position_ids, 0, T);
    const V = config.vocabSize;

    const full = await runGraph(buildCausalLM(config, weights, { mode: 'logits' }), {
      input_ids: i64(ids),
      attention_mask: i64(ids.map((r) => r.map(() => 1))),
      position_ids: i64(pos),
    });
    const ref = full.logits!.data as Float32Array;

    const graph = buildCausalLM(config, weights, { mode: 'decode' });
    const session = await createSession(graph);
    const B = ids.length;
    const kv = (len: number): TensorData => ({
      dtype: 'float32',
      dims: [B, config.numKvHeads, len, config.headDim],
      data: new Float32Array(B * config.numKvHeads * len * config.headDim),
    });
    let past: Record<string, TensorData> = {};
    for (let i = 0; i < config.numLayers; i++) {
      past[N.pastKey(i)] = kv(0);
      past[N.pastValue(i)] = kv(0);
    }
    // a 5-token prompt, single tokens, then a 3-token chunk on a non-empty cache, then single tokens
    const chunks = [5, 1, 1, 1, 3, ...Array.from({ length: T - 11 }, () => 1)];
    let start = 0;
    let maxErr = 0;
    let maxRef = 0;
    for (const n of chunks) {
      const out = await session.run({
        input_ids: i64(ids.map((r) => r.slice(start, start + n))),
        attention_mask: i64(ids.map((r) => r.slice(0, start + n).map(() => 1))),
        position_ids: i64(pos.map((r) => r.slice(start, start + n))),
        ...past,
      });
      const logits = out.logits!;
      expect(logits.dims).toEqual([B, n, V]);
      const got = logits.data as Float32Array;
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < n; j++) {
          for (let v = 0; v < V; v++) {
            const r = ref[(b * T + start + j) * V + v]!;
            maxErr = Math.max(maxErr, Math.abs(got[(b * n + j) * V + v]! - r));
            maxRef = Math.max(maxRef, Math.abs(r));
          }
        }
      }
      past = {};
      for (let i = 0; i < config.numLayers; i++) {
        const k = out[N.presentKey(i)]!;
        expect(k.dims).toEqual([B, config.numKvHeads, start + n, config.headDim]);
        past[N.pastKey(i)] = k;
        past[N.pastValue(i)] = out[N.presentValue(i)]!;
      }
      start += n;
    }
    await session.release();
    console.log(`${name}: decode vs full logits, max error / max |logit| = ${(maxErr / maxRef).toExponential(2)}`);
    expect(maxErr / maxRef).toBeLessThan(1e-4);
  });

  it('left padding: pad rows stay finite and real tokens see the same logits as the unpadded row', async () => {
    const { config, weights } = await loadModelDir(join(FIXTURES, 'models', name));
    const row = [318, 85, 115, 101, 114, 58, 32, 104, 105, 10];
    const short = row.slice(0, 6);
    const pad = row.length - short.length;
    const graph = buildCausalLM(config, weights, { mode: 'logits' });
    const out = await runGraph(graph, {
      input_ids: i64([row, [...Array(pad).fill(0), ...short]]),
      attention_mask: i64([row.map(() => 1), [...Array(pad).fill(0), ...short.map(() => 1)]]),
      // transformers' generate: cumsum(mask) - 1, pads at 1
      position_ids: i64([row.map((_, t) => t), [...Array(pad).fill(1), ...short.map((_, t) => t)]]),
    });
    const V = config.vocabSize;
    const T = row.length;
    const logits = out.logits!.data as Float32Array;
    expect(logits.every(Number.isFinite)).toBe(true);
    let err = 0;
    for (let t = 0; t < short.length; t++) {
      for (let v = 0; v < V; v++) {
        err = Math.max(err, Math.abs(logits[(T + pad + t) * V + v]! - logits[t * V + v]!));
      }
    }
    expect(err).toBeLessThan(1e-4);
  });
});
