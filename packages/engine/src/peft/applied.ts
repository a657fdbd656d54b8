// The parts of an AppliedMethod every method shares: the weights buildCausalLM gets, graph building and counts.

import { buildCausalLM } from '../models/causal-lm.js';
import type { ModelExtensions } from '../models/extensions.js';
import type { TensorData } from '../onnx/ir.js';
import { numel, paramCount, sumNumel } from './count.js';
import { parameterNames } from './modules.js';
import type { AppliedMethod, BaseModel } from './types.js';

export interface AppliedParts {
  readonly method: string;
  readonly config: unknown;
  readonly model: BaseModel;
  readonly params: Map<string, TensorData>;
  readonly extensions?: ModelExtensions;
  readonly evalExtensions?: ModelExtensions;
  readonly noDecay: Set<string>;
  /**
   * Parameters PEFT counts on top of the base model's: adapter tensors, and the trained copies of
   * modules_to_save (PEFT keeps the original module beside its copy, so both count).
   */
  readonly extraTotal: number;
  save(dir: string, params: ReadonlyMap<string, TensorData>): Promise<void>;
  stepFeeds?(microStep: number, rows: number): Record<string, TensorData>;
}

export function makeApplied(p: AppliedParts): AppliedMethod {
  const trainable = [...p.params.keys()].filter((n) => p.model.weights.has(n));
  const weights = new Map(p.model.weights);
  for (const n of trainable) weights.set(n, p.params.get(n) as TensorData);
  const total = sumNumel(parameterNames(p.model).map((n) => p.model.weights.get(n) as TensorData)) + p.extraTotal;
  return {
    method: p.method,
    config: p.config,
    extensions: p.extensions,
    evalExtensions: p.evalExtensions ?? p.extensions,
    params: p.params,
    trainable,
    weights,
    noDecay: p.noDecay,
    countParams() {
      let n = 0;
      for (const t of p.params.values()) n += numel(t);
      return paramCount(n, total);
    },
    buildGraph(mode, opts = {}) {
      const training = opts.training ?? mode === 'loss';
      const ext = training ? p.extensions : (p.evalExtensions ?? p.extensions);
      // Built against a quantized base, the method drops its references to the float copies for good, so
      // that they can be collected once the caller drops the loaded model.
      for (const n of opts.quantized?.keys() ?? []) weights.delete(n);
      return buildCausalLM(p.model.config, weights, {
        mode,
        trainable,
        ...(opts.quantized === undefined ? {} : { quantized: opts.quantized }),
        ...(ext === undefined ? {} : { extensions: ext }),
        ...(opts.opset === undefined ? {} : { opset: opts.opset }),
      });
    },
    save: p.save,
    ...(p.stepFeeds === undefined ? {} : { stepFeeds: p.stepFeeds }),
  };
}

/** A float32 copy (params are updated in place; the base model must not change with them). */
export function cloneF32(t: TensorData): TensorData {
  const data =
    t.data instanceof Float32Array ? new Float32Array(t.data) : Float32Array.from(t.data as ArrayLike<number>);
  return { dtype: 'float32', dims: [...t.dims], data };
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
