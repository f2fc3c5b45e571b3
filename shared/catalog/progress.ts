import type { Queryable } from '../db.js';
import { listedChunkColumns, type ChunkRow } from './chunks.js';
import { catalogExists } from './state.js';
import type { Tables } from './tables.js';

/** Totals of a backfill's chunks; the rate is over the time its chunks have been running. */
export function backfillProgress(chunks: ChunkRow[]) {
  const keysTotal = chunks.reduce((sum, c) => sum + Number(c.keys_total), 0);
  const keysDone = chunks.reduce((sum, c) => sum + Number(c.keys_done), 0);
  const rowsChanged = chunks.reduce((sum, c) => sum + Number(c.rows_changed), 0);
  const starts = chunks.map((c) => c.started_at?.getTime()).filter((v): v is number => v !== undefined);
  const ends = chunks.map((c) => (c.status === 'completed' ? c.finished_at : c.heartbeat_at)?.getTime()).filter((v): v is number => v !== undefined);
  const elapsed = starts.length && ends.length ? (Math.max(...ends) - Math.min(...starts)) / 1000 : 0;
  const rowsPerSecond = elapsed > 0 ? Math.round(keysDone / elapsed) : 0;
  return {
    chunkIds: chunks.map((c) => c.chunk_id),
    keysTotal,
    keysDone,
    rowsChanged,
    percent: keysTotal ? Math.round((keysDone * 1000) / keysTotal) / 10 : 100,
    rowsPerSecond,
    etaSeconds: rowsPerSecond > 0 ? Math.round((keysTotal - keysDone) / rowsPerSecond) : null,
  };
}

export interface FleetCounts {
  runs: Array<{ status: string; n: number }>;
  steps: Array<{ status: string; n: number }>;
  chunks: Array<{ status: string; n: number }>;
  /** Attempts beyond the first, over all steps and chunks. */
  retries: number;
  /** Chunks of running or paused runs (without their marks), each with its migration. */
  openChunks: Array<ChunkRow & { migration_id: string }>;
}

/** What /metrics reports from the catalog; null before the catalog exists. */
export async function fleetCounts(db: Queryable, t: Tables): Promise<FleetCounts | null> {
  if (!(await catalogExists(db, t))) return null;
  const count = async (table: string) => (await db.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM ${table} GROUP BY status`)).rows;
  const { rows: attempts } = await db.query<{ n: string }>(
    `SELECT (SELECT COALESCE(sum(GREATEST(attempts - 1, 0)), 0) FROM ${t.steps}) + (SELECT COALESCE(sum(GREATEST(attempts - 1, 0)), 0) FROM ${t.chunks}) AS n`,
  );
  const { rows: openChunks } = await db.query<ChunkRow & { migration_id: string }>(
    `SELECT ${listedChunkColumns('c')}, s.migration_id
       FROM ${t.chunks} c JOIN ${t.steps} s USING (step_id) JOIN ${t.runs} r ON r.run_id = c.run_id
      WHERE r.status IN ('running', 'paused', 'rolling_back')`,
  );
  return { runs: await count(t.runs), steps: await count(t.steps), chunks: await count(t.chunks), retries: Number(attempts[0]?.n ?? 0), openChunks };
}

/**
 * The backfill work of a whole catalog so far, for benchmarks: keys and rows done, and the
 * time from the first chunk's start to the last one's end (or to now while chunks run).
 */
export async function chunkTotals(db: Queryable, t: Tables): Promise<{ seconds: number | null; keysDone: number; rowsChanged: number; finished: boolean }> {
  const { rows } = await db.query<{ seconds: number | null; keys: string | null; changed: string | null; open: number }>(
    `SELECT extract(epoch FROM CASE WHEN count(*) FILTER (WHERE finished_at IS NULL) = 0 THEN max(finished_at) ELSE clock_timestamp() END - min(started_at))::float8 AS seconds,
            sum(keys_done) AS keys, sum(rows_changed) AS changed, count(*) FILTER (WHERE finished_at IS NULL)::int AS open
       FROM ${t.chunks}`,
  );
  const row = rows[0]!;
  return { seconds: row.seconds, keysDone: Number(row.keys ?? 0), rowsChanged: Number(row.changed ?? 0), finished: row.open === 0 };
}
