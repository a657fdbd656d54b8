// PEFT's add_weighted_adapter for LoRA: several adapters of one base → one new LoRA adapter, with PEFT's rules.
//   linear: equal ranks; A = Σ sign(wᵢsᵢ)·√|wᵢsᵢ|·Aᵢ, B = Σ √|wᵢsᵢ|·Bᵢ (sᵢ = the adapter's scaling).
//   cat:    ranks add; A = concat(wᵢsᵢ·Aᵢ) along rank, B = concat(Bᵢ), so BA = Σ wᵢsᵢ·BᵢAᵢ exactly.
//   svd:    ΔW = Σ wᵢsᵢ·BᵢAᵢ, truncated to the new rank: B = U·diag(S), A = Vᵀ.
// The result has lora_alpha = r (scaling 1), as PEFT writes it, so its deltas are exactly B·A.

import { seededRandom } from '../data/batches.js';
import type { LoadedPeftAdapter, PeftAdapter } from '../io/peft-adapter.js';
import { type LoraAdapterConfig, loraScale } from '../io/peft-config.js';
import { formatPeftKey } from '../io/peft-keys.js';
import type { TensorData } from '../onnx/ir.js';
import { CombineError } from './errors.js';
import { svd } from './svd.js';
import { type MajoritySign, magnitudePrune, randomPrune, taskArithmetic, tiesMerge } from './task-arithmetic.js';

export type CombinationType = 'linear' | 'cat' | 'svd' | 'ties' | 'dare_linear' | 'dare_ties' | 'magnitude_prune';

const TASK_ARITHMETIC: readonly CombinationType[] = ['ties', 'dare_linear', 'dare_ties', 'magnitude_prune'];

export interface WeightedLora {
  readonly adapter: LoadedPeftAdapter;
  readonly weight: number;
}

export interface CombineOptions {
  readonly type: CombinationType;
  /** svd: rank of the result; default the largest input rank (PEFT's default). */
  readonly svdRank?: number;
  /** ties, dare_*, magnitude_prune: fraction of values kept, in (0, 1]. */
  readonly density?: number;
  /** ties, dare_ties: how the sign vote is taken. Default 'total'. */
  readonly majoritySign?: MajoritySign;
  /** dare_*: seed of the random drop. Default 42. */
  readonly seed?: number;
}

interface ModuleFactors {
  a: Float32Array; // [r, in]
  b: Float32Array; // [out, r]
  r: number;
  in: number;
  out: number;
  scale: number;
}

function loraConfig(w: WeightedLora, i: number): LoraAdapterConfig {
  const c = w.adapter.config;
  if (c.peftType !== 'LORA') {
    throw new CombineError(
      'incompatible_types',
      `adapter ${i} (${w.adapter.dir}) is ${c.peftType}; only LoRA adapters combine`,
    );
  }
  if (c.useDora)
    throw new CombineError(
      'incompatible_types',
      `adapter ${i} (${w.adapter.dir}) uses DoRA, which add_weighted_adapter cannot combine`,
    );
  if (c.bias !== 'none' || (c.modulesToSave?.length ?? 0) > 0) {
    throw new CombineError(
      'incompatible_types',
      `adapter ${i} (${w.adapter.dir}) trains biases or modules_to_save, which a weighted combination of LoRA factors cannot carry`,
    );
  }
  return c;
}

/** Each module's A and B of one adapter, with its scaling. */
function factors(w: WeightedLora, c: LoraAdapterConfig): Map<string, ModuleFactors> {
  const out = new Map<string, Partial<ModuleFactors>>();
  for (const [key, k] of w.adapter.keys) {
    if (k.role !== 'lora_A' && k.role !== 'lora_B') {
      throw new CombineError('incompatible_types', `${w.adapter.dir}: tensor ${key} (${k.role}) cannot be combined`);
    }
    const t = w.adapter.tensors.get(key) as TensorData;
    const m = out.get(k.module) ?? {};
    if (k.role === 'lora_A') {
      m.a = t.data as Float32Array;
      m.r = t.dims[0]!;
      m.in = t.dims[1]!;
    } else {
      m.b = t.data as Float32Array;
      m.out = t.dims[0]!;
    }
    m.scale = loraScale(c, k.module);
    out.set(k.module, m);
  }
  return out as Map<string, ModuleFactors>;
}

