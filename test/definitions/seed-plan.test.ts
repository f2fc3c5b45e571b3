/**
 * The repository's own migrations/ through the CLI (in-process):
 *   - `plan --json` on a fresh, empty database lists every migration folder once, gives
 *     each parallel group of COORD-2025-001 a stage of its own, and writes nothing;
 *   - `validate --json` accepts them (without a database);
 *   - `new <slug>` scaffolds a folder named by the current UTC time and refuses bad slugs.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Plan } from '../../producer/planner.js';
import { isMigrationId, MIGRATION_ID } from '../../shared/definitions/schema.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { ROOT } from '../helpers/processes.js';

const MIGRATIONS_DIR = path.join(ROOT, 'migrations');
const SET_FILE = path.join(MIGRATIONS_DIR, 'sets', 'COORD-2025-001.yaml');

/** Migration folders anywhere under migrations/ (the loader also looks in subfolders). */
async function migrationFolders(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'sets' || entry.name.startsWith('.')) continue;
    if (MIGRATION_ID.test(entry.name)) found.push(entry.name);
    else found.push(...(await migrationFolders(path.join(dir, entry.name))));
  }
  return found.sort();
}

async function schemas(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.query<{ nspname: string }>(
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
  );
  return rows.map((row) => row.nspname);
}

