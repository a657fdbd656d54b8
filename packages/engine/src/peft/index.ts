// Public API of the peft folder: the fine-tuning method registry (full, LoRA, BitFit), what a method applied to
// a model gives the trainer, parameter counts, and the methods' saved forms (PEFT's for LoRA).

export * from './adapter/index.js';
export { makeApplied } from './applied.js';
export * from './bitfit/index.js';
export { formatParamCount, paramCount } from './count.js';
export { PeftError, type PeftErrorCode } from './errors.js';
export { type FullConfig, fullMethod } from './full/index.js';
export { MODEL_DIR_FILES, toDType, type WeightDType, writeHfModelDir } from './hf-model-dir.js';
export * from './ia3/index.js';
export { loadTrainedModel } from './load.js';
export * from './lora/index.js';
export { biasNames, isNoDecay, type LinearInfo, linearModules, parameterNames } from './modules.js';
export * from './p-tuning/index.js';
export * from './prefix-tuning/index.js';
export { prepareMethodConfig } from './prepare-config.js';
export * from './prompt-tuning/index.js';
export { getMethod, listMethods, registerMethod } from './registry.js';
export type {
  AppliedMethod,
  ApplyOptions,
  BaseModel,
  BuildGraphOptions,
  ParamCount,
  PeftMethod,
} from './types.js';
export {
  ENCODER_FILE,
  type LoadedPromptLearning,
  loadPromptLearning,
  PROMPT_EMBEDDINGS,
} from './virtual-tokens.js';
