/**
 * The progress line of a running backfill: named, windowed rate (a slowdown shows, a pause
 * drops to "paused" instead of the old rate), ETA in h/m/s, throttling with its reason, and
 * the restore during a rollback labelled as such.
 */
import { describe, expect, it } from 'vitest';
import { formatDuration, progressText, RateWindow } from '../../producer/progress-line.js';

describe('the progress line', () => {
  it('measures the rate over the last window, not since the start', () => {
    const window = new RateWindow(10_000);
    expect(window.perSecond()).toBeNull();
    // Fast for a minute (1000 keys/s), then slow (100 keys/s) for 20 s.
    let keys = 0;
    for (let t = 0; t <= 60_000; t += 1000) window.add(t, (keys = t));
    expect(window.perSecond()).toBeCloseTo(1000, 0);
    for (let t = 61_000; t <= 80_000; t += 1000) window.add(t, (keys += 100));
    expect(window.perSecond()).toBeCloseTo(100, 0);
  });

  it.each([
    [45, '45s'],
    [192, '3m12s'],
    [3720, '1h02m'],
    [183_600, '2d03h'],
  ])('writes %i seconds as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it('names the migration, says paused or throttled with the reason, and labels a restore', () => {
    const base = { migrationId: '2025.01.31_150000_phone', direction: 'up' as const, keysDone: 25_000, keysTotal: 100_000, rate: 1000, paused: false, throttle: null };
    expect(progressText(base)).toBe('backfill 2025.01.31_150000_phone  [#####...............] 25.0%  25,000/100,000 keys  1,000 keys/s  ETA 1m15s');
    expect(progressText({ ...base, paused: true })).toBe('backfill 2025.01.31_150000_phone  [#####...............] 25.0%  25,000/100,000 keys  paused (run paused: resume --run to go on)');
    expect(progressText({ ...base, throttle: 'paused: 2 session(s) waiting on locks held by the backfill' })).toMatch(/\(throttled: 2 session\(s\) waiting on locks held by the backfill\)$/);
    expect(progressText({ ...base, direction: 'down', rate: null })).toMatch(/^restore 2025\.01\.31_150000_phone .* measuring…$/);
  });
});
