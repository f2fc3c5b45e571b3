import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { DefinitionError } from '../errors.js';
import { parseStatements, type SqlStatement } from '../sql/statements.js';
import { isInside, readDefinitionText, resolveLink } from './read-text.js';
import { checkFragments } from './fragment-checks.js';
import {
  coordinatedSetSchema,
  INERT_MIGRATION_FIELDS,
  INERT_SET_FIELDS,
  isMigrationId,
  MIGRATION_ID,
  migrationMetaSchema,
  versionsFileSchema,
  type CoordinatedSet,
  type MigrationMeta,
  type VersionDefinition,
} from './schema.js';

export const SQL_FILES = ['up.sql', 'down.sql', 'verify.sql'] as const;
export const META_FILE = 'migration.yaml';
export const VERSIONS_FILE = 'versions.yaml';
export const SETS_DIR = 'sets';

export interface SqlScript {
  /** Path relative to the migrations directory, for messages. */
  file: string;
  statements: SqlStatement[];
  /** False when the script holds statements that must run outside a transaction. */
  transactional: boolean;
}

export interface MigrationDefinition {
  id: string;
  /** Path of the folder relative to the migrations directory. */
  folder: string;
  meta: MigrationMeta & { name: string };
  up: SqlScript;
  down: SqlScript | undefined;
  verify: SqlScript | undefined;
  /** sha256 over the metadata (as parsed, with defaults) and every SQL file. */
  checksum: string;
  /** Per-file sha256, so drift can name the file that changed. */
  fileChecksums: Record<string, string>;
  /** Fields migration.yaml sets that are accepted but have no effect yet (a warning each). */
  inertFields: string[];
}

export interface DefinitionSet {
  dir: string;
  migrations: MigrationDefinition[];
  sets: CoordinatedSet[];
  versions: VersionDefinition[];
  /** Things that do not stop a run but an operator should know (fields that have no effect yet). */
  warnings: string[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** What a YAML definition file holds: the validated value, and the top-level fields it set itself (not defaults). */
interface YamlDefinition<T> {
  value: T;
  explicit: string[];
}

/** Parses YAML and validates it with zod, turning both kinds of failure into a DefinitionError naming file and field. */
async function readYaml<T extends z.ZodType>(absolute: string, file: string, schema: T, context: { migrationId?: string } = {}): Promise<YamlDefinition<z.infer<T>>> {
  const text = await readDefinitionText(absolute, file, context);
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const yamlError = document.errors[0];
  if (yamlError) {
    const position = lineCounter.linePos(yamlError.pos[0]);
    throw new DefinitionError(`malformed YAML: ${yamlError.message.split('\n')[0]}`, {
      ...context,
      file,
      line: position?.line,
      column: position?.col,
    });
  }
  let raw: unknown;
  try {
    // Aliases are resolved here: an alias bomb or an alias of a missing anchor fails in toJS.
    raw = document.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    throw new DefinitionError(`malformed YAML: ${(error as Error).message.split('\n')[0]}`, { ...context, file });
  }
  const parsed = schema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [];
    const field = [...issue.path.map(String), ...keys.slice(0, 1)].join('.') || '(document)';
    const missing = issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined;
    const message = issue.code === 'unrecognized_keys' ? `unknown field "${keys.join('", "')}"` : missing ? `${field}: is required` : `${field}: ${issue.message}`;
    throw new DefinitionError(message, { ...context, file, field });
  }
  const explicit = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw) : [];
  return { value: parsed.data, explicit };
}

async function readScript(absolute: string, file: string, migrationId: string, meta: MigrationMeta): Promise<{ script: SqlScript; text: string }> {
  const text = await readDefinitionText(absolute, file, { migrationId });
  const statements = await parseStatements(text, { file, migrationId });
  const nonTransactional = statements.filter((statement) => !statement.transactional);
  if (nonTransactional.length > 0 && statements.length > 1 && meta.transaction !== 'per_statement') {
    throw new DefinitionError(
      `${nonTransactional[0]!.kind} at line ${nonTransactional[0]!.line} cannot run inside a transaction, and the file has other statements: ` +
        'put it in a migration of its own or set transaction: per_statement',
      { migrationId, file, field: 'transaction', line: nonTransactional[0]!.line },
    );
  }
  return { script: { file, statements, transactional: nonTransactional.length === 0 }, text };
}

