/**
 * The bad-input harness for hostile input: a few hundred malformed or hostile migration
 * definitions, generated from a seeded PRNG (test/helpers/hostile-definitions.ts), each added
 * alone to a small valid base that has been applied by a real fleet. For every case
 *   - `validate`, `plan` and `up` each exit 2 with one `error: ...` line on stderr that names
 *     the offending file (or field), nothing on stdout, no raw control characters;
 *   - the catalog (every row of every table), the application and catalog schemas (relations,
 *     columns, constraints, functions, sequences), the application data and the BullMQ keys
 *     under the queue prefix are exactly as before, and app.sentinel still exists.
 * Controls (benign variants of the same templates) must be accepted by `validate` and `plan`.
 *
 * The seed is printed; HOSTILE_SEED=<seed> reproduces the same cases byte for byte, and every
 * failure message starts with the seed and the case name.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';
import { BASE_FILES, BASE_ID, FLAG_ID, HOSTILE_ID, generateHostileCases, type Entry, type HostileCase } from '../helpers/hostile-definitions.js';
import { waitFor } from '../helpers/processes.js';

const execFileAsync = promisify(execFile);
const CATALOG = 'migration_mgmt';
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function seedFromEnv(): number {
  const raw = process.env['HOSTILE_SEED'];
  if (raw === undefined || raw === '') return randomInt(2 ** 31);
  if (!/^\d+$/.test(raw) || Number(raw) >= 2 ** 32) throw new Error(`HOSTILE_SEED must be an integer from 0 to 2^32-1, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

const SEED = seedFromEnv();
const generationStarted = Date.now();
const cases = generateHostileCases(SEED);
const perCategory = Object.entries(
  cases.reduce<Record<string, number>>((counts, c) => ({ ...counts, [c.category]: (counts[c.category] ?? 0) + 1 }), {}),
);
console.log(
  `hostile-input: seed ${SEED} (HOSTILE_SEED=${SEED} reproduces these cases): ${cases.length} cases generated in ${Date.now() - generationStarted} ms\n` +
    perCategory.map(([category, n]) => `  ${category}: ${n}`).join('\n'),
);

// --- state snapshots ----------------------------------------------------------

interface Snapshot {
  catalog: Record<string, unknown>;
  schema: unknown;
  data: unknown;
  redis: Record<string, string>;
}

/** Every row of every catalog table, as JSON, in one round trip. */
async function catalogRows(client: pg.Client): Promise<Record<string, unknown>> {
  const { rows: tables } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
    [CATALOG],
  );
  if (tables.length === 0) return {};
  const sql = tables
    .map(
      ({ name }) =>
        `SELECT ${pg.escapeLiteral(name)} AS name, coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb) AS rows ` +
        `FROM ${pg.escapeIdentifier(CATALOG)}.${pg.escapeIdentifier(name)} t`,
    )
    .join(' UNION ALL ');
  const { rows } = await client.query<{ name: string; rows: unknown }>(sql);
  return Object.fromEntries(rows.map((row) => [row.name, row.rows]));
}

/** Relations, columns, constraints, indexes, functions, sequences of every non-system schema (the catalog's too). */
const SCHEMA_SQL = `
WITH ns AS (
  SELECT oid, nspname FROM pg_namespace
   WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND nspname NOT LIKE 'pg_temp_%' AND nspname NOT LIKE 'pg_toast_temp_%'
)
SELECT jsonb_build_object(
  'schemas', (SELECT jsonb_agg(nspname ORDER BY nspname) FROM ns),
  'relations', (SELECT jsonb_agg(jsonb_build_array(ns.nspname, c.relname, c.relkind,
      (SELECT jsonb_agg(jsonb_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum)
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) ORDER BY ns.nspname, c.relname)
      FROM pg_class c JOIN ns ON ns.oid = c.relnamespace),
  'constraints', (SELECT jsonb_agg(jsonb_build_array(ns.nspname, con.conname, pg_get_constraintdef(con.oid)) ORDER BY ns.nspname, con.conname, pg_get_constraintdef(con.oid))
      FROM pg_constraint con JOIN ns ON ns.oid = con.connamespace),
  'indexes', (SELECT jsonb_agg(jsonb_build_array(schemaname, indexname, indexdef) ORDER BY schemaname, indexname)
      FROM pg_indexes WHERE schemaname IN (SELECT nspname FROM ns)),
  'functions', (SELECT jsonb_agg(jsonb_build_array(ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc)) ORDER BY 1)
      FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace),
  'triggers', (SELECT jsonb_agg(jsonb_build_array(t.tgrelid::regclass::text, t.tgname) ORDER BY 1) FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid JOIN ns ON ns.oid = c.relnamespace WHERE NOT t.tgisinternal),
  'sequences', (SELECT jsonb_agg(jsonb_build_array(schemaname, sequencename, last_value) ORDER BY schemaname, sequencename)
      FROM pg_sequences WHERE schemaname IN (SELECT nspname FROM ns))
) AS schema`;

