/**
 * Bad input never gets past the producer: every case below starts from a small valid
 * migrations directory, breaks exactly one thing, runs the CLI and expects
 *   - exit code 2 (bad input),
 *   - a single `error: ...` line on stderr naming the file (and field, line, column
 *     where there is one), nothing on stdout,
 *   - nothing written to the database (no catalog schema, no application schema), or,
 *     for drift, the catalog rows exactly as they were.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDefinitions } from '../../shared/catalog/definitions.js';
import { migrateCatalog } from '../../shared/catalog/internal-migrations.js';
import { catalogTables } from '../../shared/catalog/tables.js';
import { createPool } from '../../shared/db.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const BASE = '2025.01.01_000000_base';
const ADD_COLUMN = '2025.01.02_000000_add_column';
const ADD_INDEX = '2025.01.03_000000_add_index';
const SET_FILE = 'sets/SET-2025-001.yaml';
const CATALOG = 'migration_mgmt';

/** Relative path -> content of every file of a migrations directory. */
type Files = Map<string, string>;

function baseFiles(): Files {
  return new Map<string, string>([
    [
      `${BASE}/migration.yaml`,
      [
        'name: base',
        'description: Creates the app schema and its items table',
        'type: schema',
        'category: create',
        'impact: low',
        'schema_version: 1.0.0',
        'target_schemas: [app]',
        'target_tables: [app.items]',
        '',
      ].join('\n'),
    ],
    [`${BASE}/up.sql`, 'CREATE SCHEMA app;\nCREATE TABLE app.items (\n  id bigint PRIMARY KEY,\n  name text NOT NULL\n);\n'],
    [`${BASE}/down.sql`, 'DROP TABLE app.items;\nDROP SCHEMA app;\n'],
    [
      `${ADD_COLUMN}/migration.yaml`,
      [
        'name: add column',
        'type: schema',
        'category: alter',
        'impact: low',
        'schema_version: 1.0.0',
        'target_tables: [app.items]',
        'requires_backup: false',
        '',
      ].join('\n'),
    ],
    [
      `${ADD_COLUMN}/up.sql`,
      [
        '-- price of one item, in cents',
        'ALTER TABLE app.items ADD COLUMN price_cents bigint;',
        "ALTER TABLE app.items ADD COLUMN currency text NOT NULL DEFAULT 'EUR';",
        '',
      ].join('\n'),
    ],
    [
      `${ADD_COLUMN}/down.sql`,
      ['-- undo the price columns', 'ALTER TABLE app.items DROP COLUMN currency;', 'ALTER TABLE app.items DROP COLUMN price_cents;', ''].join('\n'),
    ],
    [
      `${ADD_INDEX}/migration.yaml`,
      ['name: add index', 'type: index', 'category: create', 'impact: medium', 'schema_version: 1.1.0', 'target_tables: [app.items]', ''].join('\n'),
    ],
    [`${ADD_INDEX}/up.sql`, 'CREATE INDEX CONCURRENTLY items_name_idx ON app.items (name);\n'],
    [`${ADD_INDEX}/down.sql`, 'DROP INDEX CONCURRENTLY app.items_name_idx;\n'],
    [
      'versions.yaml',
      [
        'versions:',
        '  - version: 1.0.0',
        '    type: major',
        '    description: First release',
        '  - version: 1.1.0',
        '    type: minor',
        '    description: Item search',
        '    requires_previous_version: 1.0.0',
        '',
      ].join('\n'),
    ],
    [
      SET_FILE,
      [
        'id: SET-2025-001',
        'name: Item pricing and search',
        'execution_order:',
        `  - ${ADD_COLUMN}`,
        `  - ${ADD_INDEX}`,
        'parallel_groups:',
        `  - [${ADD_COLUMN}]`,
        `  - [${ADD_INDEX}]`,
        '',
      ].join('\n'),
    ],
  ]);
}

// Mutation helpers: each one fails loudly when it does not change the fixture, so a
// case can never pass because its mutation silently missed.
function text(files: Files, file: string): string {
  const content = files.get(file);
  if (content === undefined) throw new Error(`fixture has no ${file}`);
  return content;
}

