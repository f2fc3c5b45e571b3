import type pg from 'pg';
import { readChunk, type ChunkRow } from '../shared/catalog/chunks.js';
import { claimChunk, passRunGate, recordChunkBatch, setChunkStatus, setThrottleState, stepMayRun } from '../shared/catalog/lifecycle.js';
import { backupTableName, findBackupTable } from '../shared/catalog/backups.js';
import { readRun, readRunState, readStep, type RunRow, type StepRow } from '../shared/catalog/runs.js';
import type { ChunkJobData } from '../shared/jobs.js';
import { backoffDelay } from '../shared/fleet.js';
import type { Logger } from '../shared/logger.js';
import { isRetryable } from '../shared/sqlstate.js';
import type { BackfillSpec } from '../shared/definitions/schema.js';
import { OperationError, ShutdownError } from '../shared/errors.js';
import { nextBatchSize, resolveTarget, runForwardBatch, SubBatchBounds, type SubBatchPlan } from './backfill.js';
import { handOutChunks } from './backfill-step.js';
import type { RunnerDeps } from './step-context.js';
import { RestoreBounds, runRestoreBatch } from './restore.js';
import { readStoredMigration } from '../shared/catalog/definitions.js';
import { advisorySessionUnlock, applyTimeouts, migrationTimeouts, resetSession, tryAdvisorySessionLock, type Timeouts } from './session.js';
import type { HealthGovernor, RateLimiter } from './throttle.js';

export interface ChunkProgress {
  chunk: number;
  keysDone: number;
  keysTotal: number;
  rowsChanged: number;
  batchSize: number;
  rowsPerSecond: number;
  throttle: string | null;
}

/** A step's dependencies, plus the fleet-wide throttles and the step queue a finished chunk reports to. */
export interface ChunkDeps extends RunnerDeps {
  limiter: RateLimiter;
  governor: HealthGovernor;
  enqueueSteps: (steps: StepRow[]) => Promise<void>;
}

export type ChunkOutcome = 'completed' | 'skipped' | 'paused' | 'cancelled';

/** Lock timeouts and deadlocks inside a sub-batch are retried in place, this many times in a row. */
const MAX_BATCH_RETRIES = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one chunk of a backfill: keyset sub-batches from its checkpoint to its upper bound.
 * Each sub-batch is one short transaction that changes the rows, saves their old values
 * and advances the checkpoint together, so a worker killed at any instant leaves a
 * checkpoint another worker resumes from: no row skipped, none changed twice.
 */
export async function runChunk(deps: ChunkDeps, data: ChunkJobData, report: (progress: ChunkProgress) => Promise<void>): Promise<ChunkOutcome> {
  const { pool, tables: t } = deps;
  const chunk = await readChunk(pool, t, data.chunkId);
  if (!chunk || ['completed', 'cancelled', 'failed'].includes(chunk.status)) return 'skipped';
  const run = await readRun(pool, t, chunk.run_id);
  const step = await readStep(pool, t, chunk.step_id);
  if (!run || !step) return 'skipped';
  const stopped = stoppedOutcome(run, step);
  if (stopped) {
    await setChunkStatus(pool, t, chunk.chunk_id, stopped);
    return stopped;
  }
  const client = await pool.connect();
  // One loop per chunk: a duplicate delivery (Redis lost the job while a worker still ran it)
  // finds the lock taken and leaves the chunk to its owner, whose session holds it until it ends.
  const lockKey = `pgfm-chunk:${chunk.chunk_id}`;
  let locked: boolean;
  try {
    locked = await tryAdvisorySessionLock(client, lockKey);
  } catch (error) {
    client.release(true);
    throw error;
  }
  if (!locked) {
    client.release();
    return 'skipped';
  }
  let healthy = true;
  try {
    if (!(await claimChunk(client, t, chunk.chunk_id, deps.workerId))) return 'skipped';
    return await runClaimedChunk(client, deps, chunk, run, step, report);
  } catch (error) {
    healthy = false;
    throw error;
  } finally {
    if (healthy) await advisorySessionUnlock(client, lockKey).catch(() => (healthy = false));
    // `set` and `where` may call functions that change session settings: hand the connection on clean.
    if (healthy) healthy = await resetSession(client);
    client.release(healthy ? undefined : true);
  }
}

