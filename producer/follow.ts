import { readRun, runSteps, type RunRow } from '../shared/catalog/runs.js';
import type { Database } from './context.js';

const TERMINAL = new Set(['completed', 'failed', 'rolled_back', 'cancelled']);

/** Prints each change of the run's steps until the run ends; resolves to the final run. */
export async function followRun(db: Database, runId: string, out: (line: string) => void, pollMs = 500): Promise<RunRow> {
  const seen = new Map<string, string>();
  let lastRunStatus = '';
  for (;;) {
    const run = (await readRun(db.pool, db.tables, runId))!;
    for (const step of await runSteps(db.pool, db.tables, runId)) {
      const key = `${step.direction}:${step.migration_id}`;
      const state = `${step.status}${Number(step.rows_done) > 0 ? ` ${step.rows_done} rows` : ''}`;
      if (seen.get(key) !== state && step.status !== 'pending') {
        seen.set(key, state);
        const error = step.status === 'failed' && step.last_error ? `: ${step.last_error}` : '';
        out(`${new Date().toISOString()}  ${step.direction.padEnd(4)} stage ${step.stage + 1}  ${step.migration_id}  ${state}${error}`);
      }
    }
    if (run.status !== lastRunStatus) {
      lastRunStatus = run.status;
      out(`${new Date().toISOString()}  run ${runId} ${run.status}${run.error ? `: ${run.error}` : ''}`);
    }
    if (TERMINAL.has(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