function edit(files: Files, file: string, from: string | RegExp, to: string): void {
  const before = text(files, file);
  const after = before.replace(from, to);
  if (after === before) throw new Error(`mutation did not change ${file} (${String(from)} not found)`);
  files.set(file, after);
}

function append(files: Files, file: string, lines: string): void {
  files.set(file, text(files, file) + lines);
}

function remove(files: Files, file: string): void {
  if (!files.delete(file)) throw new Error(`fixture has no ${file}`);
}

function copyFolder(files: Files, from: string, to: string): void {
  const entries = [...files].filter(([file]) => file.startsWith(`${from}/`));
  if (entries.length === 0) throw new Error(`fixture has no folder ${from}`);
  for (const [file, content] of entries) files.set(`${to}/${file.slice(from.length + 1)}`, content);
}

function moveFolder(files: Files, from: string, to: string): void {
  copyFolder(files, from, to);
  for (const file of [...files.keys()]) if (file.startsWith(`${from}/`)) files.delete(file);
}

/** A fourth, harmless migration (adds and drops a note column). */
function addMigration(files: Files, folder: string, yaml = 'name: add note\n'): void {
  files.set(`${folder}/migration.yaml`, yaml);
  files.set(`${folder}/up.sql`, 'ALTER TABLE app.items ADD COLUMN note text;\n');
  files.set(`${folder}/down.sql`, 'ALTER TABLE app.items DROP COLUMN note;\n');
}

async function writeFixture(files: Files): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-bad-input-'));
  for (const [file, content] of files) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return dir;
}

