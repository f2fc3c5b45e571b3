import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_PATHS = [
  'password',
  'token',
  '*.password',
  '*.token',
  '*.*.password',
  '*.*.token',
  'config.DATABASE_URL',
  'config.REDIS_URL',
];

/** Replaces the password of any URL-looking credential in a string. */
export function redactUrl(value: string): string {
  return value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]+)(@)/gi, '$1***$3');
}

/**
 * JSON logs, one event per line. Fields named password/token are censored, and so is
 * the password inside any connection string in a message or string field.
 */
export function createLogger(
  options: { level?: string; name?: string } = {},
  destination: pino.DestinationStream = pino.destination(1),
): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      redact: { paths: SECRET_PATHS, censor: '***' },
      formatters: {
        log: (object) => redactStrings(object) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === 'string' ? redactUrl(arg) : arg)) as Parameters<typeof method>,
          );
        },
      },
    },
    destination,
  );
}

function redactStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((item) => redactStrings(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactStrings(v, depth + 1)]));
}
