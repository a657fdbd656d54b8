import { EngineError } from '../errors.js';

/**
 * Why adapters cannot be combined: `incompatible_types` (not all LoRA, or a LoRA variant the combination
 * cannot express), `different_bases`, `rank_mismatch` (linear needs equal ranks), `bad_option` (weights,
 * svd rank), `empty` (no adapters).
 */
export type CombineErrorCode = 'incompatible_types' | 'different_bases' | 'rank_mismatch' | 'bad_option' | 'empty';

export class CombineError extends EngineError {
  override readonly name = 'CombineError';
  constructor(
    override readonly code: CombineErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}
