// Merging a LoRA adapter into its base weights, and taking it out again:
//   nn.Linear [out, in]:           W' = W ± scale · B·A
//   Conv1D / fan_in_fan_out [in, out]: W' = W ± scale · (B·A)ᵀ
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
  if (config.useDora) throw new PeftError('unsupported', 'merging DoRA adapters (use_dora) is not supported');
  const linears = new Map(linearModules(model).map((m) => [m.name, m]));
  const found = new Map<string, { A?: TensorData; B?: TensorData }>();
  const replace = new Map<string, TensorData>();
  for (const [key, t] of adapter.tensors) {
    const k = parsePeftKey(key);
    if (k.role === 'lora_A' || k.role === 'lora_B') {
      const entry = found.get(k.module) ?? {};
      entry[k.role === 'lora_A' ? 'A' : 'B'] = t;
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
  for (const [name, { A, B }] of found) {
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
    pairs.push({ module, A, B, scale: loraScale(config, name) });
  }
  return { pairs, replace };
}

function addDelta(model: BaseModel, p: LoraPair, sign: 1 | -1): TensorData {
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

/** The base weights with the adapter merged in (changed tensors are new arrays; the base is not modified). */
export function mergeLora(model: BaseModel, adapter: PeftAdapter): Map<string, TensorData> {
  const { pairs, replace } = loraPairs(model, adapter);
  const out = new Map(model.weights);
  for (const p of pairs) out.set(`${p.module.name}.weight`, addDelta(model, p, 1));
  for (const [name, t] of replace) {
    checkFinite(name, t);
    out.set(name, { dtype: 'float32', dims: t.dims, data: Float32Array.from(t.data as ArrayLike<number>) });
  }
  return out;
}

/** The weights with scale·B·A taken out again (biases and modules_to_save stay as they are). */
export function unmergeLora(model: BaseModel, adapter: PeftAdapter): Map<string, TensorData> {
  const { pairs } = loraPairs(model, adapter);
  const out = new Map(model.weights);
  for (const p of pairs) out.set(`${p.module.name}.weight`, addDelta(model, p, -1));
  return out;
}

/**
 * Merge state of one adapter on one set of weights, as PEFT tracks it per layer: merging an adapter that is
 * already merged does nothing (PEFT warns "Already merged"), as does unmerging one that is not.
 */
export class LoraMerge {
  private current: BaseModel;
  private isMerged = false;

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
    this.current = { ...this.current, weights: mergeLora(this.current, this.adapter) };
    this.isMerged = true;
  }

  unmerge(): void {
    if (!this.isMerged) return;
    this.current = { ...this.current, weights: unmergeLora(this.current, this.adapter) };
    this.isMerged = false;
  }
}
