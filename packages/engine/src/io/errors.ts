import { EngineError } from '../errors.js';

/** A safetensors file (or sharded index) that cannot be read as written. */
export class SafetensorsError extends EngineError {
  override readonly name: string = 'SafetensorsError';
}

/** A config.json that is missing fields, has wrongly typed or inconsistent ones, or names an unsupported model. */
export class ConfigError extends EngineError {
  override readonly name: string = 'ConfigError';
}

/** A model directory whose files or weights do not match what its config describes. */
export class ModelDirError extends EngineError {
  override readonly name: string = 'ModelDirError';
}

/** A PEFT adapter directory with a malformed adapter_config.json or unexpected tensors. */
export class PeftFormatError extends EngineError {
  override readonly name: string = 'PeftFormatError';
}
