import type { ChunkRow } from './chunks.js';

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
