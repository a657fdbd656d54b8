// Public API of the models folder: causal-LM graph builders for the Llama family and GPT-2, their extension
// points, and loading a model directory (with an optional LoRA adapter) for evaluation and generation.

export { type BuildCausalLMOptions, buildCausalLM, CAUSAL_LM_NAMES, type CausalLMMode } from './causal-lm.js';
export { activationOf, normEps, ropeInvFreq, slidingWindowFor } from './config.js';
export { ModelError, type ModelErrorCode } from './errors.js';
export { composeExtensions, type LinearModule, type ModelExtensions } from './extensions.js';
export { type LoadCausalLMOptions, type LoadedCausalLM, loadCausalLM } from './load.js';
export { type LoraOptions, loraExtension } from './lora.js';
export { pruneGraph } from './prune.js';
export type { TrainableSpec } from './weights.js';
