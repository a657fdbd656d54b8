// Batching of prompts of different lengths for decoding: left padding keeps every row's last real token in
// the last column, so one step's logits row is always at the same position for the whole batch.

import type { TensorData } from '../onnx/ir.js';
import { InferError } from './errors.js';

export interface LeftPaddedBatch {
  readonly batch: number;
  readonly seq: number;
  /** [batch, seq] int64, pads first. */
  readonly inputIds: BigInt64Array;
  /** [batch, seq] int64: 0 on pads, 1 on tokens. */
  readonly attentionMask: BigInt64Array;
  /** Real (unpadded) length of each row. */
  readonly lengths: readonly number[];
}

/** Left-pads token rows to the longest one. Every row needs at least one token. */
export function leftPad(rows: readonly (readonly number[])[], padId: number): LeftPaddedBatch {
  if (rows.length === 0) throw new InferError('empty_batch', 'no prompts given');
  const lengths = rows.map((r, i) => {
    if (r.length === 0) throw new InferError('empty_prompt', `prompt ${i} has no tokens`);
    return r.length;
  });
  const seq = Math.max(...lengths);
  const batch = rows.length;
  const inputIds = new BigInt64Array(batch * seq).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(batch * seq);
  rows.forEach((row, b) => {
    const offset = b * seq + seq - row.length;
    row.forEach((id, t) => {
      inputIds[offset + t] = BigInt(id);
      attentionMask[offset + t] = 1n;
    });
  });
  return { batch, seq, inputIds, attentionMask, lengths };
}

/**
 * Position ids as transformers derives them from the attention mask: cumsum(mask) - 1 along the sequence,
 * with masked positions set to 1 (their value is irrelevant; it must only be a valid index). With left
 * padding this makes every row's first real token position 0.
 */
export function positionIdsFromMask(mask: BigInt64Array, batch: number, seq: number): BigInt64Array {
  const out = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    let sum = 0n;
    for (let t = 0; t < seq; t++) {
      const m = mask[b * seq + t]!;
      sum += m;
      out[b * seq + t] = m === 0n ? 1n : sum - 1n;
    }
  }
  return out;
}

export function int64Tensor(data: BigInt64Array, dims: readonly number[]): TensorData {
  return { dtype: 'int64', dims, data };
}
