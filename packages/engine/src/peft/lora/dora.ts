// DoRA (PEFT's LoRA with use_dora): the weight is split into a magnitude m [out] and a direction, and the
// adapted layer computes, for x [N, in] and the LoRA scale s,
//   y = base(x) + (m/‖W + s·B·A‖ − 1) ⊙ x·Wᵀ + (m/‖W + s·B·A‖) ⊙ s·(x·Aᵀ)·Bᵀ
// with ‖·‖ the L2 norm of each output row of the [out, in] weight. As in PEFT, the norm is a constant in the
// backward pass (PEFT detaches it): gradients reach A and B only through the LoRA branch and m only through
// the ratio. ONNX has no stop-gradient operator, so in a training graph the norm is computed from graph inputs
// `dora_detached:<key>` that the trainer feeds with the current A and B (`doraFeeds`, zero-copy); the reverse
// sweep sees no path from a trained tensor through the norm. Evaluation graphs read A and B directly.
// With lora_dropout in training PEFT applies the dropped input to the x·Wᵀ term too (`freshBase`); otherwise
// x·Wᵀ is the base output less its bias.

import { type LoraAdapterConfig, loraScale, matchesTargetModules, patternValue } from '../../io/peft-config.js';
import { formatPeftKey } from '../../io/peft-keys.js';
import type { ModelExtensions } from '../../models/extensions.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import type { TensorData, Value } from '../../onnx/ir.js';
import { add, div, fusedMatMul, matmul, mul, reduceSumSquare, sqrt, sub } from '../../onnx/ops.js';
import { sameDims } from '../applied.js';
import { PeftError } from '../errors.js';

/** Graph input carrying a detached copy of a LoRA tensor (training graphs only). */
export const doraDetachedName = (key: string): string => `dora_detached:${key}`;

const LAYER_INDEX = /\.(?:layers|h)\.(\d+)\./;

export interface DoraOptions {
  readonly trainable?: boolean;
  /** Training graph: read A and B for the norm from `dora_detached:` inputs so the norm is a constant. */
  readonly detachNorm?: boolean;
  /** Recompute x·Wᵀ from the hook's input (dropout in training), instead of the base output less its bias. */
  readonly freshBase?: boolean;
}

/** Row norms ‖W[o, :]‖ of a linear weight ([out, in], or Conv1D [in, out]): DoRA's initial magnitude (B = 0). */
export function weightRowNorms(W: TensorData, layout: 'out_in' | 'in_out'): TensorData {
  const [d0 = 0, d1 = 0] = W.dims;
  const w = W.data as Float32Array;
  const nOut = layout === 'out_in' ? d0 : d1;
  const acc = new Float64Array(nOut);
  for (let r = 0; r < d0; r++)
    for (let c = 0; c < d1; c++) {
      const v = w[r * d1 + c] as number;
      acc[layout === 'out_in' ? r : c] = (acc[layout === 'out_in' ? r : c] as number) + v * v;
    }
  return { dtype: 'float32', dims: [nOut], data: Float32Array.from(acc, Math.sqrt) };
}

/** The linear hook of a DoRA adapter: lora_A, lora_B and lora_magnitude_vector under PEFT's keys. */
export function doraExtension(
  config: LoraAdapterConfig,
  tensors: ReadonlyMap<string, TensorData>,
  opts: DoraOptions = {},
): ModelExtensions {
  const consumed = new Set<string>();
  const applies = (name: string): boolean => {
    if (!matchesTargetModules(config.targetModules, name, { isLinear: true, isOutputLayer: name === 'lm_head' }))
      return false;
    if (config.layersToTransform === null) return true;
    const m = LAYER_INDEX.exec(name);
    return m !== null && config.layersToTransform.includes(Number(m[1]));
  };
  const get = (key: string, dims: number[], name: string): TensorData => {
    const t = tensors.get(key);
    if (t === undefined)
      throw new PeftError('adapter-mismatch', `DoRA targets '${name}' but the adapter has no ${key}`);
    if (!sameDims(t.dims, dims))
      throw new PeftError(
        'adapter-mismatch',
        `DoRA tensor '${key}' is [${t.dims.join(', ')}]; the model's '${name}' needs [${dims.join(', ')}] (is this adapter for another base model?)`,
      );
    if (t.dtype !== 'float32')
      throw new PeftError('adapter-mismatch', `DoRA tensor '${key}' is ${t.dtype}; load as float32`);
    consumed.add(key);
    return t;
  };
  return {
    linear(b: GraphBuilder, name: string, x: Value, base: Value, module) {
      if (!applies(name)) return base;
      const r = patternValue(config.rankPattern, name, config.r);
      const { inFeatures: nIn, outFeatures: nOut } = module;
      const keyA = formatPeftKey(name, 'lora_A');
      const keyB = formatPeftKey(name, 'lora_B');
      const keyM = formatPeftKey(name, 'lora_magnitude_vector');
      const trainable = opts.trainable ?? false;
      const A = b.initializer(keyA, get(keyA, [r, nIn], name), { trainable }); // [r, in]
      const B = b.initializer(keyB, get(keyB, [nOut, r], name), { trainable }); // [out, r]
      const m = b.initializer(keyM, get(keyM, [nOut], name), { trainable }); // [out]
      const s = loraScale(config, name);

      // ‖W + s·ΔW‖ per output feature, a constant for the backward pass in training graphs
      const An = opts.detachNorm ? b.input(doraDetachedName(keyA), 'float32', [r, nIn]) : A;
      const Bn = opts.detachNorm ? b.input(doraDetachedName(keyB), 'float32', [nOut, r]) : B;
      const inOut = module.layout === 'in_out';
      const delta = inOut
        ? fusedMatMul(b, An, Bn, { transA: true, transB: true, alpha: s }) // [in, out]
        : fusedMatMul(b, Bn, An, { alpha: s }); // [out, in]
      const norm = sqrt(b, reduceSumSquare(b, add(b, module.weight, delta), [inOut ? 0 : 1], false)); // [out]
      const ratio = div(b, m, norm); // [out]

      const lora = fusedMatMul(b, fusedMatMul(b, x, A, { transB: true }), B, { transB: true, alpha: s }); // [N, out]
      let xw: Value; // x·Wᵀ without bias, [N, out]
      if (opts.freshBase) xw = inOut ? matmul(b, x, module.weight) : fusedMatMul(b, x, module.weight, { transB: true });
      else xw = module.bias === null ? base : sub(b, base, module.bias);
      return add(b, add(b, base, mul(b, sub(b, ratio, 1), xw)), mul(b, ratio, lora)); // [N, out]
    },
    finish() {
      const unused = [...tensors.keys()].filter((k) => !consumed.has(k)).sort();
      if (unused.length > 0)
        throw new PeftError(
          'adapter-mismatch',
          `DoRA tensors match no targeted module of the model: ${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ` and ${unused.length - 3} more` : ''}`,
        );
    },
  };
}

/** Feeds for a training graph built with detachNorm: the current A and B under their detached input names. */
export function doraFeeds(
  params: ReadonlyMap<string, TensorData>,
  keys: readonly string[],
): Record<string, TensorData> {
  const out: Record<string, TensorData> = {};
  for (const k of keys) out[doraDetachedName(k)] = params.get(k) as TensorData;
  return out;
}
