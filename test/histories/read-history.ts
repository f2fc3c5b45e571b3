/**
 * Reads a foreign migration folder the way its origin tool does: which files are migrations, their order, their
 * up/down text and whether the tool wraps them in a transaction. This is independent of layouts.ts (it reads the
 * files, not the writer's metadata), so a test can check the fixture's ids against the tool's own rules.
 *
 * Rules (from each tool's source; see the report / the layout spec):
 * - Diesel: one folder per migration (dot-entries, files and empty folders skipped) with up.sql; version = name up
 *   to the first '_' with every '-' removed; order = byte-wise on that version; metadata.toml
 *   `run_in_transaction = false` (a metadata.toml that parses but lacks the key also means false).
 * - Flyway: V<ver>__<desc>.sql by numeric version parts ('_' = '.', trailing zero parts dropped), then
 *   R__<desc>.sql by description; U<ver>__<desc>.sql = undo of that version (Teams); <script>.conf
 *   `executeInTransaction=false`; scripts holding CREATE/DROP INDEX CONCURRENTLY or ALTER TYPE … ADD VALUE run
 *   outside a transaction.
 * - golang-migrate: ^([0-9]+)_(.*)\.(down|up)\.(.*)$, numeric order; each file is one simple-query Exec.
 * - dbmate: ^(\d+).*\.sql$, order = byte-wise on the FILE NAME; `-- migrate:up` / `-- migrate:down` sections,
 *   option `transaction:false` on the directive line.
 * - Sqitch: sqitch.plan order; deploy/revert/verify/<name>.sql, an earlier instance of a reworked change uses
 *   <name>@<tag>.sql.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ForeignLayout } from './layouts.js';

export interface Script {
  /** The file the text comes from. */
  file: string;
  /** The text the tool sends (for dbmate, the section of the file). */
  sql: string;
  /** The tool runs it inside one transaction. */
  transactional: boolean;
}

