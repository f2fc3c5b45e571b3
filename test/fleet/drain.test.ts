/**
 * SIGTERM drains a worker the way an orchestrator stops it: the chunk in flight stops at its
 * sub-batch boundary and is handed back (an info line, no warning with a stack), the process
 * exits 0, and another worker finishes the backfill with every row changed exactly once.
 */
import { describe, expect, it } from 'vitest';
import { startFleetFixture, waitForRunEnd, type MigrationSpec } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/processes.js';

const ROWS = 20_000;
const MIGRATIONS: MigrationSpec[] = [
  { id: '2025.10.01_000000_table', up: `CREATE TABLE dr (id int PRIMARY KEY, v text NOT NULL);\nINSERT INTO dr SELECT g, 'x' FROM generate_series(1, ${ROWS}) g;`, down: 'DROP TABLE dr;' },
  { id: '2025.10.01_000001_mark', up: 'SELECT 1;', meta: { type: 'data', backfill: { table: 'dr', set: { v: "v || '!'" }, max_rows_per_second: 4000, initial_batch_size: 500, max_batch_size: 500 } } },
];

describe('a worker drained with SIGTERM', () => {
  it('hands its chunk back without a warning, exits 0, and the backfill completes exactly once elsewhere', async () => {
    const fixture = await startFleetFixture('drain', MIGRATIONS, { workers: 0 });
    try {
      const first = fixture.fleet.worker({ LOG_LEVEL: 'info' });
      await waitFor('the worker', async () => first.output.some((line) => /"msg":"worker started"/.test(line)), 30_000, 100);
      const up = await fixture.cli(['up', '--json']);
      const runId = String(JSON.parse(up.stdout.split('\n').at(-1)!)['runId']);
      await waitFor('the backfill to be under way', async () => (await fixture.db.query(`SELECT 1 FROM dr WHERE v = 'x!' LIMIT 1`).catch(() => ({ rowCount: 0 }))).rowCount === 1, 30_000, 100);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(first.output.some((line) => /"msg":"chunk handed back"/.test(line))).toBe(true);
      const warnings = first.output.filter((line) => /"level":(40|50)/.test(line));
      expect(warnings, warnings.join('\n')).toEqual([]);
      expect(first.output.some((line) => /^\s+at /.test(line) || line.includes('"stack"'))).toBe(false);
      fixture.fleet.worker();
      expect((await waitForRunEnd(fixture.db, runId, 60_000, () => fixture.fleet.logs())).status).toBe('completed');
      const { rows } = await fixture.db.query<{ v: string; n: number }>(`SELECT v, count(*)::int AS n FROM dr GROUP BY v`);
      expect(rows).toEqual([{ v: 'x!', n: ROWS }]);
    } finally {
      await fixture.stop();
    }
  }, 120_000);
});
