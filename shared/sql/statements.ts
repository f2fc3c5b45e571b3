import { parse } from 'libpg-query';
import { DefinitionError } from '../errors.js';

export interface SqlStatement {
  /** The statement's text exactly as written, without the trailing semicolon. */
  text: string;
  /** The parse node's type, e.g. `IndexStmt`. */
  kind: string;
  /** False when PostgreSQL refuses to run it inside a transaction block. */
  transactional: boolean;
  /** 1-based line where the statement starts in its file. */
  line: number;
  /** For CREATE INDEX CONCURRENTLY: the index it creates, so a failed attempt's INVALID index can be dropped. */
  concurrentIndex?: { schema: string | null; name: string };
}

type Node = Record<string, unknown>;

interface ParseResult {
  stmts?: Array<{ stmt: Node; stmt_location?: number; stmt_len?: number }>;
}

/** Statements PostgreSQL executes only outside a transaction block (PreventInTransactionBlock). */
function isNonTransactional(kind: string, node: Node): boolean {
  switch (kind) {
    case 'IndexStmt':
    case 'DropStmt':
      return node['concurrent'] === true;
    case 'ReindexStmt':
      return (
        defElemNames(node['params']).includes('concurrently') ||
        ['REINDEX_OBJECT_SYSTEM', 'REINDEX_OBJECT_DATABASE', 'REINDEX_OBJECT_SCHEMA'].includes(String(node['kind']))
      );
    case 'DiscardStmt':
      return node['target'] === 'DISCARD_ALL';
    case 'AlterDatabaseStmt':
      return defElemNames(node['options']).includes('tablespace');
    case 'VacuumStmt':
      return node['is_vacuumcmd'] === true;
    case 'AlterTableStmt':
      return ((node['cmds'] as Node[] | undefined) ?? []).some((cmd) => {
        const partitionCmd = ((cmd['AlterTableCmd'] as Node | undefined)?.['def'] as Node | undefined)?.['PartitionCmd'] as Node | undefined;
        return partitionCmd?.['concurrent'] === true;
      });
    case 'AlterSystemStmt':
    case 'CreatedbStmt':
    case 'DropdbStmt':
    case 'CreateTableSpaceStmt':
    case 'DropTableSpaceStmt':
    case 'CreateSubscriptionStmt':
    case 'DropSubscriptionStmt':
      return true;
    case 'ClusterStmt':
      return node['relation'] === undefined;
    default:
      return false;
  }
}

function defElemNames(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => String(((item as Node)['DefElem'] as Node | undefined)?.['defname'] ?? ''));
}

function lineAt(text: string, byteOffset: number): { line: number; column: number } {
  const before = Buffer.from(text).subarray(0, byteOffset).toString('utf8');
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 };
}

/**
 * Splits a SQL file into statements with PostgreSQL's own parser and classifies
 * each one. Syntax errors are reported with file, line and column.
 */
export async function parseStatements(sql: string, context: { file: string; migrationId?: string }): Promise<SqlStatement[]> {
  if (sql.trim() === '') return [];
  let result: ParseResult;
  try {
    result = (await parse(sql)) as ParseResult;
  } catch (error) {
    const details = (error as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    // The parser reports the error position in characters (statement positions are in bytes).
    const position = lineAt(sql, Buffer.byteLength(sql.slice(0, details?.cursorPosition ?? 0)));
    throw new DefinitionError(
      `SQL syntax error: ${details?.message ?? (error as Error).message}`,
      { ...context, line: position.line, column: position.column },
      { cause: error },
    );
  }
  const bytes = Buffer.from(sql);
  return (result.stmts ?? []).map(({ stmt, stmt_location = 0, stmt_len }) => {
    const kind = Object.keys(stmt)[0]!;
    const node = stmt[kind] as Node;
    const end = stmt_len === undefined || stmt_len === 0 ? bytes.length : stmt_location + stmt_len;
    const raw = bytes.subarray(stmt_location, end).toString('utf8');
    const leading = raw.length - raw.trimStart().length;
    const { line } = lineAt(sql, stmt_location + Buffer.byteLength(raw.slice(0, leading)));
    if (kind === 'TransactionStmt') {
      throw new DefinitionError('transaction control (BEGIN/COMMIT/ROLLBACK) is not allowed: the runner manages transactions', {
        ...context,
        line,
      });
    }
    const statement: SqlStatement = { text: raw.trim(), kind, transactional: !isNonTransactional(kind, node), line };
    if (kind === 'IndexStmt' && node['concurrent'] === true) {
      if (typeof node['idxname'] !== 'string') {
        throw new DefinitionError('CREATE INDEX CONCURRENTLY needs an index name, so a failed attempt can be cleaned up', { ...context, line });
      }
      const relation = node['relation'] as Node | undefined;
      statement.concurrentIndex = { schema: typeof relation?.['schemaname'] === 'string' ? relation['schemaname'] : null, name: node['idxname'] };
    }
    return statement;
  });
}
