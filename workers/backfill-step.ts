import type pg from 'pg';
import { backupTableName, findBackupTable } from '../shared/catalog/backups.js';
import { insertChunks, stepChunks, type ChunkRow, type NewChunk } from '../shared/catalog/chunks.js';
import { queueMoreChunks, requeueStep, setStatementsDone } from '../shared/catalog/lifecycle.js';
import { readStep, type StepRow } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import { OperationError } from '../shared/errors.js';
import { ensureBackupTable, explainBackfill, resolveTarget, splitKeySpace } from './backfill.js';
import { splitBackup } from './restore.js';
import { advisorySessionUnlock, applyTimeouts, expectAllTrue, tryAdvisorySessionLock } from './session.js';
import { alreadyDone, currentStatus, finish, inTx, markAlreadyDone, migrationLockKey, type ExecutionContext, type StepOutcome } from './step-context.js';
import { runStatement } from './statement-errors.js';

/**
 * A backfill's life in one place: its step job prepares it (up.sql with the proof it can
 * start), splits it (the key space forward, the backup for a restore) into chunks and hands
 * them out; each finished chunk hands out the next (handOutChunks) and the last sends the
 * step job back to close it (verification and status, or down.sql). The sub-batches of every
 * chunk are chunk-runner.ts's one loop; the coordinator re-drives lost chunks through the
 * lifecycle module.
 */

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
export async function backfillUp(client: pg.PoolClient, ctx: ExecutionContext): Promise<StepOutcome> {
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
        for (const statement of migration.up.statements) await runStatement(client, migration.up, statement);
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
export async function backfillDown(client: pg.PoolClient, ctx: ExecutionContext): Promise<StepOutcome> {
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
    } else if (status?.status === 'completed') {
      throw new OperationError(`no backup of old values for ${migration.migrationId}: cannot restore`, { migrationId: migration.migrationId });
    }
    // No backup and not completed: the forward step never got past its preparation, so no row changed.
    await inTx(client, async () => {
      await applyTimeouts(client, ctx.timeouts, true);
      for (const statement of migration.down?.statements ?? []) await runStatement(client, migration.down!, statement);
      await finish(client, ctx, { rowsAffected: rowsRestored, statementsDone: migration.down?.statements.length ?? 0 });
    });
    return 'applied';
  } finally {
    await advisorySessionUnlock(client, key).catch(() => undefined);
  }
}

/** After a chunk completed: hands the next chunks out, or, when every chunk is done, sends the step back to be closed. */
export async function handOutChunks(
  deps: { pool: pg.Pool; tables: Tables; enqueueChunks: (chunks: ChunkRow[], migrationId: string) => Promise<void>; enqueueSteps: (steps: StepRow[]) => Promise<void> },
  step: StepRow,
  maxParallel: number,
): Promise<void> {
  const { pool, tables: t } = deps;
  const next = await queueMoreChunks(pool, t, step.step_id, maxParallel);
  if (next.length > 0) await deps.enqueueChunks(next, step.migration_id);
  const chunks = await stepChunks(pool, t, step.step_id);
  if (chunks.every((chunk) => chunk.status === 'completed')) {
    // A new generation: the job that dispatched the chunks has ended.
    const closing = await requeueStep(pool, t, step.step_id);
    if (closing) await deps.enqueueSteps([closing]);
  }
}
