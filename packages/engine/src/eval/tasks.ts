// The metric tasks (STYLE item 9): what each metric needs from a model — a loss pass, label-word scoring
// (categorical) or generations — which direction is better, and how generation outputs are scored.
// The service and the CLI choose metrics by these names and share the scoring.
import { corpusBleu } from './bleu.js';
import { exactMatch } from './exact-match.js';
import { rougeL } from './rouge-l.js';
import { tokenF1 } from './token-f1.js';

export type MetricName =
  | 'loss'
  | 'perplexity'
  | 'accuracy'
  | 'macro_f1'
  | 'exact_match'
  | 'token_f1'
  | 'rouge_l'
  | 'bleu';

/** `loss`: one loss pass; `categorical`: label-word scoring; `generative`: generate then compare. */
export type MetricKind = 'loss' | 'categorical' | 'generative';

export interface MetricTask {
  readonly name: MetricName;
  readonly kind: MetricKind;
  readonly higherIsBetter: boolean;
}

export const METRIC_TASKS: Readonly<Record<MetricName, MetricTask>> = {
  loss: { name: 'loss', kind: 'loss', higherIsBetter: false },
  perplexity: { name: 'perplexity', kind: 'loss', higherIsBetter: false },
  accuracy: { name: 'accuracy', kind: 'categorical', higherIsBetter: true },
  macro_f1: { name: 'macro_f1', kind: 'categorical', higherIsBetter: true },
  exact_match: { name: 'exact_match', kind: 'generative', higherIsBetter: true },
  token_f1: { name: 'token_f1', kind: 'generative', higherIsBetter: true },
  rouge_l: { name: 'rouge_l', kind: 'generative', higherIsBetter: true },
  bleu: { name: 'bleu', kind: 'generative', higherIsBetter: true },
};

export type GenerativeMetric = 'exact_match' | 'token_f1' | 'rouge_l' | 'bleu';

/** Scores generated outputs against references with one generative metric. */
export function scoreGenerations(
  metric: GenerativeMetric,
  outputs: readonly string[],
  references: readonly (readonly string[])[],
): number {
  switch (metric) {
    case 'exact_match':
      return exactMatch(outputs, references);
    case 'token_f1':
      return tokenF1(outputs, references);
    case 'rouge_l':
      return rougeL(outputs, references);
    case 'bleu':
      return corpusBleu(outputs, references).score;
  }
}
