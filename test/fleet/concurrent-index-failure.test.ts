import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';

const BASE = '2025.05.01_000000_cic_base';
const INDEX = '2025.05.01_000100_cic_unique_v';

describe('CREATE UNIQUE INDEX CONCURRENTLY over duplicate values', () => {
  let fx: FleetFixture;
  let runId: string;
  let upCode: number;
  let upOutput: string;

  beforeAll(async () => {
    fx = await startFleetFixture('cic', [
      {
        id: BASE,
        up: `
          CREATE SCHEMA app;
          CREATE TABLE app.t (id int PRIMARY KEY, v int NOT NULL);
          INSERT INTO app.t SELECT g, g FROM generate_series(1, 5000) g;
          UPDATE app.t SET v = 42 WHERE id IN (100, 4000);`,
        down: `DROP SCHEMA app CASCADE;`,
      },
      {
        id: INDEX,
        up: `CREATE UNIQUE INDEX CONCURRENTLY idx_x ON app.t (v);`,
        down: `DROP INDEX CONCURRENTLY IF EXISTS app.idx_x;`,
        meta: { type: 'index', category: 'create' },
      },
    ]);
    const base = await fx.cli(['up', '--to', BASE, '--wait']);
    expect(base.code, base.stdout + base.stderr + fx.fleet.logs()).toBe(0);
    const up = await fx.cli(['up', '--wait', '--json']);
    upCode = up.code;
    upOutput = up.stdout + up.stderr;
    runId = jsonLines(up.stdout)[0]?.['runId'] as string;
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('fails the run (up --wait exits 1); the failed statement changed nothing, so nothing is rolled back', async () => {
    expect(upCode, upOutput + fx.fleet.logs()).toBe(1);
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await fx.db.query(`SELECT status, error_code FROM migration_mgmt.runs WHERE run_id = $1`, [runId]);
    // auto_rollback is on by default; the step failed on its first (and only) statement, whose
    // INVALID index was dropped, so it has nothing to undo: no down step runs against it.
    expect(rows).toEqual([{ status: 'rolled_back', error_code: '23505' }]);
    const { rows: down } = await fx.db.query(`SELECT status FROM migration_mgmt.steps WHERE run_id = $1 AND direction = 'down'`, [runId]);
    expect(down).toEqual([]);
  });

  it('leaves no INVALID index behind', async () => {
    const invalid = await fx.db.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`);
    expect(invalid.rows).toEqual([{ n: 0 }]);
    const index = await fx.db.query(`SELECT to_regclass('app.idx_x') IS NULL AS absent`);
    expect(index.rows).toEqual([{ absent: true }]);
  });

  it('shows the step failed with SQLSTATE 23505 and a clear error in status --run --json', async () => {
    const status = await fx.cli(['status', '--run', runId, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const { steps } = JSON.parse(status.stdout) as { steps: Array<Record<string, unknown>> };
    const step = steps.find((s) => s['migration_id'] === INDEX && s['direction'] === 'up');
    expect(step).toMatchObject({ status: 'failed', last_sqlstate: '23505', attempts: 1 });
    expect(String(step?.['last_error'])).toMatch(/could not create unique index "idx_x"/);
  });

  it('files one dead letter for it with SQLSTATE 23505', async () => {
    const dlq = await fx.cli(['dlq', 'list', '--json']);
    expect(dlq.code, dlq.stderr).toBe(0);
    const letters = JSON.parse(dlq.stdout) as Array<Record<string, unknown>>;
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ runId, migrationId: INDEX, direction: 'up', sqlstate: '23505', attemptsMade: 1 });
    expect(String(letters[0]?.['error'])).toMatch(/could not create unique index "idx_x"/);
  });

  it('tried once: a unique violation is not retried', async () => {
    const { rows } = await fx.db.query(
      `SELECT attempt, execution_status, error_code FROM migration_mgmt.migration_executions
        WHERE migration_id = $1 AND execution_type = 'forward' ORDER BY execution_id`,
      [INDEX],
    );
    expect(rows).toEqual([{ attempt: 1, execution_status: 'failed', error_code: '23505' }]);
    const { rows: status } = await fx.db.query(`SELECT status FROM migration_mgmt.migration_status WHERE migration_id = $1`, [INDEX]);
    expect(status).toEqual([{ status: 'failed' }]);
  });
});