/** Combines LoRA adapters of one base into a new adapter (in memory; save with savePeftAdapter). */
export function combineLoraAdapters(inputs: readonly WeightedLora[], opts: CombineOptions): PeftAdapter {
  if (inputs.length === 0) throw new CombineError('empty', 'no adapters to combine');
  const configs = inputs.map(loraConfig);
  inputs.forEach((w, i) => {
    if (!Number.isFinite(w.weight))
      throw new CombineError('bad_option', `adapter ${i}'s weight ${w.weight} is not finite`);
  });
  const base = configs[0]!.baseModelNameOrPath;
  configs.forEach((c, i) => {
    if (c.baseModelNameOrPath !== base) {
      throw new CombineError(
        'different_bases',
        `adapter ${i} (${inputs[i]!.adapter.dir}) is for ${c.baseModelNameOrPath}; adapter 0 is for ${base}`,
      );
    }
    if (c.fanInFanOut !== configs[0]!.fanInFanOut) {
      throw new CombineError('incompatible_types', `adapter ${i} differs from adapter 0 in fan_in_fan_out`);
    }
  });
  const all = inputs.map((w, i) => factors(w, configs[i]!));
  const modules = [...new Set(all.flatMap((f) => [...f.keys()]))].sort();
  const ranks = all.map((f) => Math.max(...[...f.values()].map((m) => m.r)));
  let newRank: number;
  const sameRank = opts.type === 'linear' || TASK_ARITHMETIC.includes(opts.type);
  if (TASK_ARITHMETIC.includes(opts.type)) {
    const density = opts.density;
    if (density === undefined || !(density > 0 && density <= 1)) {
      throw new CombineError('bad_option', `${opts.type} needs a density in (0, 1], got ${density}`);
    }
  }
  if (sameRank) {
    for (const [i, f] of all.entries()) {
      for (const [mod, m] of f) {
        if (m.r !== ranks[0]) {
          throw new CombineError(
            'rank_mismatch',
            `${opts.type} combination needs equal ranks: adapter ${i} has rank ${m.r} at ${mod}, adapter 0 has ${ranks[0]}`,
          );
        }
      }
    }
    newRank = ranks[0]!;
  } else if (opts.type === 'cat') {
    newRank = ranks.reduce((a, b) => a + b, 0);
  } else {
    newRank = opts.svdRank ?? Math.max(...ranks);
    if (!(Number.isInteger(newRank) && newRank >= 1))
      throw new CombineError('bad_option', `svd rank must be >= 1, got ${newRank}`);
  }

  const tensors = new Map<string, TensorData>();
  for (const mod of modules) {
    const present = all.map((f) => f.get(mod));
    const first = present.find((m) => m !== undefined) as ModuleFactors;
    const { in: nIn, out: nOut } = first;
    let a: Float32Array = new Float32Array(newRank * nIn);
    let b: Float32Array = new Float32Array(nOut * newRank);
    if (TASK_ARITHMETIC.includes(opts.type)) {
      const used = present.flatMap((m, i) => (m ? [{ m, i }] : []));
      const weights = used.map(({ m, i }) => {
        const ws = inputs[i]!.weight * m.scale;
        if (ws < 0)
          throw new CombineError('bad_option', `${opts.type} needs weight·scaling >= 0; adapter ${i} has ${ws}`);
        return Math.sqrt(ws);
      });
      const random = seededRandom(opts.seed ?? 42);
      const density = opts.density as number;
      const merge = (tensors: Float32Array[]): Float32Array => {
        if (opts.type === 'magnitude_prune')
          return taskArithmetic(
            tensors.map((t) => magnitudePrune(t, density)),
            weights,
          );
        if (opts.type === 'ties')
          return tiesMerge(
            tensors.map((t) => magnitudePrune(t, density)),
            weights,
            opts.majoritySign ?? 'total',
          );
        const dropped = tensors.map((t) => randomPrune(t, density, random));
        return opts.type === 'dare_linear'
          ? taskArithmetic(dropped, weights)
          : tiesMerge(dropped, weights, opts.majoritySign ?? 'total');
      };
      a = merge(used.map(({ m }) => m.a));
      b = merge(used.map(({ m }) => m.b));
    } else if (opts.type === 'linear') {
      present.forEach((m, i) => {
        if (!m) return;
        const ws = inputs[i]!.weight * m.scale;
        const root = Math.sqrt(Math.abs(ws));
        const sign = ws >= 0 ? 1 : -1;
        for (let j = 0; j < a.length; j++) a[j]! += sign * root * m.a[j]!;
        for (let j = 0; j < b.length; j++) b[j]! += root * m.b[j]!;
      });
    } else if (opts.type === 'cat') {
      let offset = 0;
      present.forEach((m, i) => {
        const r = ranks[i]!;
        if (m) {
          const ws = inputs[i]!.weight * m.scale;
          for (let k = 0; k < m.r; k++)
            for (let c = 0; c < nIn; c++) a[(offset + k) * nIn + c] = ws * m.a[k * nIn + c]!;
          for (let o = 0; o < nOut; o++) for (let k = 0; k < m.r; k++) b[o * newRank + offset + k] = m.b[o * m.r + k]!;
        }
        offset += r; // a module missing from an adapter keeps zeros in its slot, as PEFT does
      });
    } else {
      const delta = new Float64Array(nOut * nIn);
      present.forEach((m, i) => {
        if (!m) return;
        const ws = inputs[i]!.weight * m.scale;
        for (let o = 0; o < nOut; o++)
          for (let k = 0; k < m.r; k++) {
            const bk = ws * m.b[o * m.r + k]!;
            if (bk === 0) continue;
            for (let c = 0; c < nIn; c++) delta[o * nIn + c]! += bk * m.a[k * nIn + c]!;
          }
      });
      const d = svd(delta, nOut, nIn);
      const keep = Math.min(newRank, d.k);
      for (let k = 0; k < keep; k++) {
        for (let o = 0; o < nOut; o++) b[o * newRank + k] = d.u[o * d.k + k]! * d.s[k]!;
        for (let c = 0; c < nIn; c++) a[k * nIn + c] = d.v[c * d.k + k]!;
      }
    }
    tensors.set(formatPeftKey(mod, 'lora_A'), { dtype: 'float32', dims: [newRank, nIn], data: a });
    tensors.set(formatPeftKey(mod, 'lora_B'), { dtype: 'float32', dims: [nOut, newRank], data: b });
  }
  const targets = [...new Set(modules.map((m) => m.split('.').pop() as string))].sort();
  const config: LoraAdapterConfig = {
    ...configs[0]!,
    r: newRank,
    loraAlpha: newRank,
    // Scaling alpha/r = 1 only without rsLoRA; the combined factors already carry every input's scaling.
    useRslora: false,
    rankPattern: {},
    alphaPattern: {},
    targetModules: { kind: 'list', names: targets },
    layersToTransform: null,
  };
  return { config, tensors };
}
