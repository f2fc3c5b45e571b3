/**
 * planUp (producer/planner.ts): the stages of pending migrations. Every fixture is a real
 * migrations directory in os.tmpdir(), read with loadDefinitions, so the planner sees
 * exactly what the CLI would give it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyCatalogState, type AppliedMigration, type CatalogState } from '../../shared/catalog/state.js';
import { loadDefinitions, type DefinitionSet } from '../../shared/definitions/loader.js';
import { DriftError, PlanError } from '../../shared/errors.js';
import { planUp, stepKind, type Plan, type PlanOptions } from '../../producer/planner.js';

interface MigrationSpec {
  /** Lines of migration.yaml (default: none, i.e. every default). */
  meta?: string[];
  up?: string;
  /** null: no down.sql (then meta must make that legal). */
  down?: string | null;
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes a migrations directory and loads it. */
async function definitions(migrations: Record<string, MigrationSpec>, files: Record<string, string> = {}): Promise<DefinitionSet> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-planner-'));
  dirs.push(dir);
  const all: Record<string, string> = { ...files };
  for (const [id, spec] of Object.entries(migrations)) {
    all[`${id}/migration.yaml`] = [...(spec.meta ?? []), ''].join('\n');
    all[`${id}/up.sql`] = spec.up ?? `CREATE TABLE t_${id.slice(-1)} (id int);\n`;
    if (spec.down !== null) all[`${id}/down.sql`] = spec.down ?? `DROP TABLE t_${id.slice(-1)};\n`;
  }
  for (const [file, content] of Object.entries(all)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return loadDefinitions(dir);
}

const ENV = { environment: 'development' } as const;

function plan(defs: DefinitionSet, options: Partial<PlanOptions> = {}, state: CatalogState = emptyCatalogState()): Plan {
  return planUp(defs, state, { ...ENV, ...options });
}

/** Stage membership, each stage sorted (order inside a stage carries no meaning). */
const stagesOf = (p: Plan) => p.stages.map((steps) => steps.map((step) => step.migrationId).sort());

/** A catalog in which these migrations completed with the definitions' own checksums. */
function applied(defs: DefinitionSet, ids: string[], status: AppliedMigration['status'] = 'completed'): CatalogState {
  const state = emptyCatalogState();
  for (const id of ids) {
    const migration = defs.migrations.find((m) => m.id === id)!;
    state.migrations.set(id, { migrationId: id, status, checksum: migration.checksum, fileChecksums: migration.fileChecksums, appliedAt: new Date() });
  }
  return state;
}

const A = '2025.01.01_000000_a';
const B = '2025.01.02_000000_b';
const C = '2025.01.03_000000_c';
const D = '2025.01.04_000000_d';
const E = '2025.01.05_000000_e';
const F = '2025.01.06_000000_f';

/** A, then B and C both needing only A, then D needing B and C. */
const diamond = (extra: Partial<Record<'a' | 'b' | 'c' | 'd', string[]>> = {}) => ({
  [A]: { meta: extra.a ?? [] },
  [B]: { meta: [`depends_on: [${A}]`, ...(extra.b ?? [])] },
  [C]: { meta: [`depends_on: [${A}]`, ...(extra.c ?? [])] },
  [D]: { meta: [`depends_on: [${B}, ${C}]`, ...(extra.d ?? [])] },
});

