import { EngineError } from '../errors.js';

/** Bad generation/scoring options or inputs (empty prompt, out-of-range token id, bad sampling setting). */
export class InferError extends EngineError {
  override readonly name = 'InferError';
}
