import type pg from 'pg';
import { readCatalogState, type CatalogState } from '../../shared/catalog/state.js';
import { inTransaction } from '../../shared/db.js';
import { loadDefinitions, type DefinitionSet } from '../../shared/definitions/loader.js';
import { enqueueSteps } from '../../shared/enqueue.js';
import { EXIT_FAILED } from '../../shared/errors.js';
import { withDatabase, type CommandContext, type Database } from '../context.js';
import { withQueues } from '../fleet-client.js';
import { followRun } from '../follow.js';
import { lockEnvironment, type CreateOutcome } from '../runs.js';

/**
 * The shape of `up` and `down`: plan and create the run in one transaction under the
 * environment's lock (racing producers create one run), then enqueue, print and follow it.
 */
export async function planAndStartRun(
  ctx: CommandContext,
  options: { wait?: boolean; json?: boolean },
  create: (client: pg.PoolClient, db: Database, definitions: DefinitionSet, state: CatalogState) => Promise<CreateOutcome>,
): Promise<number> {
  const definitions = await loadDefinitions(ctx.config.migrationsDir, ctx.config.MIGRATIONS_LAYOUT);
  return withDatabase(ctx.config, { create: true }, async (db) => {
    const outcome = await inTransaction(db.pool, async (client) => {
      await lockEnvironment(client, ctx.config.ENVIRONMENT);
      return create(client, db, definitions, await readCatalogState(client, db.tables, ctx.config.ENVIRONMENT));
    });
    return reportRun(ctx, db, outcome, options);
  });
}

/** After a run was (or was not) created: enqueue its first stage, print it, follow it with --wait. */
export async function reportRun(ctx: CommandContext, db: Database, outcome: CreateOutcome, options: { wait?: boolean; json?: boolean }): Promise<number> {
  const { config } = ctx;
  const print = (human: string, json: Record<string, unknown>) => ctx.out(options.json ? JSON.stringify(json) : human);
  if (outcome.kind === 'nothing') {
    print(`nothing to do in ${config.ENVIRONMENT}`, { runId: null, status: 'up-to-date' });
    return 0;
  }
  let runId: string;
  if (outcome.kind === 'existing') {
    runId = outcome.run.run_id;
    const message = outcome.same
      ? `run ${runId} is already doing this in ${config.ENVIRONMENT}`
      : `another run ${runId} is active in ${config.ENVIRONMENT}; wait for it or cancel it`;
    print(message, { runId, status: outcome.run.status, existing: true });
    if (!outcome.same) return EXIT_FAILED;
  } else {
    runId = outcome.runId;
    await withQueues(config, ctx.logger, (queues) => enqueueSteps(queues.steps, config, outcome.queued));
    print(`run ${runId}: ${outcome.steps} migrations in ${outcome.stages} stages queued for ${config.ENVIRONMENT}`, {
      runId,
      status: 'running',
      migrations: outcome.steps,
      stages: outcome.stages,
    });
  }
  if (!options.wait) return 0;
  const final = await followRun(db, runId, options.json ? { line: () => undefined } : { line: ctx.out, redraw: ctx.redraw });
  if (options.json) ctx.out(JSON.stringify({ runId, status: final.status, error: final.error }));
  return final.status === 'completed' ? 0 : EXIT_FAILED;
}
