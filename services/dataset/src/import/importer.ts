// The import pipeline, free of gRPC: staged source file(s) → validation through the engine (templates,
// tokenisation) → normalised examples, seeded split and statistics in the staging folder → the folder renamed
// into the artefact store → the record READY or FAILED. The record only becomes READY after its data is in
// place, so a crash at any point leaves VALIDATING (failed on restart) or FAILED, never READY with partial data.

import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DataError,
  DataValidation,
  type Finding,
  LengthStatsBuilder,
  type LengthStatsBuilder as LengthStatsBuilderType,
  loadTokenizer,
  ReportBuilder,
  type Tokenizer,
  type ValidationReport,
  type ValidationSummary,
} from '@tunemesh/engine';
import { CancelledError } from '@tunemesh/kit';
import type { ArtefactStore } from '../store/artefacts.js';
import type { DatasetRecord, DatasetRecords, SplitRecord, SplitStatisticsRecord } from '../store/records.js';
import { FactsTable } from './facts.js';
import { contentHash, type ImportSettings } from './settings.js';
import { chooseValidationByScore, splitScore } from './split.js';
import { defaultTokenizeThreads, TokenizePool } from './tokenize-pool.js';
import { validateOptions } from './validate-options.js';

export { fillTemplate, validateOptions } from './validate-options.js';

/** A file written into the staging folder, with what was learnt while writing it. */
export interface StagedFile {
  /** Path inside the staging folder. */
  path: string;
  /** Original file name (for format detection and messages). */
  name: string;
  sha256: string;
  size: number;
}

export interface StagedImport {
  staging: string;
  source: StagedFile;
  validation?: StagedFile;
}

export interface ImportOutcome {
  record: DatasetRecord;
  alreadyExisted: boolean;
}

export interface ImporterDeps {
  records: DatasetRecords;
  artefacts: ArtefactStore;
  /**
   * Worker threads that tokenise (default one per core; 0: none). Imports of sources smaller than `minBytes`
   * (default 1 MiB) tokenise on the calling thread: starting threads costs more than it saves there.
   */
  tokenizeThreads?: { threads?: number; minBytes?: number };
  /** Called once the record is READY or FAILED (events). Failures here are logged by the caller, not fatal. */
  onFinished?: (record: DatasetRecord) => Promise<void>;
  now?: () => Date;
}

/** The files of a dataset's artefact folder. */
export const ARTEFACTS = {
  source: 'source',
  validationSource: 'validation-source',
  examples: 'examples.jsonl',
  split: 'split.json',
} as const;

/** One stored example per line of examples.jsonl. */
export interface StoredExample {
  /** Index in stored order. */
  i: number;
  /** Line or row in its source file. */
  line: number;
  /** 1 when it came from the separate validation file. */
  v?: 1;
  row: ValidationSummaryRow;
}
type ValidationSummaryRow = Record<string, unknown>;

const tokenizers = new Map<string, Promise<Tokenizer>>();
/** Tokenizers are immutable and costly to load: one per directory per process. */
export function tokenizerFor(dir: string): Promise<Tokenizer> {
  let t = tokenizers.get(dir);
  if (t === undefined) {
    t = loadTokenizer(dir);
    t.catch(() => tokenizers.delete(dir));
    tokenizers.set(dir, t);
  }
  return t;
}

