import { emptyCatalogState } from '../../shared/catalog/state.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import type { CommandContext } from '../context.js';
import { planUp } from '../planner.js';

/** Checks definitions alone: schema, SQL syntax, dependencies, sets and versions. No database needed. */
export async function validateCommand(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const definitions = await loadDefinitions(ctx.config.migrationsDir, ctx.config.MIGRATIONS_LAYOUT);
  const plan = planUp(definitions, emptyCatalogState(), { environment: ctx.config.ENVIRONMENT });
  const summary = {
    valid: true,
    migrations: definitions.migrations.length,
    sets: definitions.sets.length,
    versions: definitions.versions.length,
    stages: plan.stages.length,
    layout: definitions.layout,
    warnings: plan.warnings,
  };
  if (options.json) ctx.out(JSON.stringify(summary));
  else {
    ctx.out(`ok: ${summary.migrations} migrations, ${summary.sets} coordinated sets, ${summary.versions} versions, ${summary.stages} stages${definitions.layout === 'pgfm' ? '' : ` (${definitions.layout} layout)`}`);
    for (const warning of plan.warnings) ctx.out(`warning: ${warning}`);
  }
  return 0;
}
