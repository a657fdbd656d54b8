// AdamW exactly as torch.optim.AdamW (single-tensor path, amsgrad off) computes it, per element:
//   p ← p − lr·wd·p                      (decoupled weight decay, applied before the moment update)
//   m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
// The last line is PyTorch's arrangement of m̂ / (√v̂ + eps): eps is added after dividing √v by √(1 − β2ᵗ),
// which is the same thing, and keeping PyTorch's order keeps the float rounding close to theirs. Moments are
// float32 like PyTorch's; the arithmetic of one element runs in double and is stored back as float32. The
// division by √(1 − β2ᵗ) is a multiplication by its reciprocal (computed once a step): one double division
// per element fewer, ≈ 16% of the loop's time (bench/README.md, train); in double the two differ by at most
// an ulp of double, far below the float32 rounding of the stored result.

import { TrainError } from '../errors.js';
import { createSimdMoments } from './adamw-simd.js';
import type { Optimizer } from './types.js';

export interface AdamWOptions {
  readonly betas?: readonly [number, number];
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Parameters that get no weight decay (biases, norm weights). */
  readonly noDecay?: ReadonlySet<string>;
  /**
   * Run the update as the WebAssembly SIMD kernel (adamw-simd.ts; the same float32 results, ≈ 2× faster) where
   * the runtime has it (default true); false: the JS loop only (tests compare the two).
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
      const bc1 = 1 - beta1 ** t;
      const invBc2Sqrt = 1 / Math.sqrt(1 - beta2 ** t);
      const stepSize = lr / bc1;
      for (const [name, p] of params) {
        const g = need(grads, name, p.length);
        const mt = need(m, name, p.length);
        const vt = need(v, name, p.length);
        const decay = noDecay.has(name) ? 1 : 1 - lr * wd;
        if (fast?.m.has(name) === true) {
          // The kernel always reads fround(g · gradFactor): fround(g · 1) is g, so the unscaled case is the same.
          fast.update(name, p, g, gradFactor, { beta1, beta2, eps, decay, stepSize, invBc2Sqrt });
          continue;
        }
        adamwTensor(p, g, gradFactor, mt, vt, beta1, beta2, eps, decay, stepSize, invBc2Sqrt);
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

/** The hot loop over one tensor: a plain function of its arguments, so V8 keeps it tight. */
function adamwTensor(
  p: Float32Array,
  g: Float32Array,
  gs: number,
  mt: Float32Array,
  vt: Float32Array,
  beta1: number,
  beta2: number,
  eps: number,
  decay: number,
  stepSize: number,
  invBc2Sqrt: number,
): void {
  // Two loops rather than a test per element: the unscaled one is ≈ 20% faster (measured, 25.7 M elements).
  if (gs === 1) adamwLoop(p, g, mt, vt, beta1, beta2, eps, decay, stepSize, invBc2Sqrt);
  else adamwScaledLoop(p, g, gs, mt, vt, beta1, beta2, eps, decay, stepSize, invBc2Sqrt);
}

function adamwLoop(
  p: Float32Array,
  g: Float32Array,
  mt: Float32Array,
  vt: Float32Array,
  beta1: number,
  beta2: number,
  eps: number,
  decay: number,
  stepSize: number,
  invBc2Sqrt: number,
): void {
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i] as number;
    // Rounded to float32 as PyTorch's float32 moments are before the next line reads them.
    const mi = Math.fround(beta1 * (mt[i] as number) + c1 * gi);
    const vi = Math.fround(beta2 * (vt[i] as number) + c2 * gi * gi);
    mt[i] = mi;
    vt[i] = vi;
    // PyTorch decays p in place (a float32 rounding; exact when decay is 1) before the Adam update.
    p[i] = Math.fround((p[i] as number) * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
  }
}

/** adamwLoop reading each gradient element as fround(g·gs), the value clipping in place would have stored. */
function adamwScaledLoop(
  p: Float32Array,
  g: Float32Array,
  gs: number,
  mt: Float32Array,
  vt: Float32Array,
  beta1: number,
  beta2: number,
  eps: number,
  decay: number,
  stepSize: number,
  invBc2Sqrt: number,
): void {
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = Math.fround((g[i] as number) * gs);
    const mi = Math.fround(beta1 * (mt[i] as number) + c1 * gi);
    const vi = Math.fround(beta2 * (vt[i] as number) + c2 * gi * gi);
    mt[i] = mi;
    vt[i] = vi;
    p[i] = Math.fround((p[i] as number) * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
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
