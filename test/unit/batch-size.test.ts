import { describe, expect, it } from 'vitest';
import { nextBatchSize } from '../../workers/backfill.js';

const spec = { batch_target_ms: 200, max_batch_size: 50_000 };

describe('adaptive sub-batch size', () => {
  it('aims at two thirds of the target duration', () => {
    expect(nextBatchSize(1000, 100, spec)).toBe(1333);
    expect(nextBatchSize(3000, 200, spec)).toBe(2000);
  });

  it('changes by at most a factor of two per batch', () => {
    expect(nextBatchSize(1000, 1, spec)).toBe(2000);
    expect(nextBatchSize(1000, 10_000, spec)).toBe(500);
  });

  it('stays between 1 and max_batch_size', () => {
    expect(nextBatchSize(40_000, 1, spec)).toBe(50_000);
    expect(nextBatchSize(1, 10_000, spec)).toBe(1);
  });
});
