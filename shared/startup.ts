import { setTimeout as sleep } from 'node:timers/promises';
import { utimes, writeFile } from 'node:fs/promises';
import type { Logger } from './logger.js';
import { isRetryable } from './sqlstate.js';

/**
 * Runs `attempt` until it succeeds, for start-up steps that need a server (PostgreSQL at
 * a worker's start, after a database restart): one warning line per failed attempt, backing
 * off to 10 s, never a stack flood. An error that retrying cannot fix is thrown.
 */
export async function untilReachable(logger: Logger, what: string, attempt: () => Promise<void>, stopping: () => boolean = () => false): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await attempt();
      if (tries > 1) logger.info({ tries }, `${what} reachable again`);
      return;
    } catch (error) {
      if (!isRetryable(error) || stopping()) throw error;
      const delayMs = Math.min(10_000, 500 * 2 ** Math.min(tries - 1, 5));
      logger.warn({ reason: (error as Error).message.split('\n')[0], tries, retryInMs: delayMs }, `${what} unreachable: retrying`);
      await sleep(delayMs);
    }
  }
}

/**
 * Touches `file` every `everyMs` while `healthy` resolves true, for container health checks
 * of processes without an HTTP port (workers, coordinators): a stale file means the process
 * lost PostgreSQL or Redis, or hangs.
 */
export function startHeartbeat(file: string, healthy: () => Promise<boolean>, logger: Logger, everyMs = 5_000): () => void {
  const beat = async () => {
    const ok = await healthy().catch(() => false);
    if (!ok) return;
    const now = new Date();
    await utimes(file, now, now).catch(() => writeFile(file, `${process.pid}\n`)).catch((error: Error) => logger.warn({ err: error, file }, 'cannot write the health file'));
  };
  void beat();
  const timer = setInterval(() => void beat(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
