import { recordAudit } from '../../shared/catalog/audit.js';
import { setMigrationStatus } from '../../shared/catalog/executions.js';
import { readRun, setRunStatus, setStepsStatus, runSteps } from '../../shared/catalog/runs.js';
import { inTransaction } from '../../shared/db.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';

/**
 * Stops a run: steps not started are cancelled, a step already running finishes (its
 * transaction is not torn down halfway); what completed stays applied until rolled back.
 */
export async function cancelCommand(ctx: CommandContext, options: { run: string; reason?: string }): Promise<number> {
  const { config } = ctx;
  await withDatabase(config, { create: true }, (db) =>
    inTransaction(db.pool, async (client) => {
      const run = await readRun(client, db.tables, options.run, { forUpdate: true });
      if (!run) throw new BadInputError(`unknown run ${options.run}`, { runId: options.run, field: '--run' });
      if (run.status !== 'running' && run.status !== 'paused' && run.status !== 'rolling_back') {
        throw new BadInputError(`run ${options.run} is ${run.status}, not active`, { runId: options.run, field: '--run' });
      }
      const open = (await runSteps(client, db.tables, run.run_id)).filter((step) => step.status === 'pending' || step.status === 'queued');
      await setStepsStatus(client, db.tables, open.map((step) => step.step_id), 'cancelled', ['pending', 'queued']);
      await client.query(`UPDATE ${db.tables.chunks} SET status = 'cancelled' WHERE run_id = $1 AND status IN ('pending', 'queued', 'paused')`, [run.run_id]);
      // A backfill stopped midway has changed rows (and saved their old values): record it as
      // failed, so `rollback --run` restores it and the next `up` finishes it.
      const { rows: partial } = await client.query<{ migration_id: string }>(
        `UPDATE ${db.tables.steps} s SET status = 'failed', finished_at = clock_timestamp(), last_error = 'cancelled while its chunks ran'
          WHERE s.run_id = $1 AND s.direction = 'up' AND s.kind = 'backfill' AND s.status = 'running'
            AND EXISTS (SELECT 1 FROM ${db.tables.chunks} c WHERE c.step_id = s.step_id)
        RETURNING s.migration_id`,
        [run.run_id],
      );
      for (const { migration_id } of partial) {
        await setMigrationStatus(client, db.tables, { migrationId: migration_id, environment: run.environment, status: 'failed', runId: run.run_id });
      }
      await setRunStatus(client, db.tables, run.run_id, 'cancelled', { message: `cancelled by ${config.ACTOR}${options.reason ? `: ${options.reason}` : ''}` });
      await recordAudit(client, db.tables, { actor: config.ACTOR, action: 'run.cancelled', environment: run.environment, runId: run.run_id, details: { reason: options.reason ?? null } });
    }),
  );
  ctx.out(`run ${options.run} cancelled`);
  return 0;
}
