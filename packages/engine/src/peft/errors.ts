import { EngineError } from '../errors.js';

/**
 * A fine-tuning method that cannot be set up or saved as asked: an unknown or duplicate method, a config field
 * out of range, a target module the model does not have, a model with nothing the method can train, an
 * adapter (for --init-adapter or merge) that does not fit the model, a merge that would leave non-finite weights.
 */
export type PeftErrorCode =
  | 'unknown-method'
  | 'duplicate-method'
  | 'duplicate-prefix'
  | 'bad-config'
  | 'unknown-target'
  | 'nothing-to-train'
  | 'unsupported'
  | 'adapter-mismatch'
  | 'non-finite'
  | 'missing-base-dir'
  | 'already-merged'
  | 'bad-adapter-dir';

export class PeftError extends EngineError {
  override readonly name: string = 'PeftError';
  declare readonly code: PeftErrorCode;

  constructor(code: PeftErrorCode, message: string, opts?: { cause?: unknown }) {
    super(code, message, opts);
  }
}
