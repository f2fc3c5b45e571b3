import type pg from 'pg';
import { migrateCatalog } from '../shared/catalog/internal-migrations.js';
import { catalogExists } from '../shared/catalog/state.js';
import { catalogTables, type Tables } from '../shared/catalog/tables.js';
import { databaseUrl, type Config } from '../shared/config.js';
import { BadInputError } from '../shared/errors.js';
import { createPool } from '../shared/db.js';
import type { Logger } from '../shared/logger.js';

/** What every command receives: validated config, a logger and where to print. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  out: (line: string) => void;
  /** Present when stdout is a terminal: rewrites the current line (live progress). */
  redraw?: (text: string) => void;
  /** Present when stdin is a terminal: asks the operator and resolves to the answer. */
  ask?: (question: string) => Promise<string>;
}

export interface Database {
  pool: pg.Pool;
  tables: Tables;
  /** False when the catalog has not been created yet (read-only commands then see an empty history). */
  catalogReady: boolean;
}

/** Opens the database; `create` makes or upgrades the catalog first (commands that write). */
export async function openDatabase(config: Config, options: { create: boolean }): Promise<Database> {
  const pool = createPool(databaseUrl(config), { max: 4, applicationName: 'pgfm-producer' });
  const tables = catalogTables(config.CATALOG_SCHEMA);
  try {
    if (options.create) await migrateCatalog(pool, tables);
    return { pool, tables, catalogReady: options.create || (await catalogExists(pool, tables)) };
  } catch (error) {
    await pool.end();
    throw error;
  }
}

export async function withDatabase<T>(config: Config, options: { create: boolean }, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, options);
  try {
    return await work(db);
  } finally {
    await db.pool.end();
  }
}

/** The database and environment a command acts on, without the password: printed before plan, up, down and rollback act. */
export function targetLine(config: Config): string {
  const url = new URL(databaseUrl(config));
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(the user\'s default)';
  return `target: database ${database} on ${url.hostname || 'localhost'}:${url.port || '5432'}${url.username ? ` as ${decodeURIComponent(url.username)}` : ''}, environment ${config.ENVIRONMENT}`;
}

/**
 * Undoing in production needs a yes: `--yes`, or the database's name typed on the terminal.
 * Without a terminal and without --yes the command refuses (exit 2) before touching anything.
 */
export async function confirmInProduction(ctx: CommandContext, options: { yes?: boolean }, what: string): Promise<void> {
  if (ctx.config.ENVIRONMENT !== 'production' || options.yes) return;
  const database = decodeURIComponent(new URL(databaseUrl(ctx.config)).pathname.replace(/^\//, ''));
  if (!ctx.ask) {
    throw new BadInputError(`${what} in production needs --yes (or a terminal to confirm on): nothing was done`, { field: '--yes' });
  }
  const answer = await ctx.ask(`${targetLine(ctx.config)}\n${what} in production: type the database name (${database}) to go on: `);
  if (answer.trim() !== database) throw new BadInputError(`not confirmed (${JSON.stringify(answer.trim())} is not ${database}): nothing was done`, { field: '--yes' });
}
