/**
 * npm run bench -- backfill [--rows 1000000] [--small 100000] [--rounds 3] [--workers 1,2]
 *                           [--no-pgbench | --pgbench-only]
 *
 * Measures, on this machine, the phone-number backfill of the seed:
 *  - one plain UPDATE in a single backend (the baseline every ratio is against);
 *  - the fleet backfill with 1 and 2 workers, throttle off, backup of old values on and off;
 *  - the same at a smaller size, to show time is linear in rows;
 *  - sub-batch durations (p50/p99) against their target;
 *  - pgbench OLTP latency before and during a throttled fleet backfill.
 *
 * Each size's data is generated once into a template database; every measurement runs on a
 * fresh copy of it, starting right after a checkpoint, so all methods see the same physical
 * table and the same full-page-write cost. The methods take turns, round after round, and the
 * median of the rounds is reported: this shared VM drifts by tens of percent within minutes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { seedFixture } from '../scripts/seed-fixture.js';
import { clearLeases } from '../shared/catalog/lease.js';
import { chunkTotals } from '../shared/catalog/progress.js';
import { catalogTables } from '../shared/catalog/tables.js';

const catalog = catalogTables('migration_mgmt');
import { admin, databaseUrl, migrate } from './common.js';
import { generateData } from '../scripts/generate-data.js';
import { ROOT, sleep, startProcess, type Proc } from '../scripts/processes.js';

const BASE = '2025.01.01_000000_base_schema';
const PHONES = '2025.01.31_150000_standardize_phone_numbers';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'backfill'),
  options: {
    rows: { type: 'string', default: '1000000' },
    small: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1,2' },
    'no-pgbench': { type: 'boolean', default: false },
    'pgbench-only': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const SMALL = Number(values.small);
const ROUNDS = Number(values.rounds);
const WORKERS = values.workers.split(',').map(Number);
for (const [name, value] of [['rows', ROWS], ['small', SMALL], ['rounds', ROUNDS], ...WORKERS.map((w) => ['workers', w] as const)] as const) {
  if (!Number.isInteger(value) || value < (name === 'small' ? 0 : 1)) {
    process.stderr.write(`error: --${name} must be a positive integer\n`);
    process.exit(2);
  }
}

const uniqueName = (kind: string) => `pgfm_bench_${kind}_${randomBytes(3).toString('hex')}`;

async function stopAll(procs: Proc[]): Promise<void> {
  procs.forEach((p) => p.child.kill('SIGKILL'));
  await Promise.all(procs.map((p) => p.exited));
}

/**
 * The base schema applied by the fleet (so the catalog records it) and `rows` generated
 * customers, vacuumed and analyzed: what every measurement of this size copies.
 */
async function makeTemplate(rows: number): Promise<string> {
  const name = uniqueName('template');
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const fixture = await seedFixture([BASE]);
  const env = { DATABASE_URL: databaseUrl(name), QUEUE_PREFIX: uniqueName('q'), MIGRATIONS_DIR: fixture.dir, COORDINATOR_TICK_MS: '200', LOG_LEVEL: 'warn' };
  const procs = [startProcess('coordinator', 'coordinator/main.ts', env), startProcess('worker', 'workers/main.ts', env)];
  try {
    await migrate(['up', '--to', BASE, '--wait'], env);
  } finally {
    await stopAll(procs);
    await fixture.remove();
  }
  await admin(async (client) => {
    await generateData(client, rows);
    // The killed coordinator's lease would hold the next one back until it expired.
    await clearLeases(client, catalog);
  }, databaseUrl(name));
  return name;
}

interface Copy {
  name: string;
  url: string;
  /** The copy's pool: queries of the bench and of the catalog's read functions. */
  pool: pg.Pool;
  query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;
  drop: () => Promise<void>;
}