export interface ForeignMigration {
  id: string;
  up: Script;
  /** null: the tool has no down for it. */
  down: Script | null;
  /** Diesel / dbmate: the version string as stored; golang-migrate: the number; Flyway: normalized version or null (repeatable). */
  version: string | null;
  /** Flyway only. */
  flyway?: { description: string; script: string; checksum: number; repeatable: boolean };
  /** Sqitch only. */
  sqitch?: SqitchChange;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

async function readText(file: string): Promise<string> {
  return fs.readFile(file, 'utf8');
}

function stripLineComments(sql: string): string {
  return sql
    .split(/\r?\n/)
    .filter((line) => !/^\s*--/.test(line))
    .join('\n');
}

/** Statements PostgreSQL refuses inside a transaction block (the subset these histories use). */
export function hasNonTransactionalStatement(sql: string): boolean {
  return /\b(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b/i.test(stripLineComments(sql));
}

/** The script manages its own transaction (a top-level `BEGIN;`). */
export function hasOwnTransaction(sql: string): boolean {
  return /^\s*(BEGIN|START\s+TRANSACTION)\s*;/im.test(stripLineComments(sql));
}

/** True when the text holds no statement at all (only whitespace and comments). */
export function hasNoStatement(sql: string): boolean {
  return sql.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--[^\n]*/g, '').trim() === '';
}

// ---------------------------------------------------------------- Diesel

export function dieselVersion(folder: string): string {
  return folder.split('_')[0]!.replace(/-/g, '');
}

async function readDiesel(dir: string): Promise<ForeignMigration[]> {
  const out: ForeignMigration[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const folder = path.join(dir, entry.name);
    const files = (await fs.readdir(folder)).filter((f) => !f.startsWith('.'));
    if (files.length === 0) continue;
    if (!files.includes('up.sql')) throw new Error(`diesel: ${folder} has no up.sql`);
    let transactional = true;
    if (files.includes('metadata.toml')) {
      const toml = await readText(path.join(folder, 'metadata.toml'));
      const m = /^\s*run_in_transaction\s*=\s*(true|false)\s*(#.*)?$/m.exec(toml);
      transactional = m ? m[1] === 'true' : false;
    }
    const upFile = path.join(folder, 'up.sql');
    const downFile = path.join(folder, 'down.sql');
    out.push({
      id: entry.name,
      version: dieselVersion(entry.name),
      up: { file: upFile, sql: await readText(upFile), transactional },
      down: files.includes('down.sql') ? { file: downFile, sql: await readText(downFile), transactional } : null,
    });
  }
  return out.sort((a, b) => (a.version! < b.version! ? -1 : a.version! > b.version! ? 1 : 0));
}

// ---------------------------------------------------------------- Flyway

/** CRC32 (IEEE), as java.util.zip.CRC32. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Flyway's checksum: CRC32 over the UTF-8 of every line without its terminator, BOM dropped, as a signed int. */
export function flywayChecksum(text: string): number {
  const body = text.replace(/^\uFEFF/, '').replace(/\r\n|\r|\n/g, '');
  return crc32(Buffer.from(body, 'utf8')) | 0;
}

function flywayParts(version: string): bigint[] {
  const parts = version.replace(/_/g, '.').split(/\.(?=\d)/).map((p) => BigInt(p));
  while (parts.length > 1 && parts[parts.length - 1] === 0n) parts.pop();
  return parts;
}

export function compareFlywayVersions(a: string, b: string): number {
  const pa = flywayParts(a);
  const pb = flywayParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0n;
    const y = pb[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

async function listRecursive(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listRecursive(dir, r)));
    else out.push(r);
  }
  return out;
}

async function flywayTransactional(file: string, text: string): Promise<boolean> {
  if (await exists(`${file}.conf`)) {
    const conf = await readText(`${file}.conf`);
    const m = /^\s*executeInTransaction\s*=\s*(true|false)\s*$/m.exec(conf);
    if (m) return m[1] === 'true';
  }
  if (/^--\s*flyway:executeInTransaction\s*=\s*false\s*$/m.test(text)) return false;
  const body = stripLineComments(text);
  return !hasNonTransactionalStatement(body) && !/\bALTER\s+TYPE\b[^;]*\bADD\s+VALUE\b/i.test(body);
}

async function readFlyway(dir: string): Promise<ForeignMigration[]> {
  const files = await listRecursive(dir);
  const versioned: ForeignMigration[] = [];
  const repeatable: ForeignMigration[] = [];
  const undo = new Map<string, string>();
  for (const rel of files) {
    const base = path.posix.basename(rel);
    if (!/\.sql$/i.test(base)) continue;
    const stem = base.slice(0, -4);
    const v = /^V([0-9]+(?:[._][0-9]+)*)__(.*)$/.exec(stem);
    const r = /^R__(.*)$/.exec(stem);
    const u = /^U([0-9]+(?:[._][0-9]+)*)__(.*)$/.exec(stem);
    const file = path.join(dir, rel);
    if (u) {
      undo.set(u[1]!, file);
      continue;
    }
    if (!v && !r) continue;
    const text = await readText(file);
    const migration: ForeignMigration = {
      id: stem,
      version: v ? v[1]!.replace(/_/g, '.') : null,
      up: { file, sql: text, transactional: await flywayTransactional(file, text) },
      down: null,
      flyway: { description: (v ? v[2]! : r![1]!).replace(/_/g, ' '), script: rel, checksum: flywayChecksum(text), repeatable: !v },
    };
    (v ? versioned : repeatable).push(migration);
  }
  for (const m of versioned) {
    for (const [version, file] of undo) {
      if (compareFlywayVersions(version, m.version!) === 0) {
        const text = await readText(file);
        m.down = { file, sql: text, transactional: await flywayTransactional(file, text) };
      }
    }
  }
  versioned.sort((a, b) => compareFlywayVersions(a.version!, b.version!));
  repeatable.sort((a, b) => (a.flyway!.description < b.flyway!.description ? -1 : a.flyway!.description > b.flyway!.description ? 1 : 0));
  return [...versioned, ...repeatable];
}

// ---------------------------------------------------------------- golang-migrate

async function readGolang(dir: string): Promise<ForeignMigration[]> {
  const byVersion = new Map<bigint, { up?: string; down?: string }>();
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const m = /^([0-9]+)_(.*)\.(down|up)\.(.*)$/.exec(entry.name);
    if (!m) continue;
    const version = BigInt(m[1]!);
    const slot = byVersion.get(version) ?? {};
    slot[m[3] as 'up' | 'down'] = entry.name;
    byVersion.set(version, slot);
  }
  const out: ForeignMigration[] = [];
  for (const version of [...byVersion.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const slot = byVersion.get(version)!;
    if (!slot.up) continue;
    const script = async (name: string): Promise<Script> => {
      const file = path.join(dir, name);
      const sql = await readText(file);
      return { file, sql, transactional: !hasNonTransactionalStatement(sql) && !hasOwnTransaction(sql) };
    };
    out.push({
      id: slot.up.replace(/\.up\.sql$/, ''),
      version: version.toString(),
      up: await script(slot.up),
      down: slot.down ? await script(slot.down) : null,
    });
  }
  return out;
}

// ---------------------------------------------------------------- dbmate

const DBMATE_UP = /^--\s*migrate:up(\s*$|\s+\S+)/m;
const DBMATE_DOWN = /^--\s*migrate:down(\s*$|\s+\S+)/m;

function dbmateTransactional(section: string): boolean {
  const first = section.split('\n', 1)[0]!.replace(/^--\s*migrate:(up|down)/, '').trim();
  for (const pair of first.split(/\s+/)) {
    const [k, v, extra] = pair.split(':');
    if (k === 'transaction' && extra === undefined && v === 'false') return false;
  }
  return true;
}

async function readDbmate(dir: string): Promise<ForeignMigration[]> {
  const out: ForeignMigration[] = [];
  const names = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile() && /^(\d+).*\.sql$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const file = path.join(dir, name);
    const text = await readText(file);
    const up = DBMATE_UP.exec(text);
    const down = DBMATE_DOWN.exec(text);
    if (!up || !down || down.index < up.index) throw new Error(`dbmate: ${name} needs -- migrate:up then -- migrate:down`);
    if (DBMATE_UP.test(text.slice(up.index + 1))) {
      throw new Error(`dbmate: ${name} has several up sections; not supported by this reader`);
    }
    const upText = text.slice(up.index, down.index);
    const downText = text.slice(down.index);
    out.push({
      id: name.slice(0, -4),
      version: /^(\d+)/.exec(name)![1]!,
      up: { file, sql: upText, transactional: dbmateTransactional(upText) },
      down: { file, sql: downText, transactional: dbmateTransactional(downText) },
    });
  }
  return out;
}

