/**
 * Layout readers on small hand-made folders: each layout is recognised from its files and
 * ordered as its tool orders it; a folder of SQL files no layout explains is refused instead
 * of reading as an empty history; tool-specific errors name file and line; validate lists
 * every broken migration, not only the first.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { compareFlywayVersions, flywayChecksum } from '../../shared/definitions/layouts/flyway.js';
import { parseSqitchPlan } from '../../shared/definitions/layouts/sqitch.js';
import { DefinitionError } from '../../shared/errors.js';
import { runCli } from '../helpers/cli.js';

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

async function folder(files: Record<string, string>): Promise<string> {
  root = await mkdtemp(path.join(os.tmpdir(), 'pgfm-layouts-'));
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

const ids = async (dir: string) => (await loadDefinitions(dir)).migrations.map((migration) => migration.id);
const refusal = async (dir: string, layout?: Parameters<typeof loadDefinitions>[1]) => {
  try {
    await loadDefinitions(dir, layout);
  } catch (error) {
    expect(error).toBeInstanceOf(DefinitionError);
    return error as DefinitionError;
  }
  throw new Error('loaded');
};

describe('layouts', () => {
  it('Diesel: ordered by the dash-less version as text, a second 60 included; run_in_transaction from metadata.toml', async () => {
    const dir = await folder({
      '2017-10-08-193512_users/up.sql': 'CREATE TABLE users (id int);',
      '2017-10-08-193512_users/down.sql': 'DROP TABLE users;',
      '00000000000000_diesel_initial_setup/up.sql': 'SELECT 1;',
      '00000000000000_diesel_initial_setup/down.sql': '-- nothing to undo',
      '20140929103760_odd_second/up.sql': 'SELECT 2;',
      '20140929103760_odd_second/down.sql': '',
      '2026-07-15-182934-0000_index/up.sql': 'CREATE INDEX CONCURRENTLY a ON users (id);\nCREATE INDEX CONCURRENTLY b ON users (id);',
      '2026-07-15-182934-0000_index/metadata.toml': 'run_in_transaction = false\n',
    });
    const definitions = await loadDefinitions(dir);
    expect(definitions.layout).toBe('diesel');
    expect(definitions.migrations.map((m) => [m.id, m.toolVersion])).toEqual([
      ['00000000000000_diesel_initial_setup', '00000000000000'],
      ['20140929103760_odd_second', '20140929103760'],
      ['2017-10-08-193512_users', '20171008193512'],
      ['2026-07-15-182934-0000_index', '202607151829340000'],
    ]);
    expect(definitions.migrations[3]!.up.mode).toBe('per_statement');
    expect(definitions.migrations[3]!.meta.irreversible).toBe(true);
    expect(definitions.migrations[0]!.down!.statements).toEqual([]);
    expect(definitions.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/00000000000000_diesel_initial_setup\/down\.sql: no statement: undoing .* changes nothing/)]));
  });

  it('Flyway: versions compared part by part as numbers, repeatables last by description, undo files as downs', async () => {
    expect(compareFlywayVersions('2.10', '2.9')).toBe(1);
    expect(compareFlywayVersions('1.0', '1')).toBe(0);
    expect(compareFlywayVersions('1_2', '1.10')).toBe(-1);
    expect(flywayChecksum('CREATE TABLE t (id int);\n')).toBe(flywayChecksum('CREATE TABLE t (id int);\r\n'));
    const dir = await folder({
      'V2.10__later.sql': 'SELECT 210;',
      'V2.9__earlier.sql': '-- flyway:executeInTransaction=false\nCREATE INDEX CONCURRENTLY i ON t (id);\nCREATE INDEX CONCURRENTLY j ON t (id);',
      'V1__init tables.sql': 'CREATE TABLE t (id int);',
      'U1__init tables.sql': 'DROP TABLE t;',
      'R__b view.sql': 'CREATE OR REPLACE VIEW b AS SELECT 1;',
      'R__a view.sql': 'CREATE OR REPLACE VIEW a AS SELECT 1;',
      'sub/V3__nested.sql': 'SELECT 3;',
      'notes.sql': 'SELECT 0;',
    });
    const definitions = await loadDefinitions(dir);
    expect(definitions.migrations.map((m) => m.id)).toEqual(['V1__init tables', 'V2.9__earlier', 'V2.10__later', 'V3__nested', 'R__a view', 'R__b view']);
    expect(definitions.migrations[0]!.down?.file).toBe('U1__init tables.sql');
    expect(definitions.migrations[1]!.up.mode).toBe('per_statement');
    expect(definitions.migrations[4]!.repeatable).toBe(true);
    expect(definitions.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/notes\.sql: not a Flyway migration name/)]));
    await writeFile(path.join(dir, 'V2.09__same.sql'), 'SELECT 1;');
    expect((await refusal(dir)).message).toMatch(/the same Flyway version/);
  });

  it('golang-migrate: numeric versions; dbmate: file-name order and sections that keep their line numbers', async () => {
    const golang = await folder({
      '10_ten.up.sql': 'SELECT 10;',
      '10_ten.down.sql': 'SELECT -10;',
      '2_two.up.sql': 'SELECT 2;',
      '1_one.up.sql': 'CREATE TABLE t (id int);',
      '1_one.down.sql': 'DROP TABLE t;',
    });
    expect(await ids(golang)).toEqual(['1_one', '2_two', '10_ten']);
    await rm(golang, { recursive: true });
    const dbmate = await folder({
      '20250105_seed.sql': '-- migrate:up\nSELECT 1;\n-- migrate:down\n',
      '20250105090000_enum.sql': '-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (id);\nCREATE INDEX CONCURRENTLY j ON t (id);\n-- migrate:down\nDROP INDEX i;\nSELEC 1;\n',
    });
    // File-name order: "20250105090000_" sorts before "20250105_".
    const definitions = await loadDefinitions(dbmate);
    expect(definitions.migrations.map((m) => m.id)).toEqual(['20250105090000_enum', '20250105_seed']);
    expect(definitions.migrations[0]!.up.mode).toBe('per_statement');
    expect(definitions.migrations[0]!.downError).toMatch(/SQL syntax error: syntax error at or near "SELEC" \(20250105090000_enum\.sql:6\)/);
    await writeFile(path.join(dbmate, '20250106_bad.sql'), 'SELECT 0;\n-- migrate:up\nSELECT 1;\n');
    const error = await refusal(dbmate);
    expect(error.message).toMatch(/a statement before "-- migrate:up"/);
    expect(error.context).toMatchObject({ file: '20250106_bad.sql', line: 1 });
  });

  it('Sqitch: plan order, reworked changes as name@tag, requires checked against the plan, change ids as Sqitch computes them', async () => {
    const plan = [
      '%syntax-version=1.0.0',
      '%project=flipr',
      '',
      'appschema 2013-12-30T23:19:04Z Marge <marge@example.com> # Add schema',
      'users [appschema] 2013-12-31T00:39:27Z Marge <marge@example.com> # Creates table',
      '@v1.0 2014-01-01T00:00:00Z Marge <marge@example.com> # Tag',
      'users [users@v1.0] 2014-01-02T00:00:00Z Marge <marge@example.com> # Reworked',
      '',
    ].join('\n');
    const dir = await folder({
      'sqitch.plan': plan,
      'deploy/appschema.sql': 'BEGIN;\nCREATE SCHEMA flipr;\nCOMMIT;\n',
      'revert/appschema.sql': 'BEGIN;\nDROP SCHEMA flipr;\nCOMMIT;\n',
      'verify/appschema.sql': "BEGIN;\nSELECT pg_catalog.has_schema_privilege('flipr', 'usage');\nROLLBACK;\n",
      'deploy/users@v1.0.sql': 'CREATE TABLE flipr.users (id int);',
      'revert/users@v1.0.sql': 'DROP TABLE flipr.users;',
      'deploy/users.sql': 'ALTER TABLE flipr.users ADD note text;',
      'revert/users.sql': 'ALTER TABLE flipr.users DROP note;',
    });
    const definitions = await loadDefinitions(dir);
    expect(definitions.layout).toBe('sqitch');
    expect(definitions.migrations.map((m) => [m.id, m.up.mode])).toEqual([['appschema', 'script'], ['users@v1.0', 'transaction'], ['users', 'transaction']]);
    expect(definitions.migrations[0]!.verify!.mode).toBe('script');
    const parsed = parseSqitchPlan(plan, 'sqitch.plan');
    expect(parsed.changes.map((change) => change.changeId)).toEqual(definitions.migrations.map((m) => m.toolVersion));
    expect(new Set(parsed.changes.map((change) => change.changeId)).size).toBe(3);
    await writeFile(path.join(dir, 'sqitch.plan'), `${plan}widgets [gadgets] 2014-01-03T00:00:00Z Marge <marge@example.com>\n`);
    await writeFile(path.join(dir, 'deploy', 'widgets.sql'), 'SELECT 1;');
    const error = await refusal(dir);
    expect(error.message).toMatch(/change widgets requires gadgets, which is not planned before it/);
    expect(error.context).toMatchObject({ file: 'sqitch.plan', line: 8 });
  });

  it('refuses a folder of SQL files in no layout it reads, and loose SQL files in pgfm\'s layout', async () => {
    const dir = await folder({ '001-init.sql': 'SELECT 1;', '002-more.sql': 'SELECT 2;' });
    const result = await runCli(['validate'], { MIGRATIONS_DIR: dir });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/holds 2 \.sql file\(s\) \(001-init\.sql, 002-more\.sql\) in no layout pgfm reads/);
    await rm(dir, { recursive: true });
    const pgfm = await folder({ '2025.01.01_000000_a/up.sql': 'SELECT 1;', '2025.01.01_000000_a/down.sql': 'SELECT 1;', 'stray.sql': 'SELECT 2;' });
    expect((await refusal(pgfm)).message).toMatch(/stray\.sql is not part of any migration/);
    // Named explicitly, a layout is read as that layout even when the files say otherwise.
    expect((await refusal(pgfm, 'flyway')).message).toMatch(/no flyway migration in .*, only files it skips/);
  });

  it('lists every broken migration in one error (exit 2), not only the first', async () => {
    const dir = await folder({
      '2025.01.01_000000_a/up.sql': 'SELEC 1;',
      '2025.01.01_000000_a/down.sql': 'SELECT 1;',
      '2025.01.01_000001_b/up.sql': 'SELECT 1;',
      '2025.01.01_000002_c/up.sql': 'CREATE TABLE (;',
      '2025.01.01_000002_c/down.sql': 'SELECT 1;',
    });
    const result = await runCli(['validate'], { MIGRATIONS_DIR: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/3 migrations have errors/);
    expect(result.stderr).toContain('2025.01.01_000000_a/up.sql:1');
    expect(result.stderr).toContain('missing down.sql');
    expect(result.stderr).toContain('2025.01.01_000002_c/up.sql:1');
  });

  it('new refuses to scaffold pgfm\'s layout into another tool\'s history', async () => {
    const dir = await folder({ '1_one.up.sql': 'SELECT 1;' });
    const result = await runCli(['new', 'add_thing'], { MIGRATIONS_DIR: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/holds a golang-migrate history/);
  });
});
