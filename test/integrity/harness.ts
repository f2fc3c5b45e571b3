/**
 * Differential integrity harness: every generated backfill runs through a real fleet (one
 * coordinator, two workers, a private Redis) while workers are SIGKILLed, their backends
 * terminated and Redis flushed, and its result is compared with one plain UPDATE of an
 * identical copy of the table; then the run is rolled back through the fleet and compared
 * with the original. Shared by test/integrity/differential.test.ts and
 * scripts/fuzz-integrity.ts (`npm run fuzz:integrity`).
 */
import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { runCli } from '../helpers/cli.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { buildMigrationsDir, jsonLines, type MigrationSpec } from '../helpers/fixtures.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';
import { PrivateRedis, sleep, waitFor, type Proc } from '../helpers/processes.js';
import { SeededRandom } from '../helpers/random.js';
import {
  createTableSql,
  describeCase,
  dropTableSql,
  generateCase,
  qualified,
  referenceUpdateSql,
  SCHEMA,
  SETUP_SQL,
  sideTable,
  type CaseDef,
  type Copy,
} from './generator.js';

export { bugReportCases, generateCase, describeCase, type CaseDef } from './generator.js';

// ---------------------------------------------------------------- environment

export interface IntegrityEnv {
  label: string;
  db: TestDatabase;
  pool: pg.Pool;
  redis: PrivateRedis;
  fleet: Fleet;
  /** The fleet's environment (MIGRATIONS_DIR is set per run). */
  env: Record<string, string>;
  log: (line: string) => void;
  /** Ends every process and drops the database (`keepDatabase`: leaves it, for a look at a failure). */
  stop: (options?: { keepDatabase?: boolean }) => Promise<void>;
}

const isAlive = (proc: Proc) => proc.child.exitCode === null && proc.child.signalCode === null;
const workers = (fleet: Fleet) => fleet.procs.filter((proc) => proc.name.startsWith('worker') && isAlive(proc));

/**
 * A database and queue prefix of its own, a private Redis, a coordinator and two workers.
 * `stop` ends and drops all of it; so does the process exiting (synchronously, by pid and name).
 */
