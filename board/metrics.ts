import type { Queue } from 'bullmq';
import type pg from 'pg';
import { Gauge, Registry } from 'prom-client';
import { backfillProgress, fleetCounts } from '../shared/catalog/progress.js';
import type { Tables } from '../shared/catalog/tables.js';

const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children'] as const;

/**
 * Prometheus metrics, computed at scrape time from the queues and the catalog (the catalog
 * is the truth, so every board replica reports the same numbers).
 */
export function createMetrics(queues: Queue[], pool: pg.Pool, t: Tables): { registry: Registry; scrape: () => Promise<string> } {
  const registry = new Registry();
  const jobs = new Gauge({ name: 'pgfm_jobs', help: 'Jobs by queue and state', labelNames: ['queue', 'state'], registers: [registry] });
  const runs = new Gauge({ name: 'pgfm_runs', help: 'Runs by status', labelNames: ['status'], registers: [registry] });
  const steps = new Gauge({ name: 'pgfm_steps', help: 'Steps by status', labelNames: ['status'], registers: [registry] });
  const chunks = new Gauge({ name: 'pgfm_chunks', help: 'Backfill chunks by status', labelNames: ['status'], registers: [registry] });
  const retries = new Gauge({ name: 'pgfm_step_retries', help: 'Attempts beyond the first, over all steps and chunks', registers: [registry] });
  const deadLetters = new Gauge({ name: 'pgfm_dead_letters', help: 'Jobs waiting in the dead-letter queue', registers: [registry] });
  const throttled = new Gauge({ name: 'pgfm_chunks_throttled', help: 'Running chunks paused by the health governor', registers: [registry] });
  const rowsDone = new Gauge({ name: 'pgfm_backfill_keys_done', help: 'Keys processed by a running backfill', labelNames: ['run_id', 'migration_id'], registers: [registry] });
  const rowsTotal = new Gauge({ name: 'pgfm_backfill_keys_total', help: 'Keys of a running backfill', labelNames: ['run_id', 'migration_id'], registers: [registry] });
  const rate = new Gauge({ name: 'pgfm_backfill_rows_per_second', help: 'Keys per second of a running backfill', labelNames: ['run_id', 'migration_id'], registers: [registry] });

  const collect = async () => {
    registry.resetMetrics();
    for (const queue of queues) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      for (const state of JOB_STATES) jobs.set({ queue: queue.name, state }, counts[state] ?? 0);
      if (queue.name === 'dead-letter') deadLetters.set((counts['waiting'] ?? 0) + (counts['delayed'] ?? 0) + (counts['prioritized'] ?? 0));
    }
    const counts = await fleetCounts(pool, t);
    if (!counts) return;
    for (const [gauge, rows] of [[runs, counts.runs], [steps, counts.steps], [chunks, counts.chunks]] as const) {
      for (const row of rows) gauge.set({ status: row.status }, row.n);
    }
    retries.set(counts.retries);
    const open = counts.openChunks;
    throttled.set(open.filter((chunk) => chunk.status === 'running' && chunk.throttle_state !== null).length);
    const byStep = new Map<string, typeof open>();
    for (const chunk of open) byStep.set(chunk.step_id, [...(byStep.get(chunk.step_id) ?? []), chunk]);
    for (const list of byStep.values()) {
      const labels = { run_id: list[0]!.run_id, migration_id: list[0]!.migration_id };
      const progress = backfillProgress(list);
      rowsDone.set(labels, progress.keysDone);
      rowsTotal.set(labels, progress.keysTotal);
      rate.set(labels, progress.rowsPerSecond);
    }
  };
  return {
    registry,
    scrape: async () => {
      await collect();
      return registry.metrics();
    },
  };
}