describe('planUp: stages', () => {
  it('linear history (no depends_on) gives one migration per stage, each after the previous', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [C]: {}, [D]: {} });
    const p = plan(defs);
    expect(stagesOf(p)).toEqual([[A], [B], [C], [D]]);
    expect(p.stages.flat().map((s) => [s.migrationId, s.stage, s.after])).toEqual([
      [A, 0, []],
      [B, 1, [A]],
      [C, 2, [B]],
      [D, 3, [C]],
    ]);
    expect(p).toMatchObject({ environment: 'development', direction: 'up', target: null, setId: null, warnings: [] });
  });

  it('an explicit depends_on DAG puts parallel branches in the same stage', async () => {
    const p = plan(await definitions(diamond()));
    expect(stagesOf(p)).toEqual([[A], [B, C], [D]]);
    const after = Object.fromEntries(p.stages.flat().map((s) => [s.migrationId, s.after]));
    expect(after).toEqual({ [A]: [], [B]: [A], [C]: [A], [D]: [B, C] });
  });

  // KNOWN BUG (producer/planner.ts planUp): `after` concatenates the plain and the version
  // dependencies without removing duplicates, so a migration that needs B both by linear
  // history and by its schema version lists B twice (visible in `plan --json` and the run's
  // stored plan; the seed's 2025.01.31_143000 step lists the base migration twice).
  it('after lists each dependency once', async () => {
    const defs = await definitions(
      { [A]: { meta: ['schema_version: 1.0.0'] }, [B]: { meta: ['schema_version: 1.1.0'] } },
      { 'versions.yaml': 'versions:\n  - {version: 1.0.0, type: major}\n  - {version: 1.1.0, type: minor, requires_previous_version: 1.0.0}\n' },
    );
    expect(plan(defs).stages.flat().map((s) => s.after)).toEqual([[], [A]]);
  });

  it('independent roots (depends_on: []) all start in the first stage', async () => {
    const defs = await definitions({ [A]: {}, [B]: { meta: ['depends_on: []'] }, [C]: { meta: ['depends_on: []'] }, [D]: {} });
    // D has no depends_on: linear history makes it wait for C only.
    expect(stagesOf(plan(defs))).toEqual([[A, B, C], [D]]);
  });

  it('a wide DAG keeps every branch in one stage', async () => {
    const defs = await definitions({
      [A]: {},
      [B]: { meta: [`depends_on: [${A}]`] },
      [C]: { meta: [`depends_on: [${A}]`] },
      [D]: { meta: [`depends_on: [${A}]`] },
      [E]: { meta: [`depends_on: [${B}]`] },
      [F]: { meta: [`depends_on: [${E}, ${C}, ${D}]`] },
    });
    expect(stagesOf(plan(defs))).toEqual([[A], [B, C, D], [E], [F]]);
  });

  it('blocks (declared on the earlier one) pushes the later one to a later stage', async () => {
    const p = plan(await definitions(diamond({ b: [`blocks: [${C}]`] })));
    expect(stagesOf(p)).toEqual([[A], [B], [C], [D]]);
    // C does not depend on B: it was moved for the conflict only.
    expect(p.stages[2]![0]!.after).toEqual([A]);
  });

  it('blocks (declared on the later one) has the same effect', async () => {
    expect(stagesOf(plan(await definitions(diamond({ c: [`blocks: [${B}]`] }))))).toEqual([[A], [B], [C], [D]]);
  });

  it('blocks between migrations in different stages changes nothing', async () => {
    expect(stagesOf(plan(await definitions(diamond({ d: [`blocks: [${A}]`] }))))).toEqual([[A], [B, C], [D]]);
  });

  it('can_run_concurrently: false runs alone in its stage; the others still share theirs', async () => {
    const defs = await definitions({
      [A]: {},
      [B]: { meta: [`depends_on: [${A}]`] },
      [C]: { meta: [`depends_on: [${A}]`, 'can_run_concurrently: false'] },
      [D]: { meta: [`depends_on: [${A}]`] },
      [E]: { meta: [`depends_on: [${B}, ${C}, ${D}]`] },
    });
    expect(stagesOf(plan(defs))).toEqual([[A], [B, D], [C], [E]]);
  });

  it('can_run_concurrently: false on the first of a stage keeps the others out', async () => {
    expect(stagesOf(plan(await definitions(diamond({ b: ['can_run_concurrently: false'] }))))).toEqual([[A], [B], [C], [D]]);
  });

  it('requires_exclusive_lock: true also runs alone', async () => {
    expect(stagesOf(plan(await definitions(diamond({ c: ['requires_exclusive_lock: true'] }))))).toEqual([[A], [B], [C], [D]]);
  });

  it('a migration refused in the environment stops the plan', async () => {
    const defs = await definitions({ [A]: {}, [B]: { meta: ['allowed_environments: [development, staging]'] } });
    expect(stagesOf(plan(defs))).toEqual([[A], [B]]);
    expect(() => plan(defs, { environment: 'production' })).toThrow(PlanError);
    expect(() => plan(defs, { environment: 'production' })).toThrow(/migration 2025\.01\.02_000000_b is not allowed in production/);
  });
});

