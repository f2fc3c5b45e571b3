import { quoteIdent } from '../sql/quote.js';

const TABLE_NAMES = [
  'internal_migrations',
  'schema_versions',
  'version_deployments',
  'migrations',
  'migration_status',
  'migration_executions',
  'rollback_plans',
  'migration_tests',
  'test_executions',
  'coordinated_sets',
  'runs',
  'steps',
  'chunks',
  'audit_log',
  'coordinator_lease',
] as const;

export type TableName = (typeof TABLE_NAMES)[number];

/** Quoted, schema-qualified names of every catalog table, for one catalog schema. */
export type Tables = Readonly<Record<TableName, string>> & { readonly schema: string; readonly schemaName: string };

export function catalogTables(schemaName: string): Tables {
  const schema = quoteIdent(schemaName);
  return Object.freeze({
    schema,
    schemaName,
    ...(Object.fromEntries(TABLE_NAMES.map((name) => [name, `${schema}.${quoteIdent(name)}`])) as Record<TableName, string>),
  });
}
