import type { Job } from 'bullmq';
import { recordAudit } from '../../shared/catalog/audit.js';
import { reopenCancelledSteps, reopenStoppedChunks, retryFailedStep, setRunStatus } from '../../shared/catalog/lifecycle.js';
import { hasDownSteps, readRun } from '../../shared/catalog/runs.js';
import { inConflictRetriedTransaction } from '../../shared/db.js';
import { enqueueSteps } from '../../shared/enqueue.js';
import { BadInputError, OperationError } from '../../shared/errors.js';
import type { DeadLetter } from '../../shared/jobs.js';
import { withDatabase, type CommandContext } from '../context.js';
import { withQueues } from '../fleet-client.js';
import { table } from '../format.js';

const LISTED = ['waiting', 'delayed', 'prioritized'] as const;

async function letters(ctx: CommandContext): Promise<Job<DeadLetter>[]> {
  return withQueues(ctx.config, ctx.logger, (queues) => queues.deadLetter.getJobs([...LISTED], 0, -1, true) as Promise<Job<DeadLetter>[]>);
}

export async function dlqListCommand(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const jobs = await letters(ctx);
  if (options.json) {
    ctx.out(JSON.stringify(jobs.map((job) => ({ id: job.id, ...job.data }))));
    return 0;
  }
  if (jobs.length === 0) {
    ctx.out('the dead-letter queue is empty');
    return 0;
  }
  ctx.out(
    table(
      ['id', 'migration', 'direction', 'run', 'attempts', 'sqlstate', 'failed at', 'error'],
      jobs.map((job) => [job.id, job.data.migrationId, job.data.direction, job.data.runId, job.data.attemptsMade, job.data.sqlstate, job.data.failedAt, job.data.error.slice(0, 80)]),
    ),
  );
  return 0;
}

export async function dlqShowCommand(ctx: CommandContext, id: string): Promise<number> {
  const job = await withQueues(ctx.config, ctx.logger, (queues) => queues.deadLetter.getJob(id));
  if (!job) throw new BadInputError(`no dead letter ${id}`, { field: 'id' });
  ctx.out(JSON.stringify({ id: job.id, ...job.data }, null, 2));
  return 0;
}

/**
 * Re-drives a dead letter: only for a run that failed without rolling back (auto_rollback
 * off, or a failed rollback); the step gets a new generation, hence a new job id.
 */
export async function dlqRetryCommand(ctx: CommandContext, id: string): Promise<number> {
  const { config } = ctx;
  return withQueues(config, ctx.logger, async (queues) => {
    const job = (await queues.deadLetter.getJob(id)) as Job<DeadLetter> | undefined;
    if (!job) throw new BadInputError(`no dead letter ${id}`, { field: 'id' });
    const letter = job.data;
    const queued = await withDatabase(config, { create: true }, (db) =>
      inConflictRetriedTransaction(db.pool, async (client) => {
        const run = await readRun(client, db.tables, letter.runId, { forUpdate: true });
        if (!run) throw new OperationError(`run ${letter.runId} is no longer in the catalog`, { runId: letter.runId });
        if (run.status !== 'failed') {
          throw new OperationError(`run ${run.run_id} is ${run.status}; only a failed run can be re-driven (start a new one with up)`, { runId: run.run_id });
        }
        if (letter.direction === 'up' && (await hasDownSteps(client, db.tables, run.run_id))) {
          throw new OperationError(`run ${run.run_id} already started rolling back; only its failed down steps can be retried`, { runId: run.run_id });
        }
        const step = await retryFailedStep(client, db.tables, letter.stepId);
        await reopenStoppedChunks(client, db.tables, letter.stepId);
        await reopenCancelledSteps(client, db.tables, run.run_id, letter.direction);
        await setRunStatus(client, db.tables, run.run_id, letter.direction === 'down' && run.direction === 'up' ? 'rolling_back' : 'running');
        await recordAudit(client, db.tables, { actor: config.ACTOR, action: 'dlq.retry', environment: run.environment, runId: run.run_id, migrationId: letter.migrationId, details: { deadLetter: id } });
        return step;
      }),
    );
    await enqueueSteps(queues.steps, config, [queued]);
    await job.remove();
    ctx.out(`re-queued ${letter.migrationId} (${letter.direction}) of run ${letter.runId}`);
    return 0;
  });
}

export async function dlqPurgeCommand(ctx: CommandContext, id: string | undefined, options: { all?: boolean }): Promise<number> {
  if (!id && !options.all) throw new BadInputError('name a dead letter id, or pass --all', { field: 'id' });
  const removed = await withQueues(ctx.config, ctx.logger, async (queues) => {
    const jobs = id ? [await queues.deadLetter.getJob(id)] : await queues.deadLetter.getJobs([...LISTED], 0, -1, true);
    let count = 0;
    for (const job of jobs) {
      if (!job) continue;
      await job.remove();
      count++;
    }
    return count;
  });
  if (id && removed === 0) throw new BadInputError(`no dead letter ${id}`, { field: 'id' });
  ctx.out(`removed ${removed} dead letter${removed === 1 ? '' : 's'}`);
  return 0;
}
