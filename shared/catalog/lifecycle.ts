import type pg from 'pg';
import { ADVISORY_KEY_SQL, inTransaction, type Queryable } from '../db.js';
import { OperationError } from '../errors.js';
import type { ChunkRow } from './chunks.js';
import { hasDownSteps, type RunRow, type StepRow } from './runs.js';
import {
  ACTIVE_RUN_STATUSES,
  FINISHED_CHUNK_STATUSES,
  type ChunkStatus,
  type MigrationStatus,
  type RunStatus,
  type StepStatus,
} from './statuses.js';
import type { Tables } from './tables.js';

/**
 * The one owner of every state change of runs, steps, chunks and migration status. Each
 * transition is a named function whose UPDATE only matches rows in a state it may leave:
 * one that races with another process (a chunk finished meanwhile, a duplicate delivery)
 * reports that it did nothing; one that cannot happen in a correct fleet throws
 * IllegalTransitionError, rolling back the caller's transaction.
 */

export class IllegalTransitionError extends OperationError {
  override readonly name = 'IllegalTransitionError';
}

// ---------------------------------------------------------------- runs

/** The states a run may move to from each state. A failed run goes on only through `dlq retry`. */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  running: ['paused', 'completed', 'failed', 'rolling_back', 'rolled_back', 'cancelled'],
  paused: ['running', 'rolling_back', 'cancelled'],
  rolling_back: ['paused', 'rolled_back', 'failed', 'cancelled'],
  failed: ['running', 'rolling_back'],
  completed: [],
  rolled_back: [],
  cancelled: [],
};

const runSources = (to: RunStatus) => (Object.keys(RUN_TRANSITIONS) as RunStatus[]).filter((from) => RUN_TRANSITIONS[from].includes(to));

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

const runGateKey = (runId: string) => `pgfm-run:${runId}`;

/**
 * Changes a run's status once no sub-batch of it is in flight, inside the transaction that
 * decided the change; refuses a change RUN_TRANSITIONS does not allow.
 */
export async function setRunStatus(db: Queryable, t: Tables, runId: string, status: RunStatus, error: { message: string; code?: string | null } | null = null): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [runGateKey(runId)]);
  const result = await db.query(
    `UPDATE ${t.runs} SET status = $2, finished_at = $3::timestamptz, error = COALESCE($4, error), error_code = COALESCE($5, error_code)
      WHERE run_id = $1 AND status = ANY($6)`,
    [runId, status, ACTIVE_RUN_STATUSES.includes(status) ? null : 'now', error?.message ?? null, error?.code ?? null, runSources(status)],
  );
  if (result.rowCount === 1) return;
  const { rows } = await db.query<{ status: RunStatus }>(`SELECT status FROM ${t.runs} WHERE run_id = $1`, [runId]);
  throw new IllegalTransitionError(rows[0] ? `run ${runId} is ${rows[0].status}: it cannot become ${status}` : `run ${runId} is not in the catalog`, { runId });
}

/**
 * Whether work of `step` may go on in its run's current state: an up step while the run is
 * running, a down step while its run is undoing (a down run running, an up run rolling back).
 */
export function stepMayRun(run: Pick<RunRow, 'status' | 'direction'>, step: Pick<StepRow, 'direction'>): boolean {
  if (step.direction === 'up') return run.status === 'running';
  return run.direction === 'down' ? run.status === 'running' : run.status === 'rolling_back';
}

/** The status a paused run returns to: rolling back when it had begun undoing an up run, running otherwise. */
export async function resumedStatus(db: Queryable, t: Tables, run: Pick<RunRow, 'run_id' | 'direction'>): Promise<RunStatus> {
  if (run.direction === 'down') return 'running';
  return (await hasDownSteps(db, t, run.run_id)) ? 'rolling_back' : 'running';
}

// ---------------------------------------------------------------- steps

async function moveSteps(db: Queryable, t: Tables, stepIds: string[], to: StepStatus, from: readonly StepStatus[]): Promise<StepRow[]> {
  if (stepIds.length === 0) return [];
  const { rows } = await db.query<StepRow>(`UPDATE ${t.steps} SET status = $2 WHERE step_id = ANY($1::bigint[]) AND status = ANY($3) RETURNING *`, [stepIds, to, from]);
  return rows;
}

/** Pending steps whose stage has come: queued. Returns those that were still pending. */
export function queueSteps(db: Queryable, t: Tables, stepIds: string[]): Promise<StepRow[]> {
  return moveSteps(db, t, stepIds, 'queued', ['pending']);
}

/** Steps that will not run (their run stopped): cancelled, from any of `from`. */
export function cancelSteps(db: Queryable, t: Tables, stepIds: string[], from: readonly StepStatus[] = ['pending', 'queued']): Promise<StepRow[]> {
  return moveSteps(db, t, stepIds, 'cancelled', from);
}

