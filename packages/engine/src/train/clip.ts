// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ does it: the L2 norm over all gradients
// together; when it exceeds maxNorm every gradient is scaled by maxNorm / (norm + 1e-6).

import { simdScaleAndSumSquares } from './optim/sum-squares-simd.js';

/**
 * L2 norm over every gradient, in double: each tensor's sum of squares from zero, then those sums added in order
 * (as torch takes each tensor's norm first). Per tensor, so that threads holding different tensors can each sum
 * their own and the result is the same to the bit (resident.ts). Non-finite when any element is.
 */
export function globalNorm(grads: Iterable<Float32Array>): number {
  const sums: number[] = [];
  for (const g of grads) sums.push(sumOfSquares(g));
  return normOfSums(sums);
}

/** The global norm from per-tensor sums of squares, added in order: the one place that order is fixed. */
export function normOfSums(sums: Iterable<number>): number {
  let s = 0;
  for (const x of sums) s += x;
  return Math.sqrt(s);
}

// The sums of squares run four partial sums, element i into sum i mod 4 (a tail of n mod 4 elements into the
// first), added as (s0 + s1) + (s2 + s3): one double addition chain per element is the loop's limit, four
// independent chains take ≈ 40% less time (bench/README.md, train: the global norm of full fine-tuning). The
// order is fixed, so every path — one thread or two, scaled in place first or while summing — gets the same
// double to the bit; against one running sum it differs only in double rounding. The plain sum stays a JS loop: a
// WebAssembly SIMD kernel of it (two f64x2 accumulators, the same order) measured no faster, its staging copy
// costing what it saved (bench/README.md, train).

/** Σ g[i]² in double (in the order described above). */
export function sumOfSquares(g: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = g.length;
  const n4 = n - (n % 4);
  let i = 0;
  for (; i < n4; i += 4) {
    const x0 = g[i] as number;
    const x1 = g[i + 1] as number;
    const x2 = g[i + 2] as number;
    const x3 = g[i + 3] as number;
    s0 += x0 * x0;
    s1 += x1 * x1;
    s2 += x2 * x2;
    s3 += x3 * x3;
  }
  for (; i < n; i++) s0 += (g[i] as number) * (g[i] as number);
  return s0 + s1 + (s2 + s3);
}

/** From this many elements on scaleAndSumSquares runs the SIMD kernel (below, its set-up costs more than it saves). */
const SIMD_FROM = 256;

/**
 * scaleInPlace then sumOfSquares: each element is stored as float32 first and squared as stored, in
 * sumOfSquares's order. In one pass as the WebAssembly SIMD kernel (optim/sum-squares-simd.ts) where the runtime
 * has it — the same stored values and sum to the bit — else the two passes.
 */
export function scaleAndSumSquares(g: Float32Array, factor: number): number {
  const simd = g.length >= SIMD_FROM ? simdScaleAndSumSquares() : null;
  return simd === null ? scaleAndSumSquaresJs(g, factor) : simd(g, factor);
}

/**
 * scaleAndSumSquares as its definition, two JS passes: the reference the kernel must equal, and its fallback (no
 * SIMD, or tensors too small for the kernel). The store rounds each product to float32 as Math.fround does.
 */
export function scaleAndSumSquaresJs(g: Float32Array, factor: number): number {
  scaleInPlace([g], factor);
  return sumOfSquares(g);
}

/**
 * Each gradient's sum of squares, in order, scaled first by `scale` (stored scaled) unless it is null: the
 * per-tensor sums normOfSums adds. Every path computing the global norm (main thread, resident, its helper
 * thread) goes through here, so they agree to the bit.
 */
export function sumsOfSquares(grads: readonly Float32Array[], scale: number | null): number[] {
  return grads.map((g) => (scale === null ? sumOfSquares(g) : scaleAndSumSquares(g, scale)));
}

export function scaleInPlace(grads: Iterable<Float32Array>, factor: number): void {
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * factor;
}

/** The factor clipping scales every gradient by given the pre-clip norm (1 when it does not clip). */
export function clipFactor(norm: number, maxNorm: number): number {
  return !(maxNorm > 0) || !(norm > maxNorm) ? 1 : maxNorm / (norm + 1e-6);
}

/** Clips in place given the pre-clip norm; returns the factor applied (1 when no clipping happened). */
export function clipByGlobalNorm(grads: Iterable<Float32Array>, norm: number, maxNorm: number): number {
  const factor = clipFactor(norm, maxNorm);
  if (factor !== 1) scaleInPlace(grads, factor);
  return factor;
}
