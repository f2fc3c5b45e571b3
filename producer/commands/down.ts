import { readCatalogState } from '../../shared/catalog/state.js';
import { readRun, runSteps } from '../../shared/catalog/runs.js';
import { inTransaction } from '../../shared/db.js';
import { BadInputError } from '../../shared/errors.js';
import { rollbackSteps } from '../../shared/rollback.js';
import type { Environment } from '../../shared/config.js';
import { withDatabase, type CommandContext } from '../context.js';
import { planDown } from '../planner.js';
import { createRun, lockEnvironment } from '../runs.js';
import { planAndStartRun, reportRun } from './report-run.js';

export interface DownOptions {
  to: string;
  wait?: boolean;
  json?: boolean;
}

/** Undoes every applied migration after `--to`, through the fleet, dependents first. */
export async function downCommand(ctx: CommandContext, options: DownOptions): Promise<number> {
  const { config } = ctx;
  return planAndStartRun(ctx, options, async (client, db, definitions, state) => {
    const plan = planDown(definitions, state, { environment: config.ENVIRONMENT, to: options.to });
    const steps = plan.stages.flat();
    const { rows } = await client.query<{ migration_id: string; checksum: string }>(
      `SELECT migration_id, checksum FROM ${db.tables.migrations} WHERE migration_id = ANY($1)`,
      [steps.map((step) => step.migrationId)],
    );
    const checksums = new Map(rows.map((row) => [row.migration_id, row.checksum]));
    return createRun(
      client,
      db.tables,
      { environment: config.ENVIRONMENT, direction: 'down', target: options.to, setId: null, rollbackOf: null, autoRollback: false, plan, planHash: plan.hash, createdBy: config.ACTOR },
      steps.map((step) => ({ migrationId: step.migrationId, direction: 'down', stage: step.stage, kind: step.kind, checksum: checksums.get(step.migrationId)! })),
      { actor: config.ACTOR, action: 'run.down_requested', details: { to: options.to, migrations: steps.length } },
    );
  });
}

/** Rolls back what one earlier run applied, in reverse stage order, through the fleet. */
export async function rollbackCommand(ctx: CommandContext, options: { run: string; wait?: boolean; json?: boolean }): Promise<number> {
  const { config } = ctx;
  return withDatabase(config, { create: true }, async (db) => {
    const outcome = await inTransaction(db.pool, async (client) => {
      await lockEnvironment(client, config.ENVIRONMENT);
      const run = await readRun(client, db.tables, options.run);
      if (!run) throw new BadInputError(`unknown run ${options.run}`, { runId: options.run, field: '--run' });
      if (run.direction !== 'up') throw new BadInputError(`run ${options.run} is a rollback itself`, { runId: options.run, field: '--run' });
      if (run.status === 'running' || run.status === 'rolling_back') {
        throw new BadInputError(`run ${options.run} is still ${run.status}: cancel it first`, { runId: options.run, field: '--run' });
      }
      const state = await readCatalogState(client, db.tables, run.environment as Environment);
      const upSteps = (await runSteps(client, db.tables, run.run_id)).filter(
        (step) => step.direction === 'up' && ['completed', 'failed'].includes(state.migrations.get(step.migration_id)?.status ?? ''),
      );
      const steps = rollbackSteps(upSteps);
      const plan = { environment: run.environment, direction: 'down', rollbackOf: run.run_id, steps };
      return createRun(
        client,
        db.tables,
        {
          environment: run.environment, direction: 'down', target: null, setId: run.set_id, rollbackOf: run.run_id, autoRollback: false,
          plan, planHash: `rollback-${run.run_id}`, createdBy: config.ACTOR,
        },
        steps,
        { actor: config.ACTOR, action: 'run.rollback_requested', details: { rollbackOf: run.run_id, migrations: steps.length } },
      );
    });
    return reportRun(ctx, db, outcome, options);
  });
}