async function copyOf(template: string): Promise<Copy> {
  const name = uniqueName('run');
  // FILE_COPY checkpoints and copies the files: the copy starts with nothing of it in shared buffers.
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`));
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // An idle connection cut by the final DROP DATABASE ... WITH (FORCE) must not crash the bench.
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    query: (sql, params) => pool.query(sql, params),
    drop: async () => {
      await pool.end();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

interface Measurement {
  seconds: number;
  rowsChanged: number;
  batches: number[];
}

/** The plain single-statement UPDATE of the migration's `set` and `where`, in one backend. */
async function singleUpdate(template: string): Promise<Measurement> {
  const db = await copyOf(template);
  try {
    await db.query(await readFile(path.join(ROOT, 'migrations', PHONES, 'up.sql'), 'utf8'));
    const spec = (parseYaml(await readFile(path.join(ROOT, 'migrations', PHONES, 'migration.yaml'), 'utf8')) as { backfill: { set: Record<string, string>; where: string } })
      .backfill;
    const set = Object.entries(spec.set).map(([column, expression]) => `${column} = ${expression}`).join(', ');
    await db.query('CHECKPOINT');
    const started = performance.now();
    const result = await db.query(`UPDATE hs.customers SET ${set} WHERE ${spec.where}`);
    const seconds = (performance.now() - started) / 1000;
    if (!result.rowCount) throw new Error('the UPDATE changed nothing');
    return { seconds, rowsChanged: result.rowCount, batches: [] };
  } finally {
    await db.drop();
  }
}

interface FleetOptions {
  workers: number;
  backup: boolean;
  throttle?: { rowsPerSecond: number; targetMs: number };
}

interface RunningFleet {
  db: Copy;
  env: Record<string, string>;
  procs: Proc[];
}

/** A copy of the template with a coordinator and `workers` processes (one connection each) running against it. */
async function withFleet<T>(template: string, rows: number, options: FleetOptions, work: (fleet: RunningFleet) => Promise<T>): Promise<T> {
  const db = await copyOf(template);
  const fixture = await seedFixture(
    [BASE, PHONES],
    [
      {
        id: PHONES,
        file: 'migration.yaml',
        from: '  batch_target_ms: 200\n  backup: true\n',
        to:
          `  batch_target_ms: ${options.throttle?.targetMs ?? 200}\n  backup: ${options.backup}\n  chunk_keys: ${Math.ceil(rows / (options.workers * 4))}\n` +
          `  max_parallel_chunks: ${options.workers}\n  initial_batch_size: 2000\n` +
          (options.throttle ? `  max_rows_per_second: ${options.throttle.rowsPerSecond}\n` : ''),
      },
    ],
  );
  const env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniqueName('q'), MIGRATIONS_DIR: fixture.dir, COORDINATOR_TICK_MS: '200' };
  const procs: Proc[] = [startProcess('coordinator', 'coordinator/main.ts', { ...env, LOG_LEVEL: 'warn' })];
  for (let i = 0; i < options.workers; i++) procs.push(startProcess(`worker-${i}`, 'workers/main.ts', { ...env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'debug' }));
  try {
    await db.query('CHECKPOINT');
    return await work({ db, env, procs });
  } finally {
    await stopAll(procs);
    await db.drop();
    await fixture.remove();
  }
}

const subBatchTimes = (procs: Proc[]) =>
  procs
    .flatMap((p) => p.output)
    .filter((line) => line.includes('"msg":"sub-batch"'))
    .map((line) => (JSON.parse(line) as { elapsedMs: number }).elapsedMs);

/** The fleet backfill from start to end; the time is from the first chunk's start to the last one's end. */
async function fleetBackfill(template: string, rows: number, options: FleetOptions): Promise<Measurement> {
  return withFleet(template, rows, options, async ({ db, env, procs }) => {
    await migrate(['up', '--wait'], env);
    const totals = await chunkTotals(db.pool, catalog);
    return { seconds: totals.seconds ?? 0, rowsChanged: totals.rowsChanged, batches: subBatchTimes(procs) };
  });
}

interface PgbenchStats {
  tps: number;
  p99: number;
  max: number;
}

/** pgbench, 4 clients, on customer rows the backfill also touches; latencies from its per-transaction log. */
async function pgbench(db: Copy, rows: number, seconds: number): Promise<PgbenchStats> {
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
  return { tps: Math.round(latencies.length / seconds), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN };
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

interface Method {
  label: string;
  measure: (template: string, rows: number) => Promise<Measurement>;
}

const METHODS: Method[] = [
  { label: 'single UPDATE (1 backend)', measure: (template) => singleUpdate(template) },
  ...WORKERS.flatMap((workers) =>
    [false, true].map((backup) => ({
      label: `fleet, ${workers} worker${workers > 1 ? 's' : ''}, backup ${backup ? 'on' : 'off'}`,
      measure: (template: string, rows: number) => fleetBackfill(template, rows, { workers, backup }),
    })),
  ),
];

/** Every method on copies of one template, `ROUNDS` times in turn; one table row per method. */
async function throughput(rows: number): Promise<Array<{ label: string; seconds: number[]; rowsChanged: number; batches: number[] }>> {
  const template = await makeTemplate(rows);
  try {
    const results = METHODS.map((method) => ({ label: method.label, seconds: [] as number[], rowsChanged: 0, batches: [] as number[] }));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, method] of METHODS.entries()) {
        const measured = await method.measure(template, rows);
        const result = results[i]!;
        result.seconds.push(measured.seconds);
        result.rowsChanged = measured.rowsChanged;
        result.batches.push(...measured.batches);
        process.stderr.write(`  ${rows} rows, round ${round}/${ROUNDS}: ${method.label} ${fmt(measured.seconds)} s\n`);
      }
    }
    return results;
  } finally {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`));
  }
}

