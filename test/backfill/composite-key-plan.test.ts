import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillSchema, type BackfillSpec } from '../../shared/definitions/schema.js';
import { quoteIdent } from '../../shared/sql/quote.js';
import { ensureBackupTable, nextBoundary, resolveTarget, runForwardBatch, splitKeySpace, type BackfillTarget } from '../../workers/backfill.js';
import { rangePredicate, type KeyColumn, type RangeUse } from '../../workers/key-range.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { SeededRandom } from '../helpers/random.js';

/**
 * Issue 10, item 8: a keyset range over a composite key, written as a row comparison, was
 * estimated from its first column alone (17,854 rows for 43 keys within one tenant), the
 * sub-batch UPDATE became a hash join over a full scan and the adaptive size fell to one key.
 * These tests read the plans PostgreSQL makes for the statements the backfill really sends.
 */

type PlanNode = Record<string, unknown> & { 'Node Type': string; 'Plan Rows': number; 'Actual Rows'?: number; 'Actual Loops'?: number; Plans?: PlanNode[] };

const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

/** The old predicate: a plain row comparison (the reference the expansion must agree with). */
function rowComparison(keys: readonly KeyColumn[], lower: string[] | null, upper: string[] | null, params: unknown[]): string {
  const list = keys.map((k) => quoteIdent(k.name)).join(', ');
  const bind = (values: string[]) => {
    const first = params.length + 1;
    params.push(...values);
    return keys.map((k, i) => `$${first + i}::${k.type}`).join(', ');
  };
  const parts: string[] = [];
  if (lower) parts.push(`(${list}) > (${bind(lower)})`);
  if (upper) parts.push(`(${list}) <= (${bind(upper)})`);
  return parts.length ? parts.join(' AND ') : 'true';
}

interface Explained {
  sql: string;
  plan: PlanNode;
}

/**
 * A client that, before running a statement on the table under test, runs it once under
 * EXPLAIN (ANALYZE, FORMAT JSON) in a savepoint it rolls back, so the plan recorded is the one
 * PostgreSQL chose for exactly that SQL and those parameters. Needs an open transaction.
 */
function explainingClient(client: pg.Client, table: string, recorded: Explained[]): pg.Client {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'query') return Reflect.get(target, property, receiver);
      return async (text: string, values?: unknown[]) => {
        if (text.includes(table)) {
          await target.query('SAVEPOINT explain');
          const { rows } = await target.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
          await target.query('ROLLBACK TO SAVEPOINT explain');
          recorded.push({ sql: text, plan: (rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan });
        }
        return target.query(text, values);
      };
    },
  });
}

/** Scan nodes that read the table (or one of its partitions) to find rows by the key range; TID lookups aside. */
function rangeScans(plan: PlanNode, relations: string[]): PlanNode[] {
  return nodes(plan).filter(
    (node) => relations.includes(node['Relation Name'] as string) && ['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan', 'Seq Scan'].includes(node['Node Type']),
  );
}

/** Estimated and actual rows (per loop) of the range scans, summed over partitions. */
function estimateAndActual(plan: PlanNode, relations: string[]): { estimated: number; actual: number } {
  const scans = rangeScans(plan, relations);
  return { estimated: scans.reduce((sum, n) => sum + n['Plan Rows'], 0), actual: scans.reduce((sum, n) => sum + (n['Actual Rows'] ?? 0), 0) };
}

function expectWithin10x(estimated: number, actual: number, what: string): void {
  const ratio = Math.max(estimated, 1) / Math.max(actual, 1);
  expect(ratio, `${what}: estimated ${estimated} rows, found ${actual}`).toBeLessThanOrEqual(10);
  expect(ratio, `${what}: estimated ${estimated} rows, found ${actual}`).toBeGreaterThanOrEqual(0.1);
}

