import type { Queryable } from '../db.js';
import { undoProblem, type DefinitionSet, type MigrationDefinition, type SqlScript } from '../definitions/loader.js';
import type { UndoInfo } from '../rollback.js';
import { stepKind } from '../step-kind.js';
import { SEMVER, type MigrationMeta } from '../definitions/schema.js';
import { OperationError } from '../errors.js';
import type { Tables } from './tables.js';

const scriptText = (script: SqlScript | undefined) =>
  script === undefined ? null : script.statements.map((statement) => `${statement.text};`).join('\n');

function rollbackStrategy(migration: MigrationDefinition): 'sql_script' | 'backup_restore' | 'irreversible' {
  if (migration.meta.backfill?.set !== undefined && migration.meta.backfill.backup) return 'backup_restore';
  return undoProblem(migration) === undefined ? 'sql_script' : 'irreversible';
}

/**
 * Stores the current definitions (versions, migrations, sets, tests, rollback plans)
 * so the catalog can answer for itself what each migration is. Applied checksums
 * live in migration_status and are never touched here.
 */
export async function registerDefinitions(db: Queryable, t: Tables, definitions: DefinitionSet): Promise<void> {
  for (const version of definitions.versions) {
    const [, major, minor, patch, build] = SEMVER.exec(version.version)!;
    await db.query(
      `INSERT INTO ${t.schema_versions} (version, major_version, minor_version, patch_version, build_version, version_type,
         description, release_notes, affected_schemas, affected_industries, requires_previous_version, blocks_versions,
         breaking_changes, deprecations, new_features, requires_maintenance_window)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12, $13, $14, $15)
       ON CONFLICT (version) DO UPDATE SET version_type = EXCLUDED.version_type, description = EXCLUDED.description,
         release_notes = EXCLUDED.release_notes, affected_schemas = EXCLUDED.affected_schemas,
         affected_industries = EXCLUDED.affected_industries, blocks_versions = EXCLUDED.blocks_versions,
         breaking_changes = EXCLUDED.breaking_changes, deprecations = EXCLUDED.deprecations,
         new_features = EXCLUDED.new_features, requires_maintenance_window = EXCLUDED.requires_maintenance_window`,
      [
        version.version, Number(major), Number(minor), Number(patch), Number(build ?? 0), version.type,
        version.description ?? null, version.release_notes ?? null, version.affected_schemas, version.affected_industries,
        version.blocks_versions, version.breaking_changes, version.deprecations, version.new_features,
        version.requires_maintenance_window,
      ],
    );
  }
  // Second pass: a version may name one registered after it.
  for (const version of definitions.versions) {
    await db.query(`UPDATE ${t.schema_versions} SET requires_previous_version = $2 WHERE version = $1`, [
      version.version,
      version.requires_previous_version ?? null,
    ]);
  }

  for (const migration of definitions.migrations) {
    const meta = migration.meta;
    await db.query(
      `INSERT INTO ${t.migrations} (migration_id, name, description, migration_type, migration_category, impact_level,
         schema_version, target_schemas, target_tables, depends_on, blocks, up_sql, down_sql, verify_sql, definition,
         checksum, file_checksums, scripts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
       ON CONFLICT (migration_id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
         migration_type = EXCLUDED.migration_type, migration_category = EXCLUDED.migration_category,
         impact_level = EXCLUDED.impact_level, schema_version = EXCLUDED.schema_version,
         target_schemas = EXCLUDED.target_schemas, target_tables = EXCLUDED.target_tables,
         depends_on = EXCLUDED.depends_on, blocks = EXCLUDED.blocks, up_sql = EXCLUDED.up_sql,
         down_sql = EXCLUDED.down_sql, verify_sql = EXCLUDED.verify_sql, definition = EXCLUDED.definition,
         checksum = EXCLUDED.checksum, file_checksums = EXCLUDED.file_checksums, scripts = EXCLUDED.scripts,
         updated_at = now()
       WHERE ${t.migrations}.checksum IS DISTINCT FROM EXCLUDED.checksum`,
      [
        migration.id, meta.name, meta.description ?? null, meta.type, meta.category, meta.impact,
        meta.schema_version ?? null, meta.target_schemas, meta.target_tables, meta.depends_on ?? null, meta.blocks,
        scriptText(migration.up), scriptText(migration.down), scriptText(migration.verify), JSON.stringify(meta),
        migration.checksum, JSON.stringify(migration.fileChecksums),
        JSON.stringify({ up: migration.up, down: migration.down ?? null, verify: migration.verify ?? null, downError: migration.downError ?? null }),
      ],
    );
    await db.query(
      `INSERT INTO ${t.rollback_plans} (migration_id, rollback_strategy, validation_queries, risk_level, potential_data_loss, rollback_timeout_seconds)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (migration_id) DO UPDATE SET rollback_strategy = EXCLUDED.rollback_strategy,
         validation_queries = EXCLUDED.validation_queries, risk_level = EXCLUDED.risk_level,
         potential_data_loss = EXCLUDED.potential_data_loss, rollback_timeout_seconds = EXCLUDED.rollback_timeout_seconds`,
      [
        migration.id, rollbackStrategy(migration), meta.post_validations, meta.impact,
        meta.category === 'drop' || meta.category === 'cleanup', meta.rollback_timeout,
      ],
    );
    for (const test of meta.tests) {
      await db.query(
        `INSERT INTO ${t.migration_tests} (migration_id, test_name, test_type, description, test_sql, expected_result,
           setup_sql, teardown_sql, max_execution_time_seconds, environments)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (migration_id, test_name) DO UPDATE SET test_type = EXCLUDED.test_type,
           description = EXCLUDED.description, test_sql = EXCLUDED.test_sql, expected_result = EXCLUDED.expected_result,
           setup_sql = EXCLUDED.setup_sql, teardown_sql = EXCLUDED.teardown_sql,
           max_execution_time_seconds = EXCLUDED.max_execution_time_seconds, environments = EXCLUDED.environments`,
        [
          migration.id, test.name, test.type, test.description ?? null, test.sql,
          test.expected === undefined ? null : JSON.stringify(test.expected), test.setup ?? null, test.teardown ?? null,
          test.max_execution_time ?? null, test.environments,
        ],
      );
    }
  }

  for (const set of definitions.sets) {
    await db.query(
      `INSERT INTO ${t.coordinated_sets} (set_id, name, description, members, coordination_order, rollback_all_on_failure, can_partial_execute)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (set_id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
         members = EXCLUDED.members, coordination_order = EXCLUDED.coordination_order,
         rollback_all_on_failure = EXCLUDED.rollback_all_on_failure, can_partial_execute = EXCLUDED.can_partial_execute`,
      [
        set.id, set.name, set.description ?? null, set.execution_order,
        JSON.stringify({ execution_order: set.execution_order, parallel_groups: set.parallel_groups, dependencies: set.dependencies }),
        set.rollback_all_on_failure, set.can_partial_execute,
      ],
    );
  }
}

