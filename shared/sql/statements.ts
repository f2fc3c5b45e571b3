import { parse, scan } from 'libpg-query';
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
  /** For transaction control (BEGIN, COMMIT, ...): what it does, and whether it chains a new transaction. */
  control?: { kind: TransactionControl; chain: boolean };
}

/** The parser's TransactionStmt kinds, without the TRANS_STMT_ prefix. */
export type TransactionControl = 'BEGIN' | 'START' | 'COMMIT' | 'ROLLBACK' | 'SAVEPOINT' | 'RELEASE' | 'ROLLBACK_TO' | 'PREPARE' | 'COMMIT_PREPARED' | 'ROLLBACK_PREPARED';

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

/**
 * A file's UTF-8 bytes with the byte offset of every line start, computed once, so that a
 * byte offset (what the parser reports for statements) maps to a line by binary search.
 */
class SourceText {
  readonly bytes: Buffer;
  private readonly lineStarts: number[] = [0];

  constructor(text: string) {
    this.bytes = Buffer.from(text, 'utf8');
    for (let at = this.bytes.indexOf(0x0a); at !== -1; at = this.bytes.indexOf(0x0a, at + 1)) this.lineStarts.push(at + 1);
  }

  /** 1-based line of a byte offset. */
  line(byteOffset: number): number {
    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.lineStarts[middle]! <= byteOffset) low = middle;
      else high = middle - 1;
    }
    return low + 1;
  }

  /** 1-based line and column (in characters, as PostgreSQL counts them) of a byte offset. */
  position(byteOffset: number): { line: number; column: number } {
    const line = this.line(byteOffset);
    return { line, column: this.characters(this.lineStarts[line - 1]!, byteOffset) + 1 };
  }

  /** Characters (code points) in bytes [from, to). */
  characters(from: number, to: number): number {
    let count = 0;
    for (let i = from; i < to; i++) if ((this.bytes[i]! & 0xc0) !== 0x80) count++;
    return count;
  }

  /** Byte offset of the character `characters` code points after byte `from` (clamped to `to`). */
  byteOffsetOf(from: number, to: number, characters: number): number {
    let seen = 0;
    for (let i = from; i < to; i++) {
      if ((this.bytes[i]! & 0xc0) === 0x80) continue;
      if (seen === characters) return i;
      seen++;
    }
    return to;
  }
}

/**
 * Bytes of SQL handed to the parser in one call. A bigger file is parsed piece by piece
 * (see parseStatements), which is also faster: one call on 10 MB takes twice as long as
 * forty calls on 256 KiB.
 */
export const PARSE_PIECE_BYTES = 256 * 1024;
/**
 * Most bytes handed to the parser in one call, so the longest statement a file may hold.
 * libpg-query runs PostgreSQL's parser in WebAssembly with at most 1 GiB of memory, and a
 * parse tree (plus its JSON) takes up to ~200 times the SQL text: `SELECT 1,1,1,…` of 6 MB
 * exhausts it. The WebAssembly instance then exits and leaks that memory, and every later
 * parse in the process fails, so the parser must never be given that much.
 */
export const MAX_PARSE_BYTES = 2 * 1024 * 1024;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Whether a byte continues a UTF-8 sequence (is not the first byte of a character). */
const isContinuation = (byte: number | undefined) => byte !== undefined && (byte & 0xc0) === 0x80;

/**
 * End (exclusive) of the piece of at most `size` bytes starting at `start`: preferably after
 * a line ending in `;`, else after a line break, else on a character boundary.
 */
