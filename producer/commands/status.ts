import { readCatalogState } from '../../shared/catalog/state.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { withDatabase, type CommandContext } from '../context.js';
import { table } from '../format.js';

/** Per-migration status in the configured environment. */
export async function statusCommand(ctx: CommandContext, options: { json?: boolean }): Promise<number> {
  const definitions = await loadDefinitions(ctx.config.migrationsDir);
  const rows = await withDatabase(ctx.config, { create: false }, async (db) => {
    const state = db.catalogReady ? await readCatalogState(db.pool, db.tables, ctx.config.ENVIRONMENT) : undefined;
    return definitions.migrations.map((migration) => {
      const applied = state?.migrations.get(migration.id);
      return {
        migrationId: migration.id,
        version: migration.meta.schema_version ?? null,
        type: migration.meta.type,
        status: applied?.status ?? 'pending',
        appliedAt: applied?.appliedAt?.toISOString() ?? null,
        drifted: applied?.status === 'completed' && applied.checksum !== migration.checksum,
      };
    });
  });
  if (options.json) {
    ctx.out(JSON.stringify({ environment: ctx.config.ENVIRONMENT, migrations: rows }, null, 2));
    return 0;
  }
  ctx.out(`environment: ${ctx.config.ENVIRONMENT}`);
  ctx.out(
    table(
      ['migration', 'version', 'type', 'status', 'applied at'],
      rows.map((row) => [row.migrationId, row.version, row.type, row.drifted ? `${row.status} (changed since)` : row.status, row.appliedAt]),
    ),
  );
  return 0;
}
