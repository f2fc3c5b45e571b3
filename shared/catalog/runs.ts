import { ADVISORY_KEY_SQL, type Queryable } from '../db.js';
import type { Tables } from './tables.js';

export type RunStatus = 'running' | 'paused' | 'completed' | 'failed' | 'rolling_back' | 'rolled_back' | 'cancelled';
export type StepStatus = 'pending' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export type Direction = 'up' | 'down';

export const ACTIVE_RUN_STATUSES: RunStatus[] = ['running', 'paused', 'rolling_back'];

/**
 * Whether work of `step` may go on in its run's current state: an up step while the run is
 * running, a down step while its run is undoing (a down run running, an up run rolling back).
 */
export function stepMayRun(run: Pick<RunRow, 'status' | 'direction'>, step: Pick<StepRow, 'direction'>): boolean {
  if (step.direction === 'up') return run.status === 'running';
  return run.direction === 'down' ? run.status === 'running' : run.status === 'rolling_back';
}

export interface RunRow {
  run_id: string;
  environment: string;
  direction: Direction;
  status: RunStatus;
  target: string | null;
  set_id: string | null;
  rollback_of: string | null;
  auto_rollback: boolean;
  plan_hash: string;
  created_by: string;
  created_at: Date;
  finished_at: Date | null;
  error: string | null;
  error_code: string | null;
}

export interface StepRow {
  step_id: string;
  run_id: string;
  migration_id: string;
  direction: Direction;
  stage: number;
  kind: string;
  checksum: string;
  generation: number;
  status: StepStatus;
  attempts: number;
  statements_done: number;
  rows_done: string;
  worker_id: string | null;
  started_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
  last_sqlstate: string | null;
}

/** A planned step as a stored plan records it. */
export interface StoredPlanStep {
  migrationId: string;
  stage: number;
  kind: string;
}

/** What a run was planned to do, kept in runs.plan for the record: one shape per way a run starts. */
export type StoredPlan =
  | { kind: 'up' | 'down'; environment: string; target: string | null; setId: string | null; stages: StoredPlanStep[][]; warnings: string[]; hash: string }
  | { kind: 'rollback'; environment: string; rollbackOf: string; steps: StoredPlanStep[] };

export interface NewRun {
  environment: string;
  direction: Direction;
  target: string | null;
  setId: string | null;
  rollbackOf: string | null;
  autoRollback: boolean;
  plan: StoredPlan;
  planHash: string;
  createdBy: string;
}

export interface NewStep {
  migrationId: string;
  direction: Direction;
  stage: number;
  kind: string;
  checksum: string;
}

export async function insertRun(db: Queryable, t: Tables, run: NewRun): Promise<string> {
  const { rows } = await db.query<{ run_id: string }>(
    `INSERT INTO ${t.runs} (environment, direction, target, set_id, rollback_of, auto_rollback, plan, plan_hash, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING run_id`,
    [run.environment, run.direction, run.target, run.setId, run.rollbackOf, run.autoRollback, JSON.stringify(run.plan), run.planHash, run.createdBy],
  );
  return rows[0]!.run_id;
}

export async function insertSteps(db: Queryable, t: Tables, runId: string, steps: NewStep[]): Promise<void> {
  if (steps.length === 0) return;
  await db.query(
    `INSERT INTO ${t.steps} (run_id, migration_id, direction, stage, kind, checksum)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::text[])`,
    [
      runId,
      steps.map((s) => s.migrationId),
      steps.map((s) => s.direction),
      steps.map((s) => s.stage),
      steps.map((s) => s.kind),
      steps.map((s) => s.checksum),
    ],
  );
}

export async function findActiveRun(db: Queryable, t: Tables, environment: string): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM ${t.runs} WHERE environment = $1 AND status = ANY($2)`, [environment, ACTIVE_RUN_STATUSES]);
  return rows[0];
}

export async function activeRuns(db: Queryable, t: Tables): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM ${t.runs} WHERE status = ANY($1) ORDER BY created_at`, [ACTIVE_RUN_STATUSES]);
  return rows;
}

export async function readRun(db: Queryable, t: Tables, runId: string, options: { forUpdate?: boolean } = {}): Promise<RunRow | undefined> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM ${t.runs} WHERE run_id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [runId]);
  return rows[0];
}