/** Why a chunk of `step` must not go on while its run is in this state (null: it may run). */
function stoppedOutcome(run: Pick<RunRow, 'status' | 'direction'>, step: StepRow): 'paused' | 'cancelled' | null {
  if (run.status === 'paused') return 'paused';
  return stepMayRun(run, step) ? null : 'cancelled';
}

/**
 * What one chunk's sub-batches do: a forward chunk applies `set` to a key range (and saves
 * the old values), a restore chunk puts saved values back from a range of the backup's blocks.
 * Everything else (gate, limits, governor, sizes, checkpoints) is the one loop below.
 */
interface BatchSource {
  plan(client: pg.ClientBase, lower: string[] | null, size: number): Promise<SubBatchPlan>;
  advance(plan: SubBatchPlan): void;
  run(client: pg.ClientBase, lower: string[] | null, upper: string[] | null): Promise<number>;
}

async function runClaimedChunk(
  client: pg.PoolClient,
  deps: ChunkDeps,
  chunk: ChunkRow,
  run: RunRow,
  step: StepRow,
  report: (progress: ChunkProgress) => Promise<void>,
): Promise<ChunkOutcome> {
  const { tables: t } = deps;
  const migration = await readStoredMigration(client, t, step.migration_id);
  const spec = migration.meta.backfill!;
  const timeouts = migrationTimeouts(migration.meta, deps.config);
  const logger = deps.logger.child({ runId: run.run_id, stepId: step.step_id, chunk: chunk.chunk_no, migrationId: step.migration_id, direction: step.direction });
  await client.query('SET row_security = off');
  const target = await resolveTarget(client, spec, migration.migrationId);
  // The claim may be a resumption: read the checkpoint the previous owner committed.
  const current = (await readChunk(client, t, chunk.chunk_id))!;
  let source: BatchSource;
  if (step.direction === 'up') {
    const backupTable = spec.set !== undefined && spec.backup ? backupTableName(t, step.step_id) : null;
    const bounds = new SubBatchBounds(target, current.marks ?? [], current.mark_keys ?? 0, current.upper_bound, {
      lower: current.checkpoint ?? current.lower_bound,
      rangeLower: current.lower_bound,
      nextMark: current.next_mark,
    });
    source = {
      plan: (c, lower, size) => bounds.plan(c, lower, size),
      advance: (plan) => bounds.advance(plan),
      run: (c, lower, upper) => runForwardBatch(c, spec, target, backupTable, lower, upper),
    };
  } else {
    const backupTable = await findBackupTable(client, t, step.migration_id, run.environment);
    if (!backupTable) throw new OperationError(`the backup of ${step.migration_id} is gone: cannot restore`, { migrationId: step.migration_id, runId: run.run_id });
    const bounds = new RestoreBounds(current);
    source = {
      plan: (c, lower, size) => bounds.plan(c, lower, size),
      advance: () => bounds.advance(),
      run: (c, lower, upper) => runRestoreBatch(c, target, backupTable, lower, upper),
    };
  }
  const outcome = await batchLoop(client, deps, { chunk: current, run, step, spec, source, timeouts, logger, report });
  if (outcome === 'completed') await handOutChunks(deps, step, spec.max_parallel_chunks);
  return outcome;
}

interface LoopContext {
  chunk: ChunkRow;
  run: RunRow;
  step: StepRow;
  spec: BackfillSpec;
  source: BatchSource;
  timeouts: Timeouts;
  logger: Logger;
  report: (progress: ChunkProgress) => Promise<void>;
}

