import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';
import { ACTIVE_RUN_STATUSES, type Direction, type RunStatus, type StepStatus } from './statuses.js';

export type { Direction, RunStatus, StepStatus };

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

/** A run's status and direction only: what a sub-batch checks each time (the stored plan can be large). */
export async function readRunState(db: Queryable, t: Tables, runId: string): Promise<Pick<RunRow, 'status' | 'direction'> | undefined> {
  const { rows } = await db.query<Pick<RunRow, 'status' | 'direction'>>(`SELECT status, direction FROM ${t.runs} WHERE run_id = $1`, [runId]);
  return rows[0];
}

export async function latestRuns(db: Queryable, t: Tables, limit: number): Promise<RunRow[]> {
  const { rows } = await db.query<RunRow>(`SELECT * FROM ${t.runs} ORDER BY created_at DESC LIMIT $1`, [limit]);
  return rows;
}

/** Whether an up run has begun undoing itself (it has down steps). */
export async function hasDownSteps(db: Queryable, t: Tables, runId: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM ${t.steps} WHERE run_id = $1 AND direction = 'down' LIMIT 1`, [runId]);
  return rows.length > 0;
}

export async function runSteps(db: Queryable, t: Tables, runId: string): Promise<StepRow[]> {
  const { rows } = await db.query<StepRow>(`SELECT * FROM ${t.steps} WHERE run_id = $1 ORDER BY direction DESC, stage, migration_id`, [runId]);
  return rows;
}

export async function readStep(db: Queryable, t: Tables, stepId: string, options: { forUpdate?: boolean } = {}): Promise<StepRow | undefined> {
  const { rows } = await db.query<StepRow>(`SELECT * FROM ${t.steps} WHERE step_id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`, [stepId]);
  return rows[0];
}

