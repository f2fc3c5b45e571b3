/**
 * Deterministic generator of the tables users have and of backfill specs over them, for the
 * differential integrity harness (harness.ts). Everything a case is made of (key types,
 * partition tree, columns, NULL and TOAST rates, triggers, the spec and its sub-batch sizes)
 * comes from a PRNG seeded by (campaign seed, case index), so `--seed S --case C` rebuilds
 * exactly the same case. Row contents are computed by PostgreSQL from the case's data seed
 * (md5 of seed, row number and a salt), so both copies of a table are byte-identical.
 */

import { SeededRandom } from '../helpers/random.js';

/** Schema of every generated table; the database also holds the `ci` collation and the trigger functions there. */
export const SCHEMA = 'fz';

/** Run once per database, before any case table is created. */
export const SETUP_SQL = `
CREATE SCHEMA ${SCHEMA};
CREATE COLLATION ${SCHEMA}.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
-- A deterministic 60-bit hash of (data seed, row number, salt): the source of every generated value.
CREATE FUNCTION ${SCHEMA}.h(s bigint, g bigint, salt int) RETURNS bigint IMMUTABLE STRICT LANGUAGE sql
  AS $$ SELECT ('x' || substr(md5(s || ':' || g || ':' || salt), 1, 15))::bit(60)::bigint $$;
-- An incompressible text of about 32 * parts characters (a chain of md5 values): stored out of line in TOAST.
CREATE FUNCTION ${SCHEMA}.big(s bigint, g bigint, parts int) RETURNS text IMMUTABLE STRICT LANGUAGE sql
  AS $$ SELECT string_agg(md5(s || ':big:' || g || ':' || i), '' ORDER BY i) FROM generate_series(1, parts) i $$;
-- BEFORE INSERT OR UPDATE: maintains d from the columns a backfill sets, so restoring them restores d.
CREATE FUNCTION ${SCHEMA}.derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.d := coalesce(upper(left(NEW.v, 10)), '(null)') || '#' || coalesce((NEW.n % 97)::text, '(null)') || '#' || coalesce(length(NEW.v), -1);
  RETURN NEW;
END $$;
-- AFTER UPDATE: one row per row version changed, in the side table named by the trigger's argument.
CREATE FUNCTION ${SCHEMA}.side() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('INSERT INTO %s (old_h, new_h) VALUES ($1, $2)', TG_ARGV[0]) USING md5(OLD::text), md5(NEW::text);
  RETURN NULL;
END $$;
`;

export type KeyKind = 'int' | 'bigint' | 'uuid' | 'text_icu' | 'text_ci' | 'tenant_bigint' | 'tenant_text';
export const KEY_KINDS: readonly KeyKind[] = ['int', 'bigint', 'uuid', 'text_icu', 'text_ci', 'tenant_bigint', 'tenant_text'];

export interface KeyColumn {
  name: string;
  /** SQL type, with its collation. */
  type: string;
  /** Expression of the data seed `s` and row number `g` giving this column's value. */
  expr: string;
  domain: Domain;
}

/** How a partition key column's range can be cut. */
export type Domain =
  | { kind: 'number'; min: number; max: number }
  | { kind: 'uuid' }
  | { kind: 'text' }
  | { kind: 'tenant'; tenants: number };

export interface PartitionNode {
  /** `FOR VALUES …` or `DEFAULT`. */
  bound: string;
  sub?: PartitionSpec;
}

export interface PartitionSpec {
  strategy: 'RANGE' | 'LIST' | 'HASH';
  columns: string[];
  parts: PartitionNode[];
}

export interface TableDef {
  /** Table name without schema; the reference copy is `<name>_ref`. */
  name: string;
  rows: number;
  /** Feeds every generated value (a positive int). */
  dataSeed: number;
  keyKind: KeyKind;
  keys: KeyColumn[];
  partitioning: PartitionSpec | null;
  /** Optional nullable columns besides v and n. */
  hasW: boolean;
  hasJ: boolean;
  generated: boolean;
  triggers: boolean;
  nullPct: { v: number; n: number; w: number };
  /** Rows (per mille) whose v is a TOAST-sized incompressible text, of `toastParts` md5 values. */
  toastPermille: number;
  toastParts: number;
  /** Replaces the generated rows: an INSERT body (`VALUES …` or `SELECT …`) for the bug-report tables. */
  customRows?: string;
}

