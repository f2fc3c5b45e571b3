/**
 * Generated hostile migration definitions, for test/definitions/hostile-input.test.ts.
 *
 * Every case is one migration (sometimes two or three, for cycles) added to a small valid
 * base, and must be refused by `validate`, `plan` and `up` alike. The cases come from a
 * seeded PRNG, so a seed reproduces exactly the same cases, names and bytes. A few controls
 * (benign variants of the same templates, e.g. a subselect in `where`) must be accepted, so a
 * template that is broken by itself, or a check that refuses too much, shows up too.
 */
import { parseDocument, stringify } from 'yaml';
import { SeededRandom } from './random.js';

export const BASE_ID = '2025.01.01_000000_base';
export const FLAG_ID = '2025.01.02_000000_add_flag';
/** The hostile migration's id; it sorts after the base, so it is what `up` would apply next. */
export const HOSTILE_ID = '2025.06.01_000000_hostile';
const HOSTILE_B = '2025.06.01_000100_hostile_b';
const HOSTILE_C = '2025.06.01_000200_hostile_c';

/** The valid base: app.items, app.sentinel (which must survive everything) and one more migration. */
export const BASE_FILES: Record<string, string> = {
  [`${BASE_ID}/migration.yaml`]: 'name: base\ndescription: app.items and the sentinel\ntype: schema\ncategory: create\ntarget_schemas: [app]\n',
  [`${BASE_ID}/up.sql`]: [
    'CREATE SCHEMA app;',
    'CREATE TABLE app.items (id bigint PRIMARY KEY, name text NOT NULL, price_cents bigint);',
    "INSERT INTO app.items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 20) g;",
    'CREATE TABLE app.sentinel (id int PRIMARY KEY, note text NOT NULL);',
    "INSERT INTO app.sentinel VALUES (1, 'must survive');",
    '',
  ].join('\n'),
  [`${BASE_ID}/down.sql`]: 'DROP SCHEMA app CASCADE;\n',
  [`${FLAG_ID}/migration.yaml`]: 'name: add flag\ntarget_tables: [app.items]\n',
  [`${FLAG_ID}/up.sql`]: 'ALTER TABLE app.items ADD COLUMN flag boolean;\n',
  [`${FLAG_ID}/down.sql`]: 'ALTER TABLE app.items DROP COLUMN flag;\n',
};

/** A symbolic link; `to` is a path inside the case's outside directory (or, with `absolute`, as given). */
export interface Symlink {
  symlink: string;
  /** Write the link's target relative to the link's folder instead of as an absolute path. */
  relative?: boolean;
  /** `symlink` is an absolute path, not one inside the outside directory. */
  absolute?: boolean;
}

export type Entry = string | Buffer | Symlink;

export interface HostileCase {
  category: string;
  /** Unique within one seed: `<category> #<n>: <what>`. */
  name: string;
  /** Paths relative to the migrations directory, added to (or replacing) the base. */
  files: Record<string, Entry>;
  /** Files of a directory outside the migrations directory (targets of symlinks). */
  outside?: Record<string, string>;
  /** What the one-line error may name: `file=` one of these (or a path inside one), or `field=` one of `fields`. */
  names: string[];
  fields?: string[];
  /** Must be accepted by validate and plan (a benign variant of a template). */
  control?: boolean;
  /** Either accepted or refused is right (e.g. a trailing `--` comment the runner neutralises); never a crash. */
  either?: boolean;
}

// --- seeded PRNG ------------------------------------------------------------

// --- templates --------------------------------------------------------------

const ID_DIR = HOSTILE_ID;
const META = `${ID_DIR}/migration.yaml`;
const UP = `${ID_DIR}/up.sql`;
const DOWN = `${ID_DIR}/down.sql`;
const VERIFY = `${ID_DIR}/verify.sql`;

const SCHEMA_META: Record<string, unknown> = {
  name: 'hostile',
  description: 'a migration the producer must refuse',
  type: 'schema',
  category: 'alter',
  impact: 'low',
  target_tables: ['app.items', 'app.more_items', 'app.other_items'],
};
const SCHEMA_UP = "-- hostile migration\nALTER TABLE app.items ADD COLUMN hostile_note text DEFAULT 'note';\n";
const SCHEMA_DOWN = 'ALTER TABLE app.items DROP COLUMN hostile_note;\n';
const SCHEMA_VERIFY = 'SELECT hostile_note FROM app.items LIMIT 1;\n';

function dataMeta(backfill: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'hostile backfill',
    type: 'data',
    target_tables: ['app.items'],
    backfill: {
      table: 'app.items',
      key: ['id'],
      set: { price_cents: 'coalesce(price_cents, 0) + 1' },
      where: 'price_cents IS NULL',
      ...backfill,
    },
  };
}
const DATA_UP = 'ALTER TABLE app.items ADD COLUMN IF NOT EXISTS hostile_note text;\n';
const DATA_DOWN = 'ALTER TABLE app.items DROP COLUMN IF EXISTS hostile_note;\n';

const STRING_TYPES = ['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED'] as const;

/**
 * YAML for `meta` in a random string style, checked to read back as exactly `meta`. Block
 * styles cannot hold some strings (one of only spaces reads back empty): those fall back to
 * double quotes, which hold any string.
 */
function yamlOf(rng: SeededRandom, meta: Record<string, unknown>): string {
  const chosen = rng.pick(STRING_TYPES);
  for (const style of [chosen, 'QUOTE_DOUBLE'] as const) {
    const text = stringify(meta, { defaultStringType: style, defaultKeyType: 'PLAIN', lineWidth: 0 });
    const back = parseDocument(text, { uniqueKeys: true });
    if (back.errors.length === 0 && JSON.stringify(back.toJS()) === JSON.stringify(meta)) return text;
  }
  throw new Error(`generator: no YAML style reads back as ${JSON.stringify(meta)}`);
}

function schemaFiles(rng: SeededRandom, meta: Record<string, unknown> = SCHEMA_META): Record<string, Entry> {
  return { [META]: yamlOf(rng, meta), [UP]: SCHEMA_UP, [DOWN]: SCHEMA_DOWN, [VERIFY]: SCHEMA_VERIFY };
}

