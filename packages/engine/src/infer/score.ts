// Scoring: dataset loss / perplexity through a loss-mode graph, and log-probabilities of given continuations
// (answer options) through a logits-mode graph.

import { IGNORE_INDEX } from '../data/rows.js';
import type { TensorData } from '../onnx/ir.js';
import { int64Tensor, positionIdsFromMask } from './batch.js';
import { InferError } from './errors.js';
import { floatOutput, type RunnableSession } from './session.js';

export interface ScoringRow {
  readonly inputIds: readonly number[];
  /** Same length as inputIds; -100 excludes a position. Absent: every token is a target. */
  readonly labels?: readonly number[];
}

export interface LossResult {
  /** Mean token negative log-likelihood over every scored token of the dataset (nats). */
  readonly loss: number;
  readonly perplexity: number;
  /** Number of scored tokens: label positions after the first that are not -100 (labels shift by one). */
  readonly tokens: number;
}

export interface RightPaddedBatch {
  readonly batch: number;
  readonly seq: number;
  readonly inputIds: BigInt64Array;
  readonly attentionMask: BigInt64Array;
  readonly labels: BigInt64Array;
  /** Tokens that carry loss after the causal shift. */
  readonly scored: number;
}

function checkRow(row: ScoringRow, index: number, vocabSize: number | undefined): void {
  if (row.inputIds.length === 0) throw new InferError('empty_row', `row ${index} has no tokens`);
  if (row.labels && row.labels.length !== row.inputIds.length) {
    throw new InferError(
      'bad_labels',
      `row ${index}: labels has ${row.labels.length} entries, input_ids has ${row.inputIds.length}`,
    );
  }
  const inRange = (id: number) => Number.isInteger(id) && id >= 0 && (vocabSize === undefined || id < vocabSize);
  for (const id of row.inputIds) {
    if (!inRange(id))
      throw new InferError(
        'bad_token_id',
        `row ${index}: token id ${id} is out of range${vocabSize ? ` (vocabulary has ${vocabSize} ids)` : ''}`,
      );
  }
  for (const id of row.labels ?? []) {
    if (id !== IGNORE_INDEX && !inRange(id))
      throw new InferError('bad_token_id', `row ${index}: label ${id} is out of range`);
  }
}

/** Right-pads rows as the reference does: pad id in input_ids, 0 in the mask, -100 in labels. */
export function rightPadForLoss(rows: readonly ScoringRow[], padId: number): RightPaddedBatch {
  const seq = Math.max(...rows.map((r) => r.inputIds.length));
  const batch = rows.length;
  const inputIds = new BigInt64Array(batch * seq).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(batch * seq);
  const labels = new BigInt64Array(batch * seq).fill(BigInt(IGNORE_INDEX));
  let scored = 0;
  rows.forEach((row, b) => {
    const labelRow = row.labels ?? row.inputIds;
    for (let t = 0; t < row.inputIds.length; t++) {
      inputIds[b * seq + t] = BigInt(row.inputIds[t]!);
      attentionMask[b * seq + t] = 1n;
      const label = labelRow[t]!;
      labels[b * seq + t] = BigInt(label);
      if (t > 0 && label !== IGNORE_INDEX) scored++;
    }
  });
  return { batch, seq, inputIds, attentionMask, labels, scored };
}

export interface LossOptions {
  readonly batchSize?: number;
  readonly padId: number;
  readonly vocabSize?: number;
  /** Longest row the model accepts (learned position embeddings); undefined: no limit. */
  readonly maxPositions?: number;
}

/**
 * Mean NLL over all scored tokens of the dataset: the sum of every batch's token NLLs divided by the number of
 * scored tokens, so the batch size changes the result only by float rounding. Uses the graph's loss_sum and
 * loss_tokens outputs when it has them; otherwise its batch mean times the batch's scored-token count.
 */
