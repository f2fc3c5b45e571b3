/**
 * The lifecycle module against a real catalog: each transition's SQL (as text, the way
 * node-pg-migrate tests its operations), its effect, and the refusal of illegal ones; and
 * the CHECK constraints in the database are exactly the status lists of statuses.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { insertChunks, readChunk } from '../../shared/catalog/chunks.js';
import { migrateCatalog } from '../../shared/catalog/internal-migrations.js';
import {
  acceptChecksums,
  cancelOpenChunks,
  cancelSteps,
  claimChunk,
  failCancelledBackfills,
  failStepRow,
  forgetBackupTable,
  queueSteps,
  readMigrationStatus,
  reopenCancelledSteps,
  reopenStoppedChunks,
  resumedStatus,
  setMigrationStatus,
  setStatementsDone,
  stepMayRun,
  claimStep,
  completeStep,
  IllegalTransitionError,
  queueMoreChunks,
  recordChunkBatch,
  requeueChunk,
  requeuePausedChunks,
  requeueStep,
  retryFailedStep,
  RUN_TRANSITIONS,
  setChunkStatus,
  setRunStatus,
} from '../../shared/catalog/lifecycle.js';
import { insertRun, insertSteps, readRun, readStep, runSteps } from '../../shared/catalog/runs.js';
import { RUN_STATUSES, STATUS_COLUMNS, checkName } from '../../shared/catalog/statuses.js';
import { catalogTables } from '../../shared/catalog/tables.js';
import { createPool } from '../../shared/db.js';
import type { Queryable } from '../../shared/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const t = catalogTables('migration_mgmt');

/** A Queryable that runs every statement on the real pool and keeps its text and parameters. */
function recording(pool: pg.Pool): Queryable & { statements: Array<{ sql: string; params: unknown[] }> } {
  const statements: Array<{ sql: string; params: unknown[] }> = [];
  return {
    statements,
    query: ((sql: string, params: unknown[] = []) => {
      statements.push({ sql: sql.replace(/\s+/g, ' ').trim(), params });
      return pool.query(sql, params);
    }) as Queryable['query'],
  };
}

