import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { DefinitionError } from '../errors.js';
import { parseStatements, type SqlStatement } from '../sql/statements.js';
import { scriptMode, statementLabel, type ScriptMode } from '../sql/script-mode.js';
import { readLayout } from './layouts/detect.js';
import { META_FILE, SETS_DIR, SQL_FILES, VERSIONS_FILE } from './layouts/pgfm.js';
import type { LayoutName, RawMigration, ScriptSource } from './layouts/source.js';
import { readDefinitionText } from './read-text.js';
import { checkFragments } from './fragment-checks.js';
import {
  coordinatedSetSchema,
  INERT_MIGRATION_FIELDS,
  INERT_SET_FIELDS,
  migrationMetaSchema,
  versionsFileSchema,
  type CoordinatedSet,
  type MigrationMeta,
  type VersionDefinition,
} from './schema.js';

export { META_FILE, SETS_DIR, SQL_FILES, VERSIONS_FILE };

export interface SqlScript {
  /** Path relative to the migrations directory, for messages. */
  file: string;
  statements: SqlStatement[];
  /** False when the script holds statements that must run outside a transaction. */
  transactional: boolean;
  /** How a worker runs it (absent in scripts registered before modes existed: see runMode). */
  mode?: ScriptMode;
}

export interface MigrationDefinition {
  id: string;
  /** Path of the folder (or file) relative to the migrations directory. */
  folder: string;
  meta: MigrationMeta & { name: string };
  up: SqlScript;
  /** A down with no statement is a deliberate no-op: undoing the migration changes nothing. */
  down: SqlScript | undefined;
  /** Why the down cannot be used (a syntax error in a down nobody needs yet): an error only where it is needed. */
  downError?: string;
  verify: SqlScript | undefined;
  /** sha256 over the metadata (as parsed, with defaults) and every SQL file. */
  checksum: string;
  /** Per-file sha256, so drift can name the file that changed. */
  fileChecksums: Record<string, string>;
  /** Fields migration.yaml sets that are accepted but have no effect yet (a warning each). */
  inertFields: string[];
  /** What the origin tool records for it in its own history table (for `baseline`). */
  toolVersion: string;
  /** What the origin tool records as the script's checksum, where that matters (Flyway's repeatables). */
  toolChecksum?: string;
  /** Flyway R__: applied again when its checksum changes, never undone. */
  repeatable: boolean;
  /** Sqitch: changes that must not be applied when this one is. */
  conflicts: string[];
}

