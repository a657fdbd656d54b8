import { EngineError } from '../errors.js';

/** A quantization setting that does not fit the model: the message names the setting and what would fit. */
export type QuantErrorCode = 'bad_mode' | 'bad_block_size' | 'bad_tensor';

export class QuantError extends EngineError {
  override readonly name: string = 'QuantError';
  declare readonly code: QuantErrorCode;
  constructor(code: QuantErrorCode, message: string, opts?: { cause?: unknown }) {
    super(code, message, opts);
  }
}