const DATA_SQL = `SELECT jsonb_build_object(
  'items', (SELECT jsonb_agg(to_jsonb(i) ORDER BY i.id) FROM app.items i),
  'sentinel', (SELECT jsonb_agg(to_jsonb(s) ORDER BY s.id) FROM app.sentinel s)
) AS data`;

/** Every BullMQ key under the prefix with its type and size (and TTL state), sorted. */
async function redisKeys(redis: Redis, prefix: string): Promise<Record<string, string>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  keys.sort();
  if (keys.length === 0) return {};
  const types = (await redis.pipeline(keys.map((key) => ['type', key])).exec())!.map(([, type]) => String(type));
  const size = (key: string, type: string): string[] => {
    switch (type) {
      case 'list': return ['llen', key];
      case 'set': return ['scard', key];
      case 'zset': return ['zcard', key];
      case 'hash': return ['hlen', key];
      case 'stream': return ['xlen', key];
      default: return ['strlen', key];
    }
  };
  const sizes = (await redis.pipeline(keys.map((key, i) => size(key, types[i]!))).exec())!.map(([, n]) => String(n));
  return Object.fromEntries(keys.map((key, i) => [key, `${types[i]}:${sizes[i]}`]));
}

function describeDifference(before: Snapshot, after: Snapshot): string[] {
  const problems: string[] = [];
  for (const table of new Set([...Object.keys(before.catalog), ...Object.keys(after.catalog)])) {
    const rows = (snapshot: Snapshot) => ((snapshot.catalog[table] as unknown[] | undefined) ?? []).map((row) => JSON.stringify(row));
    const b = rows(before);
    const a = rows(after);
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      const added = a.filter((row) => !b.includes(row));
      const removed = b.filter((row) => !a.includes(row));
      problems.push(
        `catalog table ${table} changed (${b.length} rows before, ${a.length} after; ${added.length} new or changed, ${removed.length} gone or changed)` +
          (added[0] ? `: ${added[0].slice(0, 250)}` : ''),
      );
    }
  }
  const schemaBefore = before.schema as Record<string, unknown>;
  const schemaAfter = after.schema as Record<string, unknown>;
  for (const part of new Set([...Object.keys(schemaBefore), ...Object.keys(schemaAfter)])) {
    const b = JSON.stringify(schemaBefore[part] ?? null);
    const a = JSON.stringify(schemaAfter[part] ?? null);
    if (a !== b) problems.push(`schema ${part} changed: ${b.slice(0, 200)} -> ${a.slice(0, 300)}`);
  }
  if (JSON.stringify(after.data) !== JSON.stringify(before.data)) problems.push(`application data changed: ${JSON.stringify(after.data).slice(0, 300)}`);
  const keys = new Set([...Object.keys(before.redis), ...Object.keys(after.redis)]);
  const changed = [...keys].filter((key) => before.redis[key] !== after.redis[key]);
  if (changed.length > 0) {
    problems.push(
      `BullMQ keys changed (${Object.keys(before.redis).length} before, ${Object.keys(after.redis).length} after): ` +
        changed.slice(0, 8).map((key) => `${key} ${before.redis[key] ?? 'absent'} -> ${after.redis[key] ?? 'absent'}`).join(', '),
    );
  }
  return problems;
}

// --- fixtures -----------------------------------------------------------------

