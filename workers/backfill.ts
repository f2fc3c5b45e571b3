import type pg from 'pg';
import type { NewChunk } from '../shared/catalog/chunks.js';
import type { BackfillSpec } from '../shared/definitions/schema.js';
import { OperationError } from '../shared/errors.js';
import { expressionFragment } from '../shared/sql/fragments.js';
import { parseQualifiedName, quoteIdent, quoteQualified } from '../shared/sql/quote.js';
// Key ranges as index ranges the planner estimates right (composite keys too): see key-range.ts.
import { rangePredicate, type KeyColumn } from './key-range.js';

/** The resolved shape of a backfill target: quoted names and key column types come from PostgreSQL itself. */
export interface BackfillTarget {
  table: string;
  keys: KeyColumn[];
  /** Columns the declarative form changes (their old values are backed up). */
  columns: Array<{ name: string; type: string }>;
  /** The declarative form's `SET` list and `where`, each value checked to be one expression by the parser. */
  assignments: string;
  filter: string | null;
}

/** A column's collation when it is not the database default, as a quoted qualified name (regcollation's text form). */
const COLLATION = `CASE WHEN a.attcollation NOT IN (0, 100) THEN a.attcollation::regcollation::text END`;

export async function resolveTarget(client: pg.ClientBase, spec: BackfillSpec, migrationId: string): Promise<BackfillTarget> {
  const name = parseQualifiedName(spec.table, 'backfill.table');
  const table = quoteQualified(name);
  const { rows: exists } = await client.query<{ oid: number | null; rls: boolean; force: boolean }>(
    `SELECT c.oid::int AS oid, c.relrowsecurity AS rls, c.relforcerowsecurity AS force
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = COALESCE($1, current_schema()) AND c.relname = $2`,
    [name.schema ?? null, name.name],
  );
  const relation = exists[0];
  if (!relation?.oid) throw new OperationError(`backfill table ${spec.table} does not exist`, { migrationId, field: 'backfill.table' });
  if (relation.rls) {
    // Row-level security would silently hide rows from the backfill. Sessions run with
    // row_security = off, so PostgreSQL raises an error instead of filtering; say so up front.
    const { rows } = await client.query<{ bypass: boolean }>(
      `SELECT r.rolsuper OR r.rolbypassrls OR (pg_get_userbyid(c.relowner) = current_user AND NOT c.relforcerowsecurity) AS bypass
         FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = $1`,
      [relation.oid],
    );
    if (!rows[0]?.bypass) {
      throw new OperationError(
        `${spec.table} has ${relation.force ? 'FORCE ' : ''}ROW LEVEL SECURITY and role "${await currentUser(client)}" does not bypass it: ` +
          'a backfill would skip the rows policies hide; run the fleet as a role with BYPASSRLS (or the owner without FORCE)',
        { migrationId, field: 'backfill.table' },
      );
    }
  }
  const columnTypes = async (names: string[] | null, primaryKey: boolean) =>
    (
      await client.query<{ name: string; type: string; collation: string | null; notNull: boolean; generated: boolean }>(
        primaryKey
          ? `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, ${COLLATION} AS collation, a.attnotnull AS "notNull", a.attgenerated <> '' AS generated
               FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
              WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`
          : `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, ${COLLATION} AS collation, a.attnotnull AS "notNull", a.attgenerated <> '' AS generated
               FROM unnest($2::text[]) WITH ORDINALITY AS wanted(name, position)
               JOIN pg_attribute a ON a.attrelid = $1 AND a.attname = wanted.name AND NOT a.attisdropped AND a.attnum > 0
              ORDER BY wanted.position`,
        primaryKey ? [relation.oid] : [relation.oid, names],
      )
    ).rows;
  const keys = spec.key ? await columnTypes(spec.key, false) : await columnTypes(null, true);
  if (spec.key && keys.length !== spec.key.length) {
    throw new OperationError(`backfill key ${spec.key.join(', ')} names a column ${spec.table} does not have`, { migrationId, field: 'backfill.key' });
  }
  if (spec.key) {
    // Keyset batches and the backup both assume one row per key value.
    const { rows: unique } = await client.query<{ columns: string[] }>(
      `SELECT array_agg(a.attname::text ORDER BY a.attname) AS columns
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
        GROUP BY i.indexrelid`,
      [relation.oid],
    );
    const wanted = [...spec.key].sort().join(',');
    if (!unique.some((index) => index.columns.join(',') === wanted)) {
      throw new OperationError(`backfill key (${spec.key.join(', ')}) of ${spec.table} is not a unique key: declare the columns of a unique index`, {
        migrationId,
        field: 'backfill.key',
      });
    }
  }
  const nullable = keys.find((key) => !key.notNull);
  if (nullable) {
    // Keyset ranges compare keys: a NULL key is in no range, so its row would be skipped without a word.
    throw new OperationError(`backfill key column ${nullable.name} of ${spec.table} is nullable: rows with a NULL key would be skipped; key on NOT NULL columns`, {
      migrationId,
      field: 'backfill.key',
    });
  }
  if (keys.length === 0) {
    throw new OperationError(`${spec.table} has no primary key: declare backfill.key with columns of a unique key`, { migrationId, field: 'backfill.key' });
  }
  const setColumns = Object.keys(spec.set ?? {});
  const found = await columnTypes(setColumns, false);
  const missing = setColumns.find((name) => !found.some((column) => column.name === name));
  if (missing !== undefined) {
    throw new OperationError(`backfill set names column ${missing}, which ${spec.table} does not have`, { migrationId, field: `backfill.set.${missing}` });
  }
  const changedKey = found.find((column) => keys.some((key) => key.name === column.name));
  if (changedKey) {
    throw new OperationError(`backfill set changes the key column ${changedKey.name}: keyset batches and the backup need keys that stay put`, {
      migrationId,
      field: `backfill.set.${changedKey.name}`,
    });
  }
  const generated = found.find((column) => column.generated);
  if (generated) throw new OperationError(`backfill set names the generated column ${generated.name}`, { migrationId, field: `backfill.set.${generated.name}` });
  const columns = found.map(({ name, type }) => ({ name, type }));
  const assignments: string[] = [];
  for (const [column, expression] of Object.entries(spec.set ?? {})) {
    assignments.push(`${quoteIdent(column)} = ${await expressionFragment(expression, { migrationId, field: `backfill.set.${column}` })}`);
  }
  const filter = spec.where === undefined ? null : await expressionFragment(spec.where, { migrationId, field: 'backfill.where' });
  return { table, keys: keys.map(({ name, type, collation }) => ({ name, type, collation })), columns, assignments: assignments.join(', '), filter };
}

