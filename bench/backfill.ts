/**
 * npm run bench -- backfill [--rows 1000000] [--small 100000] [--no-pgbench | --pgbench-only]
 *
 * Measures, in one run and on this machine, the phone-number backfill of the seed:
 *  - one plain UPDATE in a single backend (the baseline every ratio is against);
 *  - the fleet backfill with 1 and 2 workers, throttle off, backup of old values on and off;
 *  - the same at a smaller size, to show time is linear in rows;
 *  - sub-batch durations (p50/p99) against their target;
 *  - pgbench OLTP latency before and during a throttled fleet backfill.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildProgram } from '../producer/cli.js';
import { generateData } from '../scripts/generate-data.js';
import { ROOT, sleep, startProcess, type Proc } from '../scripts/processes.js';

const BASE = '2025.01.01_000000_base_schema';
const PHONES = '2025.01.31_150000_standardize_phone_numbers';
const ADMIN = process.env['BENCH_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'backfill'),
  options: {
    rows: { type: 'string', default: '1000000' },
    small: { type: 'string', default: '100000' },
    'no-pgbench': { type: 'boolean', default: false },
    'pgbench-only': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const SMALL = Number(values.small);

interface Database {
  name: string;
  url: string;
  query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;
  drop: () => Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function freshDatabase(): Promise<Database> {
  const name = `pgfm_bench_${randomBytes(3).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = Object.assign(new URL(ADMIN), { pathname: `/${name}` }).toString();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle connection cut by the final DROP DATABASE ... WITH (FORCE) must not crash the bench.
  pool.on('error', () => undefined);
  return {
    name,
    url,
    query: (sql, params) => pool.query(sql, params),
    drop: async () => {
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function fill(db: Database, rows: number): Promise<void> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await generateData(client, rows);
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

async function migrationsDir(edits: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-bench-'));
  await cp(path.join(ROOT, 'migrations', 'versions.yaml'), path.join(dir, 'versions.yaml'));
  for (const id of [BASE, PHONES]) await cp(path.join(ROOT, 'migrations', id), path.join(dir, id), { recursive: true });
  const yaml = path.join(dir, PHONES, 'migration.yaml');
  await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/  batch_target_ms: 200\n  backup: true\n/, edits));
  return dir;
}

async function cli(argv: string[], env: Record<string, string>): Promise<void> {
  const errors: string[] = [];
  const { run } = buildProgram({ ...process.env, LOG_LEVEL: 'silent', ...env }, { out: () => undefined, err: (line) => errors.push(line) });
  const code = await run(argv);
  if (code !== 0) throw new Error(`migrate ${argv.join(' ')} exited ${code}: ${errors.join(' ')}`);
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** The plain single-statement UPDATE, in one backend, on freshly generated data. */
async function singleUpdate(rows: number): Promise<number> {
  const db = await freshDatabase();
  try {
    await db.query(await readFile(path.join(ROOT, 'migrations', BASE, 'up.sql'), 'utf8'));
    await fill(db, rows);
    await db.query(await readFile(path.join(ROOT, 'migrations', PHONES, 'up.sql'), 'utf8'));
    const meta = await readFile(path.join(ROOT, 'migrations', PHONES, 'migration.yaml'), 'utf8');
    const { parse } = await import('yaml');
    const spec = (parse(meta) as { backfill: { set: Record<string, string>; where: string } }).backfill;
    const set = Object.entries(spec.set).map(([column, expression]) => `${column} = ${expression}`).join(', ');
    const started = performance.now();
    const result = await db.query(`UPDATE hs.customers SET ${set} WHERE ${spec.where}`);
    const seconds = (performance.now() - started) / 1000;
    if (!result.rowCount) throw new Error('the UPDATE changed nothing');
    return seconds;
  } finally {
    await db.drop();
  }
}

interface FleetResult {
  seconds: number;
  rowsChanged: number;
  batchP50: number;
  batchP99: number;
  target: number;
}

