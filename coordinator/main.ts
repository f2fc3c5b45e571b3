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
import { Coordinator } from './coordinator.js';

const config = loadConfigOrExit(process.env, (loaded) => void databaseUrl(loaded));
const id = `${os.hostname()}-${process.pid}`;
const logger = createLogger({ level: config.LOG_LEVEL, name: 'coordinator' }).child({ coordinatorId: id });
const pool = createPool(databaseUrl(config), { max: 4, applicationName: `pgfm-coordinator-${process.pid}` });
const connection = createRedis(config, 'coordinator');
const queues = new FleetQueues(config, connection, logger);
const tables = catalogTables(config.CATALOG_SCHEMA);
await untilReachable(logger, 'PostgreSQL', async () => void (await migrateCatalog(pool, tables)));
const stopHeartbeat = config.HEALTH_FILE
  ? startHeartbeat(config.HEALTH_FILE, async () => (await pool.query('SELECT 1')).rowCount === 1 && (await within(connection.ping(), 3000)), logger)
  : () => undefined;
const coordinator = new Coordinator({ config, pool, tables, logger, queues, connection, id });
coordinator.start();
logger.info({ prefix: config.QUEUE_PREFIX }, 'coordinator started');

onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
  stopHeartbeat();
  await within(coordinator.stop(), config.SHUTDOWN_GRACE_MS);
  await queues.close();
  await pool.end();
  connection.disconnect();
});
