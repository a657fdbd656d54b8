// Dataset records: the service's domain view of a row of the datasets table, and the queries on it. Every
// query goes through Kysely, so SQLite and PostgreSQL run the same code.

import type { DataFormat, FileFormat, LengthStatistics, ValidationReport } from '@tunemesh/engine';
import type { Kysely, Selectable } from 'kysely';
import { type DatasetDb, type DatasetsTable, nextSeq } from './db.js';

export type DatasetState = 'VALIDATING' | 'READY' | 'FAILED';

export interface SplitCounts {
  total: number;
  kept: number;
  train: number;
  validation: number;
  duplicates: number;
  truncated: number;
  dropped: number;
}

export interface SplitRecord {
  source: 'NONE' | 'FRACTION' | 'COUNT' | 'FILE';
  fraction: number;
  count: number;
  seed: number;
}

export interface SplitStatisticsRecord {
  split: 'train' | 'validation';
  exampleCount: number;
  lengths?: LengthStatistics;
  labelCounts: Record<string, number>;
}

export interface StatisticsRecord {
  tokenizer: string;
  splits: SplitStatisticsRecord[];
}

export interface ErrorRecord {
  type: string;
  message: string;
}

/** Import settings as stored (the service's own JSON shape of ImportOptions, minus the name). */
export type StoredOptions = Record<string, unknown>;

export interface DatasetRecord {
  id: string;
  name: string;
  status: DatasetState;
  format: DataFormat | undefined;
  fileFormat: FileFormat;
  contentSha256: string;
  sourceSizeBytes: number;
  options: StoredOptions;
  rows: SplitCounts;
  split: SplitRecord;
  statistics: StatisticsRecord;
  report: ValidationReport;
  error: ErrorRecord | undefined;
  createdAt: Date;
  completedAt: Date | undefined;
}

function toRow(r: DatasetRecord): Omit<DatasetsTable, 'seq'> {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    format: r.format ?? null,
    file_format: r.fileFormat,
    content_sha256: r.contentSha256,
    source_size_bytes: String(r.sourceSizeBytes),
    options_json: JSON.stringify(r.options),
    rows_json: JSON.stringify(r.rows),
    split_json: JSON.stringify(r.split),
    statistics_json: JSON.stringify(r.statistics),
    report_json: JSON.stringify(r.report),
    error_json: r.error === undefined ? null : JSON.stringify(r.error),
    created_at: r.createdAt.toISOString(),
    completed_at: r.completedAt === undefined ? null : r.completedAt.toISOString(),
  };
}

function fromRow(row: Selectable<DatasetsTable>): DatasetRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status as DatasetState,
    format: (row.format ?? undefined) as DataFormat | undefined,
    fileFormat: row.file_format as FileFormat,
    contentSha256: row.content_sha256,
    sourceSizeBytes: Number(row.source_size_bytes),
    options: JSON.parse(row.options_json) as StoredOptions,
    rows: JSON.parse(row.rows_json) as SplitCounts,
    split: JSON.parse(row.split_json) as SplitRecord,
    statistics: JSON.parse(row.statistics_json) as StatisticsRecord,
    report: JSON.parse(row.report_json) as ValidationReport,
    error: row.error_json === null ? undefined : (JSON.parse(row.error_json) as ErrorRecord),
    createdAt: new Date(row.created_at),
    completedAt: row.completed_at === null ? undefined : new Date(row.completed_at),
  };
}

export interface ListFilter {
  statuses?: readonly DatasetState[];
  format?: DataFormat;
  ids?: readonly string[];
}

/** The datasets table behind a small API; one instance per service. */
export class DatasetRecords {
  constructor(private readonly db: Kysely<DatasetDb>) {}

  async insert(r: DatasetRecord): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('datasets')
        .values({ ...toRow(r), seq: await nextSeq(tx) })
        .execute();
    });
  }

  async update(r: DatasetRecord): Promise<void> {
    const { id: _id, ...rest } = toRow(r);
    await this.db.updateTable('datasets').set(rest).where('id', '=', r.id).execute();
  }

  async get(id: string): Promise<DatasetRecord | undefined> {
    const row = await this.db.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  /** The finished dataset with this content hash, if any (the idempotent-import lookup). */
  async findByContent(sha256: string): Promise<DatasetRecord | undefined> {
    const row = await this.db
      .selectFrom('datasets')
      .selectAll()
      .where('content_sha256', '=', sha256)
      .where('status', 'in', ['READY', 'FAILED'])
      // A dataset that failed for another reason than its data (a crash, a storage error) is re-importable.
      .where('error_json', 'is', null)
      .orderBy('seq', 'desc')
      .executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  /** Other records sharing a content hash (the artefacts are shared and kept while one remains). */
  async countByContent(sha256: string): Promise<number> {
    const row = await this.db
      .selectFrom('datasets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('content_sha256', '=', sha256)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async delete(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('datasets').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** Newest first; `offset` paging. */
  async list(filter: ListFilter, offset: number, limit: number): Promise<{ records: DatasetRecord[]; total: number }> {
    let q = this.db.selectFrom('datasets');
    if (filter.statuses !== undefined && filter.statuses.length > 0) q = q.where('status', 'in', [...filter.statuses]);
    if (filter.format !== undefined) q = q.where('format', '=', filter.format);
    if (filter.ids !== undefined && filter.ids.length > 0) q = q.where('id', 'in', [...filter.ids]);
    const rows = await q.selectAll().orderBy('seq', 'desc').offset(offset).limit(limit).execute();
    const count = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return { records: rows.map(fromRow), total: Number(count.n) };
  }

  /** Imports that were running when the process stopped can never finish: mark them FAILED. */
  async failInterrupted(now: Date): Promise<number> {
    const res = await this.db
      .updateTable('datasets')
      .set({
        status: 'FAILED',
        completed_at: now.toISOString(),
        error_json: JSON.stringify({
          type: 'ImportInterrupted',
          message: 'the service stopped during the import; import again',
        }),
      })
      .where('status', '=', 'VALIDATING')
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }
}
