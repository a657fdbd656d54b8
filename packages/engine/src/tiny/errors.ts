import { EngineError } from '../errors.js';

/** An invalid make-tiny-model request (unknown architecture, inconsistent sizes). */
export class TinyModelError extends EngineError {
  override readonly name = 'TinyModelError';
}
