// EXACT_MATCH: the fraction of outputs equal to a reference after SQuAD normalisation.
import { checkPairs } from './errors.js';
import { normalizeAnswer } from './text.js';

/** 1 when the prediction equals any reference after normalisation, else 0. */
export function exactMatchOne(prediction: string, references: readonly string[]): number {
  const p = normalizeAnswer(prediction);
  return references.some((r) => normalizeAnswer(r) === p) ? 1 : 0;
}

/** Mean of exactMatchOne over the examples, in [0, 1]. */
export function exactMatch(predictions: readonly string[], references: readonly (readonly string[])[]): number {
  checkPairs('exact match', predictions, references);
  let sum = 0;
  predictions.forEach((p, i) => {
    sum += exactMatchOne(p, references[i]!);
  });
  return sum / predictions.length;
}
