// Merging a LoRA adapter into its base weights, and taking it out again:
//   nn.Linear [out, in]:           W' = W ± scale · B·A
//   Conv1D / fan_in_fan_out [in, out]: W' = W ± scale · (B·A)ᵀ
// DoRA (use_dora) rescales each output feature to its magnitude, as PEFT's merge does:
//   W' = m / ‖W + scale·B·A‖ · (W + scale·B·A)   (row norms of the [out, in] weight; the bias is unchanged)
// and unmerging needs the norms taken at merge time (PEFT caches them too): W = W' · ‖…‖ / m − scale·B·A.
// Trained biases (bias="all"/"lora_only") and modules_to_save copies replace the base tensors on merge; they
// have no unmerge (the adapter does not hold the originals), so unmerge only takes B·A out — as PEFT's does.
// Products accumulate in float64; every merged value is checked finite.

import type { PeftAdapter } from '../../io/peft-adapter.js';
import { loraScale, patternValue } from '../../io/peft-config.js';
import { parsePeftKey } from '../../io/peft-keys.js';
import type { TensorData } from '../../onnx/ir.js';
import { sameDims } from '../applied.js';
import { PeftError } from '../errors.js';
import { type LinearInfo, linearModules } from '../modules.js';
import type { BaseModel } from '../types.js';
import { paramNameOf } from './state.js';

interface LoraPair {
  readonly module: LinearInfo;
  readonly A: TensorData;
  readonly B: TensorData;
  readonly scale: number;
  /** DoRA's lora_magnitude_vector [out], or null for plain LoRA. */
  readonly magnitude: TensorData | null;
}

const shape = (t: TensorData) => `[${t.dims.join(', ')}]`;
const mismatch = (msg: string) => new PeftError('adapter-mismatch', msg);

function asF32(t: TensorData, key: string): Float32Array | Float64Array {
  if (t.data instanceof Float32Array || t.data instanceof Float64Array) return t.data;
  throw mismatch(`adapter tensor '${key}' is ${t.dtype}; load adapters as float32 to merge`);
}

/** Pairs each lora_A/lora_B of the adapter with the model's linear module, checking names and shapes. */
function loraPairs(model: BaseModel, adapter: PeftAdapter): { pairs: LoraPair[]; replace: Map<string, TensorData> } {
  const config = adapter.config;
  if (config.peftType !== 'LORA') throw new PeftError('unsupported', `cannot merge a ${config.peftType} adapter`);
  const linears = new Map(linearModules(model).map((m) => [m.name, m]));
  const found = new Map<string, { A?: TensorData; B?: TensorData; M?: TensorData }>();
  const replace = new Map<string, TensorData>();
  for (const [key, t] of adapter.tensors) {
    const k = parsePeftKey(key);
    if (k.role === 'lora_A' || k.role === 'lora_B') {
      const entry = found.get(k.module) ?? {};
      entry[k.role === 'lora_A' ? 'A' : 'B'] = t;
      found.set(k.module, entry);
    } else if (k.role === 'lora_magnitude_vector' && config.useDora) {
      const entry = found.get(k.module) ?? {};
      entry.M = t;
      found.set(k.module, entry);
    } else if (k.role === 'bias' || k.role === 'weight') {
      const name = paramNameOf(key);
      const base = model.weights.get(name);
      if (base === undefined)
        throw mismatch(`adapter tensor '${key}' replaces '${name}', which the model does not have`);
      if (!sameDims(base.dims, t.dims))
        throw mismatch(`adapter tensor '${key}' is ${shape(t)}; the model's '${name}' is ${shape(base)}`);
      replace.set(name, t);
    } else {
      throw new PeftError('unsupported', `adapter tensor '${key}' (${k.role}) cannot be merged`);
    }
  }
  const pairs: LoraPair[] = [];
  for (const [name, { A, B, M }] of found) {
    const module = linears.get(name);
    if (module === undefined)
      throw mismatch(
        `adapter module '${name}' is not a linear module of the model (is this adapter for another model?)`,
      );
    if (A === undefined || B === undefined) throw mismatch(`adapter module '${name}' lacks lora_${A ? 'B' : 'A'}`);
    const r = patternValue(config.rankPattern, name, config.r);
    if (!sameDims(A.dims, [r, module.inFeatures]) || !sameDims(B.dims, [module.outFeatures, r]))
      throw mismatch(
        `adapter module '${name}' has A ${shape(A)}, B ${shape(B)}; the model's [in=${module.inFeatures}, out=${module.outFeatures}] with r=${r} needs A [${r}, ${module.inFeatures}], B [${module.outFeatures}, ${r}]`,
      );
    if (config.useDora && (M === undefined || !sameDims(M.dims, [module.outFeatures])))
      throw mismatch(
        `DoRA module '${name}' ${M === undefined ? 'has no lora_magnitude_vector' : `has lora_magnitude_vector ${shape(M)}`}; the model's out=${module.outFeatures} needs [${module.outFeatures}]`,
      );
    pairs.push({ module, A, B, scale: loraScale(config, name), magnitude: config.useDora ? (M as TensorData) : null });
  }
  return { pairs, replace };
}

