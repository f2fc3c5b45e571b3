import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, migrationStatuses, schemaDump, startFleetFixture, type FleetFixture } from '../helpers/fixtures.js';

const BASE = '2025.04.01_000000_set_base';
const ORDERS = '2025.04.01_010000_orders_discount';
const CUSTOMERS = '2025.04.01_010001_customers_tier';
const BROKEN = '2025.04.01_010002_broken_report';
const LAST = '2025.04.01_010003_after_broken';
const SET = 'COORD-2025-900';

describe('a coordinated set whose second group fails is rolled back entirely', () => {
  let fx: FleetFixture;
  let before: string;

  beforeAll(async () => {
    fx = await startFleetFixture(
      'setrb',
      [
        {
          id: BASE,
          up: `
            CREATE SCHEMA app;
            CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric(10,2) NOT NULL);
            CREATE TABLE app.customers (id int PRIMARY KEY, name text NOT NULL);
            INSERT INTO app.customers SELECT g, 'customer ' || g FROM generate_series(1, 200) g;
            INSERT INTO app.orders SELECT g, 1 + g % 200, g * 1.5 FROM generate_series(1, 2000) g;`,
          down: `DROP SCHEMA app CASCADE;`,
        },
        {
          id: ORDERS,
          up: `
            ALTER TABLE app.orders ADD COLUMN discount numeric(10,2) NOT NULL DEFAULT 0;
            ALTER TABLE app.orders ADD CONSTRAINT orders_discount_le_total CHECK (discount <= total);
            CREATE INDEX orders_customer_discount ON app.orders (customer_id, discount);`,
          down: `
            DROP INDEX app.orders_customer_discount;
            ALTER TABLE app.orders DROP CONSTRAINT orders_discount_le_total;
            ALTER TABLE app.orders DROP COLUMN discount;`,
        },
        {
          id: CUSTOMERS,
          up: `
            ALTER TABLE app.customers ADD COLUMN tier text NOT NULL DEFAULT 'standard';
            CREATE FUNCTION app.customer_tier(customer int) RETURNS text LANGUAGE sql STABLE
              AS $$ SELECT tier FROM app.customers WHERE id = customer $$;`,
          down: `
            DROP FUNCTION app.customer_tier(int);
            ALTER TABLE app.customers DROP COLUMN tier;`,
        },
        {
          id: BROKEN,
          up: `CREATE TABLE app.discount_report AS SELECT customer_id, sum(discount) AS discounts FROM app.orders GROUP BY customer_id;`,
          down: `DROP TABLE app.discount_report;`,
          // Fails every time, after its SQL ran: the post-validation is false.
          meta: { post_validations: ['SELECT false AS report_is_wrong'] },
        },
        {
          id: LAST,
          up: `CREATE VIEW app.customer_tiers AS SELECT id, app.customer_tier(id) AS tier FROM app.customers;`,
          down: `DROP VIEW app.customer_tiers;`,
        },
      ],
      {
        sets: [
          {
            id: SET,
            name: 'Discounts and tiers',
            execution_order: [ORDERS, CUSTOMERS, BROKEN, LAST],
            parallel_groups: [[ORDERS, CUSTOMERS], [BROKEN], [LAST]],
            dependencies: { [BROKEN]: [ORDERS], [LAST]: [CUSTOMERS, BROKEN] },
            rollback_all_on_failure: true,
          },
        ],
      },
    );
    const base = await fx.cli(['up', '--to', BASE, '--wait']);
    expect(base.code, base.stdout + base.stderr + fx.fleet.logs()).toBe(0);
    before = await schemaDump(fx.db.url);
  });

  afterAll(async () => {
    await fx?.stop();
  });

  it('exits 1 with the run rolled back and the schema exactly as before', async () => {
    const result = await fx.cli(['up', '--set', SET, '--wait', '--json']);
    expect(result.code, result.stdout + result.stderr + fx.fleet.logs()).toBe(1);
    const [created, final] = jsonLines(result.stdout);
    const runId = created?.['runId'] as string;
    expect(created).toMatchObject({ runId, status: 'running', migrations: 4, stages: 3 });
    expect(final).toMatchObject({ runId, status: 'rolled_back' });
    expect(String(final?.['error'])).toContain(BROKEN);

    const { rows: runs } = await fx.db.query(`SELECT status, set_id FROM migration_mgmt.runs WHERE run_id = $1`, [runId]);
    expect(runs).toEqual([{ status: 'rolled_back', set_id: SET }]);

    const after = await schemaDump(fx.db.url);
    expect(after.includes('discount')).toBe(false);
    expect(after).toBe(before);

    expect(await migrationStatuses(fx.db)).toEqual({
      [BASE]: 'completed',
      [ORDERS]: 'rolled_back',
      [CUSTOMERS]: 'rolled_back',
      [BROKEN]: 'failed',
    });
  });

  it('ran the first group as one stage, failed the second once, never started the third, and undid the first', async () => {
    const { rows: steps } = await fx.db.query<{ migration_id: string; direction: string; stage: number; status: string; attempts: number }>(
      `SELECT s.migration_id, s.direction, s.stage, s.status, s.attempts FROM migration_mgmt.steps s JOIN migration_mgmt.runs r USING (run_id)
        WHERE r.set_id = $1 ORDER BY s.direction DESC, s.stage, s.migration_id`,
      [SET],
    );
    expect(steps).toEqual([
      { migration_id: ORDERS, direction: 'up', stage: 0, status: 'completed', attempts: 1 },
      { migration_id: CUSTOMERS, direction: 'up', stage: 0, status: 'completed', attempts: 1 },
      { migration_id: BROKEN, direction: 'up', stage: 1, status: 'failed', attempts: 1 },
      { migration_id: LAST, direction: 'up', stage: 2, status: 'cancelled', attempts: 0 },
      { migration_id: ORDERS, direction: 'down', stage: 0, status: 'completed', attempts: 1 },
      { migration_id: CUSTOMERS, direction: 'down', stage: 0, status: 'completed', attempts: 1 },
    ]);
    const { rows: failed } = await fx.db.query(
      `SELECT execution_status, error_message FROM migration_mgmt.migration_executions WHERE migration_id = $1`,
      [BROKEN],
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ execution_status: 'failed' });
    expect(failed[0]?.error_message).toContain('post-validation failed');
    // The failed migration's own transaction left nothing behind.
    const report = await fx.db.query(`SELECT to_regclass('app.discount_report') IS NULL AS absent`);
    expect(report.rows).toEqual([{ absent: true }]);
  });
});
