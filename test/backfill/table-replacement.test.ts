import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/database.js';
import type { Fleet } from '../helpers/fleet.js';
import { BASE, startSeedFleet } from '../helpers/seed-fixture.js';

const NEW_TABLE = '2025.01.31_152000_customer_equipment_new_table';
const COPY = '2025.01.31_152001_customer_equipment_copy';
const SWAP = '2025.01.31_152002_customer_equipment_swap';
const CUSTOMERS = 20_000;

/** Random inserts, updates and deletes on the old table until told to stop; counts what committed. */
async function writer(url: string, seed: number, stop: () => boolean): Promise<{ inserts: number; updates: number; deletes: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const done = { inserts: 0, updates: 0, deletes: 0 };
  let n = seed;
  try {
    while (!stop()) {
      n = (n * 1103515245 + 12345) % 2147483648;
      const customer = 1 + (n % CUSTOMERS);
      const equipment = 1 + (n % (CUSTOMERS / 2));
      try {
        if (n % 3 === 0) {
          await client.query(
            `INSERT INTO hs.customer_equipment (business_id, customer_id, equipment_type, equipment_category, equipment_name, manufacturer)
             SELECT business_id, id, 'hvac', 'cooling', 'writer ' || $2, 'Acme' FROM hs.customers WHERE id = md5('c' || $1)::uuid`,
            [customer, n],
          );
          done.inserts++;
        } else if (n % 3 === 1) {
          await client.query(`UPDATE hs.customer_equipment SET equipment_name = 'updated ' || $2, updated_at = now() WHERE id = md5('e' || $1)::uuid`, [equipment, n]);
          done.updates++;
        } else {
          await client.query(`DELETE FROM hs.customer_equipment WHERE id = md5('e' || $1)::uuid`, [equipment]);
          done.deletes++;
        }
      } catch (error) {
        // After the swap the old column names are gone: that is the end of the old table's life.
        if ((error as { code?: string }).code === '42703') break;
        if ((error as { code?: string }).code !== '40P01') throw error;
      }
    }
  } finally {
    await client.end();
  }
  return done;
}

describe('customer_equipment replacement with concurrent writers', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let env: Record<string, string>;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ db, fleet, env, stop } = await startSeedFleet({
      label: 'replacement',
      ids: [BASE, NEW_TABLE, COPY, SWAP],
      // Throttled so the copy lasts a few seconds while the writers run.
      edits: [
        { id: COPY, file: 'migration.yaml', from: '  batch_target_ms: 200\n', to: '  batch_target_ms: 200\n  max_rows_per_second: 2000\n  chunk_keys: 2500\n  max_parallel_chunks: 2\n  initial_batch_size: 200\n' },
      ],
      rows: CUSTOMERS,
    }));
  });

  afterAll(async () => {
    await stop?.();
  });

  it('loses no write: after the swap the new table equals the old one row for row', async () => {
    let stopped = false;
    const writers = [1, 2, 3].map((seed) => writer(db.url, seed * 7919, () => stopped));
    const result = await runCli(['up', '--wait'], env);
    stopped = true;
    const writes = await Promise.all(writers);
    expect(result.code, result.stdout + result.stderr + fleet.logs()).toBe(0);
    const total = writes.reduce((sum, w) => sum + w.inserts + w.updates + w.deletes, 0);
    console.log(`writes committed during the replacement: ${JSON.stringify(writes)}`);
    expect(total).toBeGreaterThan(300);

    const { rows } = await db.query<{ missing: number; extra: number; old: number; new: number }>(
      // After the swap the mapping runs the other way (the reverse mirror's function): new -> old shape.
      `WITH mapped AS (SELECT (hs.customer_equipment_to_old(c)).* FROM hs.customer_equipment c)
       SELECT (SELECT count(*) FROM (SELECT * FROM hs.customer_equipment_old EXCEPT SELECT * FROM mapped) a)::int AS missing,
              (SELECT count(*) FROM (SELECT * FROM mapped EXCEPT SELECT * FROM hs.customer_equipment_old) b)::int AS extra,
              (SELECT count(*) FROM hs.customer_equipment_old)::int AS old,
              (SELECT count(*) FROM hs.customer_equipment)::int AS new`,
    );
    expect(rows[0]!.missing).toBe(0);
    expect(rows[0]!.extra).toBe(0);
    expect(rows[0]!.new).toBe(rows[0]!.old);
    expect(rows[0]!.new).not.toBe(CUSTOMERS / 2);
  }, 180_000);
});
