import { readAudit } from '../../shared/catalog/audit.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { table } from '../format.js';

export interface HistoryOptions {
  migration?: string;
  run?: string;
  action?: string;
  actor?: string;
  since?: string;
  limit?: string;
  allEnvironments?: boolean;
  json?: boolean;
}

/** The audit trail: who did what, when, to which run and migration (newest first). */
export async function historyCommand(ctx: CommandContext, options: HistoryOptions): Promise<number> {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new BadInputError(`--limit must be a whole number from 1 to 10000, not ${options.limit}`, { field: '--limit' });
  const since = options.since === undefined ? undefined : new Date(options.since);
  if (since !== undefined && Number.isNaN(since.getTime())) throw new BadInputError(`--since takes a date or time such as 2025-01-31 or 2025-01-31T14:30:00Z, not ${options.since}`, { field: '--since' });
  const rows = await withDatabase(ctx.config, { create: false }, async (db) =>
    db.catalogReady
      ? readAudit(db.pool, db.tables, {
          migrationId: options.migration, runId: options.run, action: options.action, actor: options.actor, since, limit,
          environment: options.allEnvironments ? undefined : ctx.config.ENVIRONMENT,
        })
      : [],
  );
  if (options.json) {
    ctx.out(JSON.stringify({ entries: rows.map((row) => ({ ...row, at: row.at.toISOString() })) }));
    return 0;
  }
  ctx.out(
    table(
      ['at', 'actor', 'action', 'environment', 'run', 'migration', 'details'],
      rows.map((row) => [row.at.toISOString(), row.actor, row.action, row.environment, row.run_id, row.migration_id, JSON.stringify(row.details).slice(0, 80)]),
    ),
  );
  return 0;
}