/** No full scan of the table (so no hash join over one either): the range is found through the key index. */
function expectNoFullScan(plan: PlanNode, relations: string[], what: string): void {
  const types = nodes(plan).map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`);
  expect(types.filter((t) => t.startsWith('Seq Scan') && relations.some((r) => t.endsWith(` on ${r}`))), `${what}: ${types.join(', ')}`).toEqual([]);
  expect(rangeScans(plan, relations).length, `${what}: ${types.join(', ')}`).toBeGreaterThan(0);
}

/** An ordered walk: the table is read by index scans in key order (no bitmap, no sort of the keys, no full scan). */
function expectOrderedIndexWalk(plan: PlanNode, relations: string[], what: string): void {
  const all = nodes(plan);
  const types = all.map((n) => `${n['Node Type']}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`).join(', ');
  const scans = rangeScans(plan, relations);
  expect(scans.length, `${what}: ${types}`).toBeGreaterThan(0);
  expect(scans.every((n) => n['Node Type'] === 'Index Only Scan' || n['Node Type'] === 'Index Scan'), `${what}: ${types}`).toBe(true);
  // The split sorts its few hundred marks by position; nothing may sort the rows by key.
  const sorts = all.filter((n) => n['Node Type'] === 'Sort' && !(n['Sort Key'] as string[]).every((key) => key.includes('position')));
  expect(sorts, `${what}: ${types}`).toEqual([]);
}

const SPEC = { set: { payload: 'upper(payload)' }, where: 'payload <> upper(payload)' };

describe('composite-key ranges are planned as index range scans with sane estimates', () => {
  let db: TestDatabase;
  let client: pg.Client;
  const tables: Record<string, { spec: BackfillSpec; target: BackfillTarget; relations: string[]; keys: string[][] }> = {};

  beforeAll(async () => {
    db = await createTestDatabase('composite_key_plan');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`CREATE SCHEMA kp;
      -- 150k rows keyed by (tenant, id), 50 tenants, ids unique across tenants, rows in random physical order.
      CREATE TABLE kp.items (tenant int NOT NULL, id bigint NOT NULL, payload text NOT NULL, PRIMARY KEY (tenant, id));
      INSERT INTO kp.items SELECT 1 + (hashint4(g) & 2147483647) % 50, g, 'payload ' || md5(g::text) FROM generate_series(1, 150000) g ORDER BY md5(g::text);
      -- 150k rows keyed by (id, created_on), partitioned by range of created_on.
      CREATE TABLE kp.events (id bigint NOT NULL, created_on date NOT NULL, payload text NOT NULL, PRIMARY KEY (id, created_on)) PARTITION BY RANGE (created_on);
      CREATE TABLE kp.events_2024 PARTITION OF kp.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      CREATE TABLE kp.events_2025 PARTITION OF kp.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE TABLE kp.events_2026 PARTITION OF kp.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      INSERT INTO kp.events SELECT g, date '2024-01-01' + (g * 1095 / 150000), 'payload ' || md5(g::text) FROM generate_series(1, 150000) g;
      -- Single-column keys, whose plans must not change.
      CREATE TABLE kp.uitems (id uuid PRIMARY KEY, payload text NOT NULL);
      INSERT INTO kp.uitems SELECT md5('u' || g)::uuid, 'payload ' || g FROM generate_series(1, 50000) g;
      CREATE TABLE kp.iitems (id bigint PRIMARY KEY, payload text NOT NULL);
      INSERT INTO kp.iitems SELECT g * 3, 'payload ' || g FROM generate_series(1, 50000) g;`);
    await client.query('VACUUM ANALYZE kp.items, kp.events, kp.uitems, kp.iitems');
    for (const [table, relations] of [
      ['kp.items', ['items']],
      ['kp.events', ['events', 'events_2024', 'events_2025', 'events_2026']],
      ['kp.uitems', ['uitems']],
      ['kp.iitems', ['iitems']],
    ] as const) {
      const spec = backfillSchema.parse({ table, ...SPEC });
      const target = await resolveTarget(client, spec, 'test');
      const columns = target.keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(', ');
      const order = target.keys.map((k) => quoteIdent(k.name)).join(', ');
      const { rows } = await client.query({ text: `SELECT ${columns} FROM ${table} ORDER BY ${order}`, rowMode: 'array' });
      tables[table] = { spec, target, relations: [...relations], keys: rows as string[][] };
    }
  }, 120_000);

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  /** Ranges (keys[from], keys[to]] of one table, by position in key order; null: unbounded. */
  const range = (table: string, from: number | null, to: number | null) => {
    const { keys } = tables[table]!;
    return { from, lower: from === null ? null : keys[from]!, upper: to === null ? null : keys[to]! };
  };
  /** Small ranges: inside one prefix value (tenant), across a prefix boundary, the table's first and last. */
  const smallRanges = (table: string) => {
    const { keys } = tables[table]!;
    const boundary = keys.findIndex((key, i) => i > 20_000 && key[0] !== keys[i - 1]![0]);
    return [
      { label: '43 keys inside one prefix', ...range(table, 20_000, 20_043), count: 43 },
      { label: '300 keys across a prefix boundary', ...range(table, boundary - 150, boundary + 150), count: 300 },
      { label: 'the first 250 keys', ...range(table, null, 249), count: 250 },
      { label: 'the last 100 keys', ...range(table, keys.length - 101, null), count: 100 },
    ];
  };

  for (const table of ['kp.items', 'kp.events']) {
    it(`${table}: the range predicate alone is an index scan estimated within 10x`, async () => {
      const { target, relations } = tables[table]!;
      for (const { label, lower, upper, count } of smallRanges(table)) {
        const params: unknown[] = [];
        const predicate = rangePredicate(target, lower, upper, params);
        const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM ${table} WHERE ${predicate}`, params);
        const plan = (rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan;
        expectNoFullScan(plan, relations, `${table}, ${label}`);
        const { estimated, actual } = estimateAndActual(plan, relations);
        expect(actual).toBe(count);
        expectWithin10x(estimated, actual, `${table}, ${label}`);
      }
    });

    it(`${table}: the sub-batch statement reads its snapshot by index, estimated within 10x, with no full scan`, async () => {
      const { spec, target, relations } = tables[table]!;
      await client.query('BEGIN');
      try {
        await ensureBackupTable(client, target, 'pg_temp.backup');
        for (const { label, lower, upper, count } of smallRanges(table)) {
          const recorded: Explained[] = [];
          await client.query('SAVEPOINT one_batch');
          const changed = await runForwardBatch(explainingClient(client, target.table, recorded), spec, target, 'pg_temp.backup', lower, upper);
          await client.query('ROLLBACK TO SAVEPOINT one_batch');
          expect(changed, label).toBe(count);
          expect(recorded.length, label).toBe(1);
          const plan = recorded[0]!.plan;
          expectNoFullScan(plan, relations, `${table}, sub-batch, ${label}`);
          const { estimated, actual } = estimateAndActual(plan, relations);
          expect(actual, label).toBe(count);
          expectWithin10x(estimated, actual, `${table}, sub-batch snapshot, ${label}`);
        }
      } finally {
        await client.query('ROLLBACK');
      }
    });

    it(`${table}: the boundary walk and the split stay ordered index scans`, async () => {
      const { target, relations, keys } = tables[table]!;
      const recorded: Explained[] = [];
      const explaining = explainingClient(client, target.table, recorded);
      await client.query('BEGIN');
      try {
        for (const { label, from, lower, upper, count } of smallRanges(table)) {
          // More keys asked for than the range holds: the walk reads all of it and finds no boundary.
          expect(await nextBoundary(explaining, target, lower, count + 1, upper), label).toBeNull();
          const plan = recorded.pop()!.plan;
          expectOrderedIndexWalk(plan, relations, `${table}, boundary walk, ${label}`);
          const { estimated, actual } = estimateAndActual(plan, relations);
          expect(actual, label).toBe(count);
          // Bounds that share their first column become equalities and an exact estimate; bounds
          // that differ keep the row comparison (the only range an ordered scan can walk on
          // PostgreSQL 15), estimated from the first column: harmless under LIMIT.
          if (lower && upper && lower[0] === upper[0]) expectWithin10x(estimated, actual, `${table}, boundary walk, ${label}`);
          expect(await nextBoundary(explaining, target, lower, 20, upper), label).toEqual(keys[from === null ? 19 : from + 20]);
          expectOrderedIndexWalk(recorded.pop()!.plan, relations, `${table}, boundary walk of 20 keys, ${label}`);
        }
        const chunks = await splitKeySpace(explaining, target, 40_000, 250);
        expect(chunks.map((c) => c.keys)).toEqual([40_000, 40_000, 40_000, 30_000]);
        expect(recorded.length).toBe(4);
        for (const { plan } of recorded) expectOrderedIndexWalk(plan, relations, `${table}, split`);
      } finally {
        await client.query('ROLLBACK');
      }
    });
  }

  it('single-column keys keep exactly the plans of the plain comparison', async () => {
    for (const table of ['kp.uitems', 'kp.iitems']) {
      const { target } = tables[table]!;
      const bounds = [
        range(table, 20_000, 20_043),
        range(table, 1_000, 21_000),
        range(table, null, 249),
        range(table, 49_900, null),
        range(table, null, null),
      ];
      for (const { lower, upper } of bounds) {
        for (const statement of [
          (where: string) => `SELECT * FROM ${table} WHERE ${where}`,
          (where: string) => `SELECT id::text AS k FROM ${table} WHERE ${where} ORDER BY id OFFSET 19 LIMIT 1`,
          (where: string) => `UPDATE ${table} SET payload = upper(payload) WHERE ${where} AND payload <> upper(payload)`,
        ]) {
          const plans: unknown[] = [];
          for (const build of [rowComparison, (k: readonly KeyColumn[], l: string[] | null, u: string[] | null, p: unknown[]) => rangePredicate({ keys: k }, l, u, p)]) {
            const params: unknown[] = [];
            const where = build(target.keys, lower, upper, params);
            plans.push((await client.query(`EXPLAIN (FORMAT JSON, COSTS) ${statement(where)}`, params)).rows[0]['QUERY PLAN']);
          }
          expect(plans[1], `${table} ${statement('…')} (${lower}, ${upper}]`).toEqual(plans[0]);
        }
      }
    }
  });
});

