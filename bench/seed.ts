/**
 * npm run bench -- seed [--rows 200000]
 *
 * Applies the seed's whole migration set (after the base schema and generated data) with a
 * coordinator and 1, then 3, worker processes, and prints the wall time of `up --wait`.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { generateData } from '../scripts/generate-data.js';
import { startProcess, type Proc } from '../scripts/processes.js';
import { admin, databaseUrl, migrate } from './common.js';

const { values } = parseArgs({ args: process.argv.slice(2).filter((arg) => arg !== 'seed'), options: { rows: { type: 'string', default: '200000' } } });
const ROWS = Number(values.rows);

async function applySeed(workers: number): Promise<number> {
  const name = `pgfm_seed_${randomBytes(3).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = databaseUrl(name);
  const env = { DATABASE_URL: url, QUEUE_PREFIX: `bench_${randomBytes(3).toString('hex')}`, COORDINATOR_TICK_MS: '200', LOG_LEVEL: 'warn' };
  const procs: Proc[] = [startProcess('coordinator', 'coordinator/main.ts', env)];
  for (let i = 0; i < workers; i++) procs.push(startProcess(`worker-${i}`, 'workers/main.ts', env));
  try {
    await migrate(['up', '--to', '2025.01.01_000000_base_schema', '--wait'], env);
    await admin((client) => generateData(client, ROWS), url);
    const started = performance.now();
    await migrate(['up', '--wait'], env);
    return (performance.now() - started) / 1000;
  } finally {
    procs.forEach((proc) => proc.child.kill('SIGKILL'));
    await Promise.all(procs.map((proc) => proc.exited));
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
}

console.log(`seed migration set (12 migrations after the base schema) on ${ROWS} customers`);
for (const workers of [1, 3]) {
  const seconds = await applySeed(workers);
  console.log(`${workers} worker${workers > 1 ? 's' : ''} (concurrency 2 each): ${seconds.toFixed(1)} s`);
}