export interface BackfillDef {
  key?: string[];
  set: Record<string, string>;
  where?: string;
  chunk_keys: number;
  max_parallel_chunks: number;
  initial_batch_size: number;
  max_batch_size: number;
  batch_target_ms: number;
}

export interface CaseDef {
  /** Index in the campaign (or a name for a fixed case). */
  index: number | string;
  migrationId: string;
  table: TableDef;
  spec: BackfillDef;
  /** True when some `set` expression changes a row again when applied twice. */
  nonIdempotent: boolean;
  /** up.sql/down.sql: a table comment set and cleared, or `SELECT 1` and no down.sql (the automatic inverse). */
  comment: boolean;
}

const q = (name: string) => `${SCHEMA}.${name}`;

// ---------------------------------------------------------------- keys

const TEXT_WORDS = ['émile', 'Zoë', 'straße', 'key', 'alpha', 'Ölaf', 'ärger', 'bob', 'Bob', 'mañana', 'ñu', 'çava', 'Yak', 'über', 'dž', 'ﬁle'];

function keysFor(kind: KeyKind, rng: SeededRandom, rows: number): KeyColumn[] {
  const words = `ARRAY[${TEXT_WORDS.map((w) => `'${w}'`).join(', ')}]`;
  switch (kind) {
    case 'int': {
      const stride = rng.pick([1, 1, 2, 3, 7]);
      const offset = rng.pick([0, 0, -rows * stride - 5, rng.int(-1_000_000, 1_000_000)]);
      return [{ name: 'id', type: 'integer', expr: `(${offset} + g * ${stride})::int`, domain: { kind: 'number', min: offset + stride, max: offset + rows * stride } }];
    }
    case 'bigint': {
      const stride = rng.pick([1, 13, 1_000_003, 987_654_321]);
      const offset = rng.pick([0, 2 ** 40, -(2 ** 50), rng.int(-1e9, 1e9) * 1_000_000]);
      return [
        { name: 'id', type: 'bigint', expr: `(${offset}::bigint + g::bigint * ${stride})`, domain: { kind: 'number', min: offset + stride, max: offset + rows * stride } },
      ];
    }
    case 'uuid':
      return [{ name: 'id', type: 'uuid', expr: `md5(s || ':uuid:' || g)::uuid`, domain: { kind: 'uuid' } }];
    case 'text_icu':
      return [
        {
          name: 'code',
          type: 'text COLLATE "und-x-icu"',
          expr: `(${words})[1 + ${SCHEMA}.h(s, g, 11) % ${TEXT_WORDS.length}] || '-' || g`,
          domain: { kind: 'text' },
        },
      ];
    case 'text_ci':
      // Unique under the case-insensitive collation because of the row number; case varies per row.
      return [
        {
          name: 'code',
          type: `text COLLATE ${SCHEMA}.ci`,
          expr: `(CASE WHEN ${SCHEMA}.h(s, g, 12) % 2 = 0 THEN upper((${words})[1 + ${SCHEMA}.h(s, g, 11) % ${TEXT_WORDS.length}]) ELSE (${words})[1 + ${SCHEMA}.h(s, g, 11) % ${TEXT_WORDS.length}] END) || '-' || lpad(g::text, 5, '0')`,
          domain: { kind: 'text' },
        },
      ];
    case 'tenant_bigint': {
      const tenants = rng.int(2, 8);
      const stride = rng.pick([1, 5, 1_000_000_007]);
      return [
        { name: 'tenant', type: 'integer', expr: `(1 + ${SCHEMA}.h(s, g, 13) % ${tenants})::int`, domain: { kind: 'tenant', tenants } },
        { name: 'id', type: 'bigint', expr: `(g::bigint * ${stride})`, domain: { kind: 'number', min: stride, max: rows * stride } },
      ];
    }
    case 'tenant_text': {
      const tenants = rng.int(2, 6);
      return [
        { name: 'tenant', type: 'integer', expr: `(1 + ${SCHEMA}.h(s, g, 13) % ${tenants})::int`, domain: { kind: 'tenant', tenants } },
        { name: 'code', type: 'text COLLATE "und-x-icu"', expr: `(${words})[1 + ${SCHEMA}.h(s, g, 11) % ${TEXT_WORDS.length}] || '.' || to_hex(g * 7919)`, domain: { kind: 'text' } },
      ];
    }
  }
}

