import pg from 'pg';
import { generateData } from '../../scripts/generate-data.js';
import { runCli } from './cli.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { Fleet, uniquePrefix } from './fleet.js';
import { seedFixture } from '../../scripts/seed-fixture.js';

export { seedFixture };

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
