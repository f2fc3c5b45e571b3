import type { Queryable } from '../shared/db.js';
import type { SqlScript } from '../shared/definitions/loader.js';
import type { MigrationMeta } from '../shared/definitions/schema.js';
import type { Tables } from '../shared/catalog/tables.js';
import { OperationError } from '../shared/errors.js';

/** A migration as a worker sees it: read from the catalog, so workers need no local files. */
export interface StoredMigration {
  migrationId: string;
  meta: MigrationMeta & { name: string };
  up: SqlScript;
  down: SqlScript | null;
  verify: SqlScript | null;
  checksum: string;
  fileChecksums: Record<string, string>;
}

export async function readStoredMigration(db: Queryable, t: Tables, migrationId: string): Promise<StoredMigration> {
  const { rows } = await db.query<{
    definition: StoredMigration['meta'];
    scripts: { up: SqlScript; down: SqlScript | null; verify: SqlScript | null };
    checksum: string;
    file_checksums: Record<string, string>;
  }>(`SELECT definition, scripts, checksum, file_checksums FROM ${t.migrations} WHERE migration_id = $1`, [migrationId]);
  const row = rows[0];
  if (!row) throw new OperationError(`migration ${migrationId} is not registered in the catalog`, { migrationId });
  return {
    migrationId,
    meta: row.definition,
    up: row.scripts.up,
    down: row.scripts.down,
    verify: row.scripts.verify,
    checksum: row.checksum,
    fileChecksums: row.file_checksums,
  };
}
