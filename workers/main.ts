import os from 'node:os';
import { migrateCatalog } from '../shared/catalog/internal-migrations.js';
import { catalogTables } from '../shared/catalog/tables.js';
import { databaseUrl, loadConfigOrExit } from '../shared/config.js';
import { createPool } from '../shared/db.js';
import { FleetQueues } from '../shared/events.js';
import { createRedis } from '../shared/fleet.js';
import { createLogger } from '../shared/logger.js';
import { onShutdown, within } from '../shared/shutdown.js';
import { startHeartbeat, untilReachable } from '../shared/startup.js';
import { startChunkWorker } from './chunk-worker.js';
import { workerPoolSize } from './pool-size.js';
import { startStepWorker } from './step-worker.js';

const config = loadConfigOrExit(process.env, (loaded) => void databaseUrl(loaded));
const workerId = `${os.hostname()}-${process.pid}`;
const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' }).child({ workerId });
const pool = createPool(databaseUrl(config), { max: workerPoolSize(config.WORKER_CONCURRENCY), applicationName: `pgfm-worker-${process.pid}` });
const connection = createRedis(config, 'worker');
const queues = new FleetQueues(config, connection, logger);
const tables = catalogTables(config.CATALOG_SCHEMA);
await untilReachable(logger, 'PostgreSQL', async () => void (await migrateCatalog(pool, tables)));
const stopHeartbeat = config.HEALTH_FILE
  ? startHeartbeat(config.HEALTH_FILE, async () => (await pool.query('SELECT 1')).rowCount === 1 && (await within(connection.ping(), 3000)), logger)
  : () => undefined;
const deps = { config, pool, tables, logger, queues, connection, workerId, concurrency: config.WORKER_CONCURRENCY };
const steps = startStepWorker(deps);
const chunks = startChunkWorker(deps);
logger.info({ concurrency: config.WORKER_CONCURRENCY, prefix: config.QUEUE_PREFIX }, 'worker started');

onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
  stopHeartbeat();
  steps.stop();
  chunks.stop();
  const workers = [steps.worker, chunks.worker];
  if (!(await within(Promise.all(workers.map((worker) => worker.close())), config.SHUTDOWN_GRACE_MS))) {
    logger.warn('jobs still running after the grace period: forcing close');
    await within(Promise.all(workers.map((worker) => worker.close(true))), 2000);
  }
  await queues.close();
  await pool.end();
  connection.disconnect();
});
