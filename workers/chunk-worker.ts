import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { recordStepError, setChunkStatus } from '../shared/catalog/lifecycle.js';
import { enqueueChunks, enqueueSteps } from '../shared/enqueue.js';
import { workerOptions } from '../shared/fleet.js';
import { ShutdownError } from '../shared/errors.js';
import { QUEUES, type ChunkJobData } from '../shared/jobs.js';
import { isRetryable, sqlstateOf } from '../shared/sqlstate.js';
import { runChunk } from './chunk-runner.js';
import { failStep } from './fail-step.js';
import type { StepWorkerDeps } from './step-worker.js';
import { HealthGovernor, RateLimiter } from './throttle.js';

/** Consumes the chunk queue: one backfill key range per job, with progress shown on the job. */
export function startChunkWorker(deps: StepWorkerDeps): { worker: Worker; stop: () => void } {
  let stopping = false;
  const { config, pool, tables: t, queues } = deps;
  const limiter = new RateLimiter(deps.connection, config.QUEUE_PREFIX);
  const governor = new HealthGovernor(config);
  const processor = async (job: Job<ChunkJobData>) => {
    const attempt = job.attemptsMade + 1;
    const logger = deps.logger.child({ queue: QUEUES.chunks, jobId: job.id, runId: job.data.runId, migrationId: job.data.migrationId });
    try {
      const outcome = await runChunk(
        {
          pool,
          tables: t,
          config,
          logger,
          workerId: deps.workerId,
          limiter,
          governor,
          stopping: () => stopping,
          enqueueChunks: (chunks, migrationId) => enqueueChunks(queues.chunks, config, chunks, migrationId),
          enqueueSteps: (steps) => enqueueSteps(queues.steps, config, steps),
        },
        job.data,
        // Progress is for people watching Bull Board; losing it (Redis flushed) must not fail the chunk.
        (progress) => job.updateProgress({ ...progress }).catch((error) => logger.debug({ err: error }, 'progress not recorded')),
      );
      return { outcome };
    } catch (error) {
      const message = (error as Error).message;
      const sqlstate = sqlstateOf(error);
      const final = !stopping && (!isRetryable(error) || attempt >= (job.opts.attempts ?? 1));
      // A drain hands the chunk back at a sub-batch boundary: expected, not a failure worth a stack.
      if (error instanceof ShutdownError) logger.info({ attempt, reason: message }, 'chunk handed back');
      else logger.warn({ err: error, sqlstate, attempt, final }, 'chunk attempt failed');
      if (!final) throw error;
      await setChunkStatus(pool, t, job.data.chunkId, 'failed', { message, sqlstate });
      await recordStepError(pool, t, job.data.stepId, { message, sqlstate });
      await failStep(deps, job.data, { sourceQueue: QUEUES.chunks, jobId: String(job.id), attemptsMade: attempt }, { message, sqlstate });
      throw new UnrecoverableError(message);
    }
  };
  const worker = new Worker<ChunkJobData>(QUEUES.chunks, processor, workerOptions(config, deps.connection, deps.concurrency));
  worker.on('error', (error) => deps.logger.error({ err: error }, 'chunk worker error'));
  return {
    worker,
    stop: () => {
      stopping = true;
    },
  };
}
