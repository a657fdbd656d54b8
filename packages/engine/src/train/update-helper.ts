// The second thread of a resident optimiser step (resident.ts): it owns the optimiser state of the later part of
// the parameters; each step their values and gradients move here (transferred, not copied), are updated while the
// onnxruntime worker updates the first part, and the values move back. Each element's arithmetic is the
// single-threaded optimiser's, so the result is the same to the bit.

import { parentPort } from 'node:worker_threads';
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
  /** This thread's parameters and their gradients, as the optimiser reads them (clipping is `gradFactor`). */
  | { kind: 'step'; lr: number; gradFactor: number; params: Float32Array[]; grads: Float32Array[] }
  | { kind: 'state' };

export type HelperReply =
  | { ok: true; kind: 'ready' }
  /** The updated parameters, moved back. */
  | { ok: true; kind: 'stepped'; params: Float32Array[] }
  | { ok: true; kind: 'state'; step: number; state: [string, Float32Array][] }
  | { ok: false; message: string };

const port = parentPort;
if (port === null) throw new Error('train/update-helper.ts must run as a worker thread');

let optimizer: Optimizer | undefined;
let names: string[] = [];

function handle(req: HelperRequest): { reply: HelperReply; transfer: ArrayBuffer[] } {
  switch (req.kind) {
    case 'init': {
      names = req.names;
      optimizer = optimizerFromSpec(req.spec, new Map(req.names.map((n, i) => [n, req.sizes[i] as number])));
      if (req.restore !== null) optimizer.load(req.restore.step, new Map(req.restore.state));
      return { reply: { ok: true, kind: 'ready' }, transfer: [] };
    }
    case 'step': {
      if (optimizer === undefined) throw new Error('update helper: step before init');
      const params = new Map(names.map((n, i) => [n, req.params[i] as Float32Array]));
      const grads = new Map(names.map((n, i) => [n, req.grads[i] as Float32Array]));
      optimizer.step(params, grads, req.lr, req.gradFactor);
      return {
        reply: { ok: true, kind: 'stepped', params: req.params },
        transfer: req.params.map((a) => a.buffer as ArrayBuffer),
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
