import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleet, startFleetFixture, waitForRunStatus, type FleetFixture } from '../helpers/fixtures.js';
import { startProcess, type Proc } from '../helpers/processes.js';

const MIGRATIONS = [
  '2025.07.01_000000_race_schema',
  '2025.07.01_000100_race_accounts',
  '2025.07.01_000200_race_accounts_email',
  '2025.07.01_000300_race_accounts_index',
];

describe('two producers started at once against the same pending work', () => {
  let fx: FleetFixture;

  beforeAll(async () => {
    // No fleet yet: the run must still be active when the second producer looks, whichever wins.
    fx = await startFleetFixture(
      'race',
      [
        { id: MIGRATIONS[0]!, up: `CREATE SCHEMA app;`, down: `DROP SCHEMA app CASCADE;` },
        { id: MIGRATIONS[1]!, up: `CREATE TABLE app.accounts (id int PRIMARY KEY, name text NOT NULL);`, down: `DROP TABLE app.accounts;` },
        { id: MIGRATIONS[2]!, up: `ALTER TABLE app.accounts ADD COLUMN email text;`, down: `ALTER TABLE app.accounts DROP COLUMN email;` },
        { id: MIGRATIONS[3]!, up: `CREATE INDEX accounts_email ON app.accounts (email);`, down: `DROP INDEX app.accounts_email;` },
      ],
      { startFleet: false },
    );
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('creates exactly one run; the other producer reports the same run as existing', async () => {
    const producers: Proc[] = [
      startProcess('p1', 'producer/cli.ts', { ...fx.env, LOG_LEVEL: 'warn' }, ['up', '--json']),
      startProcess('p2', 'producer/cli.ts', { ...fx.env, LOG_LEVEL: 'warn' }, ['up', '--json']),
    ];
    const codes = await Promise.all(producers.map((p) => p.exited));
    const outputs = producers.map((p) => p.output.join('\n'));
    expect(codes, outputs.join('\n---\n')).toEqual([0, 0]);

    const reports = producers.map((p) => jsonLines(p.output.join('\n')));
    expect(reports.map((r) => r.length), outputs.join('\n---\n')).toEqual([1, 1]);
    const [a, b] = reports.map((r) => r[0]!);
    const created = [a, b].find((r) => r?.['existing'] !== true)!;
    const existing = [a, b].find((r) => r?.['existing'] === true);
    expect(existing, outputs.join('\n---\n')).toBeDefined();
    expect(created).toMatchObject({ status: 'running', migrations: MIGRATIONS.length, stages: MIGRATIONS.length });
    expect(existing).toMatchObject({ runId: created['runId'], status: 'running', existing: true });

    const { rows: runs } = await fx.db.query<{ run_id: string }>(`SELECT run_id FROM migration_mgmt.runs`);
    expect(runs.map((r) => r.run_id)).toEqual([created['runId']]);
    const { rows: steps } = await fx.db.query(`SELECT count(*)::int AS n FROM migration_mgmt.steps`);
    expect(steps).toEqual([{ n: MIGRATIONS.length }]);
  });

  it('applies each migration exactly once when the fleet runs it', async () => {
    await startFleet(fx, 2);
    const { rows: runs } = await fx.db.query<{ run_id: string }>(`SELECT run_id FROM migration_mgmt.runs`);
    expect(await waitForRunStatus(fx.db, runs[0]!.run_id, ['completed', 'failed', 'rolled_back', 'cancelled'])).toBe('completed');

    const { rows: executions } = await fx.db.query<{ migration_id: string; n: number }>(
      `SELECT migration_id, count(*)::int AS n FROM migration_mgmt.migration_executions
        WHERE execution_type = 'forward' AND execution_status = 'completed' GROUP BY migration_id ORDER BY migration_id`,
    );
    expect(executions).toEqual(MIGRATIONS.map((id) => ({ migration_id: id, n: 1 })));
    const { rows: applied } = await fx.db.query(`SELECT count(*)::int AS n FROM migration_mgmt.audit_log WHERE action = 'migration.applied'`);
    expect(applied).toEqual([{ n: MIGRATIONS.length }]);
    const { rows: statuses } = await fx.db.query(`SELECT status, count(*)::int AS n FROM migration_mgmt.migration_status GROUP BY status`);
    expect(statuses).toEqual([{ status: 'completed', n: MIGRATIONS.length }]);
    const { rows: created } = await fx.db.query(`SELECT count(*)::int AS n FROM migration_mgmt.audit_log WHERE action = 'run.created'`);
    expect(created).toEqual([{ n: 1 }]);
  });
});
