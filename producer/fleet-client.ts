import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';
import { FleetQueues } from '../shared/events.js';
import { createRedis } from '../shared/fleet.js';
import { checkRedis } from './liveness.js';

/**
 * Opens the fleet's queues for one command and always closes them. Redis must answer first:
 * a command fails in seconds with one line instead of hanging on reconnects.
 */
export async function withQueues<T>(config: Config, logger: Logger, work: (queues: FleetQueues) => Promise<T>): Promise<T> {
  await checkRedis(config);
  const connection = createRedis(config, 'producer');
  const queues = new FleetQueues(config, connection, logger);
  try {
    return await work(queues);
  } finally {
    await queues.close();
    connection.disconnect();
  }
}
