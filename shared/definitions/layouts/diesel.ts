import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { readDefinitionText } from '../read-text.js';
import { readOptional } from './pgfm.js';
import type { LayoutRead, RawMigration, ScriptSource } from './source.js';

/** Diesel's version of a migration folder: the part before the first `_`, every `-` removed. */
export const dieselVersion = (folder: string) => folder.split('_')[0]!.replace(/-/g, '');

/**
 * `run_in_transaction` from a Diesel metadata.toml, as Diesel reads it: a file without the key
 * means false (serde's default for a bool), a file that does not parse means true.
 */
function runInTransaction(text: string, file: string, warnings: string[]): boolean {
  let value: boolean | undefined;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '' || /^\[[^\]]*\]$/.test(line)) continue;
    const match = /^([A-Za-z0-9_-]+|"[^"]*")\s*=\s*(.+)$/.exec(line);
    if (!match) {
      warnings.push(`${file}:${index + 1}: not TOML Diesel can read; like Diesel, pgfm runs the migration in a transaction`);
      return true;
    }
    if (match[1]!.replace(/"/g, '') !== 'run_in_transaction') continue;
    if (match[2] !== 'true' && match[2] !== 'false') throw new DefinitionError(`run_in_transaction must be true or false, not ${match[2]}`, { file, line: index + 1, field: 'run_in_transaction' });
    value = match[2] === 'true';
  }
  return value ?? false;
}

const withSetting = (script: ScriptSource | undefined, noTransaction: boolean) => (script ? { ...script, noTransaction } : undefined);

/**
 * Diesel: one folder per migration directly under the migrations directory, `<version>_<name>`
 * with up.sql, optional down.sql and metadata.toml. Ordered as Diesel orders them: by the
 * version string (dashes removed), compared as text, so `20140929103760` (second 60) is simply
 * a version.
 */
export async function readDieselLayout(dir: string): Promise<LayoutRead> {
  const warnings: string[] = [];
  const migrations: RawMigration[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).filter((entry) => !entry.name.startsWith('.') && entry.isDirectory());
  for (const entry of entries) {
    const folder = entry.name;
    const names = (await readdir(path.join(dir, folder))).filter((name) => !name.startsWith('.'));
    if (names.length === 0) continue; // Diesel skips empty folders
    if (!names.includes('up.sql')) throw new DefinitionError(`${folder} holds no up.sql: every Diesel migration folder needs one`, { migrationId: folder, file: path.join(folder, 'up.sql') });
    const metaFile = path.join(folder, 'metadata.toml');
    const noTransaction = existsSync(path.join(dir, metaFile)) && !runInTransaction(await readDefinitionText(path.join(dir, metaFile), metaFile, { migrationId: folder }), metaFile, warnings);
    migrations.push({
      id: folder,
      folder,
      name: folder.includes('_') ? folder.slice(folder.indexOf('_') + 1).replace(/_/g, ' ') : folder,
      up: { ...(await readOptional(dir, path.join(folder, 'up.sql'), folder))!, noTransaction },
      down: withSetting(await readOptional(dir, path.join(folder, 'down.sql'), folder), noTransaction),
      verify: undefined,
      toolVersion: dieselVersion(folder),
    });
  }
  const byVersion = new Map<string, string>();
  for (const migration of migrations) {
    const other = byVersion.get(migration.toolVersion);
    if (other) throw new DefinitionError(`${migration.id} and ${other} have the same Diesel version ${migration.toolVersion}`, { migrationId: migration.id, file: migration.folder });
    byVersion.set(migration.toolVersion, migration.id);
  }
  migrations.sort((a, b) => (a.toolVersion < b.toolVersion ? -1 : a.toolVersion > b.toolVersion ? 1 : 0));
  return { layout: 'diesel', migrations, warnings };
}
