import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import type { TestDatabase } from '../helpers/database.js';
import type { Fleet } from '../helpers/fleet.js';
import { sleep } from '../helpers/processes.js';
import { BASE, PHONES, startSeedFleet } from '../helpers/seed-fixture.js';

const ROWS = 200_000;
const WHERE = `(phone_primary !~ '^\\+\\d+$' AND hs.standardize_phone_number(phone_primary) <> phone_primary)
  OR (phone_secondary !~ '^\\+\\d+$' AND hs.standardize_phone_number(phone_secondary) <> phone_secondary)`;
const rowsChecksum = (table: string, without: string[] = []) =>
  `SELECT count(*)::int AS n, md5(string_agg((to_jsonb(c) ${without.map((col) => `- '${col}'`).join(' ')})::text, ',' ORDER BY id)) AS sum FROM ${table} c`;

describe('phone backfill across 3 workers while workers are SIGKILLed', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let env: Record<string, string>;
  let stop: () => Promise<void>;
  let runId: string;

  beforeAll(async () => {
    ({ db, fleet, env, stop } = await startSeedFleet({
      label: 'phone_crash',
      ids: [BASE, PHONES],
      // Throttled so the backfill lasts long enough to be killed at least ten times.
      edits: [
        { id: PHONES, file: 'migration.yaml', from: '  batch_target_ms: 200\n', to: '  batch_target_ms: 200\n  max_rows_per_second: 8000\n  chunk_keys: 25000\n  max_parallel_chunks: 4\n' },
      ],
      workers: 3,
      rows: ROWS,
    }));
    await db.query('CREATE TABLE public.before AS SELECT * FROM hs.customers');
  });

  afterAll(async () => {
    await stop?.();
  });

  it('ends with exactly the table one plain UPDATE gives, and a backup of exactly the changed rows', async () => {
    const started = await runCli(['up', '--json'], env);
    expect(started.code, started.stderr).toBe(0);
    runId = (JSON.parse(started.stdout) as { runId: string }).runId;

    let kills = 0;
    const runStatus = async () => (await db.query(`SELECT status FROM migration_mgmt.runs WHERE run_id = $1`, [runId])).rows[0]?.status;
    while ((await runStatus()) === 'running') {
      await sleep(1800);
      const alive = fleet.procs.filter((p) => p.name.startsWith('worker') && p.child.exitCode === null && p.child.signalCode === null);
      const victim = alive[Math.floor(Math.random() * alive.length)];
      if (!victim || (await runStatus()) !== 'running') break;
      await fleet.kill(victim);
      kills++;
      fleet.worker();
    }
    console.log(`workers SIGKILLed during the backfill: ${kills}`);
    expect(await runStatus(), fleet.logs()).toBe('completed');
    expect(kills).toBeGreaterThanOrEqual(10);

    await db.query(`CREATE TABLE public.expected AS SELECT * FROM public.before`);
    await db.query(
      `UPDATE public.expected SET
         phone_primary = CASE WHEN phone_primary !~ '^\\+\\d+$' THEN hs.standardize_phone_number(phone_primary) ELSE phone_primary END,
         phone_secondary = CASE WHEN phone_secondary !~ '^\\+\\d+$' THEN hs.standardize_phone_number(phone_secondary) ELSE phone_secondary END
       WHERE ${WHERE}`,
    );
    const actual = await db.query(rowsChecksum('hs.customers', ['updated_at']));
    const expected = await db.query(rowsChecksum('public.expected', ['updated_at']));
    expect(actual.rows[0]).toEqual(expected.rows[0]);

    const { rows } = await db.query<{ backup_table: string }>(`SELECT backup_table FROM migration_mgmt.migration_status WHERE migration_id = $1`, [PHONES]);
    const backup = rows[0]!.backup_table;
    const changedBefore = `SELECT id, phone_primary, phone_secondary, updated_at FROM public.before WHERE ${WHERE}`;
    const saved = `SELECT id, phone_primary, phone_secondary, updated_at FROM ${backup}`;
    const diff = await db.query(
      `SELECT (SELECT count(*) FROM (${saved} EXCEPT ${changedBefore}) a)::int AS extra,
              (SELECT count(*) FROM (${changedBefore} EXCEPT ${saved}) b)::int AS missing,
              (SELECT count(*) FROM ${backup})::int AS saved, (SELECT count(*) FROM (${changedBefore}) c)::int AS changed`,
    );
    const counts = diff.rows[0] as { extra: number; missing: number; saved: number; changed: number };
    expect(counts).toMatchObject({ extra: 0, missing: 0 });
    expect(counts.saved).toBe(counts.changed);
    expect(counts.changed).toBeGreaterThan(ROWS / 2);
  }, 240_000);

  it('rolls back to the original table exactly, from the backup', async () => {
    const result = await runCli(['rollback', '--run', runId, '--wait'], env);
    expect(result.code, result.stdout + result.stderr + fleet.logs()).toBe(0);
    const actual = await db.query(rowsChecksum('hs.customers'));
    const original = await db.query(rowsChecksum('public.before'));
    expect(actual.rows[0]).toEqual(original.rows[0]);
    const fn = await db.query(`SELECT to_regprocedure('hs.standardize_phone_number(text)') IS NULL AS dropped`);
    expect(fn.rows[0]?.dropped).toBe(true);
  }, 120_000);
});
