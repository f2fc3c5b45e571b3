/**
 * loadConfig (shared/config.ts): defaults, freezing, coercion, and a ConfigError naming
 * the variable for every invalid value. createLogger (shared/logger.ts): one JSON event
 * per line, passwords and tokens censored in fields and inside connection strings, and
 * no argument of a Redis command attached to an error (a real ioredis client against a
 * private redis-server with requirepass, and a real worker process) ever written.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema, loadConfig, type Config } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { createLogger, redactUrl } from '../../shared/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { Fleet, uniquePrefix } from '../helpers/fleet.js';
import { PrivateRedis, sleep, waitFor } from '../helpers/processes.js';

function configError(env: Record<string, string>): ConfigError {
  let error: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

/** Every numeric variable, read from the defaults, so a new one is covered automatically. */
const NUMERIC = Object.entries(loadConfig({}))
  .filter(([, value]) => typeof value === 'number')
  .map(([key]) => key as keyof Config);
/** Numeric variables for which 0 is meaningful (a shutdown grace period of 0 means: stop at once). */
const NON_NEGATIVE = ['SHUTDOWN_GRACE_MS'];
const NUMERIC_POSITIVE = NUMERIC.filter((key) => !NON_NEGATIVE.includes(key));

describe('loadConfig', () => {
  it('has these defaults', () => {
    const config = loadConfig({});
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'pgfm',
      MIGRATIONS_DIR: 'migrations',
      ENVIRONMENT: 'development',
      CATALOG_SCHEMA: 'migration_mgmt',
      LOCK_TIMEOUT_MS: 5000,
      STATEMENT_TIMEOUT_MS: 3_600_000,
      WORKER_CONCURRENCY: 2,
      STEP_ATTEMPTS: 6,
      BACKOFF_BASE_MS: 1000,
      BACKOFF_MAX_MS: 30_000,
      JOB_LOCK_MS: 15_000,
      STALLED_INTERVAL_MS: 5000,
      COORDINATOR_LEASE_MS: 5000,
      COORDINATOR_TICK_MS: 1000,
      SHUTDOWN_GRACE_MS: 10_000,
      LOG_LEVEL: 'info',
      ACTOR: os.userInfo().username,
      migrationsDir: path.resolve('migrations'),
    });
    // Nothing but the schema's variables (and the resolved directory).
    const schemaKeys = Object.keys(configSchema.shape);
    for (const key of Object.keys(config)) expect([...schemaKeys, 'migrationsDir']).toContain(key);
    expect(NUMERIC).toEqual(expect.arrayContaining(['LOCK_TIMEOUT_MS', 'SHUTDOWN_GRACE_MS', 'COORDINATOR_TICK_MS']));
  });

  it('treats empty strings as unset and ignores unrelated variables', () => {
    const config = loadConfig({ LOCK_TIMEOUT_MS: '', DATABASE_URL: '', ACTOR: '', MIGRATIONS_DIR: '', PATH: '/usr/bin', HOME: '/root' });
    expect(config.LOCK_TIMEOUT_MS).toBe(5000);
    // No default: pgfm never guesses the database (commands that connect refuse without it).
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.MIGRATIONS_DIR).toBe('migrations');
    expect(config).not.toHaveProperty('PATH');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({ LOCK_TIMEOUT_MS: '250' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { LOCK_TIMEOUT_MS: number }).LOCK_TIMEOUT_MS = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config as unknown as Record<string, unknown>)['EXTRA'] = 1;
    }).toThrow(TypeError);
    expect(config.LOCK_TIMEOUT_MS).toBe(250);
  });

  it('does not read process.env when given an env object', () => {
    const previous = process.env['LOCK_TIMEOUT_MS'];
    process.env['LOCK_TIMEOUT_MS'] = 'not a number';
    try {
      expect(loadConfig({}).LOCK_TIMEOUT_MS).toBe(5000);
    } finally {
      if (previous === undefined) delete process.env['LOCK_TIMEOUT_MS'];
      else process.env['LOCK_TIMEOUT_MS'] = previous;
    }
  });

  it('coerces numeric variables to numbers', () => {
    const env = Object.fromEntries(NUMERIC_POSITIVE.map((name, i) => [name, String(100 + i)]));
    const config = loadConfig({ ...env, SHUTDOWN_GRACE_MS: '0' });
    for (const [i, name] of NUMERIC_POSITIVE.entries()) expect(config[name]).toBe(100 + i);
    expect(config.SHUTDOWN_GRACE_MS).toBe(0);
    expect(loadConfig({ LOCK_TIMEOUT_MS: ' 250 ' }).LOCK_TIMEOUT_MS).toBe(250);
  });

  it('accepts the documented alternatives', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql://app:pw@db.internal:6432/orders?sslmode=require',
      REDIS_URL: 'rediss://:pw@cache.internal:6380/2',
      QUEUE_PREFIX: 'Fleet_2-b',
      MIGRATIONS_DIR: '/srv/migrations',
      ENVIRONMENT: 'production',
      CATALOG_SCHEMA: '_mgmt2',
      LOG_LEVEL: 'silent',
      ACTOR: 'ci-bot',
    });
    expect(config).toMatchObject({
      DATABASE_URL: 'postgresql://app:pw@db.internal:6432/orders?sslmode=require',
      REDIS_URL: 'rediss://:pw@cache.internal:6380/2',
      QUEUE_PREFIX: 'Fleet_2-b',
      ENVIRONMENT: 'production',
      CATALOG_SCHEMA: '_mgmt2',
      LOG_LEVEL: 'silent',
      ACTOR: 'ci-bot',
      migrationsDir: '/srv/migrations',
    });
  });

  it('resolves MIGRATIONS_DIR to an absolute migrationsDir', () => {
    expect(loadConfig({ MIGRATIONS_DIR: 'db/migrations' }).migrationsDir).toBe(path.resolve('db/migrations'));
  });

  const invalid: Array<[string, string]> = [
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'http://db.internal/orders'],
    ['DATABASE_URL', 'mysql://u:pw@h/db'],
    ['DATABASE_URL', '127.0.0.1:5432'],
    ['REDIS_URL', 'postgres://127.0.0.1:6379'],
    ['REDIS_URL', 'localhost:6379'],
    ['QUEUE_PREFIX', 'a b'],
    ['QUEUE_PREFIX', 'a:b'],
    ['QUEUE_PREFIX', 'é'],
    ['ENVIRONMENT', 'prod'],
    ['ENVIRONMENT', 'Production'],
    ['CATALOG_SCHEMA', 'Migration_Mgmt'],
    ['CATALOG_SCHEMA', 'a-b'],
    ['CATALOG_SCHEMA', '1abc'],
    ['CATALOG_SCHEMA', 'x"; DROP SCHEMA public; --'],
    ['LOG_LEVEL', 'verbose'],
    ['LOG_LEVEL', 'INFO'],
    ['SHUTDOWN_GRACE_MS', '-1'],
    ['SHUTDOWN_GRACE_MS', '0.5'],
    ['SHUTDOWN_GRACE_MS', 'soon'],
    ...NUMERIC_POSITIVE.flatMap((name): Array<[string, string]> => [
      [name, 'abc'],
      [name, '0'],
      [name, '-5'],
      [name, '1.5'],
      [name, 'Infinity'],
      [name, '12ms'],
    ]),
  ];

  it.each(invalid)('%s=%j is refused with a ConfigError naming the variable', (variable, value) => {
    const error = configError({ [variable]: value });
    expect(error.context).toEqual({ variable });
    expect(error.message).toMatch(new RegExp(`^invalid environment variable ${variable}: \\S`));
    expect(error.describe()).toContain(`variable=${variable}`);
    expect(error.exitCode).toBe(2);
  });

  it('names a bad variable even when others are fine', () => {
    const error = configError({ DATABASE_URL: 'postgres://127.0.0.1/x', REDIS_URL: 'redis://h', STEP_ATTEMPTS: 'many', LOG_LEVEL: 'debug' });
    expect(error.context.variable).toBe('STEP_ATTEMPTS');
  });

  it('does not echo a rejected URL (which may hold a password) in its message', () => {
    const error = configError({ DATABASE_URL: 'mysql://app:secret@db/orders' });
    expect(error.describe()).not.toContain('secret');
    const redis = configError({ REDIS_URL: 'http://:secret@cache:6379' });
    expect(redis.describe()).not.toContain('secret');
  });
});