/**
 * Migration folders under `dir`, relative to it. A symbolic link to a folder is followed when
 * its real path lies inside the real migrations directory and refused otherwise; a folder
 * reached twice (two links, or a link and the folder itself) is refused, so no migration is
 * loaded twice and a link to an ancestor cannot loop.
 */
async function findMigrationFolders(dir: string, relative = '', seen = new Map<string, string>()): Promise<string[]> {
  if (relative === '') seen.set(await realpath(dir), '');
  const root = seen.keys().next().value!;
  const entries = await readdir(path.join(dir, relative), { withFileTypes: true });
  const folders: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const child = path.join(relative, entry.name);
    if (relative === '' && entry.name === SETS_DIR) continue;
    if (entry.isSymbolicLink()) {
      const target = await resolveLink(path.join(dir, child), child);
      // A link to a file is checked when the file is read (only definition files are).
      if (!(await stat(target)).isDirectory()) continue;
      if (!isInside(root, target)) {
        throw new DefinitionError(`symbolic link ${child} points outside the migrations folder (to ${target}): only links within it are followed`, { file: child });
      }
    } else if (!entry.isDirectory()) {
      continue;
    }
    const real = await realpath(path.join(dir, child));
    const previous = seen.get(real);
    if (previous !== undefined) {
      throw new DefinitionError(
        `${child} is the same folder as ${previous === '' ? 'the migrations folder itself' : previous} (through a symbolic link): refusing to load it twice`,
        { file: child },
      );
    }
    seen.set(real, child);
    const names = await readdir(path.join(dir, child));
    const looksLikeMigration = MIGRATION_ID.test(entry.name) || names.includes(META_FILE) || names.some((name) => SQL_FILES.includes(name as (typeof SQL_FILES)[number]));
    if (looksLikeMigration) {
      folders.push(child);
    } else {
      folders.push(...(await findMigrationFolders(dir, child, seen)));
    }
  }
  return folders;
}

