import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  appliedCounts,
  completedExecutionCounts,
  forwardExecutions,
  isReady,
  removeDir,
  loggingMigration,
  startRun,
  waitForRunEnd,
  writeMigrations,
  type FixtureMigration,
} from '../helpers/fixtures.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';
import { PrivateRedis, waitFor } from '../helpers/processes.js';

const id = (n: number) => `2025.03.01_1000${String(n).padStart(2, '0')}_m${String(n).padStart(2, '0')}`;
/**
 * m01 and m02 one after the other, then m03 (3 s) and m04..m07 (1 s) in one stage: with
 * 2 workers of concurrency 2 four of them run and one waits in Redis when the outage hits.
 */
const MIGRATIONS: FixtureMigration[] = [
  loggingMigration(id(1), { sleepSeconds: 1, first: true }),
  loggingMigration(id(2), { sleepSeconds: 1 }),
  loggingMigration(id(3), { sleepSeconds: 3 }),
  ...[4, 5, 6, 7].map((n) => loggingMigration(id(n), { sleepSeconds: 1, yaml: `depends_on: ['${id(2)}']\n` })),
];
const ONCE = Object.fromEntries(MIGRATIONS.map((m) => [m.id, 1]));

interface Setup {
  db: TestDatabase;
  fleet: Fleet;
  env: Record<string, string>;
  dir: string;
}

async function setUp(label: string, redisUrl: string): Promise<Setup> {
  const db = await createTestDatabase(`fleet_${label}`);
  const dir = await writeMigrations(label, MIGRATIONS);
  const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl, QUEUE_PREFIX: uniquePrefix(label), MIGRATIONS_DIR: dir, WORKER_CONCURRENCY: '2' };
  const fleet = new Fleet(env);
  fleet.coordinator();
  fleet.worker();
  fleet.worker();
  await waitFor('the fleet to start', async () => fleet.procs.every((proc) => isReady(proc, proc.name.startsWith('worker') ? 'worker started' : 'coordinator started')), 30_000);
  return { db, fleet, env, dir };
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  await setup?.fleet.stop();
  await setup?.db.drop();
  await removeDir(setup?.dir);
}

/** The second migration completed and the third stage runs (one of its steps still waits for a worker). */
async function waitForOutagePoint(db: TestDatabase, runId: string): Promise<void> {
  await waitFor(
    'the second migration to complete and the next stage to run',
    async () => {
      const { rows } = await db.query<{ stage: number; status: string }>(`SELECT stage, status FROM migration_mgmt.steps WHERE run_id = $1`, [runId]);
      return rows.filter((s) => s.status === 'completed').length >= 2 && rows.some((s) => s.stage === 2 && s.status === 'running');
    },
    30_000,
    50,
  );
}

/** Run completed, each migration applied once and recorded by exactly one completed forward execution. */
async function expectAppliedOnce({ db, fleet }: Setup, runId: string): Promise<void> {
  const final = await waitForRunEnd(db, runId, 45_000, () => fleet.logs());
  expect(final, fleet.logs()).toEqual({ status: 'completed', error: null });
  // The job that waited in Redis was lost with it: only the coordinator's reconciliation brings it back.
  const reenqueued = fleet.procs.flatMap((proc) => proc.output).filter((line) => line.includes('"msg":"re-enqueueing'));
  expect(reenqueued.length, fleet.logs()).toBeGreaterThan(0);
  expect(await appliedCounts(db)).toEqual(ONCE);
  const executions = await forwardExecutions(db, runId);
  const summary = JSON.stringify(executions, null, 1);
  expect(completedExecutionCounts(executions), summary).toEqual(ONCE);
  expect(executions.filter((e) => e.execution_status === 'running'), summary).toEqual([]);
  // An attempt that completed was never abandoned.
  expect(executions.filter((e) => e.execution_status === 'completed' && e.error_message !== null), summary).toEqual([]);
  const statuses = await db.query(`SELECT status, count(*)::int AS n FROM migration_mgmt.migration_status GROUP BY status`);
  expect(statuses.rows).toEqual([{ status: 'completed', n: MIGRATIONS.length }]);
}

describe('the fleet Redis flushed mid-run', () => {
  let redis: PrivateRedis;
  let setup: Setup;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    setup = await setUp('flush', redis.url);
  });

  afterAll(async () => {
    await tearDown(setup);
    await redis?.stop();
  });

  it('completes the run from the catalog: the coordinator re-enqueues the lost jobs', { timeout: 60_000 }, async () => {
    const { db, env } = setup;
    const started = performance.now();
    const runId = await startRun(env);
    await waitForOutagePoint(db, runId);

    const client = new Redis(redis.url);
    try {
      const before = await client.dbsize();
      expect(await client.flushall()).toBe('OK');
      console.log(`redis-flush: FLUSHALL of ${before} keys at ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      client.disconnect();
    }

    await expectAppliedOnce(setup, runId);
    console.log(`redis-flush: run completed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
});

describe('the fleet Redis killed and restarted mid-run', () => {
  let redis: PrivateRedis;
  let setup: Setup;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    setup = await setUp('restart', redis.url);
  });

  afterAll(async () => {
    await tearDown(setup);
    await redis?.stop();
  });

  it('completes the run once the same port answers again', { timeout: 60_000 }, async () => {
    const { db, env } = setup;
    const started = performance.now();
    const runId = await startRun(env);
    await waitForOutagePoint(db, runId);
    await redis.restart(500);
    console.log(`redis-restart: SIGKILL and restart on port ${redis.port} at ${((performance.now() - started) / 1000).toFixed(1)} s`);

    await expectAppliedOnce(setup, runId);
    console.log(`redis-restart: run completed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });
});