export async function latestRuns(db: Queryable, t: Tables, limit: number): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM ${t.runs} ORDER BY created_at DESC LIMIT $1`, [limit]);
  return rows;
}

/**
 * A run's gate: an advisory lock held until the caller's transaction ends. Backfill sub-batches
 * pass it shared; a change of the run's status closes it, so the change waits for the sub-batches
 * in flight and every later one reads the new status. A row lock on the run would starve the
 * change instead: share lockers of a row do not queue behind a waiting writer, and a fleet's
 * sub-batches overlap all the time. Advisory lock requests queue in arrival order.
 */
export async function passRunGate(db: Queryable, runId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock_shared(${ADVISORY_KEY_SQL})`, [runGateKey(runId)]);
}

async function closeRunGate(db: Queryable, runId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [runGateKey(runId)]);
}

const runGateKey = (runId: string) => `pgfm-run:${runId}`;

/** Changes a run's status once no sub-batch of it is in flight; inside the transaction that decided the change. */
export async function setRunStatus(
  db: Queryable,
  t: Tables,
  runId: string,
  status: RunStatus,
  error: { message: string; code?: string | null } | null = null,
): Promise<void> {
  const finished = ACTIVE_RUN_STATUSES.includes(status) ? null : 'now';
  await closeRunGate(db, runId);
  await db.query(
    `UPDATE ${t.runs} SET status = $2, finished_at = $3::timestamptz, error = COALESCE($4, error), error_code = COALESCE($5, error_code)
      WHERE run_id = $1`,
    [runId, status, finished, error?.message ?? null, error?.code ?? null],
  );
}

export async function runSteps(db: Queryable, t: Tables, runId: string): Promise<StepRow[]> {
  const { rows } = await db.query<StepRow>(`SELECT * FROM ${t.steps} WHERE run_id = $1 ORDER BY direction DESC, stage, migration_id`, [runId]);
  return rows;
}

export async function readStep(db: Queryable, t: Tables, stepId: string, options: { forUpdate?: boolean } = {}): Promise<StepRow | undefined> {
  const { rows } = await db.query<StepRow>(`SELECT * FROM ${t.steps} WHERE step_id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [stepId]);
  return rows[0];
}

export async function setStepsStatus(db: Queryable, t: Tables, stepIds: string[], status: StepStatus, from: StepStatus[]): Promise<StepRow[]> {
  if (stepIds.length === 0) return [];
  const { rows } = await db.query<StepRow>(
    `UPDATE ${t.steps} SET status = $2 WHERE step_id = ANY($1::bigint[]) AND status = ANY($3) RETURNING *`,
    [stepIds, status, from],
  );
  return rows;
}

/** Claims the step for this attempt; false when it was cancelled or finished meanwhile. */
export async function markStepRunning(db: Queryable, t: Tables, stepId: string, workerId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE ${t.steps} SET status = 'running', attempts = attempts + 1, worker_id = $2, started_at = COALESCE(started_at, clock_timestamp())
      WHERE step_id = $1 AND status IN ('queued', 'running', 'pending')`,
    [stepId, workerId],
  );
  return result.rowCount === 1;
}

export async function markStepCompleted(db: Queryable, t: Tables, stepId: string): Promise<void> {
  await db.query(`UPDATE ${t.steps} SET status = 'completed', finished_at = clock_timestamp(), last_error = NULL WHERE step_id = $1`, [stepId]);
}

export async function markStepFailed(db: Queryable, t: Tables, stepId: string, error: { message: string; sqlstate?: string }): Promise<void> {
  await db.query(
    `UPDATE ${t.steps} SET status = 'failed', finished_at = clock_timestamp(), last_error = $2, last_sqlstate = $3
      WHERE step_id = $1 AND status <> 'completed'`,
    [stepId, error.message, error.sqlstate ?? null],
  );
}

export async function recordStepError(db: Queryable, t: Tables, stepId: string, error: { message: string; sqlstate?: string }): Promise<void> {
  await db.query(`UPDATE ${t.steps} SET last_error = $2, last_sqlstate = $3 WHERE step_id = $1`, [stepId, error.message, error.sqlstate ?? null]);
}

export async function setStatementsDone(db: Queryable, t: Tables, stepId: string, done: number): Promise<void> {
  await db.query(`UPDATE ${t.steps} SET statements_done = $2 WHERE step_id = $1`, [stepId, done]);
}

/** The status a paused run returns to: rolling back when it had begun undoing an up run, running otherwise. */
export async function resumedStatus(db: Queryable, t: Tables, run: Pick<RunRow, 'run_id' | 'direction'>): Promise<RunStatus> {
  if (run.direction === 'down') return 'running';
  const { rows } = await db.query(`SELECT 1 FROM ${t.steps} WHERE run_id = $1 AND direction = 'down' LIMIT 1`, [run.run_id]);
  return rows.length > 0 ? 'rolling_back' : 'running';
}
