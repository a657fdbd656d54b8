// Per-row log-likelihood of the loss-carrying tokens through a logits-mode graph, in right-padded batches.
// evaluateLoss gives the dataset mean; classification and per-sample losses need each row's own sum.
import { IGNORE_INDEX } from '../data/rows.js';
import { int64Tensor, positionIdsFromMask } from '../infer/batch.js';
import { InferError } from '../infer/errors.js';
import { rightPadForLoss, type ScoringRow } from '../infer/score.js';
import { floatOutput, type RunnableSession } from '../infer/session.js';
import type { TensorData } from '../onnx/ir.js';
import { type BatchScoreOptions, batchSizeOf, logProbAt } from './batch-scoring.js';

export interface RowScore {
  /** Sum of log p(label token | prefix) over the row's scored tokens (nats, <= 0). */
  readonly logProb: number;
  /** Scored tokens (labels other than -100, after the first position). */
  readonly tokens: number;
}

export type RowScoreOptions = BatchScoreOptions;

/** Each row's summed log-probability of its labelled tokens (labels shift by one, as in training). */
export async function scoreRows(
  session: RunnableSession,
  rows: readonly ScoringRow[],
  opts: RowScoreOptions,
): Promise<RowScore[]> {
  const batchSize = batchSizeOf(opts);
  const out: RowScore[] = [];
  const wantsPositions = session.inputNames.includes('position_ids');
  for (let start = 0; start < rows.length; start += batchSize) {
    opts.signal?.throwIfAborted();
    const slice = rows.slice(start, start + batchSize);
    slice.forEach((r, i) => {
      if (r.inputIds.length === 0) throw new InferError('empty_row', `row ${start + i} has no tokens`);
    });
    const b = rightPadForLoss(slice, opts.padId);
    const dims = [b.batch, b.seq];
    const feeds: Record<string, TensorData> = {
      input_ids: int64Tensor(b.inputIds, dims),
      attention_mask: int64Tensor(b.attentionMask, dims),
    };
    if (wantsPositions) feeds.position_ids = int64Tensor(positionIdsFromMask(b.attentionMask, b.batch, b.seq), dims);
    const logits = floatOutput(await session.run(feeds, ['logits']), 'logits');
    const vocab = logits.dims[2]!;
    slice.forEach((row, i) => {
      const labels = row.labels ?? row.inputIds;
      let logProb = 0;
      let tokens = 0;
      for (let t = 1; t < row.inputIds.length; t++) {
        const label = labels[t]!;
        if (label === IGNORE_INDEX) continue;
        const at = (i * b.seq + t - 1) * vocab;
        logProb += logProbAt(logits.data.subarray(at, at + vocab), label);
        tokens++;
      }
      out.push({ logProb, tokens });
    });
    opts.onProgress?.(out.length);
  }
  return out;
}
