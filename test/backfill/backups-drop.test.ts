/**
 * Backups of old values never leak: a rolled-back run's are dropped on request like a
 * completed run's; a failed run's (which `rollback --run` would still need) only with --force.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, type FleetFixture, type MigrationSpec } from '../helpers/fixtures.js';

const FAILING = '2025.09.01_000002_fails';
const MIGRATIONS: MigrationSpec[] = [
  { id: '2025.09.01_000000_table', up: 'CREATE TABLE bk (id int PRIMARY KEY, v text NOT NULL);\nINSERT INTO bk SELECT g, g::text FROM generate_series(1, 1000) g;', down: 'DROP TABLE bk;' },
  { id: '2025.09.01_000001_backfill', up: 'SELECT 1;', meta: { type: 'data', backfill: { table: 'bk', set: { v: "v || '!'" } } } },
  { id: FAILING, up: "DO $$ BEGIN RAISE EXCEPTION 'not yet'; END $$;", down: 'SELECT 1;' },
];

describe('dropping backups', () => {
  let fixture: FleetFixture;
  beforeAll(async () => {
    fixture = await startFleetFixture('backups_drop', MIGRATIONS);
  }, 60_000);
  afterAll(async () => {
    await fixture?.stop();
  });

  const backups = async () => JSON.parse((await fixture.cli(['backups', 'list', '--json'])).stdout) as Array<{ run_id: string; run_status: string; rows: string }>;

  it('drops a rolled-back run\'s backups, and a failed run\'s only with --force', async () => {
    const rolledBack = await fixture.cli(['up', '--wait', '--json']);
    expect(rolledBack.code).toBe(1);
    const first = String(jsonLines(rolledBack.stdout).at(-1)!['runId']);
    expect(jsonLines(rolledBack.stdout).at(-1)).toMatchObject({ status: 'rolled_back' });
    expect(await backups()).toEqual([expect.objectContaining({ run_id: first, run_status: 'rolled_back', rows: '1000' })]);
    const dropped = await fixture.cli(['backups', 'drop', '--run', first]);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(await backups()).toEqual([]);

    await writeFile(path.join(fixture.dir, FAILING, 'migration.yaml'), 'auto_rollback: false\n');
    const failed = await fixture.cli(['up', '--wait', '--json']);
    const second = String(jsonLines(failed.stdout).at(-1)!['runId']);
    expect(jsonLines(failed.stdout).at(-1)).toMatchObject({ status: 'failed' });
    const refused = await fixture.cli(['backups', 'drop', '--run', second]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is failed: `rollback --run` restores its backfills from these backups; drop them anyway with --force/);
    expect(await backups()).toHaveLength(1);
    expect((await fixture.cli(['backups', 'drop', '--run', second, '--force'])).code).toBe(0);
    expect(await backups()).toEqual([]);
    const audit = await fixture.db.query<{ details: Record<string, unknown> }>(`SELECT details FROM migration_mgmt.audit_log WHERE action = 'backups.dropped' ORDER BY audit_id`);
    expect(audit.rows.map((row) => row.details['forced'] ?? null)).toEqual([null, 'failed']);
  }, 120_000);
});
