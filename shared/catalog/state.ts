import type { Environment } from '../config.js';
import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';

export interface AppliedMigration {
  migrationId: string;
  status: 'running' | 'completed' | 'failed' | 'rolled_back';
  checksum: string | null;
  fileChecksums: Record<string, string> | null;
  appliedAt: Date | null;
}

export interface CatalogState {
  /** Every migration with a status row in this environment. */
  migrations: Map<string, AppliedMigration>;
  deployedVersions: Set<string>;
}

export async function readCatalogState(db: Queryable, t: Tables, environment: Environment): Promise<CatalogState> {
  const statuses = await db.query<{
    migration_id: string;
    status: AppliedMigration['status'];
    applied_checksum: string | null;
    applied_file_checksums: Record<string, string> | null;
    applied_at: Date | null;
  }>(
    `SELECT migration_id, status, applied_checksum, applied_file_checksums, applied_at
       FROM ${t.migration_status} WHERE environment = $1`,
    [environment],
  );
  const versions = await db.query<{ version: string }>(`SELECT version FROM ${t.version_deployments} WHERE environment = $1`, [environment]);
  return {
    migrations: new Map(
      statuses.rows.map((row) => [
        row.migration_id,
        {
          migrationId: row.migration_id,
          status: row.status,
          checksum: row.applied_checksum,
          fileChecksums: row.applied_file_checksums,
          appliedAt: row.applied_at,
        },
      ]),
    ),
    deployedVersions: new Set(versions.rows.map((row) => row.version)),
  };
}

/** Whether the catalog schema exists yet; read-only commands must not create it. */
export async function catalogExists(db: Queryable, t: Tables): Promise<boolean> {
  const { rows } = await db.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [`${t.schema}.runs`]);
  return rows[0]?.exists ?? false;
}

export function emptyCatalogState(): CatalogState {
  return { migrations: new Map(), deployedVersions: new Set() };
}
