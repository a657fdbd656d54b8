// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ does it: the L2 norm over all gradients
// together; when it exceeds maxNorm every gradient is scaled by maxNorm / (norm + 1e-6).

/**
 * L2 norm over every gradient, in double: each tensor's sum of squares from zero, then those sums added in order
 * (as torch takes each tensor's norm first). Per tensor, so that threads holding different tensors can each sum
 * their own and the result is the same to the bit (resident.ts). Non-finite when any element is.
 */
export function globalNorm(grads: Iterable<Float32Array>): number {
  let s = 0;
  for (const g of grads) s += sumOfSquares(g);
  return Math.sqrt(s);
}

/** Σ g[i]² in double, from zero. */
export function sumOfSquares(g: Float32Array): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += (g[i] as number) * (g[i] as number);
  return s;
}

/**
 * scaleInPlace then sumOfSquares in one pass: each element is stored as float32 first and squared as stored, so
 * the result equals the two passes'.
 */
export function scaleAndSumSquares(g: Float32Array, factor: number): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) {
    const x = Math.fround((g[i] as number) * factor);
    g[i] = x;
    s += x * x;
  }
  return s;
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
