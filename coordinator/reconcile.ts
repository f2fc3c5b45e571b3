import type { Job, Queue } from 'bullmq';
import type pg from 'pg';
import { queueMoreChunks, stepChunks, type ChunkRow } from '../shared/catalog/chunks.js';
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
      const stepChunkRows = step.kind === 'backfill' ? await stepChunks(pool, t, step.step_id) : [];
      if (stepChunkRows.length > 0 && !stepChunkRows.every((chunk) => chunk.status === 'completed')) {
        const missing = await reconcileChunks(pool, t, queues.chunks, step);
        if (missing.length > 0) chunks.set(step.migration_id, missing);
        continue;
      }
      const state = await liveness(await queues.steps.getJob(stepJobId(step.step_id, step.generation)));
      if (state === 'live') continue;
      if (state === 'ended') {
        const { rows } = await pool.query<StepRow>(
          `UPDATE ${t.steps} SET generation = generation + 1 WHERE step_id = $1 AND generation = $2 RETURNING *`,
          [step.step_id, step.generation],
        );
        steps.push(...rows);
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
  const { rows } = await pool.query<{ max_parallel: number | null }>(
    `SELECT (definition #>> '{backfill,max_parallel_chunks}')::int AS max_parallel FROM ${t.migrations} WHERE migration_id = $1`,
    [step.migration_id],
  );
  // Chunks paused by an earlier pause of the run go back in line.
  await pool.query(`UPDATE ${t.chunks} SET status = 'queued' WHERE step_id = $1 AND status = 'paused'`, [step.step_id]);
  await queueMoreChunks(pool, t, step.step_id, rows[0]?.max_parallel ?? 1);
  const result: ChunkRow[] = [];
  for (const chunk of await stepChunks(pool, t, step.step_id)) {
    if (chunk.status !== 'queued' && chunk.status !== 'running') continue;
    const state = await liveness(await queue.getJob(chunkJobId(chunk.chunk_id, chunk.generation)));
    if (state === 'live') continue;
    if (state === 'ended') {
      const bumped = await pool.query<ChunkRow>(
        `UPDATE ${t.chunks} SET generation = generation + 1 WHERE chunk_id = $1 AND generation = $2 RETURNING *`,
        [chunk.chunk_id, chunk.generation],
      );
      result.push(...bumped.rows);
    } else {
      result.push(chunk);
    }
  }
  return result;
}