// ---------------------------------------------------------------- partitions

const sqlText = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** Up to `count` distinct, ascending cut points inside the domain, as SQL literals. */
function cuts(domain: Domain, count: number, rng: SeededRandom): string[] {
  switch (domain.kind) {
    case 'number': {
      const span = domain.max - domain.min;
      const values = new Set<number>();
      for (let i = 0; i < count; i++) values.add(Math.floor(domain.min + span * (0.05 + 0.9 * rng.next())));
      return [...values].sort((a, b) => a - b).map(String);
    }
    case 'uuid': {
      const values = new Set<string>();
      for (let i = 0; i < count; i++) values.add(rng.int(0x08000000, 0xf8000000).toString(16).padStart(8, '0'));
      return [...values].sort().map((prefix) => `'${prefix}-0000-0000-0000-000000000000'`);
    }
    case 'text': {
      const letters = rng.shuffle(['b', 'd', 'f', 'k', 'm', 'o', 'r', 't', 'v']).slice(0, count).sort();
      return letters.map(sqlText);
    }
    case 'tenant': {
      const values = rng.shuffle(Array.from({ length: domain.tenants - 1 }, (_, i) => i + 2)).slice(0, count);
      return values.sort((a, b) => a - b).map(String);
    }
  }
}

function rangeSpec(column: KeyColumn, rng: SeededRandom, allowDefault: boolean, count: number): PartitionSpec {
  const points = cuts(column.domain, count, rng);
  const bounds = ['MINVALUE', ...points, 'MAXVALUE'];
  const parts: PartitionNode[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) parts.push({ bound: `FOR VALUES FROM (${bounds[i]}) TO (${bounds[i + 1]})` });
  if (allowDefault && parts.length >= 2) {
    // Leave one range (first, last or a middle one) to the DEFAULT partition.
    parts.splice(rng.int(0, parts.length - 1), 1);
    parts.push({ bound: 'DEFAULT' });
  }
  return { strategy: 'RANGE', columns: [column.name], parts };
}

function hashSpec(columns: string[], rng: SeededRandom): PartitionSpec {
  const modulus = rng.int(2, 5);
  return { strategy: 'HASH', columns, parts: Array.from({ length: modulus }, (_, r) => ({ bound: `FOR VALUES WITH (modulus ${modulus}, remainder ${r})` })) };
}

function listSpec(tenant: KeyColumn, rng: SeededRandom, allowDefault: boolean): PartitionSpec {
  const tenants = rng.shuffle(Array.from({ length: (tenant.domain as { tenants: number }).tenants }, (_, i) => i + 1));
  const withDefault = allowDefault && tenants.length >= 3;
  const listed = withDefault ? tenants.slice(0, tenants.length - rng.int(1, 2)) : tenants;
  const groups: number[][] = [];
  for (const t of listed) {
    if (groups.length === 0 || rng.chance(0.5)) groups.push([t]);
    else groups[groups.length - 1]!.push(t);
  }
  const parts: PartitionNode[] = groups.map((group) => ({ bound: `FOR VALUES IN (${group.sort((a, b) => a - b).join(', ')})` }));
  if (withDefault) parts.push({ bound: 'DEFAULT' });
  return { strategy: 'LIST', columns: [tenant.name], parts };
}

function partitioningFor(keys: KeyColumn[], rng: SeededRandom): PartitionSpec | null {
  const composite = keys.length > 1;
  const strategy = rng.weighted<'plain' | 'range' | 'hash' | 'list'>([
    ['plain', 3],
    ['range', 4],
    ['hash', 2],
    ['list', composite ? 4 : 0],
  ]);
  if (strategy === 'plain') return null;
  const first = keys[0]!;
  const last = keys[keys.length - 1]!;
  let spec: PartitionSpec;
  if (strategy === 'range') spec = rangeSpec(first, rng, rng.chance(0.4), rng.int(1, 4));
  else if (strategy === 'hash') spec = hashSpec(composite && rng.chance(0.5) ? keys.map((k) => k.name) : [first.name], rng);
  else spec = listSpec(first, rng, rng.chance(0.5));
  if (rng.chance(0.4)) {
    // Sub-partitions: some partitions are partitioned again, by the last key column.
    for (const part of spec.parts) {
      if (part.bound === 'DEFAULT' || !rng.chance(0.6)) continue;
      part.sub = rng.chance(0.5) ? hashSpec([last.name], rng) : rangeSpec(last, rng, false, rng.int(1, 2));
    }
  }
  return spec;
}

