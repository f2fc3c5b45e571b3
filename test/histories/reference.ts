/**
 * The reference: a foreign history applied (and its tail reverted) with plain psql, exactly the way the origin
 * tool runs it — same order, same transaction boundaries, same files or file sections. A pgfm test compares its
 * own result with this one through schemaDump().
 *
 * How each tool's run is reproduced (one psql process per script, `-X -q -v ON_ERROR_STOP=1`):
 * - Diesel: up.sql / down.sql with `-1` (Diesel wraps each migration in a transaction) unless metadata.toml says
 *   `run_in_transaction = false`. Diesel refuses a zero-byte file (EmptyMigration) and a file without any
 *   statement (the server answers an empty query, which Diesel's PgResult turns into an error): so does this.
 * - Flyway: each V/U script with `-1`, or without when it is non-transactional (.conf, the inline comment, or a
 *   CONCURRENTLY / ALTER TYPE … ADD VALUE statement); R__ scripts after every versioned one.
 * - golang-migrate: each file with `-1` (the file is one multi-statement simple query: PostgreSQL's implicit
 *   transaction), without it when the file has its own BEGIN/COMMIT or a CONCURRENTLY statement. A missing down
 *   file is reverted as a no-op, as golang-migrate does.
 * - dbmate: only the up (or down) section, from its directive line on, with `-1` unless `transaction:false`.
 * - Sqitch: deploy/revert scripts as written, with Sqitch's own psql options; they manage their transactions.
 *
 * Known differences from the tools (psql runs a file statement by statement): Diesel with
 * run_in_transaction = false, dbmate with transaction:false and golang-migrate without x-multi-statement send
 * the whole file as ONE query, so a file with two CREATE INDEX CONCURRENTLY statements fails there ("cannot run
 * inside a transaction block"). psql (and Flyway, Sqitch) run them one by one and succeed.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { ForeignLayout, HistoryFixture } from './layouts.js';
import { hasNoStatement, readHistory, type ForeignMigration, type Script } from './read-history.js';

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function psqlScript(layout: ForeignLayout, databaseUrl: string, id: string, script: Script): Promise<void> {
  let args: string[];
  let input: string | undefined;
  if (layout === 'sqitch') {
    // Engine/pg.pm: psql --quiet --no-psqlrc --no-align --tuples-only --set ON_ERROR_STOP=1 --set registry=sqitch --file
    args = ['--quiet', '--no-psqlrc', '--no-align', '--tuples-only', '--set', 'ON_ERROR_STOP=1', '--set', 'registry=sqitch', '--dbname', databaseUrl, '--file', script.file];
  } else {
    args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', ...(script.transactional ? ['-1'] : []), '-d', databaseUrl];
    if (layout === 'dbmate') {
      args.push('-f', '-');
      input = script.sql;
    } else {
      args.push('-f', script.file);
    }
  }
  const result = await run('psql', args, input);
  if (result.code !== 0) {
    throw new Error(`psql failed on ${layout} ${id} (${script.file}): ${result.stderr.trim()}`);
  }
}

function dieselGuard(id: string, script: Script): void {
  if (script.sql.length === 0) throw new Error(`diesel: ${id}: Attempted to run an empty migration (${script.file})`);
  if (hasNoStatement(script.sql)) throw new Error(`diesel: ${id}: Received an empty query (${script.file})`);
}

async function migrationsOf(layout: ForeignLayout, fixture: HistoryFixture): Promise<Map<string, ForeignMigration>> {
  const migrations = await readHistory(layout, fixture.dir);
  const ids = migrations.map((m) => m.id);
  if (JSON.stringify(ids) !== JSON.stringify(fixture.ids)) {
    throw new Error(`${layout}: the tool's order differs from fixture.ids:\n${ids.join('\n')}`);
  }
  return new Map(migrations.map((m) => [m.id, m]));
}

/**
 * Applies the history as the origin tool would. `options.ids` applies only those (in the tool's order), e.g.
 * idsAfterRevert(...) for a database that never saw the tail.
 */
