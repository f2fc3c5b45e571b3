import { enqueueSteps } from '../../shared/enqueue.js';
import { EXIT_FAILED } from '../../shared/errors.js';
import type { CommandContext, Database } from '../context.js';
import { withQueues } from '../fleet-client.js';
import { followRun } from '../follow.js';
import type { CreateOutcome } from '../runs.js';

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
    await withQueues(config, (queues) => enqueueSteps(queues.steps, config, outcome.queued));
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
