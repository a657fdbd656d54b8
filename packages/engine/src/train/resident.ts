// Training state that lives in the onnxruntime worker next to the session that runs the training graph: the
// trainable parameters, the gradient accumulated over a window, and the optimiser with its moments. The main
// thread then sends only a micro-batch's token ids per run and a few numbers per step, instead of copying every
// trainable weight into the worker for each run and every gradient back (≈ 200 MB a step for full fine-tuning
// of the bench model), and the update runs on the thread that would otherwise wait for the next run.
//
// The arithmetic is the main-thread path's, in the same order and with the same float32 roundings
// (loop.test.ts's resident test compares the two bit for bit): gradients added in float32 over the window,
// scaled by 1 / (loss tokens · loss scale) and stored as float32, the global norm summed in double over the
// stored values, clipping, then the optimiser's step.

import { clipFactor } from './clip.js';
import { createAdamW } from './optim/adamw.js';
import { createSgd } from './optim/sgd.js';
import type { Optimizer } from './optim/types.js';

/** Plain-data settings of the optimiser (they cross postMessage). */
export type OptimizerSpec =
  | {
      readonly name: 'adamw';
      readonly betas: readonly [number, number];
      readonly eps: number;
      readonly weightDecay: number;
      readonly noDecay: readonly string[];
    }
  | {
      readonly name: 'sgd';
      readonly momentum: number;
      readonly nesterov: boolean;
      readonly weightDecay: number;
      readonly noDecay: readonly string[];
    };

export function optimizerFromSpec(spec: OptimizerSpec, sizes: ReadonlyMap<string, number>): Optimizer {
  const noDecay = new Set(spec.noDecay);
  return spec.name === 'adamw'
    ? createAdamW(sizes, { betas: spec.betas, eps: spec.eps, weightDecay: spec.weightDecay, noDecay })
    : createSgd(sizes, { momentum: spec.momentum, nesterov: spec.nesterov, weightDecay: spec.weightDecay, noDecay });
}

/** What the main thread asks of one optimiser step once the window's micro-batches have run. */
export interface ResidentStepRequest {
  /** 1 / (loss tokens · loss scale), or null when no token carried loss (the gradient is left unscaled). */
  readonly gradScale: number | null;
  /** False when the window's loss is not finite: the step is skipped whatever the gradient norm. */
  readonly lossFinite: boolean;
  readonly lr: number;
  readonly maxGradNorm: number;
}

export interface ResidentStepResult {
  /** Pre-clip global L2 norm of the window's gradient (non-finite when any element is). */
  readonly gradNorm: number;
  /** Whether the parameters and the optimiser moved (loss and gradient norm both finite). */
  readonly applied: boolean;
}

export class ResidentTrainingState {
  private readonly optimizer: Optimizer;
  private acc: Float32Array[] | undefined;

  /** `params` in the order the gradients are fetched; the arrays are owned from here on. */
  constructor(
    readonly params: ReadonlyMap<string, Float32Array>,
    spec: OptimizerSpec,
    restore?: { step: number; state: ReadonlyMap<string, Float32Array> },
  ) {
    this.optimizer = optimizerFromSpec(spec, new Map([...params].map(([n, a]) => [n, a.length])));
    if (restore !== undefined) this.optimizer.load(restore.step, restore.state);
  }

  get stepCount(): number {
    return this.optimizer.stepCount;
  }

  optimizerState(): Map<string, Float32Array> {
    return this.optimizer.state();
  }

  /** Adds one micro-batch's gradients (in param order; the arrays may be kept). */
  accumulate(grads: readonly Float32Array[]): void {
    const acc = this.acc;
    if (acc === undefined) {
      this.acc = [...grads];
      return;
    }
    for (let p = 0; p < grads.length; p++) addInto(acc[p] as Float32Array, grads[p] as Float32Array);
  }

  /** Ends the window: scale, norm, and (when everything is finite) clip and update. Clears the accumulator. */
  step(req: ResidentStepRequest): ResidentStepResult {
    const list = this.acc ?? [...this.params.values()].map((a) => new Float32Array(a.length));
    this.acc = undefined;
    let sumSq = 0;
    // One running sum across tensors, as globalNorm adds them (a per-tensor sum would round differently).
    if (req.gradScale === null) for (const g of list) sumSq = sumOfSquares(g, sumSq);
    else for (const g of list) sumSq = scaleAndSumSquares(g, req.gradScale, sumSq);
    const gradNorm = Math.sqrt(sumSq);
    if (!req.lossFinite || !Number.isFinite(gradNorm)) return { gradNorm, applied: false };
    // Clipping folded into the update's read of the gradient (same float32 values as clipping in place).
    const names = [...this.params.keys()];
    const grads = new Map(names.map((n, i) => [n, list[i] as Float32Array]));
    this.optimizer.step(this.params, grads, req.lr, clipFactor(gradNorm, req.maxGradNorm));
    return { gradNorm, applied: true };
  }
}

function addInto(a: Float32Array, x: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + (x[i] as number);
}

function sumOfSquares(g: Float32Array, s0: number): number {
  let s = s0;
  for (let i = 0; i < g.length; i++) s += (g[i] as number) * (g[i] as number);
  return s;
}

/**
 * scaleInPlace then globalNorm's sum in one pass: each element is stored as float32 first and squared as
 * stored, and the sum runs in the same order, so the result equals the two passes'.
 */
function scaleAndSumSquares(g: Float32Array, factor: number, s0: number): number {
  let s = s0;
  for (let i = 0; i < g.length; i++) {
    const x = Math.fround((g[i] as number) * factor);
    g[i] = x;
    s += x * x;
  }
  return s;
}
