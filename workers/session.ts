import type pg from 'pg';
import { ADVISORY_KEY_SQL } from '../shared/db.js';
import type { Config } from '../shared/config.js';
import type { MigrationMeta } from '../shared/definitions/schema.js';
import { ValidationFailedError } from '../shared/errors.js';

export interface Timeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

/** A migration's own limits (seconds in migration.yaml), or the fleet's defaults. */
export function migrationTimeouts(meta: Pick<MigrationMeta, 'max_lock_duration' | 'max_statement_duration'>, config: Config): Timeouts {
  return {
    lockTimeoutMs: meta.max_lock_duration ? Math.round(meta.max_lock_duration * 1000) : config.LOCK_TIMEOUT_MS,
    statementTimeoutMs: meta.max_statement_duration ? Math.round(meta.max_statement_duration * 1000) : config.STATEMENT_TIMEOUT_MS,
  };
}

/** Applies lock_timeout and statement_timeout, to the transaction (`local`) or the session. */
export async function applyTimeouts(client: pg.ClientBase, timeouts: Timeouts, local: boolean): Promise<void> {
  await client.query(`SELECT set_config('lock_timeout', $1, $3), set_config('statement_timeout', $2, $3)`, [
    `${timeouts.lockTimeoutMs}ms`,
    `${timeouts.statementTimeoutMs}ms`,
    local,
  ]);
}

export async function advisoryXactLock(client: pg.ClientBase, key: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [key]);
}

export async function tryAdvisorySessionLock(client: pg.ClientBase, key: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${ADVISORY_KEY_SQL}) AS locked`, [key]);
  return rows[0]!.locked;
}

export async function advisorySessionUnlock(client: pg.ClientBase, key: string): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(${ADVISORY_KEY_SQL})`, [key]);
}

/** Each check is a query returning one boolean; anything but true fails the migration. */
export async function expectAllTrue(client: pg.ClientBase, checks: string[], what: string, migrationId: string): Promise<void> {
  for (const check of checks) {
    const result = await client.query(check);
    const value = result.rows[0] === undefined ? undefined : Object.values(result.rows[0])[0];
    if (value !== true) {
      throw new ValidationFailedError(`${what} failed: ${check} returned ${JSON.stringify(value ?? null)}`, { migrationId });
    }
  }
}

/**
 * Drops everything a session accumulated (settings, temporary tables, prepared statements,
 * advisory locks, LISTEN) so a pooled connection is handed on clean. False when that failed
 * and the connection must be discarded.
 */
export async function resetSession(client: pg.ClientBase): Promise<boolean> {
  try {
    await client.query('DISCARD ALL');
    return true;
  } catch {
    return false;
  }
}
