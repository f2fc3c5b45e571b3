import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/processes.js';

const BASE = '2025.06.01_000000_term_base';
const SLOW = '2025.06.01_000100_term_slow_create';

describe("a worker's backend terminated in the middle of a step", () => {
  let fx: FleetFixture;

  beforeAll(async () => {
    fx = await startFleetFixture('term', [
      { id: BASE, up: `CREATE SCHEMA app;`, down: `DROP SCHEMA app CASCADE;` },
      {
        id: SLOW,
        up: `SELECT pg_sleep(3); CREATE TABLE app.after_sleep (id int PRIMARY KEY, note text);`,
        down: `DROP TABLE app.after_sleep;`,
      },
    ]);
    const base = await fx.cli(['up', '--to', BASE, '--wait']);
    expect(base.code, base.stdout + base.stderr + fx.fleet.logs()).toBe(0);
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('is retried on a new connection and the run completes', async () => {
    const up = fx.cli(['up', '--wait', '--json']);
    const pid = await waitFor(
      'the worker backend running pg_sleep',
      async () => {
        const { rows } = await fx.db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'
              AND application_name LIKE 'pgfm-worker-%' AND query LIKE '%pg_sleep(3)%'`,
        );
        return rows[0]?.pid;
      },
      20_000,
      50,
    );
    const { rows: killed } = await fx.db.query(`SELECT pg_terminate_backend($1) AS ok`, [pid]);
    expect(killed).toEqual([{ ok: true }]);

    const result = await up;
    expect(result.code, result.stdout + result.stderr + fx.fleet.logs()).toBe(0);
    const runId = jsonLines(result.stdout)[0]?.['runId'] as string;
    expect(jsonLines(result.stdout).at(-1)).toMatchObject({ runId, status: 'completed' });

    const { rows: executions } = await fx.db.query<{ attempt: number; execution_status: string; error_code: string | null; error_message: string | null }>(
      `SELECT attempt, execution_status, error_code, error_message FROM migration_mgmt.migration_executions
        WHERE migration_id = $1 AND execution_type = 'forward' ORDER BY execution_id`,
      [SLOW],
    );
    console.log(`terminate backend: attempts ${JSON.stringify(executions)}`);
    expect(executions.length, JSON.stringify(executions)).toBe(2);
    const [first, second] = executions;
    expect(first).toMatchObject({ attempt: 1, execution_status: 'failed' });
    // 57P01 admin_shutdown, or a connection error when the socket closed before the error message was read.
    expect(first!.error_code === '57P01' || /terminat|connection/i.test(first!.error_message ?? ''), JSON.stringify(first)).toBe(true);
    expect(second).toMatchObject({ attempt: 2, execution_status: 'completed', error_code: null });

    const { rows: tables } = await fx.db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'after_sleep'`);
    expect(tables).toEqual([{ n: 1 }]);
    const { rows: status } = await fx.db.query(`SELECT status FROM migration_mgmt.migration_status WHERE migration_id = $1`, [SLOW]);
    expect(status).toEqual([{ status: 'completed' }]);
    const { rows: steps } = await fx.db.query(`SELECT status, attempts FROM migration_mgmt.steps WHERE run_id = $1 AND migration_id = $2`, [runId, SLOW]);
    expect(steps).toEqual([{ status: 'completed', attempts: 2 }]);
  });

  it('kept every worker process alive', () => {
    const dead = fx.fleet.procs.filter((proc) => proc.child.exitCode !== null || proc.child.signalCode !== null);
    expect(
      dead.map((proc) => `${proc.name} exited ${proc.child.exitCode ?? proc.child.signalCode}`),
      dead.map((proc) => `--- ${proc.name}\n${proc.output.slice(-15).join('\n')}`).join('\n'),
    ).toEqual([]);
  });
});
