import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillSchema } from '../../shared/definitions/schema.js';
import { ensureBackupTable, resolveTarget, runForwardBatch } from '../../workers/backfill.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { sleep } from '../helpers/processes.js';

const spec = backfillSchema.parse({ table: 'app.notes', set: { val: 'upper(val)' }, where: 'val <> upper(val)' });

describe('a sub-batch saves the value it actually overwrote, even when a row changes underneath it', () => {
  let db: TestDatabase;
  let worker: pg.Client;
  let writer: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('backup_race');
    await db.query(`CREATE SCHEMA app; CREATE TABLE app.notes (id int PRIMARY KEY, val text NOT NULL);
      INSERT INTO app.notes SELECT g, 'note ' || g FROM generate_series(1, 1000) g;`);
    worker = new pg.Client({ connectionString: db.url });
    writer = new pg.Client({ connectionString: db.url });
    await worker.connect();
    await writer.connect();
  });

  afterAll(async () => {
    await worker?.end();
    await writer?.end();
    await db?.drop();
  });

  it('redoes a row updated by a concurrent transaction under a row lock, backing up the new value', async () => {
    const target = await resolveTarget(worker, spec, 'test');
    await ensureBackupTable(worker, target, 'public.backup');
    // A concurrent transaction holds row 5 with a value the batch has not seen.
    await writer.query(`BEGIN; UPDATE app.notes SET val = 'written concurrently' WHERE id = 5`);
    await worker.query('BEGIN');
    const batch = runForwardBatch(worker, spec, target, 'public.backup', null, ['100']);
    await sleep(300);
    await writer.query('COMMIT');
    const result = await batch;
    await worker.query('COMMIT');

    expect(result).toBe(100);
    const row5 = await db.query(`SELECT n.val, b.val AS saved FROM app.notes n JOIN public.backup b USING (id) WHERE id = 5`);
    expect(row5.rows).toEqual([{ val: 'WRITTEN CONCURRENTLY', saved: 'written concurrently' }]);
    const all = await db.query(
      `SELECT count(*)::int AS saved, count(*) FILTER (WHERE b.val = 'note ' || b.id)::int AS original FROM public.backup b`,
    );
    expect(all.rows[0]).toEqual({ saved: 100, original: 99 });
    const changed = await db.query(`SELECT count(*)::int AS n FROM app.notes WHERE val = upper(val)`);
    expect(changed.rows[0]?.n).toBe(100);
  });
});