async function withFixture<T>(mutate: (files: Files) => void, work: (dir: string) => Promise<T>): Promise<T> {
  const files = baseFiles();
  mutate(files);
  const dir = await writeFixture(files);
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

type Command = 'validate' | 'plan';

interface BadInputCase {
  name: string;
  mutate: (files: Files) => void;
  /** Extra environment variables (override the defaults below). */
  env?: Record<string, string>;
  /** Default: both; definition errors must stop `plan` exactly like `validate`. */
  commands?: Command[];
  message: RegExp;
  file?: string;
  field?: string;
  /** A number: exactly that line; true: some line must be given. */
  line?: number | true;
  column?: number | true;
  migrationId?: string;
  setId?: string;
  variable?: string;
}

const noChange = () => undefined;
const escapeRegExp = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const cases: BadInputCase[] = [
  // --- malformed YAML -------------------------------------------------------
  {
    name: 'malformed YAML (bad indentation) in migration.yaml',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'category: alter\n', 'category: alter\n  impact: low\n'),
    message: /malformed YAML/,
    file: `${ADD_COLUMN}/migration.yaml`,
    migrationId: ADD_COLUMN,
    line: true,
  },
  {
    name: 'malformed YAML (unclosed bracket) in versions.yaml',
    mutate: (f) => edit(f, 'versions.yaml', '    description: First release\n', '    blocks_versions: [0.9.0\n'),
    message: /malformed YAML/,
    file: 'versions.yaml',
    line: true,
  },
  {
    name: 'malformed YAML (unclosed bracket) in a set file',
    mutate: (f) => edit(f, SET_FILE, `  - [${ADD_COLUMN}]\n`, `  - [${ADD_COLUMN}\n`),
    message: /malformed YAML/,
    file: SET_FILE,
    line: true,
  },
  {
    name: 'malformed YAML (bad indentation) in migration.yaml, file and message only',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'category: alter\n', 'category: alter\n  impact: low\n'),
    message: /malformed YAML: \S/,
    file: `${ADD_COLUMN}/migration.yaml`,
    migrationId: ADD_COLUMN,
  },
  {
    name: 'malformed YAML (unclosed bracket) in versions.yaml, file and message only',
    mutate: (f) => edit(f, 'versions.yaml', '    description: First release\n', '    blocks_versions: [0.9.0\n'),
    message: /malformed YAML: \S/,
    file: 'versions.yaml',
  },
  {
    name: 'malformed YAML (unclosed bracket) in a set file, file and message only',
    mutate: (f) => edit(f, SET_FILE, `  - [${ADD_COLUMN}]\n`, `  - [${ADD_COLUMN}\n`),
    message: /malformed YAML: \S/,
    file: SET_FILE,
  },
  {
    name: 'duplicate key in migration.yaml',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, 'impact: high\n'),
    message: /malformed YAML: Map keys must be unique/,
    file: `${ADD_COLUMN}/migration.yaml`,
    migrationId: ADD_COLUMN,
  },

  // --- unknown fields -------------------------------------------------------
  {
    name: 'unknown field in migration.yaml',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, `depend_on: [${BASE}]\n`),
    message: /unknown field "depend_on"/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'depend_on',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'unknown field in versions.yaml',
    mutate: (f) => append(f, 'versions.yaml', '    relase_notes: typo\n'),
    message: /unknown field "relase_notes"/,
    file: 'versions.yaml',
    field: 'versions.1.relase_notes',
  },
  {
    name: 'unknown field in a set file',
    mutate: (f) => append(f, SET_FILE, 'owner: team-pricing\n'),
    message: /unknown field "owner"/,
    file: SET_FILE,
    field: 'owner',
  },

  // --- wrong types ----------------------------------------------------------
  {
    name: 'string for a boolean in migration.yaml (requires_backup: yes)',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'requires_backup: false', 'requires_backup: yes'),
    message: /requires_backup: .*boolean/i,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'requires_backup',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'number for a list in migration.yaml (depends_on: 5)',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, 'depends_on: 5\n'),
    message: /depends_on: .*array/i,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'depends_on',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'bad enum for type',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'type: schema', 'type: table'),
    message: /type: .*"schema"/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'type',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'bad enum for impact',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'impact: low', 'impact: huge'),
    message: /impact: .*"critical"/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'impact',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'bad enum for category',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'category: alter', 'category: modify'),
    message: /category: .*"alter"/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'category',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'string for a boolean in versions.yaml',
    mutate: (f) => append(f, 'versions.yaml', '    requires_maintenance_window: "no"\n'),
    message: /versions\.1\.requires_maintenance_window: .*boolean/i,
    file: 'versions.yaml',
    field: 'versions.1.requires_maintenance_window',
  },
  {
    name: 'bad set id in a set file',
    mutate: (f) => edit(f, SET_FILE, 'id: SET-2025-001', 'id: set 2025 001'),
    message: /id: must look like COORD-2025-001/,
    file: SET_FILE,
    field: 'id',
  },

  // --- migration ids --------------------------------------------------------
  {
    name: 'id folder without the time part',
    mutate: (f) => addMigration(f, '2025.01.04_add_note'),
    message: /folder name "2025\.01\.04_add_note" is not a migration id/,
    file: '2025.01.04_add_note',
    field: 'id',
  },
  {
    name: 'id folder with an upper-case slug',
    mutate: (f) => addMigration(f, '2025.01.04_000000_Add_Note'),
    message: /folder name "2025\.01\.04_000000_Add_Note" is not a migration id/,
    file: '2025.01.04_000000_Add_Note',
    field: 'id',
  },
  {
    name: 'id folder with a dashed date',
    mutate: (f) => addMigration(f, '2025-01-04_000000_add_note'),
    message: /folder name "2025-01-04_000000_add_note" is not a migration id/,
    file: '2025-01-04_000000_add_note',
    field: 'id',
  },
  {
    name: 'id folder with an impossible date (month 13, day 45)',
    mutate: (f) => addMigration(f, '2025.13.45_000000_add_note'),
    message: /folder name "2025\.13\.45_000000_add_note" is not a migration id/,
    file: '2025.13.45_000000_add_note',
    field: 'id',
  },
  {
    name: 'duplicate id in two subfolders',
    mutate: (f) => {
      moveFolder(f, ADD_INDEX, `a/${ADD_INDEX}`);
      copyFolder(f, `a/${ADD_INDEX}`, `b/${ADD_INDEX}`);
    },
    message: new RegExp(`duplicate migration id ${escapeRegExp(ADD_INDEX)} \\(also in a/${escapeRegExp(ADD_INDEX)}\\)`),
    file: `b/${ADD_INDEX}`,
    field: 'id',
    migrationId: ADD_INDEX,
  },

  // --- references and dependencies -----------------------------------------
  {
    name: 'depends_on names an unknown id',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, `depends_on: [${BASE}, 2024.12.31_000000_ghost]\n`),
    message: /depends_on names unknown migration 2024\.12\.31_000000_ghost/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'depends_on',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'blocks names an unknown id',
    mutate: (f) => append(f, `${ADD_INDEX}/migration.yaml`, 'blocks: [2025.02.01_000000_ghost]\n'),
    message: /blocks names unknown migration 2025\.02\.01_000000_ghost/,
    file: `${ADD_INDEX}/migration.yaml`,
    field: 'blocks',
    migrationId: ADD_INDEX,
  },
  {
    name: 'dependency cycle of two',
    mutate: (f) => {
      append(f, `${BASE}/migration.yaml`, `depends_on: [${ADD_COLUMN}]\n`);
      append(f, `${ADD_COLUMN}/migration.yaml`, `depends_on: [${BASE}]\n`);
    },
    message: new RegExp(`dependency cycle: ${escapeRegExp(`${BASE} -> ${ADD_COLUMN} -> ${BASE}`)}`),
    file: `${BASE}/migration.yaml`,
    field: 'depends_on',
    migrationId: BASE,
  },
  {
    name: 'dependency cycle of three',
    mutate: (f) => {
      append(f, `${BASE}/migration.yaml`, `depends_on: [${ADD_INDEX}]\n`);
      append(f, `${ADD_INDEX}/migration.yaml`, `depends_on: [${ADD_COLUMN}]\n`);
      append(f, `${ADD_COLUMN}/migration.yaml`, `depends_on: [${BASE}]\n`);
    },
    message: new RegExp(`dependency cycle: ${escapeRegExp(`${BASE} -> ${ADD_INDEX} -> ${ADD_COLUMN} -> ${BASE}`)}`),
    file: `${BASE}/migration.yaml`,
    field: 'depends_on',
    migrationId: BASE,
  },
  {
    name: 'self-dependency',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, `depends_on: [${ADD_COLUMN}]\n`),
    message: /cannot depend on itself/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'depends_on',
    migrationId: ADD_COLUMN,
  },

  // --- schema versions ------------------------------------------------------
  {
    name: 'a 1.1.0 migration sorting before the 1.0.0 ones (requires_previous_version)',
    mutate: (f) => addMigration(f, '2024.12.31_000000_early_feature', 'name: early feature\nschema_version: 1.1.0\n'),
    message: new RegExp(
      `version 1\\.1\\.0 requires 1\\.0\\.0, but migration order puts 1\\.1\\.0 first: ` +
        escapeRegExp(`2024.12.31_000000_early_feature -> ${BASE} -> 2024.12.31_000000_early_feature`),
    ),
    file: 'versions.yaml',
    field: 'requires_previous_version',
    migrationId: '2024.12.31_000000_early_feature',
  },
  {
    name: 'requires_previous_version names an undefined version',
    mutate: (f) => edit(f, 'versions.yaml', 'requires_previous_version: 1.0.0', 'requires_previous_version: 0.9.0'),
    message: /version 1\.1\.0 names unknown version 0\.9\.0/,
    file: 'versions.yaml',
    field: 'versions.1.requires_previous_version',
  },
  {
    name: 'requires_previous_version names an undeployed version without migrations',
    mutate: (f) => {
      edit(f, 'versions.yaml', '    description: First release\n', '    description: First release\n    requires_previous_version: 0.9.0\n');
      append(f, 'versions.yaml', '  - version: 0.9.0\n    type: major\n');
    },
    message: /version 1\.0\.0 requires 0\.9\.0, which is not deployed and has no migrations/,
    file: 'versions.yaml',
    field: 'versions.0.requires_previous_version',
  },
  {
    name: 'blocks_versions violated (two versions blocking each other, both planned)',
    mutate: (f) => {
      edit(f, 'versions.yaml', '    description: First release\n', '    description: First release\n    blocks_versions: [1.1.0]\n');
      append(f, 'versions.yaml', '    blocks_versions: [1.0.0]\n');
    },
    message: /version 1\.0\.0 blocks version 1\.1\.0, and both would be deployed/,
    file: 'versions.yaml',
    field: 'versions.0.blocks_versions',
  },
  {
    name: 'blocks_versions names an undefined version',
    mutate: (f) => append(f, 'versions.yaml', '    blocks_versions: [2.0.0]\n'),
    message: /version 1\.1\.0 names unknown version 2\.0\.0/,
    file: 'versions.yaml',
    field: 'versions.1.blocks_versions',
  },
  {
    name: 'duplicate version in versions.yaml',
    mutate: (f) => append(f, 'versions.yaml', '  - version: 1.0.0\n    type: patch\n'),
    message: /duplicate version 1\.0\.0/,
    file: 'versions.yaml',
    field: 'versions.2.version',
  },
  {
    name: 'schema_version not defined in versions.yaml',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'schema_version: 1.0.0', 'schema_version: 2.0.0'),
    message: /schema_version 2\.0\.0 is not defined in versions\.yaml/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'schema_version',
    migrationId: ADD_COLUMN,
  },

  // --- environments ---------------------------------------------------------
  {
    name: 'allowed_environments excludes the target environment',
    mutate: (f) => append(f, `${ADD_INDEX}/migration.yaml`, 'allowed_environments: [development, staging]\n'),
    env: { ENVIRONMENT: 'production' },
    message: new RegExp(`migration ${escapeRegExp(ADD_INDEX)} is not allowed in production \\(allowed: development, staging\\)`),
    file: `${ADD_INDEX}/migration.yaml`,
    field: 'allowed_environments',
    migrationId: ADD_INDEX,
  },
  {
    name: 'allowed_environments names an unknown environment',
    mutate: (f) => append(f, `${ADD_INDEX}/migration.yaml`, 'allowed_environments: [development, prod]\n'),
    message: /allowed_environments\.1: /,
    file: `${ADD_INDEX}/migration.yaml`,
    field: 'allowed_environments.1',
    migrationId: ADD_INDEX,
  },

  // --- SQL files ------------------------------------------------------------
  {
    name: 'SQL syntax error in up.sql (statement on line 3)',
    mutate: (f) => edit(f, `${ADD_COLUMN}/up.sql`, "NOT NULL DEFAULT 'EUR';", 'NOT NULL DEFAULT;'),
    message: /SQL syntax error: syntax error at or near ";"/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
    line: 3,
    // 'ALTER TABLE app.items ADD COLUMN currency text NOT NULL DEFAULT;' -- the ';' is character 64
    column: 64,
  },
  {
    name: 'SQL syntax error in up.sql after a non-ASCII comment',
    mutate: (f) => {
      edit(f, `${ADD_COLUMN}/up.sql`, '-- price of one item, in cents', '-- prix en centimes (€)');
      edit(f, `${ADD_COLUMN}/up.sql`, "NOT NULL DEFAULT 'EUR';", 'NOT NULL DEFAULT;');
    },
    message: /SQL syntax error: syntax error at or near ";"/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
    line: 3,
    column: 64,
  },
  {
    name: 'empty up.sql',
    mutate: (f) => f.set(`${ADD_COLUMN}/up.sql`, ''),
    message: /up\.sql has no SQL statement/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
  },
  {
    name: 'comment-only up.sql',
    mutate: (f) => f.set(`${ADD_COLUMN}/up.sql`, '-- TODO: add the price columns\n/* nothing yet */\n'),
    message: /up\.sql has no SQL statement/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
  },
  {
    name: 'missing up.sql',
    mutate: (f) => remove(f, `${ADD_COLUMN}/up.sql`),
    message: /missing up\.sql/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
  },
  {
    name: 'missing down.sql without irreversible: true',
    mutate: (f) => remove(f, `${ADD_COLUMN}/down.sql`),
    message: /missing down\.sql: add one \(an empty one undoes nothing\), or declare irreversible: true/,
    file: `${ADD_COLUMN}/down.sql`,
    field: 'down',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'irreversible: true while down.sql exists',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, 'irreversible: true\n'),
    message: /irreversible: true but down\.sql exists/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'irreversible',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'CREATE INDEX CONCURRENTLY inside the file\'s own transaction block',
    mutate: (f) => f.set(`${ADD_INDEX}/up.sql`, 'BEGIN;\nCREATE INDEX CONCURRENTLY items_name_idx ON app.items (name);\nCOMMIT;\n'),
    message: /CREATE INDEX CONCURRENTLY at line 2 cannot run inside the transaction block begun at line 1/,
    file: `${ADD_INDEX}/up.sql`,
    migrationId: ADD_INDEX,
    line: 2,
  },
  {
    name: 'BEGIN inside up.sql that is never committed',
    mutate: (f) => edit(f, `${ADD_COLUMN}/up.sql`, '-- price of one item, in cents\n', '-- price of one item, in cents\nBEGIN;\n'),
    message: /the transaction begun at line 2 is never committed/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
    line: 2,
  },
  {
    name: 'two-phase commit in up.sql',
    mutate: (f) => append(f, `${ADD_COLUMN}/up.sql`, "PREPARE TRANSACTION 'x';\n"),
    message: /PREPARE TRANSACTION at line \d+: two-phase commit is not supported/,
    file: `${ADD_COLUMN}/up.sql`,
    migrationId: ADD_COLUMN,
  },

  // --- coordinated sets -----------------------------------------------------
  {
    name: 'set referencing an unknown migration',
    mutate: (f) => {
      edit(f, SET_FILE, `  - ${ADD_INDEX}\nparallel_groups:`, `  - ${ADD_INDEX}\n  - 2025.01.09_000000_ghost\nparallel_groups:`);
      append(f, SET_FILE, '  - [2025.01.09_000000_ghost]\n');
    },
    message: /unknown migration 2025\.01\.09_000000_ghost/,
    file: SET_FILE,
    field: 'execution_order',
    setId: 'SET-2025-001',
    migrationId: '2025.01.09_000000_ghost',
  },
  {
    name: 'set whose parallel_groups omit a member',
    mutate: (f) => edit(f, SET_FILE, `  - [${ADD_INDEX}]\n`, ''),
    message: /parallel_groups must list every migration of execution_order exactly once/,
    file: SET_FILE,
    field: 'parallel_groups',
    setId: 'SET-2025-001',
  },
  {
    name: 'set dependency on a later parallel group',
    mutate: (f) => append(f, SET_FILE, `dependencies:\n  ${ADD_COLUMN}: [${ADD_INDEX}]\n`),
    message: new RegExp(`${escapeRegExp(ADD_COLUMN)} depends on ${escapeRegExp(ADD_INDEX)}, which is not in an earlier parallel group`),
    file: SET_FILE,
    field: `dependencies.${ADD_COLUMN}`,
    setId: 'SET-2025-001',
    migrationId: ADD_COLUMN,
  },

  // --- data migrations ------------------------------------------------------
  {
    name: 'type data without backfill',
    mutate: (f) => edit(f, `${ADD_COLUMN}/migration.yaml`, 'type: schema', 'type: data'),
    message: /a migration of type data needs a backfill section/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'backfill',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'backfill with both set and batch_sql',
    mutate: (f) => {
      edit(f, `${ADD_COLUMN}/migration.yaml`, 'type: schema', 'type: data');
      append(
        f,
        `${ADD_COLUMN}/migration.yaml`,
        [
          'backfill:',
          '  table: app.items',
          '  set:',
          '    price_cents: "0"',
          '  batch_sql: UPDATE app.items SET price_cents = 0 WHERE id > $1 AND id <= $2',
          '',
        ].join('\n'),
      );
    },
    message: /backfill\.set: give either set \(with optional where\) or batch_sql, not both/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'backfill.set',
    migrationId: ADD_COLUMN,
  },
  {
    name: 'backfill on a migration that is not type data',
    mutate: (f) => append(f, `${ADD_COLUMN}/migration.yaml`, 'backfill:\n  table: app.items\n  set:\n    price_cents: "0"\n'),
    message: /backfill is only allowed with type: data/,
    file: `${ADD_COLUMN}/migration.yaml`,
    field: 'type',
    migrationId: ADD_COLUMN,
  },

  // --- environment variables ------------------------------------------------
  {
    name: 'ENVIRONMENT=prod',
    mutate: noChange,
    env: { ENVIRONMENT: 'prod' },
    message: /invalid environment variable ENVIRONMENT: /,
    variable: 'ENVIRONMENT',
  },
  {
    name: 'DATABASE_URL=mysql://x',
    mutate: noChange,
    env: { DATABASE_URL: 'mysql://x' },
    message: /invalid environment variable DATABASE_URL: must be a URL starting with postgres:\/\/ or postgresql:\/\//,
    variable: 'DATABASE_URL',
  },
  {
    name: 'WORKER_CONCURRENCY=abc',
    mutate: noChange,
    env: { WORKER_CONCURRENCY: 'abc' },
    message: /invalid environment variable WORKER_CONCURRENCY: /,
    variable: 'WORKER_CONCURRENCY',
  },
  {
    name: 'QUEUE_PREFIX with a colon',
    mutate: noChange,
    env: { QUEUE_PREFIX: 'pgfm:prod' },
    message: /invalid environment variable QUEUE_PREFIX: letters, digits, _ and - only/,
    variable: 'QUEUE_PREFIX',
  },
];

