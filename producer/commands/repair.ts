import { readCatalogState } from '../../shared/catalog/state.js';
import { recordAudit } from '../../shared/catalog/audit.js';
import { definitionScriptTexts, registerDefinitions, registeredScriptTexts } from '../../shared/catalog/definitions.js';
import { lineDiff } from '../../shared/text-diff.js';
import { acceptChecksums } from '../../shared/catalog/lifecycle.js';
import { inTransaction } from '../../shared/db.js';
import { loadDefinitions } from '../../shared/definitions/loader.js';
import { BadInputError } from '../../shared/errors.js';
import { withDatabase, type CommandContext } from '../context.js';

/**
 * Accepts edits to already-applied migrations by recording their current checksums,
 * like Flyway's repair. Every accepted change is written to the audit log with who did it.
 */
export async function repairCommand(ctx: CommandContext, options: { migration?: string; reason?: string }): Promise<number> {
  const definitions = await loadDefinitions(ctx.config.migrationsDir, ctx.config.MIGRATIONS_LAYOUT);
  if (options.migration && !definitions.migrations.some((m) => m.id === options.migration)) {
    throw new BadInputError(`unknown migration ${options.migration}`, { migrationId: options.migration, field: '--migration' });
  }
  const repaired = await withDatabase(ctx.config, { create: true }, (db) =>
    inTransaction(db.pool, async (client) => {
      const state = await readCatalogState(client, db.tables, ctx.config.ENVIRONMENT);
      const drifted = definitions.migrations.filter((migration) => {
        const applied = state.migrations.get(migration.id);
        return (!options.migration || options.migration === migration.id) && applied?.status === 'completed' && applied.checksum !== migration.checksum;
      });
      for (const migration of drifted) {
        const previous = state.migrations.get(migration.id)!;
        const before = await registeredScriptTexts(client, db.tables, migration.id);
        const after = definitionScriptTexts(migration);
        const diff = Object.fromEntries(
          (['up', 'down', 'verify'] as const)
            .filter((script) => (before?.[script] ?? '') !== (after[script] ?? ''))
            .map((script) => [script, lineDiff(before?.[script] ?? '', after[script] ?? '')]),
        );
        await acceptChecksums(client, db.tables, migration.id, ctx.config.ENVIRONMENT, migration.checksum, migration.fileChecksums);
        await recordAudit(client, db.tables, {
          actor: ctx.config.ACTOR,
          action: 'repair',
          environment: ctx.config.ENVIRONMENT,
          migrationId: migration.id,
          details: { previousChecksum: previous.checksum, checksum: migration.checksum, reason: options.reason ?? null, diff },
        });
      }
      // The corrected scripts are what workers run from now on (a fixed down.sql reaches the fleet).
      if (drifted.length > 0) await registerDefinitions(client, db.tables, { ...definitions, migrations: drifted });
      return drifted.map((migration) => migration.id);
    }),
  );
  ctx.out(repaired.length === 0 ? 'nothing to repair' : `accepted changes to ${repaired.join(', ')}`);
  return 0;
}
