/**
 * npm run bench -- keys [--rows 150000] [--rounds 3] [--workers 2] [--cap 300]
 *
 * The same declarative backfill (`payload = upper(payload)` on every row, backup on, every
 * backfill setting at its default) run end to end through the fleet on two tables of `rows`
 * rows that differ only in their key: a random uuid, and (tenant, id) with 50 tenants and ids
 * unique across them (issue 10, item 8: composite keys used to collapse to single-key batches).
 * Both tables are generated once into a template database; every run starts on a FILE_COPY of
 * it right after a checkpoint, and the two keys take turns, round after round. A run that has
 * not finished after `--cap` seconds is cancelled and reported with the rate it had reached.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sleep, startProcess, type Proc } from '../scripts/processes.js';
import { chunkTotals } from '../shared/catalog/progress.js';
import { readRun } from '../shared/catalog/runs.js';
import { catalogTables } from '../shared/catalog/tables.js';
import { admin, databaseUrl, migrate } from './common.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== 'keys'),
  options: {
    rows: { type: 'string', default: '150000' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '2' },
    cap: { type: 'string', default: '300' },
  },
});
const ROWS = Number(values.rows);
const ROUNDS = Number(values.rounds);
const WORKERS = Number(values.workers);
const CAP_S = Number(values.cap);
for (const [name, value] of [['rows', ROWS], ['rounds', ROUNDS], ['workers', WORKERS], ['cap', CAP_S]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`error: --${name} must be a positive integer\n`);
    process.exit(2);
  }
}

const uniqueName = (kind: string) => `pgfm_bench_${kind}_${randomBytes(3).toString('hex')}`;

interface Case {
  label: string;
  table: string;
}

const CASES: Case[] = [
  { label: 'uuid', table: 'kb.by_uuid' },
  { label: '(tenant, id)', table: 'kb.by_tenant' },
];

/** Both tables, vacuumed and analyzed; rows in random physical order relative to their key. */
async function makeTemplate(): Promise<string> {
  const name = uniqueName('keys_template');
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  await admin(async (client) => {
    await client.query(`CREATE SCHEMA kb;
      CREATE TABLE kb.by_uuid (id uuid PRIMARY KEY, payload text NOT NULL);
      INSERT INTO kb.by_uuid SELECT md5('u' || g)::uuid, 'payload ' || md5(g::text) FROM generate_series(1, ${ROWS}) g;
      CREATE TABLE kb.by_tenant (tenant int NOT NULL, id bigint NOT NULL, payload text NOT NULL, PRIMARY KEY (tenant, id));
      INSERT INTO kb.by_tenant SELECT 1 + (hashint4(g) & 2147483647) % 50, g, 'payload ' || md5(g::text) FROM generate_series(1, ${ROWS}) g ORDER BY md5('u' || g);`);
    await client.query('VACUUM ANALYZE kb.by_uuid');
    await client.query('VACUUM ANALYZE kb.by_tenant');
  }, databaseUrl(name));
  return name;
}

/** A migrations directory with one declarative backfill of `table`, every backfill setting at its default. */
async function backfillMigration(table: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-bench-keys-'));
  const folder = path.join(dir, '2026.01.01_000001_upper_payload');
  await mkdir(folder);
  await writeFile(path.join(folder, 'up.sql'), `COMMENT ON TABLE ${table} IS 'upper-cased payloads';\n`);
  await writeFile(path.join(folder, 'down.sql'), `COMMENT ON TABLE ${table} IS NULL;\n`);
  await writeFile(
    path.join(folder, 'migration.yaml'),
    `description: Upper-case every payload\ntype: data\nbackfill:\n  table: ${table}\n  set:\n    payload: upper(payload)\n  where: payload <> upper(payload)\n`,
  );
  return dir;
}

