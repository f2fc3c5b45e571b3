/**
 * The contract between producer, workers and coordinator on the queues: queue names, what
 * each job carries, and the deterministic job ids that make re-enqueueing idempotent.
 */

/** Every queue of the fleet. */
export const QUEUES = {
  steps: 'steps',
  chunks: 'chunks',
  coordinator: 'coordinator',
  deadLetter: 'dead-letter',
} as const;

/** A step job: one migration, one direction, within one run. */
export interface StepJobData {
  runId: string;
  stepId: string;
  migrationId: string;
  direction: 'up' | 'down';
}

/** A chunk job: one key range of a backfill, or one block range of its restore. */
export interface ChunkJobData {
  runId: string;
  stepId: string;
  chunkId: string;
  migrationId: string;
  /** For people reading Bull Board: the range, exclusive lower and inclusive upper bound. */
  range: string;
}

/** Sent to the coordinator when a step finished or failed for good. */
export interface StepEvent {
  runId: string;
  stepId: string;
  status: 'completed' | 'failed' | 'progress';
}

/** A job that exhausted its retries, kept for `dlq` to show and re-drive. */
export interface DeadLetter {
  sourceQueue: string;
  sourceJobId: string;
  runId: string;
  stepId: string;
  migrationId: string;
  direction: 'up' | 'down';
  attemptsMade: number;
  error: string;
  sqlstate: string | null;
  failedAt: string;
}

/** BullMQ job ids must not contain ':' nor be all digits. */
export function stepJobId(stepId: number | string, generation: number): string {
  return `step-${stepId}-g${generation}`;
}

export function chunkJobId(chunkId: number | string, generation: number): string {
  return `chunk-${chunkId}-g${generation}`;
}

export function stepEventJobId(event: StepEvent, attempt: number): string {
  return `event-${event.stepId}-${event.status}-${attempt}`;
}

export function deadLetterJobId(sourceJobId: string): string {
  return `dead-${sourceJobId}`;
}
