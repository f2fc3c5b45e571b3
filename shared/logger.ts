import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_KEY = /^(password|passwd|token|secret|api_?key)$|_(password|token|secret)$/i;

/** Replaces the password of any URL-looking credential in a string (up to the last '@' of the authority). */
export function redactUrl(value: string): string {
  return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^\s/]*)(@)/gi, '$1***$3');
}

/** A copy of a log value with secret-named fields censored and URL passwords removed, at any depth. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (value instanceof Error) {
    const fields = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '***' : redactValue(v, depth + 1)]));
    return { type: value.name, ...fields, message: redactUrl(value.message), stack: value.stack ? redactUrl(value.stack) : undefined };
  }
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) ? '***' : redactValue(v, depth + 1)]));
}

/**
 * JSON logs, one event per line. Fields named like password/token are censored and the
 * password inside any connection string is removed, in messages, fields, errors and the
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
          const redacted: unknown[] = args.map((arg) => (typeof arg === 'string' ? redactUrl(arg) : arg));
          // logger.error(error) would take the raw error message as the log message.
          if (args[0] instanceof Error) redacted.splice(0, 1, { err: args[0] }, ...(typeof args[1] === 'string' ? [] : [redactUrl(args[0].message)]));
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