/** A migration as a worker sees it: read from the catalog, so workers need no local files. */
export interface StoredMigration {
  migrationId: string;
  meta: MigrationMeta & { name: string };
  up: SqlScript;
  down: SqlScript | null;
  /** Why the registered down cannot be used (it did not parse), if so. */
  downError: string | null;
  verify: SqlScript | null;
  checksum: string;
  fileChecksums: Record<string, string>;
}

export async function readStoredMigration(db: Queryable, t: Tables, migrationId: string): Promise<StoredMigration> {
  const { rows } = await db.query<{
    definition: StoredMigration['meta'];
    scripts: { up: SqlScript; down: SqlScript | null; verify: SqlScript | null; downError?: string | null };
    checksum: string;
    file_checksums: Record<string, string>;
  }>(`SELECT definition, scripts, checksum, file_checksums FROM ${t.migrations} WHERE migration_id = $1`, [migrationId]);
  const row = rows[0];
  if (!row) throw new OperationError(`migration ${migrationId} is not registered in the catalog`, { migrationId });
  return {
    migrationId,
    meta: row.definition,
    up: row.scripts.up,
    down: row.scripts.down,
    downError: row.scripts.downError ?? null,
    verify: row.scripts.verify,
    checksum: row.checksum,
    fileChecksums: row.file_checksums,
  };
}

/** The checksums the catalog registered for these migrations (what a down run records it undoes). */
export async function registeredChecksums(db: Queryable, t: Tables, migrationIds: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ migration_id: string; checksum: string }>(`SELECT migration_id, checksum FROM ${t.migrations} WHERE migration_id = ANY($1)`, [migrationIds]);
  return new Map(rows.map((row) => [row.migration_id, row.checksum]));
}

/** How each migration's down runs and why it cannot be undone, if so, from what the catalog registered. */
export async function readUndoInfo(db: Queryable, t: Tables, migrationIds: string[]): Promise<Map<string, UndoInfo>> {
  // One query, and only the downs: a run's up scripts can be megabytes the rollback never needs.
  const { rows } = await db.query<{ migration_id: string; definition: StoredMigration['meta']; down: SqlScript | null; down_error: string | null }>(
    `SELECT migration_id, definition, scripts->'down' AS down, scripts->>'downError' AS down_error FROM ${t.migrations} WHERE migration_id = ANY($1)`,
    [[...new Set(migrationIds)]],
  );
  const info = new Map<string, UndoInfo>();
  for (const row of rows) {
    const down = row.down ?? undefined;
    const problem = undoProblem({ id: row.migration_id, meta: row.definition, down, downError: row.down_error ?? undefined });
    info.set(row.migration_id, { kind: stepKind({ meta: row.definition, down }, 'down'), ...(problem === undefined ? {} : { problem }) });
  }
  for (const migrationId of migrationIds) {
    if (!info.has(migrationId)) throw new OperationError(`migration ${migrationId} is not registered in the catalog`, { migrationId });
  }
  return info;
}

/** The SQL the catalog holds for a migration's scripts (what workers run), as text. */
export async function registeredScriptTexts(db: Queryable, t: Tables, migrationId: string): Promise<Record<'up' | 'down' | 'verify', string | null> | undefined> {
  const { rows } = await db.query<{ up: string | null; down: string | null; verify: string | null }>(
    `SELECT up_sql AS up, down_sql AS down, verify_sql AS verify FROM ${t.migrations} WHERE migration_id = $1`,
    [migrationId],
  );
  return rows[0];
}

/** The text registerDefinitions stores for each of a migration's scripts. */
export function definitionScriptTexts(migration: MigrationDefinition): Record<'up' | 'down' | 'verify', string | null> {
  return { up: scriptText(migration.up), down: scriptText(migration.down), verify: scriptText(migration.verify) };
}
