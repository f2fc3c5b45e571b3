import type pg from 'pg';
import { failStepRow, readMigrationStatus, setMigrationStatus } from '../shared/catalog/lifecycle.js';
import { readRun, readStep } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { FleetQueues } from '../shared/events.js';

/**
 * A step (or one of its chunks) failed for good: mark it failed in the catalog, file a
 * dead letter with its context, and tell the coordinator, which stops or rolls back the run.
 */
export async function failStep(
  deps: { pool: pg.Pool; tables: Tables; queues: FleetQueues },
  data: { runId: string; stepId: string; migrationId: string },
  source: { sourceQueue: string; jobId: string; attemptsMade: number },
  error: { message: string; sqlstate?: string },
): Promise<void> {
  const { pool, tables: t, queues } = deps;
  const step = await readStep(pool, t, data.stepId);
  const run = step && (await readRun(pool, t, step.run_id));
  await failStepRow(pool, t, data.stepId, error);
  if (step && run && step.direction === 'up') {
    if ((await readMigrationStatus(pool, t, step.migration_id, run.environment))?.status !== 'completed') {
      await setMigrationStatus(pool, t, { migrationId: step.migration_id, environment: run.environment, status: 'failed', runId: run.run_id });
    }
  }
  await queues.addDeadLetter({
    sourceQueue: source.sourceQueue,
    sourceJobId: source.jobId,
    runId: data.runId,
    stepId: data.stepId,
    migrationId: data.migrationId,
    direction: step?.direction ?? 'up',
    attemptsMade: source.attemptsMade,
    error: error.message,
    sqlstate: error.sqlstate ?? null,
    failedAt: new Date().toISOString(),
  });
  await queues.notifyCoordinator({ runId: data.runId, stepId: data.stepId, status: 'failed' }, source.attemptsMade);
}
