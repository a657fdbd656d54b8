// BitFit: only the bias terms train (every checkpoint tensor whose name ends in ".bias": attention and MLP
// biases where the architecture has them, LayerNorm biases in GPT-2). A model without any has nothing to train.

import type { TensorData } from '../../onnx/ir.js';
import { cloneF32, makeApplied, sameDims } from '../applied.js';
import { PeftError } from '../errors.js';
import { biasNames } from '../modules.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import type { BitfitConfig } from './config.js';
import { saveBitfit } from './state.js';

export function applyBitfit(model: BaseModel, config: BitfitConfig, opts: ApplyOptions): AppliedMethod {
  const names = biasNames(model);
  if (names.length === 0)
    throw new PeftError(
      'nothing-to-train',
      `${model.config.architecture} as configured has no bias terms (e.g. attention_bias and mlp_bias are false), so BitFit has nothing to train; use LoRA (--method lora) or IA3 instead`,
    );
  const params = new Map<string, TensorData>();
  for (const n of names) {
    const base = model.weights.get(n) as TensorData;
    const init = opts.init?.get(n);
    if (init !== undefined && !sameDims(init.dims, base.dims))
      throw new PeftError(
        'adapter-mismatch',
        `initial bias '${n}' is [${init.dims.join(', ')}], the model's is [${base.dims.join(', ')}]`,
      );
    params.set(n, cloneF32(init ?? base));
  }
  for (const k of opts.init?.keys() ?? [])
    if (!params.has(k))
      throw new PeftError('adapter-mismatch', `initial BitFit tensor '${k}' is not a bias of the model`);
  const resolved: BitfitConfig = { baseModelNameOrPath: config.baseModelNameOrPath ?? model.dir ?? null };
  return makeApplied({
    method: 'bitfit',
    config: resolved,
    model,
    params,
    // Hugging Face's Trainer never decays biases; every BitFit parameter is one.
    noDecay: new Set(params.keys()),
    extraTotal: 0,
    save: (dir, trained) => saveBitfit(dir, resolved, trained),
  });
}
