import { registerDefinitions } from '../../shared/catalog/definitions.js';
import { readCatalogState } from '../../shared/catalog/state.js';
import { inTransaction } from '../../shared/db.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { withDatabase, type CommandContext } from '../context.js';
import { planUp } from '../planner.js';
import { createRun, lockEnvironment } from '../runs.js';
import { reportRun } from './report-run.js';

export interface UpOptions {
  to?: string;
  set?: string;
  wait?: boolean;
  json?: boolean;
}

/**
 * Plans under the environment's lock, registers the run and its steps in one transaction
 * (racing producers create one run; the others report it), then enqueues the first stage.
 */
export async function upCommand(ctx: CommandContext, options: UpOptions): Promise<number> {
  const { config } = ctx;
  const definitions = await loadDefinitions(config.migrationsDir);
  return withDatabase(config, { create: true }, async (db) => {
    const outcome = await inTransaction(db.pool, async (client) => {
      await lockEnvironment(client, config.ENVIRONMENT);
      const state = await readCatalogState(client, db.tables, config.ENVIRONMENT);
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
          plan,
          planHash: plan.hash,
          createdBy: config.ACTOR,
        },
        steps.map((step) => ({ migrationId: step.migrationId, direction: 'up', stage: step.stage, kind: step.kind, checksum: byId.get(step.migrationId)!.checksum })),
        { actor: config.ACTOR, action: 'run.created', details: { migrations: steps.length, stages: plan.stages.length, target: options.to ?? null, set: options.set ?? null } },
        () => registerDefinitions(client, db.tables, definitions),
      );
    });
    return reportRun(ctx, db, outcome, options);
  });
}
