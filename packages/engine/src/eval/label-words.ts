// Classification by label-word log-likelihood (the IMDB sentiment task): each example is rendered once per
// label with that label's word, exactly as training renders it (tokenizeRow), and the label whose word the
// model finds most likely wins. No generation; all (example, label) rows are scored in batches.
import { type ClassificationRow, IGNORE_INDEX } from '../data/rows.js';
import { type ClassificationTemplate, tokenizeRow } from '../data/tokenize-rows.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { RunnableSession } from '../infer/session.js';
import { EvaluationError } from './errors.js';
import { scoreRows } from './row-scores.js';

export interface LabelWordPrediction {
  /** The true label (as a string). */
  readonly label: string;
  /** The label with the highest log-likelihood (first in label order on a tie). */
  readonly predicted: string;
  /** Summed log-likelihood of each label's word tokens, keyed by label. */
  readonly logLikelihoods: Readonly<Record<string, number>>;
}

export interface LabelWordOptions {
  readonly tokenizer: Tokenizer;
  readonly padId: number;
  /** The labels to choose among, in report order. Default: the label-word keys, else the labels seen. */
  readonly labels?: readonly string[];
  readonly classification?: ClassificationTemplate;
  readonly maxLength?: number;
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (examplesDone: number) => void;
}

/** The label set of a task: explicit, else the label words' keys, else the labels in the data (sorted). */
export function taskLabels(
  rows: readonly ClassificationRow[],
  opts: Pick<LabelWordOptions, 'labels' | 'classification'>,
): string[] {
  if (opts.labels && opts.labels.length > 0) return [...opts.labels];
  const words = opts.classification?.labelWords;
  if (words && Object.keys(words).length > 0) return Object.keys(words);
  return [...new Set(rows.map((r) => String(r.label)))].sort();
}

/** Refuses rows that are not classification rows with a label, naming the first one. */
export function requireClassificationRows(rows: readonly unknown[]): ClassificationRow[] {
  rows.forEach((r, i) => {
    const row = r as Partial<ClassificationRow> | null;
    if (row?.format !== 'classification' || row.label === undefined || row.label === '') {
      throw new EvaluationError(
        'missing_field',
        `classification metrics need rows with "text" and "label"; row ${i} (line ${(row as { line?: number } | null)?.line ?? '?'}) has ${row?.format ?? 'no'} format${row?.format === 'classification' ? ' but no label' : ''}`,
      );
    }
  });
  return rows as ClassificationRow[];
}

/** Predicts each row's label by comparing its label words' log-likelihoods. */
export async function classifyByLabelWords(
  session: RunnableSession,
  rows: readonly ClassificationRow[],
  opts: LabelWordOptions,
): Promise<LabelWordPrediction[]> {
  const labels = taskLabels(rows, opts);
  const known = new Set(labels);
  rows.forEach((r, i) => {
    if (!known.has(String(r.label))) {
      throw new EvaluationError(
        'unknown_label',
        `row ${i} (line ${r.line}) has label ${JSON.stringify(r.label)}, not one of ${labels.map((l) => JSON.stringify(l)).join(', ')}`,
      );
    }
  });
  for (const label of labels) {
    const word = opts.classification?.labelWords?.[label] ?? ` ${label}`;
    if (opts.tokenizer.encode(word, { addSpecialTokens: false }).length === 0) {
      throw new EvaluationError(
        'empty_label_word',
        `label ${JSON.stringify(label)}'s word ${JSON.stringify(word)} tokenises to nothing`,
      );
    }
  }
  const tokOpts = {
    ...(opts.classification && { classification: opts.classification }),
    ...(opts.maxLength !== undefined && { maxLength: opts.maxLength }),
  };
  const scoring = rows.flatMap((row) =>
    labels.map((label) => {
      const t = tokenizeRow({ ...row, label }, opts.tokenizer, tokOpts);
      // The label word must put at least one token after the prompt, or every label scores 0 and the
      // "prediction" is just the first label.
      if (!t.labels.some((l, k) => k > 0 && l !== IGNORE_INDEX)) {
        throw new EvaluationError(
          'empty_label_word',
          `label ${JSON.stringify(label)}'s word ${JSON.stringify(opts.classification?.labelWords?.[label] ?? ` ${label}`)} tokenises to nothing after the prompt (line ${row.line})`,
        );
      }
      return { inputIds: t.input_ids, labels: t.labels };
    }),
  );
  const k = labels.length;
  const scores = await scoreRows(session, scoring, {
    padId: opts.padId,
    // Keep all of an example's labels in one batch so progress counts whole examples.
    batchSize: Math.max(1, opts.batchSize ?? 8) * k,
    ...(opts.signal && { signal: opts.signal }),
    ...(opts.onProgress && { onProgress: (done: number) => opts.onProgress?.(Math.floor(done / k)) }),
  });
  return rows.map((row, n) => {
    const logLikelihoods: Record<string, number> = {};
    let predicted = labels[0]!;
    let best = Number.NEGATIVE_INFINITY;
    labels.forEach((label, j) => {
      const lp = scores[n * k + j]!.logProb;
      logLikelihoods[label] = lp;
      if (lp > best) {
        best = lp;
        predicted = label;
      }
    });
    return { label: String(row.label), predicted, logLikelihoods };
  });
}
