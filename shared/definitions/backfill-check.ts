import { DefinitionError } from '../errors.js';
import { expressionFragment, statementFragment } from '../sql/fragments.js';
import type { BackfillSpec } from './schema.js';

/**
 * The checks of a backfill section that need PostgreSQL's parser but no database: each
 * `set` value and the `where` are one expression, `batch_sql` is one data-changing
 * statement, `health_query` one query, and no key column is changed. What needs the table
 * itself is checked when the preparation runs, in its transaction.
 */
export async function checkBackfillFragments(spec: BackfillSpec, context: { migrationId: string; file: string }): Promise<void> {
  for (const [column, expression] of Object.entries(spec.set ?? {})) {
    await expressionFragment(expression, { ...context, field: `backfill.set.${column}` });
  }
  if (spec.where !== undefined) await expressionFragment(spec.where, { ...context, field: 'backfill.where' });
  if (spec.batch_sql !== undefined) {
    await statementFragment(spec.batch_sql, ['UpdateStmt', 'InsertStmt', 'DeleteStmt', 'MergeStmt'], { ...context, field: 'backfill.batch_sql' });
  }
  if (spec.health_query !== undefined) await statementFragment(spec.health_query, ['SelectStmt'], { ...context, field: 'backfill.health_query' });
  const changedKey = spec.key?.find((column) => spec.set !== undefined && column in spec.set);
  if (changedKey !== undefined) {
    throw new DefinitionError(`backfill.set changes the key column ${changedKey}: keyset batches and the backup need keys that stay put`, {
      ...context,
      field: `backfill.set.${changedKey}`,
    });
  }
}
