// LoRA adapters in PEFT's format applied at the `linear` extension point, for evaluation and generation (and
// for differentiating a loss with respect to A and B): y = base(x) + scale · B(A x), scale = alpha / r, or
// alpha / √r with rsLoRA. The training-side method (initialisation, merge) builds on this in peft/lora.
// GPT-2's fan_in_fan_out only concerns merging into the [in, out] Conv1D weight: A is [r, in] and B is
// [out, r] either way, so the forward is the same.

import type { LoraAdapterConfig } from '../io/peft-config.js';
import { loraScale, matchesTargetModules, patternValue } from '../io/peft-config.js';
import { formatPeftKey, parsePeftKey } from '../io/peft-keys.js';
import type { TensorData } from '../onnx/ir.js';
import { add, fusedMatMul } from '../onnx/ops.js';
import { ModelError } from './errors.js';
import type { ModelExtensions } from './extensions.js';

export interface LoraOptions {
  /** Mark lora_A / lora_B trainable, so a gradient graph can differentiate the loss with respect to them. */
  readonly trainable?: boolean;
}

// PEFT places a layer's index after these path segments (model.layers.3..., transformer.h.3...).
const LAYER_INDEX = /\.(?:layers|h)\.(\d+)\./;

/** The linear hook of a LoRA adapter. Initialisers carry the adapter's own key names. */
export function loraExtension(
  config: LoraAdapterConfig,
  tensors: ReadonlyMap<string, TensorData>,
  opts: LoraOptions = {},
): ModelExtensions {
  if (config.useDora) throw new ModelError('unsupported', 'DoRA adapters (use_dora) are not supported yet');
  if (config.bias !== 'none')
    throw new ModelError('unsupported', `LoRA bias '${config.bias}' is not supported yet (only 'none')`);
  if (config.modulesToSave !== null && config.modulesToSave.length > 0) {
    throw new ModelError(
      'unsupported',
      `LoRA modules_to_save (${config.modulesToSave.join(', ')}) is not supported yet`,
    );
  }
  const consumed = new Set<string>();
  for (const key of tensors.keys()) {
    const role = parsePeftKey(key).role;
    if (role !== 'lora_A' && role !== 'lora_B') {
      throw new ModelError('unsupported', `adapter tensor '${key}' (${role}) is not supported by the LoRA loader yet`);
    }
  }

  const applies = (name: string): boolean => {
    if (!matchesTargetModules(config.targetModules, name, { isLinear: true, isOutputLayer: name === 'lm_head' }))
      return false;
    if (config.layersToTransform === null) return true;
    const m = LAYER_INDEX.exec(name);
    return m !== null && config.layersToTransform.includes(Number(m[1]));
  };

  return {
    linear(b, name, x, base, module) {
      if (!applies(name)) return base;
      const keyA = formatPeftKey(name, 'lora_A');
      const keyB = formatPeftKey(name, 'lora_B');
      const A = tensors.get(keyA);
      const B = tensors.get(keyB);
      if (A === undefined || B === undefined) {
        throw new ModelError(
          'adapter_mismatch',
          `LoRA targets '${name}' but the adapter has no ${A === undefined ? keyA : keyB}`,
        );
      }
      const r = patternValue(config.rankPattern, name, config.r);
      const { inFeatures: inF, outFeatures: outF } = module;
      const fits = (t: TensorData, dims: number[]) =>
        t.dims.length === 2 && t.dims[0] === dims[0] && t.dims[1] === dims[1];
      if (!fits(A, [r, inF]) || !fits(B, [outF, r])) {
        throw new ModelError(
          'adapter_mismatch',
          `LoRA tensors of '${name}' are A [${A.dims.join(', ')}], B [${B.dims.join(', ')}]; r=${r} and the module's [in=${inF}, out=${outF}] need A [${r}, ${inF}], B [${outF}, ${r}]`,
        );
      }
      for (const [k, t] of [
        [keyA, A],
        [keyB, B],
      ] as const) {
        if (t.dtype !== 'float32')
          throw new ModelError('weight_dtype', `adapter tensor '${k}' is ${t.dtype}; load adapters as float32`);
      }
      consumed.add(keyA);
      consumed.add(keyB);
      const trainable = opts.trainable ?? false;
      const a = b.initializer(keyA, A, { trainable }); // [r, in]
      const bw = b.initializer(keyB, B, { trainable }); // [out, r]
      const down = fusedMatMul(b, x, a, { transB: true }); // [N, r]
      const up = fusedMatMul(b, down, bw, { transB: true, alpha: loraScale(config, name) }); // [N, out]
      return add(b, base, up);
    },
    finish() {
      const unused = [...tensors.keys()].filter((k) => !consumed.has(k)).sort();
      if (unused.length > 0) {
        const more = unused.length > 3 ? ` and ${unused.length - 3} more` : '';
        throw new ModelError(
          'adapter_mismatch',
          `adapter tensors match no targeted module of the model: ${unused.slice(0, 3).join(', ')}${more}`,
        );
      }
    },
  };
}
