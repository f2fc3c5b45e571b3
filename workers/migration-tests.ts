import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import type { Tables } from '../shared/catalog/tables.js';
import { ValidationFailedError } from '../shared/errors.js';
import type { StoredMigration } from './migration-source.js';

/**
 * Runs a migration's tests inside the applying transaction, each in a savepoint so
 * setup/teardown leave nothing behind, and records every result in the same transaction.
 */
export async function runMigrationTests(
  client: pg.ClientBase,
  t: Tables,
  migration: StoredMigration,
  context: { environment: string; executionId: string },
): Promise<void> {
  const tests = migration.meta.tests.filter((test) => test.environments.includes(context.environment as never));
  const failures: string[] = [];
  for (const test of tests) {
    await client.query('SAVEPOINT migration_test');
    const started = performance.now();
    let actual: unknown = null;
    let error: string | null = null;
    try {
      if (test.setup) await client.query(test.setup);
      actual = JSON.parse(JSON.stringify((await client.query(test.sql)).rows));
      if (test.teardown) await client.query(test.teardown);
    } catch (caught) {
      error = (caught as Error).message;
    }
    await client.query('ROLLBACK TO SAVEPOINT migration_test');
    const elapsedMs = performance.now() - started;
    const matches = error === null && (test.expected === undefined || isDeepStrictEqual(actual, test.expected));
    const withinLimits = test.max_execution_time === undefined || elapsedMs <= test.max_execution_time * 1000;
    const status = error !== null ? 'error' : matches && withinLimits ? 'passed' : 'failed';
    if (status !== 'passed') failures.push(`${test.name} (${error ?? (matches ? 'too slow' : `got ${JSON.stringify(actual)}`)})`);
    await client.query(
      `INSERT INTO ${t.test_executions} (test_id, execution_id, environment, test_status, execution_time_ms, actual_result,
         error_message, result_matches_expected, performance_within_limits)
       SELECT test_id, $3, $4, $5, $6, $7, $8, $9, $10 FROM ${t.migration_tests} WHERE migration_id = $1 AND test_name = $2`,
      [migration.migrationId, test.name, context.executionId, context.environment, status, elapsedMs, JSON.stringify(actual), error, matches, withinLimits],
    );
  }
  if (failures.length > 0) {
    throw new ValidationFailedError(`migration tests failed: ${failures.join('; ')}`, { migrationId: migration.migrationId });
  }
}
