import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';

export interface AuditEntry {
  actor: string;
  action: string;
  environment?: string;
  runId?: string;
  migrationId?: string;
  details?: Record<string, unknown>;
}

export async function recordAudit(db: Queryable, t: Tables, entry: AuditEntry): Promise<void> {
  await db.query(
    `INSERT INTO ${t.audit_log} (actor, action, environment, run_id, migration_id, details) VALUES ($1, $2, $3, $4, $5, $6)`,
    [entry.actor, entry.action, entry.environment ?? null, entry.runId ?? null, entry.migrationId ?? null, JSON.stringify(entry.details ?? {})],
  );
}

export interface AuditRow {
  audit_id: number;
  at: Date;
  actor: string;
  action: string;
  environment: string | null;
  run_id: string | null;
  migration_id: string | null;
  details: Record<string, unknown>;
}

/** The audit trail, newest first, filtered by any of migration, run, action (prefix), actor, environment and time. */
export async function readAudit(
  db: Queryable,
  t: Tables,
  filter: { migrationId?: string; runId?: string; action?: string; actor?: string; environment?: string; since?: Date; limit: number },
): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow & { audit_id: string }>(
    `SELECT audit_id, at, actor, action, environment, run_id, migration_id, details FROM ${t.audit_log}
      WHERE ($1::text IS NULL OR migration_id = $1) AND ($2::uuid IS NULL OR run_id = $2)
        AND ($3::text IS NULL OR action = $3 OR starts_with(action, $3 || '.')) AND ($4::text IS NULL OR actor = $4)
        AND ($5::text IS NULL OR environment = $5) AND ($6::timestamptz IS NULL OR at >= $6)
      ORDER BY audit_id DESC LIMIT $7`,
    [filter.migrationId ?? null, filter.runId ?? null, filter.action ?? null, filter.actor ?? null, filter.environment ?? null, filter.since ?? null, filter.limit],
  );
  return rows.map((row) => ({ ...row, audit_id: Number(row.audit_id) }));
}
