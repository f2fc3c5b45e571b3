import type pg from 'pg';
import { readStoredMigration } from '../shared/catalog/definitions.js';
import { abandonRunningExecutions, dispatchedExecution, failExecution, skipExecution, startExecution } from '../shared/catalog/executions.js';
import { cancelSteps, claimStep, stepMayRun } from '../shared/catalog/lifecycle.js';
import { readRun, readStep } from '../shared/catalog/runs.js';
import { OperationError } from '../shared/errors.js';
import type { StepJobData } from '../shared/jobs.js';
import { backfillDown, backfillUp } from './backfill-step.js';
import { migrationTimeouts, resetSession } from './session.js';
import { statementByStatementStep, transactionalStep } from './sql-steps.js';
import { runMode, type SqlScript } from '../shared/definitions/loader.js';
import type { ExecutionContext, RunnerDeps, StepOutcome } from './step-context.js';

export type { RunnerDeps, StepOutcome };

/**
 * Executes one step job. Safe to deliver twice: a transactional step's effect, its
 * migration status and its execution record commit together under an advisory lock;
 * other kinds record progress statement by statement or batch by batch.
 */
export async function runStep(deps: RunnerDeps, data: StepJobData, attempt: number): Promise<StepOutcome> {
  const { pool, tables: t, config, workerId } = deps;
  const step = await readStep(pool, t, data.stepId);
  const run = step && (await readRun(pool, t, step.run_id));
  if (!step || !run) throw new OperationError(`step ${data.stepId} is not in the catalog`, { runId: data.runId, migrationId: data.migrationId });
  if (step.status === 'completed' || step.status === 'cancelled' || step.status === 'failed') return 'skipped';
  // A paused run keeps its steps queued: the coordinator re-drives them after resume.
  if (run.status === 'paused') return 'skipped';
  if (!stepMayRun(run, step)) {
    await cancelSteps(pool, t, [step.step_id], ['pending', 'queued', 'running']);
    return 'skipped';
  }

  await abandonRunningExecutions(pool, t, step.step_id);
  if (!(await claimStep(pool, t, step.step_id, workerId))) return 'skipped';
  const migration = await readStoredMigration(pool, t, step.migration_id);
  if (step.direction === 'up' && migration.checksum !== step.checksum) {
    throw new OperationError(`migration ${step.migration_id} changed after the run was planned; start a new run`, {
      migrationId: step.migration_id,
      runId: run.run_id,
    });
  }
  const client = await pool.connect();
  let healthy = true;
  const executionId = await startExecution(client, t, {
    migrationId: step.migration_id,
    environment: run.environment,
    executionType: step.direction === 'up' ? 'forward' : 'rollback',
    runId: run.run_id,
    stepId: step.step_id,
    attempt,
    workerId,
    executedBy: run.created_by,
  }).catch((error) => {
    client.release(true);
    throw error;
  });
  const logger = deps.logger.child({ runId: run.run_id, stepId: step.step_id, migrationId: step.migration_id, direction: step.direction, attempt });
  const timeouts = migrationTimeouts(migration.meta, config);
  const context: ExecutionContext = { deps, run, step, migration, executionId, timeouts, logger };
  try {
    logger.info('step started');
    const outcome = await execute(client, context);
    if (outcome === 'dispatched') await dispatchedExecution(client, t, executionId);
    if (outcome === 'skipped') await skipExecution(client, t, executionId, 'another live attempt holds the migration');
    logger.info({ outcome }, 'step finished');
    return outcome;
  } catch (error) {
    healthy = false;
    await failExecution(pool, t, executionId, {
      message: (error as Error).message,
      sqlstate: (error as { code?: string }).code,
      details: Object.fromEntries(
        (['position', 'where', 'detail', 'hint', 'schema', 'table', 'column', 'constraint', 'dataType'] as const)
          .map((field) => [field, (error as Record<string, unknown>)[field]])
          .filter(([, value]) => value !== undefined),
      ),
    }).catch((recordError) => logger.error({ err: recordError }, 'could not record the failed attempt'));
    throw error;
  } finally {
    // The next step starts from a clean session, as psql's one session per file would: nothing a
    // migration SET, created as temporary or locked reaches it. A connection that saw an error
    // is never reused.
    if (healthy) healthy = await resetSession(client);
    client.release(healthy ? undefined : true);
  }
}

async function execute(client: pg.PoolClient, ctx: ExecutionContext): Promise<StepOutcome> {
  const { step, migration } = ctx;
  if (step.direction === 'up') {
    if (migration.meta.backfill) return backfillUp(client, ctx);
    return runScript(client, ctx, migration.up);
  }
  if (migration.meta.backfill?.set !== undefined && migration.meta.backfill.backup) return backfillDown(client, ctx);
  if (!migration.down) {
    const reason = migration.downError ? `its down cannot be used: ${migration.downError}` : 'it is irreversible (no down)';
    throw new OperationError(`migration ${migration.migrationId} cannot be undone: ${reason}`, { migrationId: migration.migrationId });
  }
  return runScript(client, ctx, migration.down);
}

function runScript(client: pg.PoolClient, ctx: ExecutionContext, script: SqlScript): Promise<StepOutcome> {
  switch (runMode(script, ctx.migration.meta)) {
    case 'transaction':
      return transactionalStep(client, ctx, script);
    case 'script':
    case 'per_statement':
      return statementByStatementStep(client, ctx, script);
  }
}