function dataFiles(rng: SeededRandom, meta: Record<string, unknown>): Record<string, Entry> {
  return { [META]: yamlOf(rng, meta), [UP]: DATA_UP, [DOWN]: DATA_DOWN };
}

/** The schema template's migration.yaml as hand-written text, for mutations of the text itself. */
const SCHEMA_META_TEXT = [
  'name: hostile',
  'description: "a migration the producer must refuse, with a quoted description"',
  'type: schema',
  'category: alter',
  'impact: low',
  'target_tables: [app.items, app.more_items, app.other_items]',
  'tests:',
  '  - name: column exists',
  '    sql: SELECT count(*) AS n FROM app.items',
  '',
].join('\n');

const DATA_META_TEXT = [
  'name: hostile backfill',
  'type: data',
  'target_tables: [app.items]',
  'backfill:',
  '  table: app.items',
  '  key: [id]',
  '  set:',
  '    price_cents: coalesce(price_cents, 0) + 1',
  '  where: price_cents IS NULL',
  '',
].join('\n');

function withMetaText(text: string, data = false): Record<string, Entry> {
  return data ? { [META]: text, [UP]: DATA_UP, [DOWN]: DATA_DOWN } : { [META]: text, [UP]: SCHEMA_UP, [DOWN]: SCHEMA_DOWN, [VERIFY]: SCHEMA_VERIFY };
}

// --- the generator ----------------------------------------------------------

