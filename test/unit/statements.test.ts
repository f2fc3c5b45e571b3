/**
 * parseStatements (shared/sql/statements.ts) splits a SQL file with libpg-query and
 * classifies each statement; quoteIdent / parseQualifiedName (shared/sql/quote.ts)
 * guard every user-written identifier that ends up in SQL.
 *
 * The last block checks the classification against a real PostgreSQL: each statement
 * is run inside BEGIN ... ROLLBACK, and PostgreSQL answers 25001
 * (active_sql_transaction) exactly for the statements it refuses in a transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { BadInputError, DefinitionError } from '../../shared/errors.js';
import { parseQualifiedName, quoteIdent, quoteQualified } from '../../shared/sql/quote.js';
import { MAX_PARSE_BYTES, PARSE_PIECE_BYTES, parseStatements, type SqlStatement } from '../../shared/sql/statements.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const CONTEXT = { file: '2025.01.01_000000_x/up.sql', migrationId: '2025.01.01_000000_x' };

const parse = (sql: string) => parseStatements(sql, CONTEXT);

async function parseOne(sql: string): Promise<SqlStatement> {
  const statements = await parse(sql);
  expect(statements).toHaveLength(1);
  return statements[0]!;
}

async function parseError(sql: string): Promise<DefinitionError> {
  const error = await parse(sql).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DefinitionError);
  return error as DefinitionError;
}

describe('parseStatements: splitting', () => {
  const FILE = [
    '-- header comment; with a semicolon', // 1
    "CREATE TABLE app.notes (id bigint PRIMARY KEY, body text NOT NULL DEFAULT 'a;b');", // 2
    '', // 3
    '/* block comment; with a semicolon */', // 4
    'DO $$', // 5
    'BEGIN', // 6
    "  RAISE NOTICE 'inside; a DO block';", // 7
    '  PERFORM 1;', // 8
    'END', // 9
    '$$;', // 10
    "-- café au lait coûte 3 € ; not a statement", // 11
    "INSERT INTO app.notes VALUES (1, 'crème brûlée: 4,50 €; délicieux'); SELECT 'é€';", // 12
    'CREATE FUNCTION app.answer() RETURNS int LANGUAGE plpgsql AS $body$', // 13
    'BEGIN', // 14
    '  RETURN 42; -- é', // 15
    'END', // 16
    '$body$;', // 17
    '', // 18
    '    ALTER TABLE app.notes', // 19
    '      ADD COLUMN price_eur numeric;', // 20
    'SELECT 3', // 21 (no trailing semicolon)
    '',
  ].join('\n');

  it('returns every statement with its exact text (no semicolon, no leading comment) and starting line', async () => {
    const statements = await parse(FILE);
    expect(statements.map(({ text, line, kind }) => ({ text, line, kind }))).toEqual([
      {
        text: "CREATE TABLE app.notes (id bigint PRIMARY KEY, body text NOT NULL DEFAULT 'a;b')",
        line: 2,
        kind: 'CreateStmt',
      },
      { text: "DO $$\nBEGIN\n  RAISE NOTICE 'inside; a DO block';\n  PERFORM 1;\nEND\n$$", line: 5, kind: 'DoStmt' },
      { text: "INSERT INTO app.notes VALUES (1, 'crème brûlée: 4,50 €; délicieux')", line: 12, kind: 'InsertStmt' },
      { text: "SELECT 'é€'", line: 12, kind: 'SelectStmt' },
      {
        text: 'CREATE FUNCTION app.answer() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN 42; -- é\nEND\n$body$',
        line: 13,
        kind: 'CreateFunctionStmt',
      },
      { text: 'ALTER TABLE app.notes\n      ADD COLUMN price_eur numeric', line: 19, kind: 'AlterTableStmt' },
      { text: 'SELECT 3', line: 21, kind: 'SelectStmt' },
    ]);
    expect(statements.every((statement) => statement.transactional)).toBe(true);
    expect(statements.some((statement) => statement.concurrentIndex !== undefined)).toBe(false);
  });

  it('counts lines correctly after multi-byte text (byte offsets vs characters)', async () => {
    // Every line before the last statement carries 2- and 3-byte characters.
    const sql = "SELECT 'éééééééééé';\n-- €€€€€€€€€€ €€€€€€€€€€\nSELECT 'ü€'; SELECT 'ö';\n\n\nSELECT 4;\n";
    const statements = await parse(sql);
    expect(statements.map(({ text, line }) => [text, line])).toEqual([
      ["SELECT 'éééééééééé'", 1],
      ["SELECT 'ü€'", 3],
      ["SELECT 'ö'", 3],
      ['SELECT 4', 6],
    ]);
  });

  it('handles CRLF line endings, empty statements and a trailing comment', async () => {
    const statements = await parse('SELECT 1;\r\n;;\r\nSELECT 2; -- trailing\r\n  SELECT 3 /* inline */ + 1;\r\n-- end\r\n');
    expect(statements.map(({ text, line }) => [text, line])).toEqual([
      ['SELECT 1', 1],
      ['SELECT 2', 3],
      ['SELECT 3 /* inline */ + 1', 4],
    ]);
  });

  it('returns no statements for an empty or comment-only file', async () => {
    expect(await parse('')).toEqual([]);
    expect(await parse('  \n\t\n')).toEqual([]);
    expect(await parse('-- nothing here;\n/* nor; here */\n')).toEqual([]);
  });
});

