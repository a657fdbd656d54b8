// Validation of a whole data file: read records, map columns, parse each row with the engine's checks, add the
// semantic ones, count duplicates, and (with a tokenizer) tokenise through the engine's templates to find
// over-long examples and examples with no loss. Streams: the examples that pass come out one at a time, so a
// caller can store them as it goes; the report is complete once the stream ends.

import { createHash } from 'node:crypto';
import { DataError } from '../errors.js';
import { type DataFormat, type DataRow, detectFormat, IGNORE_INDEX, parseDataRow } from '../rows.js';
import { type TokenizedRow, type TokenizeRowsOptions, tokenizeRow } from '../tokenize-rows.js';
import type { Tokenizer } from '../tokenizer.js';
import { checkRow, findingOfDataError } from './check-row.js';
import { applyMapping, type ColumnMapping, typeCsvCells } from './mapping.js';
import { readParquet } from './parquet.js';
import { type Finding, ReportBuilder, type ValidationReport } from './report.js';
import { detectFileFormat, type FileFormat, type RawRecord, readCsv, readJsonArray, readJsonl } from './sources.js';
import { type LengthStatistics, LengthStatsBuilder } from './stats.js';

export type OverlengthPolicy = 'truncate' | 'drop';

export interface ValidateOptions {
  /** Name in messages (default: the path). */
  name?: string;
  /** Container; absent: detected from the name and content. */
  fileFormat?: FileFormat;
  /** Row format; absent: the first record that matches a format decides, and every later record must match. */
  format?: DataFormat;
  mapping?: ColumnMapping;
  /** With a tokenizer, examples are tokenised: lengths, loss, TOO_LONG and token-range checks. */
  tokenizer?: Tokenizer;
  /** Maximum tokens per example; default the tokenizer's model_max_length. */
  maxLength?: number;
  /** Default 'truncate'. */
  overlength?: OverlengthPolicy;
  /** Leave out exact duplicates (they are reported as warnings either way). */
  removeDuplicates?: boolean;
  /** Templating, passed to the engine's tokenizeRow (classification label words, chat template, EOS...). */
  template?: Pick<TokenizeRowsOptions, 'template' | 'chatTemplate' | 'appendEos' | 'classification'>;
  /** Put loss on the prompt tokens too (labels = input ids). */
  trainOnPrompt?: boolean;
  /** System prompt given to chat and alpaca examples that have none. */
  defaultSystemPrompt?: string;
  /** Mark findings as about a separate validation file. */
  inValidationFile?: boolean;
}

/** An example that passed validation, as it will be stored. */
export interface ValidatedExample {
  line: number;
  row: DataRow;
  /** sha256 of the normalised row: equal for duplicates, and the split's per-example key. */
  key: string;
  /** Present with a tokenizer: ids and labels after the overlength policy. */
  tokens?: TokenizedRow;
  /** Token count before truncation (with a tokenizer). */
  lengthBefore?: number;
}

export interface RowCounts {
  /** Records read (valid or not). */
  total: number;
  kept: number;
  duplicates: number;
  truncated: number;
  dropped: number;
}

export interface ValidationSummary {
  name: string;
  fileFormat: FileFormat;
  /** The row format in effect (undefined when no record matched any format). */
  format: DataFormat | undefined;
  report: ValidationReport;
  counts: RowCounts;
  /** Classification: kept examples per label (label as text). */
  labelCounts: Record<string, number>;
  /** With a tokenizer: lengths of the kept examples. */
  lengths?: LengthStatistics;
  /** The maximum length applied (with a tokenizer). */
  maxLength?: number;
}

/** The field a format cannot do without: a record lacking all of them is not in that format. */
const FORMAT_KEYS: Record<DataFormat, readonly string[]> = {
  pretokenized: ['input_ids'],
  chat: ['messages'],
  alpaca: ['instruction', 'output'],
  classification: ['text', 'label'],
  text: ['text'],
};

/** Larger values in tokenizer_config.json (1e30 is common) mean "no limit". */
const NO_LIMIT = 10_000_000;

/** A validation in progress: iterate `examples()` once, then read `summary()`. */
export class DataValidation {
  private readonly report = new ReportBuilder();
  private readonly seen = new Map<string, number>();
  private readonly counts: RowCounts = { total: 0, kept: 0, duplicates: 0, truncated: 0, dropped: 0 };
  private readonly labelCounts: Record<string, number> = {};
  private readonly stats = new LengthStatsBuilder();
  private format: DataFormat | undefined;
  private fileFormat: FileFormat | undefined;
  private readonly name: string;
  private readonly maxLength: number | undefined;
  private done = false;

