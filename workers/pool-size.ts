/**
 * Connections a worker's pool needs so that its jobs never wait on each other. The step and
 * the chunk queue each run `concurrency` jobs at once; a job holds one connection for its work
 * and at most one more at a time (a catalog read or write through the pool); one is spare.
 * With fewer, jobs that each hold one and wait for a second can take every slot: after
 * pg_terminate_backend cut their connections, such a worker waited forever with no backend left
 * (found by the integrity harness).
 */
export function workerPoolSize(concurrency: number): number {
  const jobs = 2 * concurrency;
  return 2 * jobs + 1;
}
