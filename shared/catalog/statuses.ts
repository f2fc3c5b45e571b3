import type { TableName } from './tables.js';

/**
 * Every status a catalog row can take, in one place: the TypeScript types are derived from
 * these lists, and the catalog's CHECK constraints are generated from them (see statusChecks),
 * so the two cannot drift apart. Changing a list needs a new internal catalog migration that
 * re-applies statusChecks; a test compares the constraints in the database with these lists.
 */
export const RUN_STATUSES = ['running', 'paused', 'completed', 'failed', 'rolling_back', 'rolled_back', 'cancelled'] as const;
export const STEP_STATUSES = ['pending', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export const CHUNK_STATUSES = ['pending', 'queued', 'running', 'completed', 'failed', 'paused', 'cancelled'] as const;
export const MIGRATION_STATUSES = ['running', 'completed', 'failed', 'rolled_back'] as const;
export const EXECUTION_STATUSES = ['running', 'completed', 'failed', 'abandoned', 'skipped', 'dispatched'] as const;
export const EXECUTION_TYPES = ['forward', 'rollback', 'validation', 'test'] as const;
export const DIRECTIONS = ['up', 'down'] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];
export type StepStatus = (typeof STEP_STATUSES)[number];
export type ChunkStatus = (typeof CHUNK_STATUSES)[number];
export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export type ExecutionType = (typeof EXECUTION_TYPES)[number];
export type Direction = (typeof DIRECTIONS)[number];

/** A run in one of these is still going: it holds its environment and its work may proceed. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['running', 'paused', 'rolling_back'];
/** A step or chunk in one of these never changes again. */
export const FINISHED_STEP_STATUSES: readonly StepStatus[] = ['completed', 'failed', 'cancelled'];
export const FINISHED_CHUNK_STATUSES: readonly ChunkStatus[] = ['completed', 'failed', 'cancelled'];
/** A step or chunk in one of these has (or should have) a live job. */
export const DISPATCHED_STATUSES = ['queued', 'running'] as const;

/** Which column of which catalog table each list constrains. */
export const STATUS_COLUMNS: ReadonlyArray<{ table: TableName; column: string; values: readonly string[] }> = [
  { table: 'runs', column: 'status', values: RUN_STATUSES },
  { table: 'runs', column: 'direction', values: DIRECTIONS },
  { table: 'steps', column: 'status', values: STEP_STATUSES },
  { table: 'steps', column: 'direction', values: DIRECTIONS },
  { table: 'chunks', column: 'status', values: CHUNK_STATUSES },
  { table: 'migration_status', column: 'status', values: MIGRATION_STATUSES },
  { table: 'migration_executions', column: 'execution_status', values: EXECUTION_STATUSES },
  { table: 'migration_executions', column: 'execution_type', values: EXECUTION_TYPES },
];

/** The constraint name PostgreSQL gives a column's CHECK, which the first catalog version created. */
export const checkName = (table: string, column: string) => `${table}_${column}_check`;
