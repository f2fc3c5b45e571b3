import type pg from 'pg';
import { inTransaction, type Queryable } from '../db.js';
import type { Tables } from './tables.js';

export type ChunkStatus = 'pending' | 'queued' | 'running' | 'completed' | 'failed' | 'paused' | 'cancelled';

export interface ChunkRow {
  chunk_id: string;
  step_id: string;
  run_id: string;
  chunk_no: number;
  lower_bound: string[] | null;
  upper_bound: string[] | null;
  checkpoint: string[] | null;
  status: ChunkStatus;
  generation: number;
  keys_total: string;
  keys_done: string;
  rows_changed: string;
  batches: number;
  batch_size: number | null;
  last_batch_ms: string | null;
  throttle_state: string | null;
  attempts: number;
  worker_id: string | null;
  started_at: Date | null;
  heartbeat_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
  last_sqlstate: string | null;
  /** Keys at every mark_keys-th position of the range, ascending; the upper bound is not one. */
  marks: string[][] | null;
  mark_keys: number | null;
  /** The first mark past the checkpoint. */
  next_mark: number;
}

export interface NewChunk {
  lower: string[] | null;
  upper: string[] | null;
  keys: number;
  /** Keys at every `markKeys`-th position of the range, ascending; `upper` is not one. */
  marks: string[][];
  markKeys: number;
}

export async function insertChunks(db: Queryable, t: Tables, stepId: string, runId: string, chunks: NewChunk[]): Promise<void> {
  await db.query(
    `INSERT INTO ${t.chunks} (step_id, run_id, chunk_no, lower_bound, upper_bound, keys_total, marks, mark_keys)
     SELECT $1, $2, ordinality - 1, lower_bound, upper_bound, keys, marks, mark_keys
       FROM unnest($3::jsonb[], $4::jsonb[], $5::bigint[], $6::jsonb[], $7::int[]) WITH ORDINALITY AS c(lower_bound, upper_bound, keys, marks, mark_keys)`,
    [
      stepId,
      runId,
      chunks.map((c) => JSON.stringify(c.lower)),
      chunks.map((c) => JSON.stringify(c.upper)),
      chunks.map((c) => c.keys),
      chunks.map((c) => JSON.stringify(c.marks)),
      chunks.map((c) => c.markKeys),
    ],
  );
}

/** Every column but the marks, which only the worker running a chunk needs. */
const LISTED = `chunk_id, step_id, run_id, chunk_no, lower_bound, upper_bound, checkpoint, status, generation, keys_total, keys_done,
  rows_changed, batches, batch_size, last_batch_ms, throttle_state, attempts, worker_id, started_at, heartbeat_at, finished_at,
  last_error, last_sqlstate, NULL::jsonb AS marks, mark_keys, next_mark`;

export async function stepChunks(db: Queryable, t: Tables, stepId: string): Promise<ChunkRow[]> {
  const { rows } = await db.query<ChunkRow>(`SELECT ${LISTED} FROM ${t.chunks} WHERE step_id = $1 ORDER BY chunk_no`, [stepId]);
  return rows;
}

export async function runChunks(db: Queryable, t: Tables, runId: string): Promise<ChunkRow[]> {
  const { rows } = await db.query<ChunkRow>(`SELECT ${LISTED} FROM ${t.chunks} WHERE run_id = $1 ORDER BY step_id, chunk_no`, [runId]);
  return rows;
}

export async function readChunk(db: Queryable, t: Tables, chunkId: string): Promise<ChunkRow | undefined> {
  const { rows } = await db.query<ChunkRow>(`SELECT * FROM ${t.chunks} WHERE chunk_id = $1`, [chunkId]);
  return rows[0];
}

/**
 * Queues up to `limit` more chunks of a step so that at most `limit` are queued or running:
 * the step's parallelism bound holds by construction, whatever the number of workers.
 */
