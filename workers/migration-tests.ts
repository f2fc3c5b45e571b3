import { isDeepStrictEqual } from 'node:util';
import type pg from 'pg';
import type { Tables } from '../shared/catalog/tables.js';
import { ValidationFailedError } from '../shared/errors.js';
import type { StoredMigration } from '../shared/catalog/definitions.js';
import { recordTestExecution } from '../shared/catalog/executions.js';

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
    await recordTestExecution(client, t, {
      migrationId: migration.migrationId,
      testName: test.name,
      executionId: context.executionId,
      environment: context.environment,
      status,
      elapsedMs,
      actual,
      error,
      matches,
      withinLimits,
    });
  }
  if (failures.length > 0) {
    throw new ValidationFailedError(`migration tests failed: ${failures.join('; ')}`, { migrationId: migration.migrationId });
  }
}
