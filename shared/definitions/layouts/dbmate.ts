import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { readDefinitionText } from '../read-text.js';
import type { LayoutRead, RawMigration, ScriptSource } from './source.js';

export const DBMATE_FILE = /^(\d+).*\.sql$/;
const DIRECTIVE = /^--\s*migrate:(up|down)(?=\s|$)(.*)$/;

/** Whether `text` is a dbmate migration (holds a `-- migrate:up` line). */
export const isDbmateText = (text: string) => /^--\s*migrate:up(\s|$)/m.test(text);

/**
 * Splits a dbmate file into its up and down sections. Each keeps the file's line numbers (the
 * other lines become blank), so an error names the line in the file.
 */
function sections(file: string, text: string, migrationId: string): { up: ScriptSource; down: ScriptSource | undefined } {
  const lines = text.split('\n');
  const marks: Array<{ line: number; direction: 'up' | 'down'; noTransaction: boolean }> = [];
  for (const [index, line] of lines.entries()) {
    const match = DIRECTIVE.exec(line.replace(/\r$/, ''));
    if (!match) {
      const blankOrComment = /^\s*(--.*)?\r?$/.test(line);
      if (marks.length === 0 && !blankOrComment) throw new DefinitionError('a statement before "-- migrate:up": dbmate files start with the up section', { file, line: index + 1, migrationId });
      continue;
    }
    const options = new Map(match[2]!.trim().split(/\s+/).filter((pair) => pair.includes(':')).map((pair) => pair.split(':', 2) as [string, string]));
    marks.push({ line: index, direction: match[1] as 'up' | 'down', noTransaction: options.get('transaction') === 'false' });
  }
  if (marks[0]?.direction !== 'up') throw new DefinitionError('no "-- migrate:up" line', { file, migrationId });
  if (marks.length > 2 || (marks[1] && marks[1].direction !== 'down')) {
    throw new DefinitionError('one "-- migrate:up" then one "-- migrate:down" section per file', { file, line: (marks[2] ?? marks[1])!.line + 1, migrationId });
  }
  const slice = (from: number, to: number) => lines.map((line, index) => (index >= from && index < to ? line : '')).join('\n');
  const down = marks[1];
  return {
    up: { file, text: slice(marks[0].line, down?.line ?? lines.length), noTransaction: marks[0].noTransaction },
    down: down ? { file, text: slice(down.line, lines.length), noTransaction: down.noTransaction } : undefined,
  };
}

/**
 * dbmate: one file per migration, `<digits>_<name>.sql` holding `-- migrate:up` and
 * `-- migrate:down` sections, ordered by file name (as dbmate orders them). Ids are the file
 * names without `.sql`; the version is the leading digits.
 */
export async function readDbmateLayout(dir: string): Promise<LayoutRead> {
  const warnings: string[] = [];
  const migrations: RawMigration[] = [];
  const names = (await readdir(dir, { withFileTypes: true })).filter((entry) => !entry.isDirectory()).map((entry) => entry.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const versions = new Map<string, string>();
  for (const name of names) {
    const match = DBMATE_FILE.exec(name);
    if (!match) {
      if (/\.sql$/i.test(name)) warnings.push(`${name}: not a dbmate file name (<version>_<name>.sql): skipped, as dbmate skips it`);
      continue;
    }
    const id = name.replace(/\.sql$/, '');
    const other = versions.get(match[1]!);
    if (other) throw new DefinitionError(`${name} and ${other} have the same dbmate version ${match[1]}`, { file: name, migrationId: id });
    versions.set(match[1]!, name);
    const { up, down } = sections(name, await readDefinitionText(path.join(dir, name), name, { migrationId: id }), id);
    migrations.push({ id, folder: name, name: id.replace(/^\d+_?/, '').replace(/_/g, ' '), up, down, verify: undefined, toolVersion: match[1]! });
  }
  return { layout: 'dbmate', migrations, warnings };
}
