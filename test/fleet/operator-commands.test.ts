import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, migrationStatuses, schemaDump, startFleetFixture, waitForRunStatus, type FleetFixture } from '../helpers/fixtures.js';
import { sleep, waitFor } from '../helpers/processes.js';

const M1 = '2025.08.01_000000_ops_schema';
const M2 = '2025.08.01_000100_ops_slow_column';
const M3 = '2025.08.01_000200_ops_index';
const M4 = '2025.08.01_000300_ops_needs_table';
const M5 = '2025.08.01_000400_ops_divides_by_zero';

const TERMINAL = ['completed', 'failed', 'rolled_back', 'cancelled'];

interface Step {
  migration_id: string;
  direction: string;
  status: string;
}

describe('operator commands against a running fleet', () => {
  let fx: FleetFixture;
  let pristine: string;
  let firstRun: string;
  /** Applied M2 and was cancelled before M3. */
  let cancelledRun: string;
  /** Applied M3 and M4 after a dead-letter retry. */
  let retriedRun: string;

  const steps = async (runId: string) =>
    (
      await fx.db.query<Step>(`SELECT migration_id, direction, status FROM migration_mgmt.steps WHERE run_id = $1 ORDER BY direction DESC, stage, migration_id`, [
        runId,
      ])
    ).rows;
  const runRow = async (runId: string) =>
    (await fx.db.query<{ status: string; direction: string; rollback_of: string | null; error: string | null }>(
      `SELECT status, direction, rollback_of, error FROM migration_mgmt.runs WHERE run_id = $1`,
      [runId],
    )).rows[0];
  const ok = (result: { code: number; stdout: string; stderr: string }, code = 0) =>
    expect(result.code, `${result.stdout}\n${result.stderr}\n${fx.fleet.logs()}`).toBe(code);

  beforeAll(async () => {
    fx = await startFleetFixture('ops', [
      { id: M1, up: `CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, name text NOT NULL);`, down: `DROP SCHEMA app CASCADE;` },
      {
        id: M2,
        // A slow first statement, so a run is still busy with it when it gets cancelled.
        up: `SELECT pg_sleep(2); ALTER TABLE app.items ADD COLUMN price numeric(10,2);`,
        down: `ALTER TABLE app.items DROP COLUMN price;`,
      },
      { id: M3, up: `CREATE INDEX items_price ON app.items (price);`, down: `DROP INDEX app.items_price;` },
      {
        id: M4,
        up: `INSERT INTO app.fix_me (id) VALUES (1);`,
        down: `DELETE FROM app.fix_me WHERE id = 1;`,
        meta: { auto_rollback: false },
      },
      { id: M5, up: `SELECT 1 / 0;`, down: `SELECT 1;`, meta: { auto_rollback: false } },
    ]);
    // Creates the catalog, so the pristine dump is taken with it in place (it is excluded anyway).
    ok(await fx.cli(['init']));
    pristine = await schemaDump(fx.db.url);
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('up --wait applies; status --run lists the steps', async () => {
    const up = await fx.cli(['up', '--to', M3, '--wait', '--json']);
    ok(up);
    firstRun = jsonLines(up.stdout)[0]!['runId'] as string;
    expect(await migrationStatuses(fx.db)).toEqual({ [M1]: 'completed', [M2]: 'completed', [M3]: 'completed' });

    const status = await fx.cli(['status', '--run', firstRun]);
    ok(status);
    expect(status.stdout).toContain(`run ${firstRun}  up  completed`);
    const lines = status.stdout.split('\n');
    for (const id of [M1, M2, M3]) {
      expect(lines.some((line) => line.includes(id) && /\bup\b/.test(line) && /\bcompleted\b/.test(line)), status.stdout).toBe(true);
    }
    expect(status.stdout).not.toContain(M4);
  });

  it('rollback --run --wait undoes that run: schema as before, migrations rolled_back', async () => {
    const rollback = await fx.cli(['rollback', '--run', firstRun, '--wait', '--json']);
    ok(rollback);
    const runId = jsonLines(rollback.stdout)[0]!['runId'] as string;
    expect(await runRow(runId)).toMatchObject({ status: 'completed', direction: 'down', rollback_of: firstRun });
    // Reverse order: the index first, the schema last.
    expect((await steps(runId)).map((s) => [s.migration_id, s.direction, s.status])).toEqual([
      [M3, 'down', 'completed'],
      [M2, 'down', 'completed'],
      [M1, 'down', 'completed'],
    ]);
    expect(await schemaDump(fx.db.url)).toBe(pristine);
    expect(await migrationStatuses(fx.db)).toEqual({ [M1]: 'rolled_back', [M2]: 'rolled_back', [M3]: 'rolled_back' });
  });

  it('up re-applies, and down --to the first migration undoes the rest', async () => {
    ok(await fx.cli(['up', '--to', M3, '--wait']));
    expect(await migrationStatuses(fx.db)).toEqual({ [M1]: 'completed', [M2]: 'completed', [M3]: 'completed' });
    const withItems = await schemaDump(fx.db.url);
    expect(withItems).toContain('price');

    const down = await fx.cli(['down', '--to', M1, '--wait', '--json']);
    ok(down);
    const runId = jsonLines(down.stdout)[0]!['runId'] as string;
    expect((await steps(runId)).map((s) => [s.migration_id, s.status])).toEqual([
      [M3, 'completed'],
      [M2, 'completed'],
    ]);
    expect(await migrationStatuses(fx.db)).toEqual({ [M1]: 'completed', [M2]: 'rolled_back', [M3]: 'rolled_back' });
    const { rows } = await fx.db.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'app' AND column_name = 'price'`);
    expect(rows).toEqual([{ n: 0 }]);
    expect(await fx.db.query(`SELECT to_regclass('app.items') IS NOT NULL AS ok`).then((r) => r.rows)).toEqual([{ ok: true }]);
  });

  it('cancel --run stops a run busy with its slow first stage: later steps cancelled, run cancelled', async () => {
    const up = await fx.cli(['up', '--to', M3, '--json']);
    ok(up);
    const runId = jsonLines(up.stdout)[0]!['runId'] as string;
    await waitFor(
      'the slow step to run',
      async () => (await steps(runId)).find((s) => s.migration_id === M2)?.status === 'running',
      20_000,
      50,
    );
    cancelledRun = runId;
    const cancel = await fx.cli(['cancel', '--run', runId, '--reason', 'test']);
    ok(cancel);
    expect(cancel.stdout).toContain(`run ${runId} cancelled`);

    // The running step finishes; nothing after it starts.
    await waitFor('the slow step to finish', async () => (await steps(runId)).every((s) => s.status !== 'running' && s.status !== 'queued'), 20_000);
    await sleep(1000);
    expect((await steps(runId)).map((s) => [s.migration_id, s.status])).toEqual([
      [M2, 'completed'],
      [M3, 'cancelled'],
    ]);
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled' });
    expect((await runRow(runId))?.error).toContain('test');
    const { rows } = await fx.db.query(
      `SELECT count(*)::int AS n FROM migration_mgmt.migration_executions WHERE run_id = $1 AND migration_id = $2`,
      [runId, M3],
    );
    expect(rows).toEqual([{ n: 0 }]);
    expect((await migrationStatuses(fx.db))[M3]).toBe('rolled_back');
  });

  it('a failure with auto_rollback: false leaves the run failed with a dead letter; dlq retry after the fix completes it', async () => {
    const up = await fx.cli(['up', '--to', M4, '--wait', '--json']);
    ok(up, 1);
    const runId = jsonLines(up.stdout)[0]!['runId'] as string;
    retriedRun = runId;
    expect(await runRow(runId)).toMatchObject({ status: 'failed' });
    expect((await runRow(runId))?.error).toContain(M4);
    expect((await steps(runId)).map((s) => [s.migration_id, s.direction, s.status])).toEqual([
      [M3, 'up', 'completed'],
      [M4, 'up', 'failed'],
    ]);
    expect(await migrationStatuses(fx.db)).toMatchObject({ [M3]: 'completed', [M4]: 'failed' });

    const list = await fx.cli(['dlq', 'list', '--json']);
    ok(list);
    const letters = JSON.parse(list.stdout) as Array<{ id: string; runId: string; migrationId: string; sqlstate: string | null }>;
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ runId, migrationId: M4, sqlstate: '42P01' });
    const show = await fx.cli(['dlq', 'show', letters[0]!.id]);
    ok(show);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: letters[0]!.id, migrationId: M4 });

    await fx.db.query(`CREATE TABLE app.fix_me (id int PRIMARY KEY)`);
    const retry = await fx.cli(['dlq', 'retry', letters[0]!.id]);
    ok(retry);
    expect(retry.stdout).toContain(`re-queued ${M4}`);
    expect(await waitForRunStatus(fx.db, runId, TERMINAL)).toBe('completed');
    expect((await steps(runId)).map((s) => [s.migration_id, s.status])).toEqual([
      [M3, 'completed'],
      [M4, 'completed'],
    ]);
    expect(await migrationStatuses(fx.db)).toMatchObject({ [M4]: 'completed' });
    expect(await fx.db.query(`SELECT id FROM app.fix_me`).then((r) => r.rows)).toEqual([{ id: 1 }]);
    expect(JSON.parse((await fx.cli(['dlq', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('dlq purge --all empties the dead-letter queue', async () => {
    const up = await fx.cli(['up', '--wait', '--json']);
    ok(up, 1);
    const before = JSON.parse((await fx.cli(['dlq', 'list', '--json'])).stdout) as Array<{ migrationId: string; sqlstate: string }>;
    expect(before).toMatchObject([{ migrationId: M5, sqlstate: '22012' }]);

    const purge = await fx.cli(['dlq', 'purge', '--all']);
    ok(purge);
    expect(purge.stdout).toBe('removed 1 dead letter');
    expect(JSON.parse((await fx.cli(['dlq', 'list', '--json'])).stdout)).toEqual([]);
    expect((await fx.cli(['dlq', 'list'])).stdout).toBe('the dead-letter queue is empty');
  });

  it('rollback --run refuses to undo what a later run built on, naming that run; undone in order it works', async () => {
    const refused = await fx.cli(['rollback', '--run', cancelledRun]);
    ok(refused, 2);
    // M3 (applied by the retried run) depends on M2 by history.
    expect(refused.stderr).toContain(`run ${cancelledRun} applied ${M2}, which ${M3} depends on`);
    expect(refused.stderr).toContain(`roll back run ${retriedRun} first`);
    const { rows } = await fx.db.query(`SELECT count(*)::int AS n FROM migration_mgmt.runs WHERE rollback_of = $1`, [cancelledRun]);
    expect(rows).toEqual([{ n: 0 }]);

    ok(await fx.cli(['rollback', '--run', retriedRun, '--wait']));
    ok(await fx.cli(['rollback', '--run', cancelledRun, '--wait']));
    expect(await migrationStatuses(fx.db)).toMatchObject({ [M1]: 'completed', [M2]: 'rolled_back', [M3]: 'rolled_back', [M4]: 'rolled_back' });
    const { rows: columns } = await fx.db.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'app' AND column_name = 'price'`);
    expect(columns).toEqual([{ n: 0 }]);
  });
});