interface Measurement {
  seconds: number;
  keys: number;
  finished: boolean;
  batchMs: number[];
  batchKeys: number[];
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const median = (values: number[]) => percentile(values, 50);

/** One backfill of `table` on a fresh copy of the template, by a coordinator and WORKERS worker processes. */
async function measure(template: string, table: string): Promise<Measurement> {
  const name = uniqueName('keys_run');
  // FILE_COPY checkpoints and copies the files: the copy starts with nothing of it in shared buffers.
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`));
  const url = databaseUrl(name);
  const dir = await backfillMigration(table);
  const env = { DATABASE_URL: url, QUEUE_PREFIX: uniqueName('q'), MIGRATIONS_DIR: dir };
  const procs: Proc[] = [startProcess('coordinator', 'coordinator/main.ts', { ...env, LOG_LEVEL: 'warn' })];
  for (let i = 0; i < WORKERS; i++) procs.push(startProcess(`worker-${i}`, 'workers/main.ts', { ...env, LOG_LEVEL: 'debug' }));
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query('CHECKPOINT');
    const runId = (JSON.parse((await migrate(['up', '--json'], env)).join('')) as { runId: string }).runId;
    const started = performance.now();
    let finished = false;
    for (;;) {
      const status = (await readRun(db, catalogTables('migration_mgmt'), runId))?.status;
      if (status === 'completed') {
        finished = true;
        break;
      }
      if (status && !['pending', 'queued', 'running'].includes(status)) throw new Error(`the backfill run ended ${status}`);
      if (performance.now() - started > CAP_S * 1000) break;
      await sleep(250);
    }
    // From the first chunk's start to the last one's end (or to now, for a run stopped at the cap).
    const totals = await chunkTotals(db, catalogTables('migration_mgmt'));
    if (totals.seconds === null) throw new Error(`run ${runId} ended without the times of its chunks`);
    if (!finished) await migrate(['cancel', '--run', runId, '--reason', `bench cap of ${CAP_S} s`], env);
    const batches = procs
      .flatMap((p) => p.output)
      .filter((line) => line.includes('"msg":"sub-batch"'))
      .map((line) => JSON.parse(line) as { elapsedMs: number; size: number });
    return { seconds: totals.seconds, keys: totals.keysDone, finished, batchMs: batches.map((b) => b.elapsedMs), batchKeys: batches.map((b) => b.size) };
  } finally {
    await db.end();
    procs.forEach((p) => p.child.kill('SIGKILL'));
    await Promise.all(procs.map((p) => p.exited));
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `key benchmark: the same backfill (upper(payload), backup on, default batch settings) on ${ROWS} rows keyed by uuid and by (tenant, id), ` +
      `${WORKERS} worker${WORKERS > 1 ? 's' : ''}, ${os.cpus().length} cores, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}, cap ${CAP_S} s per run`,
  );
  const template = await makeTemplate();
  const results = CASES.map(() => [] as Measurement[]);
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, c] of CASES.entries()) {
        const m = await measure(template, c.table);
        results[i]!.push(m);
        process.stderr.write(`  round ${round}/${ROUNDS}: ${c.label} ${m.keys} keys in ${m.seconds.toFixed(2)} s${m.finished ? '' : ' (stopped at the cap)'}\n`);
      }
    }
  } finally {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`));
  }
  const rate = (m: Measurement) => m.keys / m.seconds;
  const header = ['key', 'median s', 'runs s', 'keys/s (median)', 'sub-batch p50/p99 ms', 'sub-batch keys p50/max', 'finished'];
  const lines = CASES.map((c, i) => {
    const runs = results[i]!;
    const batchMs = runs.flatMap((m) => m.batchMs);
    const batchKeys = runs.flatMap((m) => m.batchKeys);
    return [
      c.label,
      median(runs.map((m) => m.seconds)).toFixed(2),
      runs.map((m) => `${m.seconds.toFixed(2)}${m.finished ? '' : '*'}`).join(' '),
      String(Math.round(median(runs.map(rate)))),
      batchMs.length ? `${percentile(batchMs, 50).toFixed(1)} / ${percentile(batchMs, 99).toFixed(1)}` : '-',
      batchKeys.length ? `${percentile(batchKeys, 50)} / ${Math.max(...batchKeys)}` : '-',
      `${runs.filter((m) => m.finished).length}/${runs.length}`,
    ];
  });
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((row) => row[i]!.length)));
  console.log([header, ...lines].map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n'));
  if (results.some((runs) => runs.some((m) => !m.finished))) console.log(`* stopped at the cap of ${CAP_S} s: keys/s is the rate reached until then`);
  const ratio = median(results[1]!.map(rate)) / median(results[0]!.map(rate));
  console.log(`(tenant, id) / uuid keys/s: ${ratio.toFixed(2)} (acceptance: at least 0.50: ${ratio >= 0.5 ? 'met' : 'NOT met'})`);
}

await main();
