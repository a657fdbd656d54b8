import { describe, expect, it } from 'vitest';
import { createRng } from './rng.js';
import {
  applyTemperature,
  applyTopK,
  applyTopP,
  argmax,
  sampleCategorical,
  selectToken,
  softmax,
  validateSampling,
} from './sampling.js';

const NEG = Number.NEGATIVE_INFINITY;

function frequencies(logits: number[], opts: Parameters<typeof selectToken>[1], n: number, seed = 1): number[] {
  const rng = createRng(seed);
  const counts = new Array<number>(logits.length).fill(0);
  const row = Float32Array.from(logits);
  for (let i = 0; i < n; i++) counts[selectToken(row, opts, rng)]!++;
  return counts.map((c) => c / n);
}

describe('argmax', () => {
  it('returns the first maximum and skips NaN', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax([Number.NaN, -5, -1])).toBe(2);
    expect(argmax([NEG, NEG])).toBe(0);
    expect(() => argmax([])).toThrow(/empty/);
  });
});

describe('softmax and temperature', () => {
  it('normalises stably for large logits', () => {
    const p = softmax([1000, 1000 + Math.log(3)]);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[1]).toBeCloseTo(0.75, 12);
  });
  it('divides by the temperature without touching the input', () => {
    const row = Float32Array.from([2, 4]);
    expect(Array.from(applyTemperature(row, 2))).toEqual([1, 2]);
    expect(Array.from(row)).toEqual([2, 4]);
  });
});

describe('top-k', () => {
  it('keeps the k largest, ties at the threshold included', () => {
    expect(Array.from(applyTopK(Float64Array.from([1, 5, 3, 4]), 2))).toEqual([NEG, 5, NEG, 4]);
    expect(Array.from(applyTopK(Float64Array.from([1, 4, 3, 4]), 1))).toEqual([NEG, 4, NEG, 4]);
    expect(Array.from(applyTopK(Float64Array.from([1, 2]), 0))).toEqual([1, 2]);
    expect(Array.from(applyTopK(Float64Array.from([1, 2]), 5))).toEqual([1, 2]);
  });
});

describe('top-p', () => {
  // probabilities 0.5, 0.3, 0.15, 0.05
  const logits = () => Float64Array.from([0.15, 0.5, 0.05, 0.3].map(Math.log));
  it('keeps the smallest most-likely set reaching p', () => {
    expect(Array.from(applyTopP(logits(), 0.7)).map((x) => x > NEG)).toEqual([false, true, false, true]);
    expect(Array.from(applyTopP(logits(), 0.79)).map((x) => x > NEG)).toEqual([false, true, false, true]);
    expect(Array.from(applyTopP(logits(), 0.81)).map((x) => x > NEG)).toEqual([true, true, false, true]);
    expect(Array.from(applyTopP(logits(), 1)).map((x) => x > NEG)).toEqual([true, true, true, true]);
  });
  it('always keeps at least the most likely token', () => {
    expect(Array.from(applyTopP(logits(), 1e-9)).map((x) => x > NEG)).toEqual([false, true, false, false]);
  });
});

describe('categorical draws', () => {
  it('follow the distribution', () => {
    const f = frequencies([0, Math.log(3)], { temperature: 1 }, 20000);
    expect(f[1]).toBeGreaterThan(0.74 - 0.02);
    expect(f[1]).toBeLessThan(0.76 + 0.02);
  });
  it('never pick a token with zero probability', () => {
    const rng = createRng(3);
    for (let i = 0; i < 1000; i++) expect(sampleCategorical([0, 1, 0], rng)).toBe(1);
  });
  it('honour top-k and top-p inside selectToken', () => {
    const logits = [0.15, 0.5, 0.05, 0.3].map(Math.log);
    const fk = frequencies(logits, { temperature: 1, topK: 2 }, 5000);
    expect(fk[0]).toBe(0);
    expect(fk[2]).toBe(0);
    expect(fk[1]! + fk[3]!).toBe(1);
    expect(fk[1]).toBeGreaterThan(0.625 - 0.04); // 0.5 / 0.8
    const fp = frequencies(logits, { temperature: 1, topP: 0.5 }, 500);
    expect(fp[1]).toBe(1);
  });
  it('sharpen with low temperature and flatten with high', () => {
    const logits = [0, 1];
    expect(frequencies(logits, { temperature: 0.05 }, 2000)[1]).toBeGreaterThan(0.999);
    const hot = frequencies(logits, { temperature: 100 }, 20000)[1]!;
    expect(Math.abs(hot - 0.5)).toBeLessThan(0.03);
  });
  it('are reproducible for a seed', () => {
    const logits = Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 20 }, () => selectToken(logits, { temperature: 0.9, topK: 20, topP: 0.9 }, rng));
    };
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });
  it('default to greedy when nothing is set', () => {
    expect(selectToken([0, 2, 1], {}, undefined)).toBe(1);
    expect(selectToken([0, 2, 1], { greedy: true, temperature: 5 }, undefined)).toBe(1);
  });
});

describe('validateSampling', () => {
  it('names the bad option', () => {
    expect(() => validateSampling({ temperature: 0 })).toThrow(/temperature/);
    expect(() => validateSampling({ temperature: Number.NaN })).toThrow(/temperature/);
    expect(() => validateSampling({ topK: 1.5 })).toThrow(/top-k/);
    expect(() => validateSampling({ topP: 0 })).toThrow(/top-p/);
    expect(() => validateSampling({ topP: 1.2 })).toThrow(/top-p/);
    expect(() => validateSampling({ temperature: 0.7, topK: 40, topP: 0.95 })).not.toThrow();
  });
});
