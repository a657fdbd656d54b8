// PEFT's pruning and TIES merge against hand-computed vectors, and the combination types built on them.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPeftAdapter } from '../io/peft-adapter.js';
import type { LoraAdapterConfig } from '../io/peft-config.js';
import { combineLoraAdapters } from './combine.js';
import { magnitudePrune, randomPrune, taskArithmetic, tiesMerge } from './task-arithmetic.js';

const f32 = (xs: number[]) => Float32Array.from(xs);

describe('merge utilities', () => {
  it('magnitude pruning keeps the int(density·n) largest |x|', () => {
    expect([...magnitudePrune(f32([0.1, -0.5, 0.3, -0.05]), 0.5)]).toEqual([0, -0.5, expect.closeTo(0.3, 6), 0]);
    expect([...magnitudePrune(f32([1, 2, 3]), 0.5)]).toEqual([0, 0, 3]); // int(1.5) = 1
  });
  it('TIES: majority sign by total or frequency, mean of the agreeing weighted values', () => {
    const t = [f32([1, -2, 0]), f32([-3, 1, 2])];
    // total: votes -2, -1, 2 → signs -, -, +; agreeing: t2·0.5 = -1.5; t1·1 = -2; t2·0.5 = 1 (0 is not +).
    expect([...tiesMerge(t, [1, 0.5], 'total')]).toEqual([-1.5, -2, 1]);
    // frequency: sign counts 0, 0, 1 → all +; agreeing: t1 = 1; t2·0.5 = 0.5; t2·0.5·2 = 1.
    expect([...tiesMerge(t, [1, 0.5], 'frequency')]).toEqual([1, 0.5, 1]);
    expect([...taskArithmetic(t, [1, 0.5])]).toEqual([-0.5, -1.5, 1]);
  });
  it('DARE keeps everything at density 1 and rescales survivors by 1/density', () => {
    expect([...randomPrune(f32([1, 2]), 1, () => 0.5)]).toEqual([1, 2]);
    expect([...randomPrune(f32([1, 2]), 0.5, () => 0.2)]).toEqual([2, 4]);
    expect([...randomPrune(f32([1, 2]), 0.5, () => 0.7)]).toEqual([0, 0]);
  });
});

describe('combination types on adapters', async () => {
  const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');
  const one = await loadPeftAdapter(join(fixtures, 'adapters/tiny-gpt2-lora'));
  const scaled = {
    ...one,
    dir: 'other',
    config: { ...(one.config as LoraAdapterConfig), loraAlpha: 2 },
  };
  const inputs = [
    { adapter: one, weight: 0.6 },
    { adapter: scaled, weight: 0.3 },
  ];
  const close = (x: Float32Array, y: Float32Array) => x.every((v, i) => Math.abs(v - y[i]!) < 1e-6);

  it('magnitude_prune and dare_linear at density 1 equal linear', () => {
    const lin = combineLoraAdapters(inputs, { type: 'linear' });
    for (const type of ['magnitude_prune', 'dare_linear'] as const) {
      const out = combineLoraAdapters(inputs, { type, density: 1 });
      for (const [k, t] of lin.tensors)
        expect(close(out.tensors.get(k)?.data as Float32Array, t.data as Float32Array)).toBe(true);
    }
  });

  it('ties prunes each A and B, votes and averages (reference from the helpers above)', () => {
    const out = combineLoraAdapters(inputs, { type: 'ties', density: 0.5, majoritySign: 'frequency' });
    const s = (c: LoraAdapterConfig) => c.loraAlpha / c.r;
    const weights = inputs.map((w) => Math.sqrt(w.weight * s(w.adapter.config as LoraAdapterConfig)));
    for (const [k, t] of out.tensors) {
      const ref = tiesMerge(
        inputs.map((w) => magnitudePrune(w.adapter.tensors.get(k)?.data as Float32Array, 0.5)),
        weights,
        'frequency',
      );
      expect(close(t.data as Float32Array, ref)).toBe(true);
    }
    const a = combineLoraAdapters(inputs, { type: 'dare_ties', density: 0.5, seed: 3 });
    const b = combineLoraAdapters(inputs, { type: 'dare_ties', density: 0.5, seed: 3 });
    for (const [k, t] of a.tensors)
      expect([...(t.data as Float32Array)]).toEqual([...(b.tensors.get(k) as { data: Float32Array }).data]);
    expect(() => combineLoraAdapters(inputs, { type: 'ties' })).toThrow(/needs a density in \(0, 1\]/);
    expect(() =>
      combineLoraAdapters([{ adapter: one, weight: -1 }, inputs[1]!], { type: 'ties', density: 0.5 }),
    ).toThrow(/weight·scaling >= 0/);
  });
});
