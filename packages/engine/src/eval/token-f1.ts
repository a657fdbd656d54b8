// TOKEN_F1: SQuAD's bag-of-tokens F1 between the normalised output and reference.
import { checkPairs } from './errors.js';
import { answerTokens } from './text.js';

function f1Against(pred: readonly string[], ref: readonly string[]): number {
  // SQuAD: when either side is empty, F1 is 1 only if both are (an empty answer matching "no answer").
  if (pred.length === 0 || ref.length === 0) return pred.length === ref.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of ref) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of pred) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / pred.length;
  const recall = common / ref.length;
  return (2 * precision * recall) / (precision + recall);
}

/** Best F1 of the prediction against any reference. */
export function tokenF1One(prediction: string, references: readonly string[]): number {
  const p = answerTokens(prediction);
  return Math.max(0, ...references.map((r) => f1Against(p, answerTokens(r))));
}

/** Mean of tokenF1One over the examples, in [0, 1]. */
export function tokenF1(predictions: readonly string[], references: readonly (readonly string[])[]): number {
  checkPairs('token F1', predictions, references);
  let sum = 0;
  predictions.forEach((p, i) => {
    sum += tokenF1One(p, references[i]!);
  });
  return sum / predictions.length;
}
