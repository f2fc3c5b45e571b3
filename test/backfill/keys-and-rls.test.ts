import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { removeDir, writeMigrations, type FixtureMigration } from '../helpers/fixtures.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';

const TABLES: FixtureMigration = {
  id: '2025.02.01_000000_key_tables',
  up: `CREATE SCHEMA kb;
CREATE TABLE kb.composite (tenant int, code text, val text NOT NULL, PRIMARY KEY (tenant, code));
INSERT INTO kb.composite SELECT g % 10, 'c' || g, 'value ' || g FROM generate_series(1, 5000) g;
CREATE TABLE kb.textkey (k text PRIMARY KEY, val text NOT NULL);
INSERT INTO kb.textkey SELECT CASE WHEN g % 3 = 0 THEN 'Émile-' ELSE 'key ' END || g, 'value ' || g FROM generate_series(1, 3000) g;
CREATE TABLE kb.intkey (id int PRIMARY KEY, val text NOT NULL);
INSERT INTO kb.intkey SELECT g, 'value ' || g FROM generate_series(1, 2500) g;
CREATE TABLE kb.nokey (a int, val text);
INSERT INTO kb.nokey SELECT g, 'value ' || g FROM generate_series(1, 100) g;
`,
  down: 'DROP SCHEMA kb CASCADE;\n',
};

const upperBackfill = (id: string, table: string, extra = ''): FixtureMigration => ({
  id,
  up: `COMMENT ON TABLE ${table} IS 'upper-cased values';\n`,
  down: `COMMENT ON TABLE ${table} IS NULL;\n`,
  yaml: `type: data
backfill:
  table: ${table}
  set:
    val: upper(val)
  where: val <> upper(val)
  chunk_keys: 700
  initial_batch_size: 50
${extra}`,
});

