/**
 * scriptMode decides how a worker runs a file (one transaction, statement by statement, or as
 * a script that manages its own transactions) and refuses transaction control psql would leave
 * half done; statementLabel names statements in SQL, not in parse-node names.
 */
import { describe, expect, it } from 'vitest';
import { DefinitionError } from '../../shared/errors.js';
import { scriptMode, statementLabel } from '../../shared/sql/script-mode.js';
import { parseStatements } from '../../shared/sql/statements.js';

const CONTEXT = { file: 'm/up.sql', migrationId: 'm' };
const mode = async (sql: string, options: { noTransaction?: boolean } = {}) => scriptMode(await parseStatements(sql, CONTEXT), CONTEXT, options);
const refusal = async (sql: string) => {
  try {
    await mode(sql);
  } catch (error) {
    expect(error).toBeInstanceOf(DefinitionError);
    return error as DefinitionError;
  }
  throw new Error(`accepted: ${sql}`);
};

describe('scriptMode', () => {
  it.each([
    ['CREATE TABLE t (id int); INSERT INTO t VALUES (1);', 'transaction'],
    ['CREATE INDEX CONCURRENTLY i ON t (id);', 'per_statement'],
    ['CREATE INDEX CONCURRENTLY i ON t (id);\nCREATE INDEX CONCURRENTLY j ON t (id);', 'per_statement'],
    ['ALTER TABLE t ADD c int;\nCREATE INDEX CONCURRENTLY i ON t (c);', 'per_statement'],
    ['BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;', 'script'],
    ['BEGIN;\nSELECT 1/count(*) FROM t;\nROLLBACK;', 'script'],
    ['BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (id);\nBEGIN;\nSAVEPOINT a;\nINSERT INTO t VALUES (1);\nRELEASE a;\nCOMMIT AND CHAIN;\nSELECT 1;\nEND;', 'script'],
    ['', 'transaction'],
  ])('%s runs as %s', async (sql, expected) => {
    expect(await mode(sql)).toBe(expected);
  });

  it('runs a file its tool marks as not transactional statement by statement', async () => {
    expect(await mode('CREATE TABLE t (id int); INSERT INTO t VALUES (1);', { noTransaction: true })).toBe('per_statement');
  });

  it.each([
    ['BEGIN;\nCREATE TABLE t (id int);', /the transaction begun at line 1 is never committed/, 1],
    ['CREATE TABLE t (id int);\nCOMMIT;', /COMMIT at line 2 ends no transaction: no BEGIN before it/, 2],
    ['ROLLBACK;', /ROLLBACK at line 1 ends no transaction/, 1],
    ['BEGIN;\nBEGIN;\nCOMMIT;', /BEGIN at line 2: the transaction begun at line 1 is still open/, 2],
    ['SAVEPOINT a;', /SAVEPOINT at line 1 is outside a transaction block/, 1],
    ["BEGIN;\nPREPARE TRANSACTION 'x';", /PREPARE TRANSACTION at line 2: two-phase commit is not supported/, 2],
    ["COMMIT PREPARED 'x';", /COMMIT PREPARED at line 1: two-phase commit/, 1],
    ['BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (id);\nCOMMIT;', /CREATE INDEX CONCURRENTLY at line 2 cannot run inside the transaction block begun at line 1/, 2],
    ['BEGIN;\nVACUUM t;\nCOMMIT;', /VACUUM at line 2 cannot run inside the transaction block/, 2],
  ])('refuses %j', async (sql, message, line) => {
    const error = await refusal(sql);
    expect(error.message).toMatch(message);
    expect(error.context).toMatchObject({ ...CONTEXT, line });
    expect(error.exitCode).toBe(2);
  });
});

describe('statementLabel', () => {
  it.each([
    ['CREATE UNIQUE INDEX CONCURRENTLY idx ON t (a)', 'CREATE UNIQUE INDEX CONCURRENTLY'],
    ['-- a comment\n/* and another */ drop index concurrently if exists x', 'DROP INDEX CONCURRENTLY IF EXISTS'],
    ['VACUUM (ANALYZE) t', 'VACUUM'],
    ['ALTER TYPE mood ADD VALUE $$x$$', 'ALTER TYPE'],
    ['with x as (select 1) select * from x', 'WITH'],
  ])('%j is %s', (text, label) => {
    expect(statementLabel({ text })).toBe(label);
  });
});
