import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Environment } from '../shared/config.js';
import type { CatalogState } from '../shared/catalog/state.js';
import type { DefinitionSet, MigrationDefinition } from '../shared/definitions/loader.js';
import { META_FILE, undoProblem, VERSIONS_FILE } from '../shared/definitions/loader.js';
import { stepKind, type StepKind } from '../shared/step-kind.js';
import { SEMVER } from '../shared/definitions/schema.js';
import { DriftError, PlanError } from '../shared/errors.js';

export { stepKind, type StepKind } from '../shared/step-kind.js';

export interface PlannedStep {
  migrationId: string;
  stage: number;
  kind: StepKind;
  schemaVersion: string | null;
  setId: string | null;
  /** Planned migrations this one waits for. */
  after: string[];
}

export interface Plan {
  environment: Environment;
  direction: 'up' | 'down';
  target: string | null;
  setId: string | null;
  stages: PlannedStep[][];
  warnings: string[];
  /** Identifies the work, so a second producer can recognise a run of the same plan. */
  hash: string;
}

export interface PlanOptions {
  environment: Environment;
  /** A migration id or a schema version to stop at (inclusive). */
  to?: string;
  /** Only this coordinated set (and what it needs). */
  setId?: string;
}

/** The file that holds a migration's metadata: migration.yaml in pgfm's layout, the migration's own file or plan otherwise. */
const metaFile = (migration: MigrationDefinition) => (migration.folder.endsWith('.sql') || migration.folder.endsWith('.plan') ? migration.folder : path.join(migration.folder, META_FILE));

/** Migrations of a plan a failed run could not undo automatically, each with the reason (a rollback stops before the latest one). */
export function notUndoable(definitions: DefinitionSet, ids: string[]): Array<{ migrationId: string; reason: string }> {
  const byId = new Map(definitions.migrations.map((migration) => [migration.id, migration]));
  return ids.flatMap((migrationId) => {
    const reason = undoProblem(byId.get(migrationId)!);
    return reason === undefined ? [] : [{ migrationId, reason }];
  });
}

function compareVersions(a: string, b: string): number {
  const pa = SEMVER.exec(a)!.slice(1).map((part) => Number(part ?? 0));
  const pb = SEMVER.exec(b)!.slice(1).map((part) => Number(part ?? 0));
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}

/** Refuses to plan when an applied migration's files changed since it was applied. */
export function checkDrift(definitions: DefinitionSet, state: CatalogState): string[] {
  const warnings: string[] = [];
  const known = new Set(definitions.migrations.map((migration) => migration.id));
  for (const migration of definitions.migrations) {
    const applied = state.migrations.get(migration.id);
    // A repeatable migration that changed is not drift: it is due again.
    if (applied?.status !== 'completed' || applied.checksum === migration.checksum || migration.repeatable) continue;
    const changed = Object.keys({ ...migration.fileChecksums, ...(applied.fileChecksums ?? {}) })
      .filter((file) => migration.fileChecksums[file] !== applied.fileChecksums?.[file])
      .sort();
    throw new DriftError(
      `migration ${migration.id} was changed after it was applied (${changed.join(', ') || 'checksum'}); ` +
        'revert the edit, or accept it with `migrate repair`',
      { migrationId: migration.id, file: path.join(migration.folder, changed[0] ?? 'up.sql') },
    );
  }
  for (const [migrationId, applied] of state.migrations) {
    if (applied.status === 'completed' && !known.has(migrationId)) {
      warnings.push(`migration ${migrationId} is applied but its definition is missing from the migrations directory`);
    }
  }
  return warnings;
}