/** Every case for one seed. */
export function generateHostileCases(seed: number): HostileCase[] {
  const rng = new SeededRandom(seed);
  const cases: HostileCase[] = [];
  const counters = new Map<string, number>();
  const add = (category: string, what: string, c: Omit<HostileCase, 'category' | 'name'>) => {
    const n = (counters.get(category) ?? 0) + 1;
    counters.set(category, n);
    cases.push({ category, name: `${category} #${n}: ${what}`, ...c });
  };
  const meta = [META];

  // --- controls: the templates and benign variants are accepted -------------
  add('control', 'the schema template', { files: schemaFiles(rng), names: [], control: true });
  add('control', 'the schema template written by hand', { files: withMetaText(SCHEMA_META_TEXT), names: [], control: true });
  add('control', 'the data template written by hand', { files: withMetaText(DATA_META_TEXT, true), names: [], control: true });
  for (const [what, backfill] of [
    ['the data template', {}],
    ['a subselect in where', { where: "id IN (SELECT i.id FROM app.items i WHERE i.name <> 'x')" }],
    ['a UNION inside a subselect in where', { where: 'id IN (SELECT 1 UNION SELECT 2)' }],
    ['"--" and ";" inside a string literal in where', { where: "price_cents IS NULL AND name <> '--; DROP TABLE app.sentinel'" }],
    ['break-out text inside a dollar-quoted literal in where', { where: 'name <> $q$x) OR (true); DROP TABLE app.sentinel; --$q$' }],
    ['a scalar subquery in set', { set: { price_cents: '(SELECT max(i.id) FROM app.items i)' } }],
    ['a CASE expression over two lines in set', { set: { price_cents: 'CASE WHEN id > 10\n  THEN 1 ELSE 2 END' } }],
    ['a quoted schema-qualified table name', { table: '"app"."items"' }],
    [
      'a batch_sql of one UPDATE',
      { set: undefined, where: undefined, batch_sql: 'UPDATE app.items SET price_cents = 0 WHERE ($1::bigint IS NULL OR id > $1) AND ($2::bigint IS NULL OR id <= $2)' },
    ],
  ] as const) {
    add('control', what, { files: dataFiles(rng, dataMeta(backfill as Record<string, unknown>)), names: [], control: true });
  }
  add('control', 'non-ASCII UTF-8 in a comment of up.sql', {
    files: { ...schemaFiles(rng), [UP]: `-- prix en centimes (€, é, ü, 日本)\n${SCHEMA_UP}` },
    names: [],
    control: true,
  });

  // --- YAML: truncation -----------------------------------------------------
  {
    // Cut strictly inside the quoted description or the flow list: an unterminated scalar or collection.
    const quoteStart = SCHEMA_META_TEXT.indexOf('"') + 1;
    const quoteEnd = SCHEMA_META_TEXT.indexOf('"', quoteStart);
    const listStart = SCHEMA_META_TEXT.indexOf('[') + 1;
    const listEnd = SCHEMA_META_TEXT.indexOf(']');
    const cuts = new Set<number>();
    while (cuts.size < 6) cuts.add(rng.int(quoteStart, quoteEnd - 1));
    while (cuts.size < 12) cuts.add(rng.int(listStart, listEnd - 1));
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      add('yaml-truncated', `migration.yaml cut at byte ${cut} of ${SCHEMA_META_TEXT.length}`, { files: withMetaText(SCHEMA_META_TEXT.slice(0, cut)), names: meta });
    }
  }

  // --- YAML: wrong types and bad values ----------------------------------------
  {
    const schemaWrong: Array<[string, unknown]> = [
      ['name', 5], ['name', ['a']], ['name', { a: 1 }], ['name', true], ['name', ''],
      ['description', 5], ['description', ['a', 'b']], ['description', false],
      ['type', 1], ['type', ['schema']], ['type', { schema: true }], ['type', 'Schema'], ['type', 'table'],
      ['category', 2], ['category', ['alter']], ['impact', 3], ['impact', 'LOW'], ['impact', 'huge'],
      ['schema_version', 1.5], ['schema_version', ['1.0.0']], ['schema_version', '1.0'],
      ['target_schemas', 'app'], ['target_schemas', 5], ['target_schemas', { app: 1 }], ['target_schemas', [1]], ['target_schemas', ['']],
      ['target_tables', 'app.items'], ['target_tables', [true]],
      ['depends_on', FLAG_ID], ['depends_on', 5], ['depends_on', [5]], ['depends_on', { [FLAG_ID]: true }],
      ['blocks', FLAG_ID], ['blocks', [1]],
      ['max_lock_duration', '5'], ['max_lock_duration', [5]], ['max_lock_duration', true], ['max_lock_duration', 0], ['max_lock_duration', -1], ['max_lock_duration', 86401],
      ['max_statement_duration', '600'], ['estimated_duration', 'an hour'], ['rollback_timeout', '300'], ['rollback_timeout', 0],
      ['requires_exclusive_lock', 'yes'], ['requires_exclusive_lock', 1], ['can_run_concurrently', 'true'], ['requires_backup', 'no'],
      ['auto_rollback', [true]], ['irreversible', 'true'], ['requires_maintenance_mode', 0],
      ['backup_scope', 1], ['backup_scope', 'all'],
      ['allowed_environments', 'development'], ['allowed_environments', []], ['allowed_environments', ['prod']], ['allowed_environments', [1]],
      ['transaction', true], ['transaction', 'none'], ['transaction', 1],
      ['prerequisite_checks', 'SELECT true'], ['prerequisite_checks', [1]], ['prerequisite_checks', ['   ']],
      ['post_validations', { check: 'SELECT true' }], ['post_validations', [true]],
      ['tests', { name: 'x', sql: 'SELECT 1' }], ['tests', 'SELECT 1'], ['tests', [{ name: 'x' }]], ['tests', [{ sql: 'SELECT 1' }]],
      ['tests', [{ name: 'x', sql: 'SELECT 1', expected: { n: 1 } }]], ['tests', [{ name: 'x', sql: 'SELECT 1', environments: ['prod'] }]],
      ['tests', [{ name: 'x', sql: 1 }]], ['tests', [{ name: 'x', sql: 'SELECT 1', type: 'smoke' }]], ['tests', [{ name: 'x', sql: 'SELECT 1', max_execution_time: 'fast' }]],
    ];
    const dataWrong: Array<[string, unknown]> = [
      ['backfill', 'app.items'], ['backfill', ['app.items']], ['backfill', true],
      ['backfill.table', 5], ['backfill.table', ['app.items']], ['backfill.table', ''],
      ['backfill.key', 'id'], ['backfill.key', []], ['backfill.key', [1]], ['backfill.key', ['']],
      ['backfill.set', ['price_cents']], ['backfill.set', 'price_cents = 0'], ['backfill.set', {}], ['backfill.set', { price_cents: 5 }],
      ['backfill.set', { price_cents: '' }], ['backfill.set', { price_cents: ['0'] }], ['backfill.set', { price_cents: null }],
      ['backfill.where', true], ['backfill.where', 1], ['backfill.where', ['price_cents IS NULL']], ['backfill.where', '  '],
      ['backfill.batch_target_ms', '200'], ['backfill.batch_target_ms', 5], ['backfill.initial_batch_size', 0.5], ['backfill.max_batch_size', 0],
      ['backfill.max_rows_per_second', -1], ['backfill.max_parallel_chunks', 0], ['backfill.max_parallel_chunks', 257], ['backfill.chunk_keys', -1],
      ['backfill.backup', 'no'], ['backfill.health_query', 5], ['backfill.health_query', ''],
      ['backfill.batch_sql', 'UPDATE app.items SET price_cents = 0 WHERE id > $1 AND id <= $2'],
    ];
    const chosen = [...rng.sample(schemaWrong, 18).map((w) => [false, ...w] as const), ...rng.sample(dataWrong, 12).map((w) => [true, ...w] as const)];
    for (const [data, field, value] of chosen) {
      const base = data ? dataMeta() : { ...SCHEMA_META };
      const path = field.split('.');
      let target = base as Record<string, unknown>;
      for (const part of path.slice(0, -1)) target = target[part] as Record<string, unknown>;
      target[path.at(-1)!] = value;
      add('yaml-wrong-type', `${field}: ${JSON.stringify(value)}`, {
        files: data ? dataFiles(rng, base) : schemaFiles(rng, base),
        names: meta,
        fields: [field],
      });
    }
  }

  // --- YAML: unknown fields --------------------------------------------------------
  {
    const known = new Set([
      ...Object.keys(SCHEMA_META), 'schema_version', 'target_schemas', 'depends_on', 'blocks', 'max_lock_duration', 'max_statement_duration',
      'estimated_duration', 'requires_exclusive_lock', 'can_run_concurrently', 'requires_backup', 'backup_scope', 'auto_rollback',
      'rollback_timeout', 'irreversible', 'allowed_environments', 'requires_maintenance_mode', 'transaction', 'prerequisite_checks',
      'post_validations', 'tests', 'backfill', 'table', 'key', 'set', 'where', 'batch_sql', 'batch_target_ms', 'initial_batch_size',
      'max_batch_size', 'max_rows_per_second', 'max_parallel_chunks', 'chunk_keys', 'health_query', 'backup', 'sql', 'expected',
      'setup', 'teardown', 'max_execution_time', 'environments',
    ]);
    const typos = ['depend_on', 'dependsOn', 'Type', 'typ', 'backfil', 'Where', 'wehre', 'batchsql', 'target-tables', 'irreversable', 'type ', ' name', 'descripton', 'tests_', 'auto_rolback'];
    const names = new Set<string>(rng.sample(typos, 6));
    while (names.size < 12) names.add(`${rng.word()}_${rng.word(2, 5)}`);
    for (const name of names) {
      if (known.has(name)) throw new Error(`generator: ${name} is a known field`);
      const where = rng.pick(['top', 'backfill', 'tests'] as const);
      let files: Record<string, Entry>;
      if (where === 'backfill') {
        const m = dataMeta() as { backfill: Record<string, unknown> };
        m.backfill[name] = rng.pick(['yes', 1, ['a'], { nested: true }]);
        files = dataFiles(rng, m);
      } else if (where === 'tests') {
        files = schemaFiles(rng, { ...SCHEMA_META, tests: [{ name: 'column exists', sql: 'SELECT 1 AS n', [name]: 'x' }] });
      } else {
        files = schemaFiles(rng, { ...SCHEMA_META, [name]: rng.pick(['yes', 1, ['a'], { nested: true }]) });
      }
      add('yaml-unknown-field', `${JSON.stringify(name)} in ${where}`, { files, names: meta });
    }
  }

  // --- YAML: duplicate keys ----------------------------------------------------------
  {
    const variants: Array<[string, string, boolean]> = [
      ['type twice, same value', SCHEMA_META_TEXT.replace('type: schema\n', 'type: schema\ntype: schema\n'), false],
      ['impact twice, different values', SCHEMA_META_TEXT + 'impact: critical\n', false],
      ['name twice, once quoted', SCHEMA_META_TEXT + '"name": other\n', false],
      ['type twice, once as an explicit key', SCHEMA_META_TEXT + '? type\n: data\n', false],
      ['backfill.table twice', DATA_META_TEXT.replace('  table: app.items\n', '  table: app.items\n  table: app.sentinel\n'), true],
      ['backfill.set.price_cents twice', DATA_META_TEXT.replace('  where:', '    price_cents: 0\n  where:'), true],
      ['backfill.where twice', DATA_META_TEXT + '  where: "true"\n', true],
      ['tests[0].sql twice', SCHEMA_META_TEXT + '    sql: DELETE FROM app.sentinel\n', false],
      ['backfill twice', DATA_META_TEXT + 'backfill:\n  table: app.sentinel\n  set:\n    note: "\'x\'"\n', true],
      ['a duplicate key inside a flow mapping', SCHEMA_META_TEXT + 'post_validations: [{a: 1, a: 2}]\n', false],
    ];
    for (const [what, text, data] of rng.sample(variants, 8)) add('yaml-duplicate-key', what, { files: withMetaText(text, data), names: meta });
  }

  // --- YAML: tabs as indentation ---------------------------------------------------
  {
    const variants: Array<[string, string, boolean]> = [
      ['tab-indented backfill.table', DATA_META_TEXT.replace('  table:', '\ttable:'), true],
      ['tab-indented backfill.set value', DATA_META_TEXT.replace('    price_cents:', '\t\tprice_cents:'), true],
      ['tab-indented tests item', SCHEMA_META_TEXT.replace('  - name:', '\t- name:'), false],
      ['tab-indented tests[0].sql', SCHEMA_META_TEXT.replace('    sql:', '\t  sql:'), false],
      ['tab-indented block list', SCHEMA_META_TEXT.replace('target_tables: [app.items, app.more_items, app.other_items]', 'target_tables:\n\t- app.items'), false],
      ['every nested line tab-indented', DATA_META_TEXT.replace(/^ {2}/gm, '\t'), true],
    ];
    for (const [what, text, data] of variants) add('yaml-tabs', what, { files: withMetaText(text, data), names: meta });
  }

  // --- YAML: deep nesting ------------------------------------------------------------
  {
    const flowDepth = [rng.int(500, 2000), rng.int(5000, 10_000), rng.int(20_000, 40_000)];
    for (const depth of flowDepth) {
      add('yaml-deep-nesting', `description: a flow list nested ${depth} deep`, {
        files: withMetaText(SCHEMA_META_TEXT.replace(/^description: .*$/m, `description: ${'['.repeat(depth)}x${']'.repeat(depth)}`)),
        names: meta,
      });
    }
    const mapDepth = rng.int(10_000, 30_000);
    add('yaml-deep-nesting', `backfill.set.price_cents: a flow mapping nested ${mapDepth} deep`, {
      files: withMetaText(DATA_META_TEXT.replace('    price_cents: coalesce(price_cents, 0) + 1', `    price_cents: ${'{a: '.repeat(mapDepth)}x${'}'.repeat(mapDepth)}`), true),
      names: meta,
    });
    const blockDepth = rng.int(300, 800);
    const block = Array.from({ length: blockDepth }, (_, i) => `${' '.repeat(2 * (i + 1))}k${i}:`).join('\n');
    add('yaml-deep-nesting', `target_schemas: a block mapping nested ${blockDepth} deep`, {
      files: withMetaText(`${SCHEMA_META_TEXT}target_schemas:\n${block} x\n`),
      names: meta,
    });
    const listDepth = rng.int(300, 800);
    add('yaml-deep-nesting', `tests: a block list nested ${listDepth} deep`, {
      files: withMetaText(SCHEMA_META_TEXT.replace(/tests:[\s\S]*$/, `tests:\n${Array.from({ length: listDepth }, (_, i) => `${' '.repeat(2 * i)}- `).join('\n')}x\n`)),
      names: meta,
    });
  }

  // --- YAML: huge and special numbers ---------------------------------------------
  {
    const numbers: Array<[string, string, boolean]> = [
      ['max_parallel_chunks', '1e400', true], ['max_parallel_chunks', '99999999999999999999999999', true], ['max_parallel_chunks', '.inf', true],
      ['chunk_keys', '9007199254740993', true], ['chunk_keys', '1e309', true], ['chunk_keys', '-.inf', true], ['chunk_keys', '0x7fffffffffffffffffff', true],
      ['batch_target_ms', '.nan', true], ['batch_target_ms', '1e400', true], ['initial_batch_size', '1e6000', true], ['max_batch_size', '-1e400', true],
      ['max_rows_per_second', '.inf', true], ['max_rows_per_second', '.NaN', true], ['max_rows_per_second', '1_000_000', true],
      ['max_lock_duration', '1e400', false], ['max_lock_duration', '.nan', false], ['max_statement_duration', '86400.0000001', false],
      ['rollback_timeout', '-.inf', false], ['estimated_duration', '1e-400', false], ['max_statement_duration', '0o777777777777', false],
    ];
    for (const [field, value, data] of rng.sample(numbers, 12)) {
      const text = data ? DATA_META_TEXT.replace('  where:', `  ${field}: ${value}\n  where:`) : `${SCHEMA_META_TEXT}${field}: ${value}\n`;
      add('yaml-huge-number', `${data ? 'backfill.' : ''}${field}: ${value}`, { files: withMetaText(text, data), names: meta, fields: [data ? `backfill.${field}` : field] });
    }
  }

  // --- YAML: anchors and aliases -------------------------------------------------------
  {
    for (let i = 0; i < 4; i++) {
      const width = rng.int(5, 10);
      const depth = rng.int(6, 10);
      const placement = rng.pick(['top-level keys', 'target_schemas', 'backfill.set'] as const);
      const levels = Array.from({ length: depth }, (_, level) =>
        level === 0 ? `&l0 [${Array.from({ length: width }, () => '"lol"').join(', ')}]` : `&l${level} [${Array.from({ length: width }, () => `*l${level - 1}`).join(', ')}]`,
      );
      let text: string;
      let data = false;
      if (placement === 'top-level keys') {
        text = `${levels.map((l, level) => `lol${level}: ${l}`).join('\n')}\n${SCHEMA_META_TEXT.replace(/^description: .*$/m, `description: *l${depth - 1}`)}`;
      } else if (placement === 'target_schemas') {
        text = `${SCHEMA_META_TEXT}target_schemas: [${levels.join(', ')}]\n`;
      } else {
        data = true;
        text = DATA_META_TEXT.replace('    price_cents: coalesce(price_cents, 0) + 1', `    price_cents: [${levels.join(', ')}]`);
      }
      add('yaml-alias-bomb', `${width}^${depth} expansion in ${placement}`, { files: withMetaText(text, data), names: meta });
    }
    add('yaml-alias-bomb', 'an alias of an undefined anchor', { files: withMetaText(SCHEMA_META_TEXT.replace(/^description: .*$/m, 'description: *nowhere')), names: meta });
    add('yaml-alias-bomb', 'an alias used before its anchor', {
      files: withMetaText(`${SCHEMA_META_TEXT}target_schemas: [*later, &later app]\n`),
      names: meta,
    });
  }

  // --- YAML: documents and tags ------------------------------------------------------
  {
    const variants: Array<[string, string, boolean]> = [
      ['two YAML documents', `${SCHEMA_META_TEXT}---\nname: second\n`, false],
      ['a top-level list', '- name: hostile\n- type: schema\n', false],
      ['a top-level scalar', 'just some text\n', false],
      ['a top-level number', '42\n', false],
      ['name: !!int', SCHEMA_META_TEXT.replace('name: hostile', 'name: !!int 5'), false],
      ['requires_backup: !!str true', `${SCHEMA_META_TEXT}requires_backup: !!str true\n`, false],
      ['type: !!null', SCHEMA_META_TEXT.replace('type: schema', 'type: !!null'), false],
      ['target_tables: !!map', SCHEMA_META_TEXT.replace(/^target_tables: .*$/m, 'target_tables: !!map {app.items: null}'), false],
      ['backfill.set: !!omap', DATA_META_TEXT.replace('  set:\n    price_cents: coalesce(price_cents, 0) + 1', '  set: !!omap [price_cents: "0"]'), true],
      ['backfill.key: !!pairs', DATA_META_TEXT.replace('  key: [id]', '  key: !!pairs [id: x]'), true],
      ['an undeclared tag handle', SCHEMA_META_TEXT.replace('name: hostile', 'name: !e!x hostile'), false],
      ['a second document after a document end marker', `${SCHEMA_META_TEXT}...\nname: second\n`, false],
    ];
    for (const [what, text, data] of rng.sample(variants, 8)) add('yaml-document', what, { files: withMetaText(text, data), names: meta });
  }

  // --- encodings -------------------------------------------------------------------
  {
    // Each bad byte sequence sits where it changes nothing the parsers would notice if it
    // were decoded leniently (inside a comment, or after the last statement): a check of
    // the bytes themselves, not a syntax error, has to refuse it.
    type Place = 'first comment' | 'last comment' | 'end';
    const utf16le = (text: string) => Buffer.from(text, 'utf16le');
    const utf16be = (text: string) => {
      const le = utf16le(text);
      const be = Buffer.alloc(le.length);
      for (let i = 0; i < le.length; i += 2) [be[i], be[i + 1]] = [le[i + 1]!, le[i]!];
      return be;
    };
    /** `text` starts with a one-line comment and ends with one; the bytes go inside one of them, or at the very end. */
    const insert = (text: string, bytes: number[], place: Place) => {
      const raw = Buffer.from(text);
      const at = place === 'end' ? raw.length : place === 'first comment' ? raw.indexOf('\n') : raw.length - 1;
      return Buffer.concat([raw.subarray(0, at), Buffer.from(bytes), raw.subarray(at)]);
    };
    const mutations: Array<[string, (text: string) => Buffer]> = [
      ['latin1 é (0xE9) in a comment', (t) => insert(t, [0x20, 0xe9], 'first comment')],
      ['a latin1 file (é, à in a comment)', (t) => Buffer.from(t.replace(/\n$/, ' déjà, à bientôt\n'), 'latin1')],
      ['a lone UTF-8 continuation byte 0x80', (t) => insert(t, [0x80], 'last comment')],
      ['an overlong encoding of "/" (C0 AF)', (t) => insert(t, [0xc0, 0xaf], 'first comment')],
      ['an encoded UTF-16 surrogate (ED A0 80)', (t) => insert(t, [0xed, 0xa0, 0x80], 'first comment')],
      ['a truncated multi-byte sequence (E2 82) in the last comment', (t) => insert(t, [0xe2, 0x82], 'last comment')],
      ['byte 0xFF', (t) => insert(t, [0xff], 'last comment')],
      ['UTF-16LE with a BOM', (t) => Buffer.concat([Buffer.from([0xff, 0xfe]), utf16le(t)])],
      ['UTF-16BE with a BOM', (t) => Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(t)])],
      ['UTF-16LE without a BOM', (t) => utf16le(t)],
      ['a NUL byte in a comment', (t) => insert(t, [0x00], 'first comment')],
      ['a NUL byte in the last comment', (t) => insert(t, [0x00], 'last comment')],
      ['a NUL byte at the end', (t) => insert(t, [0x00], 'end')],
      ['a UTF-8 BOM in a comment', (t) => insert(t, [0xef, 0xbb, 0xbf], 'first comment')],
      ['a UTF-8 BOM in the last comment', (t) => insert(t, [0xef, 0xbb, 0xbf], 'last comment')],
    ];
    const targets: Array<[string, string]> = [
      [UP, `${SCHEMA_UP}-- last\n`],
      [DOWN, `-- undo it\n${SCHEMA_DOWN}-- last\n`],
      [VERIFY, `-- check it\n${SCHEMA_VERIFY}-- last\n`],
      [META, `# hostile\n${SCHEMA_META_TEXT}# last\n`],
    ];
    // Every mutation at least once (in a random file), then more random pairs.
    const pairs = targets.flatMap(([file, text]) => mutations.map((m) => [file, text, m] as const));
    const first = mutations.map((m) => pairs.filter((pair) => pair[2] === m)[rng.int(0, targets.length - 1)]!);
    const chosen = [...first, ...rng.sample(pairs.filter((pair) => !first.includes(pair)), 30 - first.length)];
    for (const [file, text, [what, mutate]] of chosen) {
      add('encoding', `${file.slice(ID_DIR.length + 1)}: ${what}`, { files: { ...withMetaText(SCHEMA_META_TEXT), [file]: mutate(text) }, names: [file] });
    }
  }

  // --- symlinks pointing outside the migrations directory ---------------------------
  {
    const outsideMigration = { 'migration.yaml': 'name: outside\n', 'up.sql': SCHEMA_UP, 'down.sql': SCHEMA_DOWN };
    const prefixed = (prefix: string, files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, v]) => [`${prefix}/${k}`, v]));
    const variants: Array<[string, Omit<HostileCase, 'category' | 'name'>]> = [
      ['the migration folder links outside (absolute)', { files: { [ID_DIR]: { symlink: ID_DIR } }, outside: prefixed(ID_DIR, outsideMigration), names: [ID_DIR] }],
      ['the migration folder links outside (relative)', { files: { [ID_DIR]: { symlink: ID_DIR, relative: true } }, outside: prefixed(ID_DIR, outsideMigration), names: [ID_DIR] }],
      ['a grouping folder links outside', { files: { group: { symlink: 'group' } }, outside: prefixed(`group/${ID_DIR}`, outsideMigration), names: ['group'] }],
      ['up.sql links outside (absolute)', { files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: { symlink: 'up.sql' } }, outside: { 'up.sql': SCHEMA_UP }, names: [UP] }],
      ['up.sql links outside (relative)', { files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: { symlink: 'up.sql', relative: true } }, outside: { 'up.sql': SCHEMA_UP }, names: [UP] }],
      ['down.sql links outside', { files: { ...withMetaText(SCHEMA_META_TEXT), [DOWN]: { symlink: 'down.sql' } }, outside: { 'down.sql': SCHEMA_DOWN }, names: [DOWN] }],
      ['verify.sql links outside', { files: { ...withMetaText(SCHEMA_META_TEXT), [VERIFY]: { symlink: 'verify.sql', relative: true } }, outside: { 'verify.sql': SCHEMA_VERIFY }, names: [VERIFY] }],
      ['migration.yaml links outside', { files: { ...withMetaText(SCHEMA_META_TEXT), [META]: { symlink: 'migration.yaml' } }, outside: { 'migration.yaml': SCHEMA_META_TEXT }, names: [META] }],
      ['up.sql links to /etc/hostname', { files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: { symlink: '/etc/hostname', absolute: true } }, names: [UP] }],
      ['up.sql is a dangling link', { files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: { symlink: 'gone.sql' } }, names: [UP] }],
      ['versions.yaml links outside', { files: { ...withMetaText(SCHEMA_META_TEXT), 'versions.yaml': { symlink: 'versions.yaml' } }, outside: { 'versions.yaml': 'versions:\n  - version: 1.0.0\n    type: major\n' }, names: ['versions.yaml'] }],
      [
        'the sets folder links outside',
        {
          files: { ...withMetaText(SCHEMA_META_TEXT), sets: { symlink: 'sets' } },
          outside: { 'sets/SET-2025-001.yaml': `id: SET-2025-001\nname: outside\nexecution_order: [${HOSTILE_ID}]\nparallel_groups: [[${HOSTILE_ID}]]\n` },
          names: ['sets'],
        },
      ],
    ];
    for (const [what, c] of variants) add('symlink', what, c);
  }

  // --- backfill where / set fragments that try to break out of their expression -----
  {
    const where = [
      'false) OR (true',
      'v); DROP TABLE app.sentinel; --',
      'true; DELETE FROM app.sentinel',
      'true) --',
      'true) OR (1 = 1',
      '$1 > 0',
      'id > $2',
      'true UNION SELECT false',
      "true) UNION SELECT true FROM app.sentinel WHERE (true",
      'true ORDER BY 1',
      'true LIMIT 1',
      'true GROUP BY 1',
      'true OFFSET 0',
      'true FOR UPDATE',
      'true) RETURNING (1',
      'price_cents IS NULL AS y',
      'true, false',
      'true FROM pg_class',
      'SELECT true',
      "name = 'unterminated",
      'name = $$unterminated',
      'name = $tag$ unterminated',
      '/* unterminated comment true',
      '"unterminated = 1',
      'true\n;\nDROP TABLE app.sentinel',
      '*',
      'true /* ok */ ) OR ( true',
      'EXISTS (SELECT 1) ; TRUNCATE app.sentinel',
      '(true',
      'true)',
      'true WINDOW w AS ()',
      'price_cents IS NULL)) OR ((true',
    ];
    const set = [
      '0, name = NULL',
      '0 WHERE false',
      '0; DELETE FROM app.sentinel',
      '1 FROM pg_class',
      '(0), price_cents = (1',
      '0) --',
      '$1',
      '0 UNION SELECT 1',
      '0 ORDER BY 1',
      'price_cents AS y',
      '1, 2',
      "'unterminated",
      '$$unterminated',
      '/* unterminated',
      '0) RETURNING (1',
      '*',
      'SELECT 1',
      '(SELECT 1); DROP TABLE app.sentinel',
    ];
    const pad = (text: string) => rng.pick(['', ' ', '  ', '\n', ' \n ']) + text + rng.pick(['', ' ', '\n', '\t']);
    for (const fragment of where) {
      add('where-fragment', JSON.stringify(fragment), { files: dataFiles(rng, dataMeta({ where: pad(fragment) })), names: meta, fields: ['backfill.where'] });
    }
    for (const fragment of set) {
      add('set-fragment', JSON.stringify(fragment), {
        files: dataFiles(rng, dataMeta({ set: { price_cents: pad(fragment) } })),
        names: meta,
        fields: ['backfill.set.price_cents', 'backfill.set'],
      });
    }
    // A trailing line comment cannot eat anything if the runner ends it with a line break: either answer is right.
    for (const [what, backfill] of [
      ['where "true --"', { where: 'true --' }],
      ['where "price_cents IS NULL -- and more"', { where: 'price_cents IS NULL -- and more' }],
      ['set "0 --"', { set: { price_cents: '0 --' } }],
    ] as const) {
      add('comment-fragment', what, { files: dataFiles(rng, dataMeta(backfill as Record<string, unknown>)), names: meta, fields: ['backfill.where', 'backfill.set.price_cents'], either: true });
    }
  }

  // --- hostile identifiers ------------------------------------------------------------
  {
    const long = (n: number) => 'x'.repeat(n);
    const tables = [
      'app.items"',
      '"app.items',
      'app."items',
      'app.items; DROP TABLE app.sentinel',
      'app.items--',
      'app.items.extra',
      'app.',
      '.items',
      'app..items',
      'app.items x',
      'app.items WHERE true',
      `app.${long(64)}`,
      `${long(70)}.items`,
      `"app"."${long(64)}"`,
      `app.${'é'.repeat(32)}`,
      'app.items)',
      'app.items,app.sentinel',
      'app.items\u0000',
      '(SELECT 1)',
    ];
    const columns = [
      'id; DROP TABLE app.sentinel',
      'id, name',
      'id--',
      'id)',
      'id = 1',
      long(64),
      `${'é'.repeat(32)}`,
      'id\u0000',
      'id" OR "1',
    ];
    for (const table of rng.sample(tables, 14)) {
      add('identifier', `backfill.table ${JSON.stringify(table)}`, { files: dataFiles(rng, dataMeta({ table })), names: meta, fields: ['backfill.table'] });
    }
    for (const column of rng.sample(columns, 6)) {
      add('identifier', `backfill.key ${JSON.stringify(column)}`, { files: dataFiles(rng, dataMeta({ key: [column] })), names: meta, fields: ['backfill.key'] });
    }
    for (const column of rng.sample(columns, 6)) {
      add('identifier', `backfill.set column ${JSON.stringify(column)}`, {
        files: dataFiles(rng, dataMeta({ set: { [column]: '0' } })),
        names: meta,
        fields: ['backfill.set', `backfill.set.${column}`],
      });
    }
  }

  // --- batch_sql, health_query and checks holding more than one statement ----------------
  {
    const update = 'UPDATE app.items SET price_cents = 0 WHERE ($1::bigint IS NULL OR id > $1) AND ($2::bigint IS NULL OR id <= $2)';
    const batch = [
      `${update}; DROP TABLE app.sentinel`,
      `${update}; COMMIT`,
      `BEGIN; ${update}`,
      `${update};;DELETE FROM app.sentinel`,
      `${update} -- the range\n; SELECT 1`,
      `${update}; ${update}`,
      "UPDATE app.items SET name = 'unterminated WHERE id > $1",
      'UPDATE app.items SET WHERE id > $1',
      'SELECT 1',
      'DROP TABLE app.sentinel',
    ];
    for (const sql of batch) {
      add('batch-sql', JSON.stringify(sql.length > 60 ? `${sql.slice(0, 30)}…${sql.slice(-25)}` : sql), {
        files: dataFiles(rng, dataMeta({ set: undefined, where: undefined, batch_sql: sql })),
        names: meta,
        fields: ['backfill.batch_sql'],
      });
    }
    const checks: Array<[string, Record<string, unknown>, boolean]> = [
      ['health_query with two statements', { health_query: 'SELECT true; DROP TABLE app.sentinel' }, true],
      ['health_query that is not a query', { health_query: 'DELETE FROM app.sentinel' }, true],
      ['prerequisite_checks with two statements', { prerequisite_checks: ['SELECT true; DELETE FROM app.sentinel'] }, false],
      ['post_validations with two statements', { post_validations: ['SELECT true; DROP TABLE app.sentinel'] }, false],
      ['post_validations with COMMIT', { post_validations: ['COMMIT'] }, false],
      ['tests[0].sql with two statements', { tests: [{ name: 'x', sql: 'SELECT 1; TRUNCATE app.sentinel' }] }, false],
      ['prerequisite_checks with a syntax error', { prerequisite_checks: ['SELECT true FROM'] }, false],
    ];
    for (const [what, fields, data] of checks) {
      const m = data ? dataMeta(fields) : { ...SCHEMA_META, ...fields };
      const field = Object.keys(fields)[0]!;
      add('check-sql', what, { files: data ? dataFiles(rng, m) : schemaFiles(rng, m), names: meta, fields: [data ? `backfill.${field}` : field] });
    }
  }

  // --- transaction control in SQL files --------------------------------------------------
  {
    const control = [
      'BEGIN', 'START TRANSACTION', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT s1', 'RELEASE SAVEPOINT s1',
      'ROLLBACK TO SAVEPOINT s1', 'COMMIT AND CHAIN', "PREPARE TRANSACTION 'pgfm'", "COMMIT PREPARED 'pgfm'",
      "ROLLBACK PREPARED 'pgfm'", 'BEGIN ISOLATION LEVEL SERIALIZABLE', 'BEGIN WORK', 'COMMIT WORK',
    ];
    // A down's SQL is read only when it is needed (test/definitions/lazy-downs.test.ts): up.sql and verify.sql here.
    const files: Array<[string, string]> = [[UP, SCHEMA_UP], [VERIFY, SCHEMA_VERIFY]];
    const pairs = files.flatMap(([file, text]) => control.map((statement) => [file, text, statement] as const));
    for (const [file, text, statement] of rng.sample(pairs, 12)) {
      const stmt = `${rng.mixCase(statement)};`;
      // BEGIN ... COMMIT around a file is a file that manages its own transaction: valid, so not here.
      const opens = /^(BEGIN|START)/.test(statement);
      const placed = rng.pick(opens ? (['before', 'after'] as const) : (['before', 'after', 'around'] as const));
      const body = placed === 'before' ? `${stmt}\n${text}` : placed === 'after' ? `${text}${stmt}\n` : `${stmt}\n${text}${rng.mixCase('COMMIT')};\n`;
      add('transaction-control', `${statement} ${placed} ${file.slice(ID_DIR.length + 1)}`, { files: { ...withMetaText(SCHEMA_META_TEXT), [file]: body }, names: [file] });
    }
  }

  // --- truncated SQL ------------------------------------------------------------------
  {
    // Every proper prefix of these is a syntax error (an unclosed parenthesis or dollar quote).
    const up = 'CREATE TABLE app.hostile_t (id bigint PRIMARY KEY, note text NOT NULL DEFAULT $$a ; b$$);\n';
    const upCuts = new Set<number>();
    while (upCuts.size < 6) upCuts.add(rng.int(1, up.indexOf(');') ));
    for (const cut of [...upCuts].sort((a, b) => a - b)) {
      add('sql-truncated', `up.sql cut at byte ${cut}`, { files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: up.slice(0, cut) }, names: [UP] });
    }
  }

  // --- dependencies -------------------------------------------------------------------------
  {
    const validId = () => {
      const y = rng.int(2020, 2030);
      const m = rng.int(1, 12);
      const d = rng.int(1, 28);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${y}.${p(m)}.${p(d)}_${p(rng.int(0, 23))}${p(rng.int(0, 59))}${p(rng.int(0, 59))}_${rng.word()}_${rng.word()}`;
    };
    const ghost = validId();
    const ghost2 = validId();
    const metaWith = (fields: Record<string, unknown>) => yamlOf(rng, { ...SCHEMA_META, ...fields });
    const single = (what: string, fields: Record<string, unknown>, field: string) =>
      add('dependency', what, { files: { ...withMetaText(SCHEMA_META_TEXT), [META]: metaWith(fields) }, names: meta, fields: [field] });
    single(`depends_on an unknown id ${ghost}`, { depends_on: [ghost] }, 'depends_on');
    single(`depends_on the base and an unknown id ${ghost2}`, { depends_on: [FLAG_ID, ghost2] }, 'depends_on');
    single(`blocks an unknown id ${ghost}`, { blocks: [ghost] }, 'blocks');
    single('depends_on an impossible date', { depends_on: ['2025.02.30_000000_ghost'] }, 'depends_on');
    single('depends_on a path', { depends_on: [`../${FLAG_ID}`] }, 'depends_on');
    single('depends_on an id with SQL', { depends_on: [`${FLAG_ID}'; DROP TABLE app.sentinel; --`] }, 'depends_on');
    single('depends_on itself', { depends_on: [HOSTILE_ID] }, 'depends_on');
    single('depends_on itself and the base', { depends_on: [FLAG_ID, HOSTILE_ID] }, 'depends_on');
    const folder = (id: string, deps: string[]) => ({
      [`${id}/migration.yaml`]: metaWith({ name: id.split('_').slice(2).join(' '), depends_on: deps }),
      [`${id}/up.sql`]: `ALTER TABLE app.items ADD COLUMN ${id.split('_').slice(2).join('_')} int;\n`,
      [`${id}/down.sql`]: `ALTER TABLE app.items DROP COLUMN ${id.split('_').slice(2).join('_')};\n`,
    });
    const metas = [HOSTILE_ID, HOSTILE_B, HOSTILE_C].map((id) => `${id}/migration.yaml`);
    add('dependency', 'a cycle of two', { files: { ...folder(HOSTILE_ID, [HOSTILE_B]), ...folder(HOSTILE_B, [HOSTILE_ID]) }, names: metas, fields: ['depends_on'] });
    add('dependency', 'a cycle of three', {
      files: { ...folder(HOSTILE_ID, [HOSTILE_C]), ...folder(HOSTILE_B, [HOSTILE_ID]), ...folder(HOSTILE_C, [HOSTILE_B]) },
      names: metas,
      fields: ['depends_on'],
    });
    add('dependency', 'a cycle of two that also depends on the base', {
      files: { ...folder(HOSTILE_ID, [FLAG_ID, HOSTILE_B]), ...folder(HOSTILE_B, [BASE_ID, HOSTILE_ID]) },
      names: metas,
      fields: ['depends_on'],
    });
  }

  // --- huge files (a few MB) ------------------------------------------------------------
  {
    const mb = rng.int(3, 4);
    // Mostly comment lines, with a statement every 500 lines: megabytes, but cheap to parse.
    const lines = Math.ceil((mb * 1024 * 1024) / 72);
    const body = Array.from({ length: lines }, (_, i) =>
      i % 500 === 0 ? `UPDATE app.items SET price_cents = ${i} WHERE id = ${i % 20};` : `-- filler line ${String(i).padStart(8, '0')} ${'.'.repeat(40)}`,
    ).join('\n');
    add('huge-file', `up.sql of ${mb} MB with a syntax error on its last line`, {
      files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: `${body}\nUPDATE app.items SET WHERE;\n` },
      names: [UP],
    });
    add('huge-file', `up.sql of ${mb} MB ending in COMMIT`, { files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: `${body}\nCOMMIT;\n` }, names: [UP] });
    add('huge-file', `up.sql of ${mb} MB with a NUL byte near the end`, {
      files: { ...withMetaText(SCHEMA_META_TEXT), [UP]: Buffer.concat([Buffer.from(body), Buffer.from([0x0a, 0x2d, 0x2d, 0x20, 0x00, 0x0a])]) },
      names: [UP],
    });
    add('huge-file', `down.sql: one ${mb} MB comment line with a latin1 byte at the end`, {
      files: { ...withMetaText(SCHEMA_META_TEXT), [DOWN]: Buffer.concat([Buffer.from(`-- ${'x'.repeat(mb * 1024 * 1024)}`), Buffer.from([0xe9, 0x0a]), Buffer.from(SCHEMA_DOWN)]) },
      names: [DOWN],
    });
    add('huge-file', `migration.yaml with a ${mb} MB description and an unknown field at the end`, {
      files: withMetaText(`${SCHEMA_META_TEXT.replace(/^description: .*$/m, `description: ${'y'.repeat(mb * 1024 * 1024)}`)}unknown_at_the_end: true\n`),
      names: meta,
    });
    add('huge-file', `migration.yaml with a ${mb} MB where`, {
      files: dataFiles(rng, dataMeta({ where: `${'price_cents IS NULL AND '.repeat(Math.ceil((mb * 1024 * 1024) / 24))}true) OR (true` })),
      names: meta,
      fields: ['backfill.where'],
    });
  }

  const names = new Set(cases.map((c) => c.name));
  if (names.size !== cases.length) throw new Error('generator: duplicate case names');
  return cases;
}