describe('parseStatements: classification', () => {
  const nonTransactional: Array<[string, string]> = [
    ['CREATE INDEX CONCURRENTLY items_name_idx ON app.items (name)', 'IndexStmt'],
    ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_sku_key ON app.items (sku)', 'IndexStmt'],
    ['DROP INDEX CONCURRENTLY app.items_name_idx', 'DropStmt'],
    ['DROP INDEX CONCURRENTLY IF EXISTS app.items_name_idx', 'DropStmt'],
    ['REINDEX INDEX CONCURRENTLY app.items_name_idx', 'ReindexStmt'],
    ['REINDEX TABLE CONCURRENTLY app.items', 'ReindexStmt'],
    ['REINDEX (CONCURRENTLY) TABLE app.items', 'ReindexStmt'],
    ['REINDEX (VERBOSE, CONCURRENTLY) INDEX app.items_name_idx', 'ReindexStmt'],
    ['REINDEX DATABASE app', 'ReindexStmt'],
    ['REINDEX SYSTEM app', 'ReindexStmt'],
    ['VACUUM', 'VacuumStmt'],
    ['VACUUM app.items', 'VacuumStmt'],
    ['VACUUM (ANALYZE, VERBOSE) app.items', 'VacuumStmt'],
    ['VACUUM FULL app.items', 'VacuumStmt'],
    ["ALTER SYSTEM SET work_mem = '64MB'", 'AlterSystemStmt'],
    ['ALTER SYSTEM RESET ALL', 'AlterSystemStmt'],
    ['CREATE DATABASE reporting', 'CreatedbStmt'],
    ['DROP DATABASE IF EXISTS reporting', 'DropdbStmt'],
    ['ALTER TABLE app.events DETACH PARTITION app.events_2024 CONCURRENTLY', 'AlterTableStmt'],
    ['CLUSTER', 'ClusterStmt'],
  ];
  it.each(nonTransactional)('%s → transactional false (%s)', async (sql, kind) => {
    const statement = await parseOne(`${sql};`);
    expect(statement).toMatchObject({ text: sql, kind, transactional: false, line: 1 });
  });

  const transactional: Array<[string, string]> = [
    ['CREATE INDEX items_name_idx ON app.items (name)', 'IndexStmt'],
    ['DROP INDEX app.items_name_idx', 'DropStmt'],
    ['REINDEX TABLE app.items', 'ReindexStmt'],
    ['ANALYZE', 'VacuumStmt'],
    ['ANALYZE app.items', 'VacuumStmt'],
    ['ALTER TABLE app.items ADD COLUMN note text', 'AlterTableStmt'],
    ['ALTER TABLE app.events DETACH PARTITION app.events_2024', 'AlterTableStmt'],
    ['ALTER TABLE app.events ATTACH PARTITION app.events_2024 FOR VALUES FROM (0) TO (10)', 'AlterTableStmt'],
    ["CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$", 'CreateFunctionStmt'],
    ["CREATE OR REPLACE PROCEDURE app.p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$", 'CreateFunctionStmt'],
    ["DO $$ BEGIN PERFORM 1; END $$", 'DoStmt'],
    ['CLUSTER app.items USING items_pkey', 'ClusterStmt'],
    ['REFRESH MATERIALIZED VIEW CONCURRENTLY app.mv', 'RefreshMatViewStmt'],
    ["ALTER TYPE app.mood ADD VALUE 'meh'", 'AlterEnumStmt'],
  ];
  it.each(transactional)('%s → transactional true (%s)', async (sql, kind) => {
    const statement = await parseOne(`${sql};`);
    expect(statement).toMatchObject({ text: sql, kind, transactional: true, line: 1 });
    expect(statement.concurrentIndex).toBeUndefined();
  });
});

