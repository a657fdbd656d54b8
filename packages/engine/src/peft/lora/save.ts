// Saving a trained LoRA adapter in PEFT's format: adapter_config.json (PEFT's field names, inference_mode true as
// save_pretrained writes it) and adapter_model.safetensors under PEFT's key names.

import { savePeftAdapter } from '../../io/peft-adapter.js';
import type { TensorData } from '../../onnx/ir.js';
import type { LoraConfig } from './config.js';
import { savedKeyOf } from './state.js';

export async function saveLoraAdapter(
  dir: string,
  config: LoraConfig,
  params: ReadonlyMap<string, TensorData>,
  targeted: ReadonlySet<string>,
  baseDir: string | undefined,
): Promise<void> {
  const tensors = new Map<string, TensorData>();
  for (const [name, t] of params) tensors.set(savedKeyOf(name, targeted), t);
  await savePeftAdapter(dir, {
    config: {
      ...config,
      inferenceMode: true,
      taskType: config.taskType ?? 'CAUSAL_LM',
      // An adapter trained on from --init-adapter keeps the base it names; a new one names the base directory.
      baseModelNameOrPath: config.baseModelNameOrPath ?? baseDir ?? null,
    },
    tensors,
  });
}