  constructor(
    private readonly path: string,
    private readonly opts: ValidateOptions = {},
  ) {
    this.name = opts.name ?? path;
    this.format = opts.format;
    const tok = opts.tokenizer;
    if (opts.maxLength !== undefined && (!Number.isSafeInteger(opts.maxLength) || opts.maxLength < 1)) {
      throw new DataError('DATA_OPTION', undefined, `maxLength must be a positive integer, got ${opts.maxLength}`);
    }
    const modelMax =
      tok?.modelMaxLength !== undefined && tok.modelMaxLength < NO_LIMIT ? tok.modelMaxLength : undefined;
    this.maxLength = tok === undefined ? undefined : (opts.maxLength ?? modelMax);
  }

  async *examples(): AsyncGenerator<ValidatedExample> {
    if (this.done) throw new DataError('DATA_OPTION', undefined, 'a DataValidation can be iterated once');
    this.done = true;
    const detected = await detectFileFormat(this.path, this.opts.fileFormat, this.name);
    this.fileFormat = detected.format;
    if (detected.mismatch !== undefined) {
      this.add(detected.mismatch);
      return;
    }
    for await (const raw of this.records(detected.format)) {
      this.counts.total++;
      const example = this.check(raw);
      if (example === undefined) continue;
      this.counts.kept++;
      yield example;
    }
    if (this.counts.total === 0) {
      this.add({ kind: 'EMPTY_FILE', severity: 'error', line: 0, message: 'the file has no records' });
    }
  }

  summary(): ValidationSummary {
    return {
      name: this.name,
      fileFormat: this.fileFormat ?? this.opts.fileFormat ?? 'jsonl',
      format: this.format,
      report: this.report.build(),
      counts: { ...this.counts },
      labelCounts: { ...this.labelCounts },
      ...(this.opts.tokenizer !== undefined && { lengths: this.stats.build() }),
      ...(this.maxLength !== undefined && { maxLength: this.maxLength }),
    };
  }

  private records(format: FileFormat): AsyncGenerator<RawRecord> {
    switch (format) {
      case 'jsonl':
        return readJsonl(this.path);
      case 'json':
        return readJsonArray(this.path);
      case 'csv':
        return readCsv(this.path);
      case 'parquet':
        return readParquet(this.path);
    }
  }

  private add(f: Finding): void {
    this.report.add(this.opts.inValidationFile === true ? { ...f, inValidationFile: true } : f);
  }

  /** One record through every check; the example when it is kept. */
  private check(raw: RawRecord): ValidatedExample | undefined {
    if (raw.finding !== undefined) {
      this.add(raw.finding);
      return undefined;
    }
    const { line } = raw;
    let value = applyMapping(raw.value, this.opts.mapping);
    if (raw.fromText === true && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const typed = typeCsvCells(value as Record<string, unknown>, line);
      if ('finding' in typed) {
        this.add(typed.finding);
        return undefined;
      }
      value = typed.value;
    }
    const mismatch = this.formatMismatch(value, line);
    if (mismatch !== undefined) {
      this.add(mismatch);
      return undefined;
    }
    let row: DataRow;
    try {
      row = parseDataRow(value, line, {
        file: this.name,
        format: this.format,
        vocabSize: this.opts.tokenizer?.vocabSize,
      });
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      this.add(findingOfDataError(err, line));
      return undefined;
    }
    const system = this.opts.defaultSystemPrompt;
    if (system !== undefined && system !== '') row = withDefaultSystem(row, system);
    const problems = checkRow(row, this.opts.template?.classification?.labelWords);
    for (const p of problems) this.add(p);
    if (problems.some((p) => p.severity === 'error')) return undefined;

    const key = rowKey(row);
    const first = this.seen.get(key);
    if (first !== undefined) {
      this.counts.duplicates++;
      const removed = this.opts.removeDuplicates === true;
      this.add({
        kind: 'DUPLICATE',
        severity: 'warning',
        line,
        message: `duplicates line ${first}${removed ? ' (removed)' : ''}`,
      });
      if (removed) {
        this.counts.dropped++;
        return undefined;
      }
    } else {
      this.seen.set(key, line);
    }
    const example: ValidatedExample = { line, row, key };
    if (this.opts.tokenizer !== undefined && !this.tokenize(example, this.opts.tokenizer)) return undefined;
    if (row.format === 'classification') {
      const label = String(row.label);
      this.labelCounts[label] = (this.labelCounts[label] ?? 0) + 1;
    }
    return example;
  }

