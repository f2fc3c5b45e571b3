import type { Logger } from './logger.js';

/**
 * Two-stage shutdown: the first SIGTERM/SIGINT runs `graceful` (bounded by graceMs),
 * a second signal or the deadline exits at once.
 */
export function onShutdown(logger: Logger, graceMs: number, graceful: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.warn('shutdown grace period over: exiting');
      process.exit(1);
    }, graceMs + 2000);
    deadline.unref();
    graceful().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/** Resolves when `promise` does, or after `ms`, whichever comes first. */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