// ---------------------------------------------------------------- tables

export function generateTable(name: string, rng: SeededRandom, options: { maxRows?: number } = {}): TableDef {
  // Mostly small tables (3..3,000 rows, log-uniform), one in twelve large (5,000..20,000).
  const max = options.maxRows ?? 20_000;
  const rows = rng.chance(1 / 12) ? rng.logInt(Math.min(5000, max), max) : rng.logInt(3, Math.min(3000, max));
  const keyKind = rng.pick(KEY_KINDS);
  const keys = keysFor(keyKind, rng, rows);
  const toast = rng.weighted([
    [0, 3],
    [10, 3],
    [60, 2],
    [300, 1],
  ] as const);
  return {
    name,
    rows,
    dataSeed: rng.int(1, 2_000_000_000),
    keyKind,
    keys,
    partitioning: partitioningFor(keys, rng),
    hasW: rng.chance(0.6),
    hasJ: rng.chance(0.4),
    generated: rng.chance(0.6),
    triggers: rng.chance(0.7),
    nullPct: { v: rng.pick([0, 5, 10, 30]), n: rng.pick([0, 10, 25]), w: rng.pick([10, 40]) },
    // At most about 400 TOAST rows per table, so one case stays a few MB.
    toastPermille: Math.min(toast, Math.ceil((400 * 1000) / rows)),
    toastParts: rng.int(260, 420),
  };
}

function columnsSql(def: TableDef): string[] {
  const cols = def.keys.map((k) => `${k.name} ${k.type} NOT NULL`);
  cols.push('v text', 'n integer');
  if (def.hasW) cols.push('w text');
  if (def.hasJ) cols.push('j jsonb');
  cols.push(`ts timestamptz NOT NULL`);
  if (def.triggers) cols.push('d text');
  if (def.generated) {
    cols.push(`gen text GENERATED ALWAYS AS (md5(coalesce(v, '(null)') || '/' || coalesce(n::text, '(null)'))) STORED`);
    cols.push(`gen_n bigint GENERATED ALWAYS AS (coalesce(n, 0)::bigint * 3 + coalesce(length(v), 0)) STORED`);
  }
  cols.push(`PRIMARY KEY (${def.keys.map((k) => k.name).join(', ')})`);
  return cols;
}

function partitionsSql(parent: string, spec: PartitionSpec, out: string[]): void {
  spec.parts.forEach((part, i) => {
    const child = `${parent}_p${i}`;
    const sub = part.sub ? ` PARTITION BY ${part.sub.strategy} (${part.sub.columns.join(', ')})` : '';
    out.push(`CREATE TABLE ${q(child)} PARTITION OF ${q(parent)} ${part.bound}${sub}`);
    if (part.sub) partitionsSql(child, part.sub, out);
  });
}

/** The fleet's table, the reference copy a plain UPDATE changes, and (only to show a failed rollback's rows) the original. */
export type Copy = 'fleet' | 'ref' | 'orig';

export function tableName(def: TableDef, copy: Copy): string {
  return copy === 'fleet' ? def.name : `${def.name}_${copy}`;
}
export const qualified = (def: TableDef, copy: Copy) => q(tableName(def, copy));
export const sideTable = (def: TableDef, copy: Copy) => q(`${tableName(def, copy)}_side`);

