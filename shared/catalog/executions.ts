import os from 'node:os';
import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';

export interface NewExecution {
  migrationId: string;
  environment: string;
  executionType: 'forward' | 'rollback' | 'validation' | 'test';
  runId: string | null;
  stepId: string | null;
  attempt: number;
  workerId: string;
  executedBy: string;
}

/** Records the start of an attempt, committed on its own so even a crash leaves a trace. */
export async function startExecution(db: Queryable, t: Tables, execution: NewExecution): Promise<string> {
  const { rows } = await db.query<{ execution_id: string }>(
    `INSERT INTO ${t.migration_executions} (migration_id, environment, server_hostname, execution_type, run_id, step_id, attempt, worker_id, executed_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING execution_id`,
    [
      execution.migrationId, execution.environment, os.hostname(), execution.executionType, execution.runId,
      execution.stepId, execution.attempt, execution.workerId, execution.executedBy,
    ],
  );
  return rows[0]!.execution_id;
}

export async function completeExecution(
  db: Queryable,
  t: Tables,
  executionId: string,
  result: { rowsAffected: number | null; statementsDone: number; validationPassed: boolean | null },
): Promise<void> {
  await db.query(
    `UPDATE ${t.migration_executions} SET execution_status = 'completed', completed_at = clock_timestamp(), rows_affected = $2,
       statements_done = $3, validation_passed = $4 WHERE execution_id = $1`,
    [executionId, result.rowsAffected, result.statementsDone, result.validationPassed],
  );
}

export async function failExecution(
  db: Queryable,
  t: Tables,
  executionId: string,
  error: { message: string; sqlstate?: string; details?: Record<string, unknown>; statementsDone?: number },
): Promise<void> {
  await db.query(
    `UPDATE ${t.migration_executions} SET execution_status = 'failed', completed_at = clock_timestamp(), error_message = $2,
       error_code = $3, error_details = $4, statements_done = COALESCE($5, statements_done) WHERE execution_id = $1`,
    [executionId, error.message, error.sqlstate ?? null, JSON.stringify(error.details ?? {}), error.statementsDone ?? null],
  );
}

/**
 * Attempts left 'running' by a worker that died are closed when the step is picked up
 * again; an attempt whose backend still exists is alive (a duplicate delivery) and is left alone.
 */
export async function abandonRunningExecutions(db: Queryable, t: Tables, stepId: string): Promise<void> {
  await db.query(
    `UPDATE ${t.migration_executions} e SET execution_status = 'abandoned', completed_at = clock_timestamp(),
       error_message = 'the worker stopped before the attempt finished'
     WHERE step_id = $1 AND execution_status = 'running'
       AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = e.backend_pid)`,
    [stepId],
  );
}

/** A redelivered attempt that found the work already done records that, not a second success. */
export async function skipExecution(db: Queryable, t: Tables, executionId: string, reason = 'already applied by another attempt'): Promise<void> {
  await db.query(
    `UPDATE ${t.migration_executions} SET execution_status = 'skipped', completed_at = clock_timestamp(), rows_affected = 0,
       error_message = $2 WHERE execution_id = $1`,
    [executionId, reason],
  );
}

/** A backfill attempt that handed its key ranges to chunk jobs: the work continues there. */
export async function dispatchedExecution(db: Queryable, t: Tables, executionId: string): Promise<void> {
  await db.query(
    `UPDATE ${t.migration_executions} SET execution_status = 'dispatched', completed_at = clock_timestamp() WHERE execution_id = $1`,
    [executionId],
  );
}

/** One migration test's result, in the transaction of the attempt that ran it. */
export async function recordTestExecution(
  db: Queryable,
  t: Tables,
  result: {
    migrationId: string;
    testName: string;
    executionId: string;
    environment: string;
    status: 'passed' | 'failed' | 'error';
    elapsedMs: number;
    actual: unknown;
    error: string | null;
    matches: boolean;
    withinLimits: boolean;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO ${t.test_executions} (test_id, execution_id, environment, test_status, execution_time_ms, actual_result,
       error_message, result_matches_expected, performance_within_limits)
     SELECT test_id, $3, $4, $5, $6, $7, $8, $9, $10 FROM ${t.migration_tests} WHERE migration_id = $1 AND test_name = $2`,
    [result.migrationId, result.testName, result.executionId, result.environment, result.status, result.elapsedMs, JSON.stringify(result.actual), result.error, result.matches, result.withinLimits],
  );
}
