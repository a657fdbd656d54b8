// The trainer's own tables through the kit's query layer (Kysely over SQLite or PostgreSQL), migrated on start. Each record keeps its proto message as JSON (ts-proto's toJSON) next to the columns that
// are filtered or sorted on, so the API shape lives in proto/ alone and the tables only index it.

import { type DatabaseConfig, openDatabase } from '@tunemesh/kit';
import type { Generated, Kysely, Migration } from 'kysely';

export interface BaseModelsTable {
  id: string;
  seq: Generated<number>;
  name: string;
  path: string;
  architecture: string;
  json: string;
}

export interface JobsTable {
  id: string;
  seq: Generated<number>;
  idempotency_key: string;
  /** Hash of the create request, so a retry with the same key and another request is ALREADY_EXISTS. */
  request_hash: string;
  status: number;
  base_model_id: string;
  dataset_id: string;
  method_kind: number;
  json: string;
}

export interface CheckpointsTable {
  id: string;
  job_id: string;
  step: number;
  json: string;
}

export interface TrainerDb {
  base_models: BaseModelsTable;
  jobs: JobsTable;
  checkpoints: CheckpointsTable;
}

/** Migrations in order; never edit one that has shipped, add the next. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_trainer': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('base_models')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('path', 'text', (c) => c.notNull().unique())
        .addColumn('architecture', 'text', (c) => c.notNull())
        .addColumn('json', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull().unique())
        .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('base_model_id', 'text', (c) => c.notNull())
        .addColumn('dataset_id', 'text', (c) => c.notNull())
        .addColumn('method_kind', 'integer', (c) => c.notNull())
        .addColumn('json', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('checkpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('json', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('checkpoints_job').on('checkpoints').columns(['job_id', 'step']).execute();
    },
  },
};

/** Opens (creating) the database — SQLite by default, PostgreSQL for several service replicas — and migrates it. */
export function openTrainerDb(config: DatabaseConfig): Promise<Kysely<TrainerDb>> {
  return openDatabase<TrainerDb>(config, MIGRATIONS);
}

const UNIQUE_VIOLATION = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY', '23505']);

/** A write that lost a race for a unique value (seq is max+1, names, keys): SQLite's or PostgreSQL's code. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNIQUE_VIOLATION.has(code);
}

/**
 * Runs `f` again when it lost a unique race (up to 20 times, after a short random pause so a crowd of writers
 * spreads out); `f` re-reads, so a retry sees the winner's row or takes the next seq.
 */
export async function retryUniqueRace<T>(f: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
    }
  }
}