export async function startIntegrityEnv(label: string, log: (line: string) => void = (line) => console.log(line)): Promise<IntegrityEnv> {
  const db = await createTestDatabase(label);
  let redis: PrivateRedis | undefined;
  let fleet: Fleet | undefined;
  let pool: pg.Pool | undefined;
  let stopped = false;
  const onExit = () => {
    // Last resort (an interrupted script, a killed test worker): nothing may outlive us.
    if (stopped) return;
    for (const proc of fleet?.procs ?? []) if (isAlive(proc)) proc.child.kill('SIGKILL');
    if (redis) spawnSync('redis-cli', ['-p', String(redis.port), 'shutdown', 'nosave'], { stdio: 'ignore' });
    spawnSync('psql', [ADMIN_URL, '-qc', `DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`], { stdio: 'ignore' });
  };
  process.on('exit', onExit);
  const stop = async (options: { keepDatabase?: boolean } = {}) => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    await fleet?.stop();
    await redis?.stop();
    await pool?.end().catch(() => undefined);
    if (!options.keepDatabase) await db.drop();
  };
  try {
    redis = await PrivateRedis.start();
    pool = new pg.Pool({ connectionString: db.url, max: 4, application_name: 'pgfm-integrity-harness' });
    pool.on('error', () => undefined);
    await pool.query(SETUP_SQL);
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: uniquePrefix(label),
      MIGRATIONS_DIR: '/nonexistent',
      ACTOR: 'integrity-harness',
    };
    fleet = new Fleet(env);
    const procs = [fleet.coordinator(), fleet.worker(), fleet.worker()];
    await waitFor(
      'the fleet to start',
      async () => {
        const dead = procs.find((proc) => !isAlive(proc));
        if (dead) throw new Error(`${dead.name} exited at start:\n${dead.output.slice(-20).join('\n')}`);
        return procs.every((proc) => proc.output.some((line) => /"msg":"(worker|coordinator) started"/.test(line)));
      },
      60_000,
      100,
    );
    return { label, db, pool, redis, fleet, env, log, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------- faults

export type FaultKind = 'kill-worker' | 'terminate-backends' | 'flush-redis';

export interface FaultEvent {
  atMs: number;
  phase: 'up' | 'rollback';
  kind: FaultKind;
  detail: string;
}

async function inject(env: IntegrityEnv, kind: FaultKind, rng: SeededRandom): Promise<string> {
  switch (kind) {
    case 'kill-worker': {
      const alive = workers(env.fleet);
      const victim = alive.length > 0 ? rng.pick(alive) : undefined;
      if (victim) await env.fleet.kill(victim, 'SIGKILL');
      const replacement = env.fleet.worker();
      return `SIGKILL ${victim?.name ?? '(none alive)'} pid ${victim?.child.pid ?? '-'}, started ${replacement.name}`;
    }
    case 'terminate-backends': {
      const { rows } = await env.pool.query<{ pid: number; ok: boolean }>(
        `SELECT pid, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'pgfm-worker-%'`,
      );
      return `pg_terminate_backend of ${rows.filter((r) => r.ok).length} worker backends`;
    }
    case 'flush-redis': {
      // Only ever the private Redis of this environment: other test files share 127.0.0.1:6379.
      const client = new Redis(env.redis.url, { maxRetriesPerRequest: 1 });
      try {
        const keys = await client.dbsize();
        const reply = await client.flushall();
        if (reply !== 'OK') throw new Error(`FLUSHALL answered ${reply}`);
        return `FLUSHALL of ${keys} keys on the private Redis (port ${env.redis.port})`;
      } finally {
        client.disconnect();
      }
    }
  }
}

/** Injects `count` faults at random moments while `running()` holds; returns what it did. */
async function injectFaults(env: IntegrityEnv, rng: SeededRandom, phase: 'up' | 'rollback', count: number, running: () => boolean, events: FaultEvent[]): Promise<void> {
  const started = performance.now();
  let due = rng.int(200, 1500);
  for (let i = 0; i < count; i++) {
    while (performance.now() - started < due) {
      if (!running()) return;
      await sleep(50);
    }
    if (!running()) return;
    const kind = rng.weighted<FaultKind>([
      ['kill-worker', 1],
      ['terminate-backends', 1.5],
      ['flush-redis', 1],
    ]);
    const atMs = Math.round(performance.now() - started);
    try {
      events.push({ atMs, phase, kind, detail: await inject(env, kind, rng) });
    } catch (error) {
      events.push({ atMs, phase, kind, detail: `injection failed: ${(error as Error).message}` });
    }
    due += rng.int(300, 2500);
  }
}

/** Keeps two live workers, whatever the faults left. */
function refillWorkers(env: IntegrityEnv): void {
  for (let i = workers(env.fleet).length; i < 2; i++) env.fleet.worker();
}

export const describeFaults = (events: FaultEvent[]) =>
  events.length === 0 ? 'none' : events.map((e) => `${e.phase} +${(e.atMs / 1000).toFixed(1)}s ${e.kind} (${e.detail})`).join('; ');

// ---------------------------------------------------------------- checks

interface Checksum {
  n: number;
  sum: string;
}

const rowsChecksum = (table: string) =>
  `SELECT count(*)::int AS n, coalesce(md5(string_agg(h, '' ORDER BY h)), '-') AS sum FROM (SELECT md5(t::text) AS h FROM ${table} t) s`;
const pairsChecksum = (pairs: string) =>
  `SELECT count(*)::int AS n, coalesce(md5(string_agg(p, '' ORDER BY p)), '-') AS sum FROM (SELECT old_h || new_h AS p FROM (${pairs}) x) s`;

async function checksum(pool: pg.Pool, sql: string): Promise<Checksum> {
  return (await pool.query<Checksum>(sql)).rows[0]!;
}

const same = (a: Checksum, b: Checksum) => a.n === b.n && a.sum === b.sum;

/** The rows that differ between two copies, joined by key: how many, and the first three. */
async function rowDiff(pool: pg.Pool, c: CaseDef, actual: Copy, expected: Copy): Promise<string> {
  const on = c.table.keys.map((k) => `a.${k.name} = b.${k.name}`).join(' AND ');
  const { rows } = await pool.query<{ total: number; part: string | null; ctid: string | null; actual: string | null; expected: string | null }>(
    `SELECT count(*) OVER ()::int AS total, a.tableoid::regclass::text AS part, a.ctid::text AS ctid, left(a::text, 160) AS actual, left(b::text, 160) AS expected
       FROM ${qualified(c.table, actual)} a FULL JOIN ${qualified(c.table, expected)} b ON ${on}
      WHERE a::text IS DISTINCT FROM b::text LIMIT 3`,
  );
  if (rows.length === 0) return 'no row differs by key (the multisets differ otherwise)';
  const examples = rows.map((r) => `${r.part ?? '(missing)'} ${r.ctid ?? ''} has ${r.actual ?? 'no row'} where ${expected} has ${r.expected ?? 'no row'}`);
  return `${rows[0]!.total} rows differ, e.g. ${examples.join(' | ')}`;
}

async function ensureOriginal(pool: pg.Pool, c: CaseDef): Promise<void> {
  const exists = (await pool.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [qualified(c.table, 'orig')])).rows[0]!.ok;
  if (!exists) await inTransaction(pool, createTableSql(c.table, 'orig'));
}

