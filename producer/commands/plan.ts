import { emptyCatalogState, readCatalogState } from '../../shared/catalog/state.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { targetLine, withDatabase, type CommandContext } from '../context.js';
import { table } from '../format.js';
import { planUp, type Plan } from '../planner.js';

export interface PlanOptions {
  to?: string;
  set?: string;
  json?: boolean;
}

export async function computePlan(ctx: CommandContext, options: PlanOptions): Promise<Plan> {
  const definitions = await loadDefinitions(ctx.config.migrationsDir, ctx.config.MIGRATIONS_LAYOUT);
  const state = await withDatabase(ctx.config, { create: false }, async (db) =>
    db.catalogReady ? readCatalogState(db.pool, db.tables, ctx.config.ENVIRONMENT) : emptyCatalogState(),
  );
  return planUp(definitions, state, { environment: ctx.config.ENVIRONMENT, to: options.to, setId: options.set });
}

/** Shows what `up` would do, stage by stage, without changing anything. */
export async function planCommand(ctx: CommandContext, options: PlanOptions): Promise<number> {
  const plan = await computePlan(ctx, options);
  if (options.json) {
    ctx.out(JSON.stringify(plan, null, 2));
    return 0;
  }
  ctx.out(targetLine(ctx.config));
  for (const warning of plan.warnings) ctx.out(`warning: ${warning}`);
  const steps = plan.stages.flat();
  if (steps.length === 0) {
    ctx.out(`nothing to apply in ${plan.environment}`);
    return 0;
  }
  ctx.out(`${steps.length} migrations in ${plan.stages.length} stages for ${plan.environment}`);
  ctx.out(table(['stage', 'migration', 'kind', 'version', 'set'], steps.map((s) => [s.stage + 1, s.migrationId, s.kind, s.schemaVersion, s.setId])));
  return 0;
}
