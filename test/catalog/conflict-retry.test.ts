/**
 * An operator's change that PostgreSQL aborts as one side of a real deadlock runs again and
 * succeeds, instead of failing the command; other errors are not retried.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, inConflictRetriedTransaction, inTransaction } from '../../shared/db.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/** Waits until the backend `pid` waits for a lock. */
async function waitForLockWait(pool: pg.Pool, pid: number): Promise<void> {
  for (let tries = 0; tries < 400; tries++) {
    const { rows } = await pool.query<{ waiting: boolean }>(`SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1`, [pid]);
    if (rows[0]?.waiting) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}

describe('a transaction retried on conflicts', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase('conflict_retry');
    pool = createPool(db.url, { max: 6 });
    await pool.query(`CREATE TABLE item (id int PRIMARY KEY, v int NOT NULL); INSERT INTO item VALUES (1, 0), (2, 0)`);
  });

  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('runs again from the start after PostgreSQL aborted it as a deadlock victim, keeping nothing of the aborted attempt', { timeout: 20_000 }, async () => {
    const other = await pool.connect();
    let attempts = 0;
    let victimPid = 0;
    try {
      // The other session must not be the victim: only the retried transaction detects the deadlock.
      await other.query(`SET deadlock_timeout = '10s'`);
      await other.query('BEGIN');
      await other.query('UPDATE item SET v = v + 100 WHERE id = 1');
      const retried = inConflictRetriedTransaction(pool, async (client) => {
        attempts++;
        if (attempts === 1) {
          victimPid = (client as unknown as { processID: number }).processID;
          await client.query(`SET LOCAL deadlock_timeout = '100ms'`);
        }
        await client.query('UPDATE item SET v = v + 1 WHERE id = 2');
        await client.query('UPDATE item SET v = v + 1 WHERE id = 1');
        return attempts;
      });
      await waitForLockWait(pool, await new Promise<number>((resolve) => {
        const poll = () => (victimPid ? resolve(victimPid) : setTimeout(poll, 10));
        poll();
      }));
      // Closes the cycle: the retried transaction waits for row 1, this waits for row 2.
      const closing = other.query('UPDATE item SET v = v + 100 WHERE id = 2');
      await closing;
      await other.query('COMMIT');
      expect(await retried).toBe(2);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      other.release();
    }
    const { rows } = await pool.query<{ id: number; v: number }>('SELECT id, v FROM item ORDER BY id');
    expect(rows).toEqual([{ id: 1, v: 101 }, { id: 2, v: 101 }]);
  });

  it('does not retry an error that is not a conflict, and plain transactions never retry', async () => {
    let attempts = 0;
    await expect(
      inConflictRetriedTransaction(pool, async (client) => {
        attempts++;
        await client.query('SELECT 1/0');
      }),
    ).rejects.toMatchObject({ code: '22012' });
    expect(attempts).toBe(1);
    let plain = 0;
    await expect(
      inTransaction(pool, async (client) => {
        plain++;
        await client.query(`DO $$ BEGIN RAISE EXCEPTION 'a deadlock' USING ERRCODE = '40P01'; END $$`);
      }),
    ).rejects.toMatchObject({ code: '40P01' });
    expect(plain).toBe(1);
  });
});
