import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { readDefinitionText } from '../read-text.js';
import type { LayoutRead, RawMigration, ScriptSource } from './source.js';

/** golang-migrate's file name rule (source/parse.go): the last `.up.`/`.down.` decides the direction. */
export const GOLANG_MIGRATE_FILE = /^([0-9]+)_(.*)\.(down|up)\.(.*)$/;

/**
 * golang-migrate: `<version>_<title>.up.sql` and `.down.sql` side by side in one folder (not
 * recursive), ordered by the version as a number. Ids are `<version>_<title>`.
 */
export async function readGolangMigrateLayout(dir: string): Promise<LayoutRead> {
  const warnings: string[] = [];
  const byVersion = new Map<bigint, { id: string; up?: ScriptSource; down?: ScriptSource }>();
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const match = GOLANG_MIGRATE_FILE.exec(entry.name);
    if (!match) {
      if (/\.sql$/i.test(entry.name)) warnings.push(`${entry.name}: not a golang-migrate file name (<version>_<title>.up.sql): skipped, as migrate skips it`);
      continue;
    }
    const version = BigInt(match[1]!);
    if (version > 18446744073709551615n) {
      warnings.push(`${entry.name}: version beyond 64 bits: skipped, as migrate skips it`);
      continue;
    }
    const id = `${match[1]}_${match[2]}`;
    const slot = byVersion.get(version) ?? { id };
    const direction = match[3] as 'up' | 'down';
    if (slot[direction]) throw new DefinitionError(`two ${direction} files for version ${version}: ${slot[direction]!.file} and ${entry.name}`, { file: entry.name, migrationId: id });
    slot[direction] = { file: entry.name, text: await readDefinitionText(path.join(dir, entry.name), entry.name, { migrationId: id }) };
    byVersion.set(version, slot);
  }
  const migrations: RawMigration[] = [];
  for (const [version, slot] of [...byVersion].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!slot.up) throw new DefinitionError(`version ${version} has ${slot.down!.file} but no up file`, { file: slot.down!.file, migrationId: slot.id });
    migrations.push({ id: path.basename(slot.up.file).replace(/\.up\.[^.]*$/, ''), folder: slot.up.file, name: slot.id.slice(slot.id.indexOf('_') + 1).replace(/_/g, ' '), up: slot.up, down: slot.down, verify: undefined, toolVersion: String(version) });
  }
  return { layout: 'golang-migrate', migrations, warnings };
}
