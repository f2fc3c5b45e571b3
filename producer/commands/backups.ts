import { recordAudit } from '../../shared/catalog/audit.js';
import { dropRunBackups, listBackups } from '../../shared/catalog/backups.js';
import { readRun } from '../../shared/catalog/runs.js';
import { inTransaction } from '../../shared/db.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { table } from '../format.js';

/** The tables of old values kept for rolling backfills back. */
export async function backupsListCommand(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const rows = await withDatabase(ctx.config, { create: false }, async (db) =>
    db.catalogReady ? listBackups(db.pool, db.tables) : [],
  );
  if (options.json) {
    ctx.out(JSON.stringify(rows));
    return 0;
  }
  if (rows.length === 0) {
    ctx.out('no backups');
    return 0;
  }
  ctx.out(table(['table', 'migration', 'run', 'run status', 'rows', 'MB'], rows.map((r) => [r.table_name, r.migration_id, r.run_id, r.run_status, r.rows, (Number(r.bytes) / 1e6).toFixed(1)])));
  return 0;
}

/**
 * Drops the backups of a finished run, recorded in the audit log: a completed run's once the
 * operator has verified it (its backfills can no longer be rolled back), a rolled-back run's
 * (already restored); a failed or cancelled run's only with --force, since `rollback --run`
 * restores a partly done backfill from them.
 */
export async function backupsDropCommand(ctx: CommandContext, options: { run: string; force?: boolean }): Promise<number> {
  const dropped = await withDatabase(ctx.config, { create: true }, (db) =>
    inTransaction(db.pool, async (client) => {
      const run = await readRun(client, db.tables, options.run);
      if (!run) throw new BadInputError(`unknown run ${options.run}`, { runId: options.run, field: '--run' });
      if (['running', 'paused', 'rolling_back'].includes(run.status)) {
        throw new BadInputError(`run ${options.run} is ${run.status}: its backups are in use`, { runId: options.run, field: '--run' });
      }
      if ((run.status === 'failed' || run.status === 'cancelled') && !options.force) {
        throw new BadInputError(
          `run ${options.run} is ${run.status}: \`rollback --run\` restores its backfills from these backups; drop them anyway with --force`,
          { runId: options.run, field: '--run' },
        );
      }
      const rows = await dropRunBackups(client, db.tables, run.run_id);
      await recordAudit(client, db.tables, {
        actor: ctx.config.ACTOR,
        action: 'backups.dropped',
        environment: run.environment,
        runId: run.run_id,
        details: { tables: rows.map((row) => row.table_name), ...(options.force ? { forced: run.status } : {}) },
      });
      return rows;
    }),
  );
  ctx.out(dropped.length === 0 ? `run ${options.run} has no backups` : `dropped ${dropped.map((row) => row.table_name).join(', ')}`);
  return 0;
}
