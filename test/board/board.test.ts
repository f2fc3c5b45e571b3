import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBoardApp } from '../../board/app.js';
import { migrateCatalog } from '../../shared/catalog/internal-migrations.js';
import { catalogTables } from '../../shared/catalog/tables.js';
import { loadConfig } from '../../shared/config.js';
import { createPool } from '../../shared/db.js';
import { queueOptions } from '../../shared/fleet.js';
import { QUEUES } from '../../shared/jobs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { uniquePrefix } from '../helpers/fleet.js';
import { PrivateRedis, waitFor } from '../helpers/processes.js';

const USER = 'operator';
const PASSWORD = 'correct horse battery';
const TOKEN = 'a-bearer-token-of-some-length';

describe('board: Bull Board behind authentication, health and metrics', () => {
  let db: TestDatabase;
  let redisServer: PrivateRedis;
  let redis: Redis;
  let server: Server;
  let base: string;
  let queues: Queue[];
  let pool: ReturnType<typeof createPool>;

  beforeAll(async () => {
    db = await createTestDatabase('board');
    redisServer = await PrivateRedis.start();
    const config = loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: redisServer.url,
      QUEUE_PREFIX: uniquePrefix('board'),
      BOARD_USER: USER,
      BOARD_PASSWORD: PASSWORD,
      BOARD_TOKEN: TOKEN,
    });
    pool = createPool(config.DATABASE_URL!);
    const tables = catalogTables(config.CATALOG_SCHEMA);
    await migrateCatalog(pool, tables);
    redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    redis.on('error', () => undefined);
    queues = Object.values(QUEUES).map((name) => new Queue(name, queueOptions(config, redis)));
    // The health test stops Redis on purpose: its connection errors are expected here.
    for (const queue of queues) queue.on('error', () => undefined);
    // One job through the steps queue, so the metrics have something to count.
    const workerConnection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(QUEUES.steps, async () => 'done', { connection: workerConnection, prefix: config.QUEUE_PREFIX });
    await queues[0]!.add('up:2025.01.01_000000_demo', { migrationId: '2025.01.01_000000_demo' }, { jobId: 'step-1-g0' });
    await waitFor('the job to complete', async () => (await queues[0]!.getJobCounts('completed'))['completed'] === 1, 10_000);
    await worker.close();
    workerConnection.disconnect();
    server = createBoardApp({ config, queues, pool, redis, tables }).listen(0);
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await Promise.all(queues?.map((queue) => queue.close()) ?? []);
    redis?.disconnect();
    await pool?.end();
    await redisServer?.stop();
    await db?.drop();
  });

  const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

  it('refuses requests without or with wrong credentials, accepts basic and bearer', async () => {
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/api/queues`, { headers: basic(USER, 'wrong password!') })).status).toBe(401);
    expect((await fetch(`${base}/api/queues`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: basic(USER, PASSWORD) })).status).toBe(200);
    expect((await fetch(`${base}/api/queues`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('lists every queue of the fleet through the Bull Board API, with job data', async () => {
    const response = await fetch(`${base}/api/queues?activeQueue=steps&status=completed&page=1`, { headers: basic(USER, PASSWORD) });
    const body = (await response.json()) as { queues: Array<{ name: string; jobs: Array<{ name: string; data: unknown }> }> };
    expect(body.queues.map((queue) => queue.name).sort()).toEqual(Object.values(QUEUES).sort());
    const steps = body.queues.find((queue) => queue.name === 'steps')!;
    expect(steps.jobs[0]).toMatchObject({ name: 'up:2025.01.01_000000_demo', data: { migrationId: '2025.01.01_000000_demo' } });
  });

  it('serves Prometheus metrics that count the job just processed', async () => {
    const response = await fetch(`${base}/metrics`, { headers: basic(USER, PASSWORD) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    // Every sample line is `name{labels} value`.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) expect(line).toMatch(/^[a-z_]+(\{[^}]*\})? -?[\d.e+-]+$/);
    expect(text).toContain('pgfm_jobs{queue="steps",state="completed"} 1');
    expect(text).toMatch(/^pgfm_dead_letters 0$/m);
  });

  it('answers /healthz without authentication, 503 when Redis is down', async () => {
    const up = await fetch(`${base}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ status: 'ok', postgres: 'ok', redis: 'ok' });
    await redisServer.kill();
    const down = await fetch(`${base}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'unhealthy', postgres: 'ok' });
    await redisServer.restart();
  });

  it('refuses to start without credentials unless BOARD_AUTH=off', () => {
    const open = loadConfig({ DATABASE_URL: db.url });
    expect(() => createBoardApp({ config: open, queues, pool, redis, tables: catalogTables('migration_mgmt') })).toThrow(/BOARD_USER and BOARD_PASSWORD, or BOARD_TOKEN/);
    const explicit = loadConfig({ DATABASE_URL: db.url, BOARD_AUTH: 'off' });
    expect(() => createBoardApp({ config: explicit, queues, pool, redis, tables: catalogTables('migration_mgmt') })).not.toThrow();
  });
});
