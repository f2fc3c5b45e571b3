/**
 * The integrity defects found on tables and inputs the first tests never used, each against a
 * real fleet (a coordinator and 2 workers): partitions sharing ctid and xmin, a nullable key,
 * fragments that try to leave their expression, a preparation that must not outlive a failed
 * backfill, and session state leaking from one migration into the next.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleetFixture, writeMigration, type FleetFixture, type MigrationSpec } from '../helpers/fixtures.js';

const BASE: MigrationSpec = {
  id: '2025.04.01_000000_base',
  up: `CREATE SCHEMA it;
CREATE SCHEMA other;
CREATE TABLE it.sentinel (id int);
-- Two partitions loaded by one transaction: their rows share xmin and start at the same ctids.
CREATE TABLE it.parts (id int NOT NULL, v text NOT NULL, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE it.parts_low PARTITION OF it.parts FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE it.parts_high PARTITION OF it.parts FOR VALUES FROM (100) TO (MAXVALUE);
INSERT INTO it.parts VALUES (1, 'a'), (101, 'b');
CREATE TABLE it.parts4 (id int NOT NULL, v text NOT NULL, PRIMARY KEY (id)) PARTITION BY HASH (id);
CREATE TABLE it.parts4_0 PARTITION OF it.parts4 FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE it.parts4_1 PARTITION OF it.parts4 FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE it.parts4_2 PARTITION OF it.parts4 FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE it.parts4_3 PARTITION OF it.parts4 FOR VALUES WITH (MODULUS 4, REMAINDER 3);
INSERT INTO it.parts4 SELECT g, 'r' || g FROM generate_series(1, 12000) g;
CREATE TABLE it.nullable (id int PRIMARY KEY, u int UNIQUE, v text NOT NULL);
INSERT INTO it.nullable SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE g END, 'x' FROM generate_series(1, 2000) g;
CREATE TABLE it.items (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO it.items SELECT g, g FROM generate_series(1, 500) g;`,
  down: 'DROP SCHEMA it CASCADE;\nDROP SCHEMA other CASCADE;',
};

const checksum = async (fixture: FleetFixture, table: string) =>
  (await fixture.db.query<{ sum: string }>(`SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) AS sum FROM ${table} t`)).rows[0]!.sum;

describe('integrity on partitioned tables, nullable keys, hostile fragments, failed preparations and session state', () => {
  let fixture: FleetFixture;
  const added: string[] = [];

  const add = async (spec: MigrationSpec) => {
    await writeMigration(fixture.dir, spec);
    added.push(spec.id);
  };
  const removeLast = async () => rm(path.join(fixture.dir, added.pop()!), { recursive: true, force: true });

  beforeAll(async () => {
    fixture = await startFleetFixture('integrity', [BASE]);
    const base = await fixture.cli(['up', '--wait']);
    expect(base.code, base.stdout + base.stderr).toBe(0);
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('changes each row of partitions sharing (ctid, xmin) exactly once, and rolls back exactly', async () => {
    const before = [await checksum(fixture, 'it.parts'), await checksum(fixture, 'it.parts4')];
    const marks = (table: string, id: string) => ({
      id,
      up: 'SELECT 1;',
      meta: { type: 'data', backfill: { table, set: { v: "v || '+'" }, initial_batch_size: 1, chunk_keys: 1000, max_parallel_chunks: 3 } },
    });
    await add(marks('it.parts', '2025.04.02_000000_parts_plus'));
    await add(marks('it.parts4', '2025.04.02_000001_parts4_plus'));
    const up = await fixture.cli(['up', '--wait']);
    expect(up.code, up.stdout + up.stderr + fixture.fleet.logs()).toBe(0);
    expect((await fixture.db.query(`SELECT id, v FROM it.parts ORDER BY id`)).rows).toEqual([
      { id: 1, v: 'a+' },
      { id: 101, v: 'b+' },
    ]);
    const wrong = await fixture.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM it.parts4 WHERE v <> 'r' || id || '+'`);
    expect(wrong.rows[0]!.n).toBe(0);

    const down = await fixture.cli(['down', '--to', BASE.id, '--wait']);
    expect(down.code, down.stdout + down.stderr + fixture.fleet.logs()).toBe(0);
    expect([await checksum(fixture, 'it.parts'), await checksum(fixture, 'it.parts4')]).toEqual(before);
    await removeLast();
    await removeLast();
  });

  it('refuses a nullable key before anything changes', async () => {
    const before = await checksum(fixture, 'it.nullable');
    await add({
      id: '2025.04.03_000000_nullable_key',
      up: 'ALTER TABLE it.nullable ADD COLUMN w text;',
      down: 'ALTER TABLE it.nullable DROP COLUMN w;',
      meta: { type: 'data', backfill: { table: 'it.nullable', key: ['u'], set: { v: "'y'" }, chunk_keys: 500 } },
    });
    const up = await fixture.cli(['up', '--wait']);
    expect(up.code).toBe(1);
    const { rows } = await fixture.db.query<{ error: string }>(`SELECT error FROM migration_mgmt.runs ORDER BY created_at DESC LIMIT 1`);
    expect(rows[0]!.error).toMatch(/key column u of it\.nullable is nullable/);
    expect(await checksum(fixture, 'it.nullable')).toBe(before);
    const column = await fixture.db.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'it' AND table_name = 'nullable' AND column_name = 'w'`);
    expect(column.rows).toEqual([]);
    await removeLast();
  });

  it.each([
    ['where', { where: 'false) OR (true', set: { n: 'n + 1' } }],
    ['set', { set: { n: 'n); DROP TABLE it.sentinel; --' } }],
    ['where with a parameter', { where: 'id > $1', set: { n: 'n + 1' } }],
  ])('refuses a %s that leaves its expression, in validate and up (exit 2)', async (_label, backfill) => {
    await add({ id: '2025.04.04_000000_breakout', up: 'SELECT 1;', meta: { type: 'data', backfill: { table: 'it.items', ...backfill } } });
    const before = await checksum(fixture, 'it.items');
    for (const command of [['validate'], ['up', '--wait']]) {
      const result = await fixture.cli(command);
      expect(result.code, `${command.join(' ')}: ${result.stdout}${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/must be exactly one SQL expression/);
    }
    expect(await checksum(fixture, 'it.items')).toBe(before);
    expect((await fixture.db.query(`SELECT to_regclass('it.sentinel') IS NOT NULL AS ok`)).rows[0]).toEqual({ ok: true });
    await removeLast();
  });

  it('refuses a backfill whose up.sql changes the schema without a down.sql', async () => {
    await add({ id: '2025.04.05_000000_no_down', up: 'ALTER TABLE it.items ADD COLUMN m int;', meta: { type: 'data', backfill: { table: 'it.items', set: { m: 'n' } } } });
    const result = await fixture.cli(['validate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/add a down\.sql that undoes up\.sql/);
    await removeLast();
  });

  it('rolls back the preparation of a backfill that fails on a bad row, so the next up starts clean', async () => {
    const before = await checksum(fixture, 'it.items');
    const failing: MigrationSpec = {
      id: '2025.04.06_000000_add_ratio',
      up: 'ALTER TABLE it.items ADD COLUMN ratio int;',
      down: 'ALTER TABLE it.items DROP COLUMN ratio;',
      // Row 250 divides by zero, after other chunks changed rows.
      meta: { type: 'data', backfill: { table: 'it.items', set: { ratio: '1000 / (n - 250)' }, chunk_keys: 100, initial_batch_size: 20 } },
    };
    await add(failing);
    const up = await fixture.cli(['up', '--wait']);
    expect(up.code, up.stdout + up.stderr).toBe(1);
    const { rows } = await fixture.db.query<{ status: string }>(`SELECT status FROM migration_mgmt.runs ORDER BY created_at DESC LIMIT 1`);
    expect(rows[0]!.status).toBe('rolled_back');
    const column = await fixture.db.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'it' AND table_name = 'items' AND column_name = 'ratio'`);
    expect(column.rows).toEqual([]);
    expect(await checksum(fixture, 'it.items')).toBe(before);

    // Fixed, the same migration applies.
    await removeLast();
    await add({ ...failing, meta: { type: 'data', backfill: { table: 'it.items', set: { ratio: '1000 / (n + 1)' }, chunk_keys: 100 } } });
    const again = await fixture.cli(['up', '--wait']);
    expect(again.code, again.stdout + again.stderr + fixture.fleet.logs()).toBe(0);
    const down = await fixture.cli(['down', '--to', BASE.id, '--wait']);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    await removeLast();
  });

  it.each([
    ['a missing table', { table: 'it.nowhere', set: { n: 'n + 1' } }],
    ['an unknown set column', { table: 'it.items', set: { nope: '1' } }],
    ['an unknown key column', { table: 'it.items', key: ['nope'], set: { n: 'n + 1' } }],
    ['an expression PostgreSQL cannot plan', { table: 'it.items', set: { n: "n + 'abc'" } }],
    ['a table without a primary key', { table: 'it.sentinel', set: { id: 'id + 1' } }],
  ])('leaves no trace of up.sql when the backfill finds %s at run time', async (_label, backfill) => {
    await add({ id: '2025.04.07_000000_runtime_error', up: 'CREATE TABLE it.prepared (id int);', down: 'DROP TABLE it.prepared;', meta: { type: 'data', backfill } });
    const up = await fixture.cli(['up', '--wait']);
    expect(up.code, up.stdout + up.stderr).toBe(1);
    expect((await fixture.db.query(`SELECT to_regclass('it.prepared') IS NULL AS gone`)).rows[0]).toEqual({ gone: true });
    // The preparation never committed, so the rollback had nothing to undo: no down step ran.
    const { rows } = await fixture.db.query<{ status: string; downs: number }>(
      `SELECT r.status, (SELECT count(*)::int FROM migration_mgmt.steps s WHERE s.run_id = r.run_id AND s.direction = 'down') AS downs
         FROM migration_mgmt.runs r ORDER BY r.created_at DESC LIMIT 1`,
    );
    expect(rows[0]).toEqual({ status: 'rolled_back', downs: 0 });
    await removeLast();
  });

  it('starts every migration from a clean session: a SET search_path does not move the next one', async () => {
    await add({ id: '2025.04.08_000000_set_path', up: 'SET search_path TO other, public;\nCREATE TABLE in_other (id int);', down: 'DROP TABLE other.in_other;' });
    await add({ id: '2025.04.08_000001_plain_create', up: 'CREATE TABLE leak_check (id int);', down: 'DROP TABLE public.leak_check;' });
    await add({ id: '2025.04.08_000002_temp_table', up: 'CREATE TEMP TABLE scratch (id int);\nSELECT pg_advisory_lock(42);', down: 'SELECT 1;' });
    await add({ id: '2025.04.08_000003_after_temp', up: 'CREATE TABLE scratch (id int);', down: 'DROP TABLE public.scratch;' });
    const up = await fixture.cli(['up', '--wait']);
    expect(up.code, up.stdout + up.stderr + fixture.fleet.logs()).toBe(0);
    const { rows } = await fixture.db.query<{ schema: string; name: string }>(
      `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables WHERE table_name IN ('in_other', 'leak_check', 'scratch') AND table_type = 'BASE TABLE' ORDER BY 2`,
    );
    expect(rows).toEqual([
      { schema: 'other', name: 'in_other' },
      { schema: 'public', name: 'leak_check' },
      { schema: 'public', name: 'scratch' },
    ]);
    const locks = await fixture.db.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 42`);
    expect(locks.rows).toEqual([]);
  });
});
