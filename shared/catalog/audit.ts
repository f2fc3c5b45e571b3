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
