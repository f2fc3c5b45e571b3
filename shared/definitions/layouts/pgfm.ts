import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { isInside, readDefinitionText, resolveLink } from '../read-text.js';
import { isMigrationId, MIGRATION_ID } from '../schema.js';
import type { LayoutRead, RawMigration, ScriptSource } from './source.js';

export const SQL_FILES = ['up.sql', 'down.sql', 'verify.sql'] as const;
export const META_FILE = 'migration.yaml';
export const VERSIONS_FILE = 'versions.yaml';
export const SETS_DIR = 'sets';

/** Reads `file` (relative to `dir`) when it exists. */
export async function readOptional(dir: string, file: string, migrationId?: string): Promise<ScriptSource | undefined> {
  const absolute = path.join(dir, file);
  if (!existsSync(absolute)) return undefined;
  return { file, text: await readDefinitionText(absolute, file, { migrationId }) };
}

/**
 * Migration folders under `dir`, relative to it. A symbolic link to a folder is followed when
 * its real path lies inside the real migrations directory and refused otherwise; a folder
 * reached twice (two links, or a link and the folder itself) is refused, so no migration is
 * loaded twice and a link to an ancestor cannot loop. A .sql file outside a migration folder
 * is refused: it would otherwise never run, silently.
 */
async function findMigrationFolders(dir: string, relative = '', seen = new Map<string, string>()): Promise<string[]> {
  if (relative === '') seen.set(await realpath(dir), '');
  const root = seen.keys().next().value!;
  const entries = await readdir(path.join(dir, relative), { withFileTypes: true });
  const folders: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const child = path.join(relative, entry.name);
    if (relative === '' && entry.name === SETS_DIR) continue;
    if (entry.isSymbolicLink()) {
      const target = await resolveLink(path.join(dir, child), child);
      // A link to a file is checked when the file is read (only definition files are).
      if (!(await stat(target)).isDirectory()) continue;
      if (!isInside(root, target)) {
        throw new DefinitionError(`symbolic link ${child} points outside the migrations folder (to ${target}): only links within it are followed`, { file: child });
      }
    } else if (!entry.isDirectory()) {
      if (/\.sql$/i.test(entry.name)) {
        throw new DefinitionError(
          `${child} is not part of any migration: pgfm's layout is one folder per migration holding up.sql (and down.sql); ` +
            'for another tool\'s layout set MIGRATIONS_LAYOUT (diesel, flyway, golang-migrate, dbmate, sqitch)',
          { file: child },
        );
      }
      continue;
    }
    const real = await realpath(path.join(dir, child));
    const previous = seen.get(real);
    if (previous !== undefined) {
      throw new DefinitionError(
        `${child} is the same folder as ${previous === '' ? 'the migrations folder itself' : previous} (through a symbolic link): refusing to load it twice`,
        { file: child },
      );
    }
    seen.set(real, child);
    const names = await readdir(path.join(dir, child));
    const looksLikeMigration = MIGRATION_ID.test(entry.name) || names.includes(META_FILE) || names.some((name) => SQL_FILES.includes(name as (typeof SQL_FILES)[number]));
    if (looksLikeMigration) {
      folders.push(child);
    } else {
      folders.push(...(await findMigrationFolders(dir, child, seen)));
    }
  }
  return folders;
}

/** pgfm's own layout: `<YYYY.MM.DD_HHMMSS_slug>/up.sql, down.sql, verify.sql, migration.yaml`, in id order. */
export async function readPgfmLayout(dir: string): Promise<LayoutRead> {
  const migrations: RawMigration[] = [];
  for (const folder of await findMigrationFolders(dir)) {
    const id = path.basename(folder);
    if (!isMigrationId(id)) {
      throw new DefinitionError(`folder name "${id}" is not a migration id YYYY.MM.DD_HHMMSS_slug`, { file: folder, field: 'id' });
    }
    const up = await readOptional(dir, path.join(folder, 'up.sql'), id);
    if (!up) throw new DefinitionError('missing up.sql', { migrationId: id, file: path.join(folder, 'up.sql') });
    migrations.push({
      id,
      folder,
      name: MIGRATION_ID.exec(id)![7]!.replace(/_/g, ' '),
      up,
      down: await readOptional(dir, path.join(folder, 'down.sql'), id),
      verify: await readOptional(dir, path.join(folder, 'verify.sql'), id),
      metaFile: path.join(folder, META_FILE),
      toolVersion: id,
    });
  }
  migrations.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { layout: 'pgfm', migrations, warnings: [] };
}
