// The evaluator's own tables through Kysely (the query layer the dataset service chose): embedded SQLite by
// default, PostgreSQL when configured; both run the same migrations on open.
// An evaluation is stored whole as the proto's JSON form (body_json) with the columns that filters, the
// leaderboard and paging read pulled out beside it, so the proto stays the one description of its fields.
import BetterSqlite3 from 'better-sqlite3';
import {
  type Generated,
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  SqliteDialect,
} from 'kysely';
// pg's main module builds its Pool with require('pg-pool'), which breaks where the "import" condition applies
// to a require (vitest); taking Pool and Client from their own modules works everywhere (as the dataset service).
import PgClient from 'pg/lib/client.js';
import PgPool from 'pg-pool';

export type EvaluatorDatabaseConfig =
  | { kind: 'sqlite'; path: string }
  /** `schema` (created when missing) isolates tests or tenants on one server. */
  | { kind: 'postgres'; url: string; schema?: string };

export interface EvaluationsTable {
  id: string;
  /** Insertion order, for newest-first listing with a stable tie-break. */
  seq: Generated<number>;
  status: string;
  dataset_id: string;
  split: number;
  base_model_id: string;
  job_id: string;
  /** The model reference as "<case>:<id>", so the leaderboard keeps the latest evaluation per model. */
  model_key: string;
  is_baseline: number;
  idempotency_key: string | null;
  body_json: string;
  created_at: string;
  finished_at: string | null;
}

export interface ArtifactsTable {
  id: string;
  seq: Generated<number>;
  kind: number;
  base_model_id: string;
  /** The artefact proto's JSON form. */
  body_json: string;
  created_at: string;
}

export interface EvaluatorDb {
  evaluations: EvaluationsTable;
  artifacts: ArtifactsTable;
}

/** Migrations in order; never edit one that has shipped, add the next. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_evaluations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('evaluations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('dataset_id', 'text', (c) => c.notNull())
        .addColumn('split', 'integer', (c) => c.notNull())
        .addColumn('base_model_id', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('model_key', 'text', (c) => c.notNull())
        .addColumn('is_baseline', 'integer', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('body_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .execute();
      await db.schema.createIndex('evaluations_seq').on('evaluations').column('seq').unique().execute();
      await db.schema.createIndex('evaluations_idem').on('evaluations').column('idempotency_key').unique().execute();
      await db.schema.createIndex('evaluations_board').on('evaluations').columns(['dataset_id', 'split']).execute();
    },
  },
  '0002_artifacts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('artifacts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('kind', 'integer', (c) => c.notNull())
        .addColumn('base_model_id', 'text', (c) => c.notNull())
        .addColumn('body_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('artifacts_seq').on('artifacts').column('seq').unique().execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

export async function openEvaluatorDb(config: EvaluatorDatabaseConfig): Promise<Kysely<EvaluatorDb>> {
  let db: Kysely<EvaluatorDb>;
  if (config.kind === 'sqlite') {
    const sqlite = new BetterSqlite3(config.path);
    // WAL lets GetEvaluation read while a running evaluation writes its progress.
    sqlite.pragma('journal_mode = WAL');
    db = new Kysely<EvaluatorDb>({ dialect: new SqliteDialect({ database: sqlite }) });
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
    const pool = new PgPool({
      Client: PgClient,
      connectionString: config.url,
      max: 5,
      ...(schema !== undefined && { options: `-c search_path=${schema}` }),
    });
    db = new Kysely<EvaluatorDb>({ dialect: new PostgresDialect({ pool }) });
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
