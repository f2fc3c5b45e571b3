import type { Queryable } from '../db.js';
import { forgetBackupTable } from './lifecycle.js';
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

export interface BackupRow {
  table_name: string;
  step_id: string;
  run_id: string;
  run_status: string;
  migration_id: string;
  rows: number;
  bytes: number;
}

/** The tables of old values kept for rolling backfills back, every one or those of one run. */
export async function listBackups(db: Queryable, t: Tables, runId?: string): Promise<BackupRow[]> {
  const { rows } = await db.query<BackupRow>(
    `SELECT c.relname AS table_name, s.step_id, s.run_id, r.status AS run_status, s.migration_id,
            -- The backup holds one row per row the backfill changed, which its chunks counted exactly
            -- (reltuples is 0 until the table is first analysed).
            GREATEST(c.reltuples::bigint, (SELECT COALESCE(sum(k.rows_changed), 0) FROM ${t.chunks} k WHERE k.step_id = s.step_id))::bigint AS rows,
            pg_total_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN ${t.steps} s ON s.step_id = substring(c.relname FROM '^backup_step_(\\d+)$')::bigint
       JOIN ${t.runs} r ON r.run_id = s.run_id
      WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname ~ '^backup_step_\\d+$' AND ($2::uuid IS NULL OR s.run_id = $2)
      ORDER BY s.step_id`,
    [t.schemaName, runId ?? null],
  );
  return rows;
}

/** Drops the backups of one run; from then on its backfills cannot be rolled back. Returns what was dropped. */
export async function dropRunBackups(db: Queryable, t: Tables, runId: string): Promise<BackupRow[]> {
  const backups = await listBackups(db, t, runId);
  for (const backup of backups) {
    const table = `${t.schema}.${quoteIdent(backup.table_name)}`;
    await db.query(`DROP TABLE ${table}`);
    await forgetBackupTable(db, t, table);
  }
  return backups;
}
