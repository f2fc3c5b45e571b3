import type pg from 'pg';
import { recordAudit } from '../shared/catalog/audit.js';
import type { ChunkRow } from '../shared/catalog/chunks.js';
import type { StoredMigration } from '../shared/catalog/definitions.js';
import { completeExecution, skipExecution } from '../shared/catalog/executions.js';
import { completeStep, readMigrationStatus, setMigrationStatus, type MigrationStatusRow } from '../shared/catalog/lifecycle.js';
import type { SqlScript } from '../shared/definitions/loader.js';
import type { RunRow, StepRow } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { runMigrationTests } from './migration-tests.js';
import { expectAllTrue, type Timeouts } from './session.js';
import { runStatement } from './statement-errors.js';

/**
 * What every kind of step shares: its dependencies, the context of one attempt, and the
 * closing of a step (validation, tests, status and records in the effect's transaction).
 */

export interface RunnerDeps {
  pool: pg.Pool;
  tables: Tables;
  config: Config;
  logger: Logger;
  workerId: string;
  /** True once the worker is shutting down: long loops stop at the next batch boundary. */
  stopping: () => boolean;
  /** Adds chunk jobs (deterministic ids, so repeating is harmless). */
  enqueueChunks: (chunks: ChunkRow[], migrationId: string) => Promise<void>;
}

/** `dispatched`: a backfill handed its chunks to the chunk queue; the step stays running. */
export type StepOutcome = 'applied' | 'already-done' | 'skipped' | 'dispatched';

export const migrationLockKey = (environment: string, migrationId: string) => `pgfm-migration:${environment}:${migrationId}`;



export interface ExecutionContext {
  deps: RunnerDeps;
  run: RunRow;
  step: StepRow;
  migration: StoredMigration;
  executionId: string;
  timeouts: Timeouts;
  logger: Logger;
}


export async function currentStatus(client: pg.ClientBase, ctx: ExecutionContext): Promise<Pick<MigrationStatusRow, 'status' | 'applied_checksum'> | undefined> {
  return readMigrationStatus(client, ctx.deps.tables, ctx.migration.migrationId, ctx.run.environment);
}

/**
 * Whether the migration's effect is already where this step wants it (a redelivered or
 * repeated job). Applied with other files (a Flyway repeatable changed since) is not done.
 */
export function alreadyDone(ctx: ExecutionContext, current: Pick<MigrationStatusRow, 'status' | 'applied_checksum'> | undefined): boolean {
  const status = current?.status;
  if (ctx.step.direction === 'up') return status === 'completed' && current!.applied_checksum === ctx.migration.checksum;
  return status !== 'completed' && status !== 'failed';
}

/**
 * Runs a verify script inside the applying transaction. A script that manages its own
 * transaction (Sqitch's `BEGIN; ... ROLLBACK;`) gets a savepoint for it instead, so its
 * ROLLBACK undoes only what the checks did.
 */
async function runVerify(client: pg.ClientBase, script: SqlScript): Promise<void> {
  for (const statement of script.statements) {
    switch (statement.control?.kind) {
      case undefined:
        await runStatement(client, script, statement);
        break;
      case 'BEGIN':
      case 'START':
        await client.query('SAVEPOINT pgfm_verify');
        break;
      case 'COMMIT':
        await client.query('RELEASE SAVEPOINT pgfm_verify');
        break;
      case 'ROLLBACK':
        await client.query('ROLLBACK TO SAVEPOINT pgfm_verify');
        await client.query('RELEASE SAVEPOINT pgfm_verify');
        break;
      default:
        await runStatement(client, script, statement);
    }
  }
}

/** Validation, tests, status and records: committed in the caller's transaction together with the effect. */
export async function finish(client: pg.ClientBase, ctx: ExecutionContext, result: { rowsAffected: number | null; statementsDone: number; backupTable?: string }): Promise<void> {
  const { deps, run, step, migration } = ctx;
  const t = deps.tables;
  if (step.direction === 'up') {
    if (migration.verify) await runVerify(client, migration.verify);
    await expectAllTrue(client, migration.meta.post_validations, 'post-validation', migration.migrationId);
    await runMigrationTests(client, t, migration, { environment: run.environment, executionId: ctx.executionId });
  }
  await setMigrationStatus(client, t, {
    migrationId: migration.migrationId,
    environment: run.environment,
    status: step.direction === 'up' ? 'completed' : 'rolled_back',
    checksum: step.direction === 'up' ? migration.checksum : undefined,
    fileChecksums: step.direction === 'up' ? migration.fileChecksums : undefined,
    runId: run.run_id,
    backupTable: result.backupTable,
  });
  await completeExecution(client, t, ctx.executionId, {
    rowsAffected: result.rowsAffected,
    statementsDone: result.statementsDone,
    validationPassed: step.direction === 'up' ? true : null,
  });
  await completeStep(client, t, step.step_id);
  await recordAudit(client, t, {
    actor: run.created_by,
    action: step.direction === 'up' ? 'migration.applied' : 'migration.rolled_back',
    environment: run.environment,
    runId: run.run_id,
    migrationId: migration.migrationId,
    details: { stepId: step.step_id, workerId: deps.workerId, rowsAffected: result.rowsAffected },
  });
}

export async function markAlreadyDone(client: pg.ClientBase, ctx: ExecutionContext): Promise<StepOutcome> {
  await skipExecution(client, ctx.deps.tables, ctx.executionId);
  await completeStep(client, ctx.deps.tables, ctx.step.step_id);
  return 'already-done';
}

export async function inTx<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