describe('planUp: coordinated sets', () => {
  const S1 = '2025.02.01_000000_s_one';
  const S2 = '2025.02.01_000001_s_two';
  const S3 = '2025.02.01_000002_s_three';
  const S4 = '2025.02.01_000003_s_four';
  const AFTER = '2025.03.01_000000_after_set';

  const setFile = (groups: string[][], dependencies: Record<string, string[]> = {}) => ({
    'sets/COORD-2025-001.yaml': [
      'id: COORD-2025-001',
      'name: test set',
      'execution_order:',
      ...groups.flat().sort().map((id) => `  - ${id}`),
      'parallel_groups:',
      ...groups.map((group) => `  - [${group.join(', ')}]`),
      ...(Object.keys(dependencies).length > 0
        ? ['dependencies:', ...Object.entries(dependencies).map(([id, deps]) => `  ${id}: [${deps.join(', ')}]`)]
        : []),
      '',
    ].join('\n'),
  });

  it('each parallel group is one stage, and a migration after the set waits for the last group', async () => {
    const defs = await definitions({ [A]: {}, [S1]: {}, [S2]: {}, [S3]: {}, [S4]: {}, [AFTER]: {} }, setFile([[S1, S2], [S3, S4]]));
    const p = plan(defs);
    expect(stagesOf(p)).toEqual([[A], [S1, S2], [S3, S4], [AFTER]]);
    const step = Object.fromEntries(p.stages.flat().map((s) => [s.migrationId, s]));
    expect(step[S1]).toMatchObject({ setId: 'COORD-2025-001', after: [A] });
    expect(step[S3]).toMatchObject({ setId: 'COORD-2025-001', after: [A, S1, S2] });
    expect(step[A]!.setId).toBeNull();
    expect(step[AFTER]!.setId).toBeNull();
  });

  it('three groups of one, two and one', async () => {
    const defs = await definitions({ [A]: {}, [S1]: {}, [S2]: {}, [S3]: {}, [S4]: {}, [AFTER]: {} }, setFile([[S1], [S2, S3], [S4]], { [S4]: [S2] }));
    expect(stagesOf(plan(defs))).toEqual([[A], [S1], [S2, S3], [S4], [AFTER]]);
  });

  // KNOWN BUG (producer/planner.ts dependencyGraph): a migration after a set depends only on
  // the previous id (linear history). When the last parallel group does not hold the set's
  // highest id, that migration runs in the same stage as the last group instead of after it.
  it('a migration after the set waits for the last group even when that group does not hold the highest id', async () => {
    const defs = await definitions({ [A]: {}, [S1]: {}, [S2]: {}, [S3]: {}, [AFTER]: {} }, setFile([[S1, S3], [S2]]));
    expect(stagesOf(plan(defs))).toEqual([[A], [S1, S3], [S2], [AFTER]]);
  });

  it('--set plans the set and what it needs, not what comes after it', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [S1]: {}, [S2]: {}, [S3]: {}, [AFTER]: {} }, setFile([[S1, S2], [S3]]));
    const p = plan(defs, { setId: 'COORD-2025-001' });
    expect(stagesOf(p)).toEqual([[A], [B], [S1, S2], [S3]]);
    expect(p.setId).toBe('COORD-2025-001');
    // With its prerequisites applied, only the set remains.
    const rest = plan(defs, { setId: 'COORD-2025-001' }, applied(defs, [A, B]));
    expect(stagesOf(rest)).toEqual([[S1, S2], [S3]]);
    expect(rest.stages[0]![0]!.after).toEqual([]);
  });

  it('--set with an unknown id is a PlanError on --set', () => {
    return definitions({ [A]: {} }).then((defs) => {
      expect(() => plan(defs, { setId: 'COORD-2099-999' })).toThrow(expect.objectContaining({ name: 'PlanError', context: { setId: 'COORD-2099-999', field: '--set' } }));
    });
  });
});

