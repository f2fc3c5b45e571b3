import { runChunks } from '../shared/catalog/chunks.js';
import { backfillProgress } from '../shared/catalog/progress.js';
import { readRun, runSteps, type RunRow } from '../shared/catalog/runs.js';
import type { Database } from './context.js';
import { progressText, RateWindow } from './progress-line.js';

const TERMINAL = new Set(['completed', 'failed', 'rolled_back', 'cancelled']);

export interface FollowOutput {
  line: (text: string) => void;
  /** Set on a terminal: progress is drawn in place instead of printed as lines. */
  redraw?: (text: string) => void;
}


export interface FollowOptions {
  /** What keeps the run from moving (no worker, no coordinator); each new problem is printed once. */
  watch?: () => Promise<string[]>;
  /** Stop following after this long (the run goes on). */
  timeoutMs?: number;
  pollMs?: number;
}

export type FollowEnd = { run: RunRow; ended: 'finished' | 'timeout' | 'interrupted' };

const WATCH_EVERY_MS = 2_000;
/** A watch that does not answer in time (Redis gone) is itself the problem to report. */
const WATCH_ANSWER_MS = 3_000;

/**
 * Prints each change of the run's steps until the run ends, and the progress of running
 * backfills (bar, keys/s, ETA); says what keeps the run from moving; stops at the timeout or
 * at Ctrl-C (the run goes on) and says how to re-attach.
 */
export async function followRun(db: Database, runId: string, output: FollowOutput, options: FollowOptions = {}): Promise<FollowEnd> {
  const pollMs = options.pollMs ?? 500;
  const started = Date.now();
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onInterrupt = () => {
    interrupted = true;
    wake?.();
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await follow();
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }

  async function follow(): Promise<FollowEnd> {
    const reported = new Set<string>();
    let lastWatch = 0;
    const seen = new Map<string, string>();
    const lastProgress = new Map<string, { at: number; percent: number }>();
    const rates = new Map<string, RateWindow>();
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
      const texts: string[] = [];
      for (const step of steps.filter((s) => s.status === 'running' && chunks.some((c) => c.step_id === s.step_id))) {
        const own = chunks.filter((c) => c.step_id === step.step_id);
        const progress = backfillProgress(own);
        const window = rates.get(step.step_id) ?? new RateWindow();
        rates.set(step.step_id, window);
        window.add(Date.now(), progress.keysDone);
        const text = progressText({
          migrationId: step.migration_id,
          direction: step.direction,
          keysDone: progress.keysDone,
          keysTotal: progress.keysTotal,
          rate: window.perSecond(),
          paused: run.status === 'paused',
          throttle: own.find((c) => c.status === 'running' && c.throttle_state)?.throttle_state ?? null,
        });
        texts.push(text);
        if (output.redraw) continue;
        const last = lastProgress.get(step.step_id);
        if (!last || Date.now() - last.at >= 5000 || progress.percent - last.percent >= 25) {
          lastProgress.set(step.step_id, { at: Date.now(), percent: progress.percent });
          output.line(`           ${text}`);
        }
      }
      // On a terminal one line shows every running backfill, each named.
      if (output.redraw && texts.length > 0) output.redraw(`           ${texts.join('  |  ')}`);
      if (run.status !== lastRunStatus) {
        lastRunStatus = run.status;
        output.redraw?.('');
        output.line(`${stamp()}  run ${runId} ${run.status}${run.error ? `: ${run.error}` : ''}`);
      }
      if (TERMINAL.has(run.status)) return { run, ended: 'finished' };
      if (options.watch && Date.now() - lastWatch >= WATCH_EVERY_MS) {
        lastWatch = Date.now();
        const problems = await answerWithin(options.watch(), WATCH_ANSWER_MS).catch((error: Error) => [`cannot see the fleet: ${error.message}`]);
        for (const problem of problems.filter((p) => !reported.has(p))) {
          output.redraw?.('');
          output.line(`${stamp()}  waiting: ${problem}`);
        }
        reported.clear();
        problems.forEach((problem) => reported.add(problem));
      }
      const reattach = `re-attach with \`npm run migrate -- status --run ${runId} --watch\``;
      if (interrupted) {
        output.redraw?.('');
        output.line(`stopped following run ${runId}, which goes on (${run.status}): ${reattach}`);
        return { run, ended: 'interrupted' };
      }
      if (options.timeoutMs !== undefined && Date.now() - started >= options.timeoutMs) {
        output.redraw?.('');
        output.line(`run ${runId} is still ${run.status} after ${Math.round(options.timeoutMs / 1000)} s; it goes on: ${reattach}`);
        return { run, ended: 'timeout' };
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, pollMs);
      });
    }
  }
}

async function answerWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
