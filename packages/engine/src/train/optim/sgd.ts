// SGD as torch.optim.SGD computes it (dampening 0), per element:
//   g ← g + wd·p                          (coupled L2 weight decay, as PyTorch's SGD does)
//   buf ← g on the first step, then buf ← μ·buf + g
//   g ← g + μ·buf with Nesterov, else g ← buf
//   p ← p − lr·g
// Without momentum there is no buffer and the update is p ← p − lr·g.

import { TrainError } from '../errors.js';
import { need, needState } from './adamw.js';
import type { Optimizer } from './types.js';

export interface SgdOptions {
  readonly momentum?: number;
  readonly nesterov?: boolean;
  readonly weightDecay?: number;
  readonly noDecay?: ReadonlySet<string>;
}

export function createSgd(sizes: ReadonlyMap<string, number>, opts: SgdOptions = {}): Optimizer {
  const mu = opts.momentum ?? 0;
  const nesterov = opts.nesterov ?? false;
  const wd = opts.weightDecay ?? 0;
  if (!(mu >= 0)) throw new TrainError('bad_hyperparameter', `momentum must be >= 0, got ${mu}`);
  if (!(wd >= 0)) throw new TrainError('bad_hyperparameter', `weightDecay must be >= 0, got ${wd}`);
  if (nesterov && mu <= 0) throw new TrainError('bad_hyperparameter', 'nesterov needs momentum > 0');
  const noDecay = opts.noDecay ?? new Set<string>();
  const bufs = new Map<string, Float32Array>();
  if (mu > 0) for (const [name, n] of sizes) bufs.set(name, new Float32Array(n));
  let t = 0;

  return {
    name: 'sgd',
    get stepCount() {
      return t;
    },
    step(params, grads, lr, gradFactor = 1) {
      const first = t === 0;
      t++;
      for (const [name, p] of params) {
        const g = need(grads, name, p.length);
        const decay = noDecay.has(name) ? 0 : wd;
        const buf = mu > 0 ? need(bufs, name, p.length) : null;
        for (let i = 0; i < p.length; i++) {
          let d = Math.fround((g[i] as number) * gradFactor) + decay * (p[i] as number);
          if (buf !== null) {
            buf[i] = first ? d : mu * (buf[i] as number) + d;
            d = nesterov ? d + mu * (buf[i] as number) : (buf[i] as number);
          }
          p[i] = (p[i] as number) - lr * d;
        }
      }
    },
    state() {
      const out = new Map<string, Float32Array>();
      for (const [name, a] of bufs) out.set(`momentum_buffer.${name}`, a);
      return out;
    },
    load(stepCount, tensors) {
      for (const [name, a] of bufs) a.set(needState(tensors, `momentum_buffer.${name}`, a.length));
      t = stepCount;
    },
  };
}