describe('parseStatements: concurrentIndex', () => {
  it.each([
    ['CREATE INDEX CONCURRENTLY items_name_idx ON app.items (name)', { schema: 'app', name: 'items_name_idx' }],
    ['CREATE INDEX CONCURRENTLY items_name_idx ON items (name)', { schema: null, name: 'items_name_idx' }],
    ['CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS Items_SKU ON App.Items (sku)', { schema: 'app', name: 'items_sku' }],
    ['CREATE INDEX CONCURRENTLY "Odd ""Idx"".x" ON "My Schema"."Items" (name)', { schema: 'My Schema', name: 'Odd "Idx".x' }],
    ['CREATE INDEX CONCURRENTLY idx ON ONLY app.events (at)', { schema: 'app', name: 'idx' }],
  ])('%s → %j', async (sql, expected) => {
    const statement = await parseOne(sql);
    expect(statement.transactional).toBe(false);
    expect(statement.concurrentIndex).toEqual(expected);
  });

  it('is set only for CREATE INDEX CONCURRENTLY', async () => {
    for (const sql of ['CREATE INDEX idx ON app.items (name)', 'DROP INDEX CONCURRENTLY app.idx', 'REINDEX INDEX CONCURRENTLY app.idx']) {
      expect((await parseOne(sql)).concurrentIndex).toBeUndefined();
    }
  });
});

describe('parseStatements: refusals', () => {
  it('refuses an unnamed CREATE INDEX CONCURRENTLY, naming file, migration and line', async () => {
    const error = await parseError('SELECT 1;\n\nCREATE INDEX CONCURRENTLY ON app.items (name);\n');
    expect(error.message).toMatch(/CREATE INDEX CONCURRENTLY needs an index name/);
    expect(error.context).toMatchObject({ ...CONTEXT, line: 3 });
    expect(error.exitCode).toBe(2);
  });

  it('accepts an unnamed plain CREATE INDEX', async () => {
    expect(await parseOne('CREATE INDEX ON app.items (name)')).toMatchObject({ kind: 'IndexStmt', transactional: true });
  });

  it.each([
    ['BEGIN', 'BEGIN', false],
    ['BEGIN ISOLATION LEVEL SERIALIZABLE', 'BEGIN', false],
    ['START TRANSACTION', 'START', false],
    ['COMMIT', 'COMMIT', false],
    ['END', 'COMMIT', false],
    ['ABORT', 'ROLLBACK', false],
    ['SAVEPOINT s1', 'SAVEPOINT', false],
    ['RELEASE SAVEPOINT s1', 'RELEASE', false],
    ['ROLLBACK TO SAVEPOINT s1', 'ROLLBACK_TO', false],
    ['COMMIT AND CHAIN', 'COMMIT', true],
    ["PREPARE TRANSACTION 'x'", 'PREPARE', false],
  ] as const)('marks transaction control: %s', async (control, kind, chain) => {
    const statements = await parse(`-- é\nCREATE TABLE app.t (id int);\n${control};\nSELECT 1;\n`);
    expect(statements[1]).toMatchObject({ kind: 'TransactionStmt', line: 3, control: { kind, chain } });
    expect(statements[0]!.control).toBeUndefined();
  });

  it('does not mistake BEGIN/COMMIT inside a DO block or function body for transaction control', async () => {
    const statements = await parse("DO $$ BEGIN COMMIT; END $$;\nCREATE PROCEDURE p() LANGUAGE plpgsql AS 'BEGIN COMMIT; END';\n");
    expect(statements.map((s) => s.kind)).toEqual(['DoStmt', 'CreateFunctionStmt']);
  });
});

