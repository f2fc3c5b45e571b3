import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/processes.js';
import { BASE, PHONES, startSeedFleet, type SeedFleet } from '../helpers/seed-fixture.js';

const ROWS = 150_000;

/**
 * Unthrottled workers run sub-batches back to back, so theirs overlap all the time. Status
 * changes (the coordinator's and an operator's) must still get through within about one
 * sub-batch: share locks on the run row used to starve them until the health governor, seeing
 * a session stuck behind the workers, paused the whole fleet.
 */
describe('status changes of a run whose sub-batches overlap without pause', () => {
  let seed: SeedFleet;

  beforeAll(async () => {
    seed = await startSeedFleet({
      label: 'run_gate',
      ids: [BASE, PHONES],
      edits: [{ id: PHONES, file: 'migration.yaml', from: '  batch_target_ms: 200\n', to: '  batch_target_ms: 100\n  chunk_keys: 25000\n  max_parallel_chunks: 3\n' }],
      workers: 3,
      rows: ROWS,
      env: {
        WORKER_CONCURRENCY: '1',
        COORDINATOR_TICK_MS: '100',
        // Anything a worker keeps waiting this long shows up as a governor pause in the logs.
        GOVERNOR_LOCK_WAIT_MS: '400',
        GOVERNOR_CHECK_MS: '100',
      },
    });
  });

  afterAll(async () => {
    await seed?.stop();
  });

  it('pauses at once and never makes the coordinator wait behind the fleet', async () => {
    const { db, fleet, env } = seed;
    const up = await runCli(['up', '--json'], env);
    expect(up.code, up.stderr).toBe(0);
    const runId = (JSON.parse(up.stdout) as { runId: string }).runId;
    const keysDone = async () =>
      Number((await db.query(`SELECT COALESCE(sum(keys_done), 0) AS n FROM migration_mgmt.chunks WHERE run_id = $1 AND status = 'running'`, [runId])).rows[0]!.n);
    await waitFor('three chunks under way', async () => (await db.query(`SELECT 1 FROM migration_mgmt.chunks WHERE run_id = $1 AND status = 'running' AND keys_done > 0`, [runId])).rows.length >= 2, 60_000, 50);
    // Let the coordinator tick a few times with all workers busy.
    await waitFor('more progress', async () => (await keysDone()) > 30_000, 60_000, 50);

    const started = performance.now();
    const paused = await runCli(['pause', '--run', runId], env);
    const pauseSeconds = (performance.now() - started) / 1000;
    expect(paused.code, paused.stderr).toBe(0);
    // The CLI's own start-up is most of this; the lock wait is at most one 100 ms sub-batch.
    expect(pauseSeconds).toBeLessThan(5);
    // Each chunk reads the new status at its next sub-batch.
    await waitFor(
      'chunks to stop',
      async () => (await db.query(`SELECT 1 FROM migration_mgmt.chunks WHERE run_id = $1 AND status = 'running'`, [runId])).rows.length === 0,
      2_000,
      50,
    );

    expect((await runCli(['resume', '--run', runId], env)).code).toBe(0);
    await waitFor('run to complete', async () => (await db.query(`SELECT status FROM migration_mgmt.runs WHERE run_id = $1`, [runId])).rows[0]?.status === 'completed', 120_000);
    const governorPauses = fleet.procs.flatMap((p) => p.output).filter((line) => line.includes('paused by the health governor'));
    expect(governorPauses, governorPauses.join('\n')).toEqual([]);
  });
});
