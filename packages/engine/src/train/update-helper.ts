// The second thread of a resident optimiser step (resident.ts): it owns the optimiser state of the later part of
// the parameters. Each step their values and gradients move here (transferred, not copied); the gradients are
// scaled and their squares summed for the global norm, then the values updated, each while the onnxruntime
// worker does the same for the first part; the values move back. Each element's arithmetic is the
// single-threaded path's, so the result is the same to the bit.

import { parentPort } from 'node:worker_threads';
import { sumsOfSquares } from './clip.js';
import type { Optimizer } from './optim/types.js';
import { type OptimizerSpec, optimizerFromSpec } from './resident.js';

export type HelperRequest =
  | {
      kind: 'init';
      spec: OptimizerSpec;
      /** Names and lengths of this thread's parameters, in order. */
      names: string[];
      sizes: number[];
      restore: { step: number; state: [string, Float32Array][] } | null;
    }
  /**
   * This thread's parameters and their gradients: the gradients are scaled by `gradScale` (null: left as they
   * are) and each one's sum of squares goes back; both are kept here for the step that follows.
   */
  | { kind: 'norm'; gradScale: number | null; params: Float32Array[]; grads: Float32Array[] }
  /** Updates the kept parameters when `apply` (clipping is `gradFactor`), and moves them back either way. */
  | { kind: 'step'; apply: boolean; lr: number; gradFactor: number }
  | { kind: 'state' };

export type HelperReply =
  | { ok: true; kind: 'ready' }
  /** Each gradient's sum of squares (clip.ts sumOfSquares), in order. */
  | { ok: true; kind: 'normed'; sums: number[] }
  /** The updated parameters, moved back. */
  | { ok: true; kind: 'stepped'; params: Float32Array[] }
  | { ok: true; kind: 'state'; step: number; state: [string, Float32Array][] }
  | { ok: false; message: string };

const port = parentPort;
if (port === null) throw new Error('train/update-helper.ts must run as a worker thread');

let optimizer: Optimizer | undefined;
let names: string[] = [];
/** Between a norm and its step: the parameters and scaled gradients. */
let held: { params: Float32Array[]; grads: Float32Array[] } | undefined;

function handle(req: HelperRequest): { reply: HelperReply; transfer: ArrayBuffer[] } {
  switch (req.kind) {
    case 'init': {
      names = req.names;
      optimizer = optimizerFromSpec(req.spec, new Map(req.names.map((n, i) => [n, req.sizes[i] as number])));
      if (req.restore !== null) optimizer.load(req.restore.step, new Map(req.restore.state));
      return { reply: { ok: true, kind: 'ready' }, transfer: [] };
    }
    case 'norm': {
      held = { params: req.params, grads: req.grads };
      const sums = sumsOfSquares(req.grads, req.gradScale);
      return { reply: { ok: true, kind: 'normed', sums }, transfer: [] };
    }
    case 'step': {
      if (optimizer === undefined) throw new Error('update helper: step before init');
      if (held === undefined) throw new Error('update helper: step before norm');
      const { params: values, grads: gradList } = held;
      held = undefined;
      if (req.apply) {
        const params = new Map(names.map((n, i) => [n, values[i] as Float32Array]));
        const grads = new Map(names.map((n, i) => [n, gradList[i] as Float32Array]));
        optimizer.step(params, grads, req.lr, req.gradFactor);
      }
      return {
        reply: { ok: true, kind: 'stepped', params: values },
        transfer: values.map((a) => a.buffer as ArrayBuffer),
      };
    }
    case 'state': {
      if (optimizer === undefined) throw new Error('update helper: state before init');
      const state = [...optimizer.state()].map(([k, a]): [string, Float32Array] => [k, a.slice()]);
      return {
        reply: { ok: true, kind: 'state', step: optimizer.stepCount, state },
        transfer: state.map(([, a]) => a.buffer as ArrayBuffer),
      };
    }
  }
}

port.on('message', (req: HelperRequest) => {
  try {
    const { reply, transfer } = handle(req);
    port.postMessage(reply, transfer);
  } catch (e) {
    port.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) } satisfies HelperReply);
  }
});
