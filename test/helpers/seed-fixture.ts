import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generateData } from '../../scripts/generate-data.js';
import { runCli } from './cli.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { Fleet, uniquePrefix } from './fleet.js';
import { ROOT } from './processes.js';

/**
 * A migrations directory holding a subset of the repo's seed migrations (by id), with
 * optional text replacements in their files, e.g. to throttle a backfill for a crash test.
 */
export async function seedFixture(
  ids: string[],
  edits: Array<{ id: string; file: string; from: string; to: string }> = [],
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-seed-'));
  await cp(path.join(ROOT, 'migrations', 'versions.yaml'), path.join(dir, 'versions.yaml'));
  for (const id of ids) await cp(path.join(ROOT, 'migrations', id), path.join(dir, id), { recursive: true });
  for (const edit of edits) {
    const file = path.join(dir, edit.id, edit.file);
    const text = await readFile(file, 'utf8');
    if (!text.includes(edit.from)) throw new Error(`fixture edit: ${edit.from} not found in ${edit.id}/${edit.file}`);
    await writeFile(file, text.replace(edit.from, edit.to));
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export const BASE = '2025.01.01_000000_base_schema';
export const PHONES = '2025.01.31_150000_standardize_phone_numbers';

export interface SeedFleet {
  db: TestDatabase;
  fleet: Fleet;
  env: Record<string, string>;
  stop: () => Promise<void>;
}

/**
 * A database of its own with the base schema applied by a running fleet (a coordinator and
 * `workers` worker processes) and `rows` generated customers; the migrations directory holds
 * `ids` with `edits` applied.
 */
export async function startSeedFleet(options: {
  label: string;
  ids: string[];
  edits?: Parameters<typeof seedFixture>[1];
  workers?: number;
  rows: number;
  env?: Record<string, string>;
}): Promise<SeedFleet> {
  const db = await createTestDatabase(options.label);
  const fixture = await seedFixture(options.ids, options.edits);
  const env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniquePrefix(options.label), MIGRATIONS_DIR: fixture.dir, ...options.env };
  const fleet = new Fleet(env);
  const stop = async () => {
    await fleet.stop();
    await db.drop();
    await fixture.remove();
  };
  try {
    fleet.coordinator();
    for (let i = 0; i < (options.workers ?? 2); i++) fleet.worker();
    const base = await runCli(['up', '--to', BASE, '--wait'], env);
    if (base.code !== 0) throw new Error(`base schema: ${base.stdout}${base.stderr}${fleet.logs()}`);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await generateData(client, options.rows).finally(() => client.end());
    return { db, fleet, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