export async function evaluateLoss(
  session: RunnableSession,
  rows: readonly ScoringRow[],
  opts: LossOptions,
): Promise<LossResult> {
  const batchSize = opts.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize >= 1))
    throw new InferError('bad_batch_size', `batch size must be an integer >= 1, got ${batchSize}`);
  if (rows.length === 0) throw new InferError('empty_dataset', 'the dataset has no rows');
  rows.forEach((r, i) => {
    checkRow(r, i, opts.vocabSize);
    if (opts.maxPositions !== undefined && r.inputIds.length > opts.maxPositions) {
      throw new InferError(
        'too_long',
        `row ${i} has ${r.inputIds.length} tokens; the model has ${opts.maxPositions} positions`,
      );
    }
  });
  const wantsPositions = session.inputNames.includes('position_ids');
  const hasSum = session.outputNames.includes('loss_sum') && session.outputNames.includes('loss_tokens');
  const fetch = hasSum ? ['loss_sum', 'loss_tokens'] : ['loss'];

  let nllSum = 0;
  let tokens = 0;
  for (let start = 0; start < rows.length; start += batchSize) {
    const b = rightPadForLoss(rows.slice(start, start + batchSize), opts.padId);
    if (b.scored === 0) continue; // nothing to score; a graph mean would be 0/0
    const dims = [b.batch, b.seq];
    const feeds: Record<string, TensorData> = {
      input_ids: int64Tensor(b.inputIds, dims),
      attention_mask: int64Tensor(b.attentionMask, dims),
      labels: int64Tensor(b.labels, dims),
    };
    if (wantsPositions) feeds.position_ids = int64Tensor(positionIdsFromMask(b.attentionMask, b.batch, b.seq), dims);
    const out = await session.run(feeds, fetch);
    if (hasSum) {
      const sum = floatOutput(out, 'loss_sum').data[0];
      const count = scalarNumber(out, 'loss_tokens');
      if (sum === undefined) throw new InferError('bad_model_output', 'loss_sum output is empty');
      if (count !== b.scored) {
        throw new InferError(
          'bad_model_output',
          `graph scored ${count} tokens in a batch where labels mark ${b.scored}`,
        );
      }
      nllSum += sum;
    } else {
      const loss = floatOutput(out, 'loss').data[0];
      if (loss === undefined) throw new InferError('bad_model_output', 'loss output is empty');
      nllSum += loss * b.scored;
    }
    tokens += b.scored;
  }
  if (tokens === 0)
    throw new InferError('no_scored_tokens', 'no row has a scored token (every label is -100, or rows have one token)');
  const loss = nllSum / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}

function scalarNumber(out: Record<string, TensorData>, name: string): number {
  const t = out[name];
  const v = t?.data[0];
  if (v === undefined) throw new InferError('bad_model_output', `session produced no '${name}' output`);
  return Number(v);
}

/** log-softmax of one row in float64, evaluated only at `index`. */
function logProbAt(row: Float32Array, index: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[index]! - max - Math.log(sum);
}

export interface OptionScore {
  /** Sum of the option tokens' log-probabilities given the prompt (nats). */
  readonly logProb: number;
  /** Per option token. */
  readonly tokenLogProbs: number[];
}

/**
 * Log-probabilities of continuations given a prompt, via a logits-mode graph: option tokens at positions
 * prompt.length + j are scored by the logits at the position before. All options run as one right-padded batch.
 */
export async function scoreOptions(
  session: RunnableSession,
  prompt: readonly number[],
  options: readonly (readonly number[])[],
  opts: { padId: number; vocabSize?: number },
): Promise<OptionScore[]> {
  if (prompt.length === 0) throw new InferError('empty_prompt', 'the prompt has no tokens');
  if (options.length === 0) throw new InferError('empty_batch', 'no options given');
  const rows = options.map((o, i) => {
    if (o.length === 0) throw new InferError('empty_option', `option ${i} has no tokens`);
    const r = { inputIds: [...prompt, ...o] };
    checkRow(r, i, opts.vocabSize);
    return r;
  });
  const { b, logits, vocab } = await logitsOfRows(session, rows, opts.padId);
  return options.map((o, i) => {
    const tokenLogProbs = o.map((token, j) => {
      const pos = prompt.length + j - 1;
      const start = (i * b.seq + pos) * vocab;
      return logProbAt(logits.data.subarray(start, start + vocab), token);
    });
    return { logProb: tokenLogProbs.reduce((a, x) => a + x, 0), tokenLogProbs };
  });
}

/** Runs right-padded rows through a logits session: the padded batch, its logits and the vocabulary size. */
async function logitsOfRows(session: RunnableSession, rows: readonly ScoringRow[], padId: number) {
  const b = rightPadForLoss(rows, padId);
  const dims = [b.batch, b.seq];
  const feeds: Record<string, TensorData> = {
    input_ids: int64Tensor(b.inputIds, dims),
    attention_mask: int64Tensor(b.attentionMask, dims),
  };
  if (session.inputNames.includes('position_ids'))
    feeds.position_ids = int64Tensor(positionIdsFromMask(b.attentionMask, b.batch, b.seq), dims);
  const logits = floatOutput(await session.run(feeds, ['logits']), 'logits');
  const vocab = logits.dims[2]!;
  return { b, logits, vocab };
}

/** Next-token log-probability distributions at the last position of each prompt (float64). */
export async function nextTokenLogProbs(
  session: RunnableSession,
  prompts: readonly (readonly number[])[],
  opts: { padId: number; vocabSize?: number },
): Promise<Float64Array[]> {
  if (prompts.length === 0) throw new InferError('empty_batch', 'no prompts given');
  const rows = prompts.map((p, i) => {
    const r = { inputIds: p };
    checkRow(r, i, opts.vocabSize);
    return r;
  });
  const { b, logits, vocab } = await logitsOfRows(session, rows, opts.padId);
  return prompts.map((p, i) => {
    const start = (i * b.seq + p.length - 1) * vocab;
    const row = logits.data.subarray(start, start + vocab);
    let max = Number.NEGATIVE_INFINITY;
    for (const x of row) if (x > max) max = x;
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    return Float64Array.from(row, (x) => x - lse);
  });
}