function addDelta(model: Pick<BaseModel, 'weights'>, p: LoraPair, sign: 1 | -1): TensorData {
  const name = `${p.module.name}.weight`;
  const W = model.weights.get(name);
  if (W === undefined || !(W.data instanceof Float32Array))
    throw mismatch(`model weight '${name}' is missing or not float32 (load the base as float32 to merge)`);
  const { inFeatures: nIn, outFeatures: nOut } = p.module;
  const r = p.A.dims[0] as number;
  const A = asF32(p.A, `${p.module.name}.lora_A`);
  const B = asF32(p.B, `${p.module.name}.lora_B`);
  const out = new Float32Array(W.data);
  const inOut = p.module.layout === 'in_out';
  const s = sign * p.scale;
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += (B[o * r + k] as number) * (A[k * nIn + i] as number);
      const at = inOut ? i * nOut + o : o * nIn + i;
      const v = (out[at] as number) + s * d;
      if (!Number.isFinite(v) || !Number.isFinite(Math.fround(v)))
        throw new PeftError(
          'non-finite',
          `merging the adapter would make '${name}' non-finite (element ${at}); the adapter holds huge or non-finite values`,
        );
      out[at] = v;
    }
  }
  return { dtype: 'float32', dims: W.dims, data: out };
}

function checkFinite(name: string, t: TensorData): void {
  const d = t.data as ArrayLike<number>;
  for (let i = 0; i < d.length; i++)
    if (!Number.isFinite(d[i] as number))
      throw new PeftError('non-finite', `adapter tensor replacing '${name}' holds non-finite values`);
}

/** Per output feature o of a [out, in] or Conv1D [in, out] weight: the flat positions of its elements. */
function rowAt(p: LoraPair): (o: number, i: number) => number {
  const { inFeatures: nIn, outFeatures: nOut } = p.module;
  return p.module.layout === 'in_out' ? (o, i) => i * nOut + o : (o, i) => o * nIn + i;
}

/** Row norms (one per output feature) of a weight, float64 sums: DoRA's ‖W + scale·B·A‖ given that sum. */
function rowNorms(summed: TensorData, p: LoraPair): Float64Array {
  const w = summed.data as Float32Array;
  const at = rowAt(p);
  const norms = new Float64Array(p.module.outFeatures);
  for (let o = 0; o < norms.length; o++) {
    let acc = 0;
    for (let i = 0; i < p.module.inFeatures; i++) acc += (w[at(o, i)] as number) ** 2;
    norms[o] = Math.sqrt(acc);
  }
  return norms;
}

/** Scales each output feature of a weight by f(o). */
function scaleRows(t: TensorData, p: LoraPair, f: (o: number) => number): TensorData {
  const w = new Float32Array(t.data as Float32Array);
  const at = rowAt(p);
  for (let o = 0; o < p.module.outFeatures; o++) {
    const k = f(o);
    for (let i = 0; i < p.module.inFeatures; i++) {
      const j = at(o, i);
      const v = (w[j] as number) * k;
      if (!Number.isFinite(Math.fround(v)))
        throw new PeftError('non-finite', `merging the DoRA adapter would make '${p.module.name}.weight' non-finite`);
      w[j] = v;
    }
  }
  return { dtype: 'float32', dims: t.dims, data: w };
}

