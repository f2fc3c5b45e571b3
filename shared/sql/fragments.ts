import { parse, scan } from 'libpg-query';
import { DefinitionError, type ErrorContext } from '../errors.js';

type Node = Record<string, unknown>;

interface ParseResult {
  stmts?: Array<{ stmt: Node }>;
}

/** Node types that have no place inside a value expression: they would change what the statement around it does. */
const FORBIDDEN_NODES: Record<string, string> = {
  ParamRef: 'a $n parameter (the runner binds its own parameters)',
  A_Star: 'a * column list',
  InsertStmt: 'a data-modifying statement',
  UpdateStmt: 'a data-modifying statement',
  DeleteStmt: 'a data-modifying statement',
  MergeStmt: 'a data-modifying statement',
};

function findForbidden(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = findForbidden(item);
      if (found) return found;
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value as Node)) {
    if (key in FORBIDDEN_NODES) return FORBIDDEN_NODES[key];
    const found = findForbidden(child);
    if (found) return found;
  }
  return undefined;
}

/** The expression tree without source positions, which differ between two spellings of the same expression. */
function withoutLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLocations);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value as Node).filter(([key]) => key !== 'location').map(([key, child]) => [key, withoutLocations(child)]));
}

/** The single, unnamed target of `SELECT <text>`, or why there is not exactly one. */
async function singleTarget(sql: string): Promise<{ value: unknown } | { problem: string }> {
  let result: ParseResult;
  try {
    result = (await parse(sql)) as ParseResult;
  } catch (error) {
    const details = (error as { sqlDetails?: { message?: string } }).sqlDetails;
    return { problem: `syntax error: ${details?.message ?? (error as Error).message}` };
  }
  const statements = result.stmts ?? [];
  if (statements.length !== 1) return { problem: `it holds ${statements.length} statements` };
  const select = statements[0]!.stmt['SelectStmt'] as Node | undefined;
  if (!select) return { problem: 'it is not an expression' };
  const clauses = Object.keys(select).filter((key) => !['targetList', 'limitOption', 'op'].includes(key));
  if (clauses.length > 0 || select['op'] !== 'SETOP_NONE') return { problem: `it carries clauses of its own (${clauses.join(', ') || 'a set operation'})` };
  const targets = (select['targetList'] as Node[] | undefined) ?? [];
  if (targets.length !== 1) return { problem: `it is a list of ${targets.length} expressions` };
  const target = targets[0]!['ResTarget'] as Node;
  if (target['name'] !== undefined) return { problem: 'it names its result (AS)' };
  return { value: target['val'] };
}

/**
 * Checks that a user's SQL fragment (a backfill's `where` or a `set` value) is exactly one
 * value expression, by PostgreSQL's own parser, and returns it parenthesised, ready to be
 * placed inside a statement. The fragment must parse as one expression both alone and in
 * parentheses, to the same tree: text like `false) OR (true` parses only in the second form,
 * so it cannot close the parenthesis it is put in. The line breaks end a trailing `--` comment.
 */
export async function expressionFragment(text: string, context: ErrorContext): Promise<string> {
  const refuse = (problem: string) => new DefinitionError(`${context.field ?? 'expression'} must be exactly one SQL expression, but ${problem}: ${quoted(text)}`, context);
  const bare = await singleTarget(`SELECT ${text}`);
  if ('problem' in bare) throw refuse(bare.problem);
  // `SELECT x;` is one statement too, but a ";" cannot sit inside the statement it is put in. The text
  // parsed, so it scans: a ";" token is one outside any literal or comment.
  if ((await scan(text)).tokens.some((token) => token.text === ';')) throw refuse('it holds a ";"');
  const wrapped = await singleTarget(`SELECT (\n${text}\n)`);
  if ('problem' in wrapped || JSON.stringify(withoutLocations(wrapped.value)) !== JSON.stringify(withoutLocations(bare.value))) {
    throw refuse('it does not stay one expression inside parentheses');
  }
  const forbidden = findForbidden(bare.value);
  if (forbidden) throw refuse(`it contains ${forbidden}`);
  return `(\n${text}\n)`;
}

/** A fragment in a message: quoted, and cut short, so a huge one cannot make a huge error line. */
function quoted(text: string): string {
  const shown = JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}` : text);
  return text.length > 120 ? `${shown}… (${text.length} characters)` : shown;
}

async function statementKinds(text: string, context: ErrorContext): Promise<string[]> {
  try {
    return (((await parse(text)) as ParseResult).stmts ?? []).map(({ stmt }) => Object.keys(stmt)[0]!);
  } catch (error) {
    const details = (error as { sqlDetails?: { message?: string } }).sqlDetails;
    throw new DefinitionError(`${context.field ?? 'statement'}: syntax error: ${details?.message ?? (error as Error).message}`, context);
  }
}

/** Checks that a fragment (batch_sql, health_query, a check or a test's query) is exactly one statement of the given kinds. */
export async function statementFragment(text: string, kinds: string[], context: ErrorContext): Promise<void> {
  const found = await statementKinds(text, context);
  if (found.length !== 1) throw new DefinitionError(`${context.field ?? 'statement'} must be exactly one statement, but it holds ${found.length}`, context);
  if (!kinds.includes(found[0]!)) {
    throw new DefinitionError(`${context.field ?? 'statement'} must be one of ${kinds.join(', ')}, not ${found[0]}`, context);
  }
}

/** Checks that a script fragment (a test's setup or teardown) parses and leaves transactions to the runner. */
export async function scriptFragment(text: string, context: ErrorContext): Promise<void> {
  const found = await statementKinds(text, context);
  if (found.length === 0) throw new DefinitionError(`${context.field ?? 'script'} holds no statement`, context);
  if (found.includes('TransactionStmt')) {
    throw new DefinitionError(`${context.field ?? 'script'}: transaction control (BEGIN/COMMIT/ROLLBACK) is not allowed: the runner manages transactions`, context);
  }
}

/**
 * A column name a definition gives (a backfill key or `set` column): any name PostgreSQL keeps
 * whole (at most 63 bytes, no NUL), but not one that reads as SQL around a name (a list, a
 * quote, a statement end, a comment): such a "name" is a mistake or an attack, not a column.
 */
export function columnNameProblem(name: string): string | undefined {
  if (Buffer.byteLength(name) > 63) return 'is longer than 63 bytes (PostgreSQL would cut it to another name)';
  if (/[\u0000\s;,"()=]|--|\/\*/.test(name)) return 'holds a character that cannot be part of a column name here (space, quote, comma, parenthesis, "=", ";" or a comment)';
  return undefined;
}
