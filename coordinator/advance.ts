import { recordAudit } from '../shared/catalog/audit.js';
import { cancelSteps, queueSteps, setRunStatus } from '../shared/catalog/lifecycle.js';
import { insertSteps, readRun, runSteps, type RunRow, type StepRow } from '../shared/catalog/runs.js';
import { DISPATCHED_STATUSES } from '../shared/catalog/statuses.js';
import { rollbackSteps, type RollbackPlan } from '../shared/rollback.js';
import { readUndoInfo } from '../shared/catalog/definitions.js';
import type { Tables } from '../shared/catalog/tables.js';
import { refreshVersionDeployments } from '../shared/catalog/versions.js';
import { inTransaction } from '../shared/db.js';
import type pg from 'pg';

export interface Advance {
  run: RunRow | undefined;
  /** Steps marked queued in this transaction, to be added to the queue after commit. */
  toEnqueue: StepRow[];
}

/**
 * Moves one run forward from what the catalog says, under a row lock on the run, so any
 * number of calls (events, ticks, two coordinators for a moment) converge on one result.
 */
export async function advanceRun(pool: pg.Pool, t: Tables, runId: string): Promise<Advance> {
  return inTransaction(pool, async (client) => {
    const run = await readRun(client, t, runId, { forUpdate: true });
    if (!run || (run.status !== 'running' && run.status !== 'rolling_back')) return { run, toEnqueue: [] };
    const steps = await runSteps(client, t, runId);
    const phase = run.status === 'rolling_back' || run.direction === 'down' ? 'down' : 'up';
    const current = steps.filter((step) => step.direction === phase);
    const failed = current.find((step) => step.status === 'failed');

    if (failed) {
      await cancelSteps(client, t, current.filter((s) => s.status === 'pending' || s.status === 'queued').map((s) => s.step_id));
      const stillActive = (await runSteps(client, t, runId)).some((s) => s.direction === phase && (DISPATCHED_STATUSES as readonly string[]).includes(s.status));
      if (stillActive) return { run, toEnqueue: [] };
      const reason = { message: `${failed.migration_id}: ${failed.last_error ?? 'failed'}`, code: failed.last_sqlstate };
      if (phase === 'up' && run.auto_rollback) {
        const rollback = await planRollback(client, t, runId);
        const down = rollback.steps;
        if (down.length === 0 && rollback.stoppedBefore) {
          await endFailed(client, t, run, { message: `${reason.message}; ${partialRollbackMessage(rollback)}`, code: reason.code }, { left: rollback.left });
          return { run, toEnqueue: [] };
        }
        await setRunStatus(client, t, runId, down.length > 0 ? 'rolling_back' : 'rolled_back', reason);
        await recordAudit(client, t, {
          actor: 'coordinator', action: 'run.rollback_started', environment: run.environment, runId,
          details: { reason: reason.message, steps: down.length, stopsBefore: rollback.stoppedBefore ?? null },
        });
        await insertSteps(client, t, runId, down);
        if (down.length === 0) await refreshVersionDeployments(client, t, run.environment, runId);
        return { run, toEnqueue: await queueNextStage(client, t, runId, 'down') };
      }
      const message = phase === 'down' && run.direction === 'up' ? `rollback failed: ${reason.message}` : reason.message;
      await endFailed(client, t, run, { message, code: reason.code });
      return { run, toEnqueue: [] };
    }

    if (current.every((step) => step.status === 'completed' || step.status === 'cancelled')) {
      const status = phase === 'down' && run.direction === 'up' ? 'rolled_back' : 'completed';
      const rollback = status === 'rolled_back' ? await planRollback(client, t, runId) : undefined;
      if (rollback?.stoppedBefore) {
        // Undone as far as possible: what it stopped before stays applied, and the run says so.
        await endFailed(client, t, run, { message: `${run.error ?? 'failed'}; ${partialRollbackMessage(rollback)}` }, { left: rollback.left });
        return { run, toEnqueue: [] };
      }
      await setRunStatus(client, t, runId, status);
      await refreshVersionDeployments(client, t, run.environment, runId);
      await recordAudit(client, t, { actor: 'coordinator', action: `run.${status}`, environment: run.environment, runId });
      return { run, toEnqueue: [] };
    }
    return { run, toEnqueue: await queueNextStage(client, t, runId, phase) };
  });
}

/** A run ends failed: its status and error, the versions it deployed, and the audit entry. */
async function endFailed(client: pg.PoolClient, t: Tables, run: RunRow, error: { message: string; code?: string | null }, details: Record<string, unknown> = {}): Promise<void> {
  await setRunStatus(client, t, run.run_id, 'failed', error);
  await refreshVersionDeployments(client, t, run.environment, run.run_id);
  await recordAudit(client, t, { actor: 'coordinator', action: 'run.failed', environment: run.environment, runId: run.run_id, details: { reason: error.message, ...details } });
}

/** The rollback of an up run's changes, from its up steps and the downs the catalog registered. */
async function planRollback(client: pg.PoolClient, t: Tables, runId: string): Promise<RollbackPlan> {
  const steps = await runSteps(client, t, runId);
  const info = await readUndoInfo(client, t, steps.filter((step) => step.direction === 'up').map((step) => step.migration_id));
  return rollbackSteps(steps, (migrationId) => info.get(migrationId)!);
}

/** What a rollback that stopped before a migration it cannot undo leaves, in words `status` shows. */
export function partialRollbackMessage(rollback: RollbackPlan): string {
  const { migrationId, reason } = rollback.stoppedBefore!;
  const undone = rollback.steps.length;
  return `rolled back ${undone} migration${undone === 1 ? '' : 's'} and stopped before ${migrationId}, which cannot be undone (${reason}); still applied: ${rollback.left.join(', ')}`;
}

/** Marks the lowest unfinished stage's pending steps queued, once nothing of an earlier stage is left. */
async function queueNextStage(client: pg.PoolClient, t: Tables, runId: string, phase: 'up' | 'down'): Promise<StepRow[]> {
  const steps = (await runSteps(client, t, runId)).filter((step) => step.direction === phase);
  const unfinished = steps.filter((step) => step.status !== 'completed' && step.status !== 'cancelled');
  if (unfinished.length === 0) return [];
  const stage = Math.min(...unfinished.map((step) => step.stage));
  const pending = unfinished.filter((step) => step.stage === stage && step.status === 'pending');
  return queueSteps(client, t, pending.map((step) => step.step_id));
}
