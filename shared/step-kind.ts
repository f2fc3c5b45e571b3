import { runMode, type SqlScript } from './definitions/loader.js';
import type { MigrationMeta } from './definitions/schema.js';

/** How a step runs: its script's mode, `backfill` for batched data work, `restore` for a backfill's undo from its backup. */
export type StepKind = 'transactional' | 'non_transactional' | 'per_statement' | 'script' | 'backfill' | 'restore';

/** The kind of a migration's up or down step (a down is labelled by the down script, not by the up). */
export function stepKind(migration: { meta: MigrationMeta; up?: SqlScript; down?: SqlScript | null | undefined }, direction: 'up' | 'down' = 'up'): StepKind {
  const { meta } = migration;
  if (direction === 'up' && meta.backfill) return 'backfill';
  if (direction === 'down' && meta.backfill?.set !== undefined && meta.backfill.backup) return 'restore';
  const script = direction === 'up' ? migration.up : migration.down;
  if (!script) return 'transactional';
  const mode = runMode(script, meta);
  if (mode === 'script') return 'script';
  if (mode === 'transaction') return 'transactional';
  return script.statements.length === 1 && meta.transaction !== 'per_statement' ? 'non_transactional' : 'per_statement';
}