/** The context keys `describe()` prints, as `key=value` tokens inside the trailing parentheses. */
function expectContext(line: string, key: string, value: string | number | true | undefined): void {
  if (value === undefined) return;
  const pattern = value === true ? `\\d+` : escapeRegExp(String(value));
  expect(line, `expected ${key}=${String(value)}`).toMatch(new RegExp(`[( ]${key}=${pattern}[ )]`));
}

function expectBadInput(result: CliResult, c: BadInputCase): void {
  const report = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  expect(result.code, report).toBe(2);
  expect(result.stdout, report).toBe('');
  const lines = result.stderr.split('\n');
  expect(lines, report).toHaveLength(1);
  const line = lines[0]!;
  expect(line).toMatch(/^error: \S/);
  expect(line).not.toMatch(/undefined|\[object|\bat .+\.ts:\d+/);
  expect(line).toMatch(c.message);
  if (c.file !== undefined || c.field !== undefined || c.variable !== undefined) expect(line).toMatch(/\)$/);
  expectContext(line, 'file', c.file);
  expectContext(line, 'field', c.field);
  expectContext(line, 'line', c.line);
  expectContext(line, 'column', c.column);
  expectContext(line, 'migrationId', c.migrationId);
  expectContext(line, 'setId', c.setId);
  expectContext(line, 'variable', c.variable);
}

