import { Queue } from 'bullmq';
import { catalogTables } from '../shared/catalog/tables.js';
import { databaseUrl, loadConfigOrExit } from '../shared/config.js';
import { createPool } from '../shared/db.js';
import { createRedis, queueOptions } from '../shared/fleet.js';
import { QUEUES } from '../shared/jobs.js';
import { createLogger } from '../shared/logger.js';
import { onShutdown } from '../shared/shutdown.js';
import { boardCredentials } from './auth.js';
import { createBoardApp } from './app.js';

const config = loadConfigOrExit(process.env, (loaded) => {
  databaseUrl(loaded);
  boardCredentials(loaded);
});
const logger = createLogger({ level: config.LOG_LEVEL, name: 'board' });
const pool = createPool(databaseUrl(config), { max: 2, applicationName: 'pgfm-board' });
const redis = createRedis(config, 'board');
const queues = Object.values(QUEUES).map((name) => new Queue(name, queueOptions(config, redis)));
// Unlistened, BullMQ prints a queue's connection errors with console.error, unredacted.
for (const queue of queues) queue.on('error', (error) => logger.warn({ err: error, queue: queue.name }, 'queue connection error'));
const app = createBoardApp({ config, queues, pool, redis, tables: catalogTables(config.CATALOG_SCHEMA) });
const server = app.listen(config.BOARD_PORT, () => {
  logger.info({ port: config.BOARD_PORT, auth: config.BOARD_AUTH, readOnly: config.BOARD_READ_ONLY, prefix: config.QUEUE_PREFIX }, 'board listening');
});

onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
  await new Promise((resolve) => server.close(resolve));
  await Promise.all(queues.map((queue) => queue.close()));
  await pool.end();
  redis.disconnect();
});
