import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewChunk } from '../../shared/catalog/chunks.js';
import { backfillSchema } from '../../shared/definitions/schema.js';
import { resolveTarget, splitKeySpace, SubBatchBounds, type BackfillTarget, type SubBatchPlan } from '../../workers/backfill.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/** Plans, "commits" and advances batches of `size` keys from `lower` to the end of the range; returns each batch's range. */
async function walk(client: pg.ClientBase, bounds: SubBatchBounds, lower: string[] | null, size: number): Promise<SubBatchPlan[]> {
  const plans: SubBatchPlan[] = [];
  for (;;) {
    const plan = await bounds.plan(client, lower, size);
    bounds.advance(plan);
    plans.push(plan);
    if (plan.done) return plans;
    lower = plan.upper;
  }
}

describe('sub-batch bounds from the marks taken at split time', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let target: BackfillTarget;
  let ranges: NewChunk[];
  const keysIn = async (lower: string[] | null, upper: string[] | null) =>
    Number(
      (await client.query(`SELECT count(*) AS n FROM app.items WHERE ($1::int IS NULL OR id > $1) AND ($2::int IS NULL OR id <= $2)`, [lower?.[0] ?? null, upper?.[0] ?? null]))
        .rows[0].n,
    );

  beforeAll(async () => {
    db = await createTestDatabase('sub_batch_bounds');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // Keys 10, 20, ..., 100000: marks must be keys, not positions.
    await client.query(`CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, val text);
      INSERT INTO app.items SELECT g * 10, 'v' FROM generate_series(1, 10000) g;`);
    await client.query('VACUUM ANALYZE app.items');
    target = await resolveTarget(client, backfillSchema.parse({ table: 'app.items', set: { val: "'w'" } }), 'test');
    ranges = await splitKeySpace(client, target, 4000, 100);
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('splits into ranges of whole chunks with a mark every markKeys keys, the upper bound excluded', () => {
    expect(ranges.map((r) => [r.lower, r.upper, r.keys, r.marks.length])).toEqual([
      [null, ['40000'], 4000, 39],
      [['40000'], ['80000'], 4000, 39],
      [['80000'], null, 2000, 19],
    ]);
    expect(ranges[0]!.marks.slice(0, 3)).toEqual([['1000'], ['2000'], ['3000']]);
    expect(ranges[1]!.marks.at(-1)).toEqual(['79000']);
  });

  it('ends batches on whole marks, walks the index for a batch smaller than a mark, and gets back on the marks', async () => {
    const range = ranges[0]!;
    const bounds = new SubBatchBounds(target, range.marks, range.markKeys, range.upper, { lower: null, rangeLower: null, nextMark: 0 });
    const first = await bounds.plan(client, null, 250);
    expect(first).toMatchObject({ upper: ['2000'], keys: 200, done: false, nextMark: 2, onMark: true });
    bounds.advance(first);
    const small = await bounds.plan(client, first.upper, 30);
    expect(small).toMatchObject({ upper: ['2300'], done: false, nextMark: 2, onMark: false });
    bounds.advance(small);
    // Between marks: a walk, stopped at the next mark.
    const back = await bounds.plan(client, small.upper, 500);
    expect(back).toMatchObject({ upper: ['3000'], done: false, nextMark: 3, onMark: true });
    bounds.advance(back);
    const rest = await walk(client, bounds, back.upper, 1000);
    expect(rest.at(-1)).toMatchObject({ upper: ['40000'], done: true });
    // Every key of the range is in exactly one batch, and none is larger than asked.
    const uppers = [first, small, back, ...rest].map((p) => p.upper);
    let lower: string[] | null = null;
    let total = 0;
    for (const upper of uppers) {
      const keys = await keysIn(lower, upper);
      expect(keys).toBeLessThanOrEqual(1000);
      total += keys;
      lower = upper;
    }
    expect(total).toBe(4000);
  });

  it('resumes from a checkpoint between marks by walking to the next one', async () => {
    const range = ranges[1]!;
    const bounds = new SubBatchBounds(target, range.marks, range.markKeys, range.upper, { lower: ['41230'], rangeLower: range.lower, nextMark: 1 });
    const plan = await bounds.plan(client, ['41230'], 1000);
    expect(plan).toMatchObject({ upper: ['42000'], nextMark: 2, onMark: true });
  });

  it('keeps batches to their size past the last mark, where rows were inserted after the split', async () => {
    await client.query(`INSERT INTO app.items SELECT 100000 + g, 'v' FROM generate_series(1, 5000) g`);
    const range = ranges[2]!;
    const bounds = new SubBatchBounds(target, range.marks, range.markKeys, range.upper, { lower: range.lower, rangeLower: range.lower, nextMark: 0 });
    const plans = await walk(client, bounds, range.lower, 600);
    expect(plans.at(-1)).toMatchObject({ upper: null, done: true });
    let lower = range.lower;
    let total = 0;
    for (const plan of plans) {
      const keys = await keysIn(lower, plan.upper);
      expect(keys).toBeLessThanOrEqual(600);
      total += keys;
      lower = plan.upper;
    }
    expect(total).toBe(7000);
  });
});
