import type pg from 'pg';
import { readCatalogState, type CatalogState } from '../../shared/catalog/state.js';
import { inTransaction } from '../../shared/db.js';
import { loadDefinitions, type DefinitionSet } from '../../shared/definitions/loader.js';
import { enqueueSteps } from '../../shared/enqueue.js';
import { BadInputError, EXIT_FAILED, OperationError } from '../../shared/errors.js';
import { checkRedis, fleetProblems } from '../liveness.js';
import { targetLine, withDatabase, type CommandContext, type Database } from '../context.js';
import { withQueues } from '../fleet-client.js';
import { followRun } from '../follow.js';
import { lockEnvironment, type CreateOutcome } from '../runs.js';

/**
 * The shape of `up` and `down`: plan and create the run in one transaction under the
 * environment's lock (racing producers create one run), then enqueue, print and follow it.
 */
export async function planAndStartRun(
  ctx: CommandContext,
  options: { wait?: boolean; json?: boolean; timeout?: string },
  create: (client: pg.PoolClient, db: Database, definitions: DefinitionSet, state: CatalogState) => Promise<CreateOutcome>,
): Promise<number> {
  const definitions = await loadDefinitions(ctx.config.migrationsDir, ctx.config.MIGRATIONS_LAYOUT);
  // A run is registered only when its first stage can be queued right after.
  await checkRedis(ctx.config).catch((error: OperationError) => {
    throw new OperationError(`${error.message}: nothing was registered; start Redis or fix REDIS_URL`, error.context);
  });
  return withDatabase(ctx.config, { create: true }, async (db) => {
    const outcome = await inTransaction(db.pool, async (client) => {
      await lockEnvironment(client, ctx.config.ENVIRONMENT);
      return create(client, db, definitions, await readCatalogState(client, db.tables, ctx.config.ENVIRONMENT));
    });
    return reportRun(ctx, db, outcome, options);
  });
}

/** After a run was (or was not) created: enqueue its first stage, print it, follow it with --wait. */
export async function reportRun(ctx: CommandContext, db: Database, outcome: CreateOutcome, options: { wait?: boolean; json?: boolean; timeout?: string }): Promise<number> {
  const { config } = ctx;
  const print = (human: string, json: Record<string, unknown>) => ctx.out(options.json ? JSON.stringify(json) : human);
  // The plan held: name what it acts on before anything is queued (refused input prints nothing).
  if (!options.json) ctx.out(targetLine(config));
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
    try {
      await withQueues(config, ctx.logger, (queues) => enqueueSteps(queues.steps, config, outcome.queued));
    } catch (error) {
      throw new OperationError(
        `run ${runId} is registered, but its first stage could not be queued (${(error as Error).message}): ` +
          'a coordinator queues it once Redis answers, or `cancel --run` it',
        { runId },
      );
    }
    print(`run ${runId}: ${outcome.steps} migrations in ${outcome.stages} stages queued for ${config.ENVIRONMENT}`, {
      runId,
      status: 'running',
      migrations: outcome.steps,
      stages: outcome.stages,
    });
  }
  if (!options.wait) return 0;
  return followAndReport(ctx, db, runId, options);
}

/** Follows a run to its end (or the timeout, or Ctrl-C) with the fleet watched; exit 0 only if it completed. */
export async function followAndReport(ctx: CommandContext, db: Database, runId: string, options: { json?: boolean; timeout?: string }): Promise<number> {
  const { config } = ctx;
  const timeoutMs = parseTimeout(options.timeout);
  const output = options.json ? { line: (text: string) => (/ waiting: |^stopped following|is still .* after/.test(text) ? ctx.out(JSON.stringify({ runId, notice: text.replace(/^\d\d:\d\d:\d\d {2}/, '') })) : undefined) } : { line: ctx.out, redraw: ctx.redraw };
  const end = await withQueues(config, ctx.logger, (queues) =>
    followRun(db, runId, output, { watch: () => fleetProblems(config, db, queues), ...(timeoutMs === undefined ? {} : { timeoutMs }) }),
  );
  if (options.json) ctx.out(JSON.stringify({ runId, status: end.run.status, error: end.run.error, ...(end.ended === 'finished' ? {} : { following: end.ended }) }));
  if (end.ended === 'interrupted') return 130;
  return end.run.status === 'completed' ? 0 : EXIT_FAILED;
}

function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new BadInputError(`--timeout takes seconds (a positive number), not ${value}`, { field: '--timeout' });
  return seconds * 1000;
}
