// Autoregressive generation over a decode-mode graph with a KV cache: the prompt runs once (prefill), then
// each step feeds only the new token and the cache from the previous step, so the prefix is never recomputed.

import type { TensorData } from '../onnx/ir.js';
import { int64Tensor, leftPad, positionIdsFromMask } from './batch.js';
import { InferError } from './errors.js';
import { createRng, type Rng } from './rng.js';
import { isGreedy, type SamplingOptions, selectToken, validateSampling } from './sampling.js';
import {
  type DecoderModel,
  floatOutput,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
} from './session.js';

export interface GenerateOptions extends SamplingOptions {
  /** Upper bound on new tokens per sequence (>= 1). */
  readonly maxNewTokens: number;
  /** Seed for sampling (ignored when greedy). Default 0. */
  readonly seed?: number;
  /** A sequence ends after emitting any of these (the stop token is kept in its output, as transformers does). */
  readonly stopTokens?: readonly number[];
  /** Fills left padding and the slots of sequences that have stopped. */
  readonly padId: number;
  /** Number of ids the model accepts; prompt ids are checked against it when given. */
  readonly vocabSize?: number;
}

export interface Generation {
  /** New tokens only. */
  readonly ids: number[];
  readonly finishReason: 'stop' | 'length';
}

export interface GenerateStats {
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly steps: number;
}

function validate(prompts: readonly (readonly number[])[], opts: GenerateOptions): void {
  if (!(Number.isInteger(opts.maxNewTokens) && opts.maxNewTokens >= 1)) {
    throw new InferError('bad_max_new_tokens', `max new tokens must be an integer >= 1, got ${opts.maxNewTokens}`);
  }
  validateSampling(opts);
  prompts.forEach((p, i) => {
    for (const id of p) {
      if (!Number.isInteger(id) || id < 0 || (opts.vocabSize !== undefined && id >= opts.vocabSize)) {
        const range = opts.vocabSize !== undefined ? ` (vocabulary has ${opts.vocabSize} ids)` : '';
        throw new InferError('bad_token_id', `prompt ${i} holds token id ${id}, which is out of range${range}`);
      }
    }
  });
}

/** The prefix cache (batch 1) repeated for every row. */
function prefixPast(model: DecoderModel, batch: number): Record<string, TensorData> {
  const prefix = model.prefix as NonNullable<DecoderModel['prefix']>;
  const feeds: Record<string, TensorData> = {};
  const tile = (t: TensorData): TensorData => {
    if (!(t.data instanceof Float32Array))
      throw new InferError('bad_model_output', `prefix cache is ${t.dtype}, expected float32`);
    const data = new Float32Array(t.data.length * batch);
    for (let r = 0; r < batch; r++) data.set(t.data, r * t.data.length);
    return { dtype: 'float32', dims: [batch, ...t.dims.slice(1)], data };
  };
  for (let l = 0; l < model.layers; l++) {
    feeds[pastKeyName(l)] = tile(prefix.keys[l] as TensorData);
    feeds[pastValueName(l)] = tile(prefix.values[l] as TensorData);
  }
  return feeds;
}

function emptyPast(model: DecoderModel, batch: number): Record<string, TensorData> {
  const feeds: Record<string, TensorData> = {};
  const dims = [batch, model.kvHeads, 0, model.headDim];
  const make = (): TensorData =>
    model.kvDtype === 'float32'
      ? { dtype: 'float32', dims, data: new Float32Array(0) }
      : { dtype: 'float16', dims, data: new Uint16Array(0) };
  for (let l = 0; l < model.layers; l++) {
    feeds[pastKeyName(l)] = make();
    feeds[pastValueName(l)] = make();
  }
  return feeds;
}

/**
 * Generates continuations for a batch of prompts (token ids, any lengths). Prompts are left-padded; each
 * sequence stops on its own at a stop token or after maxNewTokens.
 */
