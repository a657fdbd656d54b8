import { seededRandom } from './batches.js';
import { DataError } from './errors.js';
import { type DataRow, IGNORE_INDEX } from './rows.js';
import { type TokenizedRow, type TokenizeRowsOptions, tokenizeRow } from './tokenize-rows.js';
import type { Tokenizer } from './tokenizer.js';

/** Training rows ready for batching, with what truncation did to them. */
export interface PreparedRows {
  rows: TokenizedRow[];
  /** Rows cut to maxLength (kept or dropped). */
  truncated: number;
  /** Rows dropped because no position carried loss after truncation (every label -100). */
  dropped: number;
  /** Loss-carrying positions over all kept rows, before the model's shift. */
  labelTokens: number;
}

/**
 * Tokenises rows for training and drops those that carry no loss (a prompt longer than maxLength cuts the
 * whole completion): such a row would only add padding and, alone in a batch, a 0/0 loss. An empty result is
 * an error naming the file, because a run on it would train on nothing.
 */
export function prepareTrainingRows(
  rows: readonly DataRow[],
  tokenizer: Tokenizer,
  opts: TokenizeRowsOptions = {},
): PreparedRows {
  const kept: TokenizedRow[] = [];
  let truncated = 0;
  let dropped = 0;
  let labelTokens = 0;
  for (const row of rows) {
    const t = tokenizeRow(row, tokenizer, opts);
    if (t.truncated) truncated++;
    // The model predicts token k+1 from position k, so a label on position 0 scores nothing.
    const scored = t.labels.reduce((n, l, k) => (k > 0 && l !== IGNORE_INDEX ? n + 1 : n), 0);
    if (scored === 0) {
      dropped++;
      continue;
    }
    labelTokens += scored;
    kept.push(t);
  }
  if (kept.length === 0) {
    const why =
      opts.maxLength === undefined
        ? 'no row has a position that carries loss'
        : `after truncation to ${opts.maxLength} tokens no row has a position that carries loss (${dropped} dropped, ${truncated} truncated); raise --max-seq-len`;
    throw new DataError('DATA_EMPTY', { file: opts.file ?? '<rows>' }, why);
  }
  return { rows: kept, truncated, dropped, labelTokens };
}

/**
 * A seeded validation split: `fraction` of the rows (at least one, and at least one left for training),
 * chosen by a shuffle with `seed`, each part in file order. Same rows, fraction and seed: same split.
 */
export function splitRows<T>(rows: readonly T[], fraction: number, seed: number): { train: T[]; val: T[] } {
  if (!(fraction > 0 && fraction < 1)) {
    throw new DataError('DATA_OPTION', undefined, `validation split must be in (0, 1), got ${fraction}`);
  }
  if (rows.length < 2) {
    throw new DataError('DATA_OPTION', undefined, `cannot split ${rows.length} row(s) into training and validation`);
  }
  const nVal = Math.min(rows.length - 1, Math.max(1, Math.round(rows.length * fraction)));
  const order = rows.map((_, i) => i);
  const next = seededRandom(seed ^ 0x5eed5);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const isVal = new Set(order.slice(0, nVal));
  const train: T[] = [];
  const val: T[] = [];
  rows.forEach((r, i) => {
    (isVal.has(i) ? val : train).push(r);
  });
  return { train, val };
}
