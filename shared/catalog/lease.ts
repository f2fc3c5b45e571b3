import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';

const LEASE = 'coordinator';

/**
 * Takes or renews the coordinator lease: the holder renews it every tick; anyone may
 * take it once it expired. Returns whether `holder` is the leader now.
 */
export async function acquireLease(db: Queryable, t: Tables, holder: string, leaseMs: number): Promise<boolean> {
  const { rows } = await db.query<{ holder: string }>(
    `INSERT INTO ${t.coordinator_lease} AS l (name, holder, acquired_at, expires_at)
     VALUES ($1, $2, clock_timestamp(), clock_timestamp() + make_interval(secs => $3::float8 / 1000))
     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder,
       acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE EXCLUDED.acquired_at END,
       expires_at = EXCLUDED.expires_at
     WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp()
     RETURNING holder`,
    [LEASE, holder, leaseMs],
  );
  return rows[0]?.holder === holder;
}

export async function releaseLease(db: Queryable, t: Tables, holder: string): Promise<void> {
  await db.query(`DELETE FROM ${t.coordinator_lease} WHERE name = $1 AND holder = $2`, [LEASE, holder]);
}

/** Forgets every lease (a database copied from one whose coordinator was killed). */
export async function clearLeases(db: Queryable, t: Tables): Promise<void> {
  await db.query(`DELETE FROM ${t.coordinator_lease}`);
}

/** Who holds the coordinator lease and for how much longer (negative: expired that long ago), or undefined if nobody ever took it. */
export async function readLease(db: Queryable, t: Tables): Promise<{ holder: string; remainingMs: number } | undefined> {
  const { rows } = await db.query<{ holder: string; remaining_ms: number }>(
    `SELECT holder, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::float8 AS remaining_ms FROM ${t.coordinator_lease} WHERE name = $1`,
    [LEASE],
  );
  return rows[0] ? { holder: rows[0].holder, remainingMs: Number(rows[0].remaining_ms) } : undefined;
}