  /** A declared (or first-detected) format that the record plainly is not. */
  private formatMismatch(value: unknown, line: number): Finding | undefined {
    const detected = detectFormat(value);
    if (this.format === undefined) {
      this.format = detected;
      return undefined;
    }
    if (detected === undefined || detected === this.format) return undefined;
    const obj = value as Record<string, unknown>;
    if (FORMAT_KEYS[this.format].some((k) => k in obj)) return undefined;
    return {
      kind: 'FORMAT_MISMATCH',
      severity: 'error',
      line,
      message: `the dataset is ${this.format} (${FORMAT_KEYS[this.format].join(', ')}) but this record looks like ${detected}`,
    };
  }

  /** Tokenises through the engine; false when the example is left out. */
  private tokenize(example: ValidatedExample, tok: Tokenizer): boolean {
    const { row, line } = example;
    const base: TokenizeRowsOptions = { ...this.opts.template, file: this.name };
    let tokens: TokenizedRow;
    try {
      tokens = tokenizeRow(row, tok, base);
      const lengthBefore = tokens.input_ids.length;
      example.lengthBefore = lengthBefore;
      const max = this.maxLength;
      if (max !== undefined && lengthBefore > max) {
        const drop = this.opts.overlength === 'drop';
        this.add({
          kind: 'TOO_LONG',
          severity: 'warning',
          line,
          message: `${lengthBefore} tokens, over the maximum of ${max}: ${drop ? 'dropped' : 'truncated'}`,
        });
        if (drop) {
          this.counts.dropped++;
          return false;
        }
        this.counts.truncated++;
        // tokenizeRow keeps the first maxLength tokens of every format but classification, which cuts its text
        // instead; only that one needs tokenising again.
        tokens =
          row.format === 'classification'
            ? tokenizeRow(row, tok, { ...base, maxLength: max })
            : {
                input_ids: tokens.input_ids.slice(0, max),
                labels: tokens.labels.slice(0, max),
                truncated: true,
                line: tokens.line,
              };
      }
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      this.add(findingOfDataError(err, line));
      return false;
    }
    if (this.opts.trainOnPrompt === true) tokens.labels = [...tokens.input_ids];
    const loss = tokens.labels.reduce((n, l, k) => (k > 0 && l !== IGNORE_INDEX ? n + 1 : n), 0);
    if (loss === 0) {
      // Truncation that cuts the whole completion leaves the example out (a warning); an example that has
      // no loss even at full length is an error in the data or the template.
      const cut = tokens.truncated;
      this.add({
        kind: 'ALL_LABELS_MASKED',
        severity: cut ? 'warning' : 'error',
        line,
        message: cut
          ? `after truncation to ${this.maxLength} tokens no token carries loss: dropped`
          : 'no token of the rendered example carries loss, so it teaches nothing',
      });
      if (cut) this.counts.dropped++;
      return false;
    }
    example.tokens = tokens;
    this.stats.add(tokens.input_ids.length, loss, example.lengthBefore);
    return true;
  }
}

/** The row with `system` added when it has no system prompt of its own (chat and alpaca rows). */
function withDefaultSystem(row: DataRow, system: string): DataRow {
  if (row.format === 'chat' && row.messages[0]?.role !== 'system') {
    return { ...row, messages: [{ role: 'system', content: system }, ...row.messages] };
  }
  if (row.format === 'alpaca' && row.system === undefined) return { ...row, system };
  return row;
}

/** sha256 of the row without its line: the identity used for duplicates and the split. */
export function rowKey(row: DataRow): string {
  const { line: _line, ...rest } = row;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex');
}

/** Validates a whole file and returns the summary (the examples are discarded). */
export async function validateDataFile(path: string, opts: ValidateOptions = {}): Promise<ValidationSummary> {
  const v = new DataValidation(path, opts);
  for await (const _ of v.examples()) {
    // Only the report is wanted.
  }
  return v.summary();
}
