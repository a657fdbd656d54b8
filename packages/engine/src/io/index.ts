// Public API of the io folder: safetensors, Hugging Face config.json and model folders, PEFT adapter folders.
export { ConfigError, ModelDirError, PeftFormatError, SafetensorsError } from './errors.js';
export { type SafetensorsDType, SAFETENSORS_DTYPES } from './dtypes.js';
export { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat, type LoadDType } from './convert.js';
export { MAX_HEADER_BYTES, type SafetensorsEntry, type SafetensorsHeader } from './safetensors-header.js';
export { type LoadOptions, loadSafetensors, parseSafetensors, readSafetensors, readSafetensorsHeader, type SafetensorsContents } from './safetensors-read.js';
export { encodeSafetensorsHeader, type HeaderSpec, serializeSafetensors, type TensorRecord, writeSafetensors } from './safetensors-write.js';
export { loadShardedSafetensors, readSafetensorsIndex, type SafetensorsIndex } from './safetensors-index.js';
export {
  type Architecture,
  type Gpt2Config,
  type HiddenAct,
  type LlamaFamilyConfig,
  loadModelConfig,
  type ModelConfig,
  parseModelConfig,
  SUPPORTED_ARCHITECTURES,
} from './config.js';
export { type RopeScaling, ropeInverseFrequencies, SUPPORTED_ROPE_SCALING } from './rope.js';
export { type CheckedWeights, checkWeights, embeddingName, expectedWeights, type WeightSpec } from './weights.js';
export { type LoadModelDirOptions, loadModelDir, type ModelDir } from './model-dir.js';
export {
  type Ia3AdapterConfig,
  type LoraAdapterConfig,
  loraScale,
  matchesTargetModules,
  type PeftAdapterConfig,
  type PeftType,
  parsePeftConfig,
  patternValue,
  peftConfigToJson,
  type PromptLearningAdapterConfig,
  SUPPORTED_PEFT_TYPES,
  type TargetModules,
} from './peft-config.js';
export { formatPeftKey, PEFT_PREFIX, type PeftKey, type PeftRole, parsePeftKey } from './peft-keys.js';
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  checkAdapterTensors,
  type LoadedPeftAdapter,
  loadPeftAdapter,
  type PeftAdapter,
  savePeftAdapter,
} from './peft-adapter.js';
