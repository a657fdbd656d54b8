import { describe, expect, it } from 'vitest';
import { createRng, xoshiro128ss } from './rng.js';

describe('rng', () => {
  it('matches the xoshiro128** reference vector for state {1,2,3,4}', () => {
    // First outputs of the reference C implementation (Blackman & Vigna) from s = {1, 2, 3, 4}.
    const r = xoshiro128ss(Uint32Array.from([1, 2, 3, 4]));
    expect([0, 1, 2, 3, 4].map(() => r.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883]);
  });

  it('is deterministic per seed and differs across seeds, including above bit 32', () => {
    const a = createRng(42);
    const b = createRng(42);
    const seqA = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(seqA);
    const c = createRng(43);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(seqA);
    const d = createRng(42 + 2 ** 33);
    expect(Array.from({ length: 8 }, () => d.nextUint32())).not.toEqual(seqA);
  });

  it('gives uniform floats in [0, 1)', () => {
    const r = createRng(7);
    const bins = new Array<number>(10).fill(0);
    const n = 20000;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      min = Math.min(min, u);
      max = Math.max(max, u);
      bins[Math.floor(u * 10)]!++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    // Each bin expects 2000 with sd ≈ 42; 200 is ~5 sd.
    for (const c of bins) expect(Math.abs(c - n / 10)).toBeLessThan(200);
  });

  it('rejects a seed that is not a safe integer', () => {
    expect(() => createRng(1.5)).toThrow(/safe integer/);
  });
});