describe('planUp: --to', () => {
  it('--to <id> plans only that migration and its transitive dependencies', async () => {
    const defs = await definitions({
      [A]: {},
      [B]: { meta: [`depends_on: [${A}]`] },
      [C]: { meta: [`depends_on: [${A}]`] },
      [D]: { meta: [`depends_on: [${C}]`] },
      [E]: { meta: [`depends_on: [${B}, ${D}]`] },
    });
    expect(stagesOf(plan(defs, { to: D }))).toEqual([[A], [C], [D]]);
    expect(stagesOf(plan(defs, { to: B }))).toEqual([[A], [B]]);
    expect(stagesOf(plan(defs, { to: A }))).toEqual([[A]]);
    expect(stagesOf(plan(defs, { to: E }))).toEqual([[A], [B, C], [D], [E]]);
    expect(plan(defs, { to: D }).target).toBe(D);
  });

  it('--to <id> in linear history is every migration up to it', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [C]: {}, [D]: {} });
    expect(stagesOf(plan(defs, { to: C }))).toEqual([[A], [B], [C]]);
  });

  it('--to <id> leaves out what is already applied', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [C]: {}, [D]: {} });
    expect(stagesOf(plan(defs, { to: C }, applied(defs, [A, B])))).toEqual([[C]]);
    expect(stagesOf(plan(defs, { to: B }, applied(defs, [A, B])))).toEqual([]);
  });

  const versions = {
    'versions.yaml': [
      'versions:',
      '  - version: 1.0.0',
      '    type: major',
      '  - version: 1.1.0',
      '    type: minor',
      '    requires_previous_version: 1.0.0',
      '  - version: 1.10.0',
      '    type: minor',
      '  - version: 2.0.0',
      '    type: major',
      '    requires_previous_version: 1.10.0',
      '',
    ].join('\n'),
  };

  it('--to <version> plans every migration of that version and the earlier ones', async () => {
    const defs = await definitions(
      {
        [A]: { meta: ['schema_version: 1.0.0'] },
        [B]: { meta: ['schema_version: 1.1.0', 'depends_on: []'] },
        [C]: { meta: ['schema_version: 1.10.0', 'depends_on: []'] },
        [D]: { meta: ['schema_version: 2.0.0', 'depends_on: []'] },
        [E]: { meta: ['depends_on: []'] },
      },
      versions,
    );
    // 1.1.0 requires 1.0.0: B waits for A through the version, not through linear history.
    expect(stagesOf(plan(defs, { to: '1.1.0' }))).toEqual([[A], [B]]);
    expect(stagesOf(plan(defs, { to: '1.0.0' }))).toEqual([[A]]);
    // Versions compare numerically: 1.10.0 > 1.1.0.
    expect(stagesOf(plan(defs, { to: '1.10.0' }))).toEqual([[A, C], [B]]);
    expect(stagesOf(plan(defs, { to: '2.0.0' }))).toEqual([[A, C], [B, D]]);
    expect(plan(defs, { to: '2.0.0' }).stages.flat().find((s) => s.migrationId === D)).toMatchObject({ schemaVersion: '2.0.0', after: [C] });
    // Without --to the unversioned E comes too.
    expect(stagesOf(plan(defs))).toEqual([[A, C, E], [B, D]]);
  });

  it.each([
    ['2025.09.09_000000_ghost', /no migration is "2025\.09\.09_000000_ghost" \(unknown migration\)/],
    ['9.9.9', /unknown schema version 9\.9\.9/],
    ['latest', /--to takes a migration id or a schema version: no migration is "latest"/],
    ['2025-01-01', /--to takes a migration id or a schema version/],
  ])('--to %s is a PlanError on --to', async (to, message) => {
    const defs = await definitions({ [A]: { meta: ['schema_version: 1.0.0'] } }, versions);
    expect(() => plan(defs, { to })).toThrow(PlanError);
    expect(() => plan(defs, { to })).toThrow(message);
    expect(() => plan(defs, { to })).toThrow(expect.objectContaining({ context: expect.objectContaining({ field: '--to' }) }));
  });
});

