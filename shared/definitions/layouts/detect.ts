import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { MIGRATION_ID } from '../schema.js';
import { readDbmateLayout, DBMATE_FILE, isDbmateText } from './dbmate.js';
import { readDieselLayout } from './diesel.js';
import { readFlywayLayout } from './flyway.js';
import { GOLANG_MIGRATE_FILE, readGolangMigrateLayout } from './golang-migrate.js';
import { META_FILE, readPgfmLayout } from './pgfm.js';
import { readSqitchLayout } from './sqitch.js';
import type { LayoutName, LayoutRead } from './source.js';

export const READERS: Record<LayoutName, (dir: string) => Promise<LayoutRead>> = {
  pgfm: readPgfmLayout,
  diesel: readDieselLayout,
  flyway: readFlywayLayout,
  'golang-migrate': readGolangMigrateLayout,
  dbmate: readDbmateLayout,
  sqitch: readSqitchLayout,
};

/**
 * Which tool's layout `dir` holds, from its files: sqitch.plan (Sqitch), `V1__x.sql` (Flyway),
 * `1_x.up.sql` (golang-migrate), `-- migrate:up` files (dbmate), folders with up.sql named
 * otherwise than pgfm's ids (Diesel); pgfm's own otherwise. A folder holding SQL files none of
 * them explains is refused: read as pgfm's layout it would look like an empty, fully applied
 * history.
 */
export async function detectLayout(dir: string): Promise<LayoutName> {
  if (existsSync(path.join(dir, 'sqitch.plan')) || existsSync(path.join(dir, 'sqitch.conf'))) return 'sqitch';
  const entries = (await readdir(dir, { withFileTypes: true })).filter((entry) => !entry.name.startsWith('.'));
  const files = entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name);
  const sqlFiles = files.filter((name) => /\.sql$/i.test(name));
  if (sqlFiles.some((name) => /^V[0-9]+(?:[._][0-9]+)*(?:__.*)?\.sql$/i.test(name) || /^R__.+\.sql$/i.test(name))) return 'flyway';
  if (sqlFiles.some((name) => GOLANG_MIGRATE_FILE.test(name))) return 'golang-migrate';
  for (const name of sqlFiles.filter((candidate) => DBMATE_FILE.test(candidate))) {
    if (isDbmateText(await readFile(path.join(dir, name), 'utf8'))) return 'dbmate';
  }
  let diesel = 0;
  let pgfm = 0;
  for (const entry of entries.filter((candidate) => candidate.isDirectory())) {
    const names = await readdir(path.join(dir, entry.name));
    if (MIGRATION_ID.test(entry.name) || names.includes(META_FILE)) pgfm++;
    else if (names.includes('up.sql')) diesel++;
  }
  if (diesel > 0 && pgfm === 0) return 'diesel';
  if (sqlFiles.length > 0 && pgfm === 0) {
    throw new DefinitionError(
      `${dir} holds ${sqlFiles.length} .sql file(s) (${sqlFiles.slice(0, 3).join(', ')}${sqlFiles.length > 3 ? ', ...' : ''}) in no layout pgfm reads: ` +
        'pgfm (<YYYY.MM.DD_HHMMSS_slug>/up.sql), Diesel (<version>_<name>/up.sql), Flyway (V<version>__<name>.sql), ' +
        'golang-migrate (<version>_<name>.up.sql), dbmate (<version>_<name>.sql with -- migrate:up), Sqitch (sqitch.plan); ' +
        'set MIGRATIONS_LAYOUT to name one',
      { file: dir },
    );
  }
  return 'pgfm';
}

/** Reads `dir` in the layout configured, or the one its files show. */
export async function readLayout(dir: string, configured: LayoutName | 'auto'): Promise<LayoutRead> {
  return READERS[configured === 'auto' ? await detectLayout(dir) : configured](dir);
}
