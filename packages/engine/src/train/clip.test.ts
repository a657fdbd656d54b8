// The global norm's sums of squares: accurate, and the same double on every path (scaling in place first or while
// summing), which the two-thread update and the main-thread path rely on to agree bit for bit.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../data/batches.js';
import {
  clipFactor,
  globalNorm,
  scaleAndSumSquares,
  scaleAndSumSquaresJs,
  scaleInPlace,
  sumOfSquares,
} from './clip.js';
import { simdScaleAndSumSquares } from './optim/sum-squares-simd.js';

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

  it('the SIMD kernel stores and sums what the JS loop does, to the bit, on awkward inputs', () => {
    const simd = simdScaleAndSumSquares();
    expect(simd, 'WebAssembly SIMD is available here').not.toBeNull();
    const kernel = simd as NonNullable<typeof simd>;
    const rnd = seededRandom(6);
    const cases: Float32Array[] = [];
    for (let n = 0; n <= 9; n++) cases.push(randomTensor(rnd, n));
    for (const n of [255, 256, 1_001, 16_384, 16_387, 2 * 16_384 + 5]) cases.push(randomTensor(rnd, n));
    const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1e-45, -1e-40, 1e-38];
    for (const x of special) {
      // The special value at each position mod 4 and in the tail.
      for (const at of [0, 1, 2, 3, 8]) {
        const g = randomTensor(rnd, 9);
        g[at] = x;
        cases.push(g);
      }
    }
    // Float32 subnormals, and normals that scaling makes subnormal or zero.
    cases.push(Float32Array.from({ length: 1_003 }, () => (rnd() - 0.5) * 1e-36 * 10 ** (-9 * rnd())));
    for (const factor of [1 / 777, 0.37, 1, 3.5e-3, 1e30]) {
      for (const g of cases) {
        const a = g.slice();
        const b = g.slice();
        const want = scaleAndSumSquaresJs(a, factor);
        const got = kernel(b, factor);
        expect(Object.is(got, want), `n ${g.length}, factor ${factor}: ${got} vs ${want}`).toBe(true);
        for (let i = 0; i < g.length; i++) if (!Object.is(a[i], b[i])) expect(b[i]).toBe(a[i]);
        // And through the dispatching function.
        const c = g.slice();
        expect(Object.is(scaleAndSumSquares(c, factor), want)).toBe(true);
      }
    }
  });
});
