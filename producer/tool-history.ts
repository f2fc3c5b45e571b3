import type pg from 'pg';
import type { DefinitionSet, MigrationDefinition } from '../shared/definitions/loader.js';
import { compareFlywayVersions } from '../shared/definitions/layouts/flyway.js';
import { BadInputError } from '../shared/errors.js';

/**
 * What another tool recorded as applied, read from its own history table, mapped onto the
 * definitions: the migrations `baseline` adopts. Each reader follows its tool's meaning of
 * the table (golang-migrate keeps only the current version; Flyway a row per script).
 */
export interface ToolHistory {
  table: string;
  applied: MigrationDefinition[];
}

async function exists(client: pg.ClientBase, table: string): Promise<boolean> {
  const { rows } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [table]);
  return rows[0]!.oid !== null;
}

const missing = (table: string, layout: string) =>
  new BadInputError(`no ${table} table in this database (searched the search_path): nothing recorded by ${layout} to adopt; give --to <id> instead`, { field: '--to' });

export async function readToolHistory(client: pg.ClientBase, definitions: DefinitionSet): Promise<ToolHistory> {
  const { migrations } = definitions;
  switch (definitions.layout) {
    case 'diesel': {
      const table = '__diesel_schema_migrations';
      if (!(await exists(client, table))) throw missing(table, 'Diesel');
      const { rows } = await client.query<{ version: string }>(`SELECT version FROM ${table}`);
      const versions = new Set(rows.map((row) => row.version));
      return { table, applied: migrations.filter((migration) => versions.has(migration.toolVersion)) };
    }
    case 'dbmate': {
      const table = 'schema_migrations';
      if (!(await exists(client, table))) throw missing(table, 'dbmate');
      const { rows } = await client.query<{ version: string }>(`SELECT version::text AS version FROM ${table}`);
      const versions = new Set(rows.map((row) => row.version));
      return { table, applied: migrations.filter((migration) => versions.has(migration.toolVersion)) };
    }
    case 'golang-migrate': {
      const table = 'schema_migrations';
      if (!(await exists(client, table))) throw missing(table, 'golang-migrate');
      const { rows } = await client.query<{ version: string; dirty: boolean }>(`SELECT version::text AS version, dirty FROM ${table} LIMIT 1`);
      const row = rows[0];
      if (!row) return { table, applied: [] };
      if (row.dirty) throw new BadInputError(`${table} says version ${row.version} is dirty (it failed halfway): fix the database, then \`migrate force\` it with golang-migrate or baseline with --to`, { field: '--to' });
      return { table, applied: migrations.filter((migration) => BigInt(migration.toolVersion) <= BigInt(row.version)) };
    }
    case 'flyway': {
      const table = 'flyway_schema_history';
      if (!(await exists(client, table))) throw missing(table, 'Flyway');
      const { rows } = await client.query<{ version: string | null; description: string; type: string; checksum: number | null; installed_rank: number }>(
        `SELECT version, description, type, checksum, installed_rank FROM ${table} WHERE success ORDER BY installed_rank`,
      );
      const baseline = rows.filter((row) => row.type === 'BASELINE' && row.version !== null).at(-1)?.version ?? null;
      const versioned = rows.filter((row) => row.version !== null && row.type !== 'BASELINE' && row.type !== 'DELETE').map((row) => row.version!);
      const latestRepeatable = new Map(rows.filter((row) => row.version === null && row.type === 'SQL').map((row) => [row.description, row.checksum]));
      return {
        table,
        applied: migrations.filter((migration) => {
          // A repeatable counts as applied only with the checksum Flyway recorded last; otherwise it is due again.
          if (migration.repeatable) return latestRepeatable.has(migration.toolVersion) && String(latestRepeatable.get(migration.toolVersion)) === migration.toolChecksum;
          return (baseline !== null && compareFlywayVersions(migration.toolVersion, baseline) <= 0) || versioned.some((version) => compareFlywayVersions(version, migration.toolVersion) === 0);
        }),
      };
    }
    case 'sqitch': {
      const table = 'sqitch.changes';
      if (!(await exists(client, table))) throw missing(table, 'Sqitch');
      const { rows } = await client.query<{ change_id: string; change: string }>(`SELECT change_id, change FROM sqitch.changes WHERE project = $1`, [definitions.project]);
      const ids = new Set(rows.map((row) => row.change_id));
      return { table, applied: migrations.filter((migration) => ids.has(migration.toolVersion)) };
    }
    case 'pgfm':
      throw new BadInputError("pgfm's own layout has no other tool's history to read: give --to <id> (the last migration already in the database)", { field: '--to' });
  }
}

