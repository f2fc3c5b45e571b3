import type pg from 'pg';
import { recordAudit } from '../shared/catalog/audit.js';
import { queueSteps } from '../shared/catalog/lifecycle.js';
import { findActiveRun, insertRun, insertSteps, runSteps, type NewRun, type NewStep, type RunRow, type StepRow } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import { ADVISORY_KEY_SQL } from '../shared/db.js';

export type CreateOutcome =
  | { kind: 'created'; runId: string; queued: StepRow[]; steps: number; stages: number }
  | { kind: 'existing'; run: RunRow; same: boolean }
  | { kind: 'nothing' };

/** Serializes run creation per environment: racing producers wait here, then see the winner's run. */
export async function lockEnvironment(client: pg.ClientBase, environment: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [`pgfm-producer:${environment}`]);
}

/**
 * Inside the caller's transaction (which holds the environment lock): inserts the run and
 * its steps and marks the first stage queued. The caller enqueues `queued` after commit.
 */
export async function createRun(
  client: pg.ClientBase,
  t: Tables,
  run: NewRun,
  steps: NewStep[],
  audit: { actor: string; action: string; details: Record<string, unknown> },
  /** Runs only when the run is really created (e.g. registering the definitions it executes). */
  prepare: () => Promise<void> = async () => undefined,
): Promise<CreateOutcome> {
  const active = await findActiveRun(client, t, run.environment);
  if (active) return { kind: 'existing', run: active, same: active.plan_hash === run.planHash };
  if (steps.length === 0) return { kind: 'nothing' };
  await prepare();
  const runId = await insertRun(client, t, run);
  await insertSteps(client, t, runId, steps);
  const first = (await runSteps(client, t, runId)).filter((step) => step.stage === 0);
  const queued = await queueSteps(client, t, first.map((step) => step.step_id));
  await recordAudit(client, t, { actor: audit.actor, action: audit.action, environment: run.environment, runId, details: audit.details });
  return { kind: 'created', runId, queued, steps: steps.length, stages: new Set(steps.map((step) => step.stage)).size };
}