describe('parseStatements: syntax errors', () => {
  it.each([
    // [sql, line, column, near]
    ['SELEC 1;', 1, 1, 'SELEC'],
    ['SELECT 1;\nSELEC 2;', 2, 1, 'SELEC'],
    ['SELECT 1;\n\n   SELEC 2;', 3, 4, 'SELEC'],
    ["SELECT 1;\n-- é€ comment\nSELECT 'é€' AS a b;", 3, 18, 'b'],
    ["CREATE TABLE app.t (\n  name text DEFAULT 'crème',\n  price numeric,\n);", 4, 1, ')'],
    ["DO $$ BEGIN PERFORM 1; END $$;\nINSERT INTO t VALUES ('€';", 2, 26, ';'],
  ] as const)('%j → line %i column %i', async (sql, line, column, near) => {
    const error = await parseError(sql);
    expect(error.message).toBe(`SQL syntax error: syntax error at or near "${near}"`);
    expect(error.context).toEqual({ ...CONTEXT, line, column });
    expect(error.describe()).toContain(`line=${line} column=${column}`);
  });

  it('reports an unterminated string where it starts', async () => {
    const error = await parseError("SELECT 1;\nSELECT 'é unterminated;\n");
    expect(error.message).toMatch(/^SQL syntax error: unterminated quoted string/);
    expect(error.context).toMatchObject({ line: 2, column: 8 });
  });

  it('reports an unterminated dollar quote', async () => {
    const error = await parseError('SELECT 1;\nDO $$ BEGIN PERFORM 1; END;\n');
    expect(error.message).toMatch(/^SQL syntax error: unterminated dollar-quoted string/);
    expect(error.context).toMatchObject({ line: 2, column: 4 });
  });
});

describe('quoteIdent / quoteQualified', () => {
  it.each([
    ['items', '"items"'],
    ['Items', '"Items"'],
    ['a"b', '"a""b"'],
    ['x.y', '"x.y"'],
    ['a;drop table x', '"a;drop table x"'],
    ['""', '""""""'],
    ['é€', '"é€"'],
  ])('quoteIdent(%j) = %s', (input, expected) => {
    expect(quoteIdent(input)).toBe(expected);
  });

  it('quotes both parts of a qualified name', () => {
    expect(quoteQualified({ schema: 'My "S"', name: 't.x' })).toBe('"My ""S"""."t.x"');
    expect(quoteQualified({ schema: undefined, name: 'items' })).toBe('"items"');
  });
});