/** Every migration's dependencies: explicit, implied by linear history, by its coordinated set, and by schema versions. */
export function dependencyGraph(definitions: DefinitionSet) {
  const { migrations, sets } = definitions;
  const index = new Map(migrations.map((migration, position) => [migration.id, position]));
  const setOf = new Map(sets.flatMap((set) => set.execution_order.map((member) => [member, set] as const)));
  const plain = new Map<string, Set<string>>();
  for (const migration of migrations) {
    const deps = new Set<string>(migration.meta.depends_on ?? []);
    const set = setOf.get(migration.id);
    if (set) {
      const group = set.parallel_groups.findIndex((members) => members.includes(migration.id));
      set.parallel_groups.slice(0, group).flat().forEach((member) => deps.add(member));
      (set.dependencies[migration.id] ?? []).forEach((member) => deps.add(member));
      const first = Math.min(...set.execution_order.map((member) => index.get(member)!));
      const before = migrations.slice(0, first).reverse().find((other) => setOf.get(other.id) !== set);
      if (before && migration.meta.depends_on === undefined) deps.add(before.id);
    } else if (migration.meta.depends_on === undefined) {
      const previous = migrations[index.get(migration.id)! - 1];
      // After a coordinated set comes after all of it, whichever group holds its highest id.
      const previousSet = previous && setOf.get(previous.id);
      if (previousSet) previousSet.execution_order.forEach((member) => deps.add(member));
      else if (previous) deps.add(previous.id);
    }
    plain.set(migration.id, deps);
  }
  const versionDeps = new Map<string, Set<string>>();
  const versions = new Map(definitions.versions.map((version) => [version.version, version]));
  for (const migration of migrations) {
    const required = versions.get(migration.meta.schema_version ?? '')?.requires_previous_version;
    const deps = new Set(
      required === undefined ? [] : migrations.filter((other) => other.meta.schema_version === required).map((other) => other.id),
    );
    versionDeps.set(migration.id, deps);
  }
  return { plain, versionDeps, setOf };
}

function findCycle(ids: string[], edges: (id: string) => Iterable<string>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const next of edges(id)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of ids) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}

function conflicts(a: MigrationDefinition, b: MigrationDefinition): boolean {
  const alone = (m: MigrationDefinition) => !m.meta.can_run_concurrently || m.meta.requires_exclusive_lock;
  return alone(a) || alone(b) || a.meta.blocks.includes(b.id) || b.meta.blocks.includes(a.id);
}

/**
 * Computes the stages of pending migrations for an environment: each stage holds the
 * steps that may run in parallel once every earlier stage completed.
 */
