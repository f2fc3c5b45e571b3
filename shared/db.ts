import pg from 'pg';
import { SQLSTATE, sqlstateOf } from './sqlstate.js';

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

/** SQLSTATEs after which the same transaction, run again from the start, can succeed. */
const CONFLICT_SQLSTATES = new Set([SQLSTATE.DEADLOCK_DETECTED, SQLSTATE.SERIALIZATION_FAILURE]);

/**
 * `inTransaction` for an operator's change (pause, cancel, retry) racing a busy fleet: when
 * PostgreSQL aborts it as one side of a deadlock, or for a serialization failure, nothing of
 * it was kept, so it runs again from the start (up to `attempts` times) instead of failing the
 * command. `work` must have no effect outside the transaction.
 */
export async function inConflictRetriedTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(pool, work);
    } catch (error) {
      const code = sqlstateOf(error);
      if (attempt >= attempts || code === undefined || !CONFLICT_SQLSTATES.has(code as typeof SQLSTATE.DEADLOCK_DETECTED)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt + Math.random() * 50));
    }
  }
}

/** A 64-bit advisory lock key derived from a string, computed by PostgreSQL itself. */
export const ADVISORY_KEY_SQL = `('x' || substr(md5($1), 1, 16))::bit(64)::bigint`;