/**
 * Proves in the preparation's transaction that the sub-batches can run: PostgreSQL plans the
 * statement (unknown columns or functions, wrong types, a `set` on an identity column all
 * fail here), so a backfill that cannot start fails before up.sql's changes commit.
 */
export async function explainBackfill(client: pg.ClientBase, spec: BackfillSpec, target: BackfillTarget): Promise<void> {
  if (spec.batch_sql !== undefined) {
    await client.query(`EXPLAIN ${spec.batch_sql}`, [null, null]);
    return;
  }
  await client.query(`EXPLAIN UPDATE ${target.table} SET ${target.assignments}${target.filter ? ` WHERE ${target.filter}` : ''}`);
}

async function currentUser(client: pg.ClientBase): Promise<string> {
  return (await client.query<{ user: string }>('SELECT current_user AS user')).rows[0]!.user;
}

const keyList = (target: BackfillTarget) => target.keys.map((k) => quoteIdent(k.name)).join(', ');

/**
 * A table of old values, created once before the first sub-batch. It has no index: each key is
 * changed once per run (chunks hold a lock, sub-batches advance a checkpoint with the change,
 * and `where` leaves changed rows out), so rows are only ever appended, and the restore reads
 * it in physical order.
 */
export async function ensureBackupTable(client: pg.ClientBase, target: BackfillTarget, backupTable: string): Promise<void> {
  const columns = [...target.keys, ...target.columns].map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  await client.query(`CREATE TABLE IF NOT EXISTS ${backupTable} (${columns})`);
}