export function planUp(definitions: DefinitionSet, state: CatalogState, options: PlanOptions): Plan {
  const warnings = [...definitions.warnings, ...checkDrift(definitions, state)];
  const byId = new Map(definitions.migrations.map((migration) => [migration.id, migration]));
  const { plain, versionDeps, setOf } = dependencyGraph(definitions);
  const allIds = definitions.migrations.map((migration) => migration.id);

  const cycle = findCycle(allIds, (id) => plain.get(id)!);
  if (cycle) {
    const first = byId.get(cycle[0]!)!;
    throw new PlanError(`dependency cycle: ${cycle.join(' -> ')}`, { migrationId: first.id, file: metaFile(first), field: 'depends_on' });
  }
  const versionCycle = findCycle(allIds, (id) => [...plain.get(id)!, ...versionDeps.get(id)!]);
  if (versionCycle) {
    const migration = byId.get(versionCycle.find((id, i) => versionDeps.get(id)!.has(versionCycle[i + 1] ?? '')) ?? versionCycle[0]!)!;
    const version = migration.meta.schema_version;
    throw new PlanError(
      `version ${version} requires ${definitions.versions.find((v) => v.version === version)?.requires_previous_version}, ` +
        `but migration order puts ${version} first: ${versionCycle.join(' -> ')}`,
      { migrationId: migration.id, file: VERSIONS_FILE, field: 'requires_previous_version' },
    );
  }

  const isPending = (id: string) => {
    const applied = state.migrations.get(id);
    return applied?.status !== 'completed' || (byId.get(id)!.repeatable && applied.checksum !== byId.get(id)!.checksum);
  };
  let roots: string[];
  if (options.setId !== undefined) {
    const set = definitions.sets.find((candidate) => candidate.id === options.setId);
    if (!set) throw new PlanError(`unknown coordinated set ${options.setId}`, { setId: options.setId, field: '--set' });
    roots = set.execution_order;
  } else if (options.to !== undefined && byId.has(options.to)) {
    roots = [options.to];
  } else if (options.to !== undefined && SEMVER.test(options.to)) {
    if (!definitions.versions.some((version) => version.version === options.to)) {
      throw new PlanError(`unknown schema version ${options.to}`, { field: '--to' });
    }
    roots = definitions.migrations
      .filter((migration) => migration.meta.schema_version !== undefined && compareVersions(migration.meta.schema_version, options.to!) <= 0)
      .map((migration) => migration.id);
  } else if (options.to !== undefined) {
    throw new PlanError(`--to takes a migration id or a schema version: no migration is "${options.to}" (unknown migration), and it is not a version`, { field: '--to' });
  } else {
    roots = allIds;
  }

  const selected = new Set<string>();
  const include = (id: string) => {
    if (selected.has(id) || !isPending(id)) return;
    selected.add(id);
    for (const dep of [...plain.get(id)!, ...versionDeps.get(id)!]) include(dep);
  };
  roots.forEach(include);
  const chosen = definitions.migrations.filter((migration) => selected.has(migration.id));

  for (const migration of chosen) {
    if (!migration.meta.allowed_environments.includes(options.environment)) {
      throw new PlanError(`migration ${migration.id} is not allowed in ${options.environment} (allowed: ${migration.meta.allowed_environments.join(', ')})`, {
        migrationId: migration.id,
        file: metaFile(migration),
        field: 'allowed_environments',
      });
    }
  }
  checkVersions(definitions, state, chosen);
  checkConflicts(definitions, state, chosen);
  const cannotUndo = notUndoable(definitions, chosen.map((migration) => migration.id));
  if (cannotUndo.length > 0) {
    warnings.push(
      `if this run fails, its rollback stops before ${cannotUndo.at(-1)!.migrationId}: ` +
        cannotUndo.map(({ migrationId, reason }) => `${migrationId} cannot be undone automatically (${reason})`).join('; '),
    );
  }

  const stageOf = new Map<string, number>();
  const stages: PlannedStep[][] = [];
  const remaining = [...chosen];
  while (remaining.length > 0) {
    // Topological order, id as tie-break: take the first migration whose planned deps all have a stage.
    const position = remaining.findIndex((migration) =>
      [...plain.get(migration.id)!, ...versionDeps.get(migration.id)!].every((dep) => !selected.has(dep) || stageOf.has(dep)),
    );
    const migration = remaining.splice(position, 1)[0]!;
    const after = [...new Set([...plain.get(migration.id)!, ...versionDeps.get(migration.id)!])].filter((dep) => selected.has(dep)).sort();
    let stage = Math.max(0, ...after.map((dep) => stageOf.get(dep)! + 1));
    while ((stages[stage] ?? []).some((other) => conflicts(byId.get(other.migrationId)!, migration))) stage++;
    stageOf.set(migration.id, stage);
    (stages[stage] ??= []).push({
      migrationId: migration.id,
      stage,
      kind: stepKind(migration),
      schemaVersion: migration.meta.schema_version ?? null,
      setId: setOf.get(migration.id)?.id ?? null,
      after,
    });
  }
  const compact = stages.filter((stage) => stage !== undefined).map((steps, index) => steps.map((step) => ({ ...step, stage: index })));
  const hash = createHash('sha256')
    .update(JSON.stringify({ environment: options.environment, direction: 'up', stages: compact.map((steps) => steps.map((s) => s.migrationId)) }))
    .digest('hex');
  return { environment: options.environment, direction: 'up', target: options.to ?? null, setId: options.setId ?? null, stages: compact, warnings, hash };
}

/** Sqitch's conflicts: a change is not applied while a change it conflicts with is applied, or planned before it. */
function checkConflicts(definitions: DefinitionSet, state: CatalogState, chosen: MigrationDefinition[]): void {
  const chosenIds = chosen.map((migration) => migration.id);
  for (const [index, migration] of chosen.entries()) {
    for (const conflict of migration.conflicts) {
      const name = conflict.replace(/^[^:]*:/, '');
      if (conflict.includes(':') && definitions.project !== undefined && !conflict.startsWith(`${definitions.project}:`)) continue;
      const instances = definitions.migrations.filter((other) => other.id === name || other.id.startsWith(`${name}@`)).map((other) => other.id);
      const live = instances.find((id) => state.migrations.get(id)?.status === 'completed' || chosenIds.slice(0, index).includes(id));
      if (live !== undefined) {
        throw new PlanError(`${migration.id} conflicts with ${live}, which ${chosenIds.includes(live) ? 'this run applies before it' : 'is applied'}`, { migrationId: migration.id, field: 'conflicts' });
      }
    }
  }
}

