import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseEnv } from 'node:util';
import path from 'node:path';
import { z } from 'zod';
import { LAYOUT_NAMES } from './definitions/layouts/source.js';
import { ConfigError } from './errors.js';

export const ENVIRONMENTS = ['development', 'staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const nonNegativeInt = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/**
 * Every environment variable the fleet reads. Defaults suit a developer machine;
 * `.env.example` documents the same list.
 */
export const configSchema = z.object({
  /** Workers and coordinators touch this file every few seconds while PostgreSQL and Redis answer (container health checks). */
  HEALTH_FILE: z.string().min(1).optional(),
  /** No default: pgfm never guesses which database to change (`databaseUrl` refuses to go on without it). */
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('pgfm'),
  MIGRATIONS_DIR: z.string().min(1).default('migrations'),
  /** Whose folder layout MIGRATIONS_DIR holds; auto: recognised from the files (pgfm's own when there are none). */
  MIGRATIONS_LAYOUT: z.enum(['auto', ...LAYOUT_NAMES]).default('auto'),
  ENVIRONMENT: z.enum(ENVIRONMENTS).default('development'),
  CATALOG_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier')
    .default('migration_mgmt'),
  /** lock_timeout for migrations that do not set max_lock_duration. */
  LOCK_TIMEOUT_MS: positiveInt(5000),
  /** statement_timeout for every migration statement. */
  STATEMENT_TIMEOUT_MS: positiveInt(3_600_000),
  WORKER_CONCURRENCY: positiveInt(2),
  /** Attempts per step job before it goes to the dead-letter queue. */
  STEP_ATTEMPTS: positiveInt(6),
  BACKOFF_BASE_MS: positiveInt(1000),
  BACKOFF_MAX_MS: positiveInt(30_000),
  /** BullMQ job lock; a dead worker's job is redelivered after about this long. */
  JOB_LOCK_MS: positiveInt(15_000),
  STALLED_INTERVAL_MS: positiveInt(5_000),
  COORDINATOR_LEASE_MS: positiveInt(5_000),
  COORDINATOR_TICK_MS: positiveInt(1_000),
  SHUTDOWN_GRACE_MS: nonNegativeInt(10_000),
  /** Keys per backfill chunk (one chunk is one job; a migration may set backfill.chunk_keys). */
  CHUNK_KEYS: positiveInt(100_000),
  /** Health governor: pause backfills while a session has waited this long on a lock a worker holds. */
  GOVERNOR_LOCK_WAIT_MS: positiveInt(1000),
  /** ... while another transaction is older than this (it holds back vacuum). */
  GOVERNOR_MAX_XACT_AGE_MS: positiveInt(600_000),
  /** ... while a replica replays more than this behind. */
  GOVERNOR_MAX_REPLICATION_LAG_MS: positiveInt(10_000),
  /** ... while this query (returning one boolean) does not return true. */
  GOVERNOR_HEALTH_QUERY: z.string().optional(),
  /** How often each worker re-checks health. */
  GOVERNOR_CHECK_MS: positiveInt(1000),
  BOARD_PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  /** `off` serves the board without authentication (only behind a trusted proxy). */
  BOARD_AUTH: z.enum(['on', 'off']).default('on'),
  BOARD_USER: z.string().min(1).optional(),
  BOARD_PASSWORD: z.string().min(8, 'at least 8 characters').optional(),
  /** Alternative to user/password: `Authorization: Bearer <token>`. */
  BOARD_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  BOARD_READ_ONLY: z.enum(['true', 'false']).default('false').transform((value) => value === 'true'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Recorded in the audit trail as who did it. */
  ACTOR: z.string().min(1).default(os.userInfo().username),
});

export type Config = Readonly<z.infer<typeof configSchema>> & { readonly migrationsDir: string };

/** Validates the environment once; the frozen result is passed to everything that needs it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const relevant = Object.fromEntries(
    Object.keys(configSchema.shape)
      .filter((key) => env[key] !== undefined && env[key] !== '')
      .map((key) => [key, env[key]]),
  );
  const parsed = configSchema.safeParse(relevant);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0]);
    throw new ConfigError(`invalid environment variable ${variable}: ${issue.message}`, { variable });
  }
  return Object.freeze({ ...parsed.data, migrationsDir: path.resolve(parsed.data.MIGRATIONS_DIR) });
}

/** The database a process acts on; a ConfigError (exit 2) when DATABASE_URL is not set. */
export function databaseUrl(config: Pick<Config, 'DATABASE_URL'>): string {
  if (config.DATABASE_URL === undefined) {
    throw new ConfigError('DATABASE_URL is not set: pgfm does not guess which database to migrate; set it (or put it in .env)', { variable: 'DATABASE_URL' });
  }
  return config.DATABASE_URL;
}

/**
 * Adds the variables of a `.env` file (PGFM_ENV_FILE, else `.env` in the working directory) to
 * `env`, for entry points only, once at start-up. Variables already set win, as with Node's
 * --env-file, so `ENVIRONMENT=staging npm run migrate ...` overrides the file.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env['PGFM_ENV_FILE'] || path.resolve('.env');
  if (!existsSync(file)) {
    if (env['PGFM_ENV_FILE']) throw new ConfigError(`PGFM_ENV_FILE names ${file}, which does not exist`, { variable: 'PGFM_ENV_FILE' });
    return undefined;
  }
  for (const [key, value] of Object.entries(parseEnv(readFileSync(file, 'utf8')))) {
    if (env[key] === undefined) env[key] = value;
  }
  return file;
}

/** For process entry points: the config, or a one-line error naming the variable and exit code 2. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env, check: (config: Config) => void = () => undefined): Config {
  try {
    loadEnvFile(env);
    const config = loadConfig(env);
    check(config);
    return config;
  } catch (error) {
    process.stderr.write(`error: ${(error as ConfigError).describe?.() ?? (error as Error).message}\n`);
    process.exit(2);
  }
}
