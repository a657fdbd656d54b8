// The one query layer every service's own tables go through: Kysely over embedded SQLite (the default) or
// PostgreSQL (multi-node), with each service's migrations run on open.
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
// pg's main module builds its Pool with require('pg-pool'), which breaks where the "import" condition applies
// to a require (vitest); taking Pool and Client from their own modules works everywhere.
import PgClient from 'pg/lib/client.js';
import PgPool from 'pg-pool';

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string }
  /** `schema` (created when missing) isolates tests or tenants on one server. */
  | { kind: 'postgres'; url: string; schema?: string };

/** Opens the database and brings its tables up to date with `migrations` (applied in name order). */
export async function openDatabase<DB>(
  config: DatabaseConfig,
  migrations: Readonly<Record<string, Migration>>,
): Promise<Kysely<DB>> {
  let db: Kysely<DB>;
  if (config.kind === 'sqlite') {
    const file = new BetterSqlite3(config.path);
    // WAL lets readers (List, Get, streams) proceed while a job or an import writes.
    file.pragma('journal_mode = WAL');
    db = new Kysely<DB>({ dialect: new SqliteDialect({ database: file }) });
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
    db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  }
  const provider: MigrationProvider = { getMigrations: async () => ({ ...migrations }) };
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