/**
 * The key `size` keys past `lower` (and not past `cap`), by an index-only walk of the key
 * index; null when fewer keys remain.
 */
export async function nextBoundary(
  client: pg.ClientBase,
  target: BackfillTarget,
  lower: string[] | null,
  size: number,
  cap: string[] | null = null,
): Promise<string[] | null> {
  const params: unknown[] = [size - 1];
  const range = rangePredicate(target, lower, cap, params, 'walk');
  const { rows } = await client.query(
    `SELECT ${keyColumnsAsText(target)} FROM ${target.table} WHERE ${range} ORDER BY ${keyList(target)} OFFSET $1 LIMIT 1`,
    params,
  );
  return rows[0] ? Object.values(rows[0]).map(String) : null;
}

// Output columns get their own names: `SELECT id::text ... ORDER BY id` would sort by the text.
const keyColumnsAsText = (target: BackfillTarget) => target.keys.map((k, i) => `${quoteIdent(k.name)}::text AS key_${i}`).join(', ');

/**
 * Splits the key space into ranges of `chunkKeys` keys, one short index-only statement per
 * range rather than one long scan, and keeps every `markKeys`-th key of each range as a mark
 * where its sub-batches can end without walking the index again.
 */
export async function splitKeySpace(client: pg.ClientBase, target: BackfillTarget, chunkKeys: number, markKeys: number): Promise<NewChunk[]> {
  const chunks: NewChunk[] = [];
  let lower: string[] | null = null;
  for (;;) {
    const params: unknown[] = [chunkKeys, markKeys];
    const range = rangePredicate(target, lower, null, params, 'walk');
    const { rows } = await client.query<Record<string, string>>(
      `SELECT * FROM (
         SELECT walked.*, count(*) OVER () AS total FROM (
           SELECT ${keyColumnsAsText(target)}, row_number() OVER (ORDER BY ${keyList(target)}) AS position
             FROM ${target.table} WHERE ${range} ORDER BY ${keyList(target)} LIMIT $1) walked) numbered
        WHERE position % $2 = 0 OR position = total ORDER BY position`,
      params,
    );
    const total = Number(rows[0]?.['total'] ?? 0);
    const keyOf = (row: Record<string, string>) => target.keys.map((_, i) => row[`key_${i}`]!);
    const marks = rows.filter((row) => Number(row['position']) % markKeys === 0 && Number(row['position']) < total).map(keyOf);
    if (total < chunkKeys) {
      chunks.push({ lower, upper: null, keys: total, marks, markKeys });
      return chunks;
    }
    const upper = keyOf(rows.at(-1)!);
    chunks.push({ lower, upper, keys: chunkKeys, marks, markKeys });
    lower = upper;
  }
}

/** Where one sub-batch ends, and what the chunk's position becomes once it commits. */
export interface SubBatchPlan {
  upper: string[] | null;
  /** Keys in the range: exact between marks, the requested size otherwise. */
  keys: number;
  done: boolean;
  nextMark: number;
  onMark: boolean;
}

/** Two key bounds (null: the start or end of the table) are the same; keys are PostgreSQL's own text forms. */
const sameBound = (a: string[] | null, b: string[] | null) => (a === null || b === null ? a === b : a.length === b.length && a.every((value, i) => value === b[i]));

/**
 * A chunk's sub-batch boundaries. A batch from a mark takes whole marks (its size rounded
 * down); a batch smaller than a mark, one resuming between marks, and the tail past the last
 * mark walk the key index instead, never past the next mark, so rows inserted since the split
 * cannot swell one batch.
 */
