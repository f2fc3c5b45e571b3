/**
 * npm run demo [-- --rows 200000] [--keep] [--port 3000] [--database pgfm_demo]
 *
 * The whole product on the local PostgreSQL and Redis: a demo database with generated data,
 * a coordinator, two workers and the board as child processes; the seed's migrations
 * (including COORD-2025-001 and the phone backfill) applied with live progress; then a
 * failing migration rolled back automatically into the dead-letter queue; a summary.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { buildProgram } from '../producer/cli.js';
import { QUEUES } from '../shared/jobs.js';
import { generateData } from './generate-data.js';
import { ROOT, startProcess, waitFor, type Proc } from './processes.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    keep: { type: 'boolean', default: false },
    port: { type: 'string', default: '3000' },
    database: { type: 'string', default: 'pgfm_demo' },
  },
});
const rows = Number(values.rows);
const adminUrl = process.env['DEMO_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const database = values.database!;
if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new Error('--database must be a lower-case identifier');
const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${database}` }).toString();
const prefix = database.replace(/_/g, '-');
const boardPassword = randomBytes(9).toString('base64url');
const BASE = '2025.01.01_000000_base_schema';

const say = (text: string) => process.stdout.write(`${text}\n`);
const indented = (text: string) => say(text.split('\n').map((line) => `   ${line}`).join('\n'));
const heading = (text: string) => say(`\n== ${text}`);

async function migrate(argv: string[], env: Record<string, string>): Promise<number> {
  const { run } = buildProgram({ ...process.env, ...env, LOG_LEVEL: 'warn' }, {
    out: indented,
    err: indented,
    redraw: process.stdout.isTTY ? (text) => process.stdout.write(`\r\x1b[2K${text}`) : undefined,
  });
  return run(argv);
}

async function main(): Promise<number> {
  if (!Number.isInteger(rows) || rows < 1000) throw new Error('--rows must be an integer of at least 1000');
  heading(`demo database ${database}, ${rows} customers`);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  // Queues of an earlier demo are removed so the board shows this run only.
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  for (const name of Object.values(QUEUES)) {
    const queue = new Queue(name, { connection: redis, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
  }
  redis.disconnect();

  const migrationsDir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-demo-'));
  await cp(path.join(ROOT, 'migrations'), migrationsDir, { recursive: true });
  for (const folder of await readdir(path.join(ROOT, 'scripts', 'demo-migrations'))) {
    await cp(path.join(ROOT, 'scripts', 'demo-migrations', folder), path.join(migrationsDir, folder), { recursive: true });
  }
  const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, MIGRATIONS_DIR: migrationsDir, ACTOR: 'demo', STALLED_INTERVAL_MS: '2000', JOB_LOCK_MS: '5000', COORDINATOR_TICK_MS: '300' };
  const logDir = path.join(os.tmpdir(), `pgfm-demo-logs-${Date.now()}`);
  await mkdir(logDir);
  const procs: Proc[] = [];
  const start = (name: string, entry: string, extra: Record<string, string> = {}) => {
    const proc = startProcess(name, entry, { ...env, ...extra });
    const log = createWriteStream(path.join(logDir, `${name}.log`));
    proc.child.stdout!.pipe(log);
    proc.child.stderr!.pipe(log);
    procs.push(proc);
    return proc;
  };
  const stop = async () => {
    for (const proc of procs) proc.child.kill('SIGTERM');
    await Promise.all(procs.map((proc) => proc.exited));
  };

  try {
    heading('starting the fleet: 1 coordinator, 2 workers, the board');
    start('coordinator', 'coordinator/main.ts');
    start('worker-1', 'workers/main.ts');
    start('worker-2', 'workers/main.ts');
    const board = start('board', 'board/main.ts', { BOARD_PORT: values.port!, BOARD_USER: 'demo', BOARD_PASSWORD: boardPassword });
    await waitFor('the board', async () => board.output.some((line) => line.includes('board listening')) || (board.child.exitCode !== null && Promise.reject(new Error(board.output.join('\n')))), 30_000);
    say(`   logs: ${logDir}`);

    heading('base schema (5.0.0)');
    if ((await migrate(['up', '--to', BASE, '--wait'], env)) !== 0) return 1;
    heading(`generating ${rows} customers with work orders, equipment and repair orders`);
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
      await generateData(client, rows, { log: indented }).finally(() => client.end());

    heading('the seed migrations up to 5.2.0: vet schema, phone backfill, priority_score, equipment replacement, COORD-2025-001');
    if ((await migrate(['up', '--to', '5.2.0', '--wait'], env)) !== 0) return 1;

    heading('a migration that fails on the data: the run rolls back automatically');
    const failing = await migrate(['up', '--wait'], env);
    if (failing === 0) throw new Error('the demo failure did not fail');
    heading('dead-letter queue');
    await migrate(['dlq', 'list'], env);

    heading('summary');
    await migrate(['status'], env);
    say(`\nBull Board: http://127.0.0.1:${values.port}/  user demo, password ${boardPassword}`);
    say(`metrics:    http://127.0.0.1:${values.port}/metrics (same credentials), health: /healthz`);
    if (values.keep) {
      say('\n--keep: the fleet keeps running; Ctrl-C stops it.');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    return 0;
  } finally {
    await stop();
  }
}

process.exitCode = await main().catch((error: Error) => {
  process.stderr.write(`demo failed: ${error.message}\n`);
  return 1;
});