async function inTransaction(pool: pg.Pool, statements: string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Runs `work` over `items`, `parallel` at a time. */
async function forEachParallel<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

// ---------------------------------------------------------------- one run of many cases

export interface CaseResult {
  def: CaseDef;
  /** Which run of the campaign it was part of. */
  run: string;
  failures: Array<{ phase: 'setup' | 'up' | 'rollback'; check: string; message: string }>;
  stats: { partitions: number; sharedVersions: number; changed: number; chunks: number; batches: number };
}

export interface RunReport {
  label: string;
  cases: CaseResult[];
  faults: FaultEvent[];
  upStatus: string;
  rollbackStatus: string;
  upMs: number;
  rollbackMs: number;
  /** Building the tables, and comparing them after up and after the rollback. */
  setupMs: number;
  checkMs: number;
  /** Why a run could not be created or did not end well. */
  errors: string[];
  /** Distinct worker processes that ran (last claimed) the run's chunks. */
  chunkWorkers: number;
}

export interface RunOptions {
  label: string;
  /** Drives the fault schedule. */
  rng: SeededRandom;
  faults: boolean;
  /** Per phase (up, rollback). */
  timeoutMs: number;
  keepTables?: boolean;
}

const TERMINAL = ['completed', 'failed', 'rolled_back', 'cancelled'];

async function runStatus(env: IntegrityEnv, runId: string): Promise<{ status: string; error: string | null }> {
  const { rows } = await env.pool.query<{ status: string; error: string | null }>(`SELECT status, error FROM migration_mgmt.runs WHERE run_id = $1`, [runId]);
  return rows[0] ?? { status: 'missing', error: null };
}

/** Polls until the run ends, injecting faults meanwhile; the status, or 'timeout'. */
async function followWithFaults(env: IntegrityEnv, runId: string, options: RunOptions, phase: 'up' | 'rollback', events: FaultEvent[]): Promise<{ status: string; error: string | null }> {
  let ended = false;
  const faults = options.faults ? injectFaults(env, options.rng, phase, phase === 'up' ? options.rng.int(1, 3) : options.rng.int(0, 2), () => !ended, events) : Promise.resolve();
  const deadline = Date.now() + options.timeoutMs;
  let state = await runStatus(env, runId);
  while (!TERMINAL.includes(state.status) && Date.now() < deadline) {
    await sleep(200);
    state = await runStatus(env, runId);
  }
  ended = true;
  await faults;
  refillWorkers(env);
  return TERMINAL.includes(state.status) ? state : { status: 'timeout', error: `still ${state.status} after ${options.timeoutMs / 1000} s` };
}

/** The steps and chunks of a run that had not completed, where the fleet was, and its last warnings: why a run hangs. */
async function unfinishedWork(
  env: IntegrityEnv,
  runId: string,
): Promise<{ text: string; migrations: string[]; workerPids: number[]; describe: (migrationId: string) => string }> {
  const { rows } = await env.pool.query<Record<string, unknown> & { migration_id: string; step_worker: string | null; worker_id: string | null }>(
    `SELECT s.migration_id, s.status AS step, s.attempts AS step_attempts, s.generation AS step_gen, s.worker_id AS step_worker, s.last_error AS step_error,
            c.chunk_no, c.status AS chunk, c.attempts AS chunk_attempts, c.generation AS chunk_gen, c.worker_id, c.keys_done, c.keys_total, c.last_error AS chunk_error,
            round(extract(epoch FROM now() - c.heartbeat_at))::int AS heartbeat_age_s
       FROM migration_mgmt.steps s LEFT JOIN migration_mgmt.chunks c ON c.step_id = s.step_id AND c.status <> 'completed'
      WHERE s.run_id = $1 AND s.status <> 'completed' ORDER BY s.migration_id, c.chunk_no`,
    [runId],
  );
  const warnings = env.fleet.procs
    .flatMap((proc) => proc.output.filter((line) => /"level":(40|50|60)/.test(line)).slice(-3).map((line) => `${proc.name}: ${line.slice(0, 300)}`))
    .slice(-12);
  const alive = env.fleet.procs.filter(isAlive).map((proc) => `${proc.name} (pid ${proc.child.pid})`);
  const lastLines = workers(env.fleet).flatMap((proc) => proc.output.slice(-2).map((line) => `${proc.name}: ${line.slice(0, 300)}`));
  const { rows: backends } = await env.pool.query(
    `SELECT application_name, state, wait_event_type, wait_event, left(query, 100) AS query, (now() - state_change)::text AS since
       FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgfm-worker-%' ORDER BY application_name`,
  );
  const pidOf = (id: string | null) => (id ? Number(id.slice(id.lastIndexOf('-') + 1)) : NaN);
  const workerPids = [...new Set(rows.flatMap((row) => [pidOf(row.worker_id), pidOf(row.step_worker)]).filter((pid) => Number.isInteger(pid)))];
  const describe = (migrationId: string) =>
    rows
      .filter((row) => row.migration_id === migrationId)
      .map((row) =>
        row['chunk_no'] === null
          ? `step ${row['step']} on ${row.step_worker ?? 'no worker'}`
          : `chunk ${row['chunk_no']} ${row['chunk']} on ${row.worker_id ?? 'no worker'}, ${row['keys_done']}/${row['keys_total']} keys, heartbeat ${row['heartbeat_age_s'] ?? '-'} s ago`,
      )
      .join('; ');
  return {
    text:
      `${JSON.stringify(rows.slice(0, 20))}; live processes: ${alive.join(', ')}; worker backends: ${JSON.stringify(backends)}; ` +
      `last warnings:\n    ${warnings.join('\n    ')}\n  last lines of the live workers:\n    ${lastLines.join('\n    ')}`,
    migrations: [...new Set(rows.map((row) => row.migration_id))],
    workerPids,
    describe,
  };
}

/**
 * A run that did not end in time: a failure of every case not finished by then. The workers
 * holding that work are replaced (so the rest of the campaign has two again), the run gets
 * another minute, and is cancelled if it still hangs (the next run could not start otherwise).
 * `end` is updated to what the run finally did.
 */
async function recoverFromTimeout(
  env: IntegrityEnv,
  runId: string,
  end: { status: string; error: string | null },
  phase: 'up' | 'rollback',
  options: RunOptions,
  report: RunReport,
  cases: CaseResult[],
  fail: (r: CaseResult, phase: 'up' | 'rollback', check: string, message: string) => void,
  dir: string,
): Promise<void> {
  const stuck = await unfinishedWork(env, runId);
  report.errors.push(`what was unfinished at the ${phase} timeout: ${stuck.text}`);
  const killed: string[] = [];
  for (const proc of workers(env.fleet).filter((p) => stuck.workerPids.includes(p.child.pid ?? -1))) {
    await env.fleet.kill(proc, 'SIGKILL');
    killed.push(`${proc.name} (pid ${proc.child.pid})`);
  }
  refillWorkers(env);
  const after = await followWithFaults(env, runId, { ...options, faults: false, timeoutMs: 60_000 }, phase, report.faults);
  const outcome = `after SIGKILL of ${killed.join(', ') || 'no worker (none held the unfinished work)'}, the run ${after.status === 'timeout' ? 'still did not end' : `ended ${after.status}`}`;
  report.errors.push(outcome);
  for (const r of cases.filter((x) => stuck.migrations.includes(x.def.migrationId))) {
    fail(r, phase, 'timeout', `not finished ${options.timeoutMs / 1000} s after the ${phase} run started (${stuck.describe(r.def.migrationId)}); ${outcome}`);
  }
  if (after.status === 'timeout') {
    await runCli(['cancel', '--run', runId, '--reason', `integrity harness: ${phase} timed out`], { ...env.env, MIGRATIONS_DIR: dir });
    const cancelled = await followWithFaults(env, runId, { ...options, faults: false, timeoutMs: 30_000 }, phase, report.faults);
    end.status = after.status;
    end.error = `${end.error}; the harness then cancelled it (${cancelled.status})`;
  } else {
    end.status = after.status;
    end.error = after.error;
  }
}

function migrationFor(c: CaseDef): MigrationSpec {
  const table = qualified(c.table, 'fleet');
  return {
    id: c.migrationId,
    up: c.comment ? `COMMENT ON TABLE ${table} IS 'backfilled by case ${c.index}';` : 'SELECT 1;',
    down: c.comment ? `COMMENT ON TABLE ${table} IS NULL;` : undefined,
    meta: {
      description: `integrity case ${c.index}`,
      type: 'data',
      depends_on: [],
      // A failing case must not roll back the others of its run: each is judged on its own.
      auto_rollback: false,
      backfill: { table, ...c.spec },
    },
  };
}

/** Starts a run with `argv` (`up` or `rollback`); a migration `up` refuses is failed and left out, and `up` tried again. */
async function startRun(
  env: IntegrityEnv,
  argv: string[],
  dirFor: () => Promise<string>,
  refuse: (migrationId: string, message: string) => boolean,
): Promise<{ runId: string | null; error: string | null }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const dir = await dirFor();
    const result = await runCli([...argv, '--json'], { ...env.env, MIGRATIONS_DIR: dir });
    const first = jsonLines(result.stdout)[0];
    if (result.code === 0 && typeof first?.['runId'] === 'string') return { runId: first['runId'], error: null };
    const message = `${argv.join(' ')} exited ${result.code}: ${result.stderr || result.stdout}`.trim();
    const id = /migrationId=(\S+?)[\s)]/.exec(result.stderr)?.[1];
    if (!id || !refuse(id, message)) return { runId: null, error: message };
  }
  return { runId: null, error: `${argv.join(' ')}: refused too many migrations` };
}

