import type pg from 'pg';
import { recordAudit } from '../shared/catalog/audit.js';
import {
  abandonRunningExecutions,
  completeExecution,
  failExecution,
  dispatchedExecution,
  skipExecution,
  startExecution,
} from '../shared/catalog/executions.js';
import {
  cancelSteps,
  claimStep,
  completeStep,
  queueMoreChunks,
  readMigrationStatus,
  setMigrationStatus,
  setStatementsDone,
  stepMayRun,
} from '../shared/catalog/lifecycle.js';
import { readRun, readStep, type RunRow, type StepRow } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import type { StepJobData } from '../shared/jobs.js';
import { OperationError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { SqlScript } from '../shared/definitions/loader.js';
import type { SqlStatement } from '../shared/sql/statements.js';
import { quoteIdent } from '../shared/sql/quote.js';
import { insertChunks, stepChunks, type ChunkRow, type NewChunk } from '../shared/catalog/chunks.js';
import { ensureBackupTable, explainBackfill, resolveTarget, splitKeySpace } from './backfill.js';
import { splitBackup } from './restore.js';
import { backupTableName, findBackupTable } from '../shared/catalog/backups.js';
import { readStoredMigration, type StoredMigration } from '../shared/catalog/definitions.js';
import { runMigrationTests } from './migration-tests.js';
import {
  advisorySessionUnlock,
  advisoryXactLock,
  applyTimeouts,
  migrationTimeouts,
  expectAllTrue,
  resetSession,
  tryAdvisorySessionLock,
  type Timeouts,
} from './session.js';

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

const migrationLockKey = (environment: string, migrationId: string) => `pgfm-migration:${environment}:${migrationId}`;


/**
 * Executes one step job. Safe to deliver twice: a transactional step's effect, its
 * migration status and its execution record commit together under an advisory lock;
 * other kinds record progress statement by statement or batch by batch.
 */
export async function runStep(deps: RunnerDeps, data: StepJobData, attempt: number): Promise<StepOutcome> {
  const { pool, tables: t, config, workerId } = deps;
  const step = await readStep(pool, t, data.stepId);
  const run = step && (await readRun(pool, t, step.run_id));
  if (!step || !run) throw new OperationError(`step ${data.stepId} is not in the catalog`, { runId: data.runId, migrationId: data.migrationId });
  if (step.status === 'completed' || step.status === 'cancelled' || step.status === 'failed') return 'skipped';
  // A paused run keeps its steps queued: the coordinator re-drives them after resume.
  if (run.status === 'paused') return 'skipped';
  if (!stepMayRun(run, step)) {
    await cancelSteps(pool, t, [step.step_id], ['pending', 'queued', 'running']);
    return 'skipped';
  }

  await abandonRunningExecutions(pool, t, step.step_id);
  if (!(await claimStep(pool, t, step.step_id, workerId))) return 'skipped';
  const migration = await readStoredMigration(pool, t, step.migration_id);
  if (step.direction === 'up' && migration.checksum !== step.checksum) {
    throw new OperationError(`migration ${step.migration_id} changed after the run was planned; start a new run`, {
      migrationId: step.migration_id,
      runId: run.run_id,
    });
  }
  const client = await pool.connect();
  let healthy = true;
  const executionId = await startExecution(client, t, {
    migrationId: step.migration_id,
    environment: run.environment,
    executionType: step.direction === 'up' ? 'forward' : 'rollback',
    runId: run.run_id,
    stepId: step.step_id,
    attempt,
    workerId,
    executedBy: run.created_by,
  }).catch((error) => {
    client.release(true);
    throw error;
  });
  const logger = deps.logger.child({ runId: run.run_id, stepId: step.step_id, migrationId: step.migration_id, direction: step.direction, attempt });
  const timeouts = migrationTimeouts(migration.meta, config);
  const context: ExecutionContext = { deps, run, step, migration, executionId, timeouts, logger };
  try {
    logger.info('step started');
    const outcome = await execute(client, context);
    if (outcome === 'dispatched') await dispatchedExecution(client, t, executionId);
    if (outcome === 'skipped') await skipExecution(client, t, executionId, 'another live attempt holds the migration');
    logger.info({ outcome }, 'step finished');
    return outcome;
  } catch (error) {
    healthy = false;
    await failExecution(pool, t, executionId, {
      message: (error as Error).message,
      sqlstate: (error as { code?: string }).code,
      details: { position: (error as { position?: string }).position, where: (error as { where?: string }).where },
    }).catch((recordError) => logger.error({ err: recordError }, 'could not record the failed attempt'));
    throw error;
  } finally {
    // The next step starts from a clean session, as psql's one session per file would: nothing a
    // migration SET, created as temporary or locked reaches it. A connection that saw an error
    // is never reused.
    if (healthy) healthy = await resetSession(client);
    client.release(healthy ? undefined : true);
  }
}

interface ExecutionContext {
  deps: RunnerDeps;
  run: RunRow;
  step: StepRow;
  migration: StoredMigration;
  executionId: string;
  timeouts: Timeouts;
  logger: Logger;
}

async function execute(client: pg.PoolClient, ctx: ExecutionContext): Promise<StepOutcome> {
  const { step, migration } = ctx;
  if (step.direction === 'up') {
    if (migration.meta.backfill) return backfillUp(client, ctx);
    return migration.up.transactional && migration.meta.transaction !== 'per_statement'
      ? transactionalStep(client, ctx, migration.up)
      : statementByStatementStep(client, ctx, migration.up);
  }
  if (migration.meta.backfill?.set !== undefined && migration.meta.backfill.backup) return backfillDown(client, ctx);
  if (!migration.down) {
    throw new OperationError(`migration ${migration.migrationId} is irreversible (no down.sql)`, { migrationId: migration.migrationId });
  }
  return migration.down.transactional && migration.meta.transaction !== 'per_statement'
    ? transactionalStep(client, ctx, migration.down)
    : statementByStatementStep(client, ctx, migration.down);
}

async function currentStatus(client: pg.ClientBase, ctx: ExecutionContext): Promise<string | undefined> {
  return (await readMigrationStatus(client, ctx.deps.tables, ctx.migration.migrationId, ctx.run.environment))?.status;
}

/** Whether the migration's effect is already where this step wants it (a redelivered or repeated job). */
function alreadyDone(ctx: ExecutionContext, status: string | undefined): boolean {
  return ctx.step.direction === 'up' ? status === 'completed' : status !== 'completed' && status !== 'failed';
}

/** Validation, tests, status and records: committed in the caller's transaction together with the effect. */
async function finish(client: pg.ClientBase, ctx: ExecutionContext, result: { rowsAffected: number | null; statementsDone: number; backupTable?: string }): Promise<void> {
  const { deps, run, step, migration } = ctx;
  const t = deps.tables;
  if (step.direction === 'up') {
    for (const statement of migration.verify?.statements ?? []) await client.query(statement.text);
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

async function markAlreadyDone(client: pg.ClientBase, ctx: ExecutionContext): Promise<StepOutcome> {
  await skipExecution(client, ctx.deps.tables, ctx.executionId);
  await completeStep(client, ctx.deps.tables, ctx.step.step_id);
  return 'already-done';
}

async function inTx<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
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

async function transactionalStep(client: pg.PoolClient, ctx: ExecutionContext, script: SqlScript): Promise<StepOutcome> {
  return inTx(client, async () => {
    await applyTimeouts(client, ctx.timeouts, true);
    await advisoryXactLock(client, migrationLockKey(ctx.run.environment, ctx.migration.migrationId));
    if (alreadyDone(ctx, await currentStatus(client, ctx))) return markAlreadyDone(client, ctx);
    if (ctx.step.direction === 'up') await expectAllTrue(client, ctx.migration.meta.prerequisite_checks, 'prerequisite check', ctx.migration.migrationId);
    let rows = 0;
    for (const statement of script.statements) rows += (await client.query(statement.text)).rowCount ?? 0;
    await finish(client, ctx, { rowsAffected: rows, statementsDone: script.statements.length });
    return 'applied';
  });
}

/** Drops the INVALID index a failed CREATE INDEX CONCURRENTLY leaves behind, so a retry starts clean. */
async function dropInvalidIndex(client: pg.ClientBase, statement: SqlStatement): Promise<void> {
  const index = statement.concurrentIndex;
  if (!index) return;
  const { rows } = await client.query<{ schema: string }>(
    `SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2 AND NOT i.indisvalid`,
    [index.schema, index.name],
  );
  if (rows[0]) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(rows[0].schema)}.${quoteIdent(index.name)}`);
}

async function validIndexExists(client: pg.ClientBase, statement: SqlStatement): Promise<boolean> {
  const index = statement.concurrentIndex;
  if (!index) return false;
  const { rows } = await client.query(
    `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2 AND i.indisvalid`,
    [index.schema, index.name],
  );
  return rows.length > 0;
}

/**
 * Statements that cannot share a transaction run one by one; progress is recorded after
 * each, so a redelivered job continues where the last attempt stopped. A session-level
 * advisory lock keeps two workers off the same migration.
 */
async function statementByStatementStep(client: pg.PoolClient, ctx: ExecutionContext, script: SqlScript): Promise<StepOutcome> {
  const { deps, step, migration } = ctx;
  const t = deps.tables;
  const key = migrationLockKey(ctx.run.environment, migration.migrationId);
  // Another live session owns the migration (a duplicate delivery): leave it to the owner; if
  // the owner dies, reconciliation sends the step out again.
  if (!(await tryAdvisorySessionLock(client, key))) return 'skipped';
  try {
    if (alreadyDone(ctx, await currentStatus(client, ctx))) return await markAlreadyDone(client, ctx);
    await applyTimeouts(client, ctx.timeouts, false);
    if (step.direction === 'up') await expectAllTrue(client, migration.meta.prerequisite_checks, 'prerequisite check', migration.migrationId);
    const done = (await readStep(client, t, step.step_id))!.statements_done;
    let rowsAffected = 0;
    for (let index = done; index < script.statements.length; index++) {
      const statement = script.statements[index]!;
      if (statement.transactional) {
        await inTx(client, async () => {
          rowsAffected += (await client.query(statement.text)).rowCount ?? 0;
          await setStatementsDone(client, t, step.step_id, index + 1);
        });
      } else {
        if (ctx.step.attempts > 0 && (await validIndexExists(client, statement))) {
          // An earlier attempt built it and died before recording that: nothing left to do.
          await setStatementsDone(client, t, step.step_id, index + 1);
          continue;
        }
        await dropInvalidIndex(client, statement);
        try {
          await client.query(statement.text);
        } catch (error) {
          await dropInvalidIndex(client, statement).catch(() => undefined);
          throw error;
        }
        await setStatementsDone(client, t, step.step_id, index + 1);
      }
    }
    await inTx(client, async () => {
      await applyTimeouts(client, ctx.timeouts, true);
      await finish(client, ctx, { rowsAffected, statementsDone: script.statements.length });
    });
    return 'applied';
  } finally {
    await client.query('RESET lock_timeout; RESET statement_timeout').catch(() => undefined);
    await advisorySessionUnlock(client, key).catch(() => undefined);
  }
}

/**
 * Splits a backfill step's work into chunks once, then hands them out, at most
 * max_parallel_chunks at a time. 'dispatched' while any chunk is unfinished; the chunks
 * once every one completed.
 */
async function dispatchChunks(client: pg.PoolClient, ctx: ExecutionContext, split: () => Promise<NewChunk[]>): Promise<ChunkRow[] | 'dispatched'> {
  const { deps, step, migration } = ctx;
  const t = deps.tables;
  const spec = migration.meta.backfill!;
  let chunks = await stepChunks(client, t, step.step_id);
  if (chunks.length === 0) {
    const ranges = await split();
    if (ranges.length === 0) return [];
    await inTx(client, async () => {
      await insertChunks(client, t, step.step_id, ctx.run.run_id, ranges);
      await queueMoreChunks(client, t, step.step_id, spec.max_parallel_chunks);
    });
    ctx.logger.info({ chunks: ranges.length, keys: ranges.reduce((sum, r) => sum + r.keys, 0) }, `${step.direction === 'up' ? 'backfill' : 'restore'} split into chunks`);
    chunks = await stepChunks(client, t, step.step_id);
  }
  // Chunks a dead-letter retry put back in line (and any slot freed by a crash) are handed out again.
  if (chunks.some((chunk) => chunk.status === 'pending')) {
    await inTx(client, () => queueMoreChunks(client, t, step.step_id, spec.max_parallel_chunks));
    chunks = await stepChunks(client, t, step.step_id);
  }
  const failed = chunks.find((chunk) => chunk.status === 'failed');
  if (failed) throw new OperationError(`chunk ${failed.chunk_no} failed: ${failed.last_error}`, { migrationId: migration.migrationId, sqlstate: failed.last_sqlstate ?? undefined });
  if (!chunks.every((chunk) => chunk.status === 'completed')) {
    await deps.enqueueChunks(chunks.filter((chunk) => chunk.status === 'queued' || chunk.status === 'running'), migration.migrationId);
    return 'dispatched';
  }
  return chunks;
}

/**
 * A data migration, in three visits of the same step job: the preparation (up.sql) in one
 * transaction; the split of the key space into chunk jobs (stored, then enqueued, at most
 * max_parallel_chunks at a time); and, once the last chunk completed, the verification and
 * status that close the step.
 */
async function backfillUp(client: pg.PoolClient, ctx: ExecutionContext): Promise<StepOutcome> {
  const { deps, step, migration } = ctx;
  const t = deps.tables;
  const spec = migration.meta.backfill!;
  const key = migrationLockKey(ctx.run.environment, migration.migrationId);
  // Another live session owns the migration (a duplicate delivery): leave it to the owner; if
  // the owner dies, reconciliation sends the step out again.
  if (!(await tryAdvisorySessionLock(client, key))) return 'skipped';
  try {
    if (alreadyDone(ctx, await currentStatus(client, ctx))) return await markAlreadyDone(client, ctx);
    const backupTable = spec.set !== undefined && spec.backup ? backupTableName(t, step.step_id) : null;
    if ((await readStep(client, t, step.step_id))!.statements_done === 0) {
      // The preparation commits only together with the proof that the backfill can start (its
      // table, key and expressions resolve and plan, its backup exists): if it cannot, nothing
      // of up.sql stays behind for a rollback to find.
      await inTx(client, async () => {
        await applyTimeouts(client, ctx.timeouts, true);
        await expectAllTrue(client, migration.meta.prerequisite_checks, 'prerequisite check', migration.migrationId);
        for (const statement of migration.up.statements) await client.query(statement.text);
        await client.query('SET LOCAL row_security = off');
        const target = await resolveTarget(client, spec, migration.migrationId);
        await explainBackfill(client, spec, target);
        if (backupTable) await ensureBackupTable(client, target, backupTable);
        await setStatementsDone(client, t, step.step_id, migration.up.statements.length);
      });
    }
    await client.query(`SET row_security = off`);
    const chunks = await dispatchChunks(client, ctx, async () => {
      const target = await resolveTarget(client, spec, migration.migrationId);
      const chunkKeys = spec.chunk_keys ?? deps.config.CHUNK_KEYS;
      // Marks a fraction of a first batch apart (sizes round down to whole marks), at most 1,000 per chunk.
      const markKeys = Math.max(1, Math.ceil(spec.initial_batch_size / 4), Math.ceil(chunkKeys / 1000));
      return splitKeySpace(client, target, chunkKeys, markKeys);
    });
    if (chunks === 'dispatched') return 'dispatched';
    const rowsChanged = chunks.reduce((sum, chunk) => sum + Number(chunk.rows_changed), 0);
    await inTx(client, async () => {
      await applyTimeouts(client, ctx.timeouts, true);
      await finish(client, ctx, { rowsAffected: rowsChanged, statementsDone: migration.up.statements.length, backupTable: backupTable ?? undefined });
    });
    return 'applied';
  } finally {
    await client.query('RESET row_security').catch(() => undefined);
    await advisorySessionUnlock(client, key).catch(() => undefined);
  }
}

/**
 * Rolls a declarative backfill back: its backup is split into chunks of blocks that the fleet
 * restores like a forward backfill (gated, throttled, governed, checkpointed); once every
 * chunk completed, down.sql runs and closes the step.
 */
async function backfillDown(client: pg.PoolClient, ctx: ExecutionContext): Promise<StepOutcome> {
  const { deps, migration } = ctx;
  const t = deps.tables;
  const key = migrationLockKey(ctx.run.environment, migration.migrationId);
  // Another live session owns the migration (a duplicate delivery): leave it to the owner; if
  // the owner dies, reconciliation sends the step out again.
  if (!(await tryAdvisorySessionLock(client, key))) return 'skipped';
  try {
    const status = await currentStatus(client, ctx);
    if (alreadyDone(ctx, status)) return await markAlreadyDone(client, ctx);
    const spec = migration.meta.backfill!;
    const backupTable = await findBackupTable(client, t, migration.migrationId, ctx.run.environment);
    let rowsRestored: number | null = null;
    if (backupTable) {
      const chunks = await dispatchChunks(client, ctx, () => splitBackup(client, backupTable, spec.chunk_keys ?? deps.config.CHUNK_KEYS));
      if (chunks === 'dispatched') return 'dispatched';
      rowsRestored = chunks.reduce((sum, chunk) => sum + Number(chunk.rows_changed), 0);
    } else if (status === 'completed') {
      throw new OperationError(`no backup of old values for ${migration.migrationId}: cannot restore`, { migrationId: migration.migrationId });
    }
    // No backup and not completed: the forward step never got past its preparation, so no row changed.
    await inTx(client, async () => {
      await applyTimeouts(client, ctx.timeouts, true);
      for (const statement of migration.down?.statements ?? []) await client.query(statement.text);
      await finish(client, ctx, { rowsAffected: rowsRestored, statementsDone: migration.down?.statements.length ?? 0 });
    });
    return 'applied';
  } finally {
    await advisorySessionUnlock(client, key).catch(() => undefined);
  }
}
