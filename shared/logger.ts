import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_KEY = /^(password|passwd|token|secret|api_?key)$|_(password|token|secret)$/i;

/** Replaces the password of any URL-looking credential in a string (up to the last '@' of the authority). */
export function redactUrl(value: string): string {
  return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^\s/]*)(@)/gi, '$1***$3');
}

/**
 * Strings may carry secrets in two shapes: a connection string's password, and the echo of
 * a command's arguments in a Redis reply ("ERR unknown command 'x', with args beginning with: ...").
 */
function redactString(value: string): string {
  return redactUrl(value).replace(/(with args beginning with:)[^\n]*/gi, '$1 ***');
}

/** Nested errors and objects deeper than this are cut off rather than written unredacted. */
const MAX_DEPTH = 8;

/**
 * A Redis command as ioredis attaches it to errors (`ReplyError.command`, the commands of a
 * pipeline): a name and its arguments. The arguments are user data and credentials alike
 * (`HELLO 3 AUTH default <password>`, `AUTH <password>`, job payloads), so only their number is kept.
 */
function isRedisCommand(value: object): value is { name: string; args: unknown[] } {
  const command = value as { name?: unknown; args?: unknown };
  return typeof command.name === 'string' && Array.isArray(command.args);
}

function redactFields(value: object, depth: number): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '***' : redactValue(v, depth + 1)]));
}

/**
 * A copy of a log value with secret-named fields censored, URL passwords removed and Redis
 * command arguments replaced by their count, at any depth: in plain objects, arrays and
 * errors, including an error's `cause`, an AggregateError's `errors` and ioredis'
 * `previousErrors`.
 */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (depth > MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  if (value instanceof Error) {
    const fields = redactFields(value, depth);
    // `cause` and AggregateError's `errors` are own but not enumerable: add them explicitly.
    const nested: Record<string, unknown> = {};
    if ('cause' in value && value.cause !== undefined) nested['cause'] = redactValue(value.cause, depth + 1);
    if (value instanceof AggregateError && Array.isArray(value.errors)) nested['errors'] = redactValue(value.errors, depth + 1);
    const redacted = {
      type: value.name,
      ...fields,
      ...nested,
      message: redactString(value.message),
      stack: value.stack ? redactString(value.stack) : undefined,
    };
    // As a format argument (logger.info('failed: %s', error)) it still reads as the error did.
    Object.defineProperty(redacted, 'toString', { value: () => `${value.name}: ${redactString(value.message)}`, enumerable: false });
    return redacted;
  }
  if (isRedisCommand(value)) return { name: redactString(value.name), args: '***', argCount: value.args.length };
  return redactFields(value, depth);
}

/**
 * JSON logs, one event per line. Fields named like password/token are censored, the
 * password inside any connection string is removed and the arguments of Redis commands
 * attached to errors are dropped, in messages, fields, errors (and their causes) and the
 * bindings of child loggers alike.
 */
export function createLogger(
  options: { level?: string; name?: string } = {},
  destination: pino.DestinationStream = pino.destination(1),
): Logger {
  return redactChildBindings(pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      serializers: { err: (error: unknown) => redactValue(error) },
      formatters: {
        log: (object) => redactValue(object) as Record<string, unknown>,
        bindings: (bindings) => redactValue(bindings) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          // The first argument (fields or an error) goes through the serializers and formatters;
          // the rest are format arguments pino would print as they are, so redact them here.
          const redacted: unknown[] = args.map((arg, index) => (index === 0 && typeof arg !== 'string' ? arg : redactValue(arg)));
          // logger.error(error) would take the raw error message as the log message.
          if (args[0] instanceof Error) redacted.splice(0, 1, { err: args[0] }, ...(typeof args[1] === 'string' ? [] : [redactString(args[0].message)]));
          method.apply(this, redacted as Parameters<typeof method>);
        },
      },
    },
    destination,
  ));
}

/** pino serializes a child's bindings once, without formatters: redact them on the way in. */
function redactChildBindings(logger: Logger): Logger {
  const child = logger.child.bind(logger);
  logger.child = ((bindings: pino.Bindings, options?: pino.ChildLoggerOptions) =>
    redactChildBindings(child(redactValue(bindings) as pino.Bindings, options))) as unknown as Logger['child'];
  return logger;
}
