// Training state that lives in the onnxruntime worker next to the session that runs the training graph: the
// trainable parameters, the gradient accumulated over a window, and the optimiser with its moments. The main
// thread then sends only a micro-batch's token ids per run and a few numbers per step, instead of copying every
// trainable weight into the worker for each run and every gradient back (≈ 200 MB a step for full fine-tuning
// of the bench model), and the update runs on the thread that would otherwise wait for the next run.
//
// The arithmetic is the main-thread path's, in the same order and with the same float32 roundings
// (loop.test.ts's resident test compares the two bit for bit): gradients added in float32 over the window,
// scaled by 1 / (loss tokens · loss scale) and stored as float32, the global norm summed in double over the
// stored values (per tensor, then the tensors' sums in order: clip.ts globalNorm), clipping, then the
// optimiser's step.

import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../onnx/start-worker.js';
import { clipFactor, normOfSums, sumsOfSquares } from './clip.js';
import { createAdamW } from './optim/adamw.js';
import { createSgd } from './optim/sgd.js';
import type { Optimizer } from './optim/types.js';
import type { HelperReply, HelperRequest } from './update-helper.js';

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

/**
 * From this many trainable elements on, the optimiser step runs on two threads: the onnxruntime worker updates
 * the first half of the parameters (in order) and a helper thread (update-helper.ts) the rest. The step sits
 * between two onnxruntime runs, when both cores are otherwise idle; the per-element optimisers are
 * compute-bound (AdamW: a square root and two float32 divisions per element, four elements at a time in the SIMD
 * kernel: optim/adamw-simd.ts), so two threads take about half the time
 * (bench/README.md: ≈ 104 → ≈ 55 ms of AdamW for the bench model's 25.7 M parameters).
 */
export const PARALLEL_UPDATE_FROM = 1 << 22;

export class ResidentTrainingState {
  private readonly optimizer: Optimizer;
  private acc: Float32Array[] | undefined;
  /** The helper thread's part: parameter names (a suffix of the order). */
  private readonly helper: { worker: Worker; names: string[]; pending: ((r: HelperReply) => void)[] } | undefined;
  private readonly values: Map<string, Float32Array>;
  private helperError: Error | undefined;
  private readonly firstNames: string[];

