import type { Queryable } from '../db.js';
import { quoteIdent } from '../sql/quote.js';
import type { Tables } from './tables.js';

/** The table of old values a backfill's forward step keeps, named by that step. */
export function backupTableName(t: Tables, stepId: string): string {
  return `${t.schema}.${quoteIdent(`backup_step_${stepId}`)}`;
}

/**
 * The backup a rollback of `migrationId` restores from: the one of its latest forward step in
 * the environment that got past its preparation (completed, or failed or cancelled midway).
 * Null when there is none (no row was changed, or `backups drop` removed it).
 */
export async function findBackupTable(db: Queryable, t: Tables, migrationId: string, environment: string): Promise<string | null> {
  const { rows } = await db.query<{ step_id: string }>(
    `SELECT s.step_id FROM ${t.steps} s JOIN ${t.runs} r USING (run_id)
      WHERE s.migration_id = $1 AND r.environment = $2 AND s.direction = 'up' AND s.statements_done > 0
      ORDER BY s.step_id DESC LIMIT 1`,
    [migrationId, environment],
  );
  if (!rows[0]) return null;
  const table = backupTableName(t, rows[0].step_id);
  const { rows: exists } = await db.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [table]);
  return exists[0]!.ok ? table : null;
}
