// AdamW and SGD against hand-computed values and against a plain double-precision transcription of the
// textbook formulas (m̂ / (√v̂ + eps) for AdamW), which differs in arrangement from the implementation.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../data/batches.js';
import { TrainError } from '../errors.js';
import { createAdamW } from './adamw.js';
import { createSgd } from './sgd.js';

const one = (x: number) => new Map([['p', new Float32Array([x])]]);

describe('AdamW', () => {
  it('first step by hand: p(1 − lr·wd) − lr·g/(|g| + eps)', () => {
    const opt = createAdamW(new Map([['p', 1]]), { weightDecay: 0.01 });
    const p = one(1);
    opt.step(p, one(0.5), 0.1);
    // 1·(1 − 0.001) − 0.1·0.5/(0.5 + 1e-8) = 0.999 − 0.099999998
    expect(p.get('p')?.[0]).toBeCloseTo(0.899000002, 6);
    expect(opt.stepCount).toBe(1);
  });

  it('follows the textbook formulas over many steps, with decay, noDecay and two parameters', () => {
    const n = 64;
    const sizes = new Map([
      ['w', n],
      ['b', n],
    ]);
    const [b1, b2, eps, wd, lr] = [0.8, 0.99, 1e-6, 0.1, 0.05];
    const opt = createAdamW(sizes, { betas: [b1, b2], eps, weightDecay: wd, noDecay: new Set(['b']) });
    const rnd = mulberry(7);
    const params = new Map([...sizes].map(([k]) => [k, Float32Array.from({ length: n }, () => rnd() * 2 - 1)]));
    const ref = new Map([...params].map(([k, a]) => [k, Float64Array.from(a)]));
    const m = new Map([...sizes].map(([k]) => [k, new Float64Array(n)]));
    const v = new Map([...sizes].map(([k]) => [k, new Float64Array(n)]));
    for (let t = 1; t <= 20; t++) {
      const grads = new Map([...sizes].map(([k]) => [k, Float32Array.from({ length: n }, () => rnd() - 0.5)]));
      opt.step(params, grads, lr);
      for (const [k, p] of ref) {
        const g = grads.get(k) as Float32Array;
        const mk = m.get(k) as Float64Array;
        const vk = v.get(k) as Float64Array;
        for (let i = 0; i < n; i++) {
          if (k === 'w') p[i] = (p[i] as number) * (1 - lr * wd);
          mk[i] = b1 * (mk[i] as number) + (1 - b1) * (g[i] as number);
          vk[i] = b2 * (vk[i] as number) + (1 - b2) * (g[i] as number) ** 2;
          const mHat = (mk[i] as number) / (1 - b1 ** t);
          const vHat = (vk[i] as number) / (1 - b2 ** t);
          p[i] = (p[i] as number) - (lr * mHat) / (Math.sqrt(vHat) + eps);
        }
      }
    }
    for (const [k, p] of params) {
      const r = ref.get(k) as Float64Array;
      for (let i = 0; i < n; i++) expect(Math.abs((p[i] as number) - (r[i] as number))).toBeLessThan(1e-5);
    }
  });

  it('stores what torch.optim.AdamW’s float32 tensor ops store, to the bit (both lerp branches, JS and SIMD)', () => {
    // The single-tensor path transcribed op by op over Float32Arrays (each op's result stored, i.e. rounded to
    // float32; each Python scalar rounded to float32 where a float32 tensor op reads it); lerp in PyTorch's two
    // forms: self + w·(end − self) for w < 0.5, end − (end − self)·(1 − w) otherwise.
    const f = Math.fround;
    const n = 50_003;
    for (const [b1, b2, eps, wd, lr] of [
      [0.9, 0.999, 1e-8, 0.01, 3e-4],
      [0.3, 0.95, 1e-6, 0.1, 1e-2],
    ] as const) {
      const rnd = mulberry(11);
      const p0 = Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * 0.1);
      const opts = { betas: [b1, b2] as const, eps, weightDecay: wd };
      const fast = createAdamW(new Map([['p', n]]), opts);
      const js = createAdamW(new Map([['p', n]]), { ...opts, simd: false });
      const pf = new Map([['p', p0.slice()]]);
      const pj = new Map([['p', p0.slice()]]);
      const ref = p0.slice();
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      const denom = new Float32Array(n);
      for (let t = 1; t <= 4; t++) {
        // Gradients over many magnitudes, so √v̂ spans many binades; clipped (scaled as read) on even steps.
        const g = Float32Array.from({ length: n }, () => (rnd() - 0.5) * 10 ** (-6 * rnd()));
        const factor = t % 2 === 0 ? 0.37 : 1;
        fast.step(pf, new Map([['p', g]]), lr, factor);
        js.step(pj, new Map([['p', g]]), lr, factor);
        const gc = Float32Array.from(g, (x) => x * factor);
        const w = f(1 - b1);
        for (let i = 0; i < n; i++) ref[i] = (ref[i] as number) * f(1 - lr * wd);
        for (let i = 0; i < n; i++) {
          const [self, end] = [m[i] as number, gc[i] as number];
          m[i] = w < 0.5 ? self + f(w * f(end - self)) : end - f(f(end - self) * f(1 - w));
        }
        for (let i = 0; i < n; i++) v[i] = (v[i] as number) * f(b2);
        for (let i = 0; i < n; i++) v[i] = (v[i] as number) + f(f(f(1 - b2) * (gc[i] as number)) * (gc[i] as number));
        const stepSize = lr / (1 - b1 ** t);
        const bc2Sqrt = (1 - b2 ** t) ** 0.5;
        for (let i = 0; i < n; i++) denom[i] = Math.sqrt(v[i] as number);
        for (let i = 0; i < n; i++) denom[i] = (denom[i] as number) / f(bc2Sqrt);
        for (let i = 0; i < n; i++) denom[i] = (denom[i] as number) + f(eps);
        for (let i = 0; i < n; i++)
          ref[i] = (ref[i] as number) + f(f(f(-stepSize) * (m[i] as number)) / (denom[i] as number));
      }
      for (const [what, got] of [
        ['simd', pf],
        ['js', pj],
      ] as const) {
        const a = got.get('p') as Float32Array;
        let differ = 0;
        for (let i = 0; i < n; i++) if (!Object.is(a[i], ref[i])) differ++;
        expect(differ, `${what}, beta1 ${b1}`).toBe(0);
      }
      const state = fast.state();
      expect(state.get('exp_avg.p')).toEqual(m);
      expect(state.get('exp_avg_sq.p')).toEqual(v);
    }
  });

  it('continues identically from saved state', () => {
    const sizes = new Map([['p', 3]]);
    const a = createAdamW(sizes, { weightDecay: 0.1 });
    const pa = new Map([['p', new Float32Array([1, -2, 3])]]);
    const g = (s: number) => new Map([['p', new Float32Array([0.1 * s, -0.2, 0.3 / s])]]);
    for (let s = 1; s <= 3; s++) a.step(pa, g(s), 0.01);
    const b = createAdamW(sizes, { weightDecay: 0.1 });
    const saved = new Map([...a.state()].map(([k, x]) => [k, new Float32Array(x)]));
    b.load(a.stepCount, saved);
    const pb = new Map([['p', new Float32Array(pa.get('p') as Float32Array)]]);
    for (let s = 4; s <= 6; s++) {
      a.step(pa, g(s), 0.01);
      b.step(pb, g(s), 0.01);
    }
    expect(pb.get('p')).toEqual(pa.get('p'));
    expect(() => b.load(1, new Map())).toThrow(TrainError);
  });

  it('rejects bad betas and negative weight decay', () => {
    expect(() => createAdamW(new Map(), { betas: [1, 0.9] })).toThrow(/betas\[0\]/);
    expect(() => createAdamW(new Map(), { weightDecay: -1 })).toThrow(/weightDecay/);
  });
});

