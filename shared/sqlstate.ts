/** PostgreSQL error codes the fleet treats specially. */
export const SQLSTATE = {
  LOCK_NOT_AVAILABLE: '55P03',
  QUERY_CANCELED: '57014',
  ADMIN_SHUTDOWN: '57P01',
  CRASH_SHUTDOWN: '57P02',
  CANNOT_CONNECT_NOW: '57P03',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
  UNIQUE_VIOLATION: '23505',
  RAISE_EXCEPTION: 'P0001',
  TOO_MANY_CONNECTIONS: '53300',
} as const;

const RETRYABLE = new Set<string>([
  SQLSTATE.LOCK_NOT_AVAILABLE,
  SQLSTATE.QUERY_CANCELED,
  SQLSTATE.ADMIN_SHUTDOWN,
  SQLSTATE.CRASH_SHUTDOWN,
  SQLSTATE.CANNOT_CONNECT_NOW,
  SQLSTATE.SERIALIZATION_FAILURE,
  SQLSTATE.DEADLOCK_DETECTED,
  SQLSTATE.TOO_MANY_CONNECTIONS,
]);

/** Node-level failures that mean the connection, not the SQL, went wrong. */
const CONNECTION_ERRORS = /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|Connection terminated|terminating connection|Client has encountered a connection error|connection lost|timeout exceeded when trying to connect/i;

export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Whether trying again later can succeed: lock timeouts, serialization failures,
 * deadlocks, a terminated backend, a lost connection. A syntax error, a constraint
 * violation or a failed validation fails the same way every time.
 */
export function isRetryable(error: unknown): boolean {
  const sqlstate = sqlstateOf(error);
  if (sqlstate !== undefined) return RETRYABLE.has(sqlstate) || sqlstate.startsWith('08');
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECTION_ERRORS.test(code)) return true;
  return CONNECTION_ERRORS.test((error as Error | null)?.message ?? '');
}
