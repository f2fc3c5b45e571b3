import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { ChunkRow } from '../shared/catalog/chunks.js';
import { recordStepError } from '../shared/catalog/lifecycle.js';
import { enqueueChunks as enqueueChunkJobs } from '../shared/enqueue.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import type { FleetQueues } from '../shared/events.js';
import { workerOptions } from '../shared/fleet.js';
import { QUEUES, type StepJobData } from '../shared/jobs.js';
import type { Logger } from '../shared/logger.js';
import { isRetryable, sqlstateOf } from '../shared/sqlstate.js';
import { ShutdownError } from '../shared/errors.js';
import { failStep } from './fail-step.js';
import { runStep } from './step-runner.js';

export interface StepWorkerDeps {
  config: Config;
  pool: pg.Pool;
  tables: Tables;
  logger: Logger;
  queues: FleetQueues;
  connection: Redis;
  workerId: string;
  concurrency: number;
}

/**
 * The BullMQ side of a step: retryable failures are rethrown for BullMQ's backoff; a
 * failure that cannot heal (or the last attempt) marks the step failed in the catalog,
 * files a dead letter and tells the coordinator, then ends the job without further attempts.
 */
export function startStepWorker(deps: StepWorkerDeps): { worker: Worker; stopping: () => boolean; stop: () => void } {
  let stopping = false;
  const { config, pool, tables: t, queues } = deps;
  const processor = async (job: Job<StepJobData>) => {
    const attempt = job.attemptsMade + 1;
    const logger = deps.logger.child({ queue: QUEUES.steps, jobId: job.id, runId: job.data.runId, migrationId: job.data.migrationId });
    try {
      const enqueueChunks = (chunks: ChunkRow[], migrationId: string) => enqueueChunkJobs(queues.chunks, config, chunks, migrationId);
      const outcome = await runStep({ pool, tables: t, config, logger, workerId: deps.workerId, stopping: () => stopping, enqueueChunks }, job.data, attempt);
      if (outcome === 'applied' || outcome === 'already-done') {
        await queues.notifyCoordinator({ runId: job.data.runId, stepId: job.data.stepId, status: 'completed' }, attempt);
      }
      return { outcome };
    } catch (error) {
      const message = (error as Error).message;
      const sqlstate = sqlstateOf(error);
      const retryable = isRetryable(error);
      // While shutting down, an interrupted attempt is never final: the job goes back for another worker.
      const final = !stopping && (!retryable || attempt >= (job.opts.attempts ?? 1));
      if (error instanceof ShutdownError) {
        // A drain hands the step back at a boundary: expected, not a failure (nor an error to record).
        logger.info({ attempt, reason: message }, 'step handed back');
        throw error;
      }
      logger.warn({ err: error, sqlstate, attempt, retryable, final }, 'step attempt failed');
      await recordStepError(pool, t, job.data.stepId, { message, sqlstate });
      if (!final) throw error;
      await failStep(deps, job.data, { sourceQueue: QUEUES.steps, jobId: String(job.id), attemptsMade: attempt }, { message, sqlstate });
      throw new UnrecoverableError(message);
    }
  };
  const worker = new Worker<StepJobData>(QUEUES.steps, processor, workerOptions(config, deps.connection, deps.concurrency));
  worker.on('error', (error) => deps.logger.error({ err: error }, 'step worker error'));
  return {
    worker,
    stopping: () => stopping,
    stop: () => {
      stopping = true;
    },
  };
}