async function loadMigration(dir: string, folder: string): Promise<MigrationDefinition> {
  const id = path.basename(folder);
  const rel = (name: string) => path.join(folder, name);
  if (!isMigrationId(id)) {
    throw new DefinitionError(`folder name "${id}" is not a migration id YYYY.MM.DD_HHMMSS_slug`, { file: folder, field: 'id' });
  }
  const metaPath = path.join(dir, folder, META_FILE);
  const yaml = existsSync(metaPath) ? await readYaml(metaPath, rel(META_FILE), migrationMetaSchema, { migrationId: id }) : { value: migrationMetaSchema.parse({}), explicit: [] };
  const parsedMeta = yaml.value;
  const meta = { ...parsedMeta, name: parsedMeta.name ?? MIGRATION_ID.exec(id)![7]!.replace(/_/g, ' ') };
  const fail = (message: string, file: string, field?: string) => new DefinitionError(message, { migrationId: id, file, field });

  if (!existsSync(path.join(dir, folder, 'up.sql'))) throw fail('missing up.sql', rel('up.sql'));
  const scripts: Partial<Record<(typeof SQL_FILES)[number], SqlScript>> = {};
  const fileChecksums: Record<string, string> = { [META_FILE]: sha256(JSON.stringify(meta)) };
  for (const name of SQL_FILES) {
    const absolute = path.join(dir, folder, name);
    if (!existsSync(absolute)) continue;
    const { script, text } = await readScript(absolute, rel(name), id, meta);
    scripts[name] = script;
    fileChecksums[name] = sha256(text);
  }
  const up = scripts['up.sql']!;
  if (up.statements.length === 0) throw fail('up.sql has no SQL statement', up.file);
  if (scripts['verify.sql'] && !scripts['verify.sql'].transactional) {
    throw fail('verify.sql must not contain statements that cannot run in a transaction', scripts['verify.sql'].file);
  }

  const backfill = meta.backfill;
  if (meta.type === 'data' && !backfill) throw fail('a migration of type data needs a backfill section', rel(META_FILE), 'backfill');
  if (backfill && meta.type !== 'data') throw fail('backfill is only allowed with type: data', rel(META_FILE), 'type');
  if (backfill && !up.transactional) throw fail('the preparation (up.sql) of a data migration must be transactional', up.file);
  const hasDown = scripts['down.sql'] !== undefined && scripts['down.sql'].statements.length > 0;
  const automaticInverse = backfill?.set !== undefined && backfill.backup;
  if (!hasDown && !automaticInverse && !meta.irreversible) {
    throw fail('missing down.sql: add one, or declare irreversible: true', rel('down.sql'), 'down');
  }
  // The backup undoes the rows, not what up.sql created: a rollback without down.sql would leave it.
  const preparation = up.statements.find((statement) => statement.kind !== 'SelectStmt');
  if (automaticInverse && !hasDown && !meta.irreversible && preparation) {
    throw fail(
      `up.sql changes the schema (${preparation.kind} at line ${preparation.line}) and a rollback restores only the rows: add a down.sql that undoes up.sql`,
      rel('down.sql'),
      'down',
    );
  }
  await checkFragments(meta, { migrationId: id, file: rel(META_FILE) });
  if (backfill?.batch_sql !== undefined && !hasDown) {
    throw fail('a backfill with batch_sql needs a down.sql (there is no automatic inverse)', rel('down.sql'), 'backfill.batch_sql');
  }
  if (hasDown && meta.irreversible) throw fail('irreversible: true but down.sql exists', rel(META_FILE), 'irreversible');
  if (meta.depends_on?.includes(id)) throw fail('a migration cannot depend on itself', rel(META_FILE), 'depends_on');

  const checksum = sha256(Object.entries(fileChecksums).sort(([a], [b]) => a.localeCompare(b)).map(([file, sum]) => `${file}:${sum}`).join('\n'));
  const inertFields = INERT_MIGRATION_FIELDS.filter((field) => yaml.explicit.includes(field));
  return { id, folder, meta, up, down: hasDown ? scripts['down.sql'] : undefined, verify: scripts['verify.sql'], checksum, fileChecksums, inertFields };
}

async function loadSets(dir: string, known: Map<string, MigrationDefinition>): Promise<CoordinatedSet[]> {
  const setsDir = path.join(dir, SETS_DIR);
  if (!existsSync(setsDir)) return [];
  const sets: CoordinatedSet[] = [];
  const owner = new Map<string, string>();
  for (const name of (await readdir(setsDir)).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const file = path.join(SETS_DIR, name);
    const yaml = await readYaml(path.join(setsDir, name), file, coordinatedSetSchema);
    const set = { ...yaml.value, file, inertFields: INERT_SET_FIELDS.filter((field) => yaml.explicit.includes(field)) };
    const fail = (message: string, field: string, migrationId?: string) => new DefinitionError(message, { setId: set.id, file, field, migrationId });
    if (sets.some((other) => other.id === set.id)) throw fail(`duplicate coordinated set id ${set.id}`, 'id');
    const members = new Set(set.execution_order);
    if (members.size !== set.execution_order.length) throw fail('execution_order lists a migration twice', 'execution_order');
    for (const member of members) {
      if (!known.has(member)) throw fail(`unknown migration ${member}`, 'execution_order', member);
      const previous = owner.get(member);
      if (previous) throw fail(`migration ${member} already belongs to set ${previous}`, 'execution_order', member);
      owner.set(member, set.id);
    }
    const grouped = set.parallel_groups.flat();
    if (grouped.length !== members.size || !grouped.every((member) => members.has(member)) || new Set(grouped).size !== grouped.length) {
      throw fail('parallel_groups must list every migration of execution_order exactly once', 'parallel_groups');
    }
    const groupOf = new Map(set.parallel_groups.flatMap((group, index) => group.map((member) => [member, index] as const)));
    for (const [member, dependencies] of Object.entries(set.dependencies)) {
      if (!members.has(member)) throw fail(`dependencies names ${member}, which is not in the set`, `dependencies.${member}`, member);
      for (const dependency of dependencies) {
        if (!members.has(dependency)) throw fail(`dependency ${dependency} is not in the set`, `dependencies.${member}`, member);
        if (groupOf.get(dependency)! >= groupOf.get(member)!) {
          throw fail(`${member} depends on ${dependency}, which is not in an earlier parallel group`, `dependencies.${member}`, member);
        }
      }
    }
    sets.push(set);
  }
  return sets;
}

