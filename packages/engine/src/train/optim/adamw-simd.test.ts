// The WebAssembly SIMD AdamW against the JS loop, bit for bit: every parameter and both moments after several
// steps, with and without clipping (gradFactor), weight decay and noDecay, both of lerp's branches, lengths with
// every remainder mod 4 (the kernel's group) and tensors longer than one staging chunk; and a restore from
// state() continuing identically.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../data/batches.js';
import { createAdamW } from './adamw.js';
import { createSimdMoments } from './adamw-simd.js';

const sizes = new Map([
  ['w', 40_001], // odd, over two chunks
  ['b', 7],
  ['one', 1],
  ['even', 16_384],
  ['two', 2],
  ['six', 6],
  ['chunk+3', 16_387],
  ['tiny', 1_001], // gradients near 1e-20: their squares are float32 subnormals or underflow
]);

function randomTensors(rnd: () => number, scale: number): Map<string, Float32Array> {
  // Magnitudes over several decades, so √v̂ and the update span many binades.
  return new Map(
    [...sizes].map(([k, n]) => {
      const s = k === 'tiny' ? scale * 1e-19 : scale;
      return [k, Float32Array.from({ length: n }, () => (rnd() - 0.5) * s * 10 ** (-4 * rnd()))];
    }),
  );
}

function same(a: Float32Array, b: Float32Array): number {
  let differ = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differ++;
  return differ;
}

describe('AdamW SIMD kernel', () => {
  it('is available here (the bench and CI run on runtimes with WebAssembly SIMD)', () => {
    expect(createSimdMoments(new Map([['x', 3]]))).not.toBeNull();
  });

  it.each([
    [0.9, 0.95],
    [0.3, 0.999],
  ])('stores exactly what the JS loop stores, over steps with and without clipping (betas %s, %s)', (b1, b2) => {
    const opts = { betas: [b1, b2] as const, eps: 1e-8, weightDecay: 0.1, noDecay: new Set(['b', 'six']) };
    const js = createAdamW(sizes, { ...opts, simd: false });
    const fast = createAdamW(sizes, opts);
    const rnd = seededRandom(5);
    const init = randomTensors(rnd, 2);
    const pj = new Map([...init].map(([k, a]) => [k, a.slice()]));
    const pf = new Map([...init].map(([k, a]) => [k, a.slice()]));
    for (let t = 0; t < 5; t++) {
      const grads = randomTensors(rnd, 1);
      const factor = t % 2 === 0 ? 1 : 0.37;
      js.step(pj, grads, 3e-4 * (t + 1), factor);
      fast.step(pf, grads, 3e-4 * (t + 1), factor);
    }
    for (const [k, a] of pj) expect(same(a, pf.get(k) as Float32Array), k).toBe(0);
    const sj = js.state();
    const sf = fast.state();
    expect([...sf.keys()]).toEqual([...sj.keys()]);
    for (const [k, a] of sj) expect(same(a, sf.get(k) as Float32Array), k).toBe(0);
  });

  it('continues identically after load() from the JS optimiser’s state', () => {
    const js = createAdamW(sizes, { weightDecay: 0.01, simd: false });
    const rnd = seededRandom(9);
    const p = randomTensors(rnd, 2);
    js.step(p, randomTensors(rnd, 1), 1e-3);
    const fast = createAdamW(sizes, { weightDecay: 0.01 });
    fast.load(js.stepCount, new Map([...js.state()].map(([k, a]) => [k, a.slice()])));
    const pf = new Map([...p].map(([k, a]) => [k, a.slice()]));
    const grads = randomTensors(rnd, 1);
    js.step(p, grads, 1e-3, 0.5);
    fast.step(pf, grads, 1e-3, 0.5);
    for (const [k, a] of p) expect(same(a, pf.get(k) as Float32Array), k).toBe(0);
  });
});
