// AdamW as torch.optim.AdamW computes it (single-tensor path, amsgrad off, float32 tensors): each of its tensor
// ops in float32 arithmetic, in its order, per element:
//   p ← p·(1 − lr·wd)                                  param.mul_(1 − lr·wd)   (decoupled weight decay, first)
//   m ← m + w·(g − m),  w = 1 − β1                      exp_avg.lerp_(grad, w)  (w ≥ 0.5: g − (g − m)·(1 − w))
//   v ← v·β2 + ((1 − β2)·g)·g                           exp_avg_sq.mul_(β2).addcmul_(grad, grad, value=1 − β2)
//   d ← √v / √(1 − β2ᵗ) + eps                           denom = (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
//   p ← p + ((−lr / (1 − β1ᵗ))·m) / d                   param.addcdiv_(exp_avg, denom, value=−step_size)
// Every operation rounds to float32; the scalars are computed in double (as Python does) and rounded to float32
// where a tensor op reads them. The one double operation is the gradient's read, fround(g · gradFactor): the
// value clipping in place would have stored. The WebAssembly SIMD kernel (adamw.wat, four elements an
// instruction) and the JS loop (each double operation rounded by Math.fround, which for +, −, ×, ÷ and √ gives
// the float32 result exactly; neither fuses multiply-adds) store the same bits, and optim.test.ts checks both
// against an op-by-op transcription of PyTorch's. PyTorch's own vectorised CPU kernels can differ from that
// transcription in the last bit of some elements: their lerp is a fused multiply-add.

import { TrainError } from '../errors.js';
import { type AdamWConstants, createSimdMoments } from './adamw-simd.js';
import type { Optimizer } from './types.js';

export interface AdamWOptions {
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Parameters that get no weight decay (biases, norm weights). */
  readonly noDecay?: ReadonlySet<string>;
  /**
   * Run the update as the WebAssembly SIMD kernel (adamw-simd.ts; the same float32 results, several times
   * faster) where the runtime has it (default true); false: the JS loop only (tests compare the two).
   */
  readonly simd?: boolean;
}

export function createAdamW(sizes: ReadonlyMap<string, number>, opts: AdamWOptions = {}): Optimizer {
  const [beta1, beta2] = opts.betas ?? [0.9, 0.999];
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 0;
  checkRange('betas[0]', beta1, 0, 1);
  checkRange('betas[1]', beta2, 0, 1);
  if (!(eps >= 0)) throw new TrainError('bad_hyperparameter', `eps must be >= 0, got ${eps}`);
  if (!(wd >= 0)) throw new TrainError('bad_hyperparameter', `weightDecay must be >= 0, got ${wd}`);
  const noDecay = opts.noDecay ?? new Set<string>();
  // The moments of the tensors the SIMD kernel updates live in its memory; any other (no SIMD, or a tensor too
  // large for one WebAssembly memory) in JS arrays, updated by the loops below.
  const fast = opts.simd === false ? null : createSimdMoments(sizes);
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, n] of sizes) {
    m.set(name, fast?.m.get(name) ?? new Float32Array(n));
    v.set(name, fast?.v.get(name) ?? new Float32Array(n));
  }
  let t = 0;

  return {
    name: 'adamw',
    get stepCount() {
      return t;
    },
    step(params, grads, lr, gradFactor = 1) {
      t++;
      // PyTorch's scalars, computed in double as Python does, each rounded to float32 where its tensor op reads
      // it (a Python float meeting a float32 tensor is cast to float32).
      const stepSize = lr / (1 - beta1 ** t);
      const w = Math.fround(1 - beta1);
      const lerpSmall = Math.abs(w) < 0.5;
      const shared = {
        lerpSmall,
        lerpCoeff: lerpSmall ? w : Math.fround(w - 1),
        beta2: Math.fround(beta2),
        c2: Math.fround(1 - beta2),
        bc2Sqrt: Math.fround(Math.sqrt(1 - beta2 ** t)),
        eps: Math.fround(eps),
        negStepSize: Math.fround(-stepSize),
      };
      const decayed: AdamWConstants = { ...shared, decay: Math.fround(1 - lr * wd) };
      const undecayed: AdamWConstants = { ...shared, decay: 1 };
      for (const [name, p] of params) {
        const g = need(grads, name, p.length);
        const mt = need(m, name, p.length);
        const vt = need(v, name, p.length);
        const k = noDecay.has(name) ? undecayed : decayed;
        // Both read each gradient element as fround(g · gradFactor), which is g when the factor is 1.
        if (fast?.m.has(name) === true) fast.update(name, p, g, gradFactor, k);
        else adamwLoop(p, g, gradFactor, mt, vt, k);
      }
    },
    state() {
      const out = new Map<string, Float32Array>();
      for (const [name, a] of m) out.set(`exp_avg.${name}`, a);
      for (const [name, a] of v) out.set(`exp_avg_sq.${name}`, a);
      return out;
    },
    load(stepCount, tensors) {
      for (const [prefix, store] of [
        ['exp_avg', m],
        ['exp_avg_sq', v],
      ] as const) {
        for (const [name, a] of store) a.set(needState(tensors, `${prefix}.${name}`, a.length));
      }
      t = stepCount;
    },
  };
}

/** The JS loop over one tensor: the kernel's float32 operations, each a double one rounded by Math.fround. */
function adamwLoop(
  p: Float32Array,
  g: Float32Array,
  gs: number,
  mt: Float32Array,
  vt: Float32Array,
  k: AdamWConstants,
) {
  const { decay, lerpSmall, lerpCoeff, beta2, c2, bc2Sqrt, eps, negStepSize } = k;
  const fround = Math.fround;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = fround((g[i] as number) * gs);
    const pi = fround((p[i] as number) * decay);
    const m0 = mt[i] as number;
    const mi = fround((lerpSmall ? m0 : gi) + fround(lerpCoeff * fround(gi - m0)));
    const vi = fround(fround((vt[i] as number) * beta2) + fround(fround(c2 * gi) * gi));
    mt[i] = mi;
    vt[i] = vi;
    const denom = fround(fround(fround(Math.sqrt(vi)) / bc2Sqrt) + eps);
    // The store rounds the sum of the two float32 values: float32 addition.
    p[i] = pi + fround(fround(negStepSize * mi) / denom);
  }
}

export function checkRange(what: string, x: number, lo: number, hi: number): void {
  if (!(x >= lo && x < hi)) throw new TrainError('bad_hyperparameter', `${what} must be in [${lo}, ${hi}), got ${x}`);
}

export function need(map: ReadonlyMap<string, Float32Array>, name: string, n: number): Float32Array {
  const a = map.get(name);
  if (a === undefined || a.length !== n) {
    throw new TrainError(
      'bad_hyperparameter',
      a === undefined ? `no gradient/state for parameter '${name}'` : `'${name}' has ${a.length} values, expected ${n}`,
    );
  }
  return a;
}

export function needState(tensors: ReadonlyMap<string, Float32Array>, key: string, n: number): Float32Array {
  const a = tensors.get(key);
  if (a === undefined) throw new TrainError('bad_checkpoint', `optimizer state has no '${key}'`);
  if (a.length !== n)
    throw new TrainError('bad_checkpoint', `optimizer state '${key}' has ${a.length} values, expected ${n}`);
  return a;
}