  /**
   * `params` in the order the gradients are fetched; the arrays are owned from here on. `parallelFrom`: the
   * element count from which the update runs on two threads (PARALLEL_UPDATE_FROM; tests set 0 to force it).
   */
  constructor(
    params: ReadonlyMap<string, Float32Array>,
    spec: OptimizerSpec,
    restore?: { step: number; state: ReadonlyMap<string, Float32Array> },
    parallelFrom = PARALLEL_UPDATE_FROM,
  ) {
    // Own arrays: a two-thread step moves the helper's part away and back (new array objects, same memory).
    this.values = new Map([...params].map(([n, a]) => [n, owned(a)]));
    const names = [...params.keys()];
    const sizes = names.map((n) => (params.get(n) as Float32Array).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    // The first tensors, in order, up to half of the elements stay here; at least one tensor each side.
    let split = names.length;
    if (total >= parallelFrom && names.length > 1) {
      let sum = 0;
      split = 0;
      // A tensor stays here when its middle lies in the first half of the elements.
      while (split < names.length - 1 && (split === 0 || sum + (sizes[split] as number) / 2 <= total / 2)) {
        sum += sizes[split] as number;
        split++;
      }
    }
    this.firstNames = names.slice(0, split);
    this.optimizer = optimizerFromSpec(
      spec,
      new Map(this.firstNames.map((n) => [n, (params.get(n) as Float32Array).length])),
    );
    if (restore !== undefined) this.optimizer.load(restore.step, restore.state);
    if (split === names.length) return;
    const rest = names.slice(split);
    const restSizes = sizes.slice(split);
    const worker = startModuleWorker(import.meta.url, 'update-helper');
    worker.unref();
    const pending: ((r: HelperReply) => void)[] = [];
    worker.on('message', (r: HelperReply) => pending.shift()?.(r));
    const fail = (e: Error) => {
      this.helperError = e;
      for (const p of pending.splice(0)) p({ ok: false, message: e.message });
    };
    worker.on('error', (e) => fail(new Error(`optimizer helper thread crashed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`optimizer helper thread exited (code ${code})`)));
    this.helper = { worker, names: rest, pending };
    // Its reply is awaited by the first step (replies come in order).
    void this.ask({
      kind: 'init',
      spec,
      names: rest,
      sizes: restSizes,
      restore: restore === undefined ? null : { step: restore.step, state: [...restore.state] },
    });
  }

  private ask(req: HelperRequest, transfer: ArrayBuffer[] = []): Promise<HelperReply> {
    const h = this.helper as NonNullable<typeof this.helper>;
    if (this.helperError !== undefined) return Promise.reject(this.helperError);
    return new Promise((resolve, reject) => {
      h.pending.push((r) => (r.ok ? resolve(r) : reject(new Error(`optimizer helper thread: ${r.message}`))));
      h.worker.postMessage(req, transfer);
    });
  }

  /** The params in order (the arrays may be replaced by a step: read them afresh after each). */
  get params(): ReadonlyMap<string, Float32Array> {
    return this.values;
  }

  get stepCount(): number {
    return this.optimizer.stepCount;
  }

  async optimizerState(): Promise<Map<string, Float32Array>> {
    const out = new Map(this.optimizer.state());
    if (this.helper === undefined) return out;
    const r = await this.ask({ kind: 'state' });
    if (r.ok && r.kind === 'state') for (const [k, a] of r.state) out.set(k, a);
    return out;
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
  async step(req: ResidentStepRequest): Promise<ResidentStepResult> {
    const list = this.acc ?? [...this.params.values()].map((a) => new Float32Array(a.length));
    this.acc = undefined;
    const first = this.firstNames.length;
    const h = this.helper;
    // The helper's params and gradients move to it (no copy) before the norm: it scales and sums its gradients'
    // squares while this thread does the first part's, keeps them for its update, and moves the params back.
    let normed: Promise<HelperReply> | undefined;
    if (h !== undefined) {
      const params = h.names.map((n) => this.values.get(n) as Float32Array);
      const grads = list.slice(first).map(owned);
      const transfer = [...params, ...grads].map((a) => a.buffer as ArrayBuffer);
      normed = this.ask({ kind: 'norm', gradScale: req.gradScale, params, grads }, transfer);
    }
    // Per-tensor sums added in order, as globalNorm does: the same to the bit on one thread or two.
    const sums = sumsOfSquares(list.slice(0, first), req.gradScale);
    if (normed !== undefined) {
      const r = await normed;
      if (!r.ok || r.kind !== 'normed') throw new Error('optimizer helper thread: unexpected reply to a norm');
      sums.push(...r.sums);
    }
    const gradNorm = normOfSums(sums);
    const applied = req.lossFinite && Number.isFinite(gradNorm);
    // Clipping folded into the update's read of the gradient (same float32 values as clipping in place).
    const factor = applied ? clipFactor(gradNorm, req.maxGradNorm) : 1;
    const helped =
      h === undefined ? undefined : this.ask({ kind: 'step', apply: applied, lr: req.lr, gradFactor: factor });
    if (applied) {
      const params = new Map(this.firstNames.map((n) => [n, this.values.get(n) as Float32Array]));
      const grads = new Map(this.firstNames.map((n, i) => [n, list[i] as Float32Array]));
      this.optimizer.step(params, grads, req.lr, factor);
    }
    if (h !== undefined) {
      const r = await (helped as Promise<HelperReply>);
      if (!r.ok || r.kind !== 'stepped') throw new Error('optimizer helper thread: unexpected reply to a step');
      h.names.forEach((n, i) => {
        this.values.set(n, r.params[i] as Float32Array);
      });
    }
    return { gradNorm, applied };
  }

  /** Stops the helper thread, if any. */
  async close(): Promise<void> {
    await this.helper?.worker.terminate();
  }
}

/** `a` when it is the whole of its own ArrayBuffer (it can then move between threads), else a copy that is. */
function owned(a: Float32Array): Float32Array {
  return a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

function addInto(a: Float32Array, x: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + (x[i] as number);
}
