/**
 * What the loader reads is exactly what is on disk, or it refuses to go on:
 *   - every definition file (SQL, migration.yaml, versions.yaml, sets/*.yaml) must be valid
 *     UTF-8 without NUL bytes; the error names the file, line, column and byte offset of the
 *     first bad byte (a leading UTF-8 byte order mark is accepted and dropped);
 *   - a symbolic link (folder or file) is followed only when its real path lies inside the
 *     real migrations folder; any other one is refused, naming the link; a folder reached
 *     twice is refused rather than loaded twice.
 * Each case writes real files (and links) to a temporary directory and runs the real CLI:
 * exit code 2, one `error: ...` line on stderr naming the file, nothing on stdout.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { runCli, type CliResult } from '../helpers/cli.js';

const BASE = '2025.01.01_000000_base';
const NOTE = '2025.01.02_000000_add_note';
const SET_FILE = 'sets/SET-2025-001.yaml';

/** Relative path -> content (a string is written as UTF-8, a Buffer byte for byte). */
type Files = Map<string, string | Buffer>;

function baseFiles(): Files {
  return new Map<string, string | Buffer>([
    [`${BASE}/migration.yaml`, 'name: base\ndescription: Creates the items table\nschema_version: 1.0.0\n'],
    [`${BASE}/up.sql`, 'CREATE SCHEMA app;\nCREATE TABLE app.items (id bigint PRIMARY KEY, name text);\n'],
    [`${BASE}/down.sql`, 'DROP TABLE app.items;\nDROP SCHEMA app;\n'],
    [`${NOTE}/migration.yaml`, 'name: add note\ndescription: A free-text note per item\nschema_version: 1.0.0\n'],
    [`${NOTE}/up.sql`, "-- the note column\nALTER TABLE app.items ADD COLUMN note text NOT NULL DEFAULT 'cafe';\n"],
    [`${NOTE}/down.sql`, 'ALTER TABLE app.items DROP COLUMN note;\n'],
    ['versions.yaml', 'versions:\n  - version: 1.0.0\n    type: major\n    description: First release\n'],
    [SET_FILE, `id: SET-2025-001\nname: Items\nexecution_order:\n  - ${BASE}\n  - ${NOTE}\nparallel_groups:\n  - [${BASE}]\n  - [${NOTE}]\n`],
  ]);
}

const VALID = /^ok: 2 migrations, 1 coordinated sets, 1 versions, 2 stages$/;

/** `text` with the bytes of `replacement` put in place of the first `marker` (which must be there). */
function withBytes(text: string, marker: string, replacement: number[]): Buffer {
  const index = text.indexOf(marker);
  if (index === -1) throw new Error(`fixture text has no ${marker}`);
  return Buffer.concat([Buffer.from(text.slice(0, index)), Buffer.from(replacement), Buffer.from(text.slice(index + marker.length))]);
}

function text(files: Files, file: string): string {
  const content = files.get(file);
  if (typeof content !== 'string') throw new Error(`fixture has no text file ${file}`);
  return content;
}

/** Moves every file of `from` to `to` (relative paths). */
function moveFolder(files: Files, from: string, to: string): void {
  const entries = [...files].filter(([file]) => file.startsWith(`${from}/`));
  if (entries.length === 0) throw new Error(`fixture has no folder ${from}`);
  for (const [file, content] of entries) {
    files.delete(file);
    files.set(`${to}/${file.slice(from.length + 1)}`, content);
  }
}

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'pgfm-input-files-'));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Fixture {
  /** The migrations directory. */
  dir: string;
  /** A directory next to it (outside it). */
  outside: string;
}

let fixtures = 0;

/** Writes the files under <tmp>/n/migrations, then lets `links` add symbolic links. */
async function writeFixture(files: Files, links: (fixture: Fixture) => Promise<void> = async () => undefined): Promise<Fixture> {
  const top = path.join(scratch, String(++fixtures));
  const fixture = { dir: path.join(top, 'migrations'), outside: path.join(top, 'outside') };
  await mkdir(fixture.outside, { recursive: true });
  for (const [file, content] of files) {
    await mkdir(path.dirname(path.join(fixture.dir, file)), { recursive: true });
    await writeFile(path.join(fixture.dir, file), content);
  }
  await links(fixture);
  return fixture;
}

const escapeRegExp = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const validate = (dir: string) => runCli(['validate'], { MIGRATIONS_DIR: dir });

