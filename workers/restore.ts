import type pg from 'pg';
import type { NewChunk } from '../shared/catalog/chunks.js';
import { quoteIdent } from '../shared/sql/quote.js';
import type { BackfillTarget, SubBatchPlan } from './backfill.js';

/**
 * The restore of a rolled-back backfill, as chunks and sub-batches of the one batch engine.
 * A backup holds each changed key once and has no index, so it is cut by physical position:
 * a chunk is a range of whole blocks, a sub-batch the next few blocks of it (a TID range
 * scan), and the checkpoint the next block to read. Ranges are independent, so the chunks
 * run across the fleet in any order; putting a saved value back twice is harmless.
 */

/** Splits a backup into ranges of whole blocks of about `chunkRows` rows each, counted exactly in one scan. */
export async function splitBackup(client: pg.ClientBase, backupTable: string, chunkRows: number): Promise<NewChunk[]> {
  const { rows: size } = await client.query<{ blocks: string; rows: string }>(
    `SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int AS blocks, (SELECT count(*) FROM ${backupTable}) AS rows`,
    [backupTable],
  );
  const blocks = Number(size[0]!.blocks);
  const total = Number(size[0]!.rows);
  if (total === 0) return [];
  const blocksPerChunk = Math.max(1, Math.floor(chunkRows / Math.max(1, Math.ceil(total / blocks))));
  const { rows: counts } = await client.query<{ chunk: string; rows: string }>(
    `SELECT ((ctid::text::point)[0]::bigint / $1) AS chunk, count(*) AS rows FROM ${backupTable} GROUP BY 1`,
    [blocksPerChunk],
  );
  const rowsIn = new Map(counts.map((row) => [Number(row.chunk), Number(row.rows)]));
  const chunks: NewChunk[] = [];
  for (let first = 0; first < blocks; first += blocksPerChunk) {
    const keys = rowsIn.get(first / blocksPerChunk) ?? 0;
    if (keys > 0) chunks.push({ lower: [String(first)], upper: [String(Math.min(blocks, first + blocksPerChunk))], keys, marks: [], markKeys: 0 });
  }
  return chunks;
}

/** A restore chunk's sub-batches: the next blocks after the checkpoint, as many as hold about `size` rows. */
export class RestoreBounds {
  private readonly end: number;
  private readonly rowsPerBlock: number;

  constructor(chunk: { lower_bound: string[] | null; upper_bound: string[] | null; keys_total: string }) {
    const start = Number(chunk.lower_bound?.[0] ?? 0);
    this.end = Number(chunk.upper_bound![0]);
    this.rowsPerBlock = Math.max(1, Math.ceil(Number(chunk.keys_total) / Math.max(1, this.end - start)));
  }

  async plan(_client: pg.ClientBase, lower: string[] | null, size: number): Promise<SubBatchPlan> {
    const from = Number(lower?.[0] ?? 0);
    // Whole blocks, rounded down: the rows reserved under the rate limit are an upper bound of the rows restored.
    const to = Math.min(this.end, from + Math.max(1, Math.floor(size / this.rowsPerBlock)));
    return { upper: [String(to)], keys: (to - from) * this.rowsPerBlock, done: to >= this.end, nextMark: 0, onMark: false };
  }

  advance(): void {}
}

/** One restore sub-batch: puts back the saved old values stored in the backup's blocks [lower, upper). */
export async function runRestoreBatch(client: pg.ClientBase, target: BackfillTarget, backupTable: string, lower: string[] | null, upper: string[] | null): Promise<number> {
  const assignments = target.columns.map((c) => `${quoteIdent(c.name)} = b.${quoteIdent(c.name)}`).join(', ');
  const join = target.keys.map((k) => `t.${quoteIdent(k.name)} = b.${quoteIdent(k.name)}`).join(' AND ');
  const result = await client.query(
    `UPDATE ${target.table} AS t SET ${assignments}
       FROM (SELECT * FROM ${backupTable} WHERE ctid >= format('(%s,0)', $1::bigint)::tid AND ctid < format('(%s,0)', $2::bigint)::tid) AS b
      WHERE ${join}`,
    [Number(lower?.[0] ?? 0), Number(upper![0])],
  );
  return result.rowCount ?? 0;
}
