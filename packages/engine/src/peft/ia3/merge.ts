// Merging IA3 vectors into the base weights (PEFT's IA3 Linear.merge), and taking them out again:
//   output-scaling target, l [out, 1]: W'[o, i] = l[o]·W[o, i] and b'[o] = l[o]·b[o]
//   feed-forward target,   l [1, in]:  W'[o, i] = W[o, i]·l[i] (the bias is untouched)
// for nn.Linear [out, in]; GPT-2's Conv1D [in, out] is indexed the other way round. Unmerging divides by l; PEFT
// divides by l + 1e-8, which only approximately restores the base, so here an exact zero in l refuses instead.

import type { PeftAdapter } from '../../io/peft-adapter.js';
import type { TensorData } from '../../onnx/ir.js';
import { PeftError } from '../errors.js';
import type { BaseModel } from '../types.js';
import { asIa3Config, resolveIa3Config } from './config.js';
import { ia3Dims } from './forward.js';
import { type Ia3Target, ia3Targets } from './inject.js';

const mismatch = (msg: string) => new PeftError('adapter-mismatch', msg);

function targetsWithVectors(model: BaseModel, adapter: PeftAdapter): { t: Ia3Target; l: Float32Array }[] {
  const config = resolveIa3Config(asIa3Config(adapter.config, 'IA3 adapter'), model.config);
  const targets = ia3Targets(model, config);
  const seen = new Set<string>();
  const out = targets.map((t) => {
    const v = adapter.tensors.get(t.key);
    if (v === undefined) throw mismatch(`IA3 adapter has no '${t.key}' for target '${t.module.name}'`);
    const want = ia3Dims(t.role, t.module);
    if (v.dims.length !== 2 || v.dims[0] !== want[0] || v.dims[1] !== want[1])
      throw mismatch(
        `IA3 vector '${t.key}' is [${v.dims.join(', ')}]; the model's '${t.module.name}' needs [${want.join(', ')}] (is this adapter for another base model?)`,
      );
    if (!(v.data instanceof Float32Array)) throw mismatch(`IA3 vector '${t.key}' is ${v.dtype}; load it as float32`);
    seen.add(t.key);
    return { t, l: v.data };
  });
  const extra = [...adapter.tensors.keys()].filter((k) => !seen.has(k));
  if (extra.length > 0)
    throw mismatch(`IA3 adapter tensors match no target of the model: ${extra.slice(0, 3).join(', ')}`);
  return out;
}

function scaled(model: BaseModel, name: string, f: (at: number) => number): TensorData {
  const W = model.weights.get(name);
  if (W === undefined || !(W.data instanceof Float32Array))
    throw mismatch(`model tensor '${name}' is missing or not float32 (load the base as float32 to merge)`);
  const out = new Float32Array(W.data.length);
  for (let at = 0; at < out.length; at++) {
    const v = (W.data[at] as number) * f(at);
    if (!Number.isFinite(Math.fround(v)))
      throw new PeftError('non-finite', `merging the IA3 adapter would make '${name}' non-finite (element ${at})`);
    out[at] = v;
  }
  return { dtype: 'float32', dims: W.dims, data: out };
}

function apply(model: BaseModel, adapter: PeftAdapter, invert: boolean): Map<string, TensorData> {
  const out = new Map(model.weights);
  for (const { t, l } of targetsWithVectors(model, adapter)) {
    if (invert) {
      const zero = l.indexOf(0);
      if (zero >= 0)
        throw new PeftError('non-finite', `cannot unmerge IA3 from '${t.module.name}': ia3_l[${zero}] is 0`);
    }
    const s = (i: number) => (invert ? 1 / (l[i] as number) : (l[i] as number));
    const { inFeatures: nIn, outFeatures: nOut, layout, name } = t.module;
    // index of the scaled feature for a flat weight position
    const feature =
      t.role === 'output'
        ? layout === 'out_in'
          ? (at: number) => Math.floor(at / nIn)
          : (at: number) => at % nOut
        : layout === 'out_in'
          ? (at: number) => at % nIn
          : (at: number) => Math.floor(at / nOut);
    out.set(
      `${name}.weight`,
      scaled(model, `${name}.weight`, (at) => s(feature(at))),
    );
    if (t.role === 'output' && t.module.bias !== null) out.set(t.module.bias, scaled(model, t.module.bias, s));
  }
  return out;
}

/** The base weights with the IA3 vectors multiplied in (changed tensors are new arrays). */
export function mergeIa3(model: BaseModel, adapter: PeftAdapter): Map<string, TensorData> {
  return apply(model, adapter, false);
}

/** Merged weights with the IA3 vectors divided out again. */
export function unmergeIa3(model: BaseModel, adapter: PeftAdapter): Map<string, TensorData> {
  return apply(model, adapter, true);
}

/** Merge state of one IA3 adapter on one set of weights: merge when merged, or unmerge when not, does nothing. */
export class Ia3Merge {
  private current: BaseModel;
  private isMerged = false;

  constructor(
    model: BaseModel,
    private readonly adapter: PeftAdapter,
  ) {
    this.current = model;
    targetsWithVectors(model, adapter); // fit check up front
  }

  get merged(): boolean {
    return this.isMerged;
  }

  get weights(): ReadonlyMap<string, TensorData> {
    return this.current.weights;
  }

  merge(): void {
    if (this.isMerged) return;
    this.current = { ...this.current, weights: mergeIa3(this.current, this.adapter) };
    this.isMerged = true;
  }

  unmerge(): void {
    if (!this.isMerged) return;
    this.current = { ...this.current, weights: unmergeIa3(this.current, this.adapter) };
    this.isMerged = false;
  }
}
