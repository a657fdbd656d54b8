// ACCURACY and MACRO_F1 with the confusion matrix they come from, over a fixed label set (every label the
// task knows, so a label the model never predicts still counts in macro-F1 with F1 0, as scikit-learn does
// when given `labels`).
import { checkPairs, EvaluationError } from './errors.js';

export interface LabelMetrics {
  readonly label: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Examples whose true label is this one. */
  readonly support: number;
}

export interface ClassificationReport {
  readonly labels: readonly string[];
  /** Row-major: counts[i * labels.length + j] = true labels[i], predicted labels[j]. */
  readonly confusion: number[];
  readonly accuracy: number;
  readonly macroF1: number;
  readonly perLabel: LabelMetrics[];
  readonly examples: number;
}

/** Scores predicted labels against true labels over `labels`; both must come from `labels`. */
export function classificationReport(
  predicted: readonly string[],
  truth: readonly string[],
  labels: readonly string[],
): ClassificationReport {
  checkPairs('classification', predicted, truth);
  const index = new Map(labels.map((l, i) => [l, i] as const));
  const k = labels.length;
  const confusion = new Array<number>(k * k).fill(0);
  predicted.forEach((p, n) => {
    const t = truth[n]!;
    const ti = index.get(t);
    if (ti === undefined) {
      throw new EvaluationError(
        'unknown_label',
        `example ${n} has label ${JSON.stringify(t)}, not one of ${labels.map((l) => JSON.stringify(l)).join(', ')}`,
      );
    }
    const pi = index.get(p);
    if (pi === undefined)
      throw new EvaluationError('unknown_label', `example ${n}: predicted ${JSON.stringify(p)} is not a label`);
    confusion[ti * k + pi]!++;
  });
  let correct = 0;
  const perLabel = labels.map((label, i) => {
    const tp = confusion[i * k + i]!;
    correct += tp;
    let predictedAs = 0;
    let support = 0;
    for (let j = 0; j < k; j++) {
      predictedAs += confusion[j * k + i]!;
      support += confusion[i * k + j]!;
    }
    // scikit-learn's zero_division=0: an undefined ratio counts as 0.
    const precision = predictedAs === 0 ? 0 : tp / predictedAs;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { label, precision, recall, f1, support };
  });
  const macroF1 = perLabel.reduce((s, l) => s + l.f1, 0) / Math.max(1, k);
  return { labels, confusion, accuracy: correct / predicted.length, macroF1, perLabel, examples: predicted.length };
}