describe('plan and validate on the seed migrations', () => {
  let db: TestDatabase;
  let folders: string[];
  let set: { id: string; execution_order: string[]; parallel_groups: string[][] };

  beforeAll(async () => {
    db = await createTestDatabase('seed_plan');
    folders = await migrationFolders(MIGRATIONS_DIR);
    set = parseYaml(await readFile(SET_FILE, 'utf8')) as typeof set;
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('sanity: the seed has migration folders and a set with at least two groups', () => {
    expect(folders.length).toBeGreaterThanOrEqual(10);
    expect(folders.every(isMigrationId)).toBe(true);
    expect(set.id).toBe('COORD-2025-001');
    expect(set.parallel_groups.length).toBeGreaterThanOrEqual(2);
    expect(set.parallel_groups.some((group) => group.length > 1)).toBe(true);
  });

  it('plan --json on an empty database: every folder once, each parallel group its own stage, nothing written', async () => {
    const before = await schemas(db);
    const result = await runCli(['plan', '--json'], { DATABASE_URL: db.url, MIGRATIONS_DIR });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as Plan;

    expect(plan).toMatchObject({ environment: 'development', direction: 'up', target: null, setId: null });
    // The seed sets requires_backup and can_partial_execute, which do not act yet.
    expect(plan.warnings.length).toBeGreaterThan(0);
    for (const warning of plan.warnings) expect(warning).toMatch(/: (requires_backup|can_partial_execute) is accepted but has no effect yet$/);
    expect(plan.hash).toMatch(/^[0-9a-f]{64}$/);

    // Every migration folder exactly once.
    const planned = plan.stages.flat().map((step) => step.migrationId);
    expect([...planned].sort()).toEqual(folders);
    expect(new Set(planned).size).toBe(planned.length);

    // Stage numbers match positions, no stage is empty, and every step comes after what it waits for.
    const stageOf = new Map(plan.stages.flatMap((steps, index) => steps.map((step) => [step.migrationId, index] as const)));
    plan.stages.forEach((steps, index) => {
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps) {
        expect(step.stage).toBe(index);
        for (const dep of step.after) expect(stageOf.get(dep)!).toBeLessThan(index);
      }
    });

    // Each parallel group of the coordinated set is exactly one stage: its members, nothing else.
    const groupStages = set.parallel_groups.map((group) => {
      const stages = new Set(group.map((id) => stageOf.get(id)));
      expect(stages.size, `group ${group.join(', ')} spans stages ${[...stages].join(', ')}`).toBe(1);
      const stage = [...stages][0]!;
      expect(plan.stages[stage]!.map((step) => step.migrationId).sort()).toEqual([...group].sort());
      for (const step of plan.stages[stage]!) expect(step.setId).toBe(set.id);
      return stage;
    });
    // ... in the order of the groups.
    expect([...groupStages].sort((a, b) => a - b)).toEqual(groupStages);
    expect(new Set(groupStages).size).toBe(groupStages.length);
    // Migrations outside the set carry no set id.
    for (const step of plan.stages.flat()) {
      if (!set.execution_order.includes(step.migrationId)) expect(step.setId).toBeNull();
    }

    // Read-only: no catalog schema, nothing else either.
    expect(await schemas(db)).toEqual(before);
    expect(before).not.toContain('migration_mgmt');
    const { rows } = await db.query("SELECT to_regnamespace('migration_mgmt') AS oid");
    expect(rows[0]!.oid).toBeNull();
  });

  it('plan --json --set COORD-2025-001 ends with the set, one stage per group', async () => {
    const result = await runCli(['plan', '--json', '--set', set.id], { DATABASE_URL: db.url, MIGRATIONS_DIR });
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as Plan;
    expect(plan.setId).toBe(set.id);
    const tail = plan.stages.slice(-set.parallel_groups.length).map((steps) => steps.map((step) => step.migrationId).sort());
    expect(tail).toEqual(set.parallel_groups.map((group) => [...group].sort()));
    expect(await schemas(db)).not.toContain('migration_mgmt');
  });

  it('validate --json accepts the seed without a database', async () => {
    const result = await runCli(['validate', '--json'], {
      // Unreachable on purpose: validate must not connect.
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      MIGRATIONS_DIR,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    const plan = JSON.parse((await runCli(['plan', '--json'], { DATABASE_URL: db.url, MIGRATIONS_DIR })).stdout) as Plan;
    expect(summary).toEqual({ valid: true, layout: 'pgfm', migrations: folders.length, sets: 1, versions: expect.any(Number), stages: plan.stages.length, warnings: plan.warnings });
    expect(summary['versions']).toBeGreaterThan(0);
  });
});

describe('new <slug>', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pgfm-new-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = (ms: number) => {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}.${pad(d.getUTCMonth() + 1)}.${pad(d.getUTCDate())}_${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  };

  it('creates a folder named by the current UTC time and the slug, with up, down and migration.yaml', async () => {
    const migrationsDir = path.join(dir, 'ok');
    const before = Math.floor(Date.now() / 1000) * 1000;
    const result = await runCli(['new', 'add_invoice_due_date_2'], { MIGRATIONS_DIR: migrationsDir });
    const after = Date.now();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const entries = await readdir(migrationsDir);
    expect(entries).toHaveLength(1);
    const id = entries[0]!;
    expect(isMigrationId(id)).toBe(true);
    const match = MIGRATION_ID.exec(id)!;
    expect(match[7]).toBe('add_invoice_due_date_2');
    const allowed = new Set<string>();
    for (let ms = before; ms <= after; ms += 1000) allowed.add(`${stamp(ms)}_add_invoice_due_date_2`);
    allowed.add(`${stamp(after)}_add_invoice_due_date_2`);
    expect(allowed).toContain(id);

    expect(result.stdout).toBe(path.join(migrationsDir, id));
    expect((await readdir(path.join(migrationsDir, id))).sort()).toEqual(['down.sql', 'migration.yaml', 'up.sql']);
    const meta = parseYaml(await readFile(path.join(migrationsDir, id, 'migration.yaml'), 'utf8')) as Record<string, unknown>;
    expect(meta).toMatchObject({ description: 'add invoice due date 2', type: 'schema' });
  });

  it('passes --type into migration.yaml', async () => {
    const migrationsDir = path.join(dir, 'typed');
    const result = await runCli(['new', 'build_search_index', '--type', 'index'], { MIGRATIONS_DIR: migrationsDir });
    expect(result.code).toBe(0);
    const [id] = await readdir(migrationsDir);
    const meta = parseYaml(await readFile(path.join(migrationsDir, id!, 'migration.yaml'), 'utf8')) as Record<string, unknown>;
    expect(meta['type']).toBe('index');
  });

  it('refuses an unknown --type, and scaffolds a backfill for --type data that validate accepts', async () => {
    const bogusDir = path.join(dir, 'bogus');
    const bogus = await runCli(['new', 'x', '--type', 'bogus'], { MIGRATIONS_DIR: bogusDir });
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/--type bogus is not a migration type: schema, data, index, function, policy, view/);
    expect(existsSync(bogusDir)).toBe(false);
    const dataDir = path.join(dir, 'data');
    expect((await runCli(['new', 'upper_names', '--type', 'data'], { MIGRATIONS_DIR: dataDir })).code).toBe(0);
    const [id] = await readdir(dataDir);
    const meta = parseYaml(await readFile(path.join(dataDir, id!, 'migration.yaml'), 'utf8')) as Record<string, unknown>;
    expect(meta).toMatchObject({ type: 'data', backfill: { table: 'app.items', set: { name: 'upper(name)' } } });
    const validate = await runCli(['validate'], { MIGRATIONS_DIR: dataDir });
    expect(validate.code, validate.stderr).toBe(0);
  });

  it.each(['Add_Column', 'add-column', 'add column', 'add__column', '_add', 'add_', 'café', 'add;drop', '../escape', ''])(
    'refuses the slug %j with exit code 2 and creates nothing',
    async (slug) => {
      const migrationsDir = path.join(dir, `bad-${Buffer.from(slug).toString('hex') || 'empty'}`);
      await mkdir(migrationsDir);
      const result = await runCli(['new', slug], { MIGRATIONS_DIR: migrationsDir });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/^error: ".*" is not a valid slug: .*\(field=slug\)$/);
      expect(await readdir(migrationsDir)).toEqual([]);
      expect(existsSync(path.join(path.dirname(migrationsDir), 'escape'))).toBe(false);
    },
  );

  it('refuses a missing slug with exit code 2', async () => {
    const result = await runCli(['new'], { MIGRATIONS_DIR: path.join(dir, 'missing') });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/missing required argument 'slug'/);
    expect(existsSync(path.join(dir, 'missing'))).toBe(false);
  });

  it('refuses to overwrite an existing folder (exit 2)', async () => {
    const migrationsDir = path.join(dir, 'exists');
    // Occupy every id the command could pick in the next few seconds.
    const now = Date.now();
    for (let s = -1; s <= 10; s++) await mkdir(path.join(migrationsDir, `${stamp(now + s * 1000)}_taken`), { recursive: true });
    const before = (await readdir(migrationsDir)).sort();
    const result = await runCli(['new', 'taken'], { MIGRATIONS_DIR: migrationsDir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/already exists/);
    expect((await readdir(migrationsDir)).sort()).toEqual(before);
  });
});