describe('parseQualifiedName', () => {
  it.each([
    ['items', { schema: undefined, name: 'items' }],
    ['app.items', { schema: 'app', name: 'items' }],
    ['App.Items', { schema: 'app', name: 'items' }],
    ['  APP.ITEMS  ', { schema: 'app', name: 'items' }],
    ['_x.y9$', { schema: '_x', name: 'y9$' }],
    ['"App"."Items"', { schema: 'App', name: 'Items' }],
    ['"a.b"', { schema: undefined, name: 'a.b' }],
    ['"a.b"."c.d"', { schema: 'a.b', name: 'c.d' }],
    ['"a""b".c', { schema: 'a"b', name: 'c' }],
    ['Public."My ""T"".x"', { schema: 'public', name: 'My "T".x' }],
    ['"a;drop table x"', { schema: undefined, name: 'a;drop table x' }],
  ])('%j → %j', (input, expected) => {
    expect(parseQualifiedName(input)).toEqual(expected);
  });

  it.each(['a.b.c', '"a"."b"."c"', 'a;drop', 'a.b;drop table x', '', '   ', '"', '""', '"a"b', 'a b', 'a .b', 'a. b', '.a', 'a..b', '1abc', '$a', 'a-b', "a'b"])(
    'rejects %j naming the field',
    (input) => {
      let error: unknown;
      try {
        parseQualifiedName(input, 'backfill.table');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BadInputError);
      expect((error as BadInputError).message).toBe(`${JSON.stringify(input)} is not a table name of the form schema.table`);
      expect((error as BadInputError).context).toEqual({ field: 'backfill.table' });
    },
  );

  it('names the field "table" by default', () => {
    expect(() => parseQualifiedName('a.b.c')).toThrow(expect.objectContaining({ context: { field: 'table' } }));
  });

  // KNOWN BUG (shared/sql/quote.ts): a trailing dot is dropped instead of refused, so
  // "app." is read as the table "app" and "app.items." as app.items. PostgreSQL itself
  // rejects both. Flip to `it` when fixed.
  it.each(['app.', 'app.items.'])('rejects a trailing dot: %j', (input) => {
    expect(() => parseQualifiedName(input)).toThrow(BadInputError);
  });
});

describe('classification agrees with PostgreSQL (BEGIN; statement; ROLLBACK)', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('unit_statements');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`
      CREATE SCHEMA app;
      CREATE TABLE app.items (id bigint PRIMARY KEY, name text, sku text);
      CREATE INDEX items_name_idx ON app.items (name);
      CREATE TABLE app.events (at int) PARTITION BY RANGE (at);
      CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM (0) TO (10);
      CREATE TABLE app.events_2025 (at int);
      CREATE MATERIALIZED VIEW app.mv AS SELECT 1 AS x;
      CREATE UNIQUE INDEX ON app.mv (x);
      CREATE TYPE app.mood AS ENUM ('ok');
    `);
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  /** True when PostgreSQL runs the statement inside a transaction block, false when it answers 25001. */
  async function runsInTransaction(sql: string): Promise<boolean> {
    await client.query('BEGIN');
    try {
      await client.query(sql);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === '25001') return false;
      throw new Error(`${sql}: unexpected error ${(error as { code?: string }).code} ${(error as Error).message}`);
    } finally {
      await client.query('ROLLBACK');
    }
  }

  const statements = (name: string) => [
    'CREATE INDEX CONCURRENTLY items_sku_idx ON app.items (sku)',
    'CREATE INDEX items_sku_idx ON app.items (sku)',
    'DROP INDEX CONCURRENTLY app.items_name_idx',
    'DROP INDEX app.items_name_idx',
    'REINDEX INDEX CONCURRENTLY app.items_name_idx',
    'REINDEX (CONCURRENTLY) TABLE app.items',
    'REINDEX TABLE app.items',
    `REINDEX DATABASE ${name}`,
    `REINDEX SYSTEM ${name}`,
    'VACUUM app.items',
    'VACUUM (ANALYZE) app.items',
    'ANALYZE app.items',
    "ALTER SYSTEM SET work_mem = '64MB'",
    'CREATE DATABASE pgfm_never_created',
    'DROP DATABASE IF EXISTS pgfm_never_created',
    'ALTER TABLE app.events DETACH PARTITION app.events_2024 CONCURRENTLY',
    'ALTER TABLE app.events DETACH PARTITION app.events_2024',
    'ALTER TABLE app.items ADD COLUMN note text',
    "CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
    'DO $$ BEGIN PERFORM 1; END $$',
    'CLUSTER',
    'REFRESH MATERIALIZED VIEW CONCURRENTLY app.mv',
    "ALTER TYPE app.mood ADD VALUE 'meh'",
  ];

  it('every classified statement matches what PostgreSQL does', async () => {
    const mismatches: string[] = [];
    for (const sql of statements(db.name)) {
      const [statement] = await parse(sql);
      const actual = await runsInTransaction(sql);
      if (statement!.transactional !== actual) mismatches.push(`${sql}: parser says ${statement!.transactional}, PostgreSQL ${actual}`);
    }
    expect(mismatches).toEqual([]);
  });

  // KNOWN BUG (shared/sql/statements.ts isNonTransactional): PostgreSQL refuses these in a
  // transaction block (PreventInTransactionBlock: ExecReindex for REINDEX SCHEMA, DISCARD ALL,
  // movedb for ALTER DATABASE ... SET TABLESPACE), but they are classified transactional, so
  // `validate` accepts them next to other statements and the step fails at run time with
  // SQLSTATE 25001. Flip to `it` when fixed.
  it.each(['REINDEX SCHEMA app', 'DISCARD ALL', 'ALTER DATABASE {db} SET TABLESPACE pg_default'])(
    'classifies %s as non-transactional, like PostgreSQL',
    async (template) => {
      const sql = template.replace('{db}', db.name);
      expect(await runsInTransaction(sql)).toBe(false);
      const [statement] = await parse(sql);
      expect(statement!.transactional).toBe(false);
    },
  );
});

