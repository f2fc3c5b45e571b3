/**
 * Silent waits end: `up --wait` says within seconds which part of the fleet is missing (no
 * worker on a queue, no coordinator for the next stage), `--timeout` stops following (the run
 * goes on) and says how to re-attach, `status --run --watch` re-attaches, Ctrl-C says the
 * same; with Redis unreachable `up` fails in seconds with one line and registers nothing.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonLines, startFleetFixture, waitForRunEnd, type FleetFixture, type MigrationSpec } from '../helpers/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { freePort, waitFor } from '../helpers/processes.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TWO_STAGES: MigrationSpec[] = [
  { id: '2025.08.01_000000_a', up: 'CREATE TABLE a (id int);', down: 'DROP TABLE a;' },
  { id: '2025.08.01_000001_b', up: 'CREATE TABLE b (id int);', down: 'DROP TABLE b;' },
];

let fixture: FleetFixture | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

const started = (proc: { output: string[] }) => waitFor('the process to start', async () => proc.output.some((line) => /"msg":"(worker|coordinator) started"/.test(line)), 30_000, 100);
const runIdOf = (stdout: string) => /run ([0-9a-f-]{36})/.exec(stdout)![1]!;

describe('a fleet that is not all there', () => {
  it('names the missing worker, stops following at --timeout, and re-attaches with status --watch', async () => {
    fixture = await startFleetFixture('liveness_worker', TWO_STAGES, { startFleet: false });
    await started(fixture.fleet.coordinator());
    const t0 = Date.now();
    const up = await fixture.cli(['up', '--wait', '--timeout', '6']);
    const elapsed = (Date.now() - t0) / 1000;
    expect(up.code).toBe(1);
    expect(elapsed).toBeLessThan(11);
    expect(up.stdout).toMatch(/waiting: no worker is consuming the steps queue \(QUEUE_PREFIX \S+ on redis:\/\/127\.0\.0\.1:6379\): start one with `npm run worker`/);
    const runId = runIdOf(up.stdout);
    expect(up.stdout).toContain(`run ${runId} is still running after 6 s; it goes on: re-attach with \`npm run migrate -- status --run ${runId} --watch\``);
    await started(fixture.fleet.worker());
    const watched = await fixture.cli(['status', '--run', runId, '--watch', '--json']);
    expect(watched.code, watched.stdout).toBe(0);
    expect(jsonLines(watched.stdout).at(-1)).toMatchObject({ runId, status: 'completed' });
  }, 90_000);

  it('names the missing coordinator when the first stage is done and nothing starts the next', async () => {
    fixture = await startFleetFixture('liveness_coordinator', TWO_STAGES, { startFleet: false });
    await started(fixture.fleet.worker());
    const up = await fixture.cli(['up', '--wait', '--timeout', '6', '--json']);
    expect(up.code).toBe(1);
    const notices = jsonLines(up.stdout).map((line) => String(line['notice'] ?? ''));
    expect(notices.some((notice) => /waiting: no coordinator has ever run against this catalog: later stages will not start; start one with `npm run coordinator`/.test(notice))).toBe(true);
    expect(notices.some((notice) => /no worker/.test(notice))).toBe(false);
    const runId = String(jsonLines(up.stdout)[0]!['runId']);
    expect(jsonLines(up.stdout).at(-1)).toMatchObject({ runId, status: 'running', following: 'timeout' });
    const steps = await fixture.db.query<{ status: string }>(`SELECT status FROM migration_mgmt.steps WHERE run_id = $1 ORDER BY stage`, [runId]);
    expect(steps.rows.map((row) => row.status)).toEqual(['completed', 'pending']);
    await started(fixture.fleet.coordinator());
    expect((await waitForRunEnd(fixture.db, runId, 30_000)).status).toBe('completed');
  }, 90_000);

  it('fails in seconds with one line when Redis does not answer, and registers nothing', async () => {
    fixture = await startFleetFixture('liveness_redis', TWO_STAGES, { startFleet: false });
    const deadRedis = `redis://:secret@127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    const up = await runCli(['up', '--wait'], { ...fixture.env, REDIS_URL: deadRedis });
    expect((Date.now() - t0) / 1000).toBeLessThan(10);
    expect(up.code).toBe(1);
    expect(up.stdout).toBe('');
    expect(up.stderr.split('\n')).toHaveLength(1);
    expect(up.stderr).toMatch(/^error: Redis at redis:\/\/:\*+@127\.0\.0\.1:\d+ does not answer \(.*\): nothing was registered; start Redis or fix REDIS_URL/);
    expect(up.stderr).not.toContain('secret');
    // Commands that only read the queues fail the same way, in seconds.
    const t1 = Date.now();
    const dlq = await runCli(['dlq', 'list'], { ...fixture.env, REDIS_URL: deadRedis });
    expect((Date.now() - t1) / 1000).toBeLessThan(10);
    expect(dlq.code).toBe(1);
    expect(dlq.stderr).toMatch(/^error: Redis at redis:\/\/:\*+@127\.0\.0\.1:\d+ does not answer/);
    expect(dlq.stderr.split('\n')).toHaveLength(1);
    const runs = await fixture.db.query(`SELECT to_regclass('migration_mgmt.runs') IS NULL OR NOT EXISTS (SELECT 1 FROM migration_mgmt.runs) AS none`).catch(() => ({ rows: [{ none: true }] }));
    expect(runs.rows[0]).toEqual({ none: true });
  }, 60_000);

  it('on Ctrl-C stops following, says the run goes on and how to re-attach', async () => {
    fixture = await startFleetFixture('liveness_sigint', TWO_STAGES, { startFleet: false });
    const tsx = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsx, path.join(ROOT, 'producer/cli.ts'), 'up', '--wait'], { cwd: ROOT, env: { PATH: process.env['PATH']!, LOG_LEVEL: 'silent', ...fixture.env } });
    let stdout = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('the run to be followed', async () => / waiting: /.test(stdout), 30_000, 100);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const runId = runIdOf(stdout);
    expect(stdout).toContain(`stopped following run ${runId}, which goes on (running): re-attach with \`npm run migrate -- status --run ${runId} --watch\``);
  }, 60_000);
});
