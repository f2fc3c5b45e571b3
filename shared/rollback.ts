import type { NewStep, StepRow } from './catalog/runs.js';

/**
 * Down steps for what an up run changed, in reverse stage order. A transactional step that
 * failed changed nothing; any other failed step may have partly applied and is undone too.
 */
export function rollbackSteps(upSteps: StepRow[]): NewStep[] {
  const changed = upSteps.filter((step) => step.status === 'completed' || (step.status === 'failed' && step.kind !== 'transactional'));
  const last = Math.max(0, ...changed.map((step) => step.stage));
  return changed.map((step) => ({ migrationId: step.migration_id, direction: 'down', stage: last - step.stage, kind: step.kind, checksum: step.checksum }));
}
