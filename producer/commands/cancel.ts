import { recordAudit } from '../../shared/catalog/audit.js';
import { cancelOpenChunks, cancelSteps, failCancelledBackfills, setMigrationStatus, setRunStatus } from '../../shared/catalog/lifecycle.js';
import { readRun, runSteps } from '../../shared/catalog/runs.js';
import { inConflictRetriedTransaction } from '../../shared/db.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';

/**
 * Stops a run: steps not started are cancelled, a step already running finishes (its
 * transaction is not torn down halfway); what completed stays applied until rolled back.
 */
export async function cancelCommand(ctx: CommandContext, options: { run: string; reason?: string }): Promise<number> {
  const { config } = ctx;
  await withDatabase(config, { create: true }, (db) =>
    inConflictRetriedTransaction(db.pool, async (client) => {
      const run = await readRun(client, db.tables, options.run, { forUpdate: true });
      if (!run) throw new BadInputError(`unknown run ${options.run}`, { runId: options.run, field: '--run' });
      if (run.status !== 'running' && run.status !== 'paused' && run.status !== 'rolling_back') {
        throw new BadInputError(`run ${options.run} is ${run.status}, not active`, { runId: options.run, field: '--run' });
      }
      const open = (await runSteps(client, db.tables, run.run_id)).filter((step) => step.status === 'pending' || step.status === 'queued');
      await cancelSteps(client, db.tables, open.map((step) => step.step_id));
      await cancelOpenChunks(client, db.tables, run.run_id);
      for (const migrationId of await failCancelledBackfills(client, db.tables, run.run_id)) {
        await setMigrationStatus(client, db.tables, { migrationId, environment: run.environment, status: 'failed', runId: run.run_id });
      }
      await setRunStatus(client, db.tables, run.run_id, 'cancelled', { message: `cancelled by ${config.ACTOR}${options.reason ? `: ${options.reason}` : ''}` });
      await recordAudit(client, db.tables, { actor: config.ACTOR, action: 'run.cancelled', environment: run.environment, runId: run.run_id, details: { reason: options.reason ?? null } });
    }),
  );
  ctx.out(`run ${options.run} cancelled`);
  return 0;
}
