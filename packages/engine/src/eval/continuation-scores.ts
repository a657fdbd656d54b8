// Log-likelihoods of the same few continuations (a classification task's label words) after many prompts,
// with each prompt run once: a batch of prompts goes through the decode graph (left-padded prefill), which
// gives every continuation's first token from the last prompt position, then each continuation's remaining
// tokens run on that prefill's KV cache. The result equals scoring every row prompt + continuation from
// scratch (scoreRows: same positions, causal attention), at the cost of one prompt pass instead of one per
// continuation — the difference between 2k and k+1 prompt passes for k label words.
import { int64Tensor, leftPad, positionIdsFromMask } from '../infer/batch.js';
import { InferError } from '../infer/errors.js';
import {
  type DecoderModel,
  floatOutput,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
} from '../infer/session.js';
import type { TensorData } from '../onnx/ir.js';
import { type BatchScoreOptions, batchSizeOf, logProbAt } from './batch-scoring.js';

/** Options of the batched scorers; batches are of prompts here. */
export type ContinuationScoreOptions = BatchScoreOptions;

/**
 * scores[p][c]: the summed log-probability (nats) of continuation c's tokens after prompt p. Every prompt and
 * every continuation needs at least one token.
 */
export async function scoreContinuations(
  model: DecoderModel,
  prompts: readonly (readonly number[])[],
  continuations: readonly (readonly number[])[],
  opts: ContinuationScoreOptions,
): Promise<number[][]> {
  const batchSize = batchSizeOf(opts);
  continuations.forEach((c, j) => {
    if (c.length === 0) throw new InferError('empty_row', `continuation ${j} has no tokens`);
  });
  // A decoder that starts from a virtual-token cache (prompt learning) needs that cache in front of every
  // prompt; this scorer starts from an empty one, so it refuses rather than score without the adapter.
  if ((model as { prefix?: unknown }).prefix !== undefined)
    throw new InferError('unsupported', 'scoreContinuations does not take a decoder with a virtual-token prefix');
  const fetch = ['logits'];
  for (let l = 0; l < model.layers; l++) fetch.push(presentKeyName(l), presentValueName(l));
  const out: number[][] = [];
  for (let start = 0; start < prompts.length; start += batchSize) {
    opts.signal?.throwIfAborted();
    const slice = prompts.slice(start, start + batchSize);
    const padded = leftPad(slice, opts.padId);
    const { batch, seq } = padded;
    const prefillFeeds: Record<string, TensorData> = {
      input_ids: int64Tensor(padded.inputIds, [batch, seq]),
      attention_mask: int64Tensor(padded.attentionMask, [batch, seq]),
      position_ids: int64Tensor(positionIdsFromMask(padded.attentionMask, batch, seq), [batch, seq]),
    };
    const empty = (): TensorData =>
      model.kvDtype === 'float32'
        ? { dtype: 'float32', dims: [batch, model.kvHeads, 0, model.headDim], data: new Float32Array(0) }
        : { dtype: 'float16', dims: [batch, model.kvHeads, 0, model.headDim], data: new Uint16Array(0) };
    for (let l = 0; l < model.layers; l++) {
      prefillFeeds[pastKeyName(l)] = empty();
      prefillFeeds[pastValueName(l)] = empty();
    }
    const prefill = await model.session.run(prefillFeeds, fetch);
    const logits = floatOutput(prefill, 'logits');
    const vocab = logits.dims[2] as number;
    // The cache the continuations run on (reused for each one, so it is copied in, never moved).
    const past: Record<string, TensorData> = {};
    for (let l = 0; l < model.layers; l++) {
      const k = prefill[presentKeyName(l)];
      const v = prefill[presentValueName(l)];
      if (!k || !v) throw new InferError('bad_model_output', `the decode graph returned no present.${l} cache`);
      past[pastKeyName(l)] = k;
      past[pastValueName(l)] = v;
    }
    const scores = slice.map(() => continuations.map(() => 0));
    // First tokens: from the last prompt position of each row (left padding puts it at seq - 1).
    for (let b = 0; b < batch; b++) {
      const at = (b * seq + seq - 1) * vocab;
      const row = logits.data.subarray(at, at + vocab);
      continuations.forEach((c, j) => {
        (scores[b] as number[])[j] = logProbAt(row, c[0] as number);
      });
    }
    // The rest of each continuation: its tokens but the last go in, each predicts the next.
    for (const [j, c] of continuations.entries()) {
      const n = c.length - 1;
      if (n === 0) continue;
      const ids = new BigInt64Array(batch * n);
      const positions = new BigInt64Array(batch * n);
      const mask = new BigInt64Array(batch * (seq + n));
      for (let b = 0; b < batch; b++) {
        for (let i = 0; i < n; i++) {
          ids[b * n + i] = BigInt(c[i] as number);
          positions[b * n + i] = BigInt((padded.lengths[b] as number) + i);
        }
        mask.set(padded.attentionMask.subarray(b * seq, (b + 1) * seq), b * (seq + n));
        mask.fill(1n, b * (seq + n) + seq, (b + 1) * (seq + n));
      }
      const res = await model.session.run(
        {
          input_ids: int64Tensor(ids, [batch, n]),
          attention_mask: int64Tensor(mask, [batch, seq + n]),
          position_ids: int64Tensor(positions, [batch, n]),
          ...past,
        },
        ['logits'],
      );
      const next = floatOutput(res, 'logits');
      for (let b = 0; b < batch; b++) {
        const row = scores[b] as number[];
        let sum = row[j] as number;
        for (let i = 0; i < n; i++) {
          const at = (b * n + i) * vocab;
          sum += logProbAt(next.data.subarray(at, at + vocab), c[i + 1] as number);
        }
        row[j] = sum;
      }
    }
    out.push(...scores);
    opts.onProgress?.(out.length);
  }
  return out;
}