describe('backfills over composite and text keys', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('backfill_keys');
    dir = await writeMigrations('keys', [
      TABLES,
      upperBackfill('2025.02.01_000001_composite_upper', 'kb.composite'),
      upperBackfill('2025.02.01_000002_text_upper', 'kb.textkey'),
      upperBackfill('2025.02.01_000003_int_upper', 'kb.intkey'),
    ]);
    env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniquePrefix('keys'), MIGRATIONS_DIR: dir };
    fleet = new Fleet(env);
    fleet.coordinator();
    fleet.worker();
    fleet.worker();
  });

  afterAll(async () => {
    await fleet?.stop();
    await db?.drop();
    await removeDir(dir);
  });

  it('changes every row once, split into several chunks along the whole key', async () => {
    const result = await runCli(['up', '--wait'], env);
    expect(result.code, result.stdout + result.stderr + fleet.logs()).toBe(0);
    for (const [table, total] of [['kb.composite', 5000], ['kb.textkey', 3000], ['kb.intkey', 2500]] as const) {
      const { rows } = await db.query(`SELECT count(*) FILTER (WHERE val <> upper(val))::int AS left_over, count(*)::int AS total FROM ${table}`);
      expect(rows[0], table).toEqual({ left_over: 0, total });
    }
    const chunks = await db.query<{ migration_id: string; chunks: number; keys: number; changed: number }>(
      `SELECT s.migration_id, count(*)::int AS chunks, sum(c.keys_done)::int AS keys, sum(c.rows_changed)::int AS changed
         FROM migration_mgmt.chunks c JOIN migration_mgmt.steps s USING (step_id) GROUP BY s.migration_id ORDER BY 1`,
    );
    expect(chunks.rows).toEqual([
      { migration_id: '2025.02.01_000001_composite_upper', chunks: 8, keys: 5000, changed: 5000 },
      { migration_id: '2025.02.01_000002_text_upper', chunks: 5, keys: 3000, changed: 3000 },
      { migration_id: '2025.02.01_000003_int_upper', chunks: 4, keys: 2500, changed: 2500 },
    ]);
    // Integer keys in numeric order, not text order: chunk 0 ends at 700, not at '1629'.
    const bounds = await db.query(
      `SELECT c.upper_bound FROM migration_mgmt.chunks c JOIN migration_mgmt.steps s USING (step_id)
        WHERE s.migration_id = '2025.02.01_000003_int_upper' ORDER BY c.chunk_no`,
    );
    expect(bounds.rows.map((r) => r.upper_bound)).toEqual([['700'], ['1400'], ['2100'], null]);
  });

  it('lists the backups of old values and drops them only for a completed run, on request', async () => {
    const list = await runCli(['backups', 'list', '--json'], env);
    const backups = JSON.parse(list.stdout) as Array<{ table_name: string; run_id: string; migration_id: string }>;
    expect(backups.map((b) => b.migration_id).sort()).toEqual(['2025.02.01_000001_composite_upper', '2025.02.01_000002_text_upper', '2025.02.01_000003_int_upper']);
    const saved = await db.query(`SELECT count(*)::int AS n FROM migration_mgmt.${backups[0]!.table_name}`);
    expect(saved.rows[0]?.n).toBeGreaterThan(0);
    // Rows are the exact count the chunks recorded, not a planner estimate (0 before ANALYZE).
    const listed = JSON.parse(list.stdout) as Array<{ table_name: string; rows: string }>;
    for (const backup of listed) {
      const count = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM migration_mgmt.${backup.table_name}`);
      expect(Number(backup.rows), backup.table_name).toBe(count.rows[0]!.n);
    }
    const dropped = await runCli(['backups', 'drop', '--run', backups[0]!.run_id], { ...env, ACTOR: 'alice' });
    expect(dropped.code, dropped.stderr).toBe(0);
    expect((await runCli(['backups', 'list', '--json'], env)).stdout).toBe('[]');
    const audit = await db.query(`SELECT actor, details FROM migration_mgmt.audit_log WHERE action = 'backups.dropped'`);
    expect(audit.rows).toEqual([{ actor: 'alice', details: { tables: backups.map((b) => b.table_name).sort() } }]);
    const refused = await runCli(['backups', 'drop', '--run', '00000000-0000-0000-0000-000000000000'], env);
    expect(refused.code).toBe(2);
  });

  it('refuses a declared key that is not unique', async () => {
    const dupDir = await writeMigrations('dupkey', [TABLES, upperBackfill('2025.02.01_000005_nokey_by_a', 'kb.nokey', '  key: [a]\n')]);
    try {
      const result = await runCli(['up', '--json', '--wait'], { ...env, MIGRATIONS_DIR: dupDir });
      expect(result.code).toBe(1);
      const last = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { error: string };
      expect(last.error).toMatch(/backfill key \(a\) of kb\.nokey is not a unique key/);
    } finally {
      await removeDir(dupDir);
    }
  });

  it('refuses a table without a primary key or declared key, with a clear error', async () => {
    const noKeyDir = await writeMigrations('nokey', [TABLES, upperBackfill('2025.02.01_000004_nokey_upper', 'kb.nokey')]);
    try {
      const noKeyEnv = { ...env, MIGRATIONS_DIR: noKeyDir };
      await db.query(`DELETE FROM migration_mgmt.migration_status WHERE migration_id LIKE '2025.02.01_00000%' AND migration_id NOT IN ('2025.02.01_000000_key_tables')`);
      const result = await runCli(['up', '--json', '--wait'], noKeyEnv);
      expect(result.code).toBe(1);
      const last = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { status: string; error: string };
      expect(last.status).toBe('rolled_back');
      expect(last.error).toMatch(/kb\.nokey has no primary key: declare backfill\.key/);
      const untouched = await db.query(`SELECT count(*)::int AS n FROM kb.nokey WHERE val = upper(val)`);
      expect(untouched.rows[0]?.n).toBe(0);
    } finally {
      await removeDir(noKeyDir);
    }
  });
});

describe('a backfill on a table with FORCE ROW LEVEL SECURITY', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let dir: string;
  let env: Record<string, string>;
  const role = `pgfm_rls_${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    db = await createTestDatabase('backfill_rls');
    await db.query(`CREATE ROLE ${role} LOGIN`);
    await db.query(`GRANT CREATE, CONNECT ON DATABASE ${db.name} TO ${role}`);
    dir = await writeMigrations('rls', [
      {
        id: '2025.03.01_000000_secure_table',
        up: `CREATE SCHEMA secure;
CREATE TABLE secure.notes (id int PRIMARY KEY, tenant int NOT NULL, val text NOT NULL);
INSERT INTO secure.notes SELECT g, g % 4, 'note ' || g FROM generate_series(1, 400) g;
ALTER TABLE secure.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE secure.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY only_tenant_one ON secure.notes USING (tenant = 1);
`,
        down: 'DROP SCHEMA secure CASCADE;\n',
      },
      upperBackfill('2025.03.01_000001_secure_upper', 'secure.notes'),
    ]);
    const url = new URL(db.url);
    url.username = role;
    env = { DATABASE_URL: url.toString(), QUEUE_PREFIX: uniquePrefix('rls'), MIGRATIONS_DIR: dir };
    fleet = new Fleet(env);
    fleet.coordinator();
    fleet.worker();
  });

  afterAll(async () => {
    await fleet?.stop();
    await db?.drop();
    await db?.query(`SELECT 1`).catch(() => undefined);
    const { ADMIN_URL } = await import('../helpers/database.js');
    const pg = (await import('pg')).default;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${role}`).finally(() => admin.end());
    await removeDir(dir);
  });

  it('stops with a clear error instead of silently skipping the rows policies hide', async () => {
    const result = await runCli(['up', '--json', '--wait'], env);
    expect(result.code).toBe(1);
    const last = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { error: string };
    expect(last.error).toMatch(/secure\.notes has FORCE ROW LEVEL SECURITY and role "pgfm_rls_\w+" does not bypass it/);
    const changed = await db.query(`SELECT count(*)::int AS n FROM secure.notes WHERE val = upper(val)`).catch(() => ({ rows: [{ n: -1 }] }));
    expect(changed.rows[0]?.n ?? 0).toBeLessThanOrEqual(0);
  });

  it('changes every row once the role bypasses row-level security', async () => {
    await db.query(`ALTER ROLE ${role} BYPASSRLS`);
    const result = await runCli(['up', '--wait'], env);
    expect(result.code, result.stdout + result.stderr + fleet.logs()).toBe(0);
    const { rows } = await db.query(`SELECT count(*) FILTER (WHERE val = upper(val))::int AS changed, count(*)::int AS total FROM secure.notes`);
    expect(rows[0]).toEqual({ changed: 400, total: 400 });
  });
});
