import { DataError } from './errors.js';
import { IGNORE_INDEX } from './rows.js';
import type { PaddingSide } from './tokenizer.js';

/** What collate needs of a row: ids, and labels when not every token is scored. */
export interface CollatableRow {
  input_ids: readonly number[];
  labels?: readonly number[];
}

export interface CollateOptions {
  /** Fills padded positions of input_ids (attention 0 and label -100 there, so its value never matters). */
  padId: number;
  padSide?: PaddingSide;
  /** Round the sequence length up to a multiple of this (steadier shapes, fewer distinct sessions runs). */
  padToMultipleOf?: number;
}

/** A padded batch as the model graphs take it: row-major [batch, seq] int64 tensors. */
export interface Batch {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  /** Aligned with inputIds (the model shifts); IGNORE_INDEX on pads and masked positions. */
  labels: BigInt64Array;
  /**
   * Right padding: 0..seq-1 on every row (pads continue the count — the fixtures' convention). Left padding:
   * real tokens count from 0 at their first token and pads hold 1, as transformers' generate does.
   */
  positionIds: BigInt64Array;
  batch: number;
  seq: number;
  /** Positions whose label is not IGNORE_INDEX, before the model's shift. */
  labelTokens: number;
}

export function collate(rows: readonly CollatableRow[], opts: CollateOptions): Batch {
  const side = opts.padSide ?? 'right';
  if (side !== 'left' && side !== 'right') {
    throw new DataError('DATA_OPTION', undefined, `padSide must be 'left' or 'right', got ${JSON.stringify(side)}`);
  }
  if (!Number.isSafeInteger(opts.padId) || opts.padId < 0) {
    throw new DataError('DATA_OPTION', undefined, `padId must be a token id (integer >= 0), got ${opts.padId}`);
  }
  const multiple = opts.padToMultipleOf ?? 1;
  if (!Number.isSafeInteger(multiple) || multiple < 1) {
    throw new DataError('DATA_OPTION', undefined, `padToMultipleOf must be a positive integer, got ${multiple}`);
  }
  if (rows.length === 0) throw new DataError('DATA_OPTION', undefined, 'cannot collate an empty batch');
  let longest = 0;
  rows.forEach((row, r) => {
    if (row.input_ids.length === 0) throw new DataError('DATA_OPTION', undefined, `batch row ${r} has no tokens`);
    if (row.labels !== undefined && row.labels.length !== row.input_ids.length) {
      throw new DataError(
        'DATA_LABELS_LENGTH',
        undefined,
        `batch row ${r} has ${row.labels.length} labels for ${row.input_ids.length} input ids`,
      );
    }
    longest = Math.max(longest, row.input_ids.length);
  });
  const seq = Math.ceil(longest / multiple) * multiple;
  const batch = rows.length;
  const inputIds = new BigInt64Array(batch * seq).fill(BigInt(opts.padId));
  const attentionMask = new BigInt64Array(batch * seq);
  const labels = new BigInt64Array(batch * seq).fill(BigInt(IGNORE_INDEX));
  const positionIds = new BigInt64Array(batch * seq);
  let labelTokens = 0;
  rows.forEach((row, r) => {
    const n = row.input_ids.length;
    const first = side === 'right' ? 0 : seq - n;
    const base = r * seq;
    for (let k = 0; k < n; k++) {
      const at = base + first + k;
      inputIds[at] = BigInt(row.input_ids[k] as number);
      attentionMask[at] = 1n;
      const label = row.labels === undefined ? (row.input_ids[k] as number) : (row.labels[k] as number);
      labels[at] = BigInt(label);
      if (label !== IGNORE_INDEX) labelTokens++;
    }
    for (let t = 0; t < seq; t++) {
      positionIds[base + t] = side === 'right' ? BigInt(t) : t < first ? 1n : BigInt(t - first);
    }
  });
  return { inputIds, attentionMask, labels, positionIds, batch, seq, labelTokens };
}