async function batchLoop(client: pg.PoolClient, deps: ChunkDeps, ctx: LoopContext): Promise<ChunkOutcome> {
  const { chunk, spec } = ctx;
  const t = deps.tables;
  let lower = chunk.checkpoint ?? chunk.lower_bound;
  let size = chunk.batch_size ?? spec.initial_batch_size;
  let keysDone = Number(chunk.keys_done);
  let rowsChanged = Number(chunk.rows_changed);
  let retries = 0;
  const started = performance.now();
  const progress = (throttle: string | null) =>
    ctx.report({
      chunk: chunk.chunk_no,
      keysDone,
      keysTotal: Number(chunk.keys_total),
      rowsChanged,
      batchSize: size,
      rowsPerSecond: Math.round(((keysDone - Number(chunk.keys_done)) * 1000) / Math.max(1, performance.now() - started)),
      throttle,
    });

  for (;;) {
    if (deps.stopping()) throw new ShutdownError('worker shutting down: the chunk resumes from its checkpoint elsewhere', { runId: chunk.run_id });
    const unhealthy = await waitUntilHealthy(client, deps, ctx, progress);
    if (unhealthy) return unhealthy;
    const wait = await deps.limiter.reserve(ctx.step.step_id, size, spec.max_rows_per_second);
    if (wait > 0) await sleep(wait);

    const batchStarted = performance.now();
    await client.query('BEGIN');
    let plan: SubBatchPlan;
    let rowsChangedNow: number;
    try {
      await applyTimeouts(client, ctx.timeouts, true);
      // Pausing, cancelling or rolling back waits for this sub-batch; the status read after the gate is current.
      await passRunGate(client, chunk.run_id);
      const run = await readRunState(client, t, chunk.run_id);
      const stopped = run ? stoppedOutcome(run, ctx.step) : 'cancelled';
      if (stopped) {
        await client.query('ROLLBACK');
        await setChunkStatus(client, t, chunk.chunk_id, stopped);
        ctx.logger.info({ status: run?.status }, `chunk ${stopped}`);
        return stopped;
      }
      plan = await ctx.source.plan(client, lower, size);
      rowsChangedNow = await ctx.source.run(client, lower, plan.upper);
      // Progress counts against the keys found at the split; rows inserted since must not push it past 100%.
      const remaining = Math.max(0, Number(chunk.keys_total) - keysDone);
      const keys = plan.done ? remaining : Math.min(plan.keys, remaining);
      const elapsedMs = performance.now() - batchStarted;
      await recordChunkBatch(client, t, chunk.chunk_id, { checkpoint: plan.upper, nextMark: plan.nextMark, keys, rowsChanged: rowsChangedNow, batchSize: plan.keys, elapsedMs });
      if (plan.done) await setChunkStatus(client, t, chunk.chunk_id, 'completed');
      await client.query('COMMIT');
      ctx.source.advance(plan);
      keysDone += keys;
      rowsChanged += rowsChangedNow;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (!isRetryable(error) || ++retries > MAX_BATCH_RETRIES) throw error;
      // A lock timeout or deadlock: back off and try a smaller batch rather than queue behind the lock.
      size = Math.max(1, Math.floor(size / 2));
      ctx.logger.warn({ err: error, retries, size }, 'sub-batch retried');
      await sleep(backoffDelay(deps.config, retries));
      continue;
    }
    retries = 0;
    const elapsed = performance.now() - batchStarted;
    ctx.logger.debug({ size: plan.keys, elapsedMs: Math.round(elapsed * 10) / 10, rowsChanged: rowsChangedNow }, 'sub-batch');
    await progress(null);
    if (plan.done) return 'completed';
    lower = plan.upper;
    size = nextBatchSize(plan.keys, elapsed, spec);
  }
}

/** Sleeps while the health governor says no; returns an outcome if the run stopped meanwhile. */
async function waitUntilHealthy(
  client: pg.PoolClient,
  deps: ChunkDeps,
  ctx: LoopContext,
  progress: (throttle: string | null) => Promise<void>,
): Promise<ChunkOutcome | undefined> {
  let pauses = 0;
  for (;;) {
    const reason = await deps.governor.check(client, ctx.spec.health_query);
    if (reason === null) {
      if (pauses > 0) {
        await setThrottleState(client, deps.tables, ctx.chunk.chunk_id, null);
        ctx.logger.info('database healthy again: resuming');
      }
      return undefined;
    }
    if (pauses++ === 0) ctx.logger.warn({ reason }, 'backfill paused by the health governor');
    await setThrottleState(client, deps.tables, ctx.chunk.chunk_id, `paused: ${reason}`);
    await progress(`paused: ${reason}`);
    await sleep(Math.min(5000, 250 * 2 ** Math.min(pauses, 5)));
    const run = await readRunState(client, deps.tables, ctx.chunk.run_id);
    const stopped = run ? stoppedOutcome(run, ctx.step) : 'cancelled';
    if (stopped) {
      await setChunkStatus(client, deps.tables, ctx.chunk.chunk_id, stopped);
      return stopped;
    }
    if (deps.stopping()) throw new ShutdownError('worker shutting down while the backfill was paused', { runId: ctx.chunk.run_id });
  }
}