describe('parseStatements: positions and big files', () => {
  it.each([
    // The parser reports an error position in characters (code points); 😀 is one character, two UTF-16 units, four bytes.
    ["SELECT '😀😀😀';\nSELECT '😀' AS a b;\n", 2, 17, 'b'],
    [`SELECT '${'😀'.repeat(20)}';\nSELEC 1;\n`, 2, 1, 'SELEC'],
    ["-- é€😀 ü\nSELECT 'é€😀', '😀' x y;\n", 2, 21, 'y'],
  ] as const)('syntax error after 4-byte characters: %j → line %i column %i', async (sql, line, column, near) => {
    const error = await parseError(sql);
    expect(error.message).toBe(`SQL syntax error: syntax error at or near "${near}"`);
    expect(error.context).toEqual({ ...CONTEXT, line, column });
  });

  /** A file of `count` statements, each after a comment line of 2-, 3- and 4-byte characters (with a `;`). */
  function multiByteFile(count: number): { sql: string; expected: Array<[string, number]> } {
    const lines: string[] = [];
    const expected: Array<[string, number]> = [];
    let line = 1;
    for (let i = 0; i < count; i++) {
      lines.push(`-- ${i}: é€😀 ü ; 😀😀`);
      const text = i % 50 === 7 ? `DO $$\nBEGIN\n  PERFORM '😀${i};';\nEND\n$$` : `SELECT 'é€😀 ${i}', '${'😀'.repeat(i % 7)}'`;
      expected.push([text, line + 1]);
      lines.push(`${text};`);
      line += 1 + text.split('\n').length;
    }
    return { sql: `${lines.join('\n')}\n`, expected };
  }

  it('gives the right lines after multi-byte text in a file parsed in pieces, and the right position of an error deep in it', async () => {
    const { sql, expected } = multiByteFile(12_000);
    expect(Buffer.byteLength(sql)).toBeGreaterThan(3 * PARSE_PIECE_BYTES);
    const statements = await parse(sql);
    expect(statements.map(({ text, line }) => [text, line])).toEqual(expected);
    expect(await parseStatements(sql, CONTEXT, { pieceBytes: 1 << 30, maxParseBytes: 1 << 30 })).toEqual(statements);

    // An error near the end: emoji on every line before it and on its own line before the error.
    const broken = `${sql}-- 😀\nSELECT '😀😀' AS a b;\n`;
    const error = await parseError(broken);
    expect(error.message).toBe('SQL syntax error: syntax error at or near "b"');
    expect(error.context).toEqual({ ...CONTEXT, line: expected.at(-1)![1] + 2, column: 18 });
  });

  it('splits a file in pieces exactly as one parse does, however small the pieces', async () => {
    const sql = [
      "SELECT 'a;\nb';",
      'DO $f$ BEGIN PERFORM 1;\nEND $f$;',
      '/* x;\n y; */ SELECT 2; -- z;',
      'SELECT 1 -- not the end;\n+ 2;',
      'CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1);\n INSERT INTO b VALUES (2));',
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;\n SELECT 2;\nEND;',
      "SELECT 'x'\n'y';",
      ';;',
      'SELECT a FROM t WHERE b NOT\nIN (1);',
      "SELECT 'é€😀';",
      'CREATE INDEX CONCURRENTLY i ON t (a);',
      'SELECT 3',
    ].join('\n');
    const whole = await parseStatements(sql, CONTEXT, { pieceBytes: 1 << 30, maxParseBytes: 1 << 30 });
    expect(whole).toHaveLength(11);
    for (let pieceBytes = 1; pieceBytes <= 64; pieceBytes++) {
      expect(await parseStatements(sql, CONTEXT, { pieceBytes, maxParseBytes: 1 << 20 }), `pieces of ${pieceBytes} bytes`).toEqual(whole);
    }
    // Errors, too, are those of the whole file: after a string continued on the next line, and at a NOT that looks ahead.
    for (const [bad, message, line, column] of [
      [`${sql};\nSELECT 'x'\n'y' z w;\n`, 'syntax error at or near "w"', 23, 7],
      [`${sql};\nSELECT 1 x\ny;\n`, 'syntax error at or near "y"', 23, 1],
      [`${sql};\nCOMMIT;\nSELEC 1;\n`, 'syntax error at or near "SELEC"', 23, 1],
    ] as const) {
      for (const pieceBytes of [1, 3, 8, 20, 64]) {
        const error = await parseStatements(bad, CONTEXT, { pieceBytes, maxParseBytes: 1 << 20 }).catch((e: unknown) => e);
        expect(error, `pieces of ${pieceBytes} bytes`).toBeInstanceOf(DefinitionError);
        expect((error as DefinitionError).message).toBe(`SQL syntax error: ${message}`);
        expect((error as DefinitionError).context).toEqual({ ...CONTEXT, line, column });
      }
    }
  });

  it('splits a 10 MB file of 400k statements in linear time', async () => {
    const parts: string[] = [];
    for (let i = 0; i < 400_000; i++) parts.push(i % 2 ? `INSERT INTO t VALUES (${100_000 + i});\n` : `UPDATE t SET a = ${100_000 + i};\n`);
    const sql = parts.join('');
    expect(Buffer.byteLength(sql)).toBeGreaterThan(10_000_000);
    const started = performance.now();
    const statements = await parse(sql);
    const seconds = (performance.now() - started) / 1000;
    console.log(`parseStatements: 400000 statements, ${Buffer.byteLength(sql)} bytes in ${seconds.toFixed(2)} s`);
    expect(statements).toHaveLength(400_000);
    for (const i of [0, 1, 12_345, 199_999, 399_999]) {
      expect(statements[i]).toMatchObject({ text: parts[i]!.slice(0, -2), line: i + 1 });
    }
    expect(seconds).toBeLessThan(30);
  }, 120_000);

  it('refuses a statement too big for the parser, naming its size and the limit, instead of a syntax error at line 1', async () => {
    // libpg-query's WebAssembly memory (1 GiB) runs out on a few MB of dense SQL; after that every parse in the process fails.
    const values = Array.from({ length: Math.ceil(MAX_PARSE_BYTES / 4) }, () => '(1)').join(',\n');
    const sql = `SELECT 1;\n\nINSERT INTO t VALUES ${values};\nSELECT 2;\n`;
    const error = await parseError(sql);
    expect(error.message).toMatch(
      new RegExp(`^the statement at line 3 is longer than ${MAX_PARSE_BYTES} bytes \\(2\\.0 MiB\\), the most the SQL parser is given at once .*; the file is ${Buffer.byteLength(sql)} bytes`),
    );
    expect(error.context).toEqual({ ...CONTEXT, line: 3 });
    // The parser still works.
    expect(await parse('SELECT 1;')).toHaveLength(1);
  });
});
