// Validation of a whole data file: read records, map columns, parse each row with the engine's checks, add the
// semantic ones, count duplicates, and (with a tokenizer) tokenise through the engine's templates to find
// over-long examples and examples with no loss. Streams: the examples that pass come out one at a time, so a
// caller can store them as it goes; the report is complete once the stream ends.

import { createHash } from 'node:crypto';
import { DataError, type DataErrorCode } from '../errors.js';
import { type DataFormat, type DataRow, detectFormat, IGNORE_INDEX, parseDataRow } from '../rows.js';
import { type TokenizedRow, type TokenizeRowsOptions, tokenizeRow } from '../tokenize-rows.js';
import type { Tokenizer } from '../tokenizer.js';
import { checkRow, findingOfDataError } from './check-row.js';
import { DigestTable } from './digest-table.js';
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
  /**
   * Tokenises rows somewhere else (e.g. worker threads) instead of here: resolves to tokenizeForValidation's
   * result for each row, in order, with this validation's rowTokenizeSettings. The report, counts and
   * examples are the same either way; only where the work runs changes.
   */
  tokenizeBatch?: (rows: readonly DataRow[]) => Promise<RowTokenization[]>;
}

/** A DataError as plain data, so it can cross threads. */
export interface DataErrorData {
  code: DataErrorCode;
  message: string;
  file?: string;
  line?: number;
  field?: string;
}

/** What validation needs from tokenising one row. */
export interface RowTokenization {
  /** Token count before truncation (absent when tokenising failed). */
  lengthBefore?: number;
  /** Ids and labels after the overlength policy; absent when the row is dropped as too long, or on an error. */
  tokens?: TokenizedRow;
  /** The DataError tokenising raised (the row cannot be used). */
  error?: DataErrorData;
}

/** Everything tokenizeForValidation depends on: plain data plus the tokenizer (and a template function, if any). */
export interface RowTokenizeSettings {
  tokenizer: Tokenizer;
  template?: ValidateOptions['template'];
  /** Name in messages. */
  file: string;
  /** The maximum length in effect (see DataValidation). */
  maxLength?: number;
  overlength?: OverlengthPolicy;
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

/** A record after the checks that come before tokenising: its findings so far and the example, if kept. */
interface Prechecked {
  findings: Finding[];
  example?: ValidatedExample;
}

/** Records checked before their rows are tokenised together. */
const BATCH_ROWS = 128;
/** Batches handed to `tokenizeBatch` ahead of the one being reported, so its workers never wait. */
const BATCHES_AHEAD = 3;

/** The maximum length validation applies: the option, else the tokenizer's model_max_length (when real). */
export function effectiveMaxLength(
  tokenizer: Tokenizer | undefined,
  maxLength: number | undefined,
): number | undefined {
  if (maxLength !== undefined && (!Number.isSafeInteger(maxLength) || maxLength < 1)) {
    throw new DataError('DATA_OPTION', undefined, `maxLength must be a positive integer, got ${maxLength}`);
  }
  if (tokenizer === undefined) return undefined;
  const modelMax =
    tokenizer.modelMaxLength !== undefined && tokenizer.modelMaxLength < NO_LIMIT
      ? tokenizer.modelMaxLength
      : undefined;
  return maxLength ?? modelMax;
}

/** The settings DataValidation tokenises `path`'s rows with (for running tokenizeForValidation elsewhere). */
export function rowTokenizeSettings(
  path: string,
  opts: ValidateOptions & { tokenizer: Tokenizer },
): RowTokenizeSettings {
  return {
    tokenizer: opts.tokenizer,
    ...(opts.template !== undefined && { template: opts.template }),
    file: opts.name ?? path,
    ...(opts.overlength !== undefined && { overlength: opts.overlength }),
    maxLength: effectiveMaxLength(opts.tokenizer, opts.maxLength),
  };
}

/**
 * Tokenises one row through the engine's templates and applies the overlength policy. A pure function of
 * the row and the settings, so it may run on any thread; DataErrors come back as data, other errors throw.
 */
export function tokenizeForValidation(row: DataRow, s: RowTokenizeSettings): RowTokenization {
  const base: TokenizeRowsOptions = { ...s.template, file: s.file };
  let tokens: TokenizedRow;
  try {
    tokens = tokenizeRow(row, s.tokenizer, base);
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    return { error: errorData(err) };
  }
  const lengthBefore = tokens.input_ids.length;
  const max = s.maxLength;
  if (max === undefined || lengthBefore <= max) return { lengthBefore, tokens };
  if (s.overlength === 'drop') return { lengthBefore };
  // tokenizeRow keeps the first maxLength tokens of every format but classification, which cuts its text
  // instead; only that one needs tokenising again.
  if (row.format !== 'classification') {
    const cut = { input_ids: tokens.input_ids.slice(0, max), labels: tokens.labels.slice(0, max) };
    return { lengthBefore, tokens: { ...cut, truncated: true, line: tokens.line } };
  }
  try {
    return { lengthBefore, tokens: tokenizeRow(row, s.tokenizer, { ...base, maxLength: max }) };
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    return { lengthBefore, error: errorData(err) };
  }
}

function errorData(err: DataError): DataErrorData {
  return {
    code: err.code as DataErrorCode,
    message: err.message,
    ...(err.file !== undefined && { file: err.file }),
    ...(err.line !== undefined && { line: err.line }),
    ...(err.field !== undefined && { field: err.field }),
  };
}

/** A validation in progress: iterate `examples()` once, then read `summary()`. */
export class DataValidation {
  private readonly report = new ReportBuilder();
  private readonly seen = new DigestTable();
  private readonly counts: RowCounts = { total: 0, kept: 0, duplicates: 0, truncated: 0, dropped: 0 };
  private readonly labelCounts: Record<string, number> = {};
  private readonly stats = new LengthStatsBuilder();
  private format: DataFormat | undefined;
  private fileFormat: FileFormat | undefined;
  private readonly name: string;
  private readonly maxLength: number | undefined;
  private readonly tokenizeBatch: ((rows: readonly DataRow[]) => Promise<RowTokenization[]>) | undefined;
  private done = false;