describe('planUp: catalog state', () => {
  it('leaves out completed migrations with a matching checksum; the rest no longer wait for them', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [C]: {}, [D]: {} });
    const p = plan(defs, {}, applied(defs, [A, B]));
    expect(stagesOf(p)).toEqual([[C], [D]]);
    expect(p.stages[0]![0]!.after).toEqual([]);
    expect(p.warnings).toEqual([]);
    expect(stagesOf(plan(defs, {}, applied(defs, [A, B, C, D])))).toEqual([]);
  });

  it('keeps failed, rolled back and running migrations in the plan', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [C]: {} });
    for (const status of ['failed', 'rolled_back', 'running'] as const) {
      const state = applied(defs, [A]);
      const other = applied(defs, [B], status).migrations.get(B)!;
      state.migrations.set(B, other);
      expect(stagesOf(plan(defs, {}, state))).toEqual([[B], [C]]);
    }
  });

  it('a DAG with one branch applied plans the other branch and the join', async () => {
    const defs = await definitions(diamond());
    expect(stagesOf(plan(defs, {}, applied(defs, [A, B])))).toEqual([[C], [D]]);
  });

  it('refuses to plan when an applied migration changed (DriftError naming the file)', async () => {
    const defs = await definitions({ [A]: {}, [B]: {} });
    const state = applied(defs, [A]);
    const record = state.migrations.get(A)!;
    state.migrations.set(A, { ...record, checksum: 'old', fileChecksums: { ...record.fileChecksums!, 'up.sql': 'old' } });
    expect(() => plan(defs, {}, state)).toThrow(DriftError);
    expect(() => plan(defs, {}, state)).toThrow(expect.objectContaining({ context: { migrationId: A, file: path.join(A, 'up.sql') } }));
  });

  it('warns about an applied migration whose definition is missing', async () => {
    const defs = await definitions({ [A]: {}, [B]: {} });
    const state = applied(defs, [A]);
    state.migrations.set('2024.12.31_000000_gone', { migrationId: '2024.12.31_000000_gone', status: 'completed', checksum: 'x', fileChecksums: {}, appliedAt: new Date() });
    const p = plan(defs, {}, state);
    expect(stagesOf(p)).toEqual([[B]]);
    expect(p.warnings).toEqual(['migration 2024.12.31_000000_gone is applied but its definition is missing from the migrations directory']);
  });
});

describe('planUp: hash', () => {
  it('is equal for equal plans and differs for different ones', async () => {
    const defs = await definitions({ [A]: {}, [B]: {}, [C]: {} });
    const copy = await definitions({ [A]: {}, [B]: {}, [C]: {} });
    const full = plan(defs);
    expect(full.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(plan(defs).hash).toBe(full.hash);
    // Same work from another directory: same hash.
    expect(plan(copy).hash).toBe(full.hash);
    // Reaching the same stages another way (--to the last one): same work, same hash.
    expect(plan(defs, { to: C }).hash).toBe(full.hash);

    const different = [
      plan(defs, { to: B }),
      plan(defs, { environment: 'staging' }),
      plan(defs, {}, applied(defs, [A])),
      plan(await definitions(diamond())),
      plan(await definitions({ [A]: {}, [B]: { meta: ['depends_on: []'] }, [C]: {} })),
    ];
    const hashes = new Set([full.hash, ...different.map((p) => p.hash)]);
    expect(hashes.size).toBe(different.length + 1);
  });
});

describe('stepKind', () => {
  it('tells transactional, non_transactional, per_statement and backfill apart', async () => {
    const defs = await definitions({
      [A]: { up: 'CREATE TABLE items (id bigint PRIMARY KEY, name text);\nCREATE INDEX items_name ON items (name);\n', down: 'DROP TABLE items;\n' },
      [B]: { up: 'CREATE INDEX CONCURRENTLY items_name_c ON items (name);\n', down: 'DROP INDEX CONCURRENTLY items_name_c;\n' },
      [C]: {
        meta: ['transaction: per_statement'],
        up: 'ALTER TABLE items ADD COLUMN sku text;\nCREATE INDEX CONCURRENTLY items_sku ON items (sku);\n',
        down: 'DROP INDEX CONCURRENTLY items_sku;\nALTER TABLE items DROP COLUMN sku;\n',
      },
      [D]: {
        meta: ['type: data', 'backfill:', '  table: items', '  set:', '    name: upper(name)'],
        up: 'SELECT 1;\n',
        down: null,
      },
      [E]: { meta: ['transaction: per_statement'], up: 'UPDATE items SET name = name;\nUPDATE items SET name = name;\n', down: 'SELECT 1;\n' },
    });
    const kinds = Object.fromEntries(defs.migrations.map((m) => [m.id, stepKind(m)]));
    expect(kinds).toEqual({ [A]: 'transactional', [B]: 'non_transactional', [C]: 'per_statement', [D]: 'backfill', [E]: 'per_statement' });
    // The plan carries the same kinds.
    expect(Object.fromEntries(plan(defs).stages.flat().map((s) => [s.migrationId, s.kind]))).toEqual(kinds);
  });
});
