// Thin SVD by one-sided Jacobi rotations (Hestenes) in float64: small, dependency-free and accurate to
// rounding, which is what combining LoRA deltas of a few hundred columns needs.

export interface Svd {
  /** m×k, row-major, orthonormal columns. */
  readonly u: Float64Array;
  /** k singular values, descending. */
  readonly s: Float64Array;
  /** n×k, row-major, orthonormal columns (so M ≈ U diag(S) Vᵀ). */
  readonly v: Float64Array;
  readonly k: number;
}

/** SVD of a row-major m×n matrix, k = min(m, n). */
export function svd(matrix: Float64Array, m: number, n: number): Svd {
  if (m < n) {
    // Work on the transpose so there are never more columns than rows, then swap U and V.
    const t = new Float64Array(n * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = matrix[i * n + j]!;
    const r = svd(t, n, m);
    return { u: r.v, s: r.s, v: r.u, k: r.k };
  }
  const a = Float64Array.from(matrix); // m×n, columns rotated in place
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const ap = a[i * n + p]!;
          const aq = a[i * n + q]!;
          alpha += ap * ap;
          beta += aq * aq;
          gamma += ap * aq;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const ap = a[i * n + p]!;
          const aq = a[i * n + q]!;
          a[i * n + p] = c * ap - s * aq;
          a[i * n + q] = s * ap + c * aq;
        }
        for (let i = 0; i < n; i++) {
          const vp = v[i * n + p]!;
          const vq = v[i * n + q]!;
          v[i * n + p] = c * vp - s * vq;
          v[i * n + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += a[i * n + j]! ** 2;
    return Math.sqrt(s);
  });
  const order = norms.map((_, j) => j).sort((x, y) => norms[y]! - norms[x]!);
  const k = n;
  const u = new Float64Array(m * k);
  const vs = new Float64Array(n * k);
  const s = new Float64Array(k);
  order.forEach((j, col) => {
    const sigma = norms[j]!;
    s[col] = sigma;
    for (let i = 0; i < m; i++) u[i * k + col] = sigma > 0 ? a[i * n + j]! / sigma : 0;
    for (let i = 0; i < n; i++) vs[i * k + col] = v[i * n + j]!;
  });
  return { u, s, v: vs, k };
}