/** The row values: every column from the data seed `s` and row number `g`. */
function rowsSql(def: TableDef): { columns: string[]; body: string } {
  const columns = [...def.keys.map((k) => k.name), 'v', 'n', ...(def.hasW ? ['w'] : []), ...(def.hasJ ? ['j'] : []), 'ts'];
  if (def.customRows) return { columns, body: def.customRows };
  const h = (salt: number) => `${SCHEMA}.h(s, g, ${salt})`;
  const exprs = [
    ...def.keys.map((k) => k.expr),
    `CASE WHEN ${h(1)} % 100 < ${def.nullPct.v} THEN NULL
          WHEN ${h(2)} % 1000 < ${def.toastPermille} THEN ${SCHEMA}.big(s, g, ${def.toastParts})
          WHEN ${h(3)} % 5 = 0 THEN upper('v' || g || '-' || substr(md5(s || ':v:' || g), 1, 8))
          ELSE 'v' || g || '-' || substr(md5(s || ':v:' || g), 1, 8) END`,
    `CASE WHEN ${h(4)} % 100 < ${def.nullPct.n} THEN NULL ELSE (${h(5)} % 2001)::int - 1000 END`,
    ...(def.hasW ? [`CASE WHEN ${h(6)} % 100 < ${def.nullPct.w} THEN NULL ELSE 'w' || (${h(7)} % 50) END`] : []),
    ...(def.hasJ ? [`CASE WHEN ${h(8)} % 10 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'tag', 't' || (${h(9)} % 7)) END`] : []),
    `timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'`,
  ];
  return { columns, body: `SELECT ${exprs.join(',\n       ')}\n  FROM (SELECT ${def.dataSeed}::bigint AS s) seed, generate_series(1, ${def.rows}) g` };
}

/** Every statement creating and loading one copy; the caller runs them in one transaction (one xmin). */
export function createTableSql(def: TableDef, copy: Copy): string[] {
  const name = tableName(def, copy);
  const out: string[] = [];
  const partitionBy = def.partitioning ? ` PARTITION BY ${def.partitioning.strategy} (${def.partitioning.columns.join(', ')})` : '';
  out.push(`CREATE TABLE ${q(name)} (\n  ${columnsSql(def).join(',\n  ')}\n)${partitionBy}`);
  if (def.partitioning) partitionsSql(name, def.partitioning, out);
  out.push(`CREATE TABLE ${sideTable(def, copy)} (seq bigserial PRIMARY KEY, old_h text NOT NULL, new_h text NOT NULL)`);
  if (def.triggers) {
    out.push(`CREATE TRIGGER derive BEFORE INSERT OR UPDATE ON ${q(name)} FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.derive()`);
    out.push(`CREATE TRIGGER side AFTER UPDATE ON ${q(name)} FOR EACH ROW EXECUTE FUNCTION ${SCHEMA}.side('${sideTable(def, copy)}')`);
  }
  const rows = rowsSql(def);
  out.push(`INSERT INTO ${q(name)} (${rows.columns.join(', ')})\n${rows.body}`);
  return out;
}

export function dropTableSql(def: TableDef): string {
  const copies: Copy[] = ['fleet', 'ref', 'orig'];
  return `DROP TABLE IF EXISTS ${copies.flatMap((copy) => [qualified(def, copy), sideTable(def, copy)]).join(', ')} CASCADE`;
}

// ---------------------------------------------------------------- specs

interface Expression {
  sql: string;
  idempotent: boolean;
}

function setPool(def: TableDef): Record<string, Expression[]> {
  const pool: Record<string, Expression[]> = {
    v: [
      { sql: 'upper(v)', idempotent: true },
      { sql: 'CASE WHEN n % 2 = 0 THEN lower(v) ELSE v END', idempotent: true },
      { sql: "coalesce(v, 'missing')", idempotent: true },
      { sql: "replace(v, 'a', 'A')", idempotent: true },
      { sql: 'CASE WHEN length(v) > 8000 THEN left(v, 100) ELSE v END', idempotent: true },
      { sql: "v || '+'", idempotent: false },
      { sql: "coalesce(v, '') || '*'", idempotent: false },
      { sql: "md5(coalesce(v, ''))", idempotent: false },
      { sql: "CASE WHEN n % 2 = 0 THEN v || '+' ELSE v END", idempotent: false },
    ],
    n: [
      { sql: 'coalesce(n, 0)', idempotent: true },
      { sql: 'abs(n)', idempotent: true },
      { sql: 'n + 1', idempotent: false },
      { sql: 'coalesce(n, 0) + 7', idempotent: false },
    ],
  };
  if (def.hasW) {
    pool['w'] = [
      { sql: "coalesce(w, 'none')", idempotent: true },
      { sql: 'upper(w)', idempotent: true },
      { sql: "w || '|' || coalesce(n::text, '-')", idempotent: false },
      { sql: "coalesce(w, '') || '.'", idempotent: false },
    ];
  }
  if (def.hasJ) {
    pool['j'] = [
      { sql: "j || jsonb_build_object('seen', true)", idempotent: true },
      { sql: "jsonb_set(coalesce(j, '{}'), '{hits}', to_jsonb(coalesce((j ->> 'hits')::int, 0) + 1))", idempotent: false },
    ];
  }
  return pool;
}

