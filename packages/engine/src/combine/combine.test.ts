// Each combination type against a reference computed here from the input factors in float64.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type LoadedPeftAdapter, loadPeftAdapter, savePeftAdapter } from '../io/peft-adapter.js';
import { type LoraAdapterConfig, loraScale } from '../io/peft-config.js';
import type { TensorData } from '../onnx/ir.js';
import { combineLoraAdapters } from './combine.js';
import { CombineError } from './errors.js';
import { svd } from './svd.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/fixtures');
const tmp = await mkdtemp(join(tmpdir(), 'tm-combine-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

const one = await loadPeftAdapter(join(fixtures, 'adapters/tiny-gpt2-lora'));

/** A second adapter of the same base: other values, optionally a lower rank (first `rank` rows of A). */
function variant(rank: number, seed: number, alpha = 6): LoadedPeftAdapter {
  let x = seed;
  const rnd = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  };
  const tensors = new Map<string, TensorData>();
  for (const [key, k] of one.keys) {
    const t = one.tensors.get(key) as TensorData;
    const dims = k.role === 'lora_A' ? [rank, t.dims[1]!] : [t.dims[0]!, rank];
    const data = new Float32Array(dims[0]! * dims[1]!).map(() => rnd() * 0.2);
    tensors.set(key, { dtype: 'float32', dims, data });
  }
  const config = { ...(one.config as LoraAdapterConfig), r: rank, loraAlpha: alpha };
  return { dir: `variant-${seed}`, config, tensors, keys: one.keys };
}

const modules = [...new Set([...one.keys.values()].map((k) => k.module))];
const get = (a: { tensors: Map<string, TensorData> }, mod: string, role: 'A' | 'B') =>
  a.tensors.get(`base_model.model.${mod}.lora_${role}.weight`) as TensorData;

/** B·A of a result (scaling 1) or Σ wᵢsᵢ·BᵢAᵢ of inputs, in float64, [out, in]. */
function product(b: TensorData, a: TensorData, scale = 1): Float64Array {
  const [out, r] = b.dims as [number, number];
  const nIn = a.dims[1]!;
  const d = new Float64Array(out * nIn);
  for (let o = 0; o < out; o++)
    for (let k = 0; k < r; k++)
      for (let c = 0; c < nIn; c++)
        d[o * nIn + c]! += scale * (b.data[o * r + k] as number) * (a.data[k * nIn + c] as number);
  return d;
}
function weightedDelta(inputs: { adapter: LoadedPeftAdapter; weight: number }[], mod: string): Float64Array {
  const parts = inputs.map((w) =>
    product(
      get(w.adapter, mod, 'B'),
      get(w.adapter, mod, 'A'),
      w.weight * loraScale(w.adapter.config as LoraAdapterConfig, mod),
    ),
  );
  return parts.reduce((acc, p) => acc.map((v, i) => v + p[i]!));
}
const maxDiff = (x: Float64Array, y: Float64Array) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
const norm2 = (x: Float64Array) => x.reduce((s, v) => s + v * v, 0);

describe('combineLoraAdapters', () => {
  const two = variant(2, 7);
  const inputs = [
    { adapter: one, weight: 0.7 },
    { adapter: two, weight: -0.4 },
  ];

  it('cat: ranks add and B·A equals Σ wᵢsᵢ·BᵢAᵢ', () => {
    const out = combineLoraAdapters(inputs, { type: 'cat' });
    const c = out.config as LoraAdapterConfig;
    expect(c.r).toBe(6);
    expect(c.loraAlpha).toBe(6);
    for (const mod of modules) {
      expect(maxDiff(product(get(out, mod, 'B'), get(out, mod, 'A')), weightedDelta(inputs, mod))).toBeLessThan(1e-5);
    }
  });

  it('linear: equal ranks, A and B summed with √|wᵢsᵢ| (sign on A)', () => {
    const three = variant(4, 11, 8);
    const lin = [
      { adapter: one, weight: 0.5 },
      { adapter: three, weight: -0.25 },
    ];
    const out = combineLoraAdapters(lin, { type: 'linear' });
    for (const mod of modules) {
      const ref = {
        a: new Float64Array(get(one, mod, 'A').data.length),
        b: new Float64Array(get(one, mod, 'B').data.length),
      };
      for (const w of lin) {
        const ws = w.weight * loraScale(w.adapter.config as LoraAdapterConfig, mod);
        get(w.adapter, mod, 'A').data.forEach((v, i) => {
          ref.a[i]! += Math.sign(ws) * Math.sqrt(Math.abs(ws)) * (v as number);
        });
        get(w.adapter, mod, 'B').data.forEach((v, i) => {
          ref.b[i]! += Math.sqrt(Math.abs(ws)) * (v as number);
        });
      }
      const a = get(out, mod, 'A').data as Float32Array;
      expect(maxDiff(Float64Array.from(a), ref.a)).toBeLessThan(1e-6);
      expect(maxDiff(Float64Array.from(get(out, mod, 'B').data as Float32Array), ref.b)).toBeLessThan(1e-6);
    }
    expect(() => combineLoraAdapters(inputs, { type: 'linear' })).toThrow(
      /linear combination needs equal ranks: adapter 1 has rank 2/,
    );
  });

  it('svd: full rank reproduces ΔW; lower rank is its best approximation (orthogonal residual)', () => {
    const full = combineLoraAdapters(inputs, { type: 'svd', svdRank: 6 });
    const low = combineLoraAdapters(inputs, { type: 'svd', svdRank: 2 });
    expect((low.config as LoraAdapterConfig).r).toBe(2);
    expect((combineLoraAdapters(inputs, { type: 'svd' }).config as LoraAdapterConfig).r).toBe(4);
    for (const mod of modules) {
      const delta = weightedDelta(inputs, mod);
      expect(maxDiff(product(get(full, mod, 'B'), get(full, mod, 'A')), delta)).toBeLessThan(1e-5);
      const approx = product(get(low, mod, 'B'), get(low, mod, 'A'));
      const residual = delta.map((v, i) => v - approx[i]!);
      // A truncated SVD is an orthogonal projection: ‖Δ‖² = ‖approx‖² + ‖Δ − approx‖².
      expect(norm2(approx) + norm2(residual)).toBeCloseTo(norm2(delta), 6);
    }
  });

  it('svd() decomposes a known matrix', () => {
    // [[3, 0], [4, 5]] has singular values √45 and √5.
    const r = svd(Float64Array.from([3, 0, 4, 5]), 2, 2);
    expect(r.s[0]).toBeCloseTo(Math.sqrt(45), 12);
    expect(r.s[1]).toBeCloseTo(Math.sqrt(5), 12);
  });

  it('saves a result that loads back as a PEFT adapter', async () => {
    const out = combineLoraAdapters(inputs, { type: 'cat' });
    await savePeftAdapter(join(tmp, 'cat'), out);
    const back = await loadPeftAdapter(join(tmp, 'cat'));
    expect((back.config as LoraAdapterConfig).r).toBe(6);
    expect(back.tensors.size).toBe(out.tensors.size);
  });

  it('refuses other adapter types and other bases, naming them', async () => {
    const ia3 = await loadPeftAdapter(join(fixtures, 'adapters/tiny-qwen2-ia3'));
    expect(() =>
      combineLoraAdapters(
        [
          { adapter: one, weight: 1 },
          { adapter: ia3, weight: 1 },
        ],
        { type: 'cat' },
      ),
    ).toThrow(/adapter 1 .* is IA3; only LoRA adapters combine/);
    const other = { ...two, config: { ...(two.config as LoraAdapterConfig), baseModelNameOrPath: 'models/other' } };
    expect(() =>
      combineLoraAdapters(
        [
          { adapter: one, weight: 1 },
          { adapter: other, weight: 1 },
        ],
        { type: 'cat' },
      ),
    ).toThrow(CombineError);
    expect(() => combineLoraAdapters([], { type: 'cat' })).toThrow(/no adapters/);
  });
});