function printThroughput(table: Map<number, Awaited<ReturnType<typeof throughput>>>): void {
  const header = ['rows', 'method', `median s (of ${ROUNDS})`, 'runs s', 'rows/s', 'ratio', 'sub-batch p50/p99 ms'];
  const lines: string[][] = [];
  for (const [rows, results] of table) {
    const baseline = median(results[0]!.seconds);
    for (const result of results) {
      const seconds = median(result.seconds);
      const batches = [...result.batches].sort((a, b) => a - b);
      lines.push([
        String(rows),
        result.label,
        fmt(seconds),
        result.seconds.map((s) => fmt(s)).join(' '),
        String(Math.round(result.rowsChanged / seconds)),
        fmt(baseline / seconds),
        batches.length ? `${fmt(percentile(batches, 50), 1)} / ${fmt(percentile(batches, 99), 1)}` : '-',
      ]);
    }
  }
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((row) => row[i]!.length)));
  console.log([header, ...lines].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n'));
  const largest = Math.max(...WORKERS);
  const label = `fleet, ${largest} worker${largest > 1 ? 's' : ''}, backup on`;
  const small = table.get(SMALL)?.find((r) => r.label === label);
  const large = table.get(ROWS)?.find((r) => r.label === label);
  if (small && large && SMALL !== ROWS) {
    console.log(`linearity (${label}): ${ROWS / SMALL}x rows took ${fmt(median(large.seconds) / median(small.seconds))}x the time`);
  }
  console.log('sub-batch target: 200 ms');
}

const THROTTLED = { rowsPerSecond: 10_000, targetMs: 10 };

/**
 * pgbench on an idle copy, then on a copy where the fleet backfill (2 workers, backup on,
 * throttled) has its chunks under way; the run is cancelled once pgbench is done.
 */
async function pgbenchImpact(): Promise<void> {
  const template = await makeTemplate(ROWS);
  try {
    const idle = await copyOf(template);
    let before: PgbenchStats;
    try {
      before = await pgbench(idle, ROWS, 20);
    } finally {
      await idle.drop();
    }
    const during = await withFleet(template, ROWS, { workers: 2, backup: true, throttle: THROTTLED }, async ({ db, env, procs }) => {
      const runId = (JSON.parse((await migrate(['up', '--json'], env)).join('')) as { runId: string }).runId;
      const keysDone = async () => (await chunkTotals(db.pool, catalog)).keysDone;
      while ((await keysDone()) === 0) await sleep(100);
      const startKeys = await keysDone();
      const started = performance.now();
      const stats = await pgbench(db, ROWS, 20);
      const keysPerSecond = ((await keysDone()) - startKeys) / ((performance.now() - started) / 1000);
      await migrate(['cancel', '--run', runId], env);
      return { stats, keysPerSecond, batches: subBatchTimes(procs).sort((a, b) => a - b) };
    });
    const { stats } = during;
    console.log(`\npgbench, 4 clients, 20 s, UPDATE+SELECT by random customer id, ${ROWS} rows`);
    console.log(`before:  ${before.tps} tps, p99 ${fmt(before.p99)} ms, max ${fmt(before.max)} ms`);
    console.log(
      `during the fleet backfill (2 workers, backup on, limit ${THROTTLED.rowsPerSecond} rows/s, ${THROTTLED.targetMs} ms sub-batches: ` +
        `${Math.round(during.keysPerSecond)} keys/s, sub-batch p99 ${fmt(percentile(during.batches, 99), 1)} ms):`,
    );
    console.log(`         ${stats.tps} tps, p99 ${fmt(stats.p99)} ms (${fmt(stats.p99 / before.p99)}x), max ${fmt(stats.max)} ms`);
  } finally {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`));
  }
}

async function main(): Promise<void> {
  console.log(`backfill benchmark: ${ROWS}${SMALL ? ` and ${SMALL}` : ''} customers (70% need a change), ${os.cpus().length} cores, ${ROUNDS} rounds`);
  if (!values['pgbench-only']) {
    const table = new Map<number, Awaited<ReturnType<typeof throughput>>>();
    for (const rows of SMALL ? [SMALL, ROWS] : [ROWS]) table.set(rows, await throughput(rows));
    printThroughput(table);
  }
  if (!values['no-pgbench']) await pgbenchImpact();
}

await main();
