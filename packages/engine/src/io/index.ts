// Public API of the io folder: safetensors, Hugging Face config.json and model folders, PEFT adapter folders.

export {
  type Architecture,
  type Gpt2Config,
  type HiddenAct,
  type LlamaFamilyConfig,
  loadModelConfig,
  type ModelConfig,
  parseModelConfig,
  parseModelConfigText,
  SUPPORTED_ARCHITECTURES,
} from './config.js';
export { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat, type LoadDType } from './convert.js';
export { SAFETENSORS_DTYPES, type SafetensorsDType } from './dtypes.js';
export { ConfigError, ModelDirError, PeftFormatError, SafetensorsError } from './errors.js';
export { type LoadModelDirOptions, loadModelDir, type ModelDir } from './model-dir.js';
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  checkAdapterTensors,
  type LoadedPeftAdapter,
  loadPeftAdapter,
  type PeftAdapter,
  savePeftAdapter,
} from './peft-adapter.js';
export {
  type Ia3AdapterConfig,
  type LoraAdapterConfig,
  loraScale,
  matchesTargetModules,
  type PeftAdapterConfig,
  type PeftType,
  type PromptLearningAdapterConfig,
  parsePeftConfig,
  patternValue,
  peftConfigToJson,
  SUPPORTED_PEFT_TYPES,
  type TargetModules,
} from './peft-config.js';
export { formatPeftKey, PEFT_PREFIX, type PeftKey, type PeftRole, parsePeftKey } from './peft-keys.js';
export { type RopeScaling, ropeInverseFrequencies, SUPPORTED_ROPE_SCALING } from './rope.js';
export { MAX_HEADER_BYTES, type SafetensorsEntry, type SafetensorsHeader } from './safetensors-header.js';
export { loadShardedSafetensors, readSafetensorsIndex, type SafetensorsIndex } from './safetensors-index.js';
export {
  type LoadOptions,
  loadSafetensors,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  type SafetensorsContents,
} from './safetensors-read.js';
export {
  encodeSafetensorsHeader,
  type HeaderSpec,
  serializeSafetensors,
  type TensorRecord,
  writeSafetensors,
} from './safetensors-write.js';
export { type CheckedWeights, checkWeights, embeddingName, expectedWeights, type WeightSpec } from './weights.js';