export async function generate(
  model: DecoderModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
  stats?: { last?: GenerateStats },
): Promise<Generation[]> {
  validate(prompts, opts);
  const virtual = model.prefix?.length ?? 0;
  if (model.maxPositions !== undefined) {
    const longest = Math.max(...prompts.map((p) => p.length));
    // The last new token is returned but never fed back, so it needs no position.
    if (virtual + longest + opts.maxNewTokens - 1 > model.maxPositions) {
      const v = virtual > 0 ? ` + virtual tokens (${virtual})` : '';
      throw new InferError(
        'too_long',
        `prompt (${longest} tokens)${v} + max new tokens (${opts.maxNewTokens}) exceeds the model's ${model.maxPositions} positions`,
      );
    }
  }
  const rng: Rng | undefined = isGreedy(opts) ? undefined : createRng(opts.seed ?? 0);
  const stop = new Set(opts.stopTokens ?? []);
  const padded = leftPad(prompts, opts.padId);
  const { batch } = padded;

  const fetch: string[] = ['logits'];
  for (let l = 0; l < model.layers; l++) fetch.push(presentKeyName(l), presentValueName(l));

  let inputIds = padded.inputIds;
  let newLen = padded.seq;
  let mask = padded.attentionMask;
  let totalLen = padded.seq;
  if (virtual > 0) {
    // the virtual positions lead every row's mask (ones), so positions count on from them
    const withPrefix = new BigInt64Array(batch * (virtual + totalLen));
    for (let b = 0; b < batch; b++) {
      withPrefix.fill(1n, b * (virtual + totalLen), b * (virtual + totalLen) + virtual);
      withPrefix.set(mask.subarray(b * totalLen, (b + 1) * totalLen), b * (virtual + totalLen) + virtual);
    }
    mask = withPrefix;
    totalLen += virtual;
  }
  const allPositions = positionIdsFromMask(mask, batch, totalLen);
  let positions = new BigInt64Array(batch * newLen);
  for (let b = 0; b < batch; b++)
    positions.set(allPositions.subarray(b * totalLen + totalLen - newLen, (b + 1) * totalLen), b * newLen);
  // Position of each row's last real token, to continue from.
  const lastPos = Array.from({ length: batch }, (_, b) => Number(allPositions[b * totalLen + totalLen - 1]));
  let past = virtual > 0 ? prefixPast(model, batch) : emptyPast(model, batch);

  const outputs = prompts.map(() => [] as number[]);
  // Ids already in each sequence (its prompt, not the padding, and what it generated), for the repetition penalty.
  const penalised = (opts.repetitionPenalty ?? 1) !== 1;
  const present = prompts.map((p) => new Set(penalised ? p : []));
  const finished: (Generation['finishReason'] | null)[] = prompts.map(() => null);
  const t0 = performance.now();
  let prefillMs = 0;
  let steps = 0;

  for (let step = 0; step < opts.maxNewTokens; step++) {
    // Every feed is built for this step alone (the mask as a copy, since the next step extends it), so the
    // buffers, the KV cache above all, can move to the runtime's worker instead of being copied.
    const feeds: Record<string, TensorData> = {
      input_ids: int64Tensor(inputIds, [batch, newLen]),
      attention_mask: int64Tensor(mask.slice(), [batch, totalLen]),
      position_ids: int64Tensor(positions, [batch, newLen]),
      ...past,
    };
    const out = await model.session.run(feeds, fetch, { transferFeeds: true });
    steps++;
    if (step === 0) prefillMs = performance.now() - t0;
    const logits = floatOutput(out, 'logits');
    const vocab = logits.dims[2];
    if (logits.dims.length !== 3 || logits.dims[0] !== batch || logits.dims[1] !== newLen || vocab === undefined) {
      throw new InferError(
        'bad_model_output',
        `logits have shape [${logits.dims.join(', ')}], expected [${batch}, ${newLen}, vocab]`,
      );
    }

    const next = new BigInt64Array(batch);
    for (let b = 0; b < batch; b++) {
      if (finished[b] !== null) {
        next[b] = BigInt(opts.padId);
        continue;
      }
      const rowStart = (b * newLen + newLen - 1) * vocab;
      const token = selectToken(logits.data.subarray(rowStart, rowStart + vocab), opts, rng, present[b]);
      outputs[b]!.push(token);
      if (penalised) present[b]!.add(token);
      next[b] = BigInt(token);
      if (stop.has(token)) finished[b] = 'stop';
      else if (outputs[b]!.length >= opts.maxNewTokens) finished[b] = 'length';
    }
    if (finished.every((f) => f !== null)) break;

    // Next step: one new column; finished rows keep attending (as transformers does) but are ignored.
    const grown = new BigInt64Array(batch * (totalLen + 1));
    for (let b = 0; b < batch; b++) {
      grown.set(mask.subarray(b * totalLen, (b + 1) * totalLen), b * (totalLen + 1));
      grown[b * (totalLen + 1) + totalLen] = 1n;
    }
    mask = grown;
    totalLen++;
    inputIds = next;
    newLen = 1;
    positions = new BigInt64Array(batch);
    for (let b = 0; b < batch; b++) {
      lastPos[b] = lastPos[b]! + 1;
      positions[b] = BigInt(lastPos[b]!);
    }
    const nextPast: Record<string, TensorData> = {};
    for (let l = 0; l < model.layers; l++) {
      nextPast[pastKeyName(l)] = presentOrThrow(out, presentKeyName(l));
      nextPast[pastValueName(l)] = presentOrThrow(out, presentValueName(l));
    }
    past = nextPast;
  }
  if (stats) stats.last = { prefillMs, decodeMs: performance.now() - t0 - prefillMs, steps };
  return outputs.map((ids, b) => ({ ids, finishReason: finished[b] ?? 'length' }));
}

function presentOrThrow(out: Record<string, TensorData>, name: string): TensorData {
  const t = out[name];
  if (!t) throw new InferError('bad_model_output', `decode graph produced no '${name}'`);
  return t;
}
