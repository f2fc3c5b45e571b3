import type pg from 'pg';
import type { SqlScript } from '../shared/definitions/loader.js';
import type { SqlStatement } from '../shared/sql/statements.js';

/** What PostgreSQL says about a failed statement besides its message (node-postgres' DatabaseError fields). */
interface ServerError {
  code?: string;
  message: string;
  position?: string;
  detail?: string;
  hint?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
  dataType?: string;
  /** Set once the error names its file and line, so an outer handler does not name them again. */
  pgfmLocated?: boolean;
}

/**
 * Names the file and line of a statement PostgreSQL refused, and keeps what the server said
 * besides the message (DETAIL, HINT, the object): the message says it all, so the step's last
 * error, `status`, the dead letter and the log carry it. The error itself (its SQLSTATE, so
 * the retry rules) is unchanged.
 */
export function locateStatementError(error: unknown, file: string, statement: Pick<SqlStatement, 'text' | 'line'>): unknown {
  const server = error as ServerError | null;
  if (server === null || typeof server !== 'object' || typeof server.code !== 'string' || server.pgfmLocated) return error;
  const position = Number(server.position);
  const line = statement.line + (Number.isInteger(position) && position > 0 ? [...statement.text].slice(0, position - 1).filter((c) => c === '\n').length : 0);
  const object = [
    server.schema && server.table ? `table ${server.schema}.${server.table}` : server.table && `table ${server.table}`,
    server.column && `column ${server.column}`,
    server.constraint && `constraint ${server.constraint}`,
    server.dataType && `type ${server.dataType}`,
  ].filter(Boolean);
  server.message =
    `${file}:${line}: ${server.message}` +
    (server.detail ? `; DETAIL: ${server.detail}` : '') +
    (server.hint ? `; HINT: ${server.hint}` : '') +
    (object.length > 0 ? ` (${object.join(', ')})` : '');
  server.pgfmLocated = true;
  return error;
}

/** Runs one statement of a script; a failure names the script's file and the statement's line. */
export async function runStatement(client: pg.ClientBase, script: Pick<SqlScript, 'file'>, statement: SqlStatement): Promise<pg.QueryResult> {
  try {
    return await client.query(statement.text);
  } catch (error) {
    throw locateStatementError(error, script.file, statement);
  }
}
