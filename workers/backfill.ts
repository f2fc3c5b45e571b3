import type pg from 'pg';
import type { Tables } from '../shared/catalog/tables.js';
import type { BackfillSpec } from '../shared/definitions/schema.js';
import { OperationError } from '../shared/errors.js';
import { parseQualifiedName, quoteIdent, quoteQualified } from '../shared/sql/quote.js';
import type { Logger } from '../shared/logger.js';
import { applyTimeouts, type Timeouts } from './session.js';

/** The resolved shape of a backfill target: quoted names and key column types come from PostgreSQL itself. */
export interface BackfillTarget {
  table: string;
  keys: Array<{ name: string; type: string }>;
  /** Columns the declarative form changes (their old values are backed up). */
  columns: Array<{ name: string; type: string }>;
}

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
  const columnTypes = async (names: string[] | null, primaryKey: boolean) =>
    (
      await client.query<{ name: string; type: string }>(
        primaryKey
          ? `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
               FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
              WHERE i.indrelid = $1 AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`
          : `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
               FROM unnest($2::text[]) WITH ORDINALITY AS wanted(name, position)
               JOIN pg_attribute a ON a.attrelid = $1 AND a.attname = wanted.name AND NOT a.attisdropped
              ORDER BY wanted.position`,
        primaryKey ? [relation.oid] : [relation.oid, names],
      )
    ).rows;
  const keys = spec.key ? await columnTypes(spec.key, false) : await columnTypes(null, true);
  if (spec.key && keys.length !== spec.key.length) {
    throw new OperationError(`backfill key ${spec.key.join(', ')} names a column ${spec.table} does not have`, { migrationId, field: 'backfill.key' });
  }
  if (keys.length === 0) {
    throw new OperationError(`${spec.table} has no primary key: declare backfill.key with columns of a unique key`, { migrationId, field: 'backfill.key' });
  }
  const setColumns = Object.keys(spec.set ?? {});
  const columns = await columnTypes(setColumns, false);
  if (columns.length !== setColumns.length) {
    throw new OperationError(`backfill set names a column ${spec.table} does not have`, { migrationId, field: 'backfill.set' });
  }
  return { table, keys, columns };
}

const keyList = (target: BackfillTarget, alias?: string) => target.keys.map((k) => (alias ? `${alias}.` : '') + quoteIdent(k.name)).join(', ');
const keyParams = (target: BackfillTarget, offset: number) => target.keys.map((k, i) => `$${offset + i}::${k.type}`).join(', ');

export function backupTableName(t: Tables, stepId: string): string {
  return `${t.schema}.${quoteIdent(`backup_step_${stepId}`)}`;
}

/** A table of old values keyed like the target; created once, before the first sub-batch. */
export async function ensureBackupTable(client: pg.ClientBase, target: BackfillTarget, backupTable: string): Promise<void> {
  const columns = [...target.keys, ...target.columns].map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  await client.query(`CREATE TABLE IF NOT EXISTS ${backupTable} (${columns}, PRIMARY KEY (${keyList(target)}))`);
}

export interface BatchResult {
  rowsChanged: number;
  /** The last key of the batch (inclusive upper bound), or null when the batch reached the end. */
  upper: string[] | null;
}

/** The key `size` rows past `lower`, by an index-only walk; null when fewer rows remain. */
async function nextBoundary(client: pg.ClientBase, target: BackfillTarget, lower: string[] | null, size: number): Promise<string[] | null> {
  const where = lower ? `WHERE (${keyList(target)}) > (${keyParams(target, 2)})` : '';
  const { rows } = await client.query(
    `SELECT ${target.keys.map((k) => `${quoteIdent(k.name)}::text`).join(', ')} FROM ${target.table} ${where}
      ORDER BY ${keyList(target)} OFFSET $1 LIMIT 1`,
    [size - 1, ...(lower ?? [])],
  );
  return rows[0] ? Object.values(rows[0]).map(String) : null;
}

function rangePredicate(target: BackfillTarget, lower: string[] | null, upper: string[] | null, params: unknown[]): string {
  const parts: string[] = [];
  if (lower) {
    parts.push(`(${keyList(target)}) > (${keyParams(target, params.length + 1)})`);
    params.push(...lower);
  }
  if (upper) {
    parts.push(`(${keyList(target)}) <= (${keyParams(target, params.length + 1)})`);
    params.push(...upper);
  }
  return parts.length ? parts.join(' AND ') : 'true';
}

/**
 * One sub-batch: changes the rows in (lower, upper] that still match `where`, saving their
 * old values first. Runs inside the caller's transaction, which also advances the checkpoint.
 */
