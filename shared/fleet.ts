import { Redis } from 'ioredis';
import type { JobsOptions, QueueOptions, WorkerOptions } from 'bullmq';
import type { Config } from './config.js';

/**
 * A Redis connection for BullMQ. Workers block on Redis, so commands must not give up
 * after a few retries (maxRetriesPerRequest: null); reconnects back off to 2 s.
 */
export function createRedis(config: Config, name: string): Redis {
  const redis = new Redis(config.REDIS_URL, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectionName: `pgfm-${name}`,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  // Connection errors are retried by ioredis; an unhandled 'error' event would crash the process.
  redis.on('error', () => undefined);
  return redis;
}

/** Queue settings shared by every process, so producers, workers and the coordinator agree. */
export function queueOptions(config: Config, connection: Redis): QueueOptions {
  return { connection, prefix: config.QUEUE_PREFIX };
}

/**
 * Worker settings shared by the whole fleet. A SIGKILLed worker's job is redelivered after
 * about JOB_LOCK_MS + STALLED_INTERVAL_MS; maxStalledCount is high because a step is safe to
 * redeliver (its effect and its catalog record commit together).
 */
export function workerOptions(config: Config, connection: Redis, concurrency: number): WorkerOptions {
  return {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.STALLED_INTERVAL_MS,
    maxStalledCount: 1000,
    settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(config, attemptsMade) },
  };
}

/**
 * Exponential backoff capped at BACKOFF_MAX_MS, with full jitter in its upper half so
 * workers that hit the same lock do not come back in step.
 */
export function backoffDelay(config: Pick<Config, 'BACKOFF_BASE_MS' | 'BACKOFF_MAX_MS'>, attemptsMade: number, random = Math.random): number {
  const ceiling = Math.min(config.BACKOFF_MAX_MS, config.BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Retries with exponential backoff; jitter spreads workers that hit the same lock. */
export function stepJobOptions(config: Config): JobsOptions {
  return {
    attempts: config.STEP_ATTEMPTS,
    backoff: { type: 'capped-exponential' },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}