/** A pino destination that keeps every written line. */
function memoryDestination() {
  const lines: string[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(line) } };
}

describe('createLogger', () => {
  it('writes one JSON object per event, one event per line, at or above the level', () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger({ level: 'info', name: 'unit' }, stream);
    logger.debug('hidden');
    logger.info({ run: 1 }, 'first');
    logger.warn('second\nwith a newline');
    logger.error({ nested: { a: [1, 2] } }, 'third');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
    }
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((e) => [e['level'], e['msg'], e['name']])).toEqual([
      [30, 'first', 'unit'],
      [40, 'second\nwith a newline', 'unit'],
      [50, 'third', 'unit'],
    ]);
    expect(events[0]).toMatchObject({ run: 1 });
    expect(events[2]).toMatchObject({ nested: { a: [1, 2] } });
  });

  it('defaults to level info', () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger({}, stream);
    logger.debug('hidden');
    logger.info('shown');
    expect(lines).toHaveLength(1);
  });

  it('never writes a password or token, in fields or in connection strings', () => {
    const { lines, stream } = memoryDestination();
    const logger = createLogger({ level: 'trace', name: 'redaction' }, stream);
    logger.info({ password: 'secret' }, 'password field');
    logger.info({ token: 'secret' }, 'token field');
    logger.info({ db: { password: 'secret', host: 'db.internal' } }, 'nested password');
    logger.info({ queue: { auth: { token: 'secret' } } }, 'nested token, two levels');
    logger.info({ password: 'secret', token: 'secret', user: 'app' });
    logger.info('connecting to postgres://user:secret@host/db');
    logger.info('queues at redis://:secret@host:6379 are ready');
    logger.info({ url: 'postgres://user:secret@host/db' }, 'URL field');
    logger.info({ redis: 'redis://:secret@host:6379' }, 'Redis URL field');
    logger.info({ target: { url: 'postgresql://user:secret@host:5432/db?sslmode=require' } }, 'nested URL');
    logger.info({ urls: ['postgres://user:secret@host/db', 'rediss://:secret@host:6380'] }, 'URL list');
    logger.info('format %s and %s', 'postgres://user:secret@host/db', 'redis://:secret@host:6379');
    logger.info({ config: { DATABASE_URL: 'postgres://user:secret@host/db', REDIS_URL: 'redis://:secret@host:6379' } }, 'config');
    logger.warn({ attempt: 2 }, 'retrying postgres://user:secret@host/db and redis://:secret@host:6379');

    expect(lines).toHaveLength(14);
    const events = lines.map((line) => JSON.parse(line) as Record<string, any>);
    for (const line of lines) expect(line).not.toContain('secret');

    // Redacted, not dropped: what is left still tells the operator where.
    expect(events[0]!['password']).toBe('***');
    expect(events[1]!['token']).toBe('***');
    expect(events[2]!['db']).toEqual({ password: '***', host: 'db.internal' });
    expect(events[3]!['queue']).toEqual({ auth: { token: '***' } });
    expect(events[4]).toMatchObject({ password: '***', token: '***', user: 'app' });
    expect(events[5]!['msg']).toBe('connecting to postgres://user:***@host/db');
    expect(events[6]!['msg']).toBe('queues at redis://:***@host:6379 are ready');
    expect(events[7]!['url']).toBe('postgres://user:***@host/db');
    expect(events[8]!['redis']).toBe('redis://:***@host:6379');
    expect(events[9]!['target']).toEqual({ url: 'postgresql://user:***@host:5432/db?sslmode=require' });
    expect(events[10]!['urls']).toEqual(['postgres://user:***@host/db', 'rediss://:***@host:6380']);
    expect(events[11]!['msg']).toBe('format postgres://user:***@host/db and redis://:***@host:6379');
    expect(events[12]!['config']).toEqual({ DATABASE_URL: 'postgres://user:***@host/db', REDIS_URL: 'redis://:***@host:6379' });
    expect(events[13]).toMatchObject({ attempt: 2, msg: 'retrying postgres://user:***@host/db and redis://:***@host:6379' });
  });

  it('does not alter the objects it was given', () => {
    const { stream } = memoryDestination();
    const logger = createLogger({}, stream);
    const fields = { db: { password: 'secret' }, url: 'postgres://u:secret@h/db' };
    logger.info(fields, 'x');
    expect(fields).toEqual({ db: { password: 'secret' }, url: 'postgres://u:secret@h/db' });
  });

  it('leaves URLs without a password alone', () => {
    expect(redactUrl('postgres://postgres@127.0.0.1:5432/test')).toBe('postgres://postgres@127.0.0.1:5432/test');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('see https://example.com/a:b for details')).toBe('see https://example.com/a:b for details');
  });

  // KNOWN BUGS (shared/logger.ts). Flip to `it` when fixed.
  describe('known leaks', () => {
    const leaks = (log: (logger: ReturnType<typeof createLogger>) => void) => {
      const { lines, stream } = memoryDestination();
      log(createLogger({ level: 'info' }, stream));
      expect(lines).toHaveLength(1);
      expect(lines[0]).not.toContain('secret');
    };

    // redactStrings skips Error instances, so an error whose message holds a
    // connection string is serialized with the password (message and stack).
    it('an Error whose message contains a connection string (logger.error({ err }))', () =>
      leaks((logger) => logger.error({ err: new Error('cannot connect to postgres://u:secret@h/db') }, 'failed')),
    );
    it('an Error logged directly (logger.error(error))', () =>
      leaks((logger) => logger.error(new Error('cannot connect to postgres://u:secret@h/db'))),
    );
    // formatters.log does not see child bindings.
    it('a connection string bound to a child logger', () => leaks((logger) => logger.child({ url: 'postgres://u:secret@h/db' }).info('x')));
    // Redact paths stop at *.*.password.
    it('a password field three levels deep', () => leaks((logger) => logger.info({ a: { b: { c: { password: 'secret' } } } }, 'x')));
  });
});

