import { DefinitionError } from '../errors.js';
import type { SqlStatement } from './statements.js';

/**
 * How a worker runs a file:
 * - `transaction`: all statements in one transaction the runner opens (the default);
 * - `per_statement`: each statement on its own, in autocommit, progress recorded after each
 *   (a file with statements PostgreSQL refuses in a transaction block, or a migration its tool
 *   marked as not transactional);
 * - `script`: the file manages its own transactions (`BEGIN; ... COMMIT;`): its statements run
 *   exactly as written, in order, on a session of their own; progress is recorded inside each
 *   of the file's transactions just before its COMMIT.
 */
export type ScriptMode = 'transaction' | 'per_statement' | 'script';

/**
 * A statement as an operator reads it: its leading keywords (`CREATE UNIQUE INDEX CONCURRENTLY`,
 * `VACUUM`, `ALTER TYPE`), not the parser's node name.
 */
export function statementLabel(statement: Pick<SqlStatement, 'text'>): string {
  const words: string[] = [];
  // Leading comments are part of the statement's text when they follow the previous `;`.
  const text = statement.text.replace(/^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/, '');
  for (const match of text.matchAll(/[A-Za-z_]+|\S/g)) {
    const word = match[0];
    if (!/^[A-Za-z_]+$/.test(word) || !KEYWORDS.has(word.toUpperCase())) break;
    words.push(word.toUpperCase());
    if (words.length === 5) break;
  }
  return words.length > 0 ? words.join(' ') : (text.split(/\s+/)[0] ?? '').slice(0, 30);
}

/** Words that open the statements PostgreSQL runs (enough to label them; identifiers stop the label). */
const KEYWORDS = new Set(
  (
    'ABORT ALTER ANALYZE BEGIN CALL CHECKPOINT CLUSTER COMMENT COMMIT CONCURRENTLY COPY CREATE DATABASE DEALLOCATE DECLARE DELETE ' +
    'DISCARD DO DROP END EXECUTE EXPLAIN FROM GRANT IMPORT INDEX INSERT INTO LISTEN LOAD LOCK MERGE MOVE NOTIFY PREPARE REASSIGN ' +
    'REFRESH REINDEX RELEASE RESET REVOKE ROLLBACK SAVEPOINT SECURITY SELECT SET SHOW START TABLE TRUNCATE UNLISTEN UPDATE VACUUM ' +
    'VALUES WITH UNIQUE TYPE TABLESPACE SUBSCRIPTION PUBLICATION SYSTEM SCHEMA SEQUENCE VIEW MATERIALIZED FUNCTION PROCEDURE ' +
    'TRIGGER EXTENSION POLICY ROLE USER OR REPLACE TEMP TEMPORARY UNLOGGED IF NOT EXISTS ONLY DOMAIN AGGREGATE OPERATOR RULE ' +
    'COLLATION CONVERSION EVENT FOREIGN DATA WRAPPER SERVER STATISTICS TEXT SEARCH TRANSACTION WORK FULL FREEZE VERBOSE ' +
    'DETACH PARTITION ATTACH DEFAULT PRIVILEGES ISOLATION LEVEL PREPARED'
  ).split(' '),
);

type Context = { file: string; migrationId?: string };

/**
 * The mode a file runs in, from its statements: `script` when it holds transaction control,
 * `per_statement` when it holds a statement that cannot run in a transaction block together
 * with others (or `noTransaction`, its tool's setting), else `transaction`. A script's
 * transaction control must be well formed, as psql would run it without leaving work
 * uncommitted: every BEGIN ends in COMMIT or ROLLBACK, nothing ends a transaction that was
 * not begun, savepoints live inside blocks, no two-phase commit, and no statement that cannot
 * run in a transaction block sits inside one.
 */
export function scriptMode(statements: SqlStatement[], context: Context, options: { noTransaction?: boolean } = {}): ScriptMode {
  const controls = statements.filter((statement) => statement.control !== undefined);
  if (controls.length === 0) {
    const alone = statements.filter((statement) => !statement.transactional);
    if (options.noTransaction || (alone.length > 0 && statements.length > 1)) return 'per_statement';
    return statements.length === 1 && alone.length === 1 ? 'per_statement' : 'transaction';
  }
  let openedAt: number | undefined;
  const fail = (message: string, statement: SqlStatement) => new DefinitionError(message, { ...context, line: statement.line });
  for (const statement of statements) {
    const control = statement.control;
    if (control === undefined) {
      if (openedAt !== undefined && !statement.transactional) {
        throw fail(`${statementLabel(statement)} at line ${statement.line} cannot run inside the transaction block begun at line ${openedAt}`, statement);
      }
      continue;
    }
    const label = statementLabel(statement);
    switch (control.kind) {
      case 'BEGIN':
      case 'START':
        if (openedAt !== undefined) throw fail(`${label} at line ${statement.line}: the transaction begun at line ${openedAt} is still open`, statement);
        openedAt = statement.line;
        break;
      case 'COMMIT':
      case 'ROLLBACK':
        if (openedAt === undefined) throw fail(`${label} at line ${statement.line} ends no transaction: no BEGIN before it`, statement);
        openedAt = control.chain ? statement.line : undefined;
        break;
      case 'SAVEPOINT':
      case 'RELEASE':
      case 'ROLLBACK_TO':
        if (openedAt === undefined) throw fail(`${label} at line ${statement.line} is outside a transaction block`, statement);
        break;
      default:
        throw fail(`${label} at line ${statement.line}: two-phase commit is not supported in a migration`, statement);
    }
  }
  if (openedAt !== undefined) {
    throw fail(`the transaction begun at line ${openedAt} is never committed: end it with COMMIT (or ROLLBACK)`, statements.find((s) => s.line === openedAt)!);
  }
  return 'script';
}
