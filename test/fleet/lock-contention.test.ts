import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';
import { sleep } from '../helpers/processes.js';

const BASE = '2025.03.01_000000_lock_base';
const ALTER = '2025.03.01_000100_lock_add_column';
const MAX_LOCK_SECONDS = 0.5;
const BLOCK_MS = 5000;
/** How much longer than max_lock_duration a reader may wait (scheduling, round trips). */
const MARGIN_SECONDS = 0.1;

describe('a DDL step that cannot get its lock gives up after max_lock_duration and retries', () => {
  let fx: FleetFixture;

  beforeAll(async () => {
    fx = await startFleetFixture(
      'lock',
      [
        {
          id: BASE,
          up: `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); INSERT INTO app.t SELECT g, 'row ' || g FROM generate_series(1, 1000) g;`,
          down: `DROP SCHEMA app CASCADE;`,
        },
        {
          id: ALTER,
          up: `ALTER TABLE app.t ADD COLUMN c int;`,
          down: `ALTER TABLE app.t DROP COLUMN c;`,
          meta: { max_lock_duration: MAX_LOCK_SECONDS },
        },
      ],
      // Enough attempts that the backoff (FAST_FLEET: 200 ms doubling, capped at 2 s) outlasts the 5 s blocker.
      { env: { STEP_ATTEMPTS: '12' } },
    );
    const base = await fx.cli(['up', '--to', BASE, '--wait']);
    expect(base.code, base.stdout + base.stderr + fx.fleet.logs()).toBe(0);
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('never blocks readers for longer than max_lock_duration, and applies once the blocker commits', async () => {
    const blocker = new pg.Client({ connectionString: fx.db.url, application_name: 'test-blocker' });
    const probe = new pg.Client({ connectionString: fx.db.url, application_name: 'test-probe' });
    await blocker.connect();
    await probe.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM app.t LIMIT 1');
      const blockedAt = performance.now();

      const up = fx.cli(['up', '--wait', '--json']);
      let upDone = false;
      void up.finally(() => {
        upDone = true;
      });

      const latencies: number[] = [];
      let committedAt: number | undefined;
      let slowest = { at: 0, ms: 0 };
      // Probe during the 5 s the blocker holds its lock, and until the run ended and a second passed after the commit.
      while (committedAt === undefined || !upDone || performance.now() - committedAt < 1000) {
        if (committedAt === undefined && performance.now() - blockedAt >= BLOCK_MS) {
          await blocker.query('COMMIT');
          committedAt = performance.now();
        }
        const started = performance.now();
        await probe.query('SELECT count(*) FROM app.t');
        const ms = performance.now() - started;
        latencies.push(ms);
        if (ms > slowest.ms) slowest = { at: (started - blockedAt) / 1000, ms };
        if (performance.now() - blockedAt > 45_000) throw new Error(`the run did not end:\n${fx.fleet.logs()}`);
        await sleep(10);
      }
      const result = await up;
      const max = Math.max(...latencies) / 1000;
      const sorted = [...latencies].sort((a, b) => a - b);
      console.log(
        `lock contention: ${latencies.length} probes, max ${max.toFixed(3)} s (at +${slowest.at.toFixed(2)} s), ` +
          `p50 ${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(4)} s, ${latencies.filter((ms) => ms > 100).length} probes over 100 ms`,
      );

      expect(result.code, result.stdout + result.stderr + fx.fleet.logs()).toBe(0);
      const runId = jsonLines(result.stdout)[0]?.['runId'] as string;
      expect(jsonLines(result.stdout).at(-1)).toMatchObject({ runId, status: 'completed' });
      // The ALTER queued behind the blocker; readers queued behind the ALTER for at most its lock_timeout.
      expect(max).toBeLessThanOrEqual(MAX_LOCK_SECONDS + MARGIN_SECONDS);
      // It did have to wait: at least one probe was held up by a queued ALTER.
      expect(latencies.some((ms) => ms > 200)).toBe(true);

      const { rows: executions } = await fx.db.query<{ attempt: number; execution_status: string; error_code: string | null; started_at: Date }>(
        `SELECT attempt, execution_status, error_code, started_at FROM migration_mgmt.migration_executions
          WHERE migration_id = $1 AND execution_type = 'forward' ORDER BY execution_id`,
        [ALTER],
      );
      console.log(`lock contention: ${executions.length} attempts: ${executions.map((e) => `${e.attempt}:${e.execution_status}:${e.error_code ?? '-'}`).join(', ')}`);
      expect(executions.length).toBeGreaterThanOrEqual(2);
      const last = executions.at(-1)!;
      expect(last.execution_status).toBe('completed');
      const failed = executions.slice(0, -1);
      expect(failed.every((e) => e.execution_status === 'failed' && e.error_code === '55P03'), JSON.stringify(executions)).toBe(true);
      expect(executions.map((e) => e.attempt)).toEqual(executions.map((_, i) => i + 1));

      const { rows: steps } = await fx.db.query<{ status: string; attempts: number }>(
        `SELECT status, attempts FROM migration_mgmt.steps WHERE run_id = $1 AND migration_id = $2`,
        [runId, ALTER],
      );
      expect(steps).toEqual([{ status: 'completed', attempts: executions.length }]);
      const column = await fx.db.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 't' AND column_name = 'c'`);
      expect(column.rowCount).toBe(1);
      const { rows: status } = await fx.db.query(`SELECT status FROM migration_mgmt.migration_status WHERE migration_id = $1`, [ALTER]);
      expect(status).toEqual([{ status: 'completed' }]);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
      await probe.end();
    }
  });
});
