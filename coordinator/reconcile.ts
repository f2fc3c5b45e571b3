import type { Job, Queue } from 'bullmq';
import type pg from 'pg';
import { stepChunks, type ChunkRow } from '../shared/catalog/chunks.js';
import { readStoredMigration } from '../shared/catalog/definitions.js';
import { queueMoreChunks, requeueChunk, requeuePausedChunks, requeueStep } from '../shared/catalog/lifecycle.js';
import { activeRuns, runSteps, type StepRow } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import { enqueueChunks, enqueueSteps } from '../shared/enqueue.js';
import type { FleetQueues } from '../shared/events.js';
import { chunkJobId, stepJobId } from '../shared/jobs.js';
import type { Logger } from '../shared/logger.js';

type Liveness = 'live' | 'missing' | 'ended';

async function liveness(job: Job | undefined): Promise<Liveness> {
  if (!job) return 'missing';
  const state = await job.getState();
  return state === 'completed' || state === 'failed' ? 'ended' : state === 'unknown' ? 'missing' : 'live';
}

/**
 * PostgreSQL is the truth, Redis the transport: every queued or running step and chunk of
 * an active run must have a live job. Missing ones (Redis flushed or restarted, a crash
 * between commit and enqueue) are added again under the same deterministic id; one whose
 * job ended while the catalog says it is unfinished (its worker died in between) gets a
 * new generation, hence a new job.
 */
export async function reconcileJobs(pool: pg.Pool, t: Tables, queues: FleetQueues, config: Config, logger: Logger): Promise<number> {
  const steps: StepRow[] = [];
  const chunks = new Map<string, ChunkRow[]>();
  for (const run of await activeRuns(pool, t)) {
    if (run.status === 'paused') continue;
    for (const step of await runSteps(pool, t, run.run_id)) {
      if (step.status !== 'queued' && step.status !== 'running') continue;
      const stepChunkRows = step.kind === 'backfill' || step.kind === 'restore' ? await stepChunks(pool, t, step.step_id) : [];
      if (stepChunkRows.length > 0 && !stepChunkRows.every((chunk) => chunk.status === 'completed')) {
        const missing = await reconcileChunks(pool, t, queues.chunks, step);
        if (missing.length > 0) chunks.set(step.migration_id, missing);
        continue;
      }
      const state = await liveness(await queues.steps.getJob(stepJobId(step.step_id, step.generation)));
      if (state === 'live') continue;
      if (state === 'ended') {
        const requeued = await requeueStep(pool, t, step.step_id, step.generation);
        if (requeued) steps.push(requeued);
      } else {
        steps.push(step);
      }
    }
  }
  const total = steps.length + [...chunks.values()].reduce((sum, list) => sum + list.length, 0);
  if (total > 0) {
    logger.warn({ steps: steps.map((s) => s.step_id), chunks: [...chunks.values()].flat().map((c) => c.chunk_id) }, 're-enqueueing work whose jobs are missing');
    await enqueueSteps(queues.steps, config, steps);
    for (const [migrationId, list] of chunks) await enqueueChunks(queues.chunks, config, list, migrationId);
  }
  return total;
}

async function reconcileChunks(pool: pg.Pool, t: Tables, queue: Queue, step: StepRow): Promise<ChunkRow[]> {
  const maxParallel = (await readStoredMigration(pool, t, step.migration_id)).meta.backfill?.max_parallel_chunks ?? 1;
  // Chunks paused by an earlier pause of the run go back in line.
  await requeuePausedChunks(pool, t, { stepId: step.step_id });
  await queueMoreChunks(pool, t, step.step_id, maxParallel);
  const result: ChunkRow[] = [];
  for (const chunk of await stepChunks(pool, t, step.step_id)) {
    if (chunk.status !== 'queued' && chunk.status !== 'running') continue;
    const state = await liveness(await queue.getJob(chunkJobId(chunk.chunk_id, chunk.generation)));
    if (state === 'live') continue;
    if (state === 'ended') {
      const requeued = await requeueChunk(pool, t, chunk.chunk_id, chunk.generation);
      if (requeued) result.push(requeued);
    } else {
      result.push(chunk);
    }
  }
  return result;
}
