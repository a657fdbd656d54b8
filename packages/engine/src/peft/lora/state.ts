// Names of LoRA's trained tensors. In the graph, A and B carry their saved PEFT keys
// (`base_model.model.<module>.lora_A.weight`) and trained biases / modules_to_save copies carry their checkpoint
// names. On disk every key is PEFT's: a targeted module's bias lives under `<module>.base_layer.bias` (PEFT wraps
// the original layer as `base_layer`), any other bias and a modules_to_save copy under `<path>` itself (PEFT
// drops the `modules_to_save.default` segment when saving).

import { PEFT_PREFIX, parsePeftKey } from '../../io/peft-keys.js';

const BASE_LAYER = '.base_layer';

/** Saved key of a param: adapter keys are already PEFT's; checkpoint names get the prefix (and base_layer). */
export function savedKeyOf(param: string, targeted: ReadonlySet<string>): string {
  if (param.startsWith(PEFT_PREFIX)) return param;
  if (param.endsWith('.bias')) {
    const module = param.slice(0, -'.bias'.length);
    if (targeted.has(module)) return `${PEFT_PREFIX}${module}${BASE_LAYER}.bias`;
  }
  return `${PEFT_PREFIX}${param}`;
}

/** Graph name of a saved key (inverse of savedKeyOf). */
export function paramNameOf(saved: string): string {
  const k = parsePeftKey(saved);
  if (k.role === 'lora_A' || k.role === 'lora_B' || k.role === 'lora_magnitude_vector') return saved;
  const module = k.module.endsWith(BASE_LAYER) ? k.module.slice(0, -BASE_LAYER.length) : k.module;
  return `${module}.${k.role === 'bias' ? 'bias' : 'weight'}`;
}