export async function queueMoreChunks(db: pg.Pool | pg.ClientBase, t: Tables, stepId: string, limit: number): Promise<ChunkRow[]> {
  if ('totalCount' in db) return inTransaction(db, (client) => queueMoreChunks(client, t, stepId, limit));
  // Serialized per step (the caller's transaction holds the step row), so two chunks finishing
  // at the same instant cannot both hand out the last free slot.
  await db.query(`SELECT 1 FROM ${t.steps} WHERE step_id = $1 FOR UPDATE`, [stepId]);
  const { rows } = await db.query<ChunkRow>(
    `WITH busy AS (SELECT count(*) AS n FROM ${t.chunks} WHERE step_id = $1 AND status IN ('queued', 'running'))
     UPDATE ${t.chunks} SET status = 'queued' WHERE chunk_id IN (
       SELECT chunk_id FROM ${t.chunks} WHERE step_id = $1 AND status = 'pending'
        ORDER BY chunk_no LIMIT GREATEST(0, $2 - (SELECT n FROM busy)))
     RETURNING *`,
    [stepId, limit],
  );
  return rows;
}

/** Claims a chunk for this attempt; false when it was cancelled, paused or finished meanwhile. */
export async function claimChunk(db: Queryable, t: Tables, chunkId: string, workerId: string): Promise<boolean> {
  const result = await db.query(
    `UPDATE ${t.chunks} SET status = 'running', attempts = attempts + 1, worker_id = $2,
       started_at = COALESCE(started_at, clock_timestamp()), heartbeat_at = clock_timestamp(), throttle_state = NULL
     WHERE chunk_id = $1 AND status IN ('queued', 'running')`,
    [chunkId, workerId],
  );
  return result.rowCount === 1;
}

export async function recordChunkBatch(
  db: Queryable,
  t: Tables,
  chunkId: string,
  batch: { checkpoint: string[] | null; nextMark: number; keys: number; rowsChanged: number; batchSize: number; elapsedMs: number },
): Promise<void> {
  await db.query(
    `UPDATE ${t.chunks} SET checkpoint = $2, next_mark = $7, keys_done = keys_done + $3, rows_changed = rows_changed + $4, batches = batches + 1,
       batch_size = $5, last_batch_ms = $6, heartbeat_at = clock_timestamp(), throttle_state = NULL
     WHERE chunk_id = $1`,
    [chunkId, JSON.stringify(batch.checkpoint), batch.keys, batch.rowsChanged, batch.batchSize, batch.elapsedMs, batch.nextMark],
  );
}

/** Finished chunks stay finished: a late duplicate cannot reopen one. */
export async function setChunkStatus(db: Queryable, t: Tables, chunkId: string, status: ChunkStatus, error?: { message: string; sqlstate?: string }): Promise<void> {
  await db.query(
    `UPDATE ${t.chunks} SET status = $2, finished_at = CASE WHEN $2 IN ('completed', 'failed', 'cancelled') THEN clock_timestamp() END,
       last_error = COALESCE($3, last_error), last_sqlstate = COALESCE($4, last_sqlstate)
     WHERE chunk_id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')`,
    [chunkId, status, error?.message ?? null, error?.sqlstate ?? null],
  );
}

export async function setThrottleState(db: Queryable, t: Tables, chunkId: string, state: string | null): Promise<void> {
  await db.query(`UPDATE ${t.chunks} SET throttle_state = $2, heartbeat_at = clock_timestamp() WHERE chunk_id = $1`, [chunkId, state]);
}

/** A resumed run's paused chunks go back in line under a new generation (their old jobs ended). */
export async function requeuePausedChunks(db: Queryable, t: Tables, runId: string): Promise<Array<ChunkRow & { migration_id: string }>> {
  const { rows } = await db.query<ChunkRow & { migration_id: string }>(
    `UPDATE ${t.chunks} c SET status = 'queued', generation = c.generation + 1 FROM ${t.steps} s
      WHERE c.step_id = s.step_id AND c.run_id = $1 AND c.status = 'paused' RETURNING c.*, s.migration_id`,
    [runId],
  );
  return rows;
}
