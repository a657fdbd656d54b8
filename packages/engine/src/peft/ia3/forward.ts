// IA3 at the `linear` extension point (PEFT's IA3 Linear forward): a feed-forward target scales its input,
// y = (x ⊙ l)·W + b with l [1, in]; any other target scales its output, y = (x·W + b) ⊙ l with l [out, 1] (so the
// bias is scaled too). The same hook serves training (l trainable) and evaluation of a saved adapter.

import { matchesTargetModules } from '../../io/peft-config.js';
import { formatPeftKey } from '../../io/peft-keys.js';
import type { LinearModule, ModelExtensions } from '../../models/extensions.js';
import type { TensorData } from '../../onnx/ir.js';
import { add, fusedMatMul, matmul, mul, reshape } from '../../onnx/ops.js';
import { sameDims } from '../applied.js';
import { PeftError } from '../errors.js';
import type { Ia3Config } from './config.js';

/** Whether IA3 wraps the module, and whether it scales the input (feed-forward) or the output. */
export function ia3Role(config: Ia3Config, name: string, isOutput: boolean): 'input' | 'output' | null {
  if (!matchesTargetModules(config.targetModules, name, { isLinear: true, isOutputLayer: isOutput })) return null;
  return matchesTargetModules(config.feedforwardModules, name, { isLinear: true, isOutputLayer: isOutput })
    ? 'input'
    : 'output';
}

/** Shape of ia3_l: [1, in] for a feed-forward target, [out, 1] otherwise (PEFT's). */
export function ia3Dims(role: 'input' | 'output', m: Pick<LinearModule, 'inFeatures' | 'outFeatures'>): number[] {
  return role === 'input' ? [1, m.inFeatures] : [m.outFeatures, 1];
}

/** The linear hook of an IA3 adapter; `tensors` are keyed `base_model.model.<module>.ia3_l`. */
export function ia3Extension(
  config: Ia3Config,
  tensors: ReadonlyMap<string, TensorData>,
  opts: { trainable?: boolean } = {},
): ModelExtensions {
  const consumed = new Set<string>();
  return {
    linear(b, name, x, base, module) {
      const role = ia3Role(config, name, name === 'lm_head');
      if (role === null) return base;
      const key = formatPeftKey(name, 'ia3_l');
      const t = tensors.get(key);
      if (t === undefined)
        throw new PeftError('adapter-mismatch', `IA3 targets '${name}' but the adapter has no ${key}`);
      const want = ia3Dims(role, module);
      if (!sameDims(t.dims, want))
        throw new PeftError(
          'adapter-mismatch',
          `IA3 vector '${key}' is [${t.dims.join(', ')}]; the model's '${name}' [in=${module.inFeatures}, out=${module.outFeatures}] (${role === 'input' ? 'feed-forward: scales the input' : 'scales the output'}) needs [${want.join(', ')}] (is this adapter for another base model?)`,
        );
      if (t.dtype !== 'float32')
        throw new PeftError('adapter-mismatch', `IA3 vector '${key}' is ${t.dtype}; load adapters as float32`);
      consumed.add(key);
      const l = b.initializer(key, t, { trainable: opts.trainable ?? false });
      if (role === 'output') return mul(b, base, reshape(b, l, [-1], [module.outFeatures])); // [N, out]
      const xs = mul(b, x, l); // [N, in]
      const y =
        module.layout === 'out_in' ? fusedMatMul(b, xs, module.weight, { transB: true }) : matmul(b, xs, module.weight); // [N, out]
      return module.bias === null ? y : add(b, y, module.bias);
    },
    finish() {
      const unused = [...tensors.keys()].filter((k) => !consumed.has(k)).sort();
      if (unused.length > 0)
        throw new PeftError(
          'adapter-mismatch',
          `IA3 vectors match no targeted module of the model: ${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ` and ${unused.length - 3} more` : ''}`,
        );
    },
  };
}