describe('the range predicate selects exactly the keys of the row comparison', () => {
  let db: TestDatabase;
  let client: pg.Client;
  const SEED = Number(process.env['KEY_RANGE_SEED'] ?? 20261201);

  beforeAll(async () => {
    db = await createTestDatabase('key_range_predicate');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // Small domains, so random bounds often share prefixes with each other and with rows;
    // text in the database's collation (the bound parameters carry the default collation too).
    await client.query(`CREATE SCHEMA kr;
      CREATE TABLE kr.one (a int PRIMARY KEY);
      INSERT INTO kr.one SELECT g FROM generate_series(1, 400) g WHERE hashint4(g) % 2 = 0;
      CREATE TABLE kr.two (a int NOT NULL, b bigint NOT NULL, PRIMARY KEY (a, b));
      INSERT INTO kr.two SELECT a, b FROM generate_series(1, 12) a, generate_series(1, 40) b WHERE hashint4(a * 100 + b) % 3 <> 0;
      CREATE TABLE kr.three (a int NOT NULL, b text NOT NULL, c date NOT NULL, PRIMARY KEY (a, b, c));
      INSERT INTO kr.three SELECT a, b, c FROM generate_series(1, 8) a, unnest(ARRAY['a', 'B', 'b', 'é', 'e', 'zz', 'Z']) b,
             generate_series(date '2025-01-01', date '2025-01-08', interval '1 day') c WHERE hashint4(a * 1000 + length(b) * 37 + ascii(b) + extract(day FROM c)::int) % 2 = 0;
      ANALYZE kr.one, kr.two, kr.three;`);
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  const pick = <T>(next: () => number, values: T[]) => values[Math.floor(next() * values.length)]!;

  for (const [table, keys, values] of [
    ['kr.one', [{ name: 'a', type: 'integer' }], [(n: () => number) => String(Math.floor(n() * 420) - 10)]],
    [
      'kr.two',
      [
        { name: 'a', type: 'integer' },
        { name: 'b', type: 'bigint' },
      ],
      [(n: () => number) => String(Math.floor(n() * 14)), (n: () => number) => String(Math.floor(n() * 43))],
    ],
    [
      'kr.three',
      [
        { name: 'a', type: 'integer' },
        { name: 'b', type: 'text' },
        { name: 'c', type: 'date' },
      ],
      [
        (n: () => number) => String(Math.floor(n() * 10)),
        (n: () => number) => pick(n, ['a', 'B', 'b', 'é', 'e', 'zz', 'Z', 'A', 'c', '']),
        (n: () => number) => `2025-01-${String(1 + Math.floor(n() * 9)).padStart(2, '0')}`,
      ],
    ],
  ] as const) {
    it(`${keys.length}-column key: 400 random ranges, with shared prefixes, equal and NULL bounds`, async () => {
      const rng = new SeededRandom(SEED + keys.length);
      const next = () => rng.next();
      const order = keys.map((k) => quoteIdent(k.name)).join(', ');
      const columns = keys.map((k, i) => `${quoteIdent(k.name)}::text AS k${i}`).join(', ');
      const existing = (await client.query({ text: `SELECT ${columns} FROM ${table} ORDER BY ${order}`, rowMode: 'array' })).rows as string[][];
      const randomKey = () => (next() < 0.5 ? [...pick(next, existing)] : values.map((value) => value(next)));
      const selected = async (where: string, params: unknown[]) =>
        (await client.query({ text: `SELECT ${columns} FROM ${table} WHERE ${where} ORDER BY ${order}`, values: params, rowMode: 'array' })).rows.map((r: string[]) => r.join('|'));
      const stats = { sharedPrefix: 0, equal: 0, unbounded: 0, empty: 0, nonEmpty: 0 };
      for (let i = 0; i < 400; i++) {
        let lower: string[] | null = next() < 0.1 ? null : randomKey();
        let upper: string[] | null = next() < 0.1 ? null : randomKey();
        if (lower && upper) {
          // Share a prefix often: copy the first j columns of one bound into the other.
          const shared = Math.floor(next() * (keys.length + 1));
          if (next() < 0.6) upper = [...lower.slice(0, shared), ...upper.slice(shared)];
          // Bounds in key order, as the backfill passes them (PostgreSQL decides, in the column's collation).
          const row = (first: number) => `ROW(${keys.map((k, j) => `$${first + j}::${k.type}`).join(', ')})`;
          const inverted = (await client.query(`SELECT ${row(1)} > ${row(keys.length + 1)} AS inverted`, [...lower, ...upper])).rows[0].inverted;
          if (inverted) [lower, upper] = [upper, lower];
          if (lower.join('|') === upper.join('|')) stats.equal++;
          else if (shared > 0 && lower[0] === upper[0]) stats.sharedPrefix++;
        } else stats.unbounded++;
        const reference: unknown[] = [];
        const expected = await selected(rowComparison(keys, lower, upper, reference), reference);
        for (const use of ['rows', 'walk'] as RangeUse[]) {
          const params: unknown[] = [];
          const predicate = rangePredicate({ keys }, lower, upper, params, use);
          expect(await selected(predicate, params), `seed ${SEED}, case ${i}, ${use}: (${lower}] .. (${upper}] as ${predicate}`).toEqual(expected);
        }
        if (expected.length === 0) stats.empty++;
        else stats.nonEmpty++;
      }
      // The random cases did cover what they are meant to.
      expect(stats.equal, JSON.stringify(stats)).toBeGreaterThan(5);
      expect(stats.unbounded, JSON.stringify(stats)).toBeGreaterThan(20);
      expect(stats.nonEmpty, JSON.stringify(stats)).toBeGreaterThan(100);
      if (keys.length > 1) expect(stats.sharedPrefix, JSON.stringify(stats)).toBeGreaterThan(50);
    });
  }

  it('compares bounds in the key column\'s collation: a nondeterministic one makes differently spelled values equal', async () => {
    await client.query(`CREATE COLLATION IF NOT EXISTS kr.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE kr.ci_keys (tenant text COLLATE kr.ci NOT NULL, id int NOT NULL, PRIMARY KEY (tenant, id));
      INSERT INTO kr.ci_keys SELECT CASE WHEN g % 2 = 0 THEN 'acme' ELSE 'ACME' END, g FROM generate_series(1, 20) g;
      INSERT INTO kr.ci_keys SELECT 'beta', g FROM generate_series(1, 5) g;`);
    const keys = [
      { name: 'tenant', type: 'text', collation: 'kr.ci' },
      { name: 'id', type: 'integer' },
    ];
    // ('acme', 5) and ('ACME', 15) share their first value under kr.ci: the range is 5 < id <= 15 of that tenant.
    const params: unknown[] = [];
    const predicate = rangePredicate({ keys }, ['acme', '5'], ['ACME', '15'], params);
    const { rows } = await client.query<{ id: number }>(`SELECT id FROM kr.ci_keys WHERE ${predicate} ORDER BY id`, params);
    expect(rows.map((row) => row.id)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const reference: unknown[] = [];
    const expected = await client.query<{ id: number }>(`SELECT id FROM kr.ci_keys WHERE ${rowComparison(keys, ['acme', '5'], ['ACME', '15'], reference)} ORDER BY id`, reference);
    expect(rows).toEqual(expected.rows);
  });

  it('references each bound value once, as a typed parameter, after the ones already there', () => {
    const keys = [
      { name: 'tenant', type: 'integer' },
      { name: 'Id "x"', type: 'character varying(20)' },
    ];
    const params: unknown[] = ['already there'];
    const predicate = rangePredicate({ keys }, ['7', 'a'], ['8', 'b'], params);
    expect(params).toEqual(['already there', '7', 'a', '8', 'b']);
    expect(predicate).toContain('"Id ""x""" > $3::character varying(20)');
    expect(predicate.match(/\$\d+::[a-z ()0-9]+/g)!.every((p) => /^\$[2-5]::/.test(p))).toBe(true);
    expect(predicate.startsWith('(') && predicate.endsWith(')')).toBe(true);
    expect(rangePredicate({ keys }, null, null, [])).toBe('true');
  });
});