describe('bad input is refused with exit code 2 and nothing written', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('bad_input');
  });

  afterAll(async () => {
    await db?.drop();
  });

  const run = (dir: string, command: Command, env: Record<string, string> = {}) =>
    runCli([command], { DATABASE_URL: db.url, MIGRATIONS_DIR: dir, ENVIRONMENT: 'development', ...env });

  async function expectNothingWritten(): Promise<void> {
    const { rows } = await db.query<{ catalog: string | null; app: string | null }>(
      `SELECT to_regnamespace($1)::text AS catalog, to_regnamespace('app')::text AS app`,
      [CATALOG],
    );
    expect(rows[0]).toEqual({ catalog: null, app: null });
  }

  it('sanity: the valid base passes validate and plan, and plan writes nothing', async () => {
    await withFixture(noChange, async (dir) => {
      const validate = await run(dir, 'validate');
      expect(validate, validate.stderr).toMatchObject({ code: 0, stderr: '' });
      expect(validate.stdout.split('\n')).toEqual(['ok: 3 migrations, 1 coordinated sets, 2 versions, 3 stages', 'warning: 2025.01.02_000000_add_column/migration.yaml: requires_backup is accepted but has no effect yet']);

      const plan = await run(dir, 'plan');
      expect(plan, plan.stderr).toMatchObject({ code: 0, stderr: '' });
      expect(plan.stdout).toContain('3 migrations in 3 stages for development');

      const production = await run(dir, 'plan', { ENVIRONMENT: 'production' });
      expect(production, production.stderr).toMatchObject({ code: 0, stderr: '' });
    });
    await expectNothingWritten();
  });

  it('has at least 32 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(32);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    it(c.name, async () => {
      await withFixture(c.mutate, async (dir) => {
        for (const command of c.commands ?? (['validate', 'plan'] as const)) {
          const result = await run(dir, command, c.env);
          expectBadInput(result, c);
        }
      });
      await expectNothingWritten();
    });
  }
});