export class SubBatchBounds {
  private nextMark: number;
  private onMark: boolean;

  constructor(
    private readonly target: BackfillTarget,
    private readonly marks: string[][],
    private readonly markKeys: number,
    private readonly cap: string[] | null,
    position: { lower: string[] | null; rangeLower: string[] | null; nextMark: number },
  ) {
    this.nextMark = Math.min(position.nextMark, marks.length);
    this.onMark = sameBound(position.lower, this.nextMark === 0 ? position.rangeLower : marks[this.nextMark - 1]!);
  }

  async plan(client: pg.ClientBase, lower: string[] | null, size: number): Promise<SubBatchPlan> {
    const whole = this.markKeys > 0 ? Math.floor(size / this.markKeys) : 0;
    const marksLeft = this.marks.length - this.nextMark;
    if (this.onMark && whole >= 1 && marksLeft >= 1) {
      const taken = Math.min(whole, marksLeft);
      return { upper: this.marks[this.nextMark + taken - 1]!, keys: taken * this.markKeys, done: false, nextMark: this.nextMark + taken, onMark: true };
    }
    const stop = marksLeft > 0 ? this.marks[this.nextMark]! : this.cap;
    const boundary = await nextBoundary(client, this.target, lower, size, stop);
    const reachedStop = boundary === null || sameBound(boundary, stop);
    if (!reachedStop) return { upper: boundary, keys: size, done: false, nextMark: this.nextMark, onMark: false };
    if (marksLeft > 0) return { upper: stop, keys: size, done: false, nextMark: this.nextMark + 1, onMark: true };
    return { upper: this.cap, keys: size, done: true, nextMark: this.nextMark, onMark: false };
  }

  /** Moves on once the planned batch has committed. */
  advance(plan: SubBatchPlan): void {
    this.nextMark = plan.nextMark;
    this.onMark = plan.onMark;
  }
}


/**
 * One sub-batch: changes the rows in (lower, upper] that still match `where`, saving their
 * old values first. Runs inside the caller's transaction, which also advances the checkpoint.
 * Returns the number of rows changed.
 */
export async function runForwardBatch(
  client: pg.ClientBase,
  spec: BackfillSpec,
  target: BackfillTarget,
  backupTable: string | null,
  lower: string[] | null,
  upper: string[] | null,
): Promise<number> {
  const params: unknown[] = [];
  const range = rangePredicate(target, lower, upper, params);
  if (spec.batch_sql !== undefined) {
    if (target.keys.length > 1) throw new OperationError(`batch_sql needs a single-column key; ${target.table} has ${target.keys.length}`);
    const result = await client.query(spec.batch_sql, [lower?.[0] ?? null, upper?.[0] ?? null]);
    return result.rowCount ?? 0;
  }
  const predicate = target.filter ? `${range} AND ${target.filter}` : range;
  if (backupTable) return updateWithBackup(client, target, backupTable, target.assignments, predicate, params);
  const result = await client.query(`UPDATE ${target.table} SET ${target.assignments} WHERE ${predicate}`, params);
  return result.rowCount ?? 0;
}

/** Fraction of batch_target_ms the adaptive size aims at: batch times vary, and the slow ones must stay under it. */
const SETPOINT = 2 / 3;

/** The next sub-batch size: scaled towards the target duration, at most halved or doubled per step. */
export function nextBatchSize(size: number, elapsedMs: number, spec: Pick<BackfillSpec, 'batch_target_ms' | 'max_batch_size'>): number {
  const scaled = Math.round(size * ((spec.batch_target_ms * SETPOINT) / Math.max(elapsedMs, 1)));
  return Math.max(1, Math.min(spec.max_batch_size, Math.max(Math.floor(size / 2), Math.min(size * 2, scaled))));
}

