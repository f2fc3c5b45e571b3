/**
 * npm run bench -- seed [--rows 200000]
 *
 * Applies the seed's whole migration set (after the base schema and generated data) with a
 * coordinator and 1, then 3, worker processes, and prints the wall time of `up --wait`.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { buildProgram } from '../producer/cli.js';
import { generateData } from '../scripts/generate-data.js';
import { startProcess, type Proc } from '../scripts/processes.js';

const ADMIN = process.env['BENCH_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const { values } = parseArgs({ args: process.argv.slice(2).filter((arg) => arg !== 'seed'), options: { rows: { type: 'string', default: '200000' } } });
const ROWS = Number(values.rows);

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN });
  await client.connect();
  await client.query(sql).finally(() => client.end());
}

async function migrate(argv: string[], env: Record<string, string>): Promise<void> {
  const errors: string[] = [];
  const { run } = buildProgram({ ...process.env, LOG_LEVEL: 'silent', ...env }, { out: () => undefined, err: (line) => errors.push(line) });
  const code = await run(argv);
  if (code !== 0) throw new Error(`migrate ${argv.join(' ')} exited ${code}: ${errors.join(' ')}`);
}

async function applySeed(workers: number): Promise<number> {
  const name = `pgfm_seed_${randomBytes(3).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = Object.assign(new URL(ADMIN), { pathname: `/${name}` }).toString();
  const env = { DATABASE_URL: url, QUEUE_PREFIX: `bench_${randomBytes(3).toString('hex')}`, COORDINATOR_TICK_MS: '200', LOG_LEVEL: 'warn' };
  const procs: Proc[] = [startProcess('coordinator', 'coordinator/main.ts', env)];
  for (let i = 0; i < workers; i++) procs.push(startProcess(`worker-${i}`, 'workers/main.ts', env));
  try {
    await migrate(['up', '--to', '2025.01.01_000000_base_schema', '--wait'], env);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await generateData(client, ROWS).finally(() => client.end());
    const started = performance.now();
    await migrate(['up', '--wait'], env);
    return (performance.now() - started) / 1000;
  } finally {
    procs.forEach((proc) => proc.child.kill('SIGKILL'));
    await Promise.all(procs.map((proc) => proc.exited));
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

console.log(`seed migration set (12 migrations after the base schema) on ${ROWS} customers`);
for (const workers of [1, 3]) {
  const seconds = await applySeed(workers);
  console.log(`${workers} worker${workers > 1 ? 's' : ''} (concurrency 2 each): ${seconds.toFixed(1)} s`);
}
