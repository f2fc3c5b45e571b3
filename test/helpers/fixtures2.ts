import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { runCli, type CliResult } from './cli.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { Fleet, uniquePrefix } from './fleet.js';
import { waitFor } from './processes.js';

const run = promisify(execFile);

/** One migration folder: `id` is `YYYY.MM.DD_HHMMSS_slug`; `meta` becomes migration.yaml. */
export interface MigrationSpec {
  id: string;
  up: string;
  down?: string;
  verify?: string;
  meta?: Record<string, unknown>;
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
