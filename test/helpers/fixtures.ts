import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { runCli, type CliResult } from './cli.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { Fleet, uniquePrefix } from './fleet.js';
import { waitFor, type Proc } from './processes.js';

/** A fixture migration (the same shape as MigrationSpec; `yaml` is migration.yaml's text as written). */
export type FixtureMigration = MigrationSpec;

/** Writes migration folders into a fresh directory under os.tmpdir(); returns its path (for MIGRATIONS_DIR). */
export async function writeMigrations(label: string, migrations: MigrationSpec[]): Promise<string> {
  return buildMigrationsDir(label, migrations);
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** The log every fixture migration writes its id to. No unique constraint: applying twice shows as a duplicate row. */
export const APPLIED_LOG_SQL = `CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.applied (migration text NOT NULL, applied_at timestamptz NOT NULL DEFAULT clock_timestamp());
`;

/**
 * A transactional migration that creates a table of its own, logs its id in app.applied and
 * then sleeps, so a crash or an outage has time to land while it runs.
 */
export function loggingMigration(id: string, options: { sleepSeconds: number; first?: boolean; yaml?: string; extraUp?: string }): FixtureMigration {
  const table = tableOf(id);
  return {
    id,
    up:
      (options.first ? APPLIED_LOG_SQL : '') +
      `CREATE TABLE IF NOT EXISTS app.${table} (id bigint PRIMARY KEY, note text);
INSERT INTO app.${table} (id, note) SELECT g, 'row ' || g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING;
${options.extraUp ?? ''}INSERT INTO app.applied (migration) VALUES ('${id}');
SELECT pg_sleep(${options.sleepSeconds});
`,
    down: `DELETE FROM app.applied WHERE migration = '${id}';
DROP TABLE IF EXISTS app.${table};
`,
    yaml: options.yaml,
  };
}

/** `t_<slug>` of a migration id: the table its fixture creates. */
export function tableOf(id: string): string {
  return `t_${id.split('_').slice(2).join('_')}`;
}

/** Linear fixture of `count` logging migrations, 2025.03.01_100001_m01 ... */
export function slowLinearMigrations(count: number, sleepSeconds: number): FixtureMigration[] {
  return Array.from({ length: count }, (_, i) =>
    loggingMigration(`2025.03.01_1000${String(i + 1).padStart(2, '0')}_m${String(i + 1).padStart(2, '0')}`, { sleepSeconds, first: i === 0 }),
  );
}

/** Registers a run with `up --json` and returns its id (the run is then followed by polling the catalog). */
export async function startRun(env: Record<string, string>): Promise<string> {
  const result = await runCli(['up', '--json'], env);
  if (result.code !== 0) throw new Error(`up failed (${result.code}): ${result.stdout}\n${result.stderr}`);
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  const runId = (JSON.parse(line) as { runId: string | null }).runId;
  if (!runId) throw new Error(`up created no run: ${result.stdout}`);
  return runId;
}

export interface RunState {
  status: string;
  error: string | null;
}

export async function runState(db: TestDatabase, runId: string): Promise<RunState> {
  const { rows } = await db.query<RunState>(`SELECT status, error FROM migration_mgmt.runs WHERE run_id = $1`, [runId]);
  return rows[0]!;
}

export const TERMINAL_RUN_STATUSES = ['completed', 'failed', 'rolled_back', 'cancelled'];

export async function waitForRunEnd(db: TestDatabase, runId: string, timeoutMs: number, describe: () => string = () => ''): Promise<RunState> {
  return waitFor(
    `run ${runId} to end`,
    async () => {
      const state = await runState(db, runId);
      return TERMINAL_RUN_STATUSES.includes(state.status) ? state : undefined;
    },
    timeoutMs,
    250,
  ).catch(async (error: Error) => {
    const steps = await db.query(`SELECT migration_id, status, attempts, worker_id, last_error FROM migration_mgmt.steps WHERE run_id = $1 ORDER BY step_id`, [runId]);
    throw new Error(`${error.message}\nsteps: ${JSON.stringify(steps.rows, null, 1)}\n${describe()}`);
  });
}

/** Number of completed up steps of the run. */
export async function completedSteps(db: TestDatabase, runId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM migration_mgmt.steps WHERE run_id = $1 AND direction = 'up' AND status = 'completed'`,
    [runId],
  );
  return rows[0]!.n;
}

/** How often each migration id occurs in app.applied. */
export async function appliedCounts(db: TestDatabase): Promise<Record<string, number>> {
  const { rows } = await db.query<{ migration: string; n: number }>(`SELECT migration, count(*)::int AS n FROM app.applied GROUP BY migration ORDER BY migration`);
  return Object.fromEntries(rows.map((row) => [row.migration, row.n]));
}

export interface ExecutionRow {
  execution_id: string;
  migration_id: string;
  execution_status: string;
  attempt: number;
  worker_id: string | null;
  rows_affected: string | null;
  error_message: string | null;
}

export async function forwardExecutions(db: TestDatabase, runId: string): Promise<ExecutionRow[]> {
  const { rows } = await db.query<ExecutionRow>(
    `SELECT execution_id, migration_id, execution_status, attempt, worker_id, rows_affected, error_message
       FROM migration_mgmt.migration_executions WHERE run_id = $1 AND execution_type = 'forward' ORDER BY execution_id`,
    [runId],
  );
  return rows;
}

/** Per migration, how many forward executions ended `completed`. */
export function completedExecutionCounts(executions: ExecutionRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const execution of executions) {
    counts[execution.migration_id] ??= 0;
    if (execution.execution_status === 'completed') counts[execution.migration_id]! += 1;
  }
  return counts;
}

/** The pid in a `<hostname>-<pid>` worker or coordinator id. */
export function pidOf(holder: string): number {
  return Number(holder.slice(holder.lastIndexOf('-') + 1));
}

export function isAlive(proc: Proc): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}

/** Whether the process logged `message` (e.g. 'worker started'): it is connected and consuming. */
export function isReady(proc: Proc, message: string): boolean {
  return proc.output.some((line) => line.includes(`"msg":"${message}"`));
}

const run = promisify(execFile);

/** One migration folder: `id` is `YYYY.MM.DD_HHMMSS_slug`; `meta` becomes migration.yaml. */
export interface MigrationSpec {
  id: string;
  up: string;
  down?: string;
  verify?: string;
  /** Written to migration.yaml as YAML. */
  meta?: Record<string, unknown>;
  /** migration.yaml's text exactly as given (instead of `meta`). */
  yaml?: string;
}

/** A coordinated set, written to `sets/<id>.yaml` as given. */
export type SetSpec = { id: string } & Record<string, unknown>;

export async function writeMigration(dir: string, spec: MigrationSpec): Promise<void> {
  const folder = path.join(dir, spec.id);
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'up.sql'), `${spec.up.trim()}\n`);
  if (spec.down !== undefined) await writeFile(path.join(folder, 'down.sql'), `${spec.down.trim()}\n`);
  if (spec.verify !== undefined) await writeFile(path.join(folder, 'verify.sql'), `${spec.verify.trim()}\n`);
  if (spec.meta !== undefined) await writeFile(path.join(folder, 'migration.yaml'), stringify(spec.meta));
  if (spec.yaml !== undefined) await writeFile(path.join(folder, 'migration.yaml'), spec.yaml);
}

/** A migrations directory under os.tmpdir() holding exactly these migrations and sets. */
export async function buildMigrationsDir(label: string, migrations: MigrationSpec[], sets: SetSpec[] = []): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `pgfm-${label}-`));
  for (const migration of migrations) await writeMigration(dir, migration);
  if (sets.length > 0) {
    await mkdir(path.join(dir, 'sets'), { recursive: true });
    for (const set of sets) await writeFile(path.join(dir, 'sets', `${set.id}.yaml`), stringify(set));
  }
  return dir;
}

/**
 * `pg_dump --schema-only` of everything but the catalog. The restrict key is fixed so two
 * dumps of the same schema are byte-identical.
 */
export async function schemaDump(url: string): Promise<string> {
  const { stdout } = await run('pg_dump', ['--schema-only', '--exclude-schema=migration_mgmt', '--restrict-key=pgfmtest', `--dbname=${url}`], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** A database, a migrations directory, an environment and a fleet of real processes for one test file. */
export interface FleetFixture {
  db: TestDatabase;
  dir: string;
  env: Record<string, string>;
  fleet: Fleet;
  cli: (argv: string[]) => Promise<CliResult>;
  stop: () => Promise<void>;
}

export async function startFleetFixture(
  label: string,
  migrations: MigrationSpec[],
  options: { sets?: SetSpec[]; workers?: number; env?: Record<string, string>; startFleet?: boolean } = {},
): Promise<FleetFixture> {
  const db = await createTestDatabase(label);
  const dir = await buildMigrationsDir(label, migrations, options.sets ?? []);
  const env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniquePrefix(label), MIGRATIONS_DIR: dir, ...(options.env ?? {}) };
  const fleet = new Fleet(env);
  const fixture: FleetFixture = {
    db,
    dir,
    env,
    fleet,
    cli: (argv) => runCli(argv, env),
    stop: async () => {
      await fleet.stop();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (options.startFleet ?? true) await startFleet(fixture, options.workers ?? 2);
  return fixture;
}

/** Starts one coordinator and `workers` workers and waits until each says it started. */
export async function startFleet(fixture: FleetFixture, workers = 2): Promise<void> {
  const procs = [fixture.fleet.coordinator(), ...Array.from({ length: workers }, () => fixture.fleet.worker())];
  await waitFor(
    'the fleet to start',
    async () => procs.every((proc) => proc.output.some((line) => /"msg":"(worker|coordinator) started"/.test(line))),
    30_000,
    100,
  );
}

/** The JSON objects a `--json` command printed, one per line. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Polls the catalog until the run reaches one of `statuses`; resolves to that status. */
export async function waitForRunStatus(db: TestDatabase, runId: string, statuses: string[], timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `run ${runId} to be ${statuses.join(' or ')}`,
    async () => {
      const { rows } = await db.query<{ status: string }>(`SELECT status FROM migration_mgmt.runs WHERE run_id = $1`, [runId]);
      const status = rows[0]?.status;
      return status !== undefined && statuses.includes(status) ? status : undefined;
    },
    timeoutMs,
    100,
  );
}

export async function migrationStatuses(db: TestDatabase): Promise<Record<string, string>> {
  const { rows } = await db.query<{ migration_id: string; status: string }>(
    `SELECT migration_id, status FROM migration_mgmt.migration_status ORDER BY migration_id`,
  );
  return Object.fromEntries(rows.map((row) => [row.migration_id, row.status]));
}
