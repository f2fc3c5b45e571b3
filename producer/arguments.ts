import { BadInputError } from '../shared/errors.js';

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Checks the identifiers an operator passes before any command touches the database, so a
 * typo is a one-line error and exit 2 rather than a PostgreSQL error about a uuid column.
 */
export function checkIdentifierOptions(options: Record<string, unknown>): void {
  const run = options['run'];
  if (typeof run === 'string' && !RUN_ID.test(run)) {
    throw new BadInputError(`--run ${JSON.stringify(run)} is not a run id (a uuid such as 6ad5398e-dc36-4962-9a07-863b5d59f020)`, { field: '--run' });
  }
  const migration = options['migration'];
  // Ids are what the layout's tool calls them (Diesel folders, Flyway file names, Sqitch changes): any readable text.
  if (typeof migration === 'string' && (migration.length === 0 || migration.length > 255 || /[\u0000-\u001f\u007f]/.test(migration))) {
    throw new BadInputError(`--migration ${JSON.stringify(migration)} is not a migration id (1 to 255 characters, no control characters)`, { field: '--migration' });
  }
}
