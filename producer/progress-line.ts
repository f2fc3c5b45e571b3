/**
 * The progress of one running backfill (or restore) as an operator reads it: which migration,
 * how far, the rate over the last seconds (not an average since the start, which hides a
 * slowdown and stays up while paused), the ETA in hours, minutes and seconds, and why it is
 * not moving when it is paused or throttled.
 */

/** The rate over a sliding window of samples of keys done. */
export class RateWindow {
  private readonly samples: Array<{ at: number; keysDone: number }> = [];

  constructor(private readonly windowMs = 15_000) {}

  add(at: number, keysDone: number): void {
    this.samples.push({ at, keysDone });
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Keys per second over the window; null until two samples a second apart exist. */
  perSecond(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < 1000) return null;
    return Math.max(0, ((last.keysDone - first.keysDone) * 1000) / (last.at - first.at));
  }
}

/** 45s, 3m12s, 1h02m, 2d03h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

function bar(fraction: number, width = 20): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

export interface BackfillState {
  migrationId: string;
  /** up: the backfill; down: the restore of its old values during a rollback. */
  direction: 'up' | 'down';
  keysDone: number;
  keysTotal: number;
  /** Keys per second over the last window; null when not known yet. */
  rate: number | null;
  /** The run is paused (the fleet stopped after the sub-batch in flight). */
  paused: boolean;
  /** A chunk's throttle state (`paused: 2 session(s) waiting on locks …`), if any. */
  throttle: string | null;
}

export function progressText(state: BackfillState): string {
  const what = `${state.direction === 'up' ? 'backfill' : 'restore'} ${state.migrationId}`;
  const fraction = state.keysTotal > 0 ? state.keysDone / state.keysTotal : 1;
  const done = `${bar(fraction)} ${(fraction * 100).toFixed(1)}%  ${count(state.keysDone)}/${count(state.keysTotal)} keys`;
  if (state.paused) return `${what}  ${done}  paused (run paused: resume --run to go on)`;
  const speed = state.rate === null ? 'measuring…' : `${count(state.rate)} keys/s`;
  const eta = state.rate === null || state.rate === 0 ? '' : `  ETA ${formatDuration((state.keysTotal - state.keysDone) / state.rate)}`;
  return `${what}  ${done}  ${speed}${eta}${state.throttle ? `  (throttled: ${state.throttle.replace(/^paused: /, '')})` : ''}`;
}
