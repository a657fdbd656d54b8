// One query layer (Kysely) over two databases: SQLite embedded by default, PostgreSQL when configured. Both
// run the same migrations on start, so the tables are the same wherever the service runs.

import { type DatabaseConfig, openDatabase as openServiceDatabase } from '@tunemesh/kit';
import { type Generated, type Kysely, type Migration, sql } from 'kysely';

export type { DatabaseConfig };

/** The datasets table. JSON columns hold the structured parts (counts, report, statistics) as text. */
export interface DatasetsTable {
  id: string;
  /** Insertion order, for newest-first listing with a stable tie-break. */
  seq: Generated<number>;
  name: string;
  status: string;
  format: string | null;
  file_format: string;
  content_sha256: string;
  source_size_bytes: string;
  options_json: string;
  rows_json: string;
  split_json: string;
  statistics_json: string;
  report_json: string;
  error_json: string | null;
  created_at: string;
  completed_at: string | null;
}

export interface DatasetDb {
  datasets: DatasetsTable;
}

/** Migrations in order; never edit one that has shipped, add the next. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_datasets': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('datasets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('format', 'text')
        .addColumn('file_format', 'text', (c) => c.notNull())
        .addColumn('content_sha256', 'text', (c) => c.notNull())
        // Text, not bigint: both drivers then return the exact value and no precision question arises.
        .addColumn('source_size_bytes', 'text', (c) => c.notNull())
        .addColumn('options_json', 'text', (c) => c.notNull())
        .addColumn('rows_json', 'text', (c) => c.notNull())
        .addColumn('split_json', 'text', (c) => c.notNull())
        .addColumn('statistics_json', 'text', (c) => c.notNull())
        .addColumn('report_json', 'text', (c) => c.notNull())
        .addColumn('error_json', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('completed_at', 'text')
        .execute();
      await db.schema.createIndex('datasets_seq').on('datasets').column('seq').unique().execute();
      await db.schema.createIndex('datasets_content').on('datasets').column('content_sha256').execute();
    },
  },
};

/** Opens the database and brings its tables up to date. */
export function openDatabase(config: DatabaseConfig): Promise<Kysely<DatasetDb>> {
  return openServiceDatabase<DatasetDb>(config, MIGRATIONS);
}

/** The next insertion sequence number (inside the caller's transaction). */
export async function nextSeq(db: Kysely<DatasetDb>): Promise<number> {
  const row = await db
    .selectFrom('datasets')
    .select(sql<number>`coalesce(max(seq), 0) + 1`.as('next'))
    .executeTakeFirstOrThrow();
  return Number(row.next);
}