function expectRefused(result: CliResult, message: RegExp, context: Record<string, string | number>): void {
  const report = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  expect(result.code, report).toBe(2);
  expect(result.stdout, report).toBe('');
  const lines = result.stderr.split('\n');
  expect(lines, report).toHaveLength(1);
  expect(lines[0], report).toMatch(/^error: \S/);
  expect(lines[0], report).toMatch(message);
  for (const [key, value] of Object.entries(context)) {
    expect(lines[0], `${report}\nexpected ${key}=${value}`).toMatch(new RegExp(`[( ]${key}=${escapeRegExp(String(value))}[ )]`));
  }
  expect(lines[0], report).toMatch(/\)$/);
}

describe('definition files must be valid UTF-8 without NUL bytes', () => {
  it('sanity: the fixture is valid', async () => {
    const { dir } = await writeFixture(baseFiles());
    const result = await validate(dir);
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(VALID);
  });

  it('refuses a latin1 é in up.sql (it used to be applied as U+FFFD), naming line, column and offset', async () => {
    const files = baseFiles();
    const sql = text(files, `${NOTE}/up.sql`);
    files.set(`${NOTE}/up.sql`, withBytes(sql, "'cafe'", [0x27, 0x63, 0x61, 0x66, 0xe9, 0x27])); // 'café' in latin1
    const { dir } = await writeFixture(files);
    const offset = sql.indexOf("'cafe'") + 4;
    const column = offset - sql.indexOf('\n') - 1 + 1;
    expectRefused(await validate(dir), new RegExp(`not valid UTF-8 \\(byte 0xe9 at offset ${offset}, line 2 column ${column}\\): save the file as UTF-8`), {
      file: `${NOTE}/up.sql`,
      migrationId: NOTE,
      line: 2,
      column,
    });
  });

  it.each([
    ['a stray continuation byte', [0x80], 0x80],
    ['an overlong encoding of /', [0xc0, 0xaf], 0xc0],
    ['an encoded UTF-16 surrogate', [0xed, 0xa0, 0x80], 0xed],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0xf4],
    ['a truncated sequence', [0xe2, 0x82], 0xe2],
  ])('refuses %s in down.sql', async (_name, bytes, first) => {
    const files = baseFiles();
    const sql = `-- é€ fine so far\nALTER TABLE app.items DROP COLUMN note; -- X\n`;
    files.set(`${NOTE}/down.sql`, withBytes(sql, 'X', bytes));
    const { dir } = await writeFixture(files);
    const offset = Buffer.byteLength(sql.slice(0, sql.indexOf('X')));
    const column = sql.indexOf('X') - sql.indexOf('\n');
    expectRefused(await validate(dir), new RegExp(`not valid UTF-8 \\(byte 0x${first.toString(16)} at offset ${offset}, line 2 column ${column}\\)`), {
      file: `${NOTE}/down.sql`,
      line: 2,
      column,
    });
  });

  it.each([
    [`${NOTE}/migration.yaml`, 'description: A free-text note per item', 'A free-text note per item'],
    ['versions.yaml', '    description: First release', 'First release'],
    [SET_FILE, 'name: Items', 'Items'],
  ])('refuses a latin1 byte in %s', async (file, line, marker) => {
    const files = baseFiles();
    const content = text(files, file);
    files.set(file, withBytes(content, marker, [...Buffer.from(marker.slice(0, 2)), 0xe9]));
    const { dir } = await writeFixture(files);
    const lineNumber = content.slice(0, content.indexOf(line)).split('\n').length;
    const column = line.indexOf(marker) + 3;
    expectRefused(await validate(dir), /not valid UTF-8 \(byte 0xe9 at offset \d+, line \d+ column \d+\): save the file as UTF-8/, {
      file,
      line: lineNumber,
      column,
    });
  });

  it('refuses a NUL byte in up.sql (the parser used to drop everything after it: the DROP TABLE never ran)', async () => {
    const files = baseFiles();
    const sql = 'ALTER TABLE app.items ADD COLUMN note text;\n\0\nDROP TABLE app.items;\n';
    files.set(`${NOTE}/up.sql`, sql);
    const { dir } = await writeFixture(files);
    expectRefused(await validate(dir), new RegExp(`NUL byte \\(0x00\\) at offset ${sql.indexOf('\0')}, line 2 column 1: a SQL or YAML file must not contain NUL bytes`), {
      file: `${NOTE}/up.sql`,
      migrationId: NOTE,
      line: 2,
      column: 1,
    });
  });

  it('refuses a NUL byte in migration.yaml', async () => {
    const files = baseFiles();
    files.set(`${NOTE}/migration.yaml`, 'name: add note\ndescription: A note\0 per item\nschema_version: 1.0.0\n');
    const { dir } = await writeFixture(files);
    expectRefused(await validate(dir), /NUL byte \(0x00\) at offset 34, line 2 column 20: /, { file: `${NOTE}/migration.yaml`, line: 2, column: 20 });
  });

  it('accepts a leading UTF-8 byte order mark in SQL and YAML files (and drops it)', async () => {
    const files = baseFiles();
    for (const file of [`${NOTE}/up.sql`, `${NOTE}/down.sql`, `${NOTE}/migration.yaml`, 'versions.yaml', SET_FILE]) {
      files.set(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text(files, file))]));
    }
    const { dir } = await writeFixture(files);
    const result = await validate(dir);
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(VALID);
    const note = (await loadDefinitions(dir)).migrations.find((migration) => migration.id === NOTE)!;
    expect(note.up.statements.map((statement) => [statement.line, statement.text.charCodeAt(0)])).toEqual([[2, 'A'.charCodeAt(0)]]);
    expect(note.meta.name).toBe('add note');
  });

  it('counts columns after a byte order mark as an editor shows them', async () => {
    const files = baseFiles();
    files.set(`${NOTE}/up.sql`, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('SELEC 1;\n')]));
    const { dir } = await writeFixture(files);
    expectRefused(await validate(dir), /SQL syntax error: syntax error at or near "SELEC"/, { file: `${NOTE}/up.sql`, line: 1, column: 1 });
  });
});