/** Claims the step for this attempt; false when it was cancelled or finished meanwhile. */
export async function claimStep(db: Queryable, t: Tables, stepId: string, workerId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE ${t.steps} SET status = 'running', attempts = attempts + 1, worker_id = $2, started_at = COALESCE(started_at, clock_timestamp())
      WHERE step_id = $1 AND status IN ('queued', 'running', 'pending')`,
    [stepId, workerId],
  );
  return result.rowCount === 1;
}

/** The claimed step is done: only a running step completes. */
export async function completeStep(db: Queryable, t: Tables, stepId: string): Promise<void> {
  const result = await db.query(`UPDATE ${t.steps} SET status = 'completed', finished_at = clock_timestamp(), last_error = NULL WHERE step_id = $1 AND status = 'running'`, [stepId]);
  if (result.rowCount !== 1) throw new IllegalTransitionError(`step ${stepId} is not running: it cannot complete`);
}

/** The step failed for good; a completed step stays completed. */
export async function failStepRow(db: Queryable, t: Tables, stepId: string, error: { message: string; sqlstate?: string }): Promise<void> {
  await db.query(
    `UPDATE ${t.steps} SET status = 'failed', finished_at = clock_timestamp(), last_error = $2, last_sqlstate = $3 WHERE step_id = $1 AND status <> 'completed'`,
    [stepId, error.message, error.sqlstate ?? null],
  );
}

/** The error of the step's latest attempt, for status and the coordinator. */
export async function recordStepError(db: Queryable, t: Tables, stepId: string, error: { message: string; sqlstate?: string }): Promise<void> {
  await db.query(`UPDATE ${t.steps} SET last_error = $2, last_sqlstate = $3 WHERE step_id = $1`, [stepId, error.message, error.sqlstate ?? null]);
}

/** Progress of a step that runs statement by statement (or a backfill's committed preparation). */
export async function setStatementsDone(db: Queryable, t: Tables, stepId: string, done: number): Promise<void> {
  await db.query(`UPDATE ${t.steps} SET statements_done = $2 WHERE step_id = $1`, [stepId, done]);
}

/**
 * A queued or running step gets a new generation, hence a new job id: its old job ended
 * (its worker died, or its chunks finished and it must be visited again). With `generation`,
 * only if it is still that one, so two coordinators cannot bump twice.
 */
export async function requeueStep(db: Queryable, t: Tables, stepId: string, generation?: number): Promise<StepRow | undefined> {
  const { rows } = await db.query<StepRow>(
    `UPDATE ${t.steps} SET generation = generation + 1 WHERE step_id = $1 AND status IN ('queued', 'running') AND ($2::int IS NULL OR generation = $2) RETURNING *`,
    [stepId, generation ?? null],
  );
  return rows[0];
}

/** `dlq retry`: the failed step goes back in line under a new generation. */
export async function retryFailedStep(db: Queryable, t: Tables, stepId: string): Promise<StepRow> {
  const { rows } = await db.query<StepRow>(
    `UPDATE ${t.steps} SET status = 'queued', generation = generation + 1, finished_at = NULL WHERE step_id = $1 AND status = 'failed' RETURNING *`,
    [stepId],
  );
  if (!rows[0]) throw new IllegalTransitionError(`step ${stepId} is not failed any more`);
  return rows[0];
}

/** `dlq retry`: steps cancelled when their run failed get back to pending, to run after the retried one. */
export async function reopenCancelledSteps(db: Queryable, t: Tables, runId: string, direction: 'up' | 'down'): Promise<void> {
  await db.query(`UPDATE ${t.steps} SET status = 'pending' WHERE run_id = $1 AND direction = $2 AND status = 'cancelled'`, [runId, direction]);
}

/**
 * `cancel` of a run with backfills under way: those steps committed their preparation and may
 * have changed rows (and saved their old values), so they are recorded failed, which
 * `rollback --run` undoes and the next `up` finishes. Returns their migration ids.
 */
export async function failCancelledBackfills(db: Queryable, t: Tables, runId: string): Promise<string[]> {
  const { rows } = await db.query<{ migration_id: string }>(
    `UPDATE ${t.steps} s SET status = 'failed', finished_at = clock_timestamp(), last_error = 'cancelled while its chunks ran'
      WHERE s.run_id = $1 AND s.direction = 'up' AND s.kind = 'backfill' AND s.status = 'running'
        AND (s.statements_done > 0 OR EXISTS (SELECT 1 FROM ${t.chunks} c WHERE c.step_id = s.step_id))
    RETURNING s.migration_id`,
    [runId],
  );
  return rows.map((row) => row.migration_id);
}

// ---------------------------------------------------------------- chunks

/**
 * Queues up to `limit` more chunks of a step so that at most `limit` are queued or running:
 * the step's parallelism bound holds by construction, whatever the number of workers.
 */
export async function queueMoreChunks(db: pg.Pool | pg.ClientBase, t: Tables, stepId: string, limit: number): Promise<ChunkRow[]> {
  if ('totalCount' in db) return inTransaction(db, (client) => queueMoreChunks(client, t, stepId, limit));
  // Serialized per step (the caller's transaction holds the step row), so two chunks finishing
  // at the same instant cannot both hand out the last free slot.
  await db.query(`SELECT 1 FROM ${t.steps} WHERE step_id = $1 FOR UPDATE`, [stepId]);
  const { rows } = await db.query<ChunkRow>(
    `WITH busy AS (SELECT count(*) AS n FROM ${t.chunks} WHERE step_id = $1 AND status IN ('queued', 'running'))
     UPDATE ${t.chunks} SET status = 'queued' WHERE chunk_id IN (
       SELECT chunk_id FROM ${t.chunks} WHERE step_id = $1 AND status = 'pending'
        ORDER BY chunk_no LIMIT GREATEST(0, $2 - (SELECT n FROM busy)))
     RETURNING *`,
    [stepId, limit],
  );
  return rows;
}

/** Claims a chunk for this attempt; false when it was cancelled, paused or finished meanwhile. */
export async function claimChunk(db: Queryable, t: Tables, chunkId: string, workerId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE ${t.chunks} SET status = 'running', attempts = attempts + 1, worker_id = $2,
       started_at = COALESCE(started_at, clock_timestamp()), heartbeat_at = clock_timestamp(), throttle_state = NULL
     WHERE chunk_id = $1 AND status IN ('queued', 'running')`,
    [chunkId, workerId],
  );
  return result.rowCount === 1;
}

