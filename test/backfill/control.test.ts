import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/database.js';
import type { Fleet } from '../helpers/fleet.js';
import { PrivateRedis, sleep, waitFor } from '../helpers/processes.js';
import { BASE, PHONES, startSeedFleet } from '../helpers/seed-fixture.js';

const ROWS = 100_000;

describe('operating a running backfill: pause, resume, cancel, Redis flushed', () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let fleet: Fleet;
  let env: Record<string, string>;
  let stop: () => Promise<void>;

  const progress = async (runId: string) => {
    const { rows } = await db.query<{ keys: number; running: number; statuses: string[] }>(
      `SELECT COALESCE(sum(keys_done), 0)::int AS keys, count(*) FILTER (WHERE status = 'running')::int AS running,
              array_agg(DISTINCT status) AS statuses FROM migration_mgmt.chunks WHERE run_id = $1`,
      [runId],
    );
    return rows[0]!;
  };
  const runStatus = async (runId: string) => (await db.query(`SELECT status FROM migration_mgmt.runs WHERE run_id = $1`, [runId])).rows[0]?.status as string;
  const start = async () => {
    const result = await runCli(['up', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as { runId: string }).runId;
  };

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    ({ db, fleet, env, stop } = await startSeedFleet({
      label: 'backfill_control',
      ids: [BASE, PHONES],
      edits: [
        { id: PHONES, file: 'migration.yaml', from: '  batch_target_ms: 200\n', to: '  batch_target_ms: 200\n  max_rows_per_second: 10000\n  chunk_keys: 20000\n  max_parallel_chunks: 2\n' },
      ],
      rows: ROWS,
      env: {
        REDIS_URL: redis.url,
        // The operator's own health signal: the table's existence means "not now".
        GOVERNOR_HEALTH_QUERY: "SELECT to_regclass('public.pause_backfills') IS NULL",
        GOVERNOR_CHECK_MS: '300',
      },
    }));
  });

  afterAll(async () => {
    await stop?.();
    await redis?.stop();
  });

  it('pauses within one sub-batch, shows progress, and resumes to completion', async () => {
    const runId = await start();
    await waitFor('backfill progress', async () => (await progress(runId)).keys > 10_000, 60_000);
    const paused = await runCli(['pause', '--run', runId], env);
    expect(paused.code, paused.stderr).toBe(0);
    // The pause waits for in-flight sub-batches; after that no chunk is running and no key moves.
    await waitFor('chunks to stop', async () => (await progress(runId)).running === 0, 5_000, 100);
    const atPause = (await progress(runId)).keys;
    await sleep(2000);
    expect((await progress(runId)).keys).toBe(atPause);
    expect(await runStatus(runId)).toBe('paused');

    const status = await runCli(['status', '--run', runId, '--json'], env);
    const report = JSON.parse(status.stdout) as { backfills: Array<{ keysDone: number; keysTotal: number; percent: number }> };
    expect(report.backfills[0]).toMatchObject({ keysDone: atPause, keysTotal: ROWS });
    const human = await runCli(['status', '--run', runId], env);
    expect(human.stdout).toMatch(/backfill 2025\.01\.31_150000_standardize_phone_numbers: \d+\/100000 keys/);

    expect((await runCli(['resume', '--run', runId], env)).code).toBe(0);
    await waitFor('run to complete', async () => (await runStatus(runId)) === 'completed', 90_000);
    expect((await progress(runId)).keys).toBe(ROWS);
    // The fleet-wide limit of 10,000 rows/s held over both workers (the pause only lowers the average).
    const rate = await db.query(
      `SELECT sum(keys_done) / extract(epoch FROM max(finished_at) - min(started_at)) AS rate FROM migration_mgmt.chunks WHERE run_id = $1`,
      [runId],
    );
    console.log(`backfill rate under max_rows_per_second 10000: ${Math.round(Number(rate.rows[0]?.rate))} keys/s`);
    expect(Number(rate.rows[0]?.rate)).toBeLessThan(11_500);
  }, 150_000);

  it('completes from the catalog checkpoints when Redis is flushed mid-backfill', async () => {
    const previous = (await db.query(`SELECT run_id FROM migration_mgmt.runs WHERE direction = 'up' ORDER BY created_at DESC LIMIT 1`)).rows[0]!.run_id;
    expect((await runCli(['rollback', '--run', previous, '--wait'], env)).code).toBe(0);
    const runId = await start();
    await waitFor('backfill progress', async () => (await progress(runId)).keys > 30_000, 60_000);
    const client = new Redis(redis.url);
    await client.flushall();
    client.disconnect();
    await waitFor('run to complete', async () => (await runStatus(runId)) === 'completed', 120_000).catch(async (error) => {
      const chunks = await db.query(`SELECT chunk_no, status, keys_done, generation, attempts, last_error FROM migration_mgmt.chunks WHERE run_id = $1 ORDER BY chunk_no`, [runId]);
      const steps = await db.query(`SELECT migration_id, status, generation, last_error FROM migration_mgmt.steps WHERE run_id = $1`, [runId]);
      throw new Error(`${(error as Error).message}\n${JSON.stringify(chunks.rows)}\n${JSON.stringify(steps.rows)}\n${fleet.logs()}`);
    });
    const left = await db.query(`SELECT count(*)::int AS n FROM hs.customers WHERE phone_primary !~ '^\\+\\d+$' OR phone_secondary !~ '^\\+\\d+$'`);
    expect(left.rows[0]?.n).toBe(0);
    const chunks = await db.query(`SELECT sum(keys_done)::int AS keys FROM migration_mgmt.chunks WHERE run_id = $1`, [runId]);
    expect(chunks.rows[0]?.keys).toBe(ROWS);
  }, 200_000);

  it('is paused by the health governor while the health query says no, and resumes by itself', async () => {
    const previous = (await db.query(`SELECT run_id FROM migration_mgmt.runs WHERE direction = 'up' AND status = 'completed' ORDER BY created_at DESC LIMIT 1`)).rows[0]!.run_id;
    expect((await runCli(['rollback', '--run', previous, '--wait'], env)).code).toBe(0);
    const runId = await start();
    await waitFor('backfill progress', async () => (await progress(runId)).keys > 10_000, 60_000);
    await db.query('CREATE TABLE public.pause_backfills ()');
    try {
      const paused = async () =>
        (
          await db.query(`SELECT 1 FROM migration_mgmt.chunks WHERE run_id = $1 AND status = 'running' AND throttle_state = 'paused: health query returned false'`, [
            runId,
          ])
        ).rows.length > 0;
      await waitFor('the governor to pause the chunks for the health query', paused, 10_000, 100);
      await sleep(1000);
      const held = (await progress(runId)).keys;
      await sleep(1500);
      expect((await progress(runId)).keys).toBe(held);
      expect(await runStatus(runId)).toBe('running');
    } finally {
      // Left behind, the table would hold every later test's backfill.
      await db.query('DROP TABLE public.pause_backfills');
    }
    await waitFor('run to complete', async () => (await runStatus(runId)) === 'completed', 90_000);
    expect((await progress(runId)).keys).toBe(ROWS);
  }, 150_000);

  it('cancels within one sub-batch', async () => {
    const previous = (await db.query(`SELECT run_id FROM migration_mgmt.runs WHERE direction = 'up' AND status = 'completed' ORDER BY created_at DESC LIMIT 1`)).rows[0]!.run_id;
    expect((await runCli(['rollback', '--run', previous, '--wait'], env)).code).toBe(0);
    const runId = await start();
    await waitFor('backfill progress', async () => (await progress(runId)).keys > 10_000, 60_000);
    expect((await runCli(['cancel', '--run', runId, '--reason', 'test'], env)).code).toBe(0);
    await waitFor('chunks to stop', async () => (await progress(runId)).running === 0, 5_000, 100);
    const atCancel = (await progress(runId)).keys;
    await sleep(1500);
    const after = await progress(runId);
    expect(after.keys).toBe(atCancel);
    expect(after.keys).toBeLessThan(ROWS);
    expect(after.statuses.every((s) => ['cancelled', 'completed'].includes(s)), after.statuses.join()).toBe(true);
    expect(await runStatus(runId)).toBe('cancelled');
  }, 150_000);
});