describe('SGD', () => {
  it('momentum with coupled weight decay, by hand', () => {
    const opt = createSgd(new Map([['p', 1]]), { momentum: 0.9, weightDecay: 0.1 });
    const p = one(1);
    opt.step(p, one(0.5), 0.1); // d = 0.5 + 0.1 = 0.6 = buf; p = 1 − 0.06
    expect(p.get('p')?.[0]).toBeCloseTo(0.94, 6);
    opt.step(p, one(0.5), 0.1); // d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; p = 0.94 − 0.1134
    expect(p.get('p')?.[0]).toBeCloseTo(0.8266, 6);
  });

  it('Nesterov, by hand', () => {
    const opt = createSgd(new Map([['p', 1]]), { momentum: 0.9, nesterov: true, weightDecay: 0.1 });
    const p = one(1);
    opt.step(p, one(0.5), 0.1); // d = 0.6, buf = 0.6, d + 0.9·buf = 1.14
    expect(p.get('p')?.[0]).toBeCloseTo(0.886, 6);
    opt.step(p, one(0.5), 0.1); // d = 0.5 + 0.0886 = 0.5886; buf = 0.54 + 0.5886 = 1.1286; d + 0.9·buf = 1.60434
    expect(p.get('p')?.[0]).toBeCloseTo(0.886 - 0.160434, 6);
  });

  it('plain SGD and noDecay', () => {
    const opt = createSgd(new Map([['p', 1]]), { weightDecay: 0.5, noDecay: new Set(['p']) });
    const p = one(1);
    opt.step(p, one(2), 0.25);
    expect(p.get('p')?.[0]).toBe(0.5);
    expect(opt.state().size).toBe(0);
    expect(() => createSgd(new Map(), { nesterov: true })).toThrow(/nesterov/);
  });
});

const mulberry = seededRandom;
