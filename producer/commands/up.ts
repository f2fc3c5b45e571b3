import { registerDefinitions } from '../../shared/catalog/definitions.js';
import type { CommandContext } from '../context.js';
import { planUp } from '../planner.js';
import { createRun } from '../runs.js';
import { planAndStartRun } from './report-run.js';

export interface UpOptions {
  to?: string;
  set?: string;
  wait?: boolean;
  json?: boolean;
}

/** Applies pending migrations: a run whose first stage is queued; definitions are registered with it. */
export async function upCommand(ctx: CommandContext, options: UpOptions): Promise<number> {
  const { config } = ctx;
  return planAndStartRun(ctx, options, async (client, db, definitions, state) => {
    const plan = planUp(definitions, state, { environment: config.ENVIRONMENT, to: options.to, setId: options.set });
    const steps = plan.stages.flat();
    const byId = new Map(definitions.migrations.map((m) => [m.id, m]));
    const set = definitions.sets.find((s) => s.id === options.set);
    return createRun(
      client,
      db.tables,
      {
        environment: config.ENVIRONMENT,
        direction: 'up',
        target: options.to ?? null,
        setId: options.set ?? null,
        rollbackOf: null,
        autoRollback: steps.every((step) => byId.get(step.migrationId)!.meta.auto_rollback) && (set?.rollback_all_on_failure ?? true),
        plan: { kind: 'up', ...plan },
        planHash: plan.hash,
        createdBy: config.ACTOR,
      },
      steps.map((step) => ({ migrationId: step.migrationId, direction: 'up', stage: step.stage, kind: step.kind, checksum: byId.get(step.migrationId)!.checksum })),
      { actor: config.ACTOR, action: 'run.created', details: { migrations: steps.length, stages: plan.stages.length, target: options.to ?? null, set: options.set ?? null } },
      () => registerDefinitions(client, db.tables, definitions),
    );
  });
}