describe('symbolic links are followed only inside the migrations folder', () => {
  /** The add-note migration lives in .store/ (dot folders are not walked) and is linked in. */
  const linkedIn = (files: Files) => {
    moveFolder(files, NOTE, `.store/${NOTE}`);
    return files;
  };

  it('loads a symlinked migration folder inside the tree (it used to be skipped), also through a symlinked migrations folder', async () => {
    const fixture = await writeFixture(linkedIn(baseFiles()), async ({ dir }) => {
      await symlink(`.store/${NOTE}`, path.join(dir, NOTE));
      await symlink('migrations', path.join(dir, '..', 'linked-migrations'));
    });
    for (const dir of [fixture.dir, path.join(fixture.dir, '..', 'linked-migrations')]) {
      const result = await validate(dir);
      expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(VALID);
    }
    // Exactly what a plain copy of the folder loads.
    const copy = await writeFixture(baseFiles());
    const [linked, plain] = await Promise.all([loadDefinitions(fixture.dir), loadDefinitions(copy.dir)]);
    const note = linked.migrations.find((migration) => migration.id === NOTE)!;
    expect(note.folder).toBe(NOTE);
    expect(note.checksum).toBe(plain.migrations.find((migration) => migration.id === NOTE)!.checksum);
  });

  it('loads a symlinked grouping folder and a symlinked file inside the tree', async () => {
    const files = baseFiles();
    moveFolder(files, NOTE, `.teams/notes/${NOTE}`);
    files.set('.shared/down.sql', text(files, `.teams/notes/${NOTE}/down.sql`));
    files.delete(`.teams/notes/${NOTE}/down.sql`);
    const { dir } = await writeFixture(files, async ({ dir }) => {
      await symlink('.teams/notes', path.join(dir, 'notes'));
      await symlink('../../../.shared/down.sql', path.join(dir, `.teams/notes/${NOTE}/down.sql`));
    });
    const result = await validate(dir);
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(VALID);
    expect((await loadDefinitions(dir)).migrations.map((migration) => migration.folder)).toEqual([BASE, `notes/${NOTE}`]);
  });

  it('refuses a symlinked migration folder pointing outside the migrations folder', async () => {
    const files = baseFiles();
    const { dir } = await writeFixture(files, async ({ dir, outside }) => {
      await rm(path.join(dir, NOTE), { recursive: true });
      await mkdir(path.join(outside, NOTE));
      for (const name of ['up.sql', 'down.sql', 'migration.yaml']) await writeFile(path.join(outside, NOTE, name), text(files, `${NOTE}/${name}`));
      await symlink(path.join(outside, NOTE), path.join(dir, NOTE));
    });
    expectRefused(await validate(dir), new RegExp(`symbolic link ${NOTE} points outside the migrations folder \\(to /.+/outside/${NOTE}\\)`), { file: NOTE });
  });

  it('refuses a symlinked grouping folder pointing outside', async () => {
    const files = baseFiles();
    const { dir } = await writeFixture(files, async ({ dir, outside }) => {
      await rm(path.join(dir, NOTE), { recursive: true });
      await mkdir(path.join(outside, NOTE));
      for (const name of ['up.sql', 'down.sql', 'migration.yaml']) await writeFile(path.join(outside, NOTE, name), text(files, `${NOTE}/${name}`));
      await symlink(outside, path.join(dir, 'vendor'));
    });
    expectRefused(await validate(dir), /symbolic link vendor points outside the migrations folder/, { file: 'vendor' });
  });

  it.each([
    [`${NOTE}/up.sql`, 'DROP TABLE app.items;\n'],
    [`${NOTE}/migration.yaml`, 'name: add note\n'],
    ['versions.yaml', 'versions:\n  - version: 1.0.0\n    type: major\n'],
    [SET_FILE, `id: SET-2025-001\nname: Items\nexecution_order: [${BASE}]\nparallel_groups: [[${BASE}]]\n`],
  ])('refuses %s linked to a (valid) file outside the migrations folder', async (file, content) => {
    const { dir } = await writeFixture(baseFiles(), async ({ dir, outside }) => {
      await writeFile(path.join(outside, 'file'), content);
      await rm(path.join(dir, file));
      await symlink(path.join(outside, 'file'), path.join(dir, file));
    });
    expectRefused(await validate(dir), new RegExp(`symbolic link ${file.replace(/\./g, '\\.')} points outside the migrations folder \\(to /.+/outside/file\\)`), {
      file,
    });
  });

  it('refuses up.sql linked to /etc/passwd', async () => {
    const { dir } = await writeFixture(baseFiles(), async ({ dir }) => {
      await rm(path.join(dir, NOTE, 'up.sql'));
      await symlink('/etc/passwd', path.join(dir, NOTE, 'up.sql'));
    });
    expectRefused(await validate(dir), /symbolic link .*up\.sql points outside the migrations folder \(to \/etc\/passwd\)/, { file: `${NOTE}/up.sql`, migrationId: NOTE });
  });

  it('refuses the sets folder linked outside', async () => {
    const files = baseFiles();
    const { dir } = await writeFixture(files, async ({ dir, outside }) => {
      await rm(path.join(dir, 'sets'), { recursive: true });
      await writeFile(path.join(outside, path.basename(SET_FILE)), text(files, SET_FILE));
      await symlink(outside, path.join(dir, 'sets'));
    });
    expectRefused(await validate(dir), /symbolic link sets points outside the migrations folder/, { file: 'sets' });
  });

  it('refuses two links to the same migration folder instead of loading it twice', async () => {
    const { dir } = await writeFixture(linkedIn(baseFiles()), async ({ dir }) => {
      await symlink(`.store/${NOTE}`, path.join(dir, NOTE));
      await symlink(`.store/${NOTE}`, path.join(dir, '2025.01.03_000000_note_again'));
    });
    expectRefused(await validate(dir), new RegExp(`2025\\.01\\.03_000000_note_again is the same folder as ${NOTE.replace(/\./g, '\\.')} \\(through a symbolic link\\)`), {
      file: '2025.01.03_000000_note_again',
    });
  });

  it('refuses a link to a folder that is also walked, and a link back to an ancestor', async () => {
    const grouped = await writeFixture(
      (() => {
        const files = baseFiles();
        moveFolder(files, NOTE, `a/${NOTE}`);
        return files;
      })(),
      async ({ dir }) => symlink('a', path.join(dir, 'b')),
    );
    expectRefused(await validate(grouped.dir), /^error: b is the same folder as a \(through a symbolic link\)/, { file: 'b' });

    const loop = await writeFixture(baseFiles(), async ({ dir }) => {
      await mkdir(path.join(dir, 'group'));
      await symlink('..', path.join(dir, 'group', 'loop'));
    });
    expectRefused(await validate(loop.dir), /group\/loop is the same folder as the migrations folder itself/, { file: 'group/loop' });
  });

  it('refuses a broken link where a migration folder could be', async () => {
    const { dir } = await writeFixture(baseFiles(), async ({ dir }) => symlink('.store/gone', path.join(dir, '2025.01.03_000000_gone')));
    expectRefused(await validate(dir), /symbolic link 2025\.01\.03_000000_gone is broken \(ENOENT\)/, { file: '2025.01.03_000000_gone' });
  });
});
