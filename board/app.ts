import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express from 'express';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import { within } from '../shared/shutdown.js';
import { boardCredentials, requireAuth } from './auth.js';
import { createMetrics } from './metrics.js';

export interface BoardDeps {
  config: Config;
  queues: Queue[];
  pool: pg.Pool;
  redis: Redis;
  tables: Tables;
}

async function healthy(check: () => Promise<unknown>): Promise<string> {
  try {
    return (await within(check(), 2000)) ? 'ok' : 'timeout';
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Bull Board for every queue of the fleet, behind authentication; /healthz for probes
 * (no auth, no secrets in it) and /metrics for Prometheus.
 */
export function createBoardApp(deps: BoardDeps): express.Express {
  const credentials = boardCredentials(deps.config);
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([healthy(() => deps.pool.query('SELECT 1')), healthy(() => deps.redis.ping())]);
    const ok = postgres === 'ok' && redis === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unhealthy', postgres, redis });
  });

  app.use(requireAuth(credentials));

  const metrics = createMetrics(deps.queues, deps.pool, deps.tables);
  app.get('/metrics', async (_req, res, next) => {
    try {
      const body = await metrics.scrape();
      res.type(metrics.registry.contentType).send(body);
    } catch (error) {
      next(error);
    }
  });

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/');
  createBullBoard({
    queues: deps.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: deps.config.BOARD_READ_ONLY })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'pgfm fleet' } },
  });
  app.use('/', serverAdapter.getRouter());
  return app;
}