export async function applyWithPsql(
  layout: ForeignLayout,
  fixture: HistoryFixture,
  databaseUrl: string,
  options: { ids?: readonly string[] } = {},
): Promise<void> {
  const byId = await migrationsOf(layout, fixture);
  const wanted = options.ids ? new Set(options.ids) : null;
  for (const id of options.ids ?? []) if (!byId.has(id)) throw new Error(`${layout}: unknown id ${id}`);
  for (const id of fixture.ids) {
    if (wanted && !wanted.has(id)) continue;
    const m = byId.get(id)!;
    if (layout === 'diesel') dieselGuard(id, m.up);
    if (layout === 'golang-migrate' && m.up.sql.trim() === '') continue;
    await psqlScript(layout, databaseUrl, id, m.up);
  }
}

/** Runs the downs of the given migrations, in the order given, as the origin tool would. */
export async function revertIdsWithPsql(
  layout: ForeignLayout,
  fixture: HistoryFixture,
  databaseUrl: string,
  ids: readonly string[],
): Promise<void> {
  const byId = await migrationsOf(layout, fixture);
  for (const id of ids) {
    const m = byId.get(id);
    if (!m) throw new Error(`${layout}: unknown id ${id}`);
    if (layout === 'flyway' && m.flyway?.repeatable) throw new Error(`flyway: ${id} is repeatable: undo never reverts it`);
    if (!m.down) {
      if (layout === 'golang-migrate') continue; // a missing down file is a NilMigration: version bookkeeping only
      throw new Error(`${layout}: ${id} has no down (${layout === 'flyway' ? 'no U file' : 'no down.sql'})`);
    }
    if (layout === 'diesel') dieselGuard(id, m.down);
    if (layout === 'golang-migrate' && m.down.sql.trim() === '') continue;
    await psqlScript(layout, databaseUrl, id, m.down);
  }
}

/** The ids the tool reverts when asked to revert `count` migrations (newest first). Flyway skips repeatables. */
export function idsToRevert(layout: ForeignLayout, fixture: HistoryFixture, count: number): string[] {
  const candidates = layout === 'flyway' ? fixture.ids.filter((id) => !id.startsWith('R__')) : fixture.ids;
  if (count > candidates.length) throw new Error(`cannot revert ${count} of ${candidates.length}`);
  return candidates.slice(candidates.length - count).reverse();
}

/** The ids still applied after reverting `count` migrations, in apply order. */
export function idsAfterRevert(layout: ForeignLayout, fixture: HistoryFixture, count: number): string[] {
  const reverted = new Set(idsToRevert(layout, fixture, count));
  return fixture.ids.filter((id) => !reverted.has(id));
}

/** Runs the downs of the last `count` migrations in reverse order, as the tool would. */
export async function revertTailWithPsql(
  layout: ForeignLayout,
  fixture: HistoryFixture,
  databaseUrl: string,
  count: number,
): Promise<void> {
  await revertIdsWithPsql(layout, fixture, databaseUrl, idsToRevert(layout, fixture, count));
}

/** Sqitch: runs every verify script of the given changes (each ends with ROLLBACK). */
export async function verifySqitchWithPsql(fixture: HistoryFixture, databaseUrl: string, ids: readonly string[] = fixture.ids): Promise<void> {
  for (const id of ids) {
    const file = `${fixture.dir}/verify/${id}.sql`;
    await psqlScript('sqitch', databaseUrl, id, { file, sql: await fs.readFile(file, 'utf8'), transactional: false });
  }
}

/** Strips what differs between two dumps of equal schemas: comments, SET lines, \restrict keys, blank-line runs. */
export function normalizeDump(dump: string): string {
  return dump
    .split('\n')
    .filter(
      (line) =>
        !line.startsWith('--') &&
        !/^SET\s/.test(line) &&
        !line.startsWith('SELECT pg_catalog.set_config(') &&
        !/^\\(un)?restrict\b/.test(line),
    )
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** pg_dump --schema-only --no-owner --no-privileges, minus the given schemas (and tables), normalized. */
export async function schemaDump(databaseUrl: string, excludeSchemas: string[], excludeTables: string[] = []): Promise<string> {
  const args = [
    '--schema-only',
    '--no-owner',
    '--no-privileges',
    ...excludeSchemas.map((s) => `--exclude-schema=${s}`),
    ...excludeTables.map((t) => `--exclude-table=${t}`),
    '--dbname',
    databaseUrl,
  ];
  const result = await run('pg_dump', args);
  if (result.code !== 0) throw new Error(`pg_dump failed: ${result.stderr.trim()}`);
  return normalizeDump(result.stdout);
}
