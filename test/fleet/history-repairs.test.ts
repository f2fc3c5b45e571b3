/**
 * Fixing history and undoing what can be undone, through a real fleet:
 *   - a down that fails at run time names its file and line with PostgreSQL's DETAIL and HINT;
 *     once corrected it is drift until `repair` accepts it (audited with a diff), and then the
 *     corrected down is what the workers run;
 *   - a down with a syntax error blocks only what needs it: validate warns, up applies, down refuses;
 *   - a failing run rolls back what it can in reverse order and stops cleanly before an
 *     irreversible migration, ending in a state status explains;
 *   - a file that manages its own transactions runs as written, and a worker SIGKILLed inside
 *     its second block repeats neither the first block nor anything before it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, waitForRunEnd, waitForRunStatus, type FleetFixture, type MigrationSpec } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/processes.js';

const BASE: MigrationSpec = {
  id: '2025.06.01_000000_base',
  up: `CREATE SCHEMA app;\nCREATE TYPE app.mood AS ENUM ('ok', 'sad');\nCREATE TABLE app.t (id int PRIMARY KEY, m app.mood);`,
  down: 'DROP SCHEMA app CASCADE;',
};

let fixture: FleetFixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

const lastRunId = (stdout: string) => String(jsonLines(stdout).at(-1)!['runId']);

describe('fixing and undoing history', () => {
  it('runs a corrected down only once repair accepted it, and names file, line, DETAIL and HINT of the failure', async () => {
    const wrongDown = '-- undo the u table\nDROP TYPE app.mood;\n';
    fixture = await startFleetFixture('history_fix', [BASE, { id: '2025.06.01_000001_u', up: 'CREATE TABLE app.u (id int);', down: wrongDown }]);
    expect((await fixture.cli(['up', '--wait'])).code).toBe(0);

    const failed = await fixture.cli(['down', '--to', BASE.id, '--wait', '--json']);
    expect(failed.code, failed.stdout + failed.stderr).toBe(1);
    const { rows } = await fixture.db.query<{ last_error: string; last_sqlstate: string }>(`SELECT last_error, last_sqlstate FROM migration_mgmt.steps WHERE direction = 'down'`);
    expect(rows[0]!.last_sqlstate).toBe('2BP01');
    expect(rows[0]!.last_error).toContain('2025.06.01_000001_u/down.sql:2: cannot drop type app.mood because other objects depend on it');
    expect(rows[0]!.last_error).toContain('DETAIL: column m of table app.t depends on type app.mood');
    expect(rows[0]!.last_error).toContain('HINT: Use DROP ... CASCADE');
    const status = await fixture.cli(['status', '--run', lastRunId(failed.stdout)]);
    expect(status.stdout).toContain('down.sql:2');

    await writeFile(path.join(fixture.dir, '2025.06.01_000001_u', 'down.sql'), '-- undo the u table\nDROP TABLE app.u;\n');
    const drift = await fixture.cli(['down', '--to', BASE.id]);
    expect(drift.code).toBe(2);
    expect(drift.stderr).toMatch(/2025\.06\.01_000001_u was changed after it was applied \(down\.sql\)/);

    expect((await fixture.cli(['repair', '--reason', 'the down dropped the wrong object'])).code).toBe(0);
    const audit = await fixture.db.query<{ details: { diff: Record<string, string[]> } }>(`SELECT details FROM migration_mgmt.audit_log WHERE action = 'repair'`);
    expect(audit.rows[0]!.details.diff['down']).toEqual(expect.arrayContaining(['-DROP TYPE app.mood;', '+DROP TABLE app.u;']));

    const fixed = await fixture.cli(['down', '--to', BASE.id, '--wait']);
    expect(fixed.code, fixed.stdout + fixed.stderr + fixture.fleet.logs()).toBe(0);
    const left = await fixture.db.query<{ name: string | null }>(`SELECT to_regclass('app.u')::text AS name UNION ALL SELECT to_regclass('app.t')::text`);
    expect(left.rows.map((row) => row.name)).toEqual([null, 'app.t']);
  }, 120_000);

  it('reads a broken down only where it is needed: validate warns, up applies, down refuses before anything runs', async () => {
    const broken = { id: '2025.06.01_000001_v', up: 'CREATE TABLE app.v (id int);', down: 'DROP TABLE app.v\nWHERE;' };
    fixture = await startFleetFixture('history_broken_down', [BASE, broken]);
    const validate = await fixture.cli(['validate']);
    expect(validate.code, validate.stderr).toBe(0);
    expect(validate.stdout).toMatch(/warning: 2025\.06\.01_000001_v\/down\.sql: SQL syntax error: syntax error at or near "WHERE" \(2025\.06\.01_000001_v\/down\.sql:2\)/);
    const plan = await fixture.cli(['plan']);
    expect(plan.stdout).toContain('its rollback stops before 2025.06.01_000001_v');
    expect((await fixture.cli(['up', '--wait'])).code).toBe(0);
    const runs = async () => (await fixture!.db.query(`SELECT 1 FROM migration_mgmt.runs`)).rowCount;
    const before = await runs();
    const refused = await fixture.cli(['down', '--to', BASE.id]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/cannot go down past 2025\.06\.01_000001_v: its down cannot be used: SQL syntax error/);
    expect(await runs()).toBe(before);
  }, 120_000);

  it('rolls a failed run back as far as it can and stops before the irreversible migration, saying so', async () => {
    const ids = ['2025.06.01_000001_b', '2025.06.01_000002_c_irreversible', '2025.06.01_000003_d', '2025.06.01_000004_e_fails'];
    fixture = await startFleetFixture('history_irreversible', [
      BASE,
      { id: ids[0]!, up: 'CREATE TABLE app.b (id int);', down: 'DROP TABLE app.b;' },
      { id: ids[1]!, up: 'CREATE TABLE app.c (id int);', meta: { irreversible: true } },
      { id: ids[2]!, up: 'CREATE TABLE app.d (id int);', down: 'DROP TABLE app.d;' },
      { id: ids[3]!, up: "CREATE TABLE app.e (id int);\nDO $$ BEGIN RAISE EXCEPTION 'e is not ready'; END $$;", down: 'DROP TABLE app.e;' },
    ]);
    const plan = await fixture.cli(['plan']);
    expect(plan.stdout).toContain(`its rollback stops before ${ids[1]}: ${ids[1]} cannot be undone automatically (it is irreversible (it has no down))`);
    const up = await fixture.cli(['up', '--wait', '--json']);
    expect(up.code).toBe(1);
    const run = await waitForRunEnd(fixture.db, lastRunId(up.stdout), 30_000);
    expect(run.status).toBe('failed');
    const { rows } = await fixture.db.query<{ error: string }>(`SELECT error FROM migration_mgmt.runs WHERE run_id = $1`, [lastRunId(up.stdout)]);
    expect(rows[0]!.error).toContain(`e is not ready`);
    expect(rows[0]!.error).toContain(`rolled back 1 migration and stopped before ${ids[1]}, which cannot be undone`);
    expect(rows[0]!.error).toContain(`still applied: ${BASE.id}, ${ids[0]}, ${ids[1]}`);
    const statuses = await fixture.db.query<{ migration_id: string; status: string }>(`SELECT migration_id, status FROM migration_mgmt.migration_status ORDER BY migration_id`);
    expect(Object.fromEntries(statuses.rows.map((row) => [row.migration_id, row.status]))).toEqual({
      [BASE.id]: 'completed', [ids[0]!]: 'completed', [ids[1]!]: 'completed', [ids[2]!]: 'rolled_back', [ids[3]!]: 'failed',
    });
    const tables = await fixture.db.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'app' ORDER BY 1`);
    expect(tables.rows.map((row) => row.name)).toEqual(['b', 'c', 't']);
    const status = await fixture.cli(['status']);
    expect(status.stdout).toContain(`stopped before ${ids[1]}`);
  }, 120_000);

  it('runs a file with its own transactions as written; a worker killed in its second block repeats nothing committed', async () => {
    const script = {
      id: '2025.06.01_000001_script',
      up: [
        'CREATE TABLE app.log (n int, at timestamptz DEFAULT clock_timestamp());',
        'BEGIN;',
        'INSERT INTO app.log (n) VALUES (1);',
        'COMMIT;',
        'BEGIN;',
        'INSERT INTO app.log (n) VALUES (2);',
        "SELECT pg_sleep(CASE WHEN (SELECT count(*) FROM app.log WHERE n = 2) = 1 AND NOT EXISTS (SELECT 1 FROM app.log WHERE n = 99) THEN 30 ELSE 0 END);",
        'COMMIT;',
        'CREATE INDEX CONCURRENTLY log_n ON app.log (n);',
        'CREATE INDEX CONCURRENTLY log_at ON app.log (at);',
      ].join('\n'),
      down: 'BEGIN;\nDROP TABLE app.log;\nCOMMIT;',
    };
    fixture = await startFleetFixture('history_script', [BASE, script], { workers: 1 });
    expect((await fixture.cli(['up', '--to', BASE.id, '--wait'])).code).toBe(0);
    const started = await fixture.cli(['up', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const runId = lastRunId(started.stdout);
    // The first attempt sleeps inside the second block; kill its worker there.
    await waitFor('the second block to run', async () => (await fixture!.db.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(CASE%' AND state = 'active'`)).rowCount === 1, 30_000, 100);
    const [worker] = fixture.fleet.procs.filter((proc) => proc.name.startsWith('worker'));
    await fixture.fleet.kill(worker!);
    // The killed session's transaction is rolled back by the server; the retry must not sleep again.
    await fixture.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(CASE%'`);
    await fixture.db.query(`INSERT INTO app.log (n) VALUES (99)`);
    fixture.fleet.worker();
    const run = await waitForRunEnd(fixture.db, runId, 60_000, () => fixture!.fleet.logs());
    expect(run.status).toBe('completed');
    const log = await fixture.db.query<{ n: number }>(`SELECT n FROM app.log ORDER BY n`);
    expect(log.rows.map((row) => row.n)).toEqual([1, 2, 99]);
    const indexes = await fixture.db.query<{ name: string }>(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'log' ORDER BY 1`);
    expect(indexes.rows.map((row) => row.name)).toEqual(['log_at', 'log_n']);
    const attempts = await fixture.db.query<{ attempts: number; kind: string }>(`SELECT attempts, kind FROM migration_mgmt.steps WHERE run_id = $1`, [runId]);
    expect(attempts.rows[0]!.kind).toBe('script');
    expect(attempts.rows[0]!.attempts).toBeGreaterThanOrEqual(2);
    const rollback = await fixture.cli(['down', '--to', BASE.id, '--wait']);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect((await fixture.db.query(`SELECT to_regclass('app.log') IS NULL AS gone`)).rows[0]).toEqual({ gone: true });
    await waitForRunStatus(fixture.db, runId, ['completed']);
  }, 150_000);
});
