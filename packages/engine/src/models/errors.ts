import { EngineError } from '../errors.js';

/**
 * A model that cannot be built as asked: a missing or wrongly shaped weight (named), a weight nobody uses, an
 * unsupported architecture feature, an adapter whose tensors do not fit the model. `code` is one of the
 * ModelErrorCode strings so callers can switch on it.
 */
export type ModelErrorCode =
  | 'missing_weight'
  | 'weight_shape'
  | 'weight_dtype'
  | 'unused_weight'
  | 'unsupported'
  | 'bad_option'
  | 'adapter_mismatch';

export class ModelError extends EngineError {
  override readonly name: string = 'ModelError';
  declare readonly code: ModelErrorCode;

  constructor(code: ModelErrorCode, message: string, opts?: { cause?: unknown }) {
    super(code, message, opts);
  }
}