/**
 * Changes the rows matching `predicate` and saves their old values, in one pass where it can:
 * a snapshot of the rows (with their version: ctid and xmin) drives an UPDATE that only touches
 * a row still in that version, returning the snapshot's values as the old ones. A row a concurrent transaction
 * changed in between is left out by that test and redone under a row lock (FOR UPDATE), so the
 * saved value is always the one actually overwritten. Runs in the caller's transaction.
 */
async function updateWithBackup(
  client: pg.ClientBase,
  target: BackfillTarget,
  backupTable: string,
  assignments: string,
  predicate: string,
  params: unknown[],
): Promise<number> {
  const savedColumns = [...target.keys, ...target.columns];
  const saved = savedColumns.map((c) => quoteIdent(c.name)).join(', ');
  // The snapshot's columns get names of their own, so `set` expressions still mean the table's columns.
  const alias = (i: number) => quoteIdent(`pgfm_${i}`);
  const snapshot = savedColumns.map((c, i) => `${quoteIdent(c.name)} AS ${alias(i)}`).join(', ');
  const keyAliases = target.keys.map((_, i) => `${alias(i)}`).join(', ');
  const { rows } = await client.query<{ changed: number; missed: string[][] | null }>(
    // Joined on the row version (tableoid, ctid, xmin), and a row updated meanwhile no longer
    // matches (EvalPlanQual rechecks the new version, whose ctid differs). A ctid is unique only
    // within one partition, and rows loaded by one transaction share their xmin, so without
    // tableoid a row of one partition would match rows of others. `ctid = ANY (ARRAY(...))` makes
    // the table side a TID scan of exactly the snapshot's rows whatever the planner estimates;
    // a plain join turns into a hash join over a full scan once the estimate is large (always on
    // a partitioned table, whose TID lookups sit behind an Append).
    `WITH o AS MATERIALIZED (SELECT tableoid AS pgfm_tableoid, ctid AS pgfm_ctid, xmin AS pgfm_xmin, ${snapshot} FROM ${target.table} WHERE ${predicate}),
          upd AS (UPDATE ${target.table} SET ${assignments} FROM o
                   WHERE ${target.table}.ctid = ANY (ARRAY(SELECT pgfm_ctid FROM o))
                     AND ${target.table}.ctid = o.pgfm_ctid AND ${target.table}.xmin = o.pgfm_xmin AND ${target.table}.tableoid = o.pgfm_tableoid
                  RETURNING ${savedColumns.map((_, i) => `o.${alias(i)}`).join(', ')}),
          kept AS (INSERT INTO ${backupTable} (${saved}) SELECT * FROM upd)
     SELECT (SELECT count(*) FROM upd)::int AS changed,
            -- Each snapshot row updates at most one row: equal counts mean none was missed.
            CASE WHEN (SELECT count(*) FROM upd) < (SELECT count(*) FROM o) THEN
              (SELECT json_agg(json_build_array(${target.keys.map((_, i) => `m.${alias(i)}::text`).join(', ')}))
                 FROM (SELECT ${keyAliases} FROM o EXCEPT SELECT ${keyAliases} FROM upd) m) END AS missed`,
    params,
  );
  const { changed, missed } = rows[0]!;
  if (!missed || missed.length === 0) return changed;
  // The few rows changed concurrently: lock them, read what they hold now, save it, change them.
  const keyParams = target.keys.map((k, i) => `$${params.length + i + 1}::${k.type}[]`).join(', ');
  const redo = await client.query(
    `WITH src AS (SELECT ${saved} FROM ${target.table}
                   WHERE (${keyList(target)}) IN (SELECT * FROM unnest(${keyParams})) AND ${predicate} FOR UPDATE),
          kept AS (INSERT INTO ${backupTable} (${saved}) SELECT ${saved} FROM src)
     UPDATE ${target.table} SET ${assignments} WHERE (${keyList(target)}) IN (SELECT ${keyList(target)} FROM src)`,
    [...params, ...target.keys.map((_, i) => missed.map((key) => key[i]))],
  );
  return changed + (redo.rowCount ?? 0);
}
