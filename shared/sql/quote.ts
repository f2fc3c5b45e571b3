import pg from 'pg';
import { BadInputError } from '../errors.js';

/** Quotes one identifier with node-postgres' own escaping (doubles embedded quotes). */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

export interface QualifiedName {
  schema: string | undefined;
  name: string;
}

const PART = /^(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*))/;

/**
 * Splits a user-written `schema.table` (either part may be double-quoted) into its
 * parts, folding unquoted parts to lower case the way PostgreSQL does. Anything else
 * is refused rather than passed into SQL.
 */
export function parseQualifiedName(input: string, field = 'table'): QualifiedName {
  const parts: string[] = [];
  let rest = input.trim();
  while (rest.length > 0) {
    const match = PART.exec(rest);
    if (!match) break;
    parts.push(match[1] !== undefined ? match[1].replace(/""/g, '"') : match[2]!.toLowerCase());
    rest = rest.slice(match[0].length);
    if (!rest.startsWith('.')) break;
    rest = rest.slice(1);
    // A trailing dot names nothing: leave it in `rest` so the input is refused.
    if (rest.length === 0) {
      rest = '.';
      break;
    }
  }
  if (rest.length > 0 || parts.length === 0 || parts.length > 2) {
    throw new BadInputError(`${JSON.stringify(input.slice(0, 200))} is not a table name of the form schema.table`, { field });
  }
  // PostgreSQL cuts longer names to 63 bytes, which would name another table.
  const long = parts.find((part) => Buffer.byteLength(part) > 63);
  if (long !== undefined) throw new BadInputError(`${JSON.stringify(long.slice(0, 80))}… in ${field} is longer than 63 bytes, the longest name PostgreSQL keeps`, { field });
  if (parts.some((part) => part.includes('\u0000'))) throw new BadInputError(`${field} holds a NUL character`, { field });
  return parts.length === 2 ? { schema: parts[0], name: parts[1]! } : { schema: undefined, name: parts[0]! };
}

export function quoteQualified(name: QualifiedName): string {
  return name.schema === undefined ? quoteIdent(name.name) : `${quoteIdent(name.schema)}.${quoteIdent(name.name)}`;
}
