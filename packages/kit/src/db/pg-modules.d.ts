// Types for the two parts of node-postgres that db.ts loads directly (see there why): they are pg's own
// Pool and Client, so @types/pg describes them.
declare module 'pg-pool' {
  import type { Client, Pool as PgPool, PoolConfig } from 'pg';
  export default class Pool extends PgPool {
    constructor(config?: PoolConfig & { Client?: typeof Client });
  }
}
declare module 'pg/lib/client.js' {
  import type { Client } from 'pg';

  const PgClient: typeof Client;
  export default PgClient;
}