/** The fleet backfill: `workers` processes of one connection each, one chunk each at a time. */
async function fleetBackfill(
  rows: number,
  workers: number,
  options: { backup: boolean; throttle?: { rowsPerSecond: number; targetMs: number }; during?: (db: Database) => Promise<void> },
): Promise<FleetResult & { pgbench?: unknown }> {
  const db = await freshDatabase();
  const targetMs = options.throttle?.targetMs ?? 200;
  const dir = await migrationsDir(
    `  batch_target_ms: ${targetMs}\n  backup: ${options.backup}\n  chunk_keys: ${Math.ceil(rows / (workers * 4))}\n  max_parallel_chunks: ${workers}\n` +
      `  initial_batch_size: 2000\n` +
      (options.throttle ? `  max_rows_per_second: ${options.throttle.rowsPerSecond}\n` : ''),
  );
  const env = { DATABASE_URL: db.url, QUEUE_PREFIX: `bench_${randomBytes(3).toString('hex')}`, MIGRATIONS_DIR: dir, COORDINATOR_TICK_MS: '200' };
  const procs: Proc[] = [startProcess('coordinator', 'coordinator/main.ts', { ...env, LOG_LEVEL: 'warn' })];
  for (let i = 0; i < workers; i++) procs.push(startProcess(`worker-${i}`, 'workers/main.ts', { ...env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'debug' }));
  try {
    await cli(['up', '--to', BASE, '--wait'], env);
    await fill(db, rows);
    const during = options.during?.(db);
    await cli(['up', '--wait'], env);
    await during;
    const { rows: window } = await db.query(
      `SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8 AS seconds, sum(rows_changed)::bigint AS changed FROM migration_mgmt.chunks`,
    );
    const batches = procs
      .flatMap((p) => p.output)
      .filter((line) => line.includes('"msg":"sub-batch"'))
      .map((line) => (JSON.parse(line) as { elapsedMs: number }).elapsedMs)
      .sort((a, b) => a - b);
    return {
      seconds: window[0].seconds,
      rowsChanged: Number(window[0].changed),
      batchP50: percentile(batches, 50),
      batchP99: percentile(batches, 99),
      target: targetMs,
    };
  } finally {
    procs.forEach((p) => p.child.kill('SIGKILL'));
    await Promise.all(procs.map((p) => p.exited));
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface PgbenchStats {
  tps: number;
  p99: number;
  max: number;
  transactions: number;
}

/** pgbench, 4 clients, on customer rows the backfill also touches; latencies from its per-transaction log. */
async function pgbench(db: Database, rows: number, seconds: number): Promise<PgbenchStats> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-pgbench-'));
  const script = path.join(dir, 'oltp.sql');
  await writeFile(
    script,
    `\\set s random(1, ${rows})\nUPDATE hs.customers SET updated_at = now() WHERE id = md5('c' || :s)::uuid;\nSELECT phone_primary FROM hs.customers WHERE id = md5('c' || (:s + 1))::uuid;\n`,
  );
  const url = new URL(db.url);
  await new Promise<void>((resolve, reject) => {
    const child = spawn('pgbench', ['-n', '-h', url.hostname, '-p', url.port || '5432', '-U', url.username, '-c', '4', '-j', '2', '-T', String(seconds), '-f', script, '--log', `--log-prefix=${dir}/log`, db.name], {
      stdio: 'ignore',
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pgbench exited ${code}`))));
  });
  const files = execFileSync('ls', [dir]).toString().split('\n').filter((f) => f.startsWith('log'));
  const latencies: number[] = [];
  for (const file of files) {
    for (const line of (await readFile(path.join(dir, file), 'utf8')).split('\n')) {
      const fields = line.split(' ');
      if (fields.length >= 6) latencies.push(Number(fields[2]) / 1000);
    }
  }
  await rm(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { tps: Math.round(latencies.length / seconds), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, transactions: latencies.length };
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

function printThroughput(table: string[][]): void {
  const header = ['rows', 'method', 'seconds', 'rows/s', 'ratio', 'batch p50/p99 ms', 'target ms'];
  const widths = header.map((title, i) => Math.max(title.length, ...table.map((row) => row[i]!.length)));
  console.log([header, ...table].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n'));
  const small = table.find((row) => row[0] === String(SMALL) && row[1] === 'fleet, 2 workers, backup on')!;
  const large = table.find((row) => row[0] === String(ROWS) && row[1] === 'fleet, 2 workers, backup on')!;
  console.log(`linearity (2 workers, backup on): ${ROWS / SMALL}x rows took ${fmt(Number(large[2]) / Number(small[2]))}x the time`);
}

async function main(): Promise<void> {
  console.log(`backfill benchmark: ${ROWS} and ${SMALL} customers (70% need a change), ${os.cpus().length} cores`);
  const table: string[][] = [];
  const baseline = new Map<number, number>();
  for (const rows of values['pgbench-only'] ? [] : [SMALL, ROWS]) {
    const update = await singleUpdate(rows);
    baseline.set(rows, update);
    table.push([String(rows), 'single UPDATE (1 backend)', fmt(update), String(Math.round((rows * 0.7) / update)), '1.00', '-', '-']);
    for (const workers of [1, 2]) {
      for (const backup of [false, true]) {
        const result = await fleetBackfill(rows, workers, { backup });
        table.push([
          String(rows),
          `fleet, ${workers} worker${workers > 1 ? 's' : ''}, backup ${backup ? 'on' : 'off'}`,
          fmt(result.seconds),
          String(Math.round(result.rowsChanged / result.seconds)),
          fmt(update / result.seconds),
          `${fmt(result.batchP50, 1)} / ${fmt(result.batchP99, 1)}`,
          String(result.target),
        ]);
      }
    }
  }
  if (table.length > 0) printThroughput(table);

  if (!values['no-pgbench']) {
    const db = await freshDatabase();
    let before: PgbenchStats;
    try {
      await db.query(await readFile(path.join(ROOT, 'migrations', BASE, 'up.sql'), 'utf8'));
      await fill(db, ROWS);
      before = await pgbench(db, ROWS, 15);
    } finally {
      await db.drop();
    }
    let during: PgbenchStats | undefined;
    const throttled = await fleetBackfill(ROWS, 2, {
      backup: true,
      throttle: { rowsPerSecond: 10_000, targetMs: 10 },
      during: async (fleetDb) => {
        await sleep(1000);
        during = await pgbench(fleetDb, ROWS, 20);
      },
    });
    console.log(`\npgbench, 4 clients, UPDATE+SELECT by random customer id, ${ROWS} rows`);
    console.log(`before:  ${before.tps} tps, p99 ${fmt(before.p99)} ms, max ${fmt(before.max)} ms`);
    console.log(`during throttled fleet backfill (2 workers, 10k rows/s, 10 ms sub-batches; backfill ${fmt(throttled.seconds)} s, sub-batch p99 ${fmt(throttled.batchP99, 1)} ms):`);
    console.log(`         ${during!.tps} tps, p99 ${fmt(during!.p99)} ms (${fmt(during!.p99 / before.p99)}x), max ${fmt(during!.max)} ms`);
  }
  if (baseline.size > 0) console.log(`baseline single UPDATE: ${[...baseline].map(([rows, s]) => `${rows} rows ${fmt(s)} s`).join(', ')}`);
}

await main();
