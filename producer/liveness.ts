import { Redis } from 'ioredis';
import { readLease } from '../shared/catalog/lease.js';
import type { Config } from '../shared/config.js';
import { OperationError } from '../shared/errors.js';
import type { FleetQueues } from '../shared/events.js';
import { redactUrl } from '../shared/logger.js';
import type { Database } from './context.js';

/** How long a command waits for Redis to answer before it says so. */
export const REDIS_ANSWER_MS = 5_000;

/**
 * Whether Redis answers within `timeoutMs`, on a connection of its own that does not retry:
 * a producer must fail in seconds with one line, not hang on reconnects while the catalog
 * already holds its run.
 */
export async function checkRedis(config: Config, timeoutMs = REDIS_ANSWER_MS): Promise<void> {
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs))),
    ]);
  } catch (error) {
    throw new OperationError(`Redis at ${redactUrl(config.REDIS_URL)} does not answer (${(error as Error).message.split('\n')[0]})`);
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}

/**
 * What keeps a run from moving, in words an operator acts on: no worker consuming a queue the
 * run needs, no coordinator holding a fresh lease (stages after the first never start).
 */
export async function fleetProblems(config: Config, db: Database, queues: FleetQueues): Promise<string[]> {
  const problems: string[] = [];
  for (const queue of [queues.steps, queues.chunks]) {
    if ((await queue.getWorkersCount()) === 0) {
      problems.push(`no worker is consuming the ${queue.name} queue (QUEUE_PREFIX ${config.QUEUE_PREFIX} on ${redactUrl(config.REDIS_URL)}): start one with \`npm run worker\``);
    }
  }
  const lease = await readLease(db.pool, db.tables);
  if (!lease) problems.push('no coordinator has ever run against this catalog: later stages will not start; start one with `npm run coordinator`');
  else if (lease.remainingMs < 0) {
    problems.push(`no coordinator holds the lease (${lease.holder}'s expired ${Math.round(-lease.remainingMs / 1000)} s ago): later stages will not start; start one with \`npm run coordinator\``);
  }
  return problems;
}
