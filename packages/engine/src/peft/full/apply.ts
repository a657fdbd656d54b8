// Full fine-tuning: every checkpoint parameter is trainable under its own name. The params are the model's own
// float32 arrays (no second copy of the weights in memory): training updates the loaded model in place.

import type { TensorData } from '../../onnx/ir.js';
import { cloneF32, makeApplied, sameDims } from '../applied.js';
import { PeftError } from '../errors.js';
import { writeHfModelDir } from '../hf-model-dir.js';
import { isNoDecay, parameterNames } from '../modules.js';
import type { AppliedMethod, ApplyOptions, BaseModel } from '../types.js';
import type { FullConfig } from './config.js';

export function applyFull(model: BaseModel, config: FullConfig, opts: ApplyOptions): AppliedMethod {
  const params = new Map<string, TensorData>();
  for (const name of parameterNames(model)) {
    const t = model.weights.get(name) as TensorData;
    if (t.dtype !== 'float32')
      throw new PeftError('unsupported', `weight '${name}' is ${t.dtype}; full fine-tuning trains float32 weights`);
    const init = opts.init?.get(name);
    if (init !== undefined && !sameDims(init.dims, t.dims))
      throw new PeftError(
        'adapter-mismatch',
        `initial value of '${name}' is [${init.dims.join(', ')}], the model has [${t.dims.join(', ')}]`,
      );
    params.set(name, init === undefined ? t : cloneF32(init));
  }
  for (const k of opts.init?.keys() ?? [])
    if (!params.has(k)) throw new PeftError('adapter-mismatch', `initial weights hold '${k}', which the model lacks`);
  const baseDir = model.dir;
  return makeApplied({
    method: 'full',
    config,
    model,
    params,
    noDecay: new Set([...params.keys()].filter(isNoDecay)),
    extraTotal: 0,
    async save(dir, trained) {
      if (baseDir === undefined)
        throw new PeftError(
          'missing-base-dir',
          'saving a fully fine-tuned model copies config.json and the tokenizer from the base model directory: pass `dir` with the model to apply()',
        );
      await writeHfModelDir(dir, trained, { baseDir });
    },
  });
}