/** A sub-batch's checkpoint, in its transaction: only a running chunk advances. */
export async function recordChunkBatch(
  db: Queryable,
  t: Tables,
  chunkId: string,
  batch: { checkpoint: string[] | null; nextMark: number; keys: number; rowsChanged: number; batchSize: number; elapsedMs: number },
): Promise<void> {
  const result = await db.query(
    `UPDATE ${t.chunks} SET checkpoint = $2, next_mark = $7, keys_done = keys_done + $3, rows_changed = rows_changed + $4, batches = batches + 1,
       batch_size = $5, last_batch_ms = $6, heartbeat_at = clock_timestamp(), throttle_state = NULL
     WHERE chunk_id = $1 AND status = 'running'`,
    [chunkId, JSON.stringify(batch.checkpoint), batch.keys, batch.rowsChanged, batch.batchSize, batch.elapsedMs, batch.nextMark],
  );
  if (result.rowCount !== 1) throw new IllegalTransitionError(`chunk ${chunkId} is not running: its sub-batch cannot be recorded`);
}

/** A chunk stops (completed, failed, paused or cancelled); finished chunks stay finished, so a late duplicate cannot reopen one. */
export async function setChunkStatus(
  db: Queryable,
  t: Tables,
  chunkId: string,
  status: Exclude<ChunkStatus, 'pending' | 'queued' | 'running'>,
  error?: { message: string; sqlstate?: string },
): Promise<void> {
  await db.query(
    `UPDATE ${t.chunks} SET status = $2, finished_at = CASE WHEN $2 = ANY($5) THEN clock_timestamp() END,
       last_error = COALESCE($3, last_error), last_sqlstate = COALESCE($4, last_sqlstate)
     WHERE chunk_id = $1 AND NOT status = ANY($5)`,
    [chunkId, status, error?.message ?? null, error?.sqlstate ?? null, FINISHED_CHUNK_STATUSES],
  );
}

/** What the health governor says about a running chunk, for status and Bull Board. */
export async function setThrottleState(db: Queryable, t: Tables, chunkId: string, state: string | null): Promise<void> {
  await db.query(`UPDATE ${t.chunks} SET throttle_state = $2, heartbeat_at = clock_timestamp() WHERE chunk_id = $1`, [chunkId, state]);
}

/** A queued or running chunk whose job ended gets a new generation, hence a new job (only if still at `generation`). */
export async function requeueChunk(db: Queryable, t: Tables, chunkId: string, generation: number): Promise<ChunkRow | undefined> {
  const { rows } = await db.query<ChunkRow>(
    `UPDATE ${t.chunks} SET generation = generation + 1 WHERE chunk_id = $1 AND generation = $2 AND status IN ('queued', 'running') RETURNING *`,
    [chunkId, generation],
  );
  return rows[0];
}