function pieceEnd(bytes: Buffer, start: number, size: number): number {
  if (bytes.length - start <= size) return bytes.length;
  const limit = start + size;
  let lastNewline = -1;
  for (let at = bytes.lastIndexOf(0x0a, limit - 1); at >= start && at >= limit - 64 * 1024; at = at > 0 ? bytes.lastIndexOf(0x0a, at - 1) : -1) {
    if (lastNewline === -1) lastNewline = at;
    let before = at - 1;
    while (before >= start && (bytes[before] === 0x20 || bytes[before] === 0x09 || bytes[before] === 0x0d)) before--;
    if (bytes[before] === 0x3b) return at + 1;
  }
  if (lastNewline !== -1) return lastNewline + 1;
  const newline = bytes.lastIndexOf(0x0a, limit - 1);
  if (newline >= start) return newline + 1;
  let end = limit;
  while (end < bytes.length && isContinuation(bytes[end])) end++;
  return end;
}

interface ParseFailure {
  error: unknown;
  message: string;
  /** Byte offset in the file, when the parser gave a position. */
  at?: number;
  /** True for a SQL error the parser reported; false for anything else (out of memory, stack overflow). */
  sql: boolean;
}

/** Whether the SQL in bytes [at, end) holds a token after the one at `at` (comments are not tokens). */
async function tokenFollows(bytes: Buffer, at: number, end: number): Promise<boolean> {
  const near = bytes.indexOf(0x0a, at + 4096);
  for (const until of near !== -1 && near < end ? [near + 1, end] : [end]) {
    try {
      const { tokens } = await scan(bytes.toString('utf8', at, until));
      if (tokens.filter((token) => token.tokenName !== 'C_COMMENT' && token.tokenName !== 'SQL_COMMENT').length >= 2) return true;
    } catch {
      // a literal or comment cut off by `until`: try the whole rest
    }
  }
  return false;
}

/**
 * Whether a parse error of the piece [start, end) is certainly the file's own error, however
 * the file continues after the piece. The parser stops at the first token that no valid
 * continuation can follow, so an error at a token is the whole file's error too when the
 * tokens up to it, and the one after it, are the same: the piece ends with a line break (no
 * token is cut in two) and another token follows the erroneous one within the piece (so its
 * text is complete, e.g. 'a' is not continued by a string on the next line, and so is the
 * one token of lookahead the parser takes after NOT, WITH, NULLS, ...). Not so for errors at
 * the piece's end: unterminated literals or comments, "at end of input".
 */
