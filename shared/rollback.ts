import type { NewStep, StepRow } from './catalog/runs.js';

/**
 * Down steps for what an up run changed, in reverse stage order. A transactional step that
 * failed changed nothing; another failed step is undone only if it got past its first
 * statement (a backfill: its preparation), since its down.sql assumes something to undo.
 */
export function rollbackSteps(steps: StepRow[]): NewStep[] {
  const changed = steps.filter(
    (step) =>
      step.direction === 'up' &&
      (step.status === 'completed' || (step.status === 'failed' && step.kind !== 'transactional' && step.statements_done > 0)),
  );
  const last = Math.max(0, ...changed.map((step) => step.stage));
  return changed.map((step) => ({ migrationId: step.migration_id, direction: 'down', stage: last - step.stage, kind: step.kind, checksum: step.checksum }));
}
