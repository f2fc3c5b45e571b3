import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';

/**
 * A version is deployed in an environment when every migration that belongs to it is
 * applied there; recomputed after each run, so rollbacks withdraw deployments too.
 */
export async function refreshVersionDeployments(db: Queryable, t: Tables, environment: string, runId: string): Promise<void> {
  const complete = `SELECT v.version FROM ${t.schema_versions} v
     WHERE EXISTS (SELECT 1 FROM ${t.migrations} m WHERE m.schema_version = v.version)
       AND NOT EXISTS (SELECT 1 FROM ${t.migrations} m
                        LEFT JOIN ${t.migration_status} s ON s.migration_id = m.migration_id AND s.environment = $1
                        WHERE m.schema_version = v.version AND s.status IS DISTINCT FROM 'completed')`;
  await db.query(
    `DELETE FROM ${t.version_deployments} d WHERE d.environment = $1 AND d.version NOT IN (${complete})
       AND EXISTS (SELECT 1 FROM ${t.migrations} m WHERE m.schema_version = d.version)`,
    [environment],
  );
  await db.query(
    `INSERT INTO ${t.version_deployments} (version, environment, run_id) SELECT version, $1, $2 FROM (${complete}) c
     ON CONFLICT (version, environment) DO NOTHING`,
    [environment, runId],
  );
}
