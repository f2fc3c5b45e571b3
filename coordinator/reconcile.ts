import type { Queue } from 'bullmq';
import type pg from 'pg';
import { activeRuns, runSteps, type StepRow } from '../shared/catalog/runs.js';
import type { Tables } from '../shared/catalog/tables.js';
import type { Config } from '../shared/config.js';
import { enqueueSteps } from '../shared/enqueue.js';
import { stepJobId } from '../shared/fleet.js';
import type { Logger } from '../shared/logger.js';

/**
 * PostgreSQL is the truth, Redis the transport: every queued or running step of an
 * active run must have a live job. Missing ones (Redis flushed or restarted, a crash
 * between commit and enqueue) are added again under the same deterministic id.
 */
export async function reconcileJobs(pool: pg.Pool, t: Tables, steps: Queue, config: Config, logger: Logger): Promise<number> {
  const missing: StepRow[] = [];
  for (const run of await activeRuns(pool, t)) {
    for (const step of await runSteps(pool, t, run.run_id)) {
      if (step.status !== 'queued' && step.status !== 'running') continue;
      const job = await steps.getJob(stepJobId(step.step_id, step.generation));
      if (job) {
        const state = await job.getState();
        if (state !== 'completed' && state !== 'failed') continue;
        // The job ended but the catalog did not record the outcome (the worker died in between): run it again.
        await pool.query(`UPDATE ${t.steps} SET generation = generation + 1 WHERE step_id = $1 AND generation = $2`, [step.step_id, step.generation]);
        missing.push({ ...step, generation: step.generation + 1 });
        continue;
      }
      missing.push(step);
    }
  }
  if (missing.length > 0) {
    logger.warn({ steps: missing.map((step) => step.step_id) }, 're-enqueueing steps whose jobs are missing');
    await enqueueSteps(steps, config, missing);
  }
  return missing.length;
}