/**
 * One fleet run over many cases: build both copies of each table, apply the reference UPDATE,
 * `up` every backfill at once (independent migrations: one stage), compare, `rollback --run`,
 * compare with the original.
 */
export async function runCases(env: IntegrityEnv, defs: CaseDef[], options: RunOptions): Promise<RunReport> {
  const { pool } = env;
  const results = defs.map<CaseResult>((def) => ({ def, run: options.label, failures: [], stats: { partitions: 0, sharedVersions: 0, changed: 0, chunks: 0, batches: 0 } }));
  const fail = (r: CaseResult, phase: 'setup' | 'up' | 'rollback', check: string, message: string) => r.failures.push({ phase, check, message });
  const report: RunReport = { label: options.label, cases: results, faults: [], upStatus: 'not started', rollbackStatus: 'not started', upMs: 0, rollbackMs: 0, setupMs: 0, checkMs: 0, errors: [], chunkWorkers: 0 };
  const setupStarted = performance.now();
  const original = new Map<CaseResult, Checksum>();
  const expectedChanged = new Map<CaseResult, number>();

  // 1. Both copies, each loaded in one transaction (one xmin: rows of different partitions share ctids).
  await forEachParallel(results, 2, async (r) => {
    try {
      await pool.query(dropTableSql(r.def.table));
      await inTransaction(pool, createTableSql(r.def.table, 'fleet'));
      await inTransaction(pool, createTableSql(r.def.table, 'ref'));
      await pool.query(`ANALYZE ${qualified(r.def.table, 'fleet')}; ANALYZE ${qualified(r.def.table, 'ref')}`);
      const fleet = await checksum(pool, rowsChecksum(qualified(r.def.table, 'fleet')));
      const ref = await checksum(pool, rowsChecksum(qualified(r.def.table, 'ref')));
      if (!same(fleet, ref)) throw new Error(`the generator built two different copies: ${JSON.stringify(fleet)} vs ${JSON.stringify(ref)}`);
      if (fleet.n !== r.def.table.rows) throw new Error(`expected ${r.def.table.rows} rows, the table has ${fleet.n}`);
      original.set(r, fleet);
      const { rows } = await pool.query<{ partitions: number; shared: number }>(
        `SELECT count(DISTINCT tableoid)::int AS partitions,
                (SELECT count(*) FROM (SELECT 1 FROM ${qualified(r.def.table, 'fleet')} GROUP BY ctid::text, xmin::text HAVING count(*) > 1) x)::int AS shared
           FROM ${qualified(r.def.table, 'fleet')}`,
      );
      r.stats.partitions = rows[0]!.partitions;
      r.stats.sharedVersions = rows[0]!.shared;
      const updated = await pool.query(referenceUpdateSql(r.def));
      expectedChanged.set(r, updated.rowCount ?? 0);
      r.stats.changed = updated.rowCount ?? 0;
    } catch (error) {
      fail(r, 'setup', 'setup', `could not build the case: ${(error as Error).message}`);
    }
  });
  report.setupMs = performance.now() - setupStarted;
  const live = results.filter((r) => r.failures.length === 0);
  const byId = new Map(live.map((r) => [r.def.migrationId, r]));
  const refused = new Set<string>();
  const dirs: string[] = [];
  const dirFor = async () => {
    const dir = await buildMigrationsDir(`${env.label}-${options.label.replace(/[^a-z0-9]+/gi, '_')}`, live.filter((r) => !refused.has(r.def.migrationId)).map((r) => migrationFor(r.def)));
    dirs.push(dir);
    return dir;
  };
  const refuse = (id: string, message: string) => {
    const r = byId.get(id);
    if (!r || refused.has(id)) return false;
    refused.add(id);
    fail(r, 'up', 'refused', `\`up\` refused the migration: ${message}`);
    return true;
  };

  try {
    if (live.length === 0) return report;
    // 2. Up, through the fleet, with faults.
    let started = performance.now();
    const up = await startRun(env, ['up'], dirFor, refuse);
    if (!up.runId) {
      for (const r of live) if (!refused.has(r.def.migrationId)) fail(r, 'up', 'run', `no run: ${up.error}`);
      report.upStatus = 'not created';
      report.errors.push(`up: ${up.error}`);
      return report;
    }
    const upEnd = await followWithFaults(env, up.runId, options, 'up', report.faults);
    report.upMs = performance.now() - started;
    report.upStatus = upEnd.status;
    if (upEnd.status !== 'completed') report.errors.push(`up run ${up.runId} ${upEnd.status}: ${upEnd.error ?? ''}`);
    if (upEnd.status === 'timeout') await recoverFromTimeout(env, up.runId, upEnd, 'up', options, report, live, fail, dirs.at(-1)!);

    const steps = await pool.query<{ migration_id: string; step_id: string; status: string; last_error: string | null; rows_changed: string; chunks: number; batches: number }>(
      `SELECT s.migration_id, s.step_id, s.status, s.last_error,
              coalesce(sum(c.rows_changed), 0) AS rows_changed, count(c.chunk_id)::int AS chunks, coalesce(sum(c.batches), 0)::int AS batches
         FROM migration_mgmt.steps s LEFT JOIN migration_mgmt.chunks c USING (step_id)
        WHERE s.run_id = $1 AND s.direction = 'up' GROUP BY s.migration_id, s.step_id, s.status, s.last_error`,
      [up.runId],
    );
    const stepOf = new Map(steps.rows.map((s) => [s.migration_id, s]));
    const statusOf = async () =>
      new Map(
        (
          await pool.query<{ migration_id: string; status: string; backup_table: string | null }>(
            `SELECT migration_id, status, backup_table FROM migration_mgmt.migration_status WHERE migration_id = ANY($1)`,
            [live.map((r) => r.def.migrationId)],
          )
        ).rows.map((row) => [row.migration_id, row]),
      );
    const upStatuses = await statusOf();
    const sideSeq = new Map<CaseResult, number>();
    const sideSeqDone = new Set<CaseResult>();
    let checkStarted = performance.now();

    // 3. Each case against its reference.
    await forEachParallel(
      live.filter((r) => !refused.has(r.def.migrationId)),
      3,
      async (r) => {
        const c = r.def;
        const step = stepOf.get(c.migrationId);
        const migration = upStatuses.get(c.migrationId);
        r.stats.chunks = step?.chunks ?? 0;
        r.stats.batches = step?.batches ?? 0;
        sideSeq.set(r, Number((await pool.query(`SELECT coalesce(max(seq), 0) AS m FROM ${sideTable(c.table, 'fleet')}`)).rows[0].m));
        sideSeqDone.add(r);
        if (step?.status !== 'completed' || migration?.status !== 'completed') {
          fail(
            r,
            'up',
            'status',
            `the backfill did not complete: run ${upEnd.status}${upEnd.error ? ` (${upEnd.error})` : ''}, step ${step?.status ?? 'missing'}` +
              `${step?.last_error ? ` (${step.last_error})` : ''}, migration ${migration?.status ?? 'not recorded'}`,
          );
          return;
        }
        const actual = await checksum(pool, rowsChecksum(qualified(c.table, 'fleet')));
        const expected = await checksum(pool, rowsChecksum(qualified(c.table, 'ref')));
        if (!same(actual, expected)) fail(r, 'up', 'rows', `the table differs from one plain UPDATE of its copy: ${await rowDiff(pool, c, 'fleet', 'ref')}`);
        const side = await checksum(pool, pairsChecksum(`SELECT old_h, new_h FROM ${sideTable(c.table, 'fleet')}`));
        const refSide = await checksum(pool, pairsChecksum(`SELECT old_h, new_h FROM ${sideTable(c.table, 'ref')}`));
        if (!same(side, refSide)) {
          fail(r, 'up', 'triggers', `AFTER UPDATE trigger rows differ from the plain UPDATE's: ${side.n} row versions changed, expected ${refSide.n} (each row changed exactly once)`);
        }
        const want = expectedChanged.get(r)!;
        const backup = migration.backup_table ?? `migration_mgmt."backup_step_${step.step_id}"`;
        const saved = await pool
          .query<{ n: number }>(`SELECT count(*)::int AS n FROM ${backup}`)
          .then((res) => res.rows[0]!.n)
          .catch((error: Error) => `unreadable (${error.message})`);
        if (Number(step.rows_changed) !== want || saved !== want) {
          fail(r, 'up', 'counts', `rows changed by the chunks: ${step.rows_changed}, old values saved: ${saved}; the plain UPDATE changed ${want}`);
        }
      },
    );

    const checked = live.filter((r) => !refused.has(r.def.migrationId));
    if (upEnd.status !== 'completed' && !checked.some((r) => r.failures.some((f) => f.phase === 'up' && f.check === 'status'))) {
      // Every backfill completed, yet the run did not: the run's own status is wrong.
      for (const r of checked) fail(r, 'up', 'run-status', `every backfill of the run completed but the run ended ${upEnd.status}${upEnd.error ? ` (${upEnd.error})` : ''}`);
    }
    const { rows: workerRows } = await pool.query<{ workers: number }>(
      `SELECT count(DISTINCT c.worker_id)::int AS workers FROM migration_mgmt.chunks c JOIN migration_mgmt.steps s USING (step_id) WHERE s.run_id = $1`,
      [up.runId],
    );
    report.chunkWorkers = workerRows[0]!.workers;
    report.checkMs += performance.now() - checkStarted;

    // 4. Roll the run back through the fleet, with faults, and compare with the original.
    started = performance.now();
    const rollback = await startRun(env, ['rollback', '--run', up.runId], async () => dirs.at(-1)!, () => false);
    if (!rollback.runId) {
      for (const r of live) fail(r, 'rollback', 'run', `no rollback run: ${rollback.error}`);
      report.rollbackStatus = 'not created';
      report.errors.push(`rollback: ${rollback.error}`);
      return report;
    }
    const downEnd = await followWithFaults(env, rollback.runId, options, 'rollback', report.faults);
    report.rollbackMs = performance.now() - started;
    report.rollbackStatus = downEnd.status;
    if (downEnd.status !== 'completed') report.errors.push(`rollback run ${rollback.runId} ${downEnd.status}: ${downEnd.error ?? ''}`);
    if (downEnd.status === 'timeout') await recoverFromTimeout(env, rollback.runId, downEnd, 'rollback', options, report, live, fail, dirs.at(-1)!);
    const downStatuses = await statusOf();
    checkStarted = performance.now();
    await forEachParallel(live, 3, async (r) => {
      const c = r.def;
      // What the run applied (completed) or left half done (failed) must be rolled back; whatever else it touched must be back too (rows below).
      const upStatus = upStatuses.get(c.migrationId)?.status;
      if (downEnd.status !== 'completed') fail(r, 'rollback', 'status', `the rollback run ended ${downEnd.status}${downEnd.error ? `: ${downEnd.error}` : ''}`);
      else if ((upStatus === 'completed' || upStatus === 'failed') && downStatuses.get(c.migrationId)?.status !== 'rolled_back') {
        fail(r, 'rollback', 'status', `migration status after the rollback: ${downStatuses.get(c.migrationId)?.status ?? 'not recorded'} (after up: ${upStatus})`);
      }
      const actual = await checksum(pool, rowsChecksum(qualified(c.table, 'fleet')));
      if (!same(actual, original.get(r)!)) {
        await ensureOriginal(pool, c);
        fail(r, 'rollback', 'rows', `the table is not back to the original: ${await rowDiff(pool, c, 'fleet', 'orig')}`);
      }
      if (c.table.triggers && sideSeqDone.has(r)) {
        // The restore's own trigger rows, ignoring rows it left as they were: exactly the forward changes, reversed
        // (after a complete backfill those equal the reference's, checked above).
        const seq = sideSeq.get(r)!;
        const side = sideTable(c.table, 'fleet');
        const restored = await checksum(pool, pairsChecksum(`SELECT old_h, new_h FROM ${side} WHERE seq > ${seq} AND old_h <> new_h`));
        const expected = await checksum(pool, pairsChecksum(`SELECT new_h AS old_h, old_h AS new_h FROM ${side} WHERE seq <= ${seq} AND old_h <> new_h`));
        if (!same(restored, expected)) {
          fail(r, 'rollback', 'triggers', `the restore changed ${restored.n} row versions back (trigger rows), expected ${expected.n}: every changed row restored exactly once`);
        }
      }
      if (c.comment) {
        const { rows } = await pool.query<{ comment: string | null }>(`SELECT obj_description($1::regclass, 'pg_class') AS comment`, [qualified(c.table, 'fleet')]);
        if (rows[0]!.comment !== null) fail(r, 'rollback', 'down.sql', `down.sql did not run: the table comment is still ${JSON.stringify(rows[0]!.comment)}`);
      }
    });
    report.checkMs += performance.now() - checkStarted;
    return report;
  } finally {
    if (!options.keepTables) {
      for (const r of results) await pool.query(dropTableSql(r.def.table)).catch(() => undefined);
    }
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- campaigns

export interface CampaignOptions {
  seed: number;
  /** Random cases 0..cases-1 (or just `only`). */
  cases: number;
  only?: number[];
  casesPerRun: number;
  faults: boolean;
  /** No new run starts after this many ms; the cases left are reported as not run. */
  budgetMs?: number;
  timeoutMs?: number;
  keepTables?: boolean;
  /** How a failure says to reproduce it. */
  reproduce?: (c: CaseDef) => string;
  /** One line per case as well. */
  verbose?: boolean;
}

export interface Failure {
  caseIndex: number | string;
  message: string;
}

export interface CampaignResult {
  seed: number;
  requested: number;
  /** Cases that ran (through up and rollback). */
  cases: number;
  failures: Failure[];
  results: CaseResult[];
  runs: RunReport[];
  durationMs: number;
}

export const defaultReproduce = (seed: number) => (c: CaseDef) =>
  typeof c.index === 'number' ? `npm run fuzz:integrity -- --seed ${seed} --case ${c.index}` : `npx vitest run test/integrity/differential.test.ts -t 'bug report'`;

/** One message per failing case, naming seed, case, table definition and faults. */
export function failureMessages(seed: number, run: RunReport, reproduce: (c: CaseDef) => string): Failure[] {
  return run.cases
    .filter((r) => r.failures.length > 0)
    .map((r) => ({
      caseIndex: r.def.index,
      message:
        `[integrity seed=${seed}] case ${r.def.index} (${r.def.migrationId}, run ${run.label}):\n` +
        r.failures.map((f) => `  - ${f.phase}/${f.check}: ${f.message}`).join('\n') +
        `\n  definition: ${describeCase(r.def)}` +
        `\n  faults in the run: ${describeFaults(run.faults)}` +
        `\n  reproduce: ${reproduce(r.def)}`,
    }));
}

export async function runCampaign(env: IntegrityEnv, options: CampaignOptions): Promise<CampaignResult> {
  const started = performance.now();
  const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => i);
  const reproduce = options.reproduce ?? defaultReproduce(options.seed);
  const result: CampaignResult = { seed: options.seed, requested: indices.length, cases: 0, failures: [], results: [], runs: [], durationMs: 0 };
  const batches: number[][] = [];
  for (let i = 0; i < indices.length; i += options.casesPerRun) batches.push(indices.slice(i, i + options.casesPerRun));
  for (const [b, batch] of batches.entries()) {
    if (options.budgetMs !== undefined && performance.now() - started > options.budgetMs) {
      env.log(`time budget of ${(options.budgetMs / 1000).toFixed(0)} s spent: ${indices.length - result.cases} cases not run`);
      break;
    }
    const defs = batch.map((index) => generateCase(options.seed, index));
    const run = await runCases(env, defs, {
      label: `${b + 1}/${batches.length}`,
      rng: new SeededRandom(`${options.seed}:faults:${batch[0]}`),
      faults: options.faults,
      timeoutMs: options.timeoutMs ?? 90_000,
      keepTables: options.keepTables,
    });
    result.runs.push(run);
    result.results.push(...run.cases);
    result.cases += run.cases.length;
    const failures = failureMessages(options.seed, run, reproduce);
    result.failures.push(...failures);
    env.log(summarizeRun(run, failures.length));
    if (options.verbose) {
      for (const r of run.cases) {
        env.log(
          `  case ${r.def.index}: ${r.def.table.rows} rows in ${r.stats.partitions} partitions (${r.stats.sharedVersions} shared versions), ` +
            `${r.stats.changed} changed, ${r.stats.chunks} chunks, ${r.stats.batches} sub-batches, batch ${r.def.spec.initial_batch_size}..${r.def.spec.max_batch_size} @ ${r.def.spec.batch_target_ms} ms` +
            `${r.failures.length ? ` FAILED ${r.failures.map((f) => `${f.phase}/${f.check}`).join(', ')}` : ''}`,
        );
      }
    }
  }
  result.durationMs = performance.now() - started;
  return result;
}

export function summarizeRun(run: RunReport, failures: number): string {
  const rows = run.cases.reduce((sum, r) => sum + r.def.table.rows, 0);
  const chunks = run.cases.reduce((sum, r) => sum + r.stats.chunks, 0);
  const batches = run.cases.reduce((sum, r) => sum + r.stats.batches, 0);
  const shared = run.cases.filter((r) => r.stats.sharedVersions > 0).length;
  return (
    `run ${run.label}: ${run.cases.length} cases, ${rows} rows, ${chunks} chunks (run by ${run.chunkWorkers} worker processes), ${batches} sub-batches, ` +
    `${shared} tables with rows sharing (ctid, xmin) across partitions; up ${run.upStatus} in ${(run.upMs / 1000).toFixed(1)} s, ` +
    `rollback ${run.rollbackStatus} in ${(run.rollbackMs / 1000).toFixed(1)} s (setup ${(run.setupMs / 1000).toFixed(1)} s, checks ${(run.checkMs / 1000).toFixed(1)} s); faults: ${run.faults.map((f) => `${f.phase}:${f.kind}`).join(', ') || 'none'}; failing cases: ${failures}` +
    run.errors.map((e) => `\n  ${e}`).join('')
  );
}

/** Failing cases counted by what they are made of and by which check failed: where the bug lives. */
export function classify(results: CaseResult[]): string {
  const groups = new Map<string, { cases: number; failed: number }>();
  const count = (key: string, failed: boolean) => {
    const g = groups.get(key) ?? { cases: 0, failed: 0 };
    g.cases++;
    if (failed) g.failed++;
    groups.set(key, g);
  };
  const checks = new Map<string, number>();
  for (const r of results) {
    const failed = r.failures.length > 0;
    const t = r.def.table;
    count(`partitioning ${t.partitioning ? `${t.partitioning.strategy.toLowerCase()}${t.partitioning.parts.some((p) => p.sub) ? '+sub' : ''}${t.partitioning.parts.some((p) => p.bound === 'DEFAULT') ? '+default' : ''}` : 'none'}`, failed);
    count(`rows share (ctid, xmin) across partitions: ${r.stats.sharedVersions > 0 ? 'yes' : 'no'}`, failed);
    count(`key ${t.keyKind}`, failed);
    count(`set ${r.def.nonIdempotent ? 'non-idempotent' : 'idempotent'}${r.def.spec.where ? ' with where' : ' without where'}`, failed);
    for (const check of new Set(r.failures.map((f) => `${f.phase}/${f.check}`))) checks.set(check, (checks.get(check) ?? 0) + 1);
  }
  const lines = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, g]) => `  ${key}: ${g.failed}/${g.cases} failing`);
  const byCheck = [...checks.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([check, n]) => `${check} ${n}`);
  return `${lines.join('\n')}\n  failing checks (cases): ${byCheck.join(', ') || 'none'}`;
}

export { SCHEMA };
