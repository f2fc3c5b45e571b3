import { recordAudit } from '../../shared/catalog/audit.js';
import type { ChunkRow } from '../../shared/catalog/chunks.js';
import { requeuePausedChunks, resumedStatus, setRunStatus } from '../../shared/catalog/lifecycle.js';
import { readRun } from '../../shared/catalog/runs.js';
import { inConflictRetriedTransaction } from '../../shared/db.js';
import { enqueueChunks } from '../../shared/enqueue.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { withQueues } from '../fleet-client.js';

/**
 * Pauses a run that is applying or rolling back: backfill and restore chunks stop after their
 * current sub-batch (the status change waits for in-flight sub-batches), and no further stage
 * starts.
 */
export async function pauseCommand(ctx: CommandContext, options: { run: string }): Promise<number> {
  await setStatus(ctx, options.run, 'pause');
  ctx.out(`run ${options.run} paused`);
  return 0;
}

/** Resumes a paused run where it was (applying or rolling back): paused chunks go back in line and the coordinator continues. */
export async function resumeCommand(ctx: CommandContext, options: { run: string }): Promise<number> {
  const resumed = await setStatus(ctx, options.run, 'resume');
  await withQueues(ctx.config, ctx.logger, async (queues) => {
    for (const [migrationId, chunks] of resumed) await enqueueChunks(queues.chunks, ctx.config, chunks, migrationId);
  });
  ctx.out(`run ${options.run} resumed`);
  return 0;
}

async function setStatus(ctx: CommandContext, runId: string, action: 'pause' | 'resume'): Promise<Map<string, ChunkRow[]>> {
  const { config } = ctx;
  return withDatabase(config, { create: true }, (db) =>
    inConflictRetriedTransaction(db.pool, async (client) => {
      const run = await readRun(client, db.tables, runId, { forUpdate: true });
      if (!run) throw new BadInputError(`unknown run ${runId}`, { runId, field: '--run' });
      const allowed = action === 'pause' ? ['running', 'rolling_back'] : ['paused'];
      if (!allowed.includes(run.status)) throw new BadInputError(`run ${runId} is ${run.status}, not ${allowed.join(' or ')}`, { runId, field: '--run' });
      const to = action === 'pause' ? 'paused' : await resumedStatus(client, db.tables, run);
      await setRunStatus(client, db.tables, runId, to);
      await recordAudit(client, db.tables, { actor: config.ACTOR, action: `run.${action === 'pause' ? 'paused' : 'resumed'}`, environment: run.environment, runId });
      const requeued = new Map<string, ChunkRow[]>();
      if (action === 'resume') {
        for (const row of await requeuePausedChunks(client, db.tables, { runId })) requeued.set(row.migration_id, [...(requeued.get(row.migration_id) ?? []), row]);
      }
      return requeued;
    }),
  );
}