async function writeEntries(dir: string, outside: string, files: Record<string, Entry>): Promise<void> {
  for (const [file, entry] of Object.entries(files)) {
    const target = path.join(dir, file);
    await mkdir(path.dirname(target), { recursive: true });
    if (typeof entry === 'string' || Buffer.isBuffer(entry)) {
      await writeFile(target, entry);
    } else {
      const to = entry.absolute ? entry.symlink : path.join(outside, entry.symlink);
      await symlink(entry.relative ? path.relative(path.dirname(target), to) : to, target);
    }
  }
}

const escapeRegExp = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What is wrong with a result that should be a refusal (empty: it is one). */
function refusalProblems(result: CliResult, c: HostileCase): string[] {
  if (result.code !== 2) {
    const said = (result.stderr || result.stdout).split('\n')[0]!.slice(0, 200);
    return [`exit code ${result.code}, expected 2${result.code === 0 ? ' (accepted)' : ''}: ${JSON.stringify(said)}`];
  }
  const problems: string[] = [];
  if (result.stdout !== '') problems.push(`stdout is not empty: ${JSON.stringify(result.stdout.slice(0, 300))}`);
  const lines = result.stderr.split('\n');
  if (lines.length !== 1) problems.push(`stderr has ${lines.length} lines, expected one`);
  const line = lines[0] ?? '';
  if (!/^error: \S/.test(line)) problems.push('stderr does not start with "error: "');
  if (line.length > 2000) problems.push(`the error line is ${line.length} characters long`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) problems.push('the error line holds raw control characters (NUL, ESC, CR...)');
  if (/undefined|\[object|\bat .+\.ts:\d+/.test(line)) problems.push('the error line holds "undefined", "[object" or a stack frame');
  const namesFile = c.names.some((name) => new RegExp(`[( ]file=${escapeRegExp(name)}(?:[ )/]|$)`).test(line));
  const namesField = (c.fields ?? []).some((field) => new RegExp(`[( ]field=${escapeRegExp(field)}`).test(line));
  if (!namesFile && !namesField) {
    problems.push(`the error names neither file=${c.names.join(' | ')}${c.fields ? ` nor field=${c.fields.join(' | ')}` : ''}`);
  }
  return problems;
}

function acceptedProblems(command: string, result: CliResult): string[] {
  const problems: string[] = [];
  if (result.code !== 0) problems.push(`exit code ${result.code}, expected 0 (a control must be accepted)`);
  if (result.stderr !== '') problems.push(`stderr is not empty`);
  if (command === 'validate' && !result.stdout.startsWith('ok: 3 migrations')) problems.push('validate did not report 3 migrations');
  if (command === 'plan' && !result.stdout.includes(HOSTILE_ID)) problems.push(`plan does not list ${HOSTILE_ID}`);
  return problems;
}

const show = (result: CliResult | undefined) =>
  result === undefined ? '(not run)' : `exit ${result.code}; stdout ${JSON.stringify(result.stdout.slice(0, 300))}; stderr ${JSON.stringify(result.stderr.slice(0, 600))}`;

// --- the harness --------------------------------------------------------------

describe(`hostile migration definitions (seed ${SEED})`, () => {
  let db: TestDatabase | undefined;
  let fleet: Fleet | undefined;
  let client: pg.Client | undefined;
  let redis: Redis | undefined;
  let baseDir: string | undefined;
  const prefix = uniquePrefix('hostile');
  let env: Record<string, string>;
  let pristineDump: string;
  const timings: Record<string, number[]> = {};
  /** Time spent per CLI command and in snapshots, over all cases. */
  const spent: Record<string, { n: number; ms: number }> = {};
  const timed = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await work();
    } finally {
      spent[what] ??= { n: 0, ms: 0 };
      spent[what].n += 1;
      spent[what].ms += Date.now() - started;
    }
  };
  let lastSnapshot: Snapshot | undefined;
  const outcomes: Array<{ c: HostileCase; problems: string[]; accepted: boolean }> = [];

  const snapshot = async (): Promise<Snapshot> => ({
    catalog: await catalogRows(client!),
    schema: (await client!.query<{ schema: unknown }>(SCHEMA_SQL)).rows[0]!.schema,
    data: (await client!.query<{ data: unknown }>(DATA_SQL)).rows[0]!.data,
    redis: await redisKeys(redis!, prefix),
  });

  /** pg_dump of every schema, and of the rows of the catalog and of app: byte for byte the same after all cases. */
  const dump = async (): Promise<string> => {
    const common = ['--restrict-key=pgfmhostile', '--no-owner', `--dbname=${db!.url}`];
    const [schema, data] = await Promise.all([
      execFileAsync('pg_dump', ['--schema-only', ...common], { maxBuffer: 64 * 1024 * 1024 }),
      execFileAsync('pg_dump', ['--data-only', `--schema=${CATALOG}`, '--schema=app', ...common], { maxBuffer: 64 * 1024 * 1024 }),
    ]);
    return `${schema.stdout}\n-- data\n${data.stdout}`;
  };

  beforeAll(async () => {
    db = await createTestDatabase('hostile_input');
    baseDir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-hostile-base-'));
    await writeEntries(baseDir, baseDir, BASE_FILES);
    env = { DATABASE_URL: db.url, REDIS_URL, QUEUE_PREFIX: prefix, MIGRATIONS_DIR: baseDir, ENVIRONMENT: 'development' };

    // The catalog through the CLI, then the base applied by a real fleet, which is then stopped.
    const init = await runCli(['init'], env);
    expect(init.code, show(init)).toBe(0);
    fleet = new Fleet(env);
    const procs = [fleet.coordinator(), fleet.worker()];
    await waitFor('the fleet to start', async () => procs.every((p) => p.output.some((line) => /"msg":"(worker|coordinator) started"/.test(line))), 30_000, 100);
    const up = await runCli(['up', '--wait', '--json'], env);
    expect(up.code, `${show(up)}\n${fleet.logs()}`).toBe(0);
    await fleet.stop();

    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    // Keys with a TTL (BullMQ's stalled-check marker, locks) vanish on their own: wait for them, so snapshots are stable.
    await waitFor(
      'BullMQ keys with a TTL to expire',
      async () => {
        const keys = Object.keys(await redisKeys(redis!, prefix));
        const ttls = keys.length === 0 ? [] : ((await redis!.pipeline(keys.map((key) => ['pttl', key])).exec())!.map(([, ttl]) => Number(ttl)));
        return ttls.every((ttl) => ttl < 0);
      },
      20_000,
      250,
    );
    pristineDump = await dump();
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    await client?.end().catch(() => undefined);
    // The BullMQ keys of this file's prefix (the base run's, and any a wrongly accepted case queued).
    const cleanup = redis ?? new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const keys = Object.keys(await redisKeys(cleanup, prefix));
      for (let i = 0; i < keys.length; i += 500) await cleanup.del(...keys.slice(i, i + 500));
    } finally {
      cleanup.disconnect();
    }
    await db?.drop();
    if (baseDir) await rm(baseDir, { recursive: true, force: true });
    const summary = Object.entries(timings)
      .map(([category, ms]) => `${category}: ${ms.length} cases, ${ms.reduce((a, b) => a + b, 0)} ms`)
      .join('\n  ');
    const failed = outcomes.filter((o) => o.problems.length > 0);
    const byCategory = new Map<string, number>();
    for (const { c } of failed) byCategory.set(c.category, (byCategory.get(c.category) ?? 0) + 1);
    console.log(
      `hostile-input (seed ${SEED}): ${failed.length} of ${outcomes.length} cases failed` +
        (failed.length ? ` (${[...byCategory].map(([k, n]) => `${k}: ${n}`).join(', ')})` : '') +
        `\n  ${summary}` +
        `\n  either way (accepted or refused is right): ${outcomes.filter((o) => o.c.either).map((o) => `${o.c.name}: ${o.accepted ? 'accepted' : 'refused'}`).join('; ')}` +
        `\n  time per step: ${Object.entries(spent).map(([what, { n, ms }]) => `${what} ${n}x ${ms} ms (${(ms / n).toFixed(1)} ms each)`).join(', ')}`,
    );
  });

  it('sanity: the base is applied, the sentinel exists and there are at least 200 generated cases', async () => {
    const { rows } = await client!.query<{ migration_id: string; status: string }>(
      `SELECT migration_id, status FROM ${CATALOG}.migration_status ORDER BY migration_id`,
    );
    expect(rows).toEqual([
      { migration_id: BASE_ID, status: 'completed' },
      { migration_id: FLAG_ID, status: 'completed' },
    ]);
    expect((await client!.query(`SELECT note FROM app.sentinel`)).rows).toEqual([{ note: 'must survive' }]);
    expect(Object.keys(await redisKeys(redis!, prefix)).length).toBeGreaterThan(0);
    expect(cases.filter((c) => !c.control && !c.either).length).toBeGreaterThanOrEqual(200);
    expect(cases.filter((c) => c.control).length).toBeGreaterThan(0);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const started = Date.now();
      const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-hostile-'));
      const outside = await mkdtemp(path.join(os.tmpdir(), 'pgfm-hostile-outside-'));
      const results: Record<string, CliResult> = {};
      const problems: string[] = [];
      try {
        await writeEntries(outside, outside, c.outside ?? {});
        await writeEntries(dir, outside, { ...BASE_FILES, ...c.files });
        const caseEnv = { ...env, MIGRATIONS_DIR: dir };
        // Nothing else writes to this database or prefix: the previous case's final snapshot is this one's first.
        const before = lastSnapshot ?? (await timed('snapshot', snapshot));
        lastSnapshot = undefined;

        const commands = c.control || c.either ? (['validate', 'plan'] as const) : (['validate', 'plan', 'up'] as const);
        for (const command of commands) results[command] = await timed(command, () => runCli([command], caseEnv));

        if (c.control) {
          for (const command of commands) problems.push(...acceptedProblems(command, results[command]!).map((p) => `${command}: ${p}`));
        } else if (c.either && results['validate']!.code === 0) {
          // Accepted: then plan must accept it too.
          problems.push(...acceptedProblems('validate', results['validate']!).map((p) => `validate: ${p}`));
          problems.push(...acceptedProblems('plan', results['plan']!).map((p) => `plan: ${p}`));
        } else {
          for (const command of commands) problems.push(...refusalProblems(results[command]!, c).map((p) => `${command}: ${p}`));
        }

        // A hostile definition that got through `up` queued a run: cancel it, so the cases after this one start clean.
        const runId = /\brun ([0-9a-f-]{36})\b/.exec(results['up']?.stdout ?? '')?.[1];
        if (runId) await runCli(['cancel', '--run', runId, '--reason', 'hostile-input harness'], caseEnv);

        const after = await timed('snapshot', snapshot);
        problems.push(...describeDifference(before, after));
        lastSnapshot = after;
        const sentinel = await client!.query(`SELECT to_regclass('app.sentinel') IS NOT NULL AS exists`);
        if (sentinel.rows[0]?.exists !== true) problems.push('app.sentinel is gone');
      } finally {
        await rm(dir, { recursive: true, force: true });
        await rm(outside, { recursive: true, force: true });
        (timings[c.category] ??= []).push(Date.now() - started);
      }
      outcomes.push({ c, problems, accepted: results['validate']?.code === 0 });
      const report =
        `[seed=${SEED}] ${c.name}\n  ` +
        problems.join('\n  ') +
        `\n  validate: ${show(results['validate'])}\n  plan: ${show(results['plan'])}\n  up: ${show(results['up'])}` +
        `\n  reproduce: HOSTILE_SEED=${SEED} npx vitest run test/definitions/hostile-input.test.ts -t ${JSON.stringify(`${c.name.split(':')[0]}:`)}`;
      expect(problems, report).toEqual([]);
    });
  }

  it('after every case: pg_dump of every schema and of the catalog and app rows is byte-identical to before', async () => {
    const now = await dump();
    if (now !== pristineDump) {
      const a = pristineDump.split('\n');
      const b = now.split('\n');
      const first = a.findIndex((line, i) => line !== b[i]);
      expect.fail(`[seed=${SEED}] the database changed during the run; first difference at dump line ${first + 1}:\n- ${a[first]}\n+ ${b[first]}`);
    }
  });
});