function wherePool(def: TableDef): string[] {
  const pool = ['n % 3 = 0', 'v IS NOT NULL', 'n IS NULL OR n > 500', 'length(v) > 8000', 'v <> upper(v)', "v LIKE 'v1%'"];
  if (def.hasW) pool.push('w IS NOT NULL AND n < 0');
  if (def.keyKind === 'int' || def.keyKind === 'bigint') pool.push('id % 4 <> 1');
  if (def.keyKind === 'tenant_bigint' || def.keyKind === 'tenant_text') pool.push('tenant <> 2');
  if (def.keyKind === 'uuid') pool.push("id::text < '8'");
  return pool;
}

export function generateSpec(def: TableDef, rng: SeededRandom): { spec: BackfillDef; nonIdempotent: boolean } {
  const pool = setPool(def);
  const columns = rng.shuffle(Object.keys(pool)).slice(0, rng.weighted([[1, 5], [2, 3], [3, 1]] as const));
  const set: Record<string, string> = {};
  let nonIdempotent = false;
  for (const column of columns) {
    const expression = rng.pick(pool[column]!);
    set[column] = expression.sql;
    nonIdempotent ||= !expression.idempotent;
  }
  const where = rng.chance(0.45) ? undefined : rng.pick(wherePool(def));
  const initial = rng.logInt(5, 400);
  return {
    spec: {
      ...(rng.chance(0.2) ? { key: def.keys.map((k) => k.name) } : {}),
      set,
      ...(where ? { where } : {}),
      // Several chunks for both workers, but not hundreds of tiny jobs on a big table.
      chunk_keys: Math.max(rng.int(200, 3000), Math.ceil(def.rows / 30)),
      max_parallel_chunks: rng.int(2, 4),
      initial_batch_size: initial,
      // Many sub-batches, but at most about 120 per table at full size: each costs a few ms of fleet overhead.
      max_batch_size: Math.max(initial, rng.logInt(50, 2000), Math.ceil(def.rows / 120)),
      // Below ~40 ms the adaptive size collapses to a row or two (a sub-batch's fixed cost is 5-15 ms here).
      batch_target_ms: rng.int(40, 150),
    },
    nonIdempotent,
  };
}

