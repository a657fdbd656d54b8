// The global norm's sums of squares: accurate, and the same double on every path (scaling in place first or while
// summing), which the two-thread update and the main-thread path rely on to agree bit for bit.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../data/batches.js';
import { clipFactor, globalNorm, scaleAndSumSquares, scaleInPlace, sumOfSquares } from './clip.js';

function randomTensor(rnd: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rnd() - 0.5) * 10 ** (-3 * rnd()));
}

describe('sums of squares', () => {
  it('are exact on small integers and accurate on long tensors, tails included', () => {
    for (let n = 0; n <= 9; n++) {
      const g = Float32Array.from({ length: n }, (_, i) => i - 3);
      let want = 0;
      for (let i = 0; i < n; i++) want += (i - 3) ** 2;
      expect(sumOfSquares(g)).toBe(want);
    }
    const rnd = seededRandom(3);
    const g = randomTensor(rnd, 100_003);
    // Reference: Kahan-compensated running sum.
    let s = 0;
    let c = 0;
    for (const x of g) {
      const y = x * x - c;
      const t = s + y;
      c = t - s - y;
      s = t;
    }
    expect(Math.abs(sumOfSquares(g) / s - 1)).toBeLessThan(1e-13);
  });

  it('scaling while summing gives the stored values and the sum of scaling in place first, to the bit', () => {
    const rnd = seededRandom(4);
    for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 1_001, 65_537]) {
      const g = randomTensor(rnd, n);
      const a = g.slice();
      const b = g.slice();
      const fused = scaleAndSumSquares(a, 1 / 777);
      scaleInPlace([b], 1 / 777);
      for (let i = 0; i < n; i++) expect(a[i]).toBe(b[i]);
      expect(fused).toBe(sumOfSquares(b));
    }
  });

  it('globalNorm adds the per-tensor sums in order', () => {
    const rnd = seededRandom(5);
    const ts = [randomTensor(rnd, 10), randomTensor(rnd, 3), randomTensor(rnd, 33)];
    const want = Math.sqrt(
      sumOfSquares(ts[0] as Float32Array) + sumOfSquares(ts[1] as Float32Array) + sumOfSquares(ts[2] as Float32Array),
    );
    expect(globalNorm(ts)).toBe(want);
    expect(clipFactor(want, want / 2)).toBe(want / 2 / (want + 1e-6));
  });
});