describe('the lifecycle of runs, steps and chunks', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let runId: string;

  beforeAll(async () => {
    db = await createTestDatabase('lifecycle');
    pool = createPool(db.url);
    await migrateCatalog(pool, t);
    for (const id of ['2025.01.01_000000_a', '2025.01.01_000001_b']) {
      await pool.query(
        `INSERT INTO ${t.migrations} (migration_id, name, migration_type, migration_category, impact_level, up_sql, scripts, definition, checksum, file_checksums)
         VALUES ($1, $1, 'schema', 'alter', 'low', 'SELECT 1', '{}', '{}', 'x', '{}')`,
        [id],
      );
    }
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  beforeEach(async () => {
    // One active run per environment: the previous test's run is finished first.
    await pool.query(`UPDATE ${t.runs} SET status = 'completed' WHERE status IN ('running', 'paused', 'rolling_back')`);
    runId = await insertRun(pool, t, {
      environment: 'development', direction: 'up', target: null, setId: null, rollbackOf: null, autoRollback: true,
      plan: { kind: 'up', environment: 'development', target: null, setId: null, stages: [], warnings: [], hash: 'h' }, planHash: 'h', createdBy: 'test',
    });
    await insertSteps(pool, t, runId, [
      { migrationId: '2025.01.01_000000_a', direction: 'up', stage: 0, kind: 'backfill', checksum: 'x' },
      { migrationId: '2025.01.01_000001_b', direction: 'up', stage: 1, kind: 'transactional', checksum: 'y' },
    ]);
  });

  it('has CHECK constraints that are exactly the status lists', async () => {
    const { rows } = await pool.query<{ name: string; definition: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE contype = 'c' AND connamespace = $1::regnamespace`,
      [t.schemaName],
    );
    const byName = new Map(rows.map((row) => [row.name, row.definition]));
    for (const { table, column, values } of STATUS_COLUMNS) {
      const definition = byName.get(checkName(table, column));
      expect(definition, `${table}.${column}`).toBeDefined();
      const listed = [...definition!.matchAll(/'([^']+)'::text/g)].map((match) => match[1]);
      expect(listed, `${table}.${column}`).toEqual([...values]);
    }
  });

  it('changes a run along RUN_TRANSITIONS only, behind the run gate', async () => {
    const recorder = recording(pool);
    await setRunStatus(recorder, t, runId, 'paused');
    expect(recorder.statements[0]).toEqual({ sql: `SELECT pg_advisory_xact_lock(('x' || substr(md5($1), 1, 16))::bit(64)::bigint)`, params: [`pgfm-run:${runId}`] });
    expect(recorder.statements[1]!.sql).toBe(
      'UPDATE "migration_mgmt"."runs" SET status = $2, finished_at = $3::timestamptz, error = COALESCE($4, error), error_code = COALESCE($5, error_code) WHERE run_id = $1 AND status = ANY($6)',
    );
    expect(recorder.statements[1]!.params).toEqual([runId, 'paused', null, null, null, ['running', 'rolling_back']]);
    expect((await readRun(pool, t, runId))!.status).toBe('paused');

    await setRunStatus(pool, t, runId, 'running');
    await setRunStatus(pool, t, runId, 'completed');
    const finished = await readRun(pool, t, runId);
    expect(finished!.finished_at).not.toBeNull();
    for (const status of RUN_STATUSES) {
      const attempt = setRunStatus(pool, t, runId, status);
      await expect(attempt).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(setRunStatus(pool, t, runId, status)).rejects.toThrow(`run ${runId} is completed: it cannot become ${status}`);
    }
    expect((await readRun(pool, t, runId))!.status).toBe('completed');
    // Every status is reachable from some other, and only the finished ones are dead ends.
    expect(Object.entries(RUN_TRANSITIONS).filter(([, to]) => to.length === 0).map(([from]) => from)).toEqual(['completed', 'rolled_back', 'cancelled']);
  });

  it('claims, completes and requeues steps, and refuses to complete one that is not running', async () => {
    const [first, second] = await runSteps(pool, t, runId);
    await expect(completeStep(pool, t, first!.step_id)).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(await claimStep(pool, t, first!.step_id, 'w1')).toBe(true);
    const claimed = (await readStep(pool, t, first!.step_id))!;
    expect([claimed.status, claimed.attempts, claimed.worker_id]).toEqual(['running', 1, 'w1']);

    expect(await requeueStep(pool, t, first!.step_id, claimed.generation + 5)).toBeUndefined();
    expect((await requeueStep(pool, t, first!.step_id, claimed.generation))!.generation).toBe(claimed.generation + 1);

    await completeStep(pool, t, first!.step_id);
    expect((await readStep(pool, t, first!.step_id))!.status).toBe('completed');
    expect(await claimStep(pool, t, first!.step_id, 'w2')).toBe(false);
    expect(await requeueStep(pool, t, first!.step_id)).toBeUndefined();

    expect((await cancelSteps(pool, t, [first!.step_id, second!.step_id])).map((step) => step.step_id)).toEqual([second!.step_id]);
    await expect(retryFailedStep(pool, t, second!.step_id)).rejects.toThrow(`step ${second!.step_id} is not failed any more`);
  });

  it('hands chunks out within the bound, records sub-batches of running chunks only, and keeps finished chunks finished', async () => {
    const [step] = await runSteps(pool, t, runId);
    const range = (n: number) => ({ lower: n === 0 ? null : [String(n * 10)], upper: [String(n * 10 + 10)], keys: 10, marks: [], markKeys: 0 });
    await insertChunks(pool, t, step!.step_id, runId, [range(0), range(1), range(2)]);
    const queued = await queueMoreChunks(pool, t, step!.step_id, 2);
    expect(queued.map((chunk) => chunk.chunk_no)).toEqual([0, 1]);
    expect(await queueMoreChunks(pool, t, step!.step_id, 2)).toEqual([]);

    const [a, b] = queued;
    const batch = { checkpoint: ['5'], nextMark: 0, keys: 5, rowsChanged: 4, batchSize: 5, elapsedMs: 3 };
    await expect(recordChunkBatch(pool, t, a!.chunk_id, batch)).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(await claimChunk(pool, t, a!.chunk_id, 'w1')).toBe(true);
    await recordChunkBatch(pool, t, a!.chunk_id, batch);
    expect((await readChunk(pool, t, a!.chunk_id))).toMatchObject({ checkpoint: ['5'], keys_done: '5', rows_changed: '4', batches: 1 });

    await setChunkStatus(pool, t, a!.chunk_id, 'completed');
    await setChunkStatus(pool, t, a!.chunk_id, 'cancelled');
    expect((await readChunk(pool, t, a!.chunk_id))!.status).toBe('completed');
    expect(await claimChunk(pool, t, a!.chunk_id, 'w2')).toBe(false);
    expect(await requeueChunk(pool, t, a!.chunk_id, 0)).toBeUndefined();

    await setChunkStatus(pool, t, b!.chunk_id, 'paused');
    const requeued = await requeuePausedChunks(pool, t, { runId });
    expect(requeued.map((chunk) => [chunk.chunk_id, chunk.status, chunk.generation, chunk.migration_id])).toEqual([[b!.chunk_id, 'queued', 1, step!.migration_id]]);
    expect((await queueMoreChunks(pool, t, step!.step_id, 2)).map((chunk) => chunk.chunk_no)).toEqual([2]);
  });

  it('fails, cancels and reopens steps and chunks the way cancel and dlq retry need', async () => {
    const [backfill, plain] = await runSteps(pool, t, runId);
    expect((await queueSteps(pool, t, [backfill!.step_id, plain!.step_id])).length).toBe(2);
    expect(await claimStep(pool, t, backfill!.step_id, 'w1')).toBe(true);
    // A running backfill whose preparation committed is recorded failed by cancel; a queued plain step is not.
    await setStatementsDone(pool, t, backfill!.step_id, 1);
    expect(await failCancelledBackfills(pool, t, runId)).toEqual([backfill!.migration_id]);
    expect((await readStep(pool, t, backfill!.step_id))!.status).toBe('failed');

    await insertChunks(pool, t, backfill!.step_id, runId, [{ lower: null, upper: ['5'], keys: 5, marks: [], markKeys: 0 }, { lower: ['5'], upper: null, keys: 5, marks: [], markKeys: 0 }]);
    await cancelOpenChunks(pool, t, runId);
    const cancelled = await pool.query<{ status: string }>(`SELECT status FROM ${t.chunks} WHERE run_id = $1 ORDER BY chunk_no`, [runId]);
    expect(cancelled.rows.map((row) => row.status)).toEqual(['cancelled', 'cancelled']);
    await reopenStoppedChunks(pool, t, backfill!.step_id);
    const reopened = await pool.query<{ status: string; generation: number }>(`SELECT status, generation FROM ${t.chunks} WHERE run_id = $1 ORDER BY chunk_no`, [runId]);
    expect(reopened.rows).toEqual([{ status: 'pending', generation: 1 }, { status: 'pending', generation: 1 }]);

    await cancelSteps(pool, t, [plain!.step_id]);
    await reopenCancelledSteps(pool, t, runId, 'up');
    expect((await readStep(pool, t, plain!.step_id))!.status).toBe('pending');

    const retried = await retryFailedStep(pool, t, backfill!.step_id);
    expect([retried.status, retried.generation]).toEqual(['queued', backfill!.generation + 1]);
    // A completed step is never failed afterwards (a late duplicate's failure).
    expect(await claimStep(pool, t, plain!.step_id, 'w1')).toBe(true);
    await completeStep(pool, t, plain!.step_id);
    await failStepRow(pool, t, plain!.step_id, { message: 'late' });
    expect((await readStep(pool, t, plain!.step_id))!.status).toBe('completed');
  });

  it('records migration status, accepted checksums and backups per environment', async () => {
    const id = '2025.01.01_000000_a';
    expect(await readMigrationStatus(pool, t, id, 'staging')).toBeUndefined();
    await setMigrationStatus(pool, t, { migrationId: id, environment: 'staging', status: 'completed', checksum: 'c1', fileChecksums: { 'up.sql': 'u1' }, runId, backupTable: 'x.backup_step_1' });
    expect(await readMigrationStatus(pool, t, id, 'staging')).toMatchObject({ status: 'completed', applied_checksum: 'c1', run_id: runId, backup_table: 'x.backup_step_1' });
    await acceptChecksums(pool, t, id, 'staging', 'c2', { 'up.sql': 'u2' });
    await setMigrationStatus(pool, t, { migrationId: id, environment: 'staging', status: 'rolled_back', runId });
    // Rolling back keeps what was applied and its backup on record.
    expect(await readMigrationStatus(pool, t, id, 'staging')).toMatchObject({ status: 'rolled_back', applied_checksum: 'c2', backup_table: 'x.backup_step_1' });
    await forgetBackupTable(pool, t, 'x.backup_step_1');
    expect((await readMigrationStatus(pool, t, id, 'staging'))!.backup_table).toBeNull();
    expect(await readMigrationStatus(pool, t, id, 'development')).toBeUndefined();
  });

  it('knows which direction of work a run state allows, and where a paused run resumes', async () => {
    expect(stepMayRun({ status: 'running', direction: 'up' }, { direction: 'up' })).toBe(true);
    expect(stepMayRun({ status: 'rolling_back', direction: 'up' }, { direction: 'up' })).toBe(false);
    expect(stepMayRun({ status: 'rolling_back', direction: 'up' }, { direction: 'down' })).toBe(true);
    expect(stepMayRun({ status: 'running', direction: 'down' }, { direction: 'down' })).toBe(true);
    expect(stepMayRun({ status: 'paused', direction: 'up' }, { direction: 'up' })).toBe(false);
    const run = (await readRun(pool, t, runId))!;
    expect(await resumedStatus(pool, t, run)).toBe('running');
    await insertSteps(pool, t, runId, [{ migrationId: '2025.01.01_000000_a', direction: 'down', stage: 0, kind: 'backfill', checksum: 'x' }]);
    expect(await resumedStatus(pool, t, run)).toBe('rolling_back');
  });

  it('writes each transition as this SQL (parameters in place of values, ids as placeholders)', async () => {
    const recorder = recording(pool);
    const [step, other] = await runSteps(pool, t, runId);
    await insertChunks(pool, t, step!.step_id, runId, [{ lower: null, upper: null, keys: 1, marks: [], markKeys: 0 }]);
    const chunkId = (await pool.query<{ chunk_id: string }>(`SELECT chunk_id FROM ${t.chunks} WHERE step_id = $1`, [step!.step_id])).rows[0]!.chunk_id;
    const transitions: Array<[string, () => Promise<unknown>]> = [
      ['queueSteps', () => queueSteps(recorder, t, [step!.step_id])],
      ['claimStep', () => claimStep(recorder, t, step!.step_id, 'w1')],
      ['setStatementsDone', () => setStatementsDone(recorder, t, step!.step_id, 1)],
      ['requeueStep', () => requeueStep(recorder, t, step!.step_id, 0)],
      // Outside a transaction its row lock ends with its statement; the SQL is the same.
      ['queueMoreChunks', () => queueMoreChunks(recorder as unknown as pg.ClientBase, t, step!.step_id, 1)],
      ['claimChunk', () => claimChunk(recorder, t, chunkId, 'w1')],
      ['recordChunkBatch', () => recordChunkBatch(recorder, t, chunkId, { checkpoint: ['1'], nextMark: 0, keys: 1, rowsChanged: 1, batchSize: 1, elapsedMs: 1 })],
      ['setChunkStatus', () => setChunkStatus(recorder, t, chunkId, 'completed')],
      ['requeueChunk', () => requeueChunk(recorder, t, chunkId, 0)],
      ['requeuePausedChunks', () => requeuePausedChunks(recorder, t, { stepId: step!.step_id })],
      ['cancelOpenChunks', () => cancelOpenChunks(recorder, t, runId)],
      ['reopenStoppedChunks', () => reopenStoppedChunks(recorder, t, step!.step_id)],
      ['completeStep', () => completeStep(recorder, t, step!.step_id)],
      ['failStepRow', () => failStepRow(recorder, t, other!.step_id, { message: 'boom', sqlstate: '22012' })],
      ['retryFailedStep', () => retryFailedStep(recorder, t, other!.step_id)],
      ['cancelSteps', () => cancelSteps(recorder, t, [other!.step_id], ['queued'])],
      ['reopenCancelledSteps', () => reopenCancelledSteps(recorder, t, runId, 'up')],
      ['failCancelledBackfills', () => failCancelledBackfills(recorder, t, runId)],
      ['setMigrationStatus', () => setMigrationStatus(recorder, t, { migrationId: step!.migration_id, environment: 'development', status: 'completed', checksum: 'c', runId })],
      ['readMigrationStatus', () => readMigrationStatus(recorder, t, step!.migration_id, 'development')],
      ['acceptChecksums', () => acceptChecksums(recorder, t, step!.migration_id, 'development', 'c2', {})],
      ['forgetBackupTable', () => forgetBackupTable(recorder, t, 'b')],
      ['resumedStatus', () => resumedStatus(recorder, t, { run_id: runId, direction: 'up' })],
      ['setRunStatus', () => setRunStatus(recorder, t, runId, 'completed')],
    ];
    const written: Record<string, Array<{ sql: string; params: unknown[] }>> = {};
    for (const [name, transition] of transitions) {
      recorder.statements.length = 0;
      await transition();
      const placeholders = new Map<unknown, string>([[runId, '<run>'], [step!.step_id, '<step>'], [other!.step_id, '<other step>'], [chunkId, '<chunk>']]);
      const placeholder = (value: unknown): unknown =>
        Array.isArray(value) ? value.map(placeholder) : typeof value === 'string' && value.includes(runId) ? value.replace(runId, '<run>') : placeholders.get(value) ?? value;
      written[name] = recorder.statements.filter((statement) => statement.sql !== 'BEGIN' && statement.sql !== 'COMMIT').map((statement) => ({ sql: statement.sql, params: statement.params.map(placeholder) }));
    }
    expect(written).toMatchSnapshot();
  });
});