/** `2030.01.01_000000` plus `n` seconds, with `slug`: a valid, unique migration id per case. */
export function migrationIdFor(n: number, slug: string): string {
  const date = new Date(Date.UTC(2030, 0, 1) + n * 1000);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${date.getUTCFullYear()}.${p(date.getUTCMonth() + 1)}.${p(date.getUTCDate())}_${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}_${slug}`;
}

/** Case `index` of campaign `seed`: depends on nothing else, so any case can be rebuilt alone. */
export function generateCase(seed: number, index: number): CaseDef {
  const rng = new SeededRandom(`${seed}:case:${index}`);
  const table = generateTable(`c${index}`, rng);
  const { spec, nonIdempotent } = generateSpec(table, rng);
  return { index, migrationId: migrationIdFor(index + 1, `fz_c${index}`), table, spec, nonIdempotent, comment: rng.chance(0.5) };
}

/** The two tables of the bug report, exactly as reported. */
export function bugReportCases(): { pair: CaseDef; big: CaseDef } {
  const plain = {
    hasW: false,
    hasJ: false,
    generated: false,
    triggers: false,
    nullPct: { v: 0, n: 0, w: 0 },
    toastPermille: 0,
    toastParts: 0,
    dataSeed: 1,
  };
  const intKey = (max: number): KeyColumn[] => [{ name: 'id', type: 'integer', expr: 'g', domain: { kind: 'number', min: 1, max } }];
  const pairTable: TableDef = {
    ...plain,
    name: 'bug_pair',
    rows: 2,
    keyKind: 'int',
    keys: intKey(200),
    partitioning: { strategy: 'RANGE', columns: ['id'], parts: [{ bound: 'FOR VALUES FROM (0) TO (100)' }, { bound: 'FOR VALUES FROM (100) TO (200)' }] },
    // (1,'a') and (101,'b'): one transaction, two partitions, both rows at ctid (0,1) with the same xmin.
    customRows: `VALUES (1, 'a', NULL, timestamptz '2024-01-01 00:00:00+00'), (101, 'b', NULL, timestamptz '2024-01-01 00:00:00+00')`,
  };
  const bigTable: TableDef = {
    ...plain,
    name: 'bug_120k',
    rows: 120_000,
    keyKind: 'int',
    keys: intKey(120_000),
    partitioning: {
      strategy: 'RANGE',
      columns: ['id'],
      parts: [
        { bound: 'FOR VALUES FROM (MINVALUE) TO (30001)' },
        { bound: 'FOR VALUES FROM (30001) TO (60001)' },
        { bound: 'FOR VALUES FROM (60001) TO (90001)' },
        { bound: 'FOR VALUES FROM (90001) TO (MAXVALUE)' },
      ],
    },
    customRows: `SELECT g, 'v' || g, g % 1000, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 120000) g`,
  };
  return {
    // Sub-batches of one key: the first one is exactly the key range (0,1] (from the start of the table to key 1).
    pair: {
      index: 'bug_pair',
      migrationId: migrationIdFor(0, 'fz_bug_pair'),
      table: pairTable,
      spec: { set: { v: "v || '+'" }, chunk_keys: 1000, max_parallel_chunks: 2, initial_batch_size: 1, max_batch_size: 1, batch_target_ms: 50 },
      nonIdempotent: true,
      comment: false,
    },
    big: {
      index: 'bug_120k',
      migrationId: migrationIdFor(-1, 'fz_bug_120k'),
      table: bigTable,
      spec: { set: { v: "v || '+'" }, chunk_keys: 15_000, max_parallel_chunks: 4, initial_batch_size: 500, max_batch_size: 5000, batch_target_ms: 100 },
      nonIdempotent: true,
      comment: false,
    },
  };
}

// ---------------------------------------------------------------- descriptions

function describePartitions(spec: PartitionSpec): string {
  const parts = spec.parts.map((p) => `${p.bound.replace('FOR VALUES ', '')}${p.sub ? ` → ${describePartitions(p.sub)}` : ''}`);
  return `${spec.strategy} (${spec.columns.join(', ')}) [${parts.join('; ')}]`;
}

/** One line naming everything the case is made of, for failure messages. */
export function describeCase(c: CaseDef): string {
  const t = c.table;
  const keys = t.keys.map((k) => `${k.name} ${k.type}`).join(', ');
  const extras = [t.hasW && 'w', t.hasJ && 'j', t.generated && 'generated gen/gen_n', t.triggers && 'triggers derive(d)+side'].filter(Boolean).join(', ');
  return (
    `table ${q(t.name)}: ${t.rows} rows, key (${keys}) [${t.keyKind}], ${t.partitioning ? `partitioned ${describePartitions(t.partitioning)}` : 'not partitioned'}; ` +
    `columns v, n${extras ? `, ${extras}` : ''}; NULLs v ${t.nullPct.v}% n ${t.nullPct.n}%${t.hasW ? ` w ${t.nullPct.w}%` : ''}; ` +
    `TOAST v ${t.toastPermille}‰ of ${t.toastParts * 32} chars; data seed ${t.dataSeed}${t.customRows ? '; custom rows' : ''} | ` +
    `backfill ${JSON.stringify(c.spec)} (${c.nonIdempotent ? 'non-idempotent' : 'idempotent'})`
  );
}

/** The reference: one plain UPDATE of the copy, with the fleet's own parenthesisation. */
export function referenceUpdateSql(c: CaseDef): string {
  const assignments = Object.entries(c.spec.set).map(([column, expression]) => `${column} = (${expression})`).join(', ');
  return `UPDATE ${qualified(c.table, 'ref')} SET ${assignments}${c.spec.where ? ` WHERE (${c.spec.where})` : ''}`;
}
