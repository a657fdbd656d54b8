// The one step of setting up a method that needs I/O before apply(), which is synchronous: prompt tuning's
// TEXT init tokenizes prompt_tuning_init_text with the model's tokenizer. Every other config passes unchanged.

import { resolvePromptTuningInit } from './prompt-tuning/apply.js';
import type { PromptTuningConfig } from './prompt-tuning/config.js';

export async function prepareMethodConfig(method: string, config: unknown, modelDir: string): Promise<unknown> {
  if (method === 'prompt-tuning') return resolvePromptTuningInit(config as PromptTuningConfig, modelDir);
  return config;
}