describe('createLogger and the arguments of Redis commands', () => {
  // Random per run, so a match can only come from this run's clients.
  const rightPassword = `right-${randomBytes(6).toString('hex')}`;
  const wrongPassword = `wrongpass-${randomBytes(6).toString('hex')}`;
  const secretArg = `secret-arg-${randomBytes(6).toString('hex')}`;
  let redis: PrivateRedis | undefined;
  let authError: Error;
  let pipelineError: Error;
  let unknownCommandError: Error;

  beforeAll(async () => {
    redis = await PrivateRedis.start({ password: rightPassword });
    const port = redis.port;

    // A wrong password: ioredis authenticates with HELLO 3 AUTH default <password> and emits the ReplyError.
    const wrong = new Redis(`redis://:${wrongPassword}@127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const emitted: Error[] = [];
    wrong.on('error', (error: Error) => emitted.push(error));
    try {
      await wrong.connect().catch(() => undefined);
      await waitFor('the authentication error', async () => emitted.length > 0, 5000, 20);
    } finally {
      wrong.disconnect();
    }
    authError = emitted.find((error) => /WRONGPASS/.test(error.message)) ?? emitted[0]!;

    // Two more errors that carry command arguments: EXECABORT with previousErrors, and a reply echoing arguments.
    const right = new Redis({ host: '127.0.0.1', port, password: rightPassword, maxRetriesPerRequest: 0, retryStrategy: () => null });
    right.on('error', () => undefined);
    try {
      pipelineError = await right
        .multi()
        .set(`k-${secretArg}`, secretArg)
        .call('hset', secretArg)
        .exec()
        .then(
          () => new Error('EXEC did not fail'),
          (error: Error) => error,
        );
      unknownCommandError = await right.call('pgfm_no_such_command', secretArg, 'x').then(
        () => new Error('the unknown command did not fail'),
        (error: Error) => error,
      );
    } finally {
      right.disconnect();
    }
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('sanity: the real errors carry the secrets (so the checks below can fail)', () => {
    expect(authError.message).toMatch(/WRONGPASS/);
    expect((authError as Error & { command?: { name: string; args: unknown[] } }).command).toMatchObject({
      args: expect.arrayContaining([wrongPassword]),
    });
    expect(JSON.stringify(authError)).toContain(wrongPassword);
    expect(pipelineError.message).toMatch(/EXECABORT/);
    expect(JSON.stringify((pipelineError as Error & { previousErrors?: unknown }).previousErrors)).toContain(secretArg);
    expect(unknownCommandError.message).toContain(secretArg);
  });

  /** Logs through a real createLogger with a capturing destination; returns the lines, checked to be JSON. */
  function logged(log: (logger: ReturnType<typeof createLogger>) => void): string[] {
    const { lines, stream } = memoryDestination();
    log(createLogger({ level: 'trace', name: 'redis-redaction' }, stream));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    return lines;
  }

  function expectNoSecret(lines: string[]): void {
    for (const line of lines) {
      for (const secret of [wrongPassword, rightPassword, secretArg]) expect(line, line).not.toContain(secret);
    }
  }

  const shapes: Array<[string, (logger: ReturnType<typeof createLogger>, error: Error) => void]> = [
    ['as { err }', (logger, error) => logger.error({ err: error }, 'redis failed')],
    ['as a plain error argument', (logger, error) => logger.error(error)],
    ['as a plain error argument with a message', (logger, error) => logger.warn(error, 'redis failed')],
    ['under another field name', (logger, error) => logger.error({ failure: error, attempt: 2 }, 'redis failed')],
    ['in a list of errors', (logger, error) => logger.error({ errors: [error, error] }, 'redis failed')],
    ['nested as a cause', (logger, error) => logger.error({ err: new Error('queue unavailable', { cause: error }) }, 'redis failed')],
    [
      'nested as a cause of a cause, logged directly',
      (logger, error) => logger.error(new Error('step failed', { cause: new Error('queue unavailable', { cause: error }) })),
    ],
    ['inside an AggregateError', (logger, error) => logger.error({ err: new AggregateError([new Error('other'), error], 'all connections failed') }, 'x')],
    ['as a %o format argument', (logger, error) => logger.error('redis failed: %o', error)],
    ['as a %j format argument', (logger, error) => logger.error('redis failed: %j', error)],
    ['as a %s format argument', (logger, error) => logger.error('redis failed: %s', error)],
    ['bound to a child logger', (logger, error) => logger.child({ lastError: error }).warn('retrying')],
    ['as a bare command object', (logger, error) => logger.warn({ command: (error as Error & { command: unknown }).command }, 'command failed')],
  ];

  for (const [shape, log] of shapes) {
    it(`an authentication error (wrong password) ${shape}: no password in the output`, () => {
      const lines = logged((logger) => log(logger, authError));
      expectNoSecret(lines);
      // Redacted, not dropped: the operator still sees what failed.
      expect(lines.join('')).toMatch(/WRONGPASS|hello/i);
    });
    it(`an EXECABORT error with previousErrors ${shape}: no command argument in the output`, () => {
      expectNoSecret(logged((logger) => log(logger, pipelineError)));
    });
    it(`a reply that echoes the arguments ${shape}: no command argument in the output`, () => {
      expectNoSecret(logged((logger) => log(logger, unknownCommandError)));
    });
  }

  it('keeps the command name and the number of arguments', () => {
    const [line] = logged((logger) => logger.error({ err: authError }, 'redis failed'));
    const event = JSON.parse(line!) as { err: { type: string; message: string; command: { name: string; args: unknown; argCount: number } } };
    expect(event.err.message).toMatch(/^WRONGPASS/);
    expect(event.err.type).toBe('ReplyError');
    expect(event.err.command.name).toBe('hello');
    expect(event.err.command.argCount).toBe((authError as Error & { command: { args: unknown[] } }).command.args.length);
    expect(JSON.stringify(event.err.command.args)).not.toContain(wrongPassword);

    const [pipeline] = logged((logger) => logger.error({ err: pipelineError }, 'exec failed'));
    const previous = (JSON.parse(pipeline!) as { err: { previousErrors: Array<{ message: string; command: { name: string } }> } }).err.previousErrors;
    expect(previous.map((e) => e.command.name)).toEqual(['hset']);
    expect(previous[0]!.message).toMatch(/wrong number of arguments/);
  });

  it('cuts off errors nested deeper than it redacts instead of writing them as they are', () => {
    let error: Error = authError;
    for (let i = 0; i < 20; i++) error = new Error(`level ${i}`, { cause: error });
    expectNoSecret(logged((logger) => logger.error({ err: error }, 'deep')));
    let object: Record<string, unknown> = { command: (authError as Error & { command: unknown }).command, url: `redis://:${wrongPassword}@h:6379` };
    for (let i = 0; i < 20; i++) object = { nested: object };
    expectNoSecret(logged((logger) => logger.info(object, 'deep object')));
  });

  it('does not alter the error it was given', () => {
    const command = (authError as Error & { command: { args: unknown[] } }).command;
    const before = JSON.stringify(command);
    logged((logger) => logger.error({ err: authError }, 'x'));
    expect(JSON.stringify(command)).toBe(before);
  });

  describe('a real worker process with a wrong password in REDIS_URL', () => {
    let db: TestDatabase | undefined;
    let fleet: Fleet | undefined;
    let output: string[] = [];

    beforeAll(async () => {
      db = await createTestDatabase('logger_redis_auth');
      fleet = new Fleet({
        DATABASE_URL: db.url,
        REDIS_URL: `redis://:${wrongPassword}@127.0.0.1:${redis!.port}`,
        QUEUE_PREFIX: uniquePrefix('logger'),
      });
      const worker = fleet.worker();
      try {
        // Connected to PostgreSQL and failing to authenticate to Redis, then a couple of seconds of retries.
        await waitFor('the worker to log a Redis authentication error', async () => worker.output.some((line) => line.includes('WRONGPASS')), 30_000);
        await sleep(2000);
      } finally {
        await fleet.kill(worker);
      }
      output = [...worker.output];
    }, 60_000);

    afterAll(async () => {
      await fleet?.stop();
      await db?.drop();
    });

    it('sanity: it logged the authentication errors, as JSON log events', () => {
      const events = output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { msg?: string; err?: { message?: string } });
      expect(events.some((event) => /WRONGPASS/.test(event.err?.message ?? '')), output.slice(-20).join('\n')).toBe(true);
    });

    it('its log events contain no password', () => {
      const leaks = output.filter((line) => line.startsWith('{') && line.includes(wrongPassword));
      expect(leaks.slice(0, 3), `${leaks.length} of ${output.length} log events hold the password`).toEqual([]);
    });

    // Everything the process prints, including what libraries write with console.error
    // (BullMQ prints a Queue's 'error' event that way when nothing listens for it).
    it('nothing it prints contains the password', () => {
      const leaks = output.filter((line) => line.includes(wrongPassword));
      const outsideLogger = leaks.filter((line) => !line.startsWith('{')).length;
      expect(
        leaks.slice(0, 3),
        `${leaks.length} of ${output.length} output lines hold the password (${outsideLogger} of them not JSON, so not written by createLogger)`,
      ).toEqual([]);
    });
  });
});
