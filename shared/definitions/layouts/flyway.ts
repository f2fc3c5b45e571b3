import { existsSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DefinitionError } from '../../errors.js';
import { readDefinitionText } from '../read-text.js';
import type { LayoutRead, RawMigration, ScriptSource } from './source.js';

const VERSIONED = /^V([0-9]+(?:[._][0-9]+)*)(?:__(.*))?\.sql$/i;
const UNDO = /^U([0-9]+(?:[._][0-9]+)*)(?:__(.*))?\.sql$/i;
const REPEATABLE = /^R__(.*)\.sql$/i;

/** Flyway's version order: parts split on `.` (or `_`), compared as numbers, trailing zero parts dropped (1.0 is 1). */
export function flywayVersionParts(version: string): bigint[] {
  const parts = version.replace(/_/g, '.').split('.').map((part) => BigInt(part));
  while (parts.length > 1 && parts[parts.length - 1] === 0n) parts.pop();
  return parts;
}

export function compareFlywayVersions(a: string, b: string): number {
  const pa = flywayVersionParts(a);
  const pb = flywayVersionParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0n) - (pb[i] ?? 0n);
    if (d !== 0n) return d < 0n ? -1 : 1;
  }
  return 0;
}

/** Flyway's checksum: CRC32 of the UTF-8 text without a BOM and without line breaks, as a signed 32-bit number. */
export const flywayChecksum = (text: string) => crc32(Buffer.from(text.replace(/^\uFEFF/, '').replace(/[\r\n]/g, ''), 'utf8')) | 0;

/** Files under `dir`, recursively (Flyway scans its locations recursively), hidden folders skipped; paths relative to `dir`. */
async function sqlFiles(dir: string, relative = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(dir, relative), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const child = path.join(relative, entry.name);
    if (entry.isDirectory()) found.push(...(await sqlFiles(dir, child)));
    else if (/\.sql$/i.test(entry.name)) found.push(child);
  }
  return found;
}

/**
 * Whether a Flyway script runs outside a transaction: `executeInTransaction=false` in its
 * `<script>.conf` side file, or in a `-- flyway:executeInTransaction=false` comment line.
 */
async function noTransaction(dir: string, script: Pick<ScriptSource, 'file' | 'text'>): Promise<boolean> {
  const confFile = `${script.file}.conf`;
  let setting: string | undefined;
  if (existsSync(path.join(dir, confFile))) {
    const conf = await readDefinitionText(path.join(dir, confFile), confFile);
    setting = /^\s*executeInTransaction\s*=\s*(\S+)\s*$/m.exec(conf)?.[1];
  }
  setting ??= /^\s*--\s*flyway:executeInTransaction\s*=\s*(\S+)\s*$/m.exec(script.text)?.[1];
  if (setting !== undefined && setting !== 'true' && setting !== 'false') {
    throw new DefinitionError(`executeInTransaction must be true or false, not ${setting}`, { file: script.file, field: 'executeInTransaction' });
  }
  return setting === 'false';
}

/**
 * Flyway: `V<version>__<description>.sql` applied in version order, then `R__<description>.sql`
 * repeatables by description; `U<version>__...sql` (undo, a Flyway Teams feature) is the down
 * of the same version. Ids are the file names without `.sql`. Other .sql files are skipped, as
 * Flyway skips them, with a warning.
 */
export async function readFlywayLayout(dir: string): Promise<LayoutRead> {
  const warnings: string[] = [];
  const versioned: RawMigration[] = [];
  const repeatable: RawMigration[] = [];
  const undo = new Map<string, ScriptSource>();
  const read = async (file: string): Promise<ScriptSource> => {
    const script = { file, text: await readDefinitionText(path.join(dir, file), file) };
    return { ...script, noTransaction: await noTransaction(dir, script) };
  };
  for (const file of (await sqlFiles(dir)).sort()) {
    const name = path.basename(file);
    const stem = name.replace(/\.sql$/i, '');
    const v = VERSIONED.exec(name);
    const u = UNDO.exec(name);
    const r = REPEATABLE.exec(name);
    if (v) {
      const up = await read(file);
      versioned.push({ id: stem, folder: file, name: (v[2] ?? '').replace(/_/g, ' '), up, down: undefined, verify: undefined, toolVersion: v[1]!.replace(/_/g, '.') });
    } else if (u) {
      undo.set(flywayVersionParts(u[1]!).join('.'), await read(file));
    } else if (r) {
      const up = await read(file);
      repeatable.push({ id: stem, folder: file, name: r[1]!.replace(/_/g, ' '), up, down: undefined, verify: undefined, toolVersion: r[1]!.replace(/_/g, ' '), toolChecksum: String(flywayChecksum(up.text)), repeatable: true });
    } else {
      warnings.push(`${file}: not a Flyway migration name (V<version>__<description>.sql, U..., R__...): skipped, as Flyway skips it`);
    }
  }
  versioned.sort((a, b) => compareFlywayVersions(a.toolVersion, b.toolVersion));
  for (let i = 1; i < versioned.length; i++) {
    if (compareFlywayVersions(versioned[i - 1]!.toolVersion, versioned[i]!.toolVersion) === 0) {
      throw new DefinitionError(`${versioned[i - 1]!.folder} and ${versioned[i]!.folder} have the same Flyway version`, { migrationId: versioned[i]!.id, file: versioned[i]!.folder });
    }
  }
  for (const migration of versioned) {
    const key = flywayVersionParts(migration.toolVersion).join('.');
    migration.down = undo.get(key);
    undo.delete(key);
  }
  for (const file of undo.values()) throw new DefinitionError(`${file.file} undoes a version that has no V file`, { file: file.file });
  // Java's String.compareTo: UTF-16 code units, which is JavaScript's default string order.
  repeatable.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { layout: 'flyway', migrations: [...versioned, ...repeatable], warnings };
}