async function loadVersions(dir: string, migrations: MigrationDefinition[]): Promise<VersionDefinition[]> {
  const absolute = path.join(dir, VERSIONS_FILE);
  const versions = existsSync(absolute) ? (await readYaml(absolute, VERSIONS_FILE, versionsFileSchema)).value.versions : [];
  const known = new Set<string>();
  for (const [index, version] of versions.entries()) {
    if (known.has(version.version)) {
      throw new DefinitionError(`duplicate version ${version.version}`, { file: VERSIONS_FILE, field: `versions.${index}.version` });
    }
    known.add(version.version);
  }
  for (const [index, version] of versions.entries()) {
    for (const [field, other] of [
      ['requires_previous_version', version.requires_previous_version],
      ...version.blocks_versions.map((blocked) => ['blocks_versions', blocked] as const),
    ] as const) {
      if (other !== undefined && !known.has(other)) {
        throw new DefinitionError(`version ${version.version} names unknown version ${other}`, { file: VERSIONS_FILE, field: `versions.${index}.${field}` });
      }
    }
  }
  for (const migration of migrations) {
    const version = migration.meta.schema_version;
    if (version !== undefined && !known.has(version)) {
      throw new DefinitionError(`schema_version ${version} is not defined in ${VERSIONS_FILE}`, {
        migrationId: migration.id,
        file: path.join(migration.folder, META_FILE),
        field: 'schema_version',
      });
    }
  }
  return versions;
}

/**
 * Reads every migration, coordinated set and schema version under `dir`, validating
 * each one. Any problem stops the load with an error naming the file and field.
 */
export async function loadDefinitions(dir: string): Promise<DefinitionSet> {
  if (!existsSync(dir)) throw new DefinitionError(`migrations directory ${dir} does not exist`, { file: dir });
  const folders = await findMigrationFolders(dir);
  const byId = new Map<string, MigrationDefinition>();
  for (const folder of folders) {
    const migration = await loadMigration(dir, folder);
    const existing = byId.get(migration.id);
    if (existing) {
      throw new DefinitionError(`duplicate migration id ${migration.id} (also in ${existing.folder})`, { migrationId: migration.id, file: folder, field: 'id' });
    }
    byId.set(migration.id, migration);
  }
  const migrations = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const migration of migrations) {
    for (const field of ['depends_on', 'blocks'] as const) {
      for (const other of migration.meta[field] ?? []) {
        if (!byId.has(other)) {
          throw new DefinitionError(`${field} names unknown migration ${other}`, {
            migrationId: migration.id,
            file: path.join(migration.folder, META_FILE),
            field,
          });
        }
      }
    }
  }
  const sets = await loadSets(dir, byId);
  const versions = await loadVersions(dir, migrations);
  const warnings = [
    ...migrations.flatMap((migration) => migration.inertFields.map((field) => `${path.join(migration.folder, META_FILE)}: ${field} is accepted but has no effect yet`)),
    ...sets.flatMap((set) => set.inertFields.map((field) => `${set.file}: ${field} is accepted but has no effect yet`)),
  ];
  return { dir, migrations, sets, versions, warnings };
}
