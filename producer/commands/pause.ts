import { recordAudit } from '../../shared/catalog/audit.js';
import type { ChunkRow } from '../../shared/catalog/chunks.js';
import { readRun, setRunStatus } from '../../shared/catalog/runs.js';
import { inTransaction } from '../../shared/db.js';
import { enqueueChunks } from '../../shared/enqueue.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { withQueues } from '../fleet-client.js';

/**
 * Pauses a running run: backfill chunks stop after their current sub-batch (the status
 * change waits for in-flight sub-batches), and no further stage starts.
 */
export async function pauseCommand(ctx: CommandContext, options: { run: string }): Promise<number> {
  await setStatus(ctx, options.run, 'running', 'paused');
  ctx.out(`run ${options.run} paused`);
  return 0;
}

/** Resumes a paused run: paused chunks go back in line and the coordinator continues. */
export async function resumeCommand(ctx: CommandContext, options: { run: string }): Promise<number> {
  const resumed = await setStatus(ctx, options.run, 'paused', 'running');
  await withQueues(ctx.config, async (queues) => {
    for (const [migrationId, chunks] of resumed) await enqueueChunks(queues.chunks, ctx.config, chunks, migrationId);
  });
  ctx.out(`run ${options.run} resumed`);
  return 0;
}

async function setStatus(ctx: CommandContext, runId: string, from: 'running' | 'paused', to: 'running' | 'paused'): Promise<Map<string, ChunkRow[]>> {
  const { config } = ctx;
  return withDatabase(config, { create: true }, (db) =>
    inTransaction(db.pool, async (client) => {
      const run = await readRun(client, db.tables, runId, { forUpdate: true });
      if (!run) throw new BadInputError(`unknown run ${runId}`, { runId, field: '--run' });
      if (run.status !== from) throw new BadInputError(`run ${runId} is ${run.status}, not ${from}`, { runId, field: '--run' });
      await setRunStatus(client, db.tables, runId, to);
      await recordAudit(client, db.tables, { actor: config.ACTOR, action: `run.${to === 'paused' ? 'paused' : 'resumed'}`, environment: run.environment, runId });
      const requeued = new Map<string, ChunkRow[]>();
      if (to === 'running') {
        const { rows } = await client.query<ChunkRow & { migration_id: string }>(
          `UPDATE ${db.tables.chunks} c SET status = 'queued', generation = c.generation + 1 FROM ${db.tables.steps} s
            WHERE c.step_id = s.step_id AND c.run_id = $1 AND c.status = 'paused' RETURNING c.*, s.migration_id`,
          [runId],
        );
        for (const row of rows) requeued.set(row.migration_id, [...(requeued.get(row.migration_id) ?? []), row]);
      }
      return requeued;
    }),
  );
}
