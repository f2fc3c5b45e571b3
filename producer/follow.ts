import { runChunks } from '../shared/catalog/chunks.js';
import { backfillProgress } from '../shared/catalog/progress.js';
import { readRun, runSteps, type RunRow } from '../shared/catalog/runs.js';
import type { Database } from './context.js';

const TERMINAL = new Set(['completed', 'failed', 'rolled_back', 'cancelled']);

export interface FollowOutput {
  line: (text: string) => void;
  /** Set on a terminal: progress is drawn in place instead of printed as lines. */
  redraw?: (text: string) => void;
}

function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * Prints each change of the run's steps until the run ends, and the progress of running
 * backfills (bar, keys/s, ETA); resolves to the final run.
 */
export async function followRun(db: Database, runId: string, output: FollowOutput, pollMs = 500): Promise<RunRow> {
  const seen = new Map<string, string>();
  const lastProgress = new Map<string, { at: number; percent: number }>();
  let lastRunStatus = '';
  const stamp = () => new Date().toISOString().slice(11, 19);
  for (;;) {
    const run = (await readRun(db.pool, db.tables, runId))!;
    const steps = await runSteps(db.pool, db.tables, runId);
    for (const step of steps) {
      const key = `${step.direction}:${step.migration_id}`;
      if (seen.get(key) !== step.status && step.status !== 'pending') {
        seen.set(key, step.status);
        const error = step.status === 'failed' && step.last_error ? `: ${step.last_error}` : '';
        output.redraw?.('');
        output.line(`${stamp()}  ${step.direction.padEnd(4)} stage ${String(step.stage + 1).padStart(2)}  ${step.migration_id}  ${step.status}${error}`);
      }
    }
    const chunks = await runChunks(db.pool, db.tables, runId);
    for (const step of steps.filter((s) => s.status === 'running' && chunks.some((c) => c.step_id === s.step_id))) {
      const progress = backfillProgress(chunks.filter((c) => c.step_id === step.step_id));
      const eta = progress.etaSeconds === null ? '-' : `${progress.etaSeconds}s`;
      const throttled = chunks.find((c) => c.step_id === step.step_id && c.throttle_state)?.throttle_state;
      const text = `           ${bar(progress.percent / 100)} ${progress.percent.toFixed(1)}%  ${progress.keysDone}/${progress.keysTotal} keys  ${progress.rowsPerSecond}/s  ETA ${eta}${throttled ? `  (${throttled})` : ''}`;
      if (output.redraw) {
        output.redraw(text);
        continue;
      }
      const last = lastProgress.get(step.step_id);
      if (!last || Date.now() - last.at >= 5000 || progress.percent - last.percent >= 25) {
        lastProgress.set(step.step_id, { at: Date.now(), percent: progress.percent });
        output.line(text);
      }
    }
    if (run.status !== lastRunStatus) {
      lastRunStatus = run.status;
      output.redraw?.('');
      output.line(`${stamp()}  run ${runId} ${run.status}${run.error ? `: ${run.error}` : ''}`);
    }
    if (TERMINAL.has(run.status)) return run;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