// ---------------------------------------------------------------- Sqitch

export interface SqitchTag {
  name: string;
  timestamp: string;
  planner: string;
  email: string;
  note: string;
  id: string;
}

export interface SqitchChange {
  name: string;
  /** name, or name@tag for an earlier instance of a reworked change: the scripts' base name. */
  scriptName: string;
  requires: string[];
  conflicts: string[];
  timestamp: string;
  planner: string;
  email: string;
  note: string;
  id: string;
  parentId: string | null;
  /** Tags that directly follow this change in the plan. */
  tags: SqitchTag[];
}

export interface SqitchPlan {
  project: string;
  uri: string | null;
  changes: SqitchChange[];
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

/** Sqitch's object id: sha1("<type> <byte length>\0<info>"). */
function sqitchId(type: 'change' | 'tag', info: string): string {
  return sha1(`${type} ${Buffer.byteLength(info, 'utf8')}\0${info}`);
}

export function sqitchChangeId(p: {
  project: string;
  uri: string | null;
  name: string;
  parentId: string | null;
  planner: string;
  email: string;
  timestamp: string;
  requires: string[];
  conflicts: string[];
  note: string;
}): string {
  const lines = [`project ${p.project}`];
  if (p.uri) lines.push(`uri ${p.uri}`);
  lines.push(`change ${p.name}`);
  if (p.parentId) lines.push(`parent ${p.parentId}`);
  lines.push(`planner ${p.planner} <${p.email}>`, `date ${p.timestamp}`);
  if (p.requires.length) lines.push(`requires\n  + ${p.requires.join('\n  + ')}`);
  if (p.conflicts.length) lines.push(`conflicts\n  - ${p.conflicts.join('\n  - ')}`);
  if (p.note) lines.push('', p.note);
  return sqitchId('change', lines.join('\n'));
}

function sqitchTagId(p: { project: string; uri: string | null; name: string; changeId: string; planner: string; email: string; timestamp: string; note: string }): string {
  const lines = [`project ${p.project}`];
  if (p.uri) lines.push(`uri ${p.uri}`);
  lines.push(`tag @${p.name}`, `change ${p.changeId}`, `planner ${p.planner} <${p.email}>`, `date ${p.timestamp}`);
  if (p.note) lines.push('', p.note);
  return sqitchId('tag', lines.join('\n'));
}

function unescapeNote(note: string | undefined): string {
  return (note ?? '').trim().replace(/\\([\\nr])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\'));
}

/** Dependency as Sqitch stores it: the project prefix is dropped when it is the plan's own project. */
function depAsString(dep: string, project: string): string {
  const m = /^([^:]+):(.+)$/.exec(dep);
  return m && m[1] === project ? m[2]! : dep;
}

export async function readSqitchPlan(projectDir: string): Promise<SqitchPlan> {
  const lines = (await readText(path.join(projectDir, 'sqitch.plan'))).split(/\r?\n/);
  let project = '';
  let uri: string | null = null;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*$/.test(line)) break;
    if (/^\s*#/.test(line)) continue;
    const m = /^\s*%\s*([^=\s]+)\s*(?:=\s*(.*?))?\s*(?:#.*)?$/.exec(line);
    if (!m) throw new Error(`sqitch.plan: bad pragma ${line}`);
    if (m[1] === 'project') project = m[2]!;
    if (m[1] === 'uri') uri = m[2]!;
  }
  if (!project) throw new Error('sqitch.plan: no %project');
  const changes: SqitchChange[] = [];
  const ts = '(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ)';
  for (; i < lines.length; i++) {
    const raw = lines[i]!;
    if (/^\s*(#.*)?$/.test(raw)) continue;
    const noteAt = raw.indexOf('#');
    const note = unescapeNote(noteAt >= 0 ? raw.slice(noteAt + 1) : '');
    const line = (noteAt >= 0 ? raw.slice(0, noteAt) : raw).trim();
    const tag = new RegExp(`^@(\\S+)\\s+${ts}\\s+([^<]+?)\\s+<([^>]+)>$`).exec(line);
    if (tag) {
      const change = changes[changes.length - 1];
      if (!change) throw new Error(`sqitch.plan: tag before any change: ${raw}`);
      const [, name, timestamp, planner, email] = tag as unknown as [string, string, string, string, string];
      const id = sqitchTagId({ project, uri, name, changeId: change.id, planner, email, timestamp, note });
      change.tags.push({ name, timestamp, planner, email, note, id });
      continue;
    }
    const ch = new RegExp(`^([+-])?\\s*([^\\s\\[]+)(?:\\s+\\[([^\\]]+)\\])?\\s+${ts}\\s+([^<]+?)\\s+<([^>]+)>$`).exec(line);
    if (!ch) throw new Error(`sqitch.plan: cannot parse ${raw}`);
    const deps = (ch[3] ?? '').split(/\s+/).filter(Boolean);
    const requires = deps.filter((d) => !d.startsWith('!')).map((d) => depAsString(d, project));
    const conflicts = deps.filter((d) => d.startsWith('!')).map((d) => depAsString(d.slice(1), project));
    const base = { project, uri, name: ch[2]!, parentId: changes[changes.length - 1]?.id ?? null, planner: ch[5]!, email: ch[6]!, timestamp: ch[4]!, requires, conflicts, note };
    changes.push({ ...base, scriptName: base.name, id: sqitchChangeId(base), tags: [] });
  }
  // Reworked changes: an earlier instance gets rework tags (tags after it, newest first, then its own) and its
  // scripts are name@TAG.sql for the first such tag whose deploy file exists (else the first in that list).
  for (const [j, change] of changes.entries()) {
    const later = changes.findIndex((c, k) => k > j && c.name === change.name);
    if (later < 0) continue;
    const reworkTags = [
      ...changes
        .slice(j + 1, later)
        .flatMap((c) => c.tags.map((t) => t.name))
        .reverse(),
      ...change.tags.map((t) => t.name),
    ];
    let chosen = reworkTags[0];
    for (const t of reworkTags) {
      if (await exists(path.join(projectDir, 'deploy', `${change.name}@${t}.sql`))) {
        chosen = t;
        break;
      }
    }
    if (!chosen) throw new Error(`sqitch.plan: ${change.name} is reworked without a tag in between`);
    change.scriptName = `${change.name}@${chosen}`;
  }
  return { project, uri, changes };
}

async function readSqitch(projectDir: string): Promise<ForeignMigration[]> {
  const plan = await readSqitchPlan(projectDir);
  const out: ForeignMigration[] = [];
  for (const change of plan.changes) {
    const deploy = path.join(projectDir, 'deploy', `${change.scriptName}.sql`);
    const revert = path.join(projectDir, 'revert', `${change.scriptName}.sql`);
    out.push({
      id: change.scriptName,
      version: null,
      up: { file: deploy, sql: await readText(deploy), transactional: false },
      down: (await exists(revert)) ? { file: revert, sql: await readText(revert), transactional: false } : null,
      sqitch: change,
    });
  }
  return out;
}

// ----------------------------------------------------------------

/** The migrations of a foreign folder in the origin tool's apply order. */
export async function readHistory(layout: ForeignLayout, dir: string): Promise<ForeignMigration[]> {
  switch (layout) {
    case 'diesel':
      return readDiesel(dir);
    case 'flyway':
      return readFlyway(dir);
    case 'golang-migrate':
      return readGolang(dir);
    case 'dbmate':
      return readDbmate(dir);
    case 'sqitch':
      return readSqitch(dir);
  }
}

export function sqitchScriptHash(text: string | Buffer): string {
  return createHash('sha1').update(text).digest('hex');
}
