// Token selection from one row of next-token logits. Pure functions over a Float32Array so they are testable
// without a model. The processing order follows Hugging Face's generate: the repetition penalty (a logits
// processor, so greedy decoding has it too), then temperature, top-k, top-p, then a categorical draw.

import { InferError } from './errors.js';
import type { Rng } from './rng.js';

export interface SamplingOptions {
  /** Pick the most likely token; every other option is ignored. Default when nothing else is set. */
  readonly greedy?: boolean;
  /** Divides the logits; must be > 0. 1 leaves them unchanged. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens (ties at the k-th value are kept). 0 or undefined: off. */
  readonly topK?: number;
  /** Keep the smallest most-likely set whose probability reaches p, at least one token. 1 or undefined: off. */
  readonly topP?: number;
  /**
   * Hugging Face's repetition_penalty (> 0): the logit of every token already in the sequence (prompt and
   * generated so far) is divided by it when positive and multiplied by it when negative. 1 or undefined: off.
   */
  readonly repetitionPenalty?: number;
}

/** Throws InferError naming the first invalid option. */
export function validateSampling(opts: SamplingOptions): void {
  const { temperature, topK, topP, repetitionPenalty } = opts;
  if (repetitionPenalty !== undefined && !(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0)) {
    throw new InferError('bad_sampling', `repetition penalty must be a finite number > 0, got ${repetitionPenalty}`);
  }
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature > 0)) {
    throw new InferError('bad_sampling', `temperature must be a finite number > 0, got ${temperature}`);
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0)) {
    throw new InferError('bad_sampling', `top-k must be an integer >= 0, got ${topK}`);
  }
  if (topP !== undefined && !(Number.isFinite(topP) && topP > 0 && topP <= 1)) {
    throw new InferError('bad_sampling', `top-p must be in (0, 1], got ${topP}`);
  }
}

/** True when the options ask for a random draw rather than argmax. */
export function isGreedy(opts: SamplingOptions): boolean {
  if (opts.greedy) return true;
  return opts.temperature === undefined && opts.topK === undefined && opts.topP === undefined;
}

/** Index of the largest value; the lowest index wins ties (as torch.argmax). NaN never wins. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestValue || (best < 0 && v === bestValue)) {
      best = i;
      bestValue = v;
    }
  }
  if (best < 0) throw new InferError('bad_logits', 'logits row is empty or all NaN');
  return best;
}

/**
 * The repetition penalty on a copy of the row: each distinct id in `present` has its logit divided by `penalty`
 * when positive, multiplied when negative (so it always becomes less likely for penalty > 1).
 */
export function applyRepetitionPenalty(
  logits: ArrayLike<number>,
  present: Iterable<number>,
  penalty: number,
): Float64Array {
  const out = Float64Array.from(logits);
  if (penalty === 1) return out;
  for (const id of new Set(present)) {
    if (id < 0 || id >= out.length) continue;
    const v = out[id]!;
    out[id] = v < 0 ? v * penalty : v / penalty;
  }
  return out;
}

/** logits / T, as a new Float64Array (the caller's row stays untouched). */
export function applyTemperature(logits: ArrayLike<number>, temperature: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! / temperature;
  return out;
}

/** Sets every logit below the k-th largest to -Infinity, in place. k >= length or k = 0 leaves all. */
export function applyTopK(logits: Float64Array, k: number): Float64Array {
  if (k <= 0 || k >= logits.length) return logits;
  const sorted = Float64Array.from(logits).sort(); // ascending; NaN sorts last
  const threshold = sorted[logits.length - k]!;
  for (let i = 0; i < logits.length; i++) if (!(logits[i]! >= threshold)) logits[i] = Number.NEGATIVE_INFINITY;
  return logits;
}

/** Numerically stable softmax in float64. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  const out = new Float64Array(logits.length);
  if (max === Number.NEGATIVE_INFINITY) throw new InferError('bad_logits', 'every logit is -Infinity');
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/**
 * Nucleus filtering on the sorted distribution: walking tokens from most to least likely, a token is kept
 * while the probability mass before it is below p, so the most likely token always survives. Removed logits
 * become -Infinity, in place.
 */
export function applyTopP(logits: Float64Array, p: number): Float64Array {
  if (p >= 1) return logits;
  const probs = softmax(logits);
  const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
  let mass = 0;
  let kept = 0;
  for (const i of order) {
    if (kept > 0 && mass >= p) logits[i] = Number.NEGATIVE_INFINITY;
    else kept++;
    mass += probs[i]!;
  }
  return logits;
}

/** Draws an index from unnormalised probabilities with one uniform number. */
export function sampleCategorical(probs: ArrayLike<number>, rng: Rng): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i]!;
  const u = rng.next() * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const q = probs[i]!;
    if (q <= 0) continue;
    acc += q;
    last = i;
    if (u < acc) return i;
  }
  // Rounding can leave u just above the accumulated sum: the last token with mass takes it.
  if (last < 0) throw new InferError('bad_logits', 'no token has positive probability');
  return last;
}

/**
 * Chooses the next token from one row of logits. `rng` is only used when sampling; `present` (the ids already in
 * the sequence) only with a repetition penalty.
 */
export function selectToken(
  row: ArrayLike<number>,
  opts: SamplingOptions,
  rng: Rng | undefined,
  present: Iterable<number> = [],
): number {
  const penalty = opts.repetitionPenalty ?? 1;
  const logits = penalty === 1 ? row : applyRepetitionPenalty(row, present, penalty);
  if (isGreedy(opts)) return argmax(logits);
  if (!rng) throw new InferError('bad_sampling', 'sampling needs a seeded rng');
  let x = applyTemperature(logits, opts.temperature ?? 1);
  if (opts.topK !== undefined) x = applyTopK(x, opts.topK);
  if (opts.topP !== undefined) x = applyTopP(x, opts.topP);
  return sampleCategorical(softmax(x), rng);
}
