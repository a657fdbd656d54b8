// For tests that use the PostgreSQL test server when it answers (and report themselves skipped when not).
import PgClient from 'pg/lib/client.js';

export const PG_TEST_URL = process.env.TUNEMESH_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function pgReachable(url = PG_TEST_URL): Promise<boolean> {
  const c = new PgClient({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export async function dropSchema(schema: string, url = PG_TEST_URL): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  const c = new PgClient({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}
