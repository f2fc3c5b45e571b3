import { recordAudit } from '../../shared/catalog/audit.js';
import { readRun } from '../../shared/catalog/runs.js';
import { inTransaction } from '../../shared/db.js';
import { BadInputError } from '../../shared/errors.js';
import { quoteIdent } from '../../shared/sql/quote.js';
import { withDatabase, type CommandContext } from '../context.js';
import { table } from '../format.js';

interface BackupRow {
  table_name: string;
  step_id: string;
  run_id: string;
  run_status: string;
  migration_id: string;
  rows: number;
  bytes: number;
}

/** $1: the catalog schema's name. */
const BACKUPS = (steps: string, runs: string) => `
  SELECT c.relname AS table_name, s.step_id, s.run_id, r.status AS run_status, s.migration_id,
         GREATEST(c.reltuples, 0)::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN ${steps} s ON s.step_id = substring(c.relname FROM '^backup_step_(\\d+)$')::bigint
    JOIN ${runs} r ON r.run_id = s.run_id
   WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname ~ '^backup_step_\\d+$'`;

/** The tables of old values kept for rolling backfills back. */
export async function backupsListCommand(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const rows = await withDatabase(ctx.config, { create: false }, async (db) =>
    db.catalogReady ? (await db.pool.query<BackupRow>(`${BACKUPS(db.tables.steps, db.tables.runs)} ORDER BY s.step_id`, [db.tables.schemaName])).rows : [],
  );
  if (options.json) {
    ctx.out(JSON.stringify(rows));
    return 0;
  }
  if (rows.length === 0) {
    ctx.out('no backups');
    return 0;
  }
  ctx.out(table(['table', 'migration', 'run', 'run status', 'rows (est.)', 'MB'], rows.map((r) => [r.table_name, r.migration_id, r.run_id, r.run_status, r.rows, (Number(r.bytes) / 1e6).toFixed(1)])));
  return 0;
}

/**
 * Drops the backups of a completed run, once the operator has verified it: from then on its
 * backfills can no longer be rolled back. Recorded in the audit log.
 */
export async function backupsDropCommand(ctx: CommandContext, options: { run: string }): Promise<number> {
  const dropped = await withDatabase(ctx.config, { create: true }, (db) =>
    inTransaction(db.pool, async (client) => {
      const run = await readRun(client, db.tables, options.run);
      if (!run) throw new BadInputError(`unknown run ${options.run}`, { runId: options.run, field: '--run' });
      if (run.status !== 'completed') {
        throw new BadInputError(`run ${options.run} is ${run.status}: only a completed run's backups can be dropped`, { runId: options.run, field: '--run' });
      }
      const { rows } = await client.query<BackupRow>(`${BACKUPS(db.tables.steps, db.tables.runs)} AND s.run_id = $2 ORDER BY c.relname`, [db.tables.schemaName, run.run_id]);
      for (const row of rows) {
        const qualified = `${db.tables.schema}.${quoteIdent(row.table_name)}`;
        await client.query(`DROP TABLE ${qualified}`);
        await client.query(`UPDATE ${db.tables.migration_status} SET backup_table = NULL WHERE backup_table = $1`, [qualified]);
      }
      await recordAudit(client, db.tables, {
        actor: ctx.config.ACTOR,
        action: 'backups.dropped',
        environment: run.environment,
        runId: run.run_id,
        details: { tables: rows.map((row) => row.table_name) },
      });
      return rows;
    }),
  );
  ctx.out(dropped.length === 0 ? `run ${options.run} has no backups` : `dropped ${dropped.map((row) => row.table_name).join(', ')}`);
  return 0;
}
