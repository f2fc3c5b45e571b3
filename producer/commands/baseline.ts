import { recordAudit } from '../../shared/catalog/audit.js';
import { registerDefinitions } from '../../shared/catalog/definitions.js';
import { setMigrationStatus } from '../../shared/catalog/lifecycle.js';
import { findActiveRun } from '../../shared/catalog/runs.js';
import { readCatalogState } from '../../shared/catalog/state.js';
import { inTransaction } from '../../shared/db.js';
import { loadDefinitions, type MigrationDefinition } from '../../shared/definitions/loader.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';
import { lockEnvironment } from '../runs.js';
import { readToolHistory } from '../tool-history.js';

/**
 * Adopts a database another tool (or a hand) already migrated: records as applied, with their
 * current checksums, the migrations that tool's own history table lists (or every migration up
 * to --to), without running them. `up` then applies only what is new. Like Flyway's baseline,
 * it refuses a database where pgfm already applied migrations.
 */
export async function baselineCommand(ctx: CommandContext, options: { to?: string; json?: boolean }): Promise<number> {
  const { config } = ctx;
  const definitions = await loadDefinitions(config.migrationsDir, config.MIGRATIONS_LAYOUT);
  if (options.to !== undefined && !definitions.migrations.some((migration) => migration.id === options.to)) {
    throw new BadInputError(`unknown migration ${options.to}`, { migrationId: options.to, field: '--to' });
  }
  const result = await withDatabase(config, { create: true }, (db) =>
    inTransaction(db.pool, async (client) => {
      await lockEnvironment(client, config.ENVIRONMENT);
      const active = await findActiveRun(client, db.tables, config.ENVIRONMENT);
      if (active) throw new BadInputError(`run ${active.run_id} is ${active.status} in ${config.ENVIRONMENT}: baseline a database nothing is migrating`, { runId: active.run_id });
      const state = await readCatalogState(client, db.tables, config.ENVIRONMENT);
      const known = [...state.migrations.values()].filter((applied) => applied.status !== 'rolled_back');
      if (known.length > 0) {
        throw new BadInputError(`pgfm already records ${known.length} migration(s) in ${config.ENVIRONMENT} (e.g. ${known[0]!.migrationId}): baseline adopts a database pgfm has not migrated`, { field: 'baseline' });
      }
      let source: string;
      let adopted: MigrationDefinition[];
      if (options.to !== undefined) {
        const last = definitions.migrations.findIndex((migration) => migration.id === options.to);
        adopted = definitions.migrations.slice(0, last + 1);
        source = `--to ${options.to}`;
      } else {
        const history = await readToolHistory(client, definitions);
        adopted = history.applied;
        source = history.table;
      }
      await registerDefinitions(client, db.tables, definitions);
      for (const migration of adopted) {
        await setMigrationStatus(client, db.tables, {
          migrationId: migration.id, environment: config.ENVIRONMENT, status: 'completed', checksum: migration.checksum, fileChecksums: migration.fileChecksums, runId: null,
        });
      }
      await recordAudit(client, db.tables, {
        actor: config.ACTOR, action: 'baseline', environment: config.ENVIRONMENT,
        details: { source, layout: definitions.layout, migrations: adopted.map((migration) => migration.id) },
      });
      return { source, adopted: adopted.map((migration) => migration.id), pending: definitions.migrations.length - adopted.length };
    }),
  );
  if (options.json) ctx.out(JSON.stringify({ layout: definitions.layout, ...result }));
  else ctx.out(`baselined ${result.adopted.length} migration(s) from ${result.source}${result.adopted.length > 0 ? ` (last: ${result.adopted.at(-1)})` : ''}; ${result.pending} pending`);
  return 0;
}