function checkVersions(definitions: DefinitionSet, state: CatalogState, chosen: MigrationDefinition[]): void {
  const versionOf = (id: string) => definitions.migrations.find((migration) => migration.id === id)?.meta.schema_version;
  const present = new Set(state.deployedVersions);
  for (const [id, applied] of state.migrations) {
    const version = versionOf(id);
    if (applied.status === 'completed' && version) present.add(version);
  }
  const planned = new Set(chosen.map((migration) => migration.meta.schema_version).filter((v): v is string => v !== undefined));
  for (const version of definitions.versions) {
    const index = definitions.versions.indexOf(version);
    if (!planned.has(version.version)) continue;
    const required = version.requires_previous_version;
    const hasMigrations = (v: string) => definitions.migrations.some((migration) => migration.meta.schema_version === v);
    if (required !== undefined && !hasMigrations(required) && !present.has(required)) {
      throw new PlanError(`version ${version.version} requires ${required}, which is not deployed and has no migrations`, {
        file: VERSIONS_FILE,
        field: `versions.${index}.requires_previous_version`,
      });
    }
  }
  for (const [index, version] of definitions.versions.entries()) {
    for (const blocked of version.blocks_versions) {
      const pair = [version.version, blocked];
      const live = pair.every((v) => planned.has(v) || present.has(v));
      if (live && pair.some((v) => planned.has(v))) {
        throw new PlanError(`version ${version.version} blocks version ${blocked}, and both would be deployed`, {
          file: VERSIONS_FILE,
          field: `versions.${index}.blocks_versions`,
        });
      }
    }
  }
}

/**
 * The inverse of applying: every applied migration after `to` (by id), each undone only
 * after everything that depends on it was undone.
 */
export function planDown(definitions: DefinitionSet, state: CatalogState, options: { environment: Environment; to: string }): Plan {
  const byId = new Map(definitions.migrations.map((migration) => [migration.id, migration]));
  if (!byId.has(options.to)) throw new PlanError(`unknown migration ${options.to}`, { migrationId: options.to, field: '--to' });
  // A down runs the registered scripts: the files must still be what was applied (or accepted with `repair`).
  const warnings = checkDrift(definitions, state);
  const { plain, versionDeps } = dependencyGraph(definitions);
  const position = definitions.migrations.findIndex((migration) => migration.id === options.to);
  const undo = definitions.migrations.slice(position + 1).filter((migration) => state.migrations.get(migration.id)?.status === 'completed');
  for (const migration of undo) {
    const problem = undoProblem(migration);
    if (problem !== undefined) {
      throw new PlanError(`cannot go down past ${migration.id}: ${problem}`, { migrationId: migration.id, file: migration.down?.file ?? metaFile(migration), field: 'down' });
    }
  }
  const undoing = new Set(undo.map((migration) => migration.id));
  const dependents = (id: string) => undo.filter((other) => plain.get(other.id)!.has(id) || versionDeps.get(other.id)!.has(id)).map((other) => other.id);
  const stageOf = new Map<string, number>();
  const stage = (id: string): number => {
    if (!stageOf.has(id)) stageOf.set(id, Math.max(0, ...dependents(id).map((dependent) => stage(dependent) + 1)));
    return stageOf.get(id)!;
  };
  const stages: PlannedStep[][] = [];
  for (const migration of [...undo].reverse()) {
    const index = stage(migration.id);
    (stages[index] ??= []).push({
      migrationId: migration.id,
      stage: index,
      kind: stepKind(migration, 'down'),
      schemaVersion: migration.meta.schema_version ?? null,
      setId: null,
      after: dependents(migration.id).filter((id) => undoing.has(id)).sort(),
    });
  }
  const compact = stages.filter((steps) => steps !== undefined);
  const hash = createHash('sha256')
    .update(JSON.stringify({ environment: options.environment, direction: 'down', stages: compact.map((steps) => steps.map((s) => s.migrationId)) }))
    .digest('hex');
  return { environment: options.environment, direction: 'down', target: options.to, setId: null, stages: compact, warnings, hash };
}
