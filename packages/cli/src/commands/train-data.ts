// Reading and preparing the training and validation data for `tunemesh train`.

import { readFile } from 'node:fs/promises';
import {
  type ClassificationTemplate,
  type DataRow,
  type PreparedRows,
  prepareTrainingRows,
  readDataRows,
  splitRows,
  type TokenizedRow,
  type Tokenizer,
} from '@tunemesh/engine';
import { UsageError } from '../errors.js';

export interface TrainDataFlags {
  data: string;
  valData?: string;
  valSplit?: number;
  maxSeqLen: number;
  seed: number;
  promptTemplate?: string;
  labelWords?: string;
}

export interface TrainData {
  train: PreparedRows;
  val: PreparedRows | undefined;
}

/** --label-words: a JSON object {"0":" negative",...} inline, or a file holding one. */
export async function labelWords(value: string): Promise<Record<string, string>> {
  const text = value.trim().startsWith('{') ? value : await readFile(value, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(
      `--label-words must be a JSON object such as {"0":" negative","1":" positive"} (or a file holding one)`,
    );
  }
  if (
    parsed === null ||
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    Object.values(parsed).some((v) => typeof v !== 'string' || v === '')
  )
    throw new UsageError('--label-words must map each label to a non-empty string');
  return parsed as Record<string, string>;
}

export function classification(
  flags: Pick<TrainDataFlags, 'promptTemplate'>,
  words: Record<string, string> | undefined,
): ClassificationTemplate {
  return {
    ...(flags.promptTemplate !== undefined && { template: flags.promptTemplate.replace(/\\n/g, '\n') }),
    ...(words !== undefined && { labelWords: words }),
  };
}

/**
 * Reads --data (and --val-data), splits off --val-split with --seed, and tokenises with truncation at
 * --max-seq-len. Text formats need the model's tokenizer; pre-tokenised files do not.
 */
export async function loadTrainData(
  flags: TrainDataFlags,
  tokenizer: Tokenizer | undefined,
  vocabSize: number,
): Promise<TrainData> {
  if (flags.valData !== undefined && flags.valSplit !== undefined)
    throw new UsageError('give --val-data or --val-split, not both');
  const words = flags.labelWords === undefined ? undefined : await labelWords(flags.labelWords);
  const read = async (file: string): Promise<DataRow[]> => {
    const rows = await readDataRows(file, { vocabSize });
    if (tokenizer === undefined && rows.some((r) => r.format !== 'pretokenized'))
      throw new UsageError(`${file} holds text rows, but the model has no tokenizer.json to tokenise them`);
    return rows;
  };
  let trainRows = await read(flags.data);
  let valRows: DataRow[] | undefined;
  let valName = flags.valData;
  if (flags.valData !== undefined) valRows = await read(flags.valData);
  else if (flags.valSplit !== undefined) {
    const split = splitRows(trainRows, flags.valSplit, flags.seed);
    trainRows = split.train;
    valRows = split.val;
    valName = `${flags.data} (--val-split ${flags.valSplit})`;
  }
  const prepare = (rows: DataRow[], file: string): PreparedRows =>
    tokenizer === undefined
      ? preparePretokenized(rows, file, flags.maxSeqLen)
      : prepareTrainingRows(rows, tokenizer, {
          file,
          maxLength: flags.maxSeqLen,
          classification: classification(flags, words),
        });
  return {
    train: prepare(trainRows, flags.data),
    val: valRows === undefined ? undefined : prepare(valRows, valName ?? flags.data),
  };
}

/** Pre-tokenised rows without a tokenizer: the same truncation and drop rules through a stand-in. */
function preparePretokenized(rows: DataRow[], file: string, maxLength: number): PreparedRows {
  // prepareTrainingRows only calls the tokenizer for text formats; every row here is pre-tokenised.
  const none = new Proxy({} as Tokenizer, {
    get() {
      throw new UsageError(`${file}: text rows need the model's tokenizer.json`);
    },
  });
  return prepareTrainingRows(rows, none, { file, maxLength });
}

export type { TokenizedRow };
