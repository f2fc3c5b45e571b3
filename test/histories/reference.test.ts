import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { FOREIGN_LAYOUTS, writeHistory, type ForeignLayout } from './layouts.js';
import { readHistory, readSqitchPlan } from './read-history.js';
import {
  applyWithPsql,
  idsAfterRevert,
  idsToRevert,
  revertIdsWithPsql,
  revertTailWithPsql,
  schemaDump,
  verifySqitchWithPsql,
} from './reference.js';
import { recordToolHistory, sqitchExternalChangeId } from './tool-history.js';

const databases: TestDatabase[] = [];
const roots: string[] = [];

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
  await Promise.all(roots.map((root) => fs.rm(root, { recursive: true, force: true })));
});

async function database(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label);
  databases.push(db);
  return db;
}

async function count(db: TestDatabase, sql: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql);
  return Number(rows[0]!.n);
}

describe.each(FOREIGN_LAYOUTS.map((layout) => [layout] as [ForeignLayout]))('%s history', (layout) => {
  test('psql reference: apply, revert the tail, compare with a database that never had it', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), `pgfm-history-${layout}-`));
    roots.push(root);
    const fixture = await writeHistory(layout, root);

    expect(fixture.ids.length).toBeGreaterThanOrEqual(30);
    expect(new Set(fixture.ids).size).toBe(fixture.ids.length);
    expect(fixture.migrations.map((m) => m.id)).toEqual(fixture.ids);
    // The order written down in the fixture is the order the tool's own rules give.
    expect((await readHistory(layout, fixture.dir)).map((m) => m.id)).toEqual(fixture.ids);
    expect(fixture.reversibleTail).toBe(6);
    // The one file a tool itself cannot run as written (see MigrationInfo.originToolRejects).
    const rejected = fixture.migrations.filter((m) => m.originToolRejects).map((m) => m.id);
    expect(rejected.length).toBe(['diesel', 'dbmate', 'golang-migrate'].includes(layout) ? 1 : 0);

    const full = await database(`hist_${layout}_full`);
    await applyWithPsql(layout, fixture, full.url);
    const fullDump = await schemaDump(full.url, []);
    expect(fullDump).toContain('CREATE TABLE public.tenants');
    expect(fullDump).toContain('PARTITION BY RANGE (occurred_at)');
    expect(fullDump).toContain('CREATE INDEX webhooks_tenant_idx');
    expect(fullDump.length).toBeGreaterThan(5000);
    if (layout === 'sqitch') await verifySqitchWithPsql(fixture, full.url);

    await revertTailWithPsql(layout, fixture, full.url, fixture.reversibleTail);
    const reverted = await schemaDump(full.url, []);

    const prefix = await database(`hist_${layout}_prefix`);
    const kept = idsAfterRevert(layout, fixture, fixture.reversibleTail);
    expect(kept.length).toBe(fixture.ids.length - fixture.reversibleTail);
    await applyWithPsql(layout, fixture, prefix.url, { ids: kept });
    const prefixDump = await schemaDump(prefix.url, []);
    expect(reverted).toBe(prefixDump);
    expect(fullDump).not.toBe(prefixDump);

    // The migration just before the tail really is irreversible for the tool (golang-migrate: a missing down
    // file is a silent no-op, so it "reverts" without changing anything).
    const [stopper] = idsToRevert(layout, fixture, fixture.reversibleTail + 1).slice(-1) as [string];
    if (layout === 'golang-migrate') {
      await revertIdsWithPsql(layout, fixture, full.url, [stopper]);
      expect(await schemaDump(full.url, [])).toBe(prefixDump);
    } else {
      await expect(revertIdsWithPsql(layout, fixture, full.url, [stopper])).rejects.toThrow();
    }

    // The tool's own history table, as the tool would have left it after the kept migrations.
    const appliedCount = layout === 'flyway' ? fixture.ids.length - fixture.reversibleTail - 1 : kept.length;
    await recordToolHistory(layout, fixture, prefix.url, appliedCount);
    switch (layout) {
      case 'diesel': {
        expect(await count(prefix, 'SELECT count(*) AS n FROM __diesel_schema_migrations')).toBe(appliedCount);
        const { rows } = await prefix.query<{ version: string }>('SELECT version FROM __diesel_schema_migrations ORDER BY version');
        expect(rows.map((r) => r.version)).toContain('00000000000000');
        expect(rows.map((r) => r.version)).toContain('20140929103760');
        expect(rows.map((r) => r.version)).toContain('202302141200000001');
        break;
      }
      case 'flyway': {
        const { rows } = await prefix.query<{ installed_rank: number; version: string | null; description: string; script: string; checksum: number }>(
          'SELECT installed_rank, version, description, script, checksum FROM flyway_schema_history ORDER BY installed_rank',
        );
        expect(rows.length).toBe(appliedCount);
        expect(rows[2]).toMatchObject({ installed_rank: 3, version: '1.2', description: 'create members', script: 'V1_2__create members.sql' });
        expect(rows.map((r) => r.version)).toContain('010');
        expect(rows.every((r) => Number.isInteger(r.checksum))).toBe(true);
        break;
      }
      case 'golang-migrate': {
        const { rows } = await prefix.query<{ version: string; dirty: boolean }>('SELECT version, dirty FROM schema_migrations');
        expect(rows).toEqual([{ version: '29', dirty: false }]);
        break;
      }
      case 'dbmate': {
        const { rows } = await prefix.query<{ version: string }>('SELECT version FROM schema_migrations');
        expect(rows.length).toBe(appliedCount);
        expect(rows.map((r) => r.version)).toContain('20250105');
        break;
      }
      case 'sqitch': {
        expect(fixture.externalRequirements).toEqual(['auditkit:audit_sink']);
        const plan = await readSqitchPlan(fixture.dir);
        expect(await count(prefix, `SELECT count(*) AS n FROM sqitch.changes WHERE project = 'tenantdesk'`)).toBe(appliedCount);
        expect(await count(prefix, `SELECT count(*) AS n FROM sqitch.tags`)).toBe(3);
        expect(await count(prefix, `SELECT count(*) AS n FROM sqitch.events WHERE event = 'deploy'`)).toBe(appliedCount + 1);
        const { rows } = await prefix.query<{ dependency_id: string }>(
          `SELECT dependency_id FROM sqitch.dependencies WHERE dependency = 'auditkit:audit_sink'`,
        );
        expect(rows).toEqual([{ dependency_id: sqitchExternalChangeId('auditkit:audit_sink') }]);
        // The latest deployed change is where Sqitch resumes: its id must be in the plan.
        const latest = await prefix.query<{ change_id: string }>(
          `SELECT change_id FROM sqitch.changes WHERE project = 'tenantdesk' ORDER BY committed_at DESC LIMIT 1`,
        );
        expect(latest.rows[0]!.change_id).toBe(plan.changes[appliedCount - 1]!.id);
        break;
      }
    }
    // A second call on a fresh database also works for an empty history.
    const empty = await database(`hist_${layout}_empty`);
    await recordToolHistory(layout, fixture, empty.url, 0);
    const client = new pg.Client({ connectionString: empty.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
      );
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });
});
