/**
 * `migrate init` started by several real processes at once against one empty database:
 * migrateCatalog serializes them on an advisory lock, so every process exits 0, the
 * catalog is created once (one internal_migrations row per version) and is complete.
 * The race is run on three fresh databases, then once more with the start gated: the test
 * holds the catalog's advisory lock until all four processes are provably waiting on it,
 * so they contend from the same instant.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { CATALOG_VERSION } from '../../shared/catalog/internal-migrations.js';
import { catalogTables } from '../../shared/catalog/tables.js';
import { ADVISORY_KEY_SQL } from '../../shared/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startProcess, waitFor, type Proc } from '../helpers/processes.js';

const PROCESSES = 4;
const ROUNDS = 3;
const CATALOG = 'migration_mgmt';

/** Every table the catalog module names (shared/catalog/tables.ts), so a new table is expected automatically. */
const CATALOG_TABLES = Object.keys(catalogTables(CATALOG))
  .filter((key) => key !== 'schema' && key !== 'schemaName')
  .sort();

const databases: TestDatabase[] = [];
const started: Proc[] = [];

afterAll(async () => {
  for (const proc of started) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await Promise.all(databases.map((db) => db.drop()));
});

const startInits = (db: TestDatabase, label: string) => {
  const procs = Array.from({ length: PROCESSES }, (_, i) =>
    startProcess(`${label}-${i + 1}`, 'producer/cli.ts', { DATABASE_URL: db.url, LOG_LEVEL: 'silent' }, ['init']),
  );
  started.push(...procs);
  return procs;
};

/** All exited 0, one internal_migrations row per version, every catalog table, and a later init is a no-op. */
async function expectCatalogCreatedOnce(db: TestDatabase, procs: Proc[]): Promise<void> {
  const codes = await Promise.all(procs.map((proc) => proc.exited));
  const report = procs.map((proc, i) => `${proc.name}: exit ${codes[i]}\n  ${proc.output.join('\n  ')}`).join('\n');
  expect(codes, report).toEqual(Array(PROCESSES).fill(0));
  for (const proc of procs) expect(proc.output, proc.name).toEqual([`catalog ${CATALOG} is at version ${CATALOG_VERSION}`]);

  const versions = await db.query<{ version: number; n: string }>(
    `SELECT version, count(*) AS n FROM ${CATALOG}.internal_migrations GROUP BY version ORDER BY version`,
  );
  expect(versions.rows.map((row) => [row.version, Number(row.n)])).toEqual(Array.from({ length: CATALOG_VERSION }, (_, i) => [i + 1, 1]));

  const tables = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`,
    [CATALOG],
  );
  expect(tables.rows.map((row) => row.table_name).sort()).toEqual(CATALOG_TABLES);

  // The one-active-run guard is part of a complete catalog.
  const index = await db.query(`SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = 'runs_one_active_per_environment'`, [CATALOG]);
  expect(index.rowCount).toBe(1);

  // Nothing else was created in the database.
  const schemas = await db.query<{ nspname: string }>(
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
  );
  expect(schemas.rows.map((row) => row.nspname)).toEqual([CATALOG, 'public']);

  // A later init is a no-op.
  const [again] = startInits(db, 'init-again').slice(0, 1);
  expect(await again!.exited, again!.output.join('\n')).toBe(0);
  const after = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${CATALOG}.internal_migrations`);
  expect(Number(after.rows[0]!.n)).toBe(CATALOG_VERSION);
}

describe('concurrent init', () => {
  it('sanity: the expected table list comes from the catalog module', () => {
    expect(CATALOG_TABLES).toContain('internal_migrations');
    expect(CATALOG_TABLES).toContain('runs');
    expect(CATALOG_TABLES.length).toBeGreaterThanOrEqual(14);
  });

  it.each(Array.from({ length: ROUNDS }, (_, i) => i + 1))(
    `round %i: ${PROCESSES} processes run init at once; all exit 0 and the catalog is created exactly once`,
    async (round) => {
      const db = await createTestDatabase(`concurrent_init_${round}`);
      databases.push(db);
      await expectCatalogCreatedOnce(db, startInits(db, 'init'));
    },
    120_000,
  );

  it(
    `gated: all ${PROCESSES} processes wait on the catalog lock together, then all exit 0 with one catalog`,
    async () => {
      const db = await createTestDatabase('concurrent_init_gated');
      databases.push(db);
      const gate = new pg.Client({ connectionString: db.url });
      await gate.connect();
      try {
        await gate.query('BEGIN');
        await gate.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [`pgfm-catalog:${CATALOG}`]);
        const procs = startInits(db, 'init-gated');
        await waitFor(
          `${PROCESSES} init processes waiting on the catalog lock`,
          async () => {
            const { rows } = await db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()`,
            );
            const exitedEarly = procs.find((proc) => proc.child.exitCode !== null);
            if (exitedEarly) throw new Error(`${exitedEarly.name} exited before the gate opened: ${exitedEarly.output.join('\n')}`);
            return rows[0]!.n === PROCESSES;
          },
          60_000,
          100,
        );
        // Nothing was created while they waited.
        const { rows } = await db.query("SELECT to_regnamespace('migration_mgmt') AS oid");
        expect(rows[0]!.oid).toBeNull();
        await gate.query('COMMIT');
        await expectCatalogCreatedOnce(db, procs);
      } finally {
        await gate.end().catch(() => undefined);
      }
    },
    120_000,
  );
});
