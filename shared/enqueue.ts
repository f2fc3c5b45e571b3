import type { Queue } from 'bullmq';
import type { StepRow } from './catalog/runs.js';
import type { Config } from './config.js';
import { stepJobId, stepJobOptions } from './fleet.js';

/** Adds step jobs with deterministic ids: adding one that exists already is a no-op, so callers may repeat it. */
export async function enqueueSteps(queue: Queue, config: Config, steps: StepRow[]): Promise<void> {
  if (steps.length === 0) return;
  await queue.addBulk(
    steps.map((step) => ({
      name: `${step.direction}:${step.migration_id}`,
      data: { runId: step.run_id, stepId: String(step.step_id), migrationId: step.migration_id, direction: step.direction },
      opts: { ...stepJobOptions(config), jobId: stepJobId(step.step_id, step.generation) },
    })),
  );
}
