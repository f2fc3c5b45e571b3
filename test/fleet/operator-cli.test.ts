/**
 * What a CI pipeline and an operator at a shell rely on: `--version`, a `.env` file in the
 * working directory (the environment wins over it), `status --exit-code` (0 up to date,
 * 3 pending, 4 drift or failed) and `history`, the audit trail with filters.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const A = '2025.07.01_000000_a';
const B = '2025.07.01_000001_b';

/** The CLI as a process of its own, from `cwd`, with only PATH and `env` set. */
async function cliProcess(args: string[], cwd: string, env: Record<string, string> = {}) {
  return cliProcessEntry('producer/cli.ts', cwd, env, args);
}

/** One of pgfm's entry points as a process of its own. */
async function cliProcessEntry(entry: string, cwd: string, env: Record<string, string> = {}, args: string[] = []) {
  // tsx by path: from another working directory the bare name does not resolve.
  const tsx = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  return run(process.execPath, ['--import', tsx, path.join(ROOT, entry), ...args], { cwd, timeout: 30_000, killSignal: 'SIGKILL', env: { PATH: process.env['PATH']!, LOG_LEVEL: 'silent', ...env } }).then(
    (done) => ({ code: 0, stdout: done.stdout, stderr: done.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

describe('the CLI an operator and a pipeline use', () => {
  let fixture: FleetFixture;
  let cwd: string;

  beforeAll(async () => {
    fixture = await startFleetFixture('operator_cli', [
      { id: A, up: 'CREATE TABLE a (id int);', down: 'DROP TABLE a;' },
      { id: B, up: 'CREATE TABLE b (id int);', down: 'DROP TABLE b;' },
    ]);
    cwd = await mkdtemp(path.join(os.tmpdir(), 'pgfm-cwd-'));
  }, 60_000);

  afterAll(async () => {
    await fixture?.stop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('prints its version', async () => {
    const result = await cliProcess(['--version'], cwd);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('is the pgfm command: `npx pgfm status --json` prints only JSON on stdout', async () => {
    const result = await run('npx', ['--offline', 'pgfm', 'status', '--json'], {
      cwd: ROOT,
      timeout: 60_000,
      env: { PATH: process.env['PATH']!, HOME: process.env['HOME'] ?? os.tmpdir(), LOG_LEVEL: 'silent', DATABASE_URL: fixture.db.url, MIGRATIONS_DIR: fixture.dir },
    });
    expect(JSON.parse(result.stdout)).toMatchObject({ environment: 'development', migrations: [{ migrationId: A }, { migrationId: B }] });
  });

  it('reads .env from the working directory; a variable set in the environment wins', async () => {
    await writeFile(path.join(cwd, '.env'), `# the operator's settings\nDATABASE_URL=${fixture.db.url}\nMIGRATIONS_DIR=${fixture.dir}\nENVIRONMENT=staging\n`);
    const fromFile = await cliProcess(['status', '--json'], cwd);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toMatchObject({ environment: 'staging', migrations: [{ migrationId: A }, { migrationId: B }] });
    const overridden = await cliProcess(['status', '--json'], cwd, { ENVIRONMENT: 'development' });
    expect(JSON.parse(overridden.stdout)).toMatchObject({ environment: 'development' });
    const missing = await cliProcess(['status'], cwd, { PGFM_ENV_FILE: path.join(cwd, 'nope.env') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/PGFM_ENV_FILE names .*nope\.env, which does not exist/);
  });

  it('never guesses the database: without DATABASE_URL every command that connects refuses (exit 2); plan and up name their target', async () => {
    const { DATABASE_URL: _url, ...withoutDatabase } = fixture.env;
    for (const command of [['plan'], ['up'], ['status'], ['history'], ['down', '--to', A]]) {
      const result = await runCli(command, withoutDatabase);
      expect(result.code, command.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^error: DATABASE_URL is not set: pgfm does not guess which database to migrate/);
      expect(result.stderr.split('\n')).toHaveLength(1);
    }
    expect((await runCli(['validate'], withoutDatabase)).code).toBe(0);
    // From a folder without .env (the one above holds the fixture's DATABASE_URL).
    const empty = await mkdtemp(path.join(os.tmpdir(), 'pgfm-empty-'));
    const worker = await cliProcessEntry('workers/main.ts', empty, withoutDatabase).finally(() => rm(empty, { recursive: true, force: true }));
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/DATABASE_URL is not set/);
    const withPassword = { ...fixture.env, DATABASE_URL: fixture.db.url.replace('postgres@', 'postgres:hunter2@') };
    const plan = await runCli(['plan'], withPassword);
    expect(plan.stdout.split('\n')[0]).toBe(`target: database ${fixture.db.name} on 127.0.0.1:5432 as postgres, environment development`);
    expect(plan.stdout).not.toContain('hunter2');
  });

  it('reports an error under --json as one JSON object', async () => {
    const unknown = await fixture.cli(['status', '--run', '6ad5398e-dc36-4962-9a07-863b5d59f020', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(JSON.parse(unknown.stderr)).toEqual({ error: { message: 'unknown run 6ad5398e-dc36-4962-9a07-863b5d59f020', exitCode: 2, runId: '6ad5398e-dc36-4962-9a07-863b5d59f020', field: '--run' } });
    const plain = await fixture.cli(['status', '--run', '6ad5398e-dc36-4962-9a07-863b5d59f020']);
    expect(plain.stderr).toMatch(/^error: unknown run /);
  });

  it('asks before undoing in production: without a terminal it needs --yes, on one the database name', async () => {
    const production = { ...fixture.env, ENVIRONMENT: 'production' };
    for (const command of [['down', '--to', A], ['rollback', '--run', '6ad5398e-dc36-4962-9a07-863b5d59f020']]) {
      const refused = await runCli(command, production);
      expect(refused.code, command.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(/in production needs --yes \(or a terminal to confirm on\): nothing was done/);
    }
    const { buildProgram } = await import('../../producer/cli.js');
    const asked: string[] = [];
    const err: string[] = [];
    const wrongName = buildProgram({ LOG_LEVEL: 'silent', ...production }, { out: () => undefined, err: (line) => err.push(line), ask: async (question) => (asked.push(question), 'postgres') });
    expect(await wrongName.run(['down', '--to', A])).toBe(2);
    expect(asked[0]).toMatch(new RegExp(`^target: database ${fixture.db.name} .* environment production\\nundoing every migration after ${A.replace(/\./g, '\\.')} in production: type the database name \\(${fixture.db.name}\\) to go on: $`));
    expect(err[0]).toMatch(/not confirmed \("postgres" is not .*\): nothing was done/);
    // The right name lets it through to planning (nothing applied in production: nothing to undo).
    const rightName = buildProgram({ LOG_LEVEL: 'silent', ...production }, { out: () => undefined, err: () => undefined, ask: async () => fixture.db.name });
    expect(await rightName.run(['down', '--to', A])).toBe(0);
    expect((await runCli(['down', '--to', A, '--yes'], production)).code).toBe(0);
  });

  it('status --exit-code says pending (3), up to date (0), and drift (4)', async () => {
    const status = async () => (await fixture.cli(['status', '--exit-code', '--json']));
    const pending = await status();
    expect(pending.code).toBe(3);
    expect(JSON.parse(pending.stdout).summary).toEqual({ pending: 2, drifted: 0, failed: 0 });
    expect((await fixture.cli(['status'])).code).toBe(0);
    expect((await fixture.cli(['up', '--wait'])).code).toBe(0);
    expect((await status()).code).toBe(0);
    await writeFile(path.join(fixture.dir, B, 'up.sql'), 'CREATE TABLE b (id bigint);');
    const drifted = await status();
    expect(drifted.code).toBe(4);
    expect(JSON.parse(drifted.stdout).summary).toEqual({ pending: 0, drifted: 1, failed: 0 });
    expect((await fixture.cli(['repair', '--reason', 'bigint'])).code).toBe(0);
    expect((await status()).code).toBe(0);
  });

  it('history shows the audit trail, newest first, filtered by migration, action and time', async () => {
    const all = await fixture.cli(['history', '--json']);
    expect(all.code, all.stderr).toBe(0);
    const entries = JSON.parse(all.stdout).entries as Array<{ action: string; migration_id: string | null; at: string; details: Record<string, unknown> }>;
    expect(entries.map((entry) => entry.action)).toEqual(expect.arrayContaining(['run.created', 'migration.applied', 'run.completed', 'repair']));
    expect(entries[0]!.action).toBe('repair');
    expect(entries.map((entry) => entry.at)).toEqual([...entries.map((entry) => entry.at)].sort().reverse());
    const aboutB = JSON.parse((await fixture.cli(['history', '--migration', B, '--json'])).stdout).entries as typeof entries;
    expect(new Set(aboutB.map((entry) => entry.migration_id))).toEqual(new Set([B]));
    expect(aboutB.map((entry) => entry.action)).toEqual(['repair', 'migration.applied']);
    const runs = JSON.parse((await fixture.cli(['history', '--action', 'run', '--json'])).stdout).entries as typeof entries;
    expect(runs.length).toBeGreaterThan(0);
    expect(runs.every((entry) => entry.action.startsWith('run.'))).toBe(true);
    expect(JSON.parse((await fixture.cli(['history', '--since', '2999-01-01', '--json'])).stdout).entries).toEqual([]);
    expect((await fixture.cli(['history', '--limit', '1'])).stdout.split('\n').length).toBeLessThanOrEqual(3);
    const bad = await fixture.cli(['history', '--since', 'yesterday-ish']);
    expect(bad.code).toBe(2);
    expect(JSON.parse((await fixture.cli(['history', '--all-environments', '--action', 'repair', '--json'])).stdout).entries).toHaveLength(1);
  });
});
