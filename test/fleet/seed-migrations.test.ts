import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateData } from '../../scripts/generate-data.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';

const ROWS = 60_000;

describe('the seed migrations applied by 3 workers and a coordinator', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('fleet_seed');
    env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniquePrefix('seed'), WORKER_CONCURRENCY: '2' };
    fleet = new Fleet(env);
    fleet.coordinator();
    fleet.worker();
    fleet.worker();
    fleet.worker();
  });

  afterAll(async () => {
    await fleet?.stop();
    await db?.drop();
  });

  it('applies the base schema, then everything else with data in the tables', async () => {
    const base = await runCli(['up', '--to', '2025.01.01_000000_base_schema', '--wait'], env);
    expect(base.code, base.stderr + fleet.logs()).toBe(0);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await generateData(client, ROWS);
    } finally {
      await client.end();
    }

    const started = performance.now();
    const result = await runCli(['up', '--wait'], env);
    const seconds = (performance.now() - started) / 1000;
    expect(result.code, result.stdout + result.stderr + fleet.logs()).toBe(0);
    console.log(`seed migrations with ${ROWS} customers, 3 workers: ${seconds.toFixed(1)} s`);

    const statuses = await db.query(`SELECT status, count(*)::int AS n FROM migration_mgmt.migration_status GROUP BY status`);
    expect(statuses.rows).toEqual([{ status: 'completed', n: 13 }]);
    // Exactly one successful forward execution per migration.
    const executions = await db.query(
      `SELECT migration_id, count(*)::int AS n FROM migration_mgmt.migration_executions
        WHERE execution_type = 'forward' AND execution_status = 'completed' GROUP BY migration_id HAVING count(*) <> 1`,
    );
    expect(executions.rows).toEqual([]);
    const versions = await db.query(`SELECT version FROM migration_mgmt.version_deployments ORDER BY version`);
    expect(versions.rows.map((r) => r.version)).toEqual(['5.0.0', '5.1.0', '5.2.0']);
  });

  it('left the schema and data the migrations describe', async () => {
    const phones = await db.query(
      `SELECT count(*)::int AS n FROM hs.customers WHERE phone_primary !~ '^\\+\\d+$' OR phone_secondary !~ '^\\+\\d+$'`,
    );
    expect(phones.rows[0]?.n).toBe(0);
    const priorities = await db.query(`SELECT count(*) FILTER (WHERE priority_score IS NULL)::int AS missing, count(*)::int AS total FROM hs.work_orders`);
    expect(priorities.rows[0]).toEqual({ missing: 0, total: ROWS });
    const equipment = await db.query(
      `SELECT (SELECT count(*) FROM hs.customer_equipment)::int AS new, (SELECT count(*) FROM hs.customer_equipment_old)::int AS old,
              (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'hs' AND table_name = 'customer_equipment' AND column_name = 'manufacturer_info')::int AS reshaped`,
    );
    expect(equipment.rows[0]).toEqual({ new: ROWS / 2, old: ROWS / 2, reshaped: 1 });
    const view = await db.query(`SELECT to_regclass('reporting_mgmt.unified_satisfaction_view') IS NOT NULL AS ok`);
    expect(view.rows[0]?.ok).toBe(true);
    const index = await db.query(
      `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'idx_work_orders_priority_score'`,
    );
    expect(index.rows).toEqual([{ indisvalid: true }]);
  });

  it('ran the two parallel-group migrations of COORD-2025-001 at the same time', async () => {
    const { rows } = await db.query<{ migration_id: string; started_at: Date; completed_at: Date }>(
      `SELECT migration_id, started_at, completed_at FROM migration_mgmt.migration_executions
        WHERE migration_id IN ('2025.01.31_160000_hs_satisfaction_tracking', '2025.01.31_160001_auto_satisfaction_tracking')
          AND execution_status = 'completed'`,
    );
    expect(rows).toHaveLength(2);
    const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
    expect(a.started_at < b.completed_at && b.started_at < a.completed_at, JSON.stringify(rows)).toBe(true);
  });
});
