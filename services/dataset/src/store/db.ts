// One query layer (Kysely) over two databases: SQLite embedded by default, PostgreSQL when configured. Both
// run the same migrations on start, so the tables are the same wherever the service runs.

import BetterSqlite3 from 'better-sqlite3';
import {
  type Generated,
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
} from 'kysely';
// pg's main module builds its Pool with require('pg-pool'); where the "import" export condition is active in
// a require (vitest runs Node with it), that returns pg-pool's ES module namespace and pg fails to load. Taking
// Pool and Client from their own modules works under every loader.
import PgClient from 'pg/lib/client.js';
import PgPool from 'pg-pool';

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

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string }
  /** `schema` (created when missing) isolates tests or tenants on one server. */
  | { kind: 'postgres'; url: string; schema?: string };

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

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Opens the database and brings its tables up to date. */
export async function openDatabase(config: DatabaseConfig): Promise<Kysely<DatasetDb>> {
  let db: Kysely<DatasetDb>;
  if (config.kind === 'sqlite') {
    const file = new BetterSqlite3(config.path);
    // WAL lets readers (List, Stream) proceed while an import writes.
    file.pragma('journal_mode = WAL');
    db = new Kysely<DatasetDb>({ dialect: new SqliteDialect({ database: file }) });
  } else {
    const schema = config.schema;
    if (schema !== undefined) {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema))
        throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(schema)}`);
      const admin = new PgClient({ connectionString: config.url });
      await admin.connect();
      try {
        await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      } finally {
        await admin.end();
      }
    }
    // search_path as a connection option, so every pooled connection sees the schema from its first query.
    const pool = new PgPool({
      Client: PgClient,
      connectionString: config.url,
      max: 5,
      ...(schema !== undefined && { options: `-c search_path=${schema}` }),
    });
    db = new Kysely<DatasetDb>({ dialect: new PostgresDialect({ pool }) });
  }
  const migrator = new Migrator({
    db,
    provider,
    ...(config.kind === 'postgres' && config.schema !== undefined && { migrationTableSchema: config.schema }),
  });
  const { error } = await migrator.migrateToLatest();
  if (error !== undefined) {
    await db.destroy();
    throw error instanceof Error ? error : new Error(String(error));
  }
  return db;
}

/** The next insertion sequence number (inside the caller's transaction). */
export async function nextSeq(db: Kysely<DatasetDb>): Promise<number> {
  const row = await db
    .selectFrom('datasets')
    .select(sql<number>`coalesce(max(seq), 0) + 1`.as('next'))
    .executeTakeFirstOrThrow();
  return Number(row.next);
}