/** Paused chunks of a run, or of one step, go back in line under a new generation (their old jobs ended). */
export async function requeuePausedChunks(db: Queryable, t: Tables, scope: { runId: string } | { stepId: string }): Promise<Array<ChunkRow & { migration_id: string }>> {
  const { rows } = await db.query<ChunkRow & { migration_id: string }>(
    `UPDATE ${t.chunks} c SET status = 'queued', generation = c.generation + 1 FROM ${t.steps} s
      WHERE c.step_id = s.step_id AND c.${'runId' in scope ? 'run_id' : 'step_id'} = $1 AND c.status = 'paused' RETURNING c.*, s.migration_id`,
    ['runId' in scope ? scope.runId : scope.stepId],
  );
  return rows;
}

/** `cancel`: chunks not running are cancelled; running ones stop at their next sub-batch, when they read the run's status. */
export async function cancelOpenChunks(db: Queryable, t: Tables, runId: string): Promise<void> {
  await db.query(`UPDATE ${t.chunks} SET status = 'cancelled' WHERE run_id = $1 AND status IN ('pending', 'queued', 'paused')`, [runId]);
}

/** `dlq retry` of a backfill: it goes on from its chunks' checkpoints, so failed and stopped chunks get back in line. */
export async function reopenStoppedChunks(db: Queryable, t: Tables, stepId: string): Promise<void> {
  await db.query(`UPDATE ${t.chunks} SET status = 'pending', generation = generation + 1 WHERE step_id = $1 AND status IN ('failed', 'cancelled', 'paused')`, [stepId]);
}

// ---------------------------------------------------------------- migration status

export interface MigrationStatusRow {
  migration_id: string;
  environment: string;
  status: MigrationStatus;
  applied_checksum: string | null;
  run_id: string | null;
  backup_table: string | null;
}

/** A migration's status in one environment (undefined: never started there). */
export async function readMigrationStatus(db: Queryable, t: Tables, migrationId: string, environment: string): Promise<MigrationStatusRow | undefined> {
  const { rows } = await db.query<MigrationStatusRow>(
    `SELECT migration_id, environment, status, applied_checksum, run_id, backup_table FROM ${t.migration_status} WHERE migration_id = $1 AND environment = $2`,
    [migrationId, environment],
  );
  return rows[0];
}

export async function setMigrationStatus(
  db: Queryable,
  t: Tables,
  status: {
    migrationId: string;
    environment: string;
    status: Exclude<MigrationStatus, 'running'>;
    checksum?: string;
    fileChecksums?: Record<string, string>;
    runId: string | null;
    /** A backfill's table of old values, recorded when it completes. */
    backupTable?: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO ${t.migration_status} AS s (migration_id, environment, status, applied_checksum, applied_file_checksums, applied_at, rolled_back_at, run_id, backup_table)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $3 = 'completed' THEN now() END, CASE WHEN $3 = 'rolled_back' THEN now() END, $6, $7)
     ON CONFLICT (migration_id, environment) DO UPDATE SET status = EXCLUDED.status,
       applied_checksum = COALESCE(EXCLUDED.applied_checksum, s.applied_checksum),
       applied_file_checksums = COALESCE(EXCLUDED.applied_file_checksums, s.applied_file_checksums),
       applied_at = COALESCE(EXCLUDED.applied_at, s.applied_at),
       rolled_back_at = CASE WHEN EXCLUDED.status = 'rolled_back' THEN now() ELSE s.rolled_back_at END,
       backup_table = COALESCE(EXCLUDED.backup_table, s.backup_table),
       run_id = EXCLUDED.run_id, updated_at = now()`,
    [
      status.migrationId, status.environment, status.status, status.checksum ?? null,
      status.fileChecksums ? JSON.stringify(status.fileChecksums) : null, status.runId, status.backupTable ?? null,
    ],
  );
}

/** `repair`: the edited files of an applied migration are accepted as what was applied. */
export async function acceptChecksums(db: Queryable, t: Tables, migrationId: string, environment: string, checksum: string, fileChecksums: Record<string, string>): Promise<void> {
  await db.query(
    `UPDATE ${t.migration_status} SET applied_checksum = $3, applied_file_checksums = $4, updated_at = now() WHERE migration_id = $1 AND environment = $2`,
    [migrationId, environment, checksum, JSON.stringify(fileChecksums)],
  );
}

/** `backups drop`: the migration no longer has a backup to restore from. */
export async function forgetBackupTable(db: Queryable, t: Tables, backupTable: string): Promise<void> {
  await db.query(`UPDATE ${t.migration_status} SET backup_table = NULL WHERE backup_table = $1`, [backupTable]);
}
