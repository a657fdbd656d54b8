import type { PeftMethod } from '../types.js';
import { applyPromptTuning } from './apply.js';
import { defaultPromptTuningConfig, type PromptTuningConfig, parsePromptTuningConfig } from './config.js';

export {
  applyPromptTuning,
  embeddingRows,
  promptEmbeddingExtension,
  repeatToLength,
  resolvePromptTuningInit,
} from './apply.js';
export {
  defaultPromptTuningConfig,
  makePromptTuningConfig,
  PROMPT_TUNING_INITS,
  type PromptTuningConfig,
  type PromptTuningInit,
  type PromptTuningSettings,
  parsePromptTuningConfig,
} from './config.js';

export const promptTuningMethod: PeftMethod<PromptTuningConfig> = {
  name: 'prompt-tuning',
  peftType: 'PROMPT_TUNING',
  prefix: 'prompt_embeddings',
  parseConfig: parsePromptTuningConfig,
  defaults: defaultPromptTuningConfig,
  apply: applyPromptTuning,
};
