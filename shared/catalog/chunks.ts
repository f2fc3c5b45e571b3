import type { Queryable } from '../db.js';
import type { Tables } from './tables.js';
import type { ChunkStatus } from './statuses.js';

export type { ChunkStatus };

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

const LISTED_COLUMNS = [
  'chunk_id', 'step_id', 'run_id', 'chunk_no', 'lower_bound', 'upper_bound', 'checkpoint', 'status', 'generation', 'keys_total', 'keys_done',
  'rows_changed', 'batches', 'batch_size', 'last_batch_ms', 'throttle_state', 'attempts', 'worker_id', 'started_at', 'heartbeat_at', 'finished_at',
  'last_error', 'last_sqlstate', 'mark_keys', 'next_mark',
];

/** Every column but the marks, which only the worker running a chunk needs (optionally of a table alias). */
export const listedChunkColumns = (alias?: string) => [...LISTED_COLUMNS.map((column) => (alias ? `${alias}.${column}` : column)), 'NULL::jsonb AS marks'].join(', ');

const LISTED = listedChunkColumns();

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

