// One optimiser step's gradient: the training graph's gradient of the summed token NLL, run per micro-batch,
// added over the accumulation window and divided by the window's loss-token count. The result is the
// gradient of the window's token-mean loss, Hugging Face's rule (with one micro-batch: the batch mean).

import { collate } from '../data/collate.js';
import { CAUSAL_LM_NAMES } from '../models/causal-lm.js';
import type { TensorData } from '../onnx/ir.js';
import type { ResidentTrainer, Session } from '../onnx/runtime.js';
import { sumsOfSquares } from './clip.js';
import { TrainError } from './errors.js';
import { LOSS_SCALE } from './mixed-precision.js';
import type { TrainRow } from './types.js';

const N = CAUSAL_LM_NAMES;

/** The feeds of one right-padded micro-batch, and its non-padding token count. */
export function batchFeeds(
  rows: readonly TrainRow[],
  padId: number,
): { feeds: Record<string, TensorData>; tokens: number } {
  const b = collate(rows, { padId });
  const dims = [b.batch, b.seq];
  const i64 = (data: BigInt64Array): TensorData => ({ dtype: 'int64', dims, data });
  let tokens = 0;
  for (const r of rows) tokens += r.input_ids.length;
  return {
    feeds: {
      [N.inputIds]: i64(b.inputIds),
      [N.attentionMask]: i64(b.attentionMask),
      [N.positionIds]: i64(b.positionIds),
      [N.labels]: i64(b.labels),
    },
    tokens,
  };
}

export const scalarOf = (t: TensorData | undefined): number => (t === undefined ? Number.NaN : Number(t.data[0]));

export interface WindowGradient {
  /** Token-mean loss of the window (NaN when no token carries loss). */
  readonly loss: number;
  /** Loss-carrying tokens of the window. */
  readonly lossTokens: number;
  /** Non-padding input tokens of the window. */
  readonly inputTokens: number;
  /** d loss / d param, by param name (fresh arrays, owned by the caller). */
  readonly grads: Map<string, Float32Array>;
  /** Each gradient's sum of squares, in `grads`' order (clip.ts normOfSums makes the global norm of them). */
  readonly sumsOfSquares: readonly number[];
}

export async function windowGradient(
  session: Session,
  gradients: Readonly<Record<string, string>>,
  params: ReadonlyMap<string, TensorData>,
  microBatches: readonly (readonly TrainRow[])[],
  opts: {
    padId?: number;
    signal?: AbortSignal | undefined;
    step?: number;
    /** Per-micro-batch feeds of the method (fed dropout masks), by global micro-step index and B·T rows. */
    stepFeeds?: ((microStep: number, rows: number) => Record<string, TensorData>) | undefined;
    /** Global index of this window's first micro-batch; with stepFeeds it makes a resumed run draw the same masks. */
    firstMicroStep?: number;
    /** Mixed precision: the fed loss scale; the gradients come back multiplied by it and are divided here. */
    lossScale?: number | undefined;
  } = {},
): Promise<WindowGradient> {
  const names = [...params.keys()];
  const gradNames = names.map((n) => gradients[n] as string);
  const fetch = [N.lossSum, N.lossTokens, ...gradNames];
  let lossSum = 0;
  let lossTokens = 0;
  let inputTokens = 0;
  let acc: Float32Array[] | undefined;
  let micro = opts.firstMicroStep ?? 0;
  for (const rows of microBatches) {
    if (opts.signal?.aborted === true) {
      throw new TrainError('aborted', `training cancelled${opts.step === undefined ? '' : ` at step ${opts.step}`}`);
    }
    const { feeds, tokens } = batchFeeds(rows, opts.padId ?? 0);
    for (const [k, t] of params) feeds[k] = t;
    if (opts.stepFeeds !== undefined) {
      const [batch = 0, seq = 0] = (feeds[N.inputIds] as TensorData).dims;
      Object.assign(feeds, opts.stepFeeds(micro, batch * seq));
    }
    micro++;
    if (opts.lossScale !== undefined)
      feeds[LOSS_SCALE] = { dtype: 'float32', dims: [], data: Float32Array.from([opts.lossScale]) };
    const out = await session.run(feeds, fetch);
    lossSum += scalarOf(out[N.lossSum]);
    lossTokens += scalarOf(out[N.lossTokens]);
    inputTokens += tokens;
    const g = gradNames.map((name) => out[name]?.data as Float32Array);
    if (acc === undefined) acc = g;
    else
      for (let p = 0; p < g.length; p++) {
        const a = acc[p] as Float32Array;
        const x = g[p] as Float32Array;
        for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + (x[i] as number);
      }
  }
  const list = acc ?? names.map((n) => new Float32Array((params.get(n) as TensorData).data.length));
  // Scaled and summed in one pass (the resident path does the same): the norm equals globalNorm's after scaling.
  const sums = sumsOfSquares(list, lossTokens > 0 ? 1 / (lossTokens * (opts.lossScale ?? 1)) : null);
  return {
    loss: lossTokens > 0 ? lossSum / lossTokens : Number.NaN,
    lossTokens,
    inputTokens,
    grads: new Map(names.map((n, i) => [n, list[i] as Float32Array])),
    sumsOfSquares: sums,
  };
}

/**
 * windowGradient with the params and the gradient held in the worker (onnx/runtime openResidentTrainer): the
 * same feeds minus the params, the same loss; the gradient stays there for ResidentTrainer.step, which gets
 * `gradScale` (windowGradient's 1 / (lossTokens · lossScale), null when no token carries loss).
 */
export async function residentWindow(
  trainer: ResidentTrainer,
  microBatches: readonly (readonly TrainRow[])[],
  opts: {
    padId?: number;
    signal?: AbortSignal | undefined;
    step?: number;
    stepFeeds?: ((microStep: number, rows: number) => Record<string, TensorData>) | undefined;
    firstMicroStep?: number;
    lossScale?: number | undefined;
  } = {},
): Promise<{ loss: number; lossTokens: number; inputTokens: number; gradScale: number | null }> {
  let lossSum = 0;
  let lossTokens = 0;
  let inputTokens = 0;
  let micro = opts.firstMicroStep ?? 0;
  for (const rows of microBatches) {
    if (opts.signal?.aborted === true) {
      throw new TrainError('aborted', `training cancelled${opts.step === undefined ? '' : ` at step ${opts.step}`}`);
    }
    const { feeds, tokens } = batchFeeds(rows, opts.padId ?? 0);
    if (opts.stepFeeds !== undefined) {
      const [batch = 0, seq = 0] = (feeds[N.inputIds] as TensorData).dims;
      Object.assign(feeds, opts.stepFeeds(micro, batch * seq));
    }
    micro++;
    if (opts.lossScale !== undefined)
      feeds[LOSS_SCALE] = { dtype: 'float32', dims: [], data: Float32Array.from([opts.lossScale]) };
    const out = await trainer.run(feeds, [N.lossSum, N.lossTokens]);
    lossSum += scalarOf(out[N.lossSum]);
    lossTokens += scalarOf(out[N.lossTokens]);
    inputTokens += tokens;
  }
  return {
    loss: lossTokens > 0 ? lossSum / lossTokens : Number.NaN,
    lossTokens,
    inputTokens,
    gradScale: lossTokens > 0 ? 1 / (lossTokens * (opts.lossScale ?? 1)) : null,
  };
}
