// ROUGE_L: F-measure of the longest common subsequence of tokens, as Google's rouge-score computes it
// (its default tokenizer, no stemming), averaged over examples.
import { checkPairs } from './errors.js';
import { rougeTokens } from './text.js';

/** Length of the longest common subsequence, O(n·m) time and O(m) memory. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

export interface RougeLScore {
  readonly precision: number;
  readonly recall: number;
  readonly f: number;
}

/** ROUGE-L of one prediction against one reference. */
export function rougeLPair(prediction: string, reference: string): RougeLScore {
  const p = rougeTokens(prediction);
  const r = rougeTokens(reference);
  if (p.length === 0 || r.length === 0) return { precision: 0, recall: 0, f: 0 };
  const lcs = lcsLength(p, r);
  const precision = lcs / p.length;
  const recall = lcs / r.length;
  const f = lcs === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f };
}

/** Best ROUGE-L F of the prediction against any reference (rouge-score's score_multi). */
export function rougeLOne(prediction: string, references: readonly string[]): number {
  return Math.max(0, ...references.map((r) => rougeLPair(prediction, r).f));
}

/** Mean ROUGE-L F over the examples, in [0, 1]. */
export function rougeL(predictions: readonly string[], references: readonly (readonly string[])[]): number {
  checkPairs('ROUGE-L', predictions, references);
  let sum = 0;
  predictions.forEach((p, i) => {
    sum += rougeLOne(p, references[i]!);
  });
  return sum / predictions.length;
}