/** Writes a line and waits when the stream's buffer is full, so memory stays flat on large files. */
async function writeLine(out: WriteStream, line: string): Promise<void> {
  if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

async function closeStream(out: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Findings of both files in one report: the first 100 in file order (main first), totals summed. */
function mergeReports(reports: readonly ValidationReport[]): ValidationReport {
  const builder = new ReportBuilder();
  const all: Finding[] = reports.flatMap((r) => r.findings);
  for (const f of all) builder.add(f);
  const merged = builder.build();
  // Totals and counts come from the full reports, not only the listed findings.
  const totals = new Map<string, { kind: Finding['kind']; severity: Finding['severity']; count: number }>();
  for (const r of reports)
    for (const t of r.totals) {
      const k = `${t.kind}/${t.severity}`;
      const cur = totals.get(k);
      if (cur === undefined) totals.set(k, { ...t });
      else cur.count += t.count;
    }
  const errorCount = reports.reduce((n, r) => n + r.errorCount, 0);
  const warningCount = reports.reduce((n, r) => n + r.warningCount, 0);
  return {
    findings: merged.findings,
    totals: [...totals.values()],
    errorCount,
    warningCount,
    findingsTruncated: errorCount + warningCount > merged.findings.length,
  };
}

/** Sources from this size on are tokenised in worker threads (see ImporterDeps.tokenizeThreads). */
const THREADS_MIN_BYTES = 1 << 20;

export class Importer {
  constructor(private readonly deps: ImporterDeps) {}

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** Runs an import of staged files; the staging folder is consumed (moved or removed) in every case. */
  async run(
    staged: StagedImport,
    settings: ImportSettings,
    name: string,
    signal?: AbortSignal,
  ): Promise<ImportOutcome> {
    const { records, artefacts } = this.deps;
    if (signal?.aborted === true) {
      await artefacts.discard(staged.staging);
      throw new CancelledError('the import was cancelled before it started');
    }
    const sha = contentHash(staged.source.sha256, staged.validation?.sha256, settings);
    const existing = await records.findByContent(sha);
    if (existing !== undefined) {
      await artefacts.discard(staged.staging);
      return { record: existing, alreadyExisted: true };
    }
    const record: DatasetRecord = {
      id: `ds_${randomUUID()}`,
      name,
      status: 'VALIDATING',
      format: settings.format,
      fileFormat: settings.fileFormat ?? 'jsonl',
      contentSha256: sha,
      sourceSizeBytes: staged.source.size + (staged.validation?.size ?? 0),
      options: settings as unknown as Record<string, unknown>,
      rows: { total: 0, kept: 0, train: 0, validation: 0, duplicates: 0, truncated: 0, dropped: 0 },
      split: splitRecord(settings, staged.validation !== undefined),
      statistics: { tokenizer: settings.tokenizer?.ref ?? '', splits: [] },
      report: { findings: [], totals: [], errorCount: 0, warningCount: 0, findingsTruncated: false },
      error: undefined,
      createdAt: this.now(),
      completedAt: undefined,
    };
    await records.insert(record);
    try {
      await this.process(record, staged, settings);
      await artefacts.commit(staged.staging, sha);
    } catch (err) {
      await artefacts.discard(staged.staging);
      record.status = 'FAILED';
      record.error =
        err instanceof DataError
          ? { type: 'DataFileUnreadable', message: err.message }
          : { type: 'ImportFailed', message: err instanceof Error ? err.message : String(err) };
    }
    record.completedAt = this.now();
    await records.update(record);
    await this.deps.onFinished?.(record);
    return { record, alreadyExisted: false };
  }

  /** Validates, stores examples and split, computes statistics; sets the record's outcome fields. */
  private async process(record: DatasetRecord, staged: StagedImport, settings: ImportSettings): Promise<void> {
    const tokenizer = settings.tokenizer === undefined ? undefined : await tokenizerFor(settings.tokenizer.dir);
    const out = createWriteStream(join(staged.staging, ARTEFACTS.examples));
    const facts = new FactsTable();
    const summaries: ValidationSummary[] = [];
    const threads = this.deps.tokenizeThreads;
    const size = staged.source.size + (staged.validation?.size ?? 0);
    const threadCount = threads?.threads ?? defaultTokenizeThreads();
    const pool =
      tokenizer !== undefined && threadCount > 0 && size >= (threads?.minBytes ?? THREADS_MIN_BYTES)
        ? new TokenizePool(settings, threadCount)
        : undefined;
    try {
      const files = [staged.source, ...(staged.validation === undefined ? [] : [staged.validation])];
      for (const [f, file] of files.entries()) {
        const fromValidationFile = f === 1;
        const opts = validateOptions(settings, tokenizer, file.name);
        // The validation file must be in the main file's format (detected from the main file when not given).
        const main = summaries[0];
        if (fromValidationFile && opts.format === undefined && main?.format !== undefined) opts.format = main.format;
        if (fromValidationFile) opts.inValidationFile = true;
        if (pool !== undefined) opts.tokenizeBatch = pool.tokenizerFor(file.name);
        const v = new DataValidation(file.path, opts);
        for await (const e of v.examples()) {
          const { line: _line, ...row } = e.row;
          const stored: StoredExample = {
            i: facts.length,
            line: e.line,
            ...(fromValidationFile && { v: 1 as const }),
            row,
          };
          await writeLine(out, `${JSON.stringify(stored)}\n`);
          let loss = 0;
          if (e.tokens !== undefined) {
            const labels = e.tokens.labels;
            for (let k = 1; k < labels.length; k++) if (labels[k] !== -100) loss++;
          }
          facts.push({
            fromValidationFile,
            length: e.tokens?.input_ids.length ?? 0,
            lengthBefore: e.lengthBefore ?? 0,
            loss,
            label: e.row.format === 'classification' ? String(e.row.label) : undefined,
            score: splitScore(settings.seed, e.key),
          });
        }
        summaries.push(v.summary());
      }
    } finally {
      await pool?.close();
      await closeStream(out);
    }
    const main = summaries[0] as ValidationSummary;
    const validation = new Set<number>();
    if (staged.validation !== undefined) {
      for (let i = 0; i < facts.length; i++) if (facts.get(i).fromValidationFile) validation.add(i);
    } else {
      for (const i of chooseValidationByScore(facts.scores(), settings.split)) validation.add(i);
    }
    await writeFile(
      join(staged.staging, ARTEFACTS.split),
      JSON.stringify({ validation: [...validation].sort((a, b) => a - b) }),
    );

    record.format = main.format;
    record.fileFormat = main.fileFormat;
    record.report = mergeReports(summaries.map((s) => s.report));
    const sum = (k: 'total' | 'duplicates' | 'truncated' | 'dropped') => summaries.reduce((n, s) => n + s.counts[k], 0);
    record.rows = {
      total: sum('total'),
      kept: facts.length,
      train: facts.length - validation.size,
      validation: validation.size,
      duplicates: sum('duplicates'),
      truncated: sum('truncated'),
      dropped: sum('dropped'),
    };
    record.statistics = {
      tokenizer: settings.tokenizer?.ref ?? '',
      splits: splitStatistics(facts, validation, tokenizer !== undefined),
    };
    if (record.report.errorCount > 0) {
      record.status = 'FAILED';
    } else if (facts.length === 0) {
      record.status = 'FAILED';
      record.error = { type: 'NoExamples', message: 'no example is left after the overlength and duplicate policies' };
    } else {
      record.status = 'READY';
    }
  }
}

function splitRecord(settings: ImportSettings, separateFile: boolean): SplitRecord {
  const s = settings.split;
  if (separateFile) return { source: 'FILE', fraction: 0, count: 0, seed: settings.seed };
  if (s.kind === 'fraction') return { source: 'FRACTION', fraction: s.fraction, count: 0, seed: settings.seed };
  if (s.kind === 'count') return { source: 'COUNT', fraction: 0, count: s.count, seed: settings.seed };
  return { source: 'NONE', fraction: 0, count: 0, seed: settings.seed };
}

function splitStatistics(
  facts: FactsTable,
  validation: ReadonlySet<number>,
  withTokens: boolean,
): SplitStatisticsRecord[] {
  const parts: {
    split: 'train' | 'validation';
    stats: LengthStatsBuilderType;
    labels: Record<string, number>;
    n: number;
  }[] = [
    { split: 'train', stats: new LengthStatsBuilder(), labels: {}, n: 0 },
    { split: 'validation', stats: new LengthStatsBuilder(), labels: {}, n: 0 },
  ];
  for (let i = 0; i < facts.length; i++) {
    const f = facts.get(i);
    const p = parts[validation.has(i) ? 1 : 0];
    if (p === undefined) continue;
    p.n++;
    if (withTokens) p.stats.add(f.length, f.loss, f.lengthBefore);
    if (f.label !== undefined) p.labels[f.label] = (p.labels[f.label] ?? 0) + 1;
  }
  return parts
    .filter((p) => p.split === 'train' || p.n > 0)
    .map((p) => ({
      split: p.split,
      exampleCount: p.n,
      labelCounts: p.labels,
      ...(withTokens && { lengths: p.stats.build() }),
    }));
}
