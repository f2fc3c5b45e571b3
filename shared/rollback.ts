import type { NewStep, StepRow } from './catalog/runs.js';
import type { StepKind } from './step-kind.js';

/** What a rollback needs to know of a migration: how its down runs, and why it cannot be undone, if so. */
export interface UndoInfo {
  kind: StepKind;
  problem?: string;
}

export interface RollbackPlan {
  steps: NewStep[];
  /** The latest migration of the run that cannot be undone: the rollback stops before it. */
  stoppedBefore?: { migrationId: string; reason: string };
  /** Migrations the run changed that stay applied (the one it stops before, and every earlier one). */
  left: string[];
}

/**
 * Down steps for what an up run changed, in reverse stage order. A transactional step that
 * failed changed nothing; another failed step is undone only if it got past its first
 * statement (a backfill: its preparation), since its down.sql assumes something to undo.
 * A migration that cannot be undone (irreversible, or its down is broken) stops the rollback
 * cleanly: what came after it is undone, it and everything before it stay applied.
 */
export function rollbackSteps(steps: StepRow[], undo: (migrationId: string) => UndoInfo): RollbackPlan {
  const changed = steps.filter(
    (step) =>
      step.direction === 'up' &&
      (step.status === 'completed' || (step.status === 'failed' && step.kind !== 'transactional' && step.statements_done > 0)),
  );
  const blocked = changed
    .map((step) => ({ step, problem: undo(step.migration_id).problem }))
    .filter((entry): entry is { step: StepRow; problem: string } => entry.problem !== undefined)
    .sort((a, b) => b.step.stage - a.step.stage)[0];
  const undone = blocked ? changed.filter((step) => step.stage > blocked.step.stage) : changed;
  const last = Math.max(0, ...undone.map((step) => step.stage));
  return {
    steps: undone.map((step) => ({ migrationId: step.migration_id, direction: 'down', stage: last - step.stage, kind: undo(step.migration_id).kind, checksum: step.checksum })),
    ...(blocked ? { stoppedBefore: { migrationId: blocked.step.migration_id, reason: blocked.problem } } : {}),
    left: changed.filter((step) => !undone.includes(step)).map((step) => step.migration_id),
  };
}
