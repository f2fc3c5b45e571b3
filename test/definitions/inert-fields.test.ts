import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { buildMigrationsDir, removeDir } from '../helpers/fixtures.js';

describe('fields that are accepted but have no effect yet', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await buildMigrationsDir(
      'inert',
      [
        { id: '2025.07.01_000000_plain', up: 'CREATE TABLE plain (id int);', down: 'DROP TABLE plain;' },
        {
          id: '2025.07.01_000001_sets_them',
          up: 'CREATE TABLE other (id int);',
          down: 'DROP TABLE other;',
          meta: { requires_backup: true, backup_scope: 'full', estimated_duration: 30, requires_maintenance_mode: false, rollback_timeout: 60 },
        },
      ],
      [{ id: 'SET-2025-001', name: 'a set', execution_order: ['2025.07.01_000000_plain'], parallel_groups: [['2025.07.01_000000_plain']], can_partial_execute: true }],
    );
  });

  afterAll(async () => {
    await removeDir(dir);
  });

  it('get a warning naming each of them from validate, and only where a definition sets them', async () => {
    const result = await runCli(['validate'], { MIGRATIONS_DIR: dir });
    expect(result.code, result.stderr).toBe(0);
    const warnings = result.stdout.split('\n').filter((line) => line.startsWith('warning: '));
    expect(warnings).toEqual([
      'warning: 2025.07.01_000001_sets_them/migration.yaml: requires_backup is accepted but has no effect yet',
      'warning: 2025.07.01_000001_sets_them/migration.yaml: backup_scope is accepted but has no effect yet',
      'warning: 2025.07.01_000001_sets_them/migration.yaml: estimated_duration is accepted but has no effect yet',
      'warning: 2025.07.01_000001_sets_them/migration.yaml: requires_maintenance_mode is accepted but has no effect yet',
      'warning: 2025.07.01_000001_sets_them/migration.yaml: rollback_timeout is accepted but has no effect yet',
      'warning: sets/SET-2025-001.yaml: can_partial_execute is accepted but has no effect yet',
    ]);
    const json = await runCli(['validate', '--json'], { MIGRATIONS_DIR: dir });
    expect((JSON.parse(json.stdout) as { warnings: string[] }).warnings).toHaveLength(6);
  });
});