export async function runForwardBatch(
  client: pg.ClientBase,
  spec: BackfillSpec,
  target: BackfillTarget,
  backupTable: string | null,
  lower: string[] | null,
  size: number,
): Promise<BatchResult> {
  const upper = await nextBoundary(client, target, lower, size);
  const params: unknown[] = [];
  const range = rangePredicate(target, lower, upper, params);
  let sql: string;
  if (spec.batch_sql !== undefined) {
    if (target.keys.length > 1) throw new OperationError(`batch_sql needs a single-column key; ${target.table} has ${target.keys.length}`);
    const result = await client.query(spec.batch_sql, [lower?.[0] ?? null, upper?.[0] ?? null]);
    return { rowsChanged: result.rowCount ?? 0, upper };
  }
  const assignments = Object.entries(spec.set!).map(([column, expression]) => `${quoteIdent(column)} = (${expression})`).join(', ');
  const filter = spec.where ? `AND (${spec.where})` : '';
  const keys = keyList(target);
  if (backupTable) {
    const saved = [...target.keys, ...target.columns].map((c) => quoteIdent(c.name)).join(', ');
    sql = `WITH src AS (SELECT ${saved} FROM ${target.table} WHERE ${range} ${filter} FOR UPDATE),
             saved AS (INSERT INTO ${backupTable} (${saved}) SELECT ${saved} FROM src ON CONFLICT DO NOTHING)
           UPDATE ${target.table} SET ${assignments} WHERE (${keys}) IN (SELECT ${keys} FROM src)`;
  } else {
    sql = `UPDATE ${target.table} SET ${assignments} WHERE ${range} ${filter}`;
  }
  const result = await client.query(sql, params);
  return { rowsChanged: result.rowCount ?? 0, upper };
}

/** One sub-batch of a rollback: puts back the saved old values of keys in (lower, upper]. */
export async function runRestoreBatch(
  client: pg.ClientBase,
  target: BackfillTarget,
  backupTable: string,
  lower: string[] | null,
  size: number,
): Promise<BatchResult> {
  const backupTarget = { ...target, table: backupTable };
  const upper = await nextBoundary(client, backupTarget, lower, size);
  const params: unknown[] = [];
  const range = rangePredicate(backupTarget, lower, upper, params);
  const assignments = target.columns.map((c) => `${quoteIdent(c.name)} = b.${quoteIdent(c.name)}`).join(', ');
  const join = target.keys.map((k) => `t.${quoteIdent(k.name)} = b.${quoteIdent(k.name)}`).join(' AND ');
  const result = await client.query(
    `UPDATE ${target.table} AS t SET ${assignments}
       FROM (SELECT * FROM ${backupTable} WHERE ${range}) AS b WHERE ${join}`,
    params,
  );
  return { rowsChanged: result.rowCount ?? 0, upper };
}

export interface LoopHooks {
  /** Called inside each sub-batch's transaction to record the checkpoint with the change. */
  checkpoint(client: pg.ClientBase, upper: string[] | null, rowsChanged: number): Promise<void>;
  shouldStop(): boolean;
}

/**
 * Runs sub-batches from `start` to the end, each in its own short transaction, sizing
 * them so each takes about batch_target_ms.
 */
export async function runBatchLoop(
  client: pg.ClientBase,
  spec: BackfillSpec,
  timeouts: Timeouts,
  start: string[] | null,
  batch: (lower: string[] | null, size: number) => Promise<BatchResult>,
  hooks: LoopHooks,
  logger: Logger,
): Promise<number> {
  let lower = start;
  let size = spec.initial_batch_size;
  let total = 0;
  for (;;) {
    if (hooks.shouldStop()) throw new OperationError('stopped before the backfill finished');
    const started = performance.now();
    await client.query('BEGIN');
    let result: BatchResult;
    try {
      await applyTimeouts(client, timeouts, true);
      result = await batch(lower, size);
      await hooks.checkpoint(client, result.upper, result.rowsChanged);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    total += result.rowsChanged;
    const elapsed = performance.now() - started;
    logger.debug({ size, elapsedMs: Math.round(elapsed), rowsChanged: result.rowsChanged }, 'sub-batch');
    if (result.upper === null) return total;
    lower = result.upper;
    const scaled = Math.round(size * (spec.batch_target_ms / Math.max(elapsed, 1)));
    size = Math.max(1, Math.min(spec.max_batch_size, Math.max(Math.floor(size / 2), Math.min(size * 2, scaled))));
  }
}