/** DoRA merge of one module; returns the merged weight and the norms an unmerge needs. */
function mergeDoraPair(model: BaseModel, p: LoraPair): { weight: TensorData; norms: Float64Array } {
  const sum = addDelta(model, p, 1);
  const norms = rowNorms(sum, p);
  const m = p.magnitude?.data as Float32Array;
  return { weight: scaleRows(sum, p, (o) => (m[o] as number) / (norms[o] as number)), norms };
}

/** Norms of DoRA modules at merge time, by module name (what unmerging DoRA needs). */
export type DoraNorms = Map<string, Float64Array>;

/**
 * The base weights with the adapter merged in (changed tensors are new arrays; the base is not modified). For
 * DoRA, `norms` (when given) receives the weight norms that unmergeLora needs.
 */
export function mergeLora(model: BaseModel, adapter: PeftAdapter, norms?: DoraNorms): Map<string, TensorData> {
  const { pairs, replace } = loraPairs(model, adapter);
  const out = new Map(model.weights);
  for (const p of pairs) {
    if (p.magnitude === null) {
      out.set(`${p.module.name}.weight`, addDelta(model, p, 1));
      continue;
    }
    const merged = mergeDoraPair(model, p);
    out.set(`${p.module.name}.weight`, merged.weight);
    norms?.set(p.module.name, merged.norms);
  }
  for (const [name, t] of replace) {
    checkFinite(name, t);
    out.set(name, { dtype: 'float32', dims: t.dims, data: Float32Array.from(t.data as ArrayLike<number>) });
  }
  return out;
}

/**
 * The weights with scale·B·A taken out again (biases and modules_to_save stay as they are). DoRA needs the
 * norms mergeLora recorded: the merged weight alone does not determine them.
 */
export function unmergeLora(model: BaseModel, adapter: PeftAdapter, norms?: DoraNorms): Map<string, TensorData> {
  const { pairs } = loraPairs(model, adapter);
  const out = new Map(model.weights);
  for (const p of pairs) {
    const name = `${p.module.name}.weight`;
    if (p.magnitude === null) {
      out.set(name, addDelta(model, p, -1));
      continue;
    }
    const n = norms?.get(p.module.name);
    if (n === undefined)
      throw new PeftError(
        'unsupported',
        `unmerging DoRA from '${p.module.name}' needs the weight norms recorded when it was merged (use LoraMerge)`,
      );
    const m = p.magnitude.data as Float32Array;
    const unscaled = scaleRows(model.weights.get(name) as TensorData, p, (o) => (n[o] as number) / (m[o] as number));
    out.set(name, addDelta({ weights: new Map([[name, unscaled]]) }, p, -1));
  }
  return out;
}

/**
 * Merge state of one adapter on one set of weights, as PEFT tracks it per layer: merging an adapter that is
 * already merged does nothing (PEFT warns "Already merged"), as does unmerging one that is not.
 */
export class LoraMerge {
  private current: BaseModel;
  private isMerged = false;
  private norms: DoraNorms = new Map();

  constructor(
    model: BaseModel,
    private readonly adapter: PeftAdapter,
  ) {
    this.current = model;
    loraPairs(model, adapter); // fit check up front
  }

  get merged(): boolean {
    return this.isMerged;
  }

  get weights(): ReadonlyMap<string, TensorData> {
    return this.current.weights;
  }

  merge(): void {
    if (this.isMerged) return;
    this.norms = new Map();
    this.current = { ...this.current, weights: mergeLora(this.current, this.adapter, this.norms) };
    this.isMerged = true;
  }

  unmerge(): void {
    if (!this.isMerged) return;
    this.current = { ...this.current, weights: unmergeLora(this.current, this.adapter, this.norms) };
    this.isMerged = false;
  }
}
