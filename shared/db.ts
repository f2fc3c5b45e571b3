import pg from 'pg';

export type Queryable = Pick<pg.ClientBase, 'query'>;

export function createPool(databaseUrl: string, options: { max?: number; applicationName?: string } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'pgfm',
    // Waiting for a connection is bounded: a pool that cannot hand one out within this fails the
    // attempt (retried like a lost connection) instead of hanging the job for good.
    connectionTimeoutMillis: 30_000,
    // A backend whose client died (a SIGKILLed worker) notices within a second and lets go of its locks.
    options: '-c client_connection_check_interval=1000',
  });
  // An idle client that loses its connection emits on the pool; a checked-out one emits on itself
  // (after its query already failed with the cause). Unlistened, either would crash the process.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Runs `work` in one transaction on a pooled client; rolls back and rethrows on any error. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** A 64-bit advisory lock key derived from a string, computed by PostgreSQL itself. */
export const ADVISORY_KEY_SQL = `('x' || substr(md5($1), 1, 16))::bit(64)::bigint`;
