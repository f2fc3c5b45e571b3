import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import {
  appliedCounts,
  completedExecutionCounts,
  forwardExecutions,
  isAlive,
  isReady,
  loggingMigration,
  pidOf,
  removeDir,
  runState,
  startRun,
  TERMINAL_RUN_STATUSES,
  waitForRunEnd,
  writeMigrations,
  type FixtureMigration,
} from '../helpers/fixtures.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';
import { sleep, waitFor, type Proc } from '../helpers/processes.js';

const id = (n: number, slug: string) => `2025.03.01_1000${String(n).padStart(2, '0')}_${slug}`;
const BASE = id(1, 'base');
const BIG_TABLE = id(2, 'big_table');
const BIG_INDEX = id(3, 'big_index');
const SIDE_A = id(4, 'side_a');
const SIDE_B = id(5, 'side_b');
const JOIN = id(6, 'join');
const PER_STATEMENT = id(7, 'per_statement');
const LAST = id(8, 'last');
const BIG_ROWS = 300_000;

/**
 * Stages: base | big_table | big_index (CREATE INDEX CONCURRENTLY), side_a, side_b | join |
 * per_statement | last. Every migration but the index logs its id in app.applied.
 */
const MIGRATIONS: FixtureMigration[] = [
  loggingMigration(BASE, { sleepSeconds: 0.8, first: true }),
  loggingMigration(BIG_TABLE, {
    sleepSeconds: 0.8,
    extraUp: `CREATE TABLE IF NOT EXISTS app.big (id bigint PRIMARY KEY, payload text NOT NULL);
INSERT INTO app.big (id, payload) SELECT g, md5(g::text) FROM generate_series(1, ${BIG_ROWS}) g ON CONFLICT DO NOTHING;
`,
  }),
  {
    id: BIG_INDEX,
    up: `CREATE INDEX CONCURRENTLY IF NOT EXISTS big_payload_idx ON app.big (payload);\n`,
    down: `DROP INDEX CONCURRENTLY IF EXISTS app.big_payload_idx;\n`,
    yaml: `type: index\n`,
  },
  loggingMigration(SIDE_A, { sleepSeconds: 0.8, yaml: `depends_on: ['${BIG_TABLE}']\n` }),
  loggingMigration(SIDE_B, { sleepSeconds: 0.8, yaml: `depends_on: ['${BIG_TABLE}']\n` }),
  loggingMigration(JOIN, { sleepSeconds: 0.8, yaml: `depends_on: ['${BIG_INDEX}', '${SIDE_A}', '${SIDE_B}']\n` }),
  {
    id: PER_STATEMENT,
    up: `CREATE TABLE IF NOT EXISTS app.t_per_statement (id integer PRIMARY KEY, label text);
SELECT pg_sleep(0.4);
INSERT INTO app.t_per_statement (id, label) VALUES (1, 'one'), (2, 'two') ON CONFLICT DO NOTHING;
INSERT INTO app.applied (migration) VALUES ('${PER_STATEMENT}');
SELECT pg_sleep(0.4);
ALTER TABLE app.t_per_statement ADD COLUMN IF NOT EXISTS extra text;
`,
    down: `DELETE FROM app.applied WHERE migration = '${PER_STATEMENT}';
DROP TABLE IF EXISTS app.t_per_statement;
`,
    yaml: `transaction: per_statement\n`,
  },
  loggingMigration(LAST, { sleepSeconds: 0.8 }),
];

interface Kill {
  workerId: string;
  /** The step the worker was running when it was killed, if any. */
  migrationId: string | null;
  /** Its executions still `running` just before the kill. */
  runningExecutions: string[];
}

