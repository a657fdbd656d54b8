import { EngineError } from '../errors.js';

/**
 * What an evaluation cannot run on: `missing_field` (classification metrics on rows without labels),
 * `empty_label_word` (a label word that tokenises to nothing), `empty_input` (no examples, no predictions),
 * `length_mismatch` (predictions and references of different counts), `unknown_label` (a reference label
 * outside the task's label set).
 */
export type EvaluationErrorCode =
  | 'missing_field'
  | 'empty_label_word'
  | 'empty_input'
  | 'length_mismatch'
  | 'unknown_label';

export class EvaluationError extends EngineError {
  override readonly name = 'EvaluationError';
  constructor(
    override readonly code: EvaluationErrorCode,
    message: string,
    opts?: { cause?: unknown },
  ) {
    super(code, message, opts);
  }
}

/** Predictions and references pair up one to one; anything else is a caller bug worth naming. */
export function checkPairs(what: string, predictions: readonly unknown[], references: readonly unknown[]): void {
  if (predictions.length !== references.length) {
    throw new EvaluationError(
      'length_mismatch',
      `${what}: ${predictions.length} predictions but ${references.length} references`,
    );
  }
  if (predictions.length === 0) throw new EvaluationError('empty_input', `${what}: no examples to score`);
}