async function isGenuine(failure: ParseFailure, bytes: Buffer, end: number): Promise<boolean> {
  if (end === bytes.length) return failure.sql;
  if (!failure.sql || failure.at === undefined || bytes[end - 1] !== 0x0a) return false;
  if (!/^syntax error at or near "/.test(failure.message)) return false;
  return tokenFollows(bytes, failure.at, end);
}

type Piece =
  | { ok: true; stmts: NonNullable<ParseResult['stmts']>; end: number; next: number }
  | { ok: false; end: number; failure?: ParseFailure };

/**
 * Parses bytes [start, end) of the file, `start` being the file's start or right after a `;`
 * that ends a statement. The piece is usable when it is the rest of the file or ends after a
 * statement that ends in `;` (or holds nothing but comments and blanks, up to a line break);
 * then `stmts` are the statements to take and `next` is where to go on. A syntax error that
 * is certainly the file's own is thrown, as is a failure of the parser itself.
 */
async function parsePiece(source: SourceText, start: number, end: number, context: { file: string; migrationId?: string }): Promise<Piece> {
  const { bytes } = source;
  let result: ParseResult;
  try {
    result = (await parse(bytes.toString('utf8', start, end))) as ParseResult;
  } catch (error) {
    const details = (error as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    const failure: ParseFailure = {
      error,
      message: details?.message ?? (error as Error).message ?? String(error),
      sql: details !== undefined,
      // The parser reports the error position in characters (statement positions are in bytes).
      at: details?.cursorPosition === undefined ? undefined : source.byteOffsetOf(start, end, details.cursorPosition),
    };
    if (!failure.sql) throw parserFailed(source, start, failure, context);
    if (await isGenuine(failure, bytes, end)) throw syntaxError(source, failure, context);
    return { ok: false, end, failure };
  }
  const stmts = result.stmts ?? [];
  if (end === bytes.length) return { ok: true, stmts, end, next: end };
  // Take the statements up to the last one that ends in `;`; go on right after it.
  let last = stmts.length - 1;
  while (last >= 0 && !(stmts[last]!.stmt_len! > 0)) last--;
  if (last !== -1) {
    const semicolon = start + (stmts[last]!.stmt_location ?? 0) + stmts[last]!.stmt_len!;
    if (bytes[semicolon] === 0x3b) return { ok: true, stmts: stmts.slice(0, last + 1), end, next: semicolon + 1 };
  }
  // Only comments, blanks and empty statements: after the line break the lexer is in its initial state.
  if (stmts.length === 0 && bytes[end - 1] === 0x0a) return { ok: true, stmts, end, next: end };
  return { ok: false, end }; // one statement runs past the piece
}

/**
 * Splits a SQL file into statements with PostgreSQL's own parser and classifies
 * each one. Syntax errors are reported with file, line and column.
 *
 * The file is encoded once; statement positions (bytes, from the parser) map to lines by
 * binary search over the line starts, so the cost is linear in the file's size. A file
 * bigger than PARSE_PIECE_BYTES is parsed in pieces, each starting right after a `;` that
 * the parser itself found to end a statement; within a piece only statements that end in
 * such a `;` are taken (the last one may be cut off by the piece's end and is parsed again
 * with the next piece). Parsing from there is exactly parsing the whole file: the lexer is
 * in its initial state after a `;` token and the grammar is a list of statements separated
 * by `;`. When a piece is of no use (a statement runs past it), smaller pieces take the
 * statements before that one, then bigger ones the statement itself, up to MAX_PARSE_BYTES:
 * a longer statement is refused.
 */
export async function parseStatements(
  sql: string,
  context: { file: string; migrationId?: string },
  /** Only for tests: smaller pieces. */
  limits: { pieceBytes: number; maxParseBytes: number } = { pieceBytes: PARSE_PIECE_BYTES, maxParseBytes: MAX_PARSE_BYTES },
): Promise<SqlStatement[]> {
  if (sql.trim() === '') return [];
  const source = new SourceText(sql);
  const { bytes } = source;
  const statements: SqlStatement[] = [];
  /** The first statement refused (e.g. BEGIN): thrown after the last piece, as a syntax error anywhere in the file comes first. */
  let refusal: unknown;
  let start = 0;
  while (start < bytes.length) {
    let piece = await parsePiece(source, start, pieceEnd(bytes, start, limits.pieceBytes), context);
    let failure = piece.ok ? undefined : piece.failure;
    // Smaller pieces: the statements before the one that runs past this piece.
    for (let size = (piece.end - start) >> 1; !piece.ok && size >= 64; size >>= 1) {
      const end = pieceEnd(bytes, start, size);
      if (end >= piece.end) continue;
      const smaller = await parsePiece(source, start, end, context);
      if (smaller.ok) piece = smaller;
    }
    // Bigger pieces: the statement at `start` itself.
    for (let size = limits.pieceBytes; !piece.ok; ) {
      if (size >= limits.maxParseBytes) throw tooBig(source, start, limits.maxParseBytes, failure, context);
      size = Math.min(2 * size, limits.maxParseBytes);
      const end = pieceEnd(bytes, start, size);
      if (end === piece.end) continue;
      piece = await parsePiece(source, start, end, context);
      if (!piece.ok) failure = piece.failure;
    }
    for (const stmt of piece.stmts) {
      if (refusal !== undefined) break;
      try {
        statements.push(toStatement(source, start, piece.end, stmt, context));
      } catch (error) {
        refusal = error;
      }
    }
    start = piece.next;
  }
  if (refusal !== undefined) throw refusal;
  return statements;
}

/** The parser's message, with the text it quotes ("at or near ...", the rest of the file for an unterminated literal) cut short. */
function shortMessage(message: string): string {
  return message.replace(/(at or near ")([\s\S]*)"$/, (all, prefix: string, near: string) => {
    const characters = [...near];
    return characters.length > 60 ? `${prefix}${characters.slice(0, 60).join('')}…"` : all;
  });
}

function syntaxError(source: SourceText, failure: ParseFailure, context: { file: string; migrationId?: string }): DefinitionError {
  const position = source.position(failure.at ?? 0);
  return new DefinitionError(`SQL syntax error: ${shortMessage(failure.message)}`, { ...context, line: position.line, column: position.column }, { cause: failure.error });
}

/** Line of the first byte at or after `start` that is not a blank. */
function firstLine(source: SourceText, start: number): number {
  let at = start;
  while (at < source.bytes.length && [0x20, 0x09, 0x0d, 0x0a].includes(source.bytes[at]!)) at++;
  return source.line(at);
}

function parserFailed(source: SourceText, start: number, failure: ParseFailure, context: { file: string; migrationId?: string }): DefinitionError {
  const line = firstLine(source, start);
  const reason = /Program terminated/.test(failure.message)
    ? 'it ran out of memory (libpg-query runs it in WebAssembly with at most 1 GiB)'
    : failure.message;
  return new DefinitionError(`the SQL parser failed on the SQL from line ${line} on: ${reason}`, { ...context, line }, { cause: failure.error });
}

function tooBig(source: SourceText, start: number, max: number, failure: ParseFailure | undefined, context: { file: string; migrationId?: string }): DefinitionError {
  const line = firstLine(source, start);
  const limit =
    `longer than ${max} bytes (${mib(max)}), the most the SQL parser is given at once ` +
    `(libpg-query runs it in WebAssembly with 1 GiB of memory, which a bigger statement can exhaust)`;
  const file = `the file is ${source.bytes.length} bytes, ${mib(source.bytes.length)}`;
  if (failure === undefined) {
    return new DefinitionError(`the statement at line ${line} is ${limit}; ${file}: split the statement`, { ...context, line });
  }
  const where = failure.at === undefined ? '' : ` at line ${source.position(failure.at).line} column ${source.position(failure.at).column}`;
  return new DefinitionError(
    `the statement at line ${line} is ${limit}, or it has an error: within the first ${mib(max)} the parser reports ` +
      `"${shortMessage(failure.message)}"${where}; ${file}: split the statement or fix it`,
    { ...context, line },
    { cause: failure.error },
  );
}

function toStatement(
  source: SourceText,
  base: number,
  end: number,
  { stmt, stmt_location = 0, stmt_len }: NonNullable<ParseResult['stmts']>[number],
  context: { file: string; migrationId?: string },
): SqlStatement {
  const kind = Object.keys(stmt)[0]!;
  const node = stmt[kind] as Node;
  const from = base + stmt_location;
  const raw = source.bytes.toString('utf8', from, stmt_len === undefined || stmt_len === 0 ? end : from + stmt_len);
  const leading = raw.length - raw.trimStart().length;
  const line = source.line(from + Buffer.byteLength(raw.slice(0, leading)));
  const statement: SqlStatement = { text: raw.trim(), kind, transactional: !isNonTransactional(kind, node), line };
  if (kind === 'TransactionStmt') {
    statement.control = { kind: String(node['kind']).replace(/^TRANS_STMT_/, '') as TransactionControl, chain: node['chain'] === true };
  }
  if (kind === 'IndexStmt' && node['concurrent'] === true) {
    if (typeof node['idxname'] !== 'string') {
      throw new DefinitionError('CREATE INDEX CONCURRENTLY needs an index name, so a failed attempt can be cleaned up', { ...context, line });
    }
    const relation = node['relation'] as Node | undefined;
    statement.concurrentIndex = { schema: typeof relation?.['schemaname'] === 'string' ? relation['schemaname'] : null, name: node['idxname'] };
  }
  return statement;
}