describe('workers SIGKILLed while a run is active', () => {
  let db: TestDatabase;
  let fleet: Fleet;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase('fleet_worker_crash');
    dir = await writeMigrations('worker-crash', MIGRATIONS);
    env = { DATABASE_URL: db.url, QUEUE_PREFIX: uniquePrefix('crash'), MIGRATIONS_DIR: dir, WORKER_CONCURRENCY: '2' };
    fleet = new Fleet(env);
  });

  afterAll(async () => {
    await fleet?.stop();
    await db?.drop();
    await removeDir(dir);
  });

  it('completes the run, applying every migration exactly once', { timeout: 90_000 }, async () => {
    fleet.coordinator();
    let workers: Proc[] = [fleet.worker(), fleet.worker(), fleet.worker()];
    await waitFor('the fleet to start', async () => fleet.procs.every((proc) => isReady(proc, proc.name.startsWith('worker') ? 'worker started' : 'coordinator started')), 30_000);
    const started = performance.now();
    const runId = await startRun(env);

    const kills: Kill[] = [];
    const midStepKills = new Set<string>();
    let lastKill = performance.now();
    // About every second: SIGKILL a worker that is running a step (each step once, so the run
    // progresses), or after 2 s without one an idle worker, until 6 kills; each is replaced at once.
    for (;;) {
      await sleep(250 + Math.random() * 100);
      if (TERMINAL_RUN_STATUSES.includes((await runState(db, runId)).status)) break;
      const since = performance.now() - lastKill;
      if (kills.length >= 10 || since < 900) continue;
      const ready = workers.filter((proc) => isAlive(proc) && isReady(proc, 'worker started'));
      const byPid = new Map(ready.map((proc) => [proc.child.pid, proc]));
      const { rows: running } = await db.query<{ migration_id: string; worker_id: string }>(
        `SELECT migration_id, worker_id FROM migration_mgmt.steps WHERE run_id = $1 AND status = 'running' AND worker_id IS NOT NULL`,
        [runId],
      );
      const busy = running.filter((step) => byPid.has(pidOf(step.worker_id)) && !midStepKills.has(step.migration_id));
      const target = busy[Math.floor(Math.random() * busy.length)];
      let victim: Proc | undefined;
      if (target) {
        victim = byPid.get(pidOf(target.worker_id));
      } else if (since >= 2000 && kills.length < 6) {
        const idle = ready.filter((proc) => !running.some((step) => pidOf(step.worker_id) === proc.child.pid));
        victim = idle[Math.floor(Math.random() * idle.length)];
      }
      if (!victim) continue;
      lastKill = performance.now();
      const workerId = `${os.hostname()}-${victim.child.pid}`;
      const { rows: executions } = await db.query<{ execution_id: string }>(
        `SELECT execution_id FROM migration_mgmt.migration_executions WHERE worker_id = $1 AND execution_status = 'running'`,
        [workerId],
      );
      await fleet.kill(victim, 'SIGKILL');
      kills.push({ workerId, migrationId: target?.migration_id ?? null, runningExecutions: executions.map((row) => row.execution_id) });
      if (target) midStepKills.add(target.migration_id);
      workers = [...workers.filter((proc) => proc !== victim), fleet.worker()];
    }

    const final = await waitForRunEnd(db, runId, 90_000, () => fleet.logs());
    const seconds = (performance.now() - started) / 1000;
    const midStep = kills.filter((kill) => kill.migrationId !== null);
    console.log(
      `worker-crash: run ${final.status} in ${seconds.toFixed(1)} s; ${kills.length} SIGKILLs, ${midStep.length} of them mid-step: ` +
        midStep.map((kill) => kill.migrationId!.split('_').slice(2).join('_')).join(', '),
    );

    expect(final, fleet.logs()).toEqual({ status: 'completed', error: null });
    expect(kills.length).toBeGreaterThanOrEqual(6);
    expect(midStep.length).toBeGreaterThanOrEqual(2);

    // Every logging migration's id exactly once: nothing was applied twice, nothing was lost.
    const expected = Object.fromEntries(MIGRATIONS.filter((m) => m.id !== BIG_INDEX).map((m) => [m.id, 1]));
    expect(await appliedCounts(db)).toEqual(expected);

    const statuses = await db.query<{ migration_id: string; status: string }>(
      `SELECT migration_id, status FROM migration_mgmt.migration_status ORDER BY migration_id`,
    );
    expect(statuses.rows).toEqual(MIGRATIONS.map((m) => ({ migration_id: m.id, status: 'completed' })));

    const executions = await forwardExecutions(db, runId);
    const summary = JSON.stringify(executions, null, 1);
    // Exactly one completed forward execution per migration.
    expect(completedExecutionCounts(executions), summary).toEqual(Object.fromEntries(MIGRATIONS.map((m) => [m.id, 1])));
    // No attempt is left `running` once its step completed; the killed ones were closed as abandoned.
    expect(executions.filter((e) => e.execution_status === 'running'), summary).toEqual([]);
    const byId = new Map(executions.map((e) => [e.execution_id, e]));
    for (const kill of kills) {
      for (const executionId of kill.runningExecutions) {
        expect(['abandoned', 'completed'], `execution ${executionId} of killed ${kill.workerId}\n${summary}`).toContain(byId.get(executionId)?.execution_status);
      }
    }
    const killedIds = new Set(kills.map((kill) => kill.workerId));
    const abandoned = executions.filter((e) => e.execution_status === 'abandoned');
    expect(abandoned.every((e) => killedIds.has(e.worker_id ?? '')), summary).toBe(true);
    console.log(`worker-crash: ${executions.length} forward executions, ${abandoned.length} abandoned`);

    const steps = await db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM migration_mgmt.steps WHERE run_id = $1 GROUP BY status`,
      [runId],
    );
    expect(steps.rows).toEqual([{ status: 'completed', n: MIGRATIONS.length }]);
  });

  it('left the concurrently built index valid and the per-statement migration whole', async () => {
    const index = await db.query(
      `SELECT i.indisvalid, i.indisready FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'app' AND c.relname = 'big_payload_idx'`,
    );
    expect(index.rows).toEqual([{ indisvalid: true, indisready: true }]);
    const invalid = await db.query(`SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid`);
    expect(invalid.rows).toEqual([]);
    const big = await db.query(`SELECT count(*)::int AS n FROM app.big`);
    expect(big.rows[0]?.n).toBe(BIG_ROWS);
    const perStatement = await db.query(
      `SELECT (SELECT count(*) FROM app.t_per_statement)::int AS rows,
              (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 't_per_statement' AND column_name = 'extra')::int AS extra`,
    );
    expect(perStatement.rows[0]).toEqual({ rows: 2, extra: 1 });
  });
});
