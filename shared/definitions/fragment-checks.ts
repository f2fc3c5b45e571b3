import { BadInputError, DefinitionError } from '../errors.js';
import { columnNameProblem, expressionFragment, scriptFragment, statementFragment } from '../sql/fragments.js';
import { parseQualifiedName } from '../sql/quote.js';
import type { MigrationMeta } from './schema.js';

const DATA_CHANGING = ['UpdateStmt', 'InsertStmt', 'DeleteStmt', 'MergeStmt'];

/**
 * The checks of a migration's SQL fragments that need PostgreSQL's parser but no database:
 * a backfill's table is a name, its key and `set` columns are column names, each `set` value
 * and the `where` are one expression, `batch_sql` is one data-changing statement; each check
 * and test query is one query. What needs the table itself is checked when the preparation
 * runs, in its transaction.
 */
export async function checkFragments(meta: MigrationMeta, context: { migrationId: string; file: string }): Promise<void> {
  const at = (field: string) => ({ ...context, field });
  for (const [index, check] of meta.prerequisite_checks.entries()) await statementFragment(check, ['SelectStmt'], at(`prerequisite_checks.${index}`));
  for (const [index, check] of meta.post_validations.entries()) await statementFragment(check, ['SelectStmt'], at(`post_validations.${index}`));
  for (const [index, test] of meta.tests.entries()) {
    await statementFragment(test.sql, ['SelectStmt'], at(`tests.${index}.sql`));
    if (test.setup !== undefined) await scriptFragment(test.setup, at(`tests.${index}.setup`));
    if (test.teardown !== undefined) await scriptFragment(test.teardown, at(`tests.${index}.teardown`));
  }
  const spec = meta.backfill;
  if (!spec) return;
  try {
    parseQualifiedName(spec.table, 'backfill.table');
  } catch (error) {
    if (error instanceof BadInputError) throw new DefinitionError(error.message, at('backfill.table'));
    throw error;
  }
  for (const [field, names] of [['backfill.key', spec.key ?? []], ['backfill.set', Object.keys(spec.set ?? {})]] as const) {
    for (const name of names) {
      const problem = columnNameProblem(name);
      if (problem) throw new DefinitionError(`${field}: column name ${JSON.stringify(name.slice(0, 80))} ${problem}`, at(field));
    }
  }
  for (const [column, expression] of Object.entries(spec.set ?? {})) await expressionFragment(expression, at(`backfill.set.${column}`));
  if (spec.where !== undefined) await expressionFragment(spec.where, at('backfill.where'));
  if (spec.batch_sql !== undefined) await statementFragment(spec.batch_sql, DATA_CHANGING, at('backfill.batch_sql'));
  if (spec.health_query !== undefined) await statementFragment(spec.health_query, ['SelectStmt'], at('backfill.health_query'));
  const changedKey = spec.key?.find((column) => spec.set !== undefined && column in spec.set);
  if (changedKey !== undefined) {
    throw new DefinitionError(`backfill.set changes the key column ${changedKey}: keyset batches and the backup need keys that stay put`, at(`backfill.set.${changedKey}`));
  }
}
