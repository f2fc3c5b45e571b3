import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  appliedCounts,
  completedExecutionCounts,
  completedSteps,
  forwardExecutions,
  isAlive,
  isReady,
  pidOf,
  removeDir,
  slowLinearMigrations,
  startRun,
  waitForRunEnd,
  writeMigrations,
} from '../helpers/fixtures.js';
import { FAST_FLEET, Fleet, uniquePrefix } from '../helpers/fleet.js';
import { waitFor, type Proc } from '../helpers/processes.js';

/** Eight linear migrations of about a second each. */
const MIGRATIONS = slowLinearMigrations(8, 1);
const ONCE = Object.fromEntries(MIGRATIONS.map((m) => [m.id, 1]));
const LEASE_MS = Number(FAST_FLEET.COORDINATOR_LEASE_MS);

async function leaseHolder(db: TestDatabase): Promise<string | undefined> {
  const { rows } = await db.query<{ holder: string }>(`SELECT holder FROM migration_mgmt.coordinator_lease WHERE name = 'coordinator'`);
  return rows[0]?.holder;
}

describe('the active coordinator SIGKILLed mid-run', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let dir: string;
  let env: Record<string, string>;
  let coordinators: Proc[];

  beforeAll(async () => {
    db = await createTestDatabase('fleet_coordinator_failover');
    dir = await writeMigrations('failover', MIGRATIONS);
    env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniquePrefix('failover'), MIGRATIONS_DIR: dir, WORKER_CONCURRENCY: '2' };
    fleet = new Fleet(env);
    coordinators = [fleet.coordinator(), fleet.coordinator()];
    fleet.worker();
    fleet.worker();
    await waitFor(
      'the fleet to start with one active coordinator',
      async () =>
        fleet.procs.every((proc) => isReady(proc, proc.name.startsWith('worker') ? 'worker started' : 'coordinator started')) &&
        coordinators.some((proc) => isReady(proc, 'became the active coordinator')),
      30_000,
    );
  });

  afterAll(async () => {
    await fleet?.stop();
    await db?.drop();
    await removeDir(dir);
  });

  it('hands the lease to the standby within a few seconds and completes the run', { timeout: 60_000 }, async () => {
    const started = performance.now();
    const runId = await startRun(env);
    await waitFor('half of the run to complete', async () => (await completedSteps(db, runId)) >= MIGRATIONS.length / 2, 30_000, 50);

    const holder = await leaseHolder(db);
    expect(holder).toBeDefined();
    const leader = coordinators.find((proc) => proc.child.pid === pidOf(holder!));
    const standby = coordinators.find((proc) => proc !== leader)!;
    expect(leader, `no coordinator process has pid ${holder}`).toBeDefined();
    expect(isReady(standby, 'became the active coordinator'), 'the standby never led before the failover').toBe(false);
    const standbyId = holder!.replace(/-\d+$/, `-${standby.child.pid}`);

    const killedAt = performance.now();
    await fleet.kill(leader!, 'SIGKILL');
    const newHolder = await waitFor(
      'the standby to take the lease',
      async () => {
        const current = await leaseHolder(db);
        return current !== undefined && current !== holder ? current : undefined;
      },
      10_000,
      25,
    );
    const failoverMs = performance.now() - killedAt;
    console.log(
      `coordinator-failover: killed ${holder} at ${((killedAt - started) / 1000).toFixed(1)} s; ${newHolder} took the lease after ${failoverMs.toFixed(0)} ms (lease ${LEASE_MS} ms)`,
    );
    expect(newHolder).toBe(standbyId);
    expect(isAlive(standby)).toBe(true);
    // The lease expires LEASE_MS after the leader's last renewal and the standby tries every tick:
    // about LEASE_MS; a few seconds at most even on a loaded machine.
    expect(failoverMs).toBeGreaterThan(LEASE_MS / 2);
    expect(failoverMs).toBeLessThan(5000);
    await waitFor('the standby to log its promotion', async () => isReady(standby, 'became the active coordinator'), 5000);

    const final = await waitForRunEnd(db, runId, 40_000, () => fleet.logs());
    console.log(`coordinator-failover: run ${final.status} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    expect(final, fleet.logs()).toEqual({ status: 'completed', error: null });
    expect(await appliedCounts(db)).toEqual(ONCE);
    const executions = await forwardExecutions(db, runId);
    const summary = JSON.stringify(executions, null, 1);
    expect(completedExecutionCounts(executions), summary).toEqual(ONCE);
    expect(executions.filter((e) => e.execution_status !== 'completed'), summary).toEqual([]);

    // The stall the failover caused: the longest wait between one step finishing and the next starting.
    const { rows: gaps } = await db.query<{ gap_ms: number }>(
      `SELECT round(extract(epoch FROM (started_at - lag(finished_at) OVER (ORDER BY stage))) * 1000)::int AS gap_ms
         FROM migration_mgmt.steps WHERE run_id = $1 ORDER BY stage`,
      [runId],
    );
    const longest = Math.max(...gaps.map((row) => row.gap_ms ?? 0));
    console.log(`coordinator-failover: longest pause between stages ${longest} ms`);
    expect(longest).toBeLessThan(LEASE_MS + 5000);

    // The new leader renews its lease and ends the run as the only holder.
    expect(await leaseHolder(db)).toBe(standbyId);
  });
});
