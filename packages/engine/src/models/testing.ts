// Test helpers for the fixture-fidelity tests (not part of the public API).

import { readFile } from 'node:fs/promises';
import type { TensorData } from '../onnx/ir.js';

export { FIXTURES } from '../io/test-paths.js';

export interface FixtureBatch {
  readonly batch: number;
  readonly seq: number;
  readonly feeds: {
    input_ids: TensorData;
    attention_mask: TensorData;
    position_ids: TensorData;
    labels: TensorData;
  };
}

const i64 = (data: BigInt64Array, dims: readonly number[]): TensorData => ({ dtype: 'int64', dims, data });

/** The fixtures' convention: all rows one batch, right-padded (pad 0, label -100, mask 0), positions 0..T-1. */
export async function fixtureBatch(file: string): Promise<FixtureBatch> {
  const rows = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { input_ids: number[]; labels?: number[] });
  const batch = rows.length;
  const seq = Math.max(...rows.map((r) => r.input_ids.length));
  const ids = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq);
  const pos = new BigInt64Array(batch * seq);
  const labels = new BigInt64Array(batch * seq).fill(-100n);
  rows.forEach((r, b) => {
    for (let t = 0; t < seq; t++) pos[b * seq + t] = BigInt(t);
    r.input_ids.forEach((id, t) => {
      ids[b * seq + t] = BigInt(id);
      mask[b * seq + t] = 1n;
      labels[b * seq + t] = BigInt(r.labels?.[t] ?? id);
    });
  });
  const dims = [batch, seq];
  return {
    batch,
    seq,
    feeds: {
      input_ids: i64(ids, dims),
      attention_mask: i64(mask, dims),
      position_ids: i64(pos, dims),
      labels: i64(labels, dims),
    },
  };
}

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** max |a - b| over positions where mask is 1, divided by max |b| there: the fixtures' logits measure. */
export function maskedRelMaxError(a: Float32Array, b: Float32Array, mask: BigInt64Array, vocab: number): number {
  let err = 0;
  let scale = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0n) continue;
    for (let v = p * vocab; v < (p + 1) * vocab; v++) {
      err = Math.max(err, Math.abs((a[v] as number) - (b[v] as number)));
      scale = Math.max(scale, Math.abs(b[v] as number));
    }
  }
  return err / scale;
}
