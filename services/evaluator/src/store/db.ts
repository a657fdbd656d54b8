// The evaluator's own tables through Kysely (the query layer the dataset service chose): embedded SQLite by
// default, PostgreSQL when configured; both run the same migrations on open.
// An evaluation is stored whole as the proto's JSON form (body_json) with the columns that filters, the
// leaderboard and paging read pulled out beside it, so the proto stays the one description of its fields.
import { type DatabaseConfig, openDatabase } from '@tunemesh/kit';
import type { Generated, Kysely, Migration } from 'kysely';

export type EvaluatorDatabaseConfig = DatabaseConfig;

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

export function openEvaluatorDb(config: EvaluatorDatabaseConfig): Promise<Kysely<EvaluatorDb>> {
  return openDatabase<EvaluatorDb>(config, MIGRATIONS);
}