export interface DefinitionSet {
  dir: string;
  layout: LayoutName;
  /** Sqitch: the plan's project. */
  project?: string;
  /** In apply order: id order for pgfm's layout, the origin tool's order for the others. */
  migrations: MigrationDefinition[];
  sets: CoordinatedSet[];
  versions: VersionDefinition[];
  /** Things that do not stop a run but an operator should know (fields that have no effect yet, no-op downs, broken downs, skipped files). */
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

async function parseScript(source: ScriptSource, migrationId: string, meta: MigrationMeta): Promise<SqlScript> {
  const context = { file: source.file, migrationId };
  const statements = await parseStatements(source.text, context);
  const mode = scriptMode(statements, context, { noTransaction: source.noTransaction === true || meta.transaction === 'per_statement' });
  return { file: source.file, statements, transactional: statements.every((statement) => statement.transactional), mode };
}

/** The mode a worker runs a script in; scripts registered before modes existed carry only `transactional`. */
export function runMode(script: SqlScript, meta: Pick<MigrationMeta, 'transaction'>): ScriptMode {
  return script.mode ?? (script.transactional && meta.transaction !== 'per_statement' ? 'transaction' : 'per_statement');
}

/** Whether a migration can be undone automatically, and if not, why (for plans, rollbacks and `down`). */
export function undoProblem(migration: Pick<MigrationDefinition, 'down' | 'downError' | 'meta' | 'id'>): string | undefined {
  if (migration.meta.backfill?.set !== undefined && migration.meta.backfill.backup) return undefined;
  if (migration.downError !== undefined) return `its down cannot be used: ${migration.downError}`;
  if (migration.down === undefined) return 'it is irreversible (it has no down)';
  return undefined;
}

async function loadMigration(dir: string, raw: RawMigration, layout: LayoutName, warnings: string[]): Promise<MigrationDefinition> {
  const { id } = raw;
  const foreign = layout !== 'pgfm';
  const metaPath = raw.metaFile === undefined ? undefined : path.join(dir, raw.metaFile);
  const yaml = metaPath !== undefined && existsSync(metaPath) ? await readYaml(metaPath, raw.metaFile!, migrationMetaSchema, { migrationId: id }) : { value: migrationMetaSchema.parse({}), explicit: [] };
  const parsedMeta = yaml.value;
  const meta = { ...parsedMeta, name: parsedMeta.name ?? raw.name ?? id, irreversible: parsedMeta.irreversible || (foreign && raw.down === undefined && !raw.repeatable) };
  const metaFile = raw.metaFile ?? raw.folder;
  const fail = (message: string, file: string, field?: string) => new DefinitionError(message, { migrationId: id, file, field });

  const fileChecksums: Record<string, string> = foreign ? {} : { [META_FILE]: sha256(JSON.stringify(meta)) };
  const up = await parseScript(raw.up, id, meta);
  fileChecksums['up.sql'] = sha256(raw.up.text);
  if (up.statements.length === 0 && !foreign) throw fail('up.sql has no SQL statement', up.file);
  let down: SqlScript | undefined;
  let downError: string | undefined;
  if (raw.down !== undefined) {
    fileChecksums['down.sql'] = sha256(raw.down.text);
    try {
      down = await parseScript(raw.down, id, meta);
    } catch (error) {
      if (!(error instanceof DefinitionError)) throw error;
      // A broken down blocks only what needs it (down, rollback, a run that would roll back through it).
      downError = error.message + (error.context.line === undefined ? ` (${raw.down.file})` : ` (${raw.down.file}:${error.context.line})`);
      warnings.push(`${raw.down.file}: ${downError}: ${id} cannot be undone until it is fixed`);
    }
    if (down && down.statements.length === 0 && !raw.repeatable) warnings.push(`${raw.down.file}: no statement: undoing ${id} changes nothing`);
  } else if (raw.repeatable) {
    // Flyway never undoes a repeatable migration: undoing it leaves it as it is.
    down = { file: raw.up.file, statements: [], transactional: true, mode: 'transaction' };
  }
  let verify: SqlScript | undefined;
  if (raw.verify !== undefined) {
    verify = await parseScript(raw.verify, id, meta);
    fileChecksums['verify.sql'] = sha256(raw.verify.text);
    if (verify.mode === 'per_statement') throw fail(`${raw.verify.file} must not contain statements that cannot run in a transaction`, verify.file);
  }

  const backfill = meta.backfill;
  if (meta.type === 'data' && !backfill) throw fail('a migration of type data needs a backfill section', metaFile, 'backfill');
  if (backfill && meta.type !== 'data') throw fail('backfill is only allowed with type: data', metaFile, 'type');
  if (backfill && up.mode !== 'transaction') throw fail('the preparation (up.sql) of a data migration must be transactional', up.file);
  const hasDown = down !== undefined || downError !== undefined;
  const automaticInverse = backfill?.set !== undefined && backfill.backup;
  if (!hasDown && !automaticInverse && !meta.irreversible) {
    throw fail('missing down.sql: add one (an empty one undoes nothing), or declare irreversible: true', path.join(raw.folder, 'down.sql'), 'down');
  }
  // The backup undoes the rows, not what up.sql created: a rollback without down.sql would leave it.
  const preparation = up.statements.find((statement) => statement.kind !== 'SelectStmt');
  if (automaticInverse && (down === undefined || down.statements.length === 0) && downError === undefined && !meta.irreversible && preparation) {
    throw fail(
      `up.sql changes the schema (${statementLabel(preparation)} at line ${preparation.line}) and a rollback restores only the rows: add a down.sql that undoes up.sql`,
      path.join(raw.folder, 'down.sql'),
      'down',
    );
  }
  await checkFragments(meta, { migrationId: id, file: metaFile });
  if (backfill?.batch_sql !== undefined && !hasDown) {
    throw fail('a backfill with batch_sql needs a down.sql (there is no automatic inverse)', path.join(raw.folder, 'down.sql'), 'backfill.batch_sql');
  }
  if (hasDown && meta.irreversible && !foreign) throw fail('irreversible: true but down.sql exists', metaFile, 'irreversible');
  if (meta.depends_on?.includes(id)) throw fail('a migration cannot depend on itself', metaFile, 'depends_on');

  const checksum = sha256(Object.entries(fileChecksums).sort(([a], [b]) => a.localeCompare(b)).map(([file, sum]) => `${file}:${sum}`).join('\n'));
  const inertFields = INERT_MIGRATION_FIELDS.filter((field) => yaml.explicit.includes(field));
  return {
    id, folder: raw.folder, meta, up, down, ...(downError === undefined ? {} : { downError }), verify, checksum, fileChecksums, inertFields,
    toolVersion: raw.toolVersion, ...(raw.toolChecksum === undefined ? {} : { toolChecksum: raw.toolChecksum }), repeatable: raw.repeatable === true, conflicts: raw.conflicts ?? [],
  };
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

/** Most problems `validate` lists before it stops: one broken file rarely comes alone. */
export const MAX_REPORTED_ERRORS = 50;

/**
 * Reads every migration, coordinated set and schema version under `dir`, in the layout given
 * (or recognised), validating each one. Problems stop the load with an error naming the file
 * and field; when several migrations are broken, the error lists them all (up to a cap).
 */
export async function loadDefinitions(dir: string, layout: LayoutName | 'auto' = 'auto'): Promise<DefinitionSet> {
  if (!existsSync(dir)) throw new DefinitionError(`migrations directory ${dir} does not exist`, { file: dir });
  const read = await readLayout(dir, layout);
  if (read.migrations.length === 0 && read.warnings.length > 0) {
    // Files the layout skips and none it reads: an empty, fully applied history it is not.
    throw new DefinitionError(`no ${read.layout} migration in ${dir}, only files it skips (${read.warnings.length}): ${read.warnings[0]}`, { file: dir });
  }
  const byId = new Map<string, MigrationDefinition>();
  const warnings = [...read.warnings];
  const errors: DefinitionError[] = [];
  for (const raw of read.migrations) {
    try {
      const migration = await loadMigration(dir, raw, read.layout, warnings);
      const existing = byId.get(migration.id);
      if (existing) {
        throw new DefinitionError(`duplicate migration id ${migration.id} (also in ${existing.folder})`, { migrationId: migration.id, file: raw.folder, field: 'id' });
      }
      byId.set(migration.id, migration);
    } catch (error) {
      if (!(error instanceof DefinitionError)) throw error;
      errors.push(error);
      if (errors.length >= MAX_REPORTED_ERRORS) break;
    }
  }
  if (errors.length > 0) throw collected(errors, read.migrations.length);
  const migrations = [...byId.values()];
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
  warnings.push(
    ...migrations.flatMap((migration) => migration.inertFields.map((field) => `${path.join(migration.folder, META_FILE)}: ${field} is accepted but has no effect yet`)),
    ...sets.flatMap((set) => set.inertFields.map((field) => `${set.file}: ${field} is accepted but has no effect yet`)),
  );
  return { dir, layout: read.layout, ...(read.project === undefined ? {} : { project: read.project }), migrations, sets, versions, warnings };
}

/** One error for several: the first one's context (file, line) and every message. */
function collected(errors: DefinitionError[], total: number): DefinitionError {
  if (errors.length === 1) return errors[0]!;
  const lines = errors.map((error) => `  ${error.message}${error.context.file ? ` (${error.context.file}${error.context.line ? `:${error.context.line}` : ''})` : ''}`);
  const more = errors.length >= MAX_REPORTED_ERRORS ? `; stopped after ${MAX_REPORTED_ERRORS} of ${total} migrations` : '';
  return new DefinitionError(`${errors.length} migrations have errors${more}:\n${lines.join('\n')}`, errors[0]!.context, { cause: errors[0] });
}