  constructor(
    private readonly path: string,
    private readonly opts: ValidateOptions = {},
  ) {
    this.name = opts.name ?? path;
    this.format = opts.format;
    this.maxLength = effectiveMaxLength(opts.tokenizer, opts.maxLength);
    const tok = opts.tokenizer;
    if (tok !== undefined) {
      const settings = rowTokenizeSettings(path, { ...opts, tokenizer: tok });
      this.tokenizeBatch =
        opts.tokenizeBatch ?? (async (rows) => rows.map((row) => tokenizeForValidation(row, settings)));
    }
  }

  /**
   * The kept examples in file order. Records are checked in batches and each batch's rows tokenised together
   * (possibly elsewhere, a few batches ahead); findings are reported per record in file order all the same.
   */
  async *examples(): AsyncGenerator<ValidatedExample> {
    if (this.done) throw new DataError('DATA_OPTION', undefined, 'a DataValidation can be iterated once');
    this.done = true;
    const detected = await detectFileFormat(this.path, this.opts.fileFormat, this.name);
    this.fileFormat = detected.format;
    if (detected.mismatch !== undefined) {
      this.add(detected.mismatch);
      return;
    }
    const ahead = this.opts.tokenizeBatch === undefined ? 0 : BATCHES_AHEAD;
    const queue: { batch: Prechecked[]; tokens: Promise<RowTokenization[]> | undefined }[] = [];
    let batch: Prechecked[] = [];
    const dispatch = (): void => {
      const rows = batch.flatMap((p) => (p.example === undefined ? [] : [p.example.row]));
      const tokens = this.tokenizeBatch === undefined || rows.length === 0 ? undefined : this.tokenizeBatch(rows);
      // Awaited in order later; a batch that fails while an earlier one is awaited must not go unhandled.
      tokens?.catch(() => undefined);
      queue.push({ batch, tokens });
      batch = [];
    };
    for await (const raw of this.records(detected.format)) {
      this.counts.total++;
      batch.push(this.precheck(raw));
      if (batch.length < BATCH_ROWS) continue;
      dispatch();
      while (queue.length > ahead) yield* this.complete(queue.shift() as (typeof queue)[number]);
    }
    dispatch();
    while (queue.length > 0) yield* this.complete(queue.shift() as (typeof queue)[number]);
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

  /** Reports a batch's records in order, with their rows' tokens; yields the examples that are kept. */
  private async *complete(entry: {
    batch: Prechecked[];
    tokens: Promise<RowTokenization[]> | undefined;
  }): AsyncGenerator<ValidatedExample> {
    const tokens = entry.tokens === undefined ? [] : await entry.tokens;
    let k = 0;
    for (const { findings, example } of entry.batch) {
      for (const f of findings) this.add(f);
      if (example === undefined) continue;
      if (this.opts.tokenizer !== undefined) {
        const t = tokens[k++];
        if (t === undefined) throw new Error(`tokenizeBatch returned no result for line ${example.line}`);
        if (!this.applyTokens(example, t)) continue;
      }
      const { row } = example;
      if (row.format === 'classification') {
        const label = String(row.label);
        this.labelCounts[label] = (this.labelCounts[label] ?? 0) + 1;
      }
      this.counts.kept++;
      yield example;
    }
  }

  /** One record through every check before tokenising; its findings are reported later, in order. */
  private precheck(raw: RawRecord): Prechecked {
    const findings: Finding[] = [];
    if (raw.finding !== undefined) return { findings: [raw.finding] };
    const { line } = raw;
    let value = applyMapping(raw.value, this.opts.mapping);
    if (raw.fromText === true && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const typed = typeCsvCells(value as Record<string, unknown>, line);
      if ('finding' in typed) return { findings: [typed.finding] };
      value = typed.value;
    }
    const mismatch = this.formatMismatch(value, line);
    if (mismatch !== undefined) return { findings: [mismatch] };
    let row: DataRow;
    try {
      row = parseDataRow(value, line, {
        file: this.name,
        format: this.format,
        vocabSize: this.opts.tokenizer?.vocabSize,
      });
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      return { findings: [findingOfDataError(err, line)] };
    }
    const system = this.opts.defaultSystemPrompt;
    if (system !== undefined && system !== '') row = withDefaultSystem(row, system);
    const problems = checkRow(row, this.opts.template?.classification?.labelWords);
    findings.push(...problems);
    if (problems.some((p) => p.severity === 'error')) return { findings };

    const digest = rowDigest(row);
    const key = digest.toString('hex');
    const first = this.seen.firstOrAdd(digest, line);
    if (first !== undefined) {
      this.counts.duplicates++;
      const removed = this.opts.removeDuplicates === true;
      findings.push({
        kind: 'DUPLICATE',
        severity: 'warning',
        line,
        message: `duplicates line ${first}${removed ? ' (removed)' : ''}`,
      });
      if (removed) {
        this.counts.dropped++;
        return { findings };
      }
    }
    return { findings, example: { line, row, key } };
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

  /** Reports what tokenising found; false when the example is left out. */
  private applyTokens(example: ValidatedExample, t: RowTokenization): boolean {
    const { line } = example;
    if (t.lengthBefore !== undefined) {
      const lengthBefore = t.lengthBefore;
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
      }
    }
    if (t.error !== undefined) {
      this.add(findingOfDataError(t.error, line));
      return false;
    }
    const tokens = t.tokens;
    if (tokens === undefined) throw new Error(`tokenizing line ${line} gave neither tokens nor an error`);
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
  return rowDigest(row).toString('hex');
}

function rowDigest(row: DataRow): Buffer {
  const { line: _line, ...rest } = row;
  return createHash('sha256').update(JSON.stringify(rest)).digest();
}

/** Validates a whole file and returns the summary (the examples are discarded). */
export async function validateDataFile(path: string, opts: ValidateOptions = {}): Promise<ValidationSummary> {
  const v = new DataValidation(path, opts);
  for await (const _ of v.examples()) {
    // Only the report is wanted.
  }
  return v.summary();
}
