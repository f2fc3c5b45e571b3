import { CATALOG_VERSION } from '../../shared/catalog/internal-migrations.js';
import { withDatabase, type CommandContext } from '../context.js';

/** Creates or upgrades the catalog schema; safe to run from many processes at once. */
export async function initCommand(ctx: CommandContext): Promise<number> {
  await withDatabase(ctx.config, { create: true }, async () => undefined);
  ctx.out(`catalog ${ctx.config.CATALOG_SCHEMA} is at version ${CATALOG_VERSION}`);
  return 0;
}
