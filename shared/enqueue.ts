import type { Queue } from 'bullmq';
import type { ChunkRow } from './catalog/chunks.js';
import type { StepRow } from './catalog/runs.js';
import type { Config } from './config.js';
import { stepJobOptions } from './fleet.js';
import { chunkJobId, stepJobId, type ChunkJobData, type StepJobData } from './jobs.js';

/** Adds step jobs with deterministic ids: adding one that exists already is a no-op, so callers may repeat it. */
export async function enqueueSteps(queue: Queue, config: Config, steps: StepRow[]): Promise<void> {
  if (steps.length === 0) return;
  await queue.addBulk(
    steps.map((step) => ({
      name: `${step.direction}:${step.migration_id}`,
      data: { runId: step.run_id, stepId: String(step.step_id), migrationId: step.migration_id, direction: step.direction } satisfies StepJobData,
      opts: { ...stepJobOptions(config), jobId: stepJobId(step.step_id, step.generation) },
    })),
  );
}

const bound = (key: string[] | null, end: string) => (key === null ? end : key.length === 1 ? key[0]! : `(${key.join(', ')})`);

export async function enqueueChunks(queue: Queue, config: Config, chunks: ChunkRow[], migrationId: string): Promise<void> {
  if (chunks.length === 0) return;
  await queue.addBulk(
    chunks.map((chunk) => ({
      name: `chunk:${migrationId}:${chunk.chunk_no}`,
      data: {
        runId: chunk.run_id,
        stepId: String(chunk.step_id),
        chunkId: String(chunk.chunk_id),
        migrationId,
        range: `(${bound(chunk.lower_bound, 'start')}, ${bound(chunk.upper_bound, 'end')}]`,
      } satisfies ChunkJobData,
      opts: { ...stepJobOptions(config), jobId: chunkJobId(chunk.chunk_id, chunk.generation) },
    })),
  );
}
