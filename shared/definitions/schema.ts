import { z } from 'zod';
import { ENVIRONMENTS } from '../config.js';

/** `YYYY.MM.DD_HHMMSS_slug`, the seed's migration id format. */
export const MIGRATION_ID = /^(\d{4})\.(\d{2})\.(\d{2})_(\d{2})(\d{2})(\d{2})_([a-z0-9]+(?:_[a-z0-9]+)*)$/;

export const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$/;

/** The format, and a date and time that exist. */
export function isMigrationId(id: string): boolean {
  const match = MIGRATION_ID.exec(id);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
}

const migrationId = z.string().refine(isMigrationId, 'must be a migration id YYYY.MM.DD_HHMMSS_slug with a real date and time');
const semver = z.string().regex(SEMVER, 'must be a version MAJOR.MINOR.PATCH[.BUILD]');
const seconds = z.number().positive().max(86_400);
const sqlText = z.string().trim().min(1, 'must not be empty');

export const migrationTestSchema = z.strictObject({
  name: z.string().min(1),
  type: z.enum(['unit', 'integration', 'performance', 'rollback']).default('unit'),
  description: z.string().optional(),
  sql: sqlText,
  /** Rows the query must return, compared as a JSON array of objects. */
  expected: z.array(z.record(z.string(), z.unknown())).optional(),
  setup: sqlText.optional(),
  teardown: sqlText.optional(),
  max_execution_time: seconds.optional(),
  environments: z.array(z.enum(ENVIRONMENTS)).default(['development', 'staging']),
});

export const backfillSchema = z
  .strictObject({
    table: z.string().min(1),
    /** Key columns; default: the table's primary key. */
    key: z.array(z.string().min(1)).min(1).optional(),
    set: z.record(z.string().min(1), sqlText).optional(),
    where: sqlText.optional(),
    /**
     * Custom form: one key range per execution, $1 exclusive lower bound, $2 inclusive upper
     * bound, NULL meaning unbounded (first and last batch). Single-column keys only.
     */
    batch_sql: sqlText.optional(),
    batch_target_ms: z.number().int().min(10).max(60_000).default(200),
    initial_batch_size: z.number().int().min(1).max(1_000_000).default(1000),
    max_batch_size: z.number().int().min(1).max(1_000_000).default(50_000),
    max_rows_per_second: z.number().int().nonnegative().default(0),
    max_parallel_chunks: z.number().int().min(1).max(256).default(4),
    /** Keys per chunk job; default CHUNK_KEYS. */
    chunk_keys: z.number().int().min(1).max(100_000_000).optional(),
    /** Extra health check for this backfill: a query returning one boolean, false pauses it. */
    health_query: sqlText.optional(),
    backup: z.boolean().default(true),
  })
  .superRefine((value, ctx) => {
    const declarative = value.set !== undefined;
    if (declarative === (value.batch_sql !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['set'], message: 'give either set (with optional where) or batch_sql, not both' });
    }
    if (value.batch_sql !== undefined && (value.key?.length ?? 1) > 1) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'batch_sql takes a single-column key' });
    }
    if (value.batch_sql !== undefined && value.where !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['where'], message: 'where belongs to the declarative form (set), not batch_sql' });
    }
    if (declarative && Object.keys(value.set ?? {}).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['set'], message: 'must name at least one column' });
    }
  });

export const migrationMetaSchema = z.strictObject({
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  type: z.enum(['schema', 'data', 'index', 'function', 'policy', 'view']).default('schema'),
  category: z.enum(['create', 'alter', 'drop', 'seed', 'cleanup']).default('alter'),
  impact: z.enum(['low', 'medium', 'high', 'critical']).default('low'),
  schema_version: semver.optional(),
  target_schemas: z.array(z.string().min(1)).default([]),
  target_tables: z.array(z.string().min(1)).default([]),
  /** Explicit dependencies; without them a migration depends on the previous id (linear history). */
  depends_on: z.array(migrationId).optional(),
  /** Migrations that must never run at the same time as this one. */
  blocks: z.array(migrationId).default([]),
  /** Seconds a statement may wait for a lock (lock_timeout). */
  max_lock_duration: seconds.optional(),
  /** Seconds a statement may run (statement_timeout). */
  max_statement_duration: seconds.optional(),
  estimated_duration: seconds.optional(),
  requires_exclusive_lock: z.boolean().default(false),
  can_run_concurrently: z.boolean().default(true),
  requires_backup: z.boolean().default(true),
  backup_scope: z.enum(['full', 'affected_schemas', 'affected_tables']).default('affected_tables'),
  auto_rollback: z.boolean().default(true),
  rollback_timeout: seconds.default(300),
  /** True declares that the migration has no down.sql on purpose. */
  irreversible: z.boolean().default(false),
  allowed_environments: z.array(z.enum(ENVIRONMENTS)).min(1).default([...ENVIRONMENTS]),
  requires_maintenance_mode: z.boolean().default(false),
  /** `auto`: one transaction, or one non-transactional statement alone. `per_statement`: each statement on its own. */
  transaction: z.enum(['auto', 'per_statement']).default('auto'),
  prerequisite_checks: z.array(sqlText).default([]),
  post_validations: z.array(sqlText).default([]),
  tests: z.array(migrationTestSchema).default([]),
  backfill: backfillSchema.optional(),
});

export type MigrationMeta = z.infer<typeof migrationMetaSchema>;

/**
 * Fields of the seed's design that are accepted and stored but do not act yet; `validate` and
 * `plan` warn about each one a definition sets, so nobody relies on it by mistake.
 */
export const INERT_MIGRATION_FIELDS = ['requires_backup', 'backup_scope', 'estimated_duration', 'requires_maintenance_mode', 'rollback_timeout'] as const;
export const INERT_SET_FIELDS = ['can_partial_execute'] as const;
export type BackfillSpec = z.infer<typeof backfillSchema>;

export const versionSchema = z.strictObject({
  version: semver,
  type: z.enum(['major', 'minor', 'patch', 'hotfix']),
  description: z.string().optional(),
  release_notes: z.string().optional(),
  affected_schemas: z.array(z.string()).default([]),
  affected_industries: z.array(z.string()).default([]),
  requires_previous_version: semver.optional(),
  blocks_versions: z.array(semver).default([]),
  breaking_changes: z.array(z.string()).default([]),
  deprecations: z.array(z.string()).default([]),
  new_features: z.array(z.string()).default([]),
  requires_maintenance_window: z.boolean().default(false),
});

export const versionsFileSchema = z.strictObject({ versions: z.array(versionSchema) });
export type VersionDefinition = z.infer<typeof versionSchema>;

export const coordinatedSetSchema = z.strictObject({
  id: z.string().regex(/^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$/, 'must look like COORD-2025-001'),
  name: z.string().min(1),
  description: z.string().optional(),
  execution_order: z.array(migrationId).min(1),
  parallel_groups: z.array(z.array(migrationId).min(1)).min(1),
  dependencies: z.record(migrationId, z.array(migrationId)).default({}),
  rollback_all_on_failure: z.boolean().default(true),
  can_partial_execute: z.boolean().default(false),
});

export type CoordinatedSet = z.infer<typeof coordinatedSetSchema> & { file: string; inertFields: string[] };