describe('drift: an applied migration edited afterwards is refused by plan', () => {
  let db: TestDatabase;
  const tables = catalogTables(CATALOG);

  beforeAll(async () => {
    db = await createTestDatabase('bad_input_drift');
    // Simulate "the base was applied": catalog, registered definitions, completed status rows.
    await withFixture(noChange, async (dir) => {
      const definitions = await loadDefinitions(dir);
      const pool = createPool(db.url, { max: 1 });
      try {
        await migrateCatalog(pool, tables);
        await registerDefinitions(pool, tables, definitions);
        for (const migration of definitions.migrations) {
          await pool.query(
            `INSERT INTO ${tables.migration_status} (migration_id, environment, status, applied_checksum, applied_file_checksums, applied_at)
             VALUES ($1, 'development', 'completed', $2, $3, now())`,
            [migration.id, migration.checksum, JSON.stringify(migration.fileChecksums)],
          );
        }
      } finally {
        await pool.end();
      }
    });
  });

  afterAll(async () => {
    await db?.drop();
  });

  const run = (dir: string) => runCli(['plan'], { DATABASE_URL: db.url, MIGRATIONS_DIR: dir, ENVIRONMENT: 'development' });

  /** Every row of every catalog table, so "unchanged" means unchanged. */
  async function catalogSnapshot(): Promise<Record<string, unknown>> {
    const { rows } = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [CATALOG],
    );
    const snapshot: Record<string, unknown> = {};
    for (const { table_name: name } of rows) {
      const result = await db.query<{ rows: unknown }>(
        `SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb) AS rows FROM ${CATALOG}.${name} t`,
      );
      snapshot[name] = result.rows[0]!.rows;
    }
    return snapshot;
  }

  it('sanity: the unedited base is recognised as applied', async () => {
    const before = await catalogSnapshot();
    expect(Object.keys(before)).toContain('migration_status');
    expect(before['migration_status']).toHaveLength(3);
    await withFixture(noChange, async (dir) => {
      const plan = await run(dir);
      expect(plan, plan.stderr).toMatchObject({ code: 0, stderr: '' });
      expect(plan.stdout.split('\n')).toEqual([
        expect.stringMatching(/^target: database \S+ on 127\.0\.0\.1:5432 as postgres, environment development$/),
        'warning: 2025.01.02_000000_add_column/migration.yaml: requires_backup is accepted but has no effect yet',
        'nothing to apply in development',
      ]);
    });
    expect(await catalogSnapshot()).toEqual(before);
  });

  const driftCases: BadInputCase[] = [
    {
      name: 'up.sql of an applied migration edited',
      mutate: (f) => append(f, `${ADD_COLUMN}/up.sql`, 'ALTER TABLE app.items ADD COLUMN weight_grams integer;\n'),
      message: new RegExp(`migration ${escapeRegExp(ADD_COLUMN)} was changed after it was applied \\(up\\.sql\\)`),
      file: `${ADD_COLUMN}/up.sql`,
      migrationId: ADD_COLUMN,
    },
    {
      name: 'migration.yaml of an applied migration edited',
      mutate: (f) => edit(f, `${BASE}/migration.yaml`, 'impact: low', 'impact: high'),
      message: new RegExp(`migration ${escapeRegExp(BASE)} was changed after it was applied \\(migration\\.yaml\\)`),
      file: `${BASE}/migration.yaml`,
      migrationId: BASE,
    },
  ];

  for (const c of driftCases) {
    it(c.name, async () => {
      const before = await catalogSnapshot();
      await withFixture(c.mutate, async (dir) => expectBadInput(await run(dir), c));
      expect(await catalogSnapshot()).toEqual(before);
      const { rows } = await db.query(`SELECT to_regnamespace('app')::text AS app`);
      expect(rows[0]).toEqual({ app: null });
    });
  }
});
