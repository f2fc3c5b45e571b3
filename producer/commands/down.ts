import type pg from 'pg';
import { registeredChecksums } from '../../shared/catalog/definitions.js';
import { readMigrationStatus } from '../../shared/catalog/lifecycle.js';
import type { CatalogState } from '../../shared/catalog/state.js';
import { readRun, runSteps, type RunRow } from '../../shared/catalog/runs.js';
import type { DefinitionSet } from '../../shared/definitions/loader.js';
import { BadInputError } from '../../shared/errors.js';
import { rollbackSteps } from '../../shared/rollback.js';
import { confirmInProduction, type CommandContext, type Database } from '../context.js';
import { checkDrift, dependencyGraph, planDown } from '../planner.js';
import { undoProblem } from '../../shared/definitions/loader.js';
import { stepKind } from '../../shared/step-kind.js';
import { createRun } from '../runs.js';
import { planAndStartRun } from './report-run.js';

export interface DownOptions {
  to: string;
  wait?: boolean;
  json?: boolean;
  yes?: boolean;
}

/** Undoes every applied migration after `--to`, through the fleet, dependents first. */
export async function downCommand(ctx: CommandContext, options: DownOptions): Promise<number> {
  const { config } = ctx;
  await confirmInProduction(ctx, options, `undoing every migration after ${options.to}`);
  return planAndStartRun(ctx, options, async (client, db, definitions, state) => {
    const plan = planDown(definitions, state, { environment: config.ENVIRONMENT, to: options.to });
    const steps = plan.stages.flat();
    const checksums = await registeredChecksums(client, db.tables, steps.map((step) => step.migrationId));
    return createRun(
      client,
      db.tables,
      { environment: config.ENVIRONMENT, direction: 'down', target: options.to, setId: null, rollbackOf: null, autoRollback: false, plan: { kind: 'down', ...plan }, planHash: plan.hash, createdBy: config.ACTOR },
      steps.map((step) => ({ migrationId: step.migrationId, direction: 'down', stage: step.stage, kind: step.kind, checksum: checksums.get(step.migrationId)! })),
      { actor: config.ACTOR, action: 'run.down_requested', details: { to: options.to, migrations: steps.length } },
    );
  });
}

/**
 * Rolls back what one earlier run applied, in reverse stage order, through the fleet; refused
 * while a migration applied later (and not undone) depends on one of them: that run goes first.
 */
export async function rollbackCommand(ctx: CommandContext, options: { run: string; wait?: boolean; json?: boolean; yes?: boolean }): Promise<number> {
  const { config } = ctx;
  await confirmInProduction(ctx, options, `rolling back run ${options.run}`);
  return planAndStartRun(ctx, options, async (client, db, definitions, state) => {
    const run = await readRun(client, db.tables, options.run);
    if (!run) throw new BadInputError(`unknown run ${options.run}`, { runId: options.run, field: '--run' });
    if (run.environment !== config.ENVIRONMENT) {
      throw new BadInputError(`run ${options.run} belongs to ${run.environment}, not ${config.ENVIRONMENT}: set ENVIRONMENT=${run.environment}`, { runId: options.run, field: '--run' });
    }
    if (run.direction !== 'up') throw new BadInputError(`run ${options.run} is a rollback itself`, { runId: options.run, field: '--run' });
    if (run.status === 'running' || run.status === 'rolling_back') {
      throw new BadInputError(`run ${options.run} is still ${run.status}: cancel it first`, { runId: options.run, field: '--run' });
    }
    const upSteps = (await runSteps(client, db.tables, run.run_id)).filter(
      (step) => step.direction === 'up' && ['completed', 'failed'].includes(state.migrations.get(step.migration_id)?.status ?? ''),
    );
    // The files must still be what was applied (or accepted with `repair`): a rollback runs the registered downs.
    checkDrift(definitions, state);
    const byId = new Map(definitions.migrations.map((migration) => [migration.id, migration]));
    const rollback = rollbackSteps(upSteps, (migrationId) => {
      const migration = byId.get(migrationId);
      if (!migration) {
        throw new BadInputError(`run ${run.run_id} applied ${migrationId}, whose definition is no longer in ${definitions.dir}`, { runId: run.run_id, migrationId, field: '--run' });
      }
      const problem = undoProblem(migration);
      return { kind: stepKind(migration, 'down'), ...(problem === undefined ? {} : { problem }) };
    });
    if (rollback.stoppedBefore) {
      const { migrationId, reason } = rollback.stoppedBefore;
      throw new BadInputError(`run ${run.run_id} cannot be rolled back: ${migrationId} cannot be undone (${reason}); use \`down --to\` to undo what came after it`, {
        runId: run.run_id,
        migrationId,
        field: '--run',
      });
    }
    const steps = rollback.steps;
    await refuseUndoingDependencies(client, db, definitions, state, run, new Set(steps.map((step) => step.migrationId)));
    const plan = { kind: 'rollback' as const, environment: run.environment, rollbackOf: run.run_id, steps };
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
}

/** A migration still applied that depends (explicitly, by history, set or version) on one being undone stops the rollback. */
async function refuseUndoingDependencies(
  client: pg.PoolClient,
  db: Database,
  definitions: DefinitionSet,
  state: CatalogState,
  run: RunRow,
  undoing: Set<string>,
): Promise<void> {
  const { plain, versionDeps } = dependencyGraph(definitions);
  for (const applied of state.migrations.values()) {
    if (undoing.has(applied.migrationId) || (applied.status !== 'completed' && applied.status !== 'running')) continue;
    const needed = [...(plain.get(applied.migrationId) ?? []), ...(versionDeps.get(applied.migrationId) ?? [])].find((id) => undoing.has(id));
    if (needed === undefined) continue;
    const later = (await readMigrationStatus(client, db.tables, applied.migrationId, run.environment))?.run_id;
    throw new BadInputError(
      `run ${run.run_id} applied ${needed}, which ${applied.migrationId} depends on, and ${applied.migrationId} is still applied` +
        `${later ? ` (by run ${later}): roll back run ${later} first` : ''}, or go down with \`down --to\``,
      { runId: run.run_id, migrationId: applied.migrationId, field: '--run' },
    );
  }
}
