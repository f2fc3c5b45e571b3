/**
 * A restore runs through the one batch engine: split into chunks of the backup's blocks, run
 * by both workers, under the fleet rate limit, stopped by pause and cancel within one
 * sub-batch, and exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, waitForRunStatus, type FleetFixture, type MigrationSpec } from '../helpers/fixtures.js';
import { sleep, waitFor } from '../helpers/processes.js';

const ROWS = 200_000;
const RATE = 25_000;

const MIGRATIONS: MigrationSpec[] = [
  {
    id: '2025.05.01_000000_accounts',
    up: `CREATE SCHEMA rs;
CREATE TABLE rs.accounts (id uuid PRIMARY KEY, n int NOT NULL, note text);
INSERT INTO rs.accounts SELECT md5('a' || g)::uuid, g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, ${ROWS}) g;`,
    down: 'DROP SCHEMA rs CASCADE;',
  },
  {
    id: '2025.05.01_000001_bump',
    up: 'SELECT 1;',
    meta: {
      type: 'data',
      backfill: { table: 'rs.accounts', set: { n: 'n + 1', note: "coalesce(note, '') || '!'" }, chunk_keys: 25_000, max_parallel_chunks: 4, max_rows_per_second: RATE },
    },
  },
];

const checksum = async (fixture: FleetFixture) =>
  (await fixture.db.query<{ sum: string }>(`SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) AS sum FROM rs.accounts t`)).rows[0]!.sum;

/** Rows the restore has put back so far: they hold their original n again. */
const restored = async (fixture: FleetFixture) =>
  (await fixture.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM rs.accounts WHERE note IS NOT DISTINCT FROM (CASE WHEN n % 7 = 0 THEN NULL ELSE 'note ' || n END)`)).rows[0]!.n;

describe('the restore of a rolled-back backfill', () => {
  let fixture: FleetFixture;
  let original: string;
  let upRun: string;

  beforeAll(async () => {
    fixture = await startFleetFixture('restore', MIGRATIONS.slice(0, 1));
    expect((await fixture.cli(['up', '--wait'])).code).toBe(0);
    original = await checksum(fixture);
    const { writeMigration } = await import('../helpers/fixtures.js');
    await writeMigration(fixture.dir, MIGRATIONS[1]!);
    const up = await fixture.cli(['up', '--wait', '--json']);
    expect(up.code, up.stdout + up.stderr + fixture.fleet.logs()).toBe(0);
    upRun = String(jsonLines(up.stdout).at(-1)!['runId']);
  }, 120_000);

  afterAll(async () => {
    await fixture?.stop();
  });

  it('is split into chunks both workers run, throttled, paused and cancelled within a sub-batch, and exact', async () => {
    expect(await checksum(fixture)).not.toBe(original);
    const started = await fixture.cli(['rollback', '--run', upRun, '--json']);
    expect(started.code, started.stdout + started.stderr).toBe(0);
    const rollbackRun = String(jsonLines(started.stdout).at(-1)!['runId']);

    // Throttled: measure the restore rate over a window once the bucket's one second of burst is spent.
    await waitFor('the restore to get past its burst', async () => (await restored(fixture)) > RATE * 1.2, 60_000, 100);
    const t0 = performance.now();
    const r0 = await restored(fixture);
    await sleep(2_500);
    const rate = ((await restored(fixture)) - r0) / ((performance.now() - t0) / 1000);
    console.log(`restore rate ${Math.round(rate)} rows/s under max_rows_per_second ${RATE}`);
    expect(rate).toBeLessThan(RATE * 1.25);
    expect(rate).toBeGreaterThan(RATE * 0.3);

    // Paused: once `pause` returns no sub-batch commits, until resumed.
    const paused = await fixture.cli(['pause', '--run', rollbackRun]);
    expect(paused.code, paused.stdout + paused.stderr).toBe(0);
    const atPause = await restored(fixture);
    await sleep(1_500);
    expect(await restored(fixture)).toBe(atPause);
    const resumed = await fixture.cli(['resume', '--run', rollbackRun]);
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    await waitFor('the restore to go on', async () => (await restored(fixture)) > atPause, 30_000, 100);

    // Cancelled: the same, for good.
    const cancelled = await fixture.cli(['cancel', '--run', rollbackRun]);
    expect(cancelled.code, cancelled.stdout + cancelled.stderr).toBe(0);
    const atCancel = await restored(fixture);
    await sleep(1_500);
    expect(await restored(fixture)).toBe(atCancel);
    expect(atCancel).toBeLessThan(ROWS);
    await waitForRunStatus(fixture.db, rollbackRun, ['cancelled']);

    const chunks = await fixture.db.query<{ chunks: number; workers: number }>(
      `SELECT count(*)::int AS chunks, count(DISTINCT c.worker_id)::int AS workers
         FROM migration_mgmt.chunks c JOIN migration_mgmt.steps s USING (step_id) WHERE s.run_id = $1 AND s.direction = 'down'`,
      [rollbackRun],
    );
    expect(chunks.rows[0]!.chunks).toBeGreaterThanOrEqual(4);
    expect(chunks.rows[0]!.workers).toBe(2);

    // A new rollback finishes the restore (putting a saved value back twice is harmless): exact.
    const again = await fixture.cli(['rollback', '--run', upRun, '--wait']);
    expect(again.code, again.stdout + again.stderr + fixture.fleet.logs()).toBe(0);
    expect(await checksum(fixture)).toBe(original);
  }, 180_000);
});
