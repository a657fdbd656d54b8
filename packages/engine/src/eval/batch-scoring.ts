// What the batched scorers (row-scores, continuation-scores) share: their options, the batch-size check and
// the log-softmax of one logits row at one token.
import { InferError } from '../infer/errors.js';

export interface BatchScoreOptions {
  readonly padId: number;
  /** Rows (or prompts) per session run. Default 8. */
  readonly batchSize?: number;
  /** Checked between batches; aborting stops before the next run. */
  readonly signal?: AbortSignal;
  /** Called after each batch with the rows (or prompts) scored so far. */
  readonly onProgress?: (done: number) => void;
}

/** The batch size of `opts`, default 8; anything but an integer >= 1 is an InferError. */
export function batchSizeOf(opts: BatchScoreOptions): number {
  const batchSize = opts.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new InferError('bad_batch_size', `batch size must be an integer >= 1, got ${batchSize}`);
  return batchSize;
}

/** log-softmax of `row` at `index`, in float64 (max subtracted first, so large logits do not overflow). */
export function logProbAt(row: Float32Array, index: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[index]! - max - Math.log(sum);
}
