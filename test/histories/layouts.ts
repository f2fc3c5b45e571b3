/**
 * Writes the tenantdesk history (story.ts) in the exact on-disk layout of a foreign migration tool, so pgfm
 * can be pointed at it unchanged. See reference.ts for how the origin tool runs these files (emulated with psql)
 * and tool-history.ts for the history tables each tool keeps.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { story, TAIL_START, TENANT_OVERVIEW_VIEW, type Step, type StepDown } from './story.js';

export type ForeignLayout = 'diesel' | 'flyway' | 'golang-migrate' | 'dbmate' | 'sqitch';

export const FOREIGN_LAYOUTS: readonly ForeignLayout[] = ['diesel', 'flyway', 'golang-migrate', 'dbmate', 'sqitch'];

/** What the origin tool does with a migration's down. */
export type DownKind =
  /** A real down that inverts the up. */
  | 'sql'
  /** An empty or comment-only down that the tool runs as a no-op: reversible. */
  | 'no-op'
  /** No down at all (no down.sql / .down.sql / U file). Diesel and Flyway refuse to revert; golang-migrate reverts it as a silent no-op. */
  | 'missing'
  /** Diesel only: a zero-byte down.sql (EmptyMigration) or a comment-only one (the server answers an empty query, which Diesel treats as an error). */
  | 'rejected'
  /** A down written to raise: the irreversible marker where the tool requires a down (dbmate, Sqitch). */
  | 'raises'
  /** A down with a SQL syntax error. */
  | 'broken';

export interface MigrationInfo {
  id: string;
  /** The origin tool runs the up inside one transaction (its own, or PostgreSQL's implicit one for a multi-statement query). */
  transactional: boolean;
  /** The file carries its own BEGIN/COMMIT. */
  scriptManaged: boolean;
  down: DownKind;
  /**
   * Set when the origin tool itself cannot run this up as written although psql (and so the reference) can:
   * Diesel (run_in_transaction = false), dbmate (transaction:false) and golang-migrate (without
   * x-multi-statement) send a file or section as ONE multi-statement query, which PostgreSQL runs as an implicit
   * transaction, so two CREATE INDEX CONCURRENTLY in one file fail with "cannot run inside a transaction block".
   * Confirmed with dbmate 2.36.
   */
  originToolRejects?: string;
}

export interface HistoryFixture {
  layout: ForeignLayout;
  /** The folder pgfm is pointed at: the migrations folder; for Sqitch the project folder holding sqitch.plan. */
  dir: string;
  /**
   * Every migration in the origin tool's apply order. diesel: folder name; flyway: file stem of V files
   * ('V2.1__add_x'), then the repeatables 'R__desc'; golang-migrate: stem without .up.sql; dbmate: stem without
   * .sql; sqitch: change name, and 'name@tag' for an earlier instance of a reworked change (tag = the first tag
   * after it in the plan).
   */
  ids: string[];
  /**
   * How many of the last migrations have a real down and can be reverted. Flyway: counted over the versioned
   * migrations only, since Flyway's undo never touches repeatables (the R__ view stays applied); use
   * idsAfterRevert() (reference.ts) for the ids left applied.
   */
  reversibleTail: number;
  /** Same order as ids. */
  migrations: MigrationInfo[];
  /** Sqitch: cross-project requirements (`project:change`) a test must declare satisfied. Empty elsewhere. */
  externalRequirements: string[];
}

const PLANNER = 'Ada Planner';
const PLANNER_EMAIL = 'ada@tenantdesk.example';
export const SQITCH_PROJECT = 'tenantdesk';
export const SQITCH_URI = 'https://example.com/tenantdesk/';
/** Sqitch tags: the tag follows the change at that 0-based step index. */
const SQITCH_TAGS: { after: number; name: string; note: string }[] = [
  { after: 8, name: 'v1.0', note: 'First release: tenants, members, projects and tasks' },
  { after: 19, name: 'v1.1', note: 'Billing and the display name rename' },
  { after: 28, name: 'v2.0', note: 'Legacy column gone' },
  { after: 34, name: 'v2.1', note: 'Webhooks' },
];

async function write(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
}

function irreversibleSql(step: Step, reason: string): string {
  return `DO $do$\nBEGIN\n    RAISE EXCEPTION 'cannot revert ${step.key}: ${reason.replace(/'/g, "''")}';\nEND\n$do$;\n`;
}

function wrapTx(sql: string): string {
  return `BEGIN;\n\n${sql}\nCOMMIT;\n`;
}

/** The text of a down that may be empty or comment-only, or null for "no down". */
function plainDown(down: StepDown): { text: string | null; kind: DownKind } {
  switch (down.kind) {
    case 'sql':
      return { text: down.sql, kind: 'sql' };
    case 'broken':
      return { text: down.sql, kind: 'broken' };
    case 'noop':
      return { text: down.style === 'empty' ? '' : down.comment, kind: 'no-op' };
    case 'none':
      return { text: null, kind: 'missing' };
  }
}

const ONE_QUERY_REJECTS =
  'the tool sends the file as one multi-statement query: CREATE INDEX CONCURRENTLY cannot run inside a transaction block';

function severalConcurrently(step: Step): boolean {
  return step.nonTransactional === true && (step.up.match(/CONCURRENTLY/g) ?? []).length > 1;
}

function tail(migrations: MigrationInfo[], skip: (m: MigrationInfo) => boolean = () => false): number {
  let n = 0;
  for (let i = migrations.length - 1; i >= 0; i--) {
    const m = migrations[i]!;
    if (skip(m)) continue;
    if (m.down !== 'sql' && m.down !== 'no-op') break;
    n++;
  }
  return n;
}

async function writeDiesel(root: string, steps: Step[]): Promise<HistoryFixture> {
  const dir = path.join(root, 'migrations');
  const migrations: MigrationInfo[] = [];
  for (const step of steps) {
    const folder = path.join(dir, step.names.diesel);
    await write(path.join(folder, 'up.sql'), step.up);
    const down = step.dieselDown ?? step.down;
    let kind: DownKind;
    if (down.kind === 'none') {
      kind = 'missing';
    } else {
      const { text, kind: k } = plainDown(down);
      await write(path.join(folder, 'down.sql'), text ?? '');
      kind = k === 'no-op' ? 'rejected' : k;
    }
    if (step.nonTransactional) {
      await write(
        path.join(folder, 'metadata.toml'),
        '# CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block\nrun_in_transaction = false\n',
      );
    }
    migrations.push({
      id: step.names.diesel,
      transactional: !step.nonTransactional,
      scriptManaged: false,
      down: kind,
      ...(severalConcurrently(step) ? { originToolRejects: ONE_QUERY_REJECTS } : {}),
    });
  }
  // Diesel applies in lexicographic order of the dash-stripped version (the folder name up to the first '_').
  const version = (id: string) => id.split('_')[0]!.replace(/-/g, '');
  migrations.sort((a, b) => (version(a.id) < version(b.id) ? -1 : version(a.id) > version(b.id) ? 1 : 0));
  return fixture('diesel', dir, migrations, tail(migrations));
}

const FLYWAY_NON_TX = '-- flyway:executeInTransaction=false\n';

async function writeFlyway(root: string, steps: Step[]): Promise<HistoryFixture> {
  const dir = path.join(root, 'db', 'migration');
  const migrations: MigrationInfo[] = [];
  for (const [i, step] of steps.entries()) {
    const stem = step.names.flyway;
    const version = stem.slice(1, stem.indexOf('__'));
    const description = stem.slice(stem.indexOf('__') + 2);
    const header = step.nonTransactional ? FLYWAY_NON_TX : '';
    await write(path.join(dir, `${stem}.sql`), header + step.up);
    if (step.nonTransactional) {
      // Flyway OSS reads only this side file (<script>.conf); the inline `-- flyway:` comment is widely written
      // but not in Flyway's OSS source, so both are present. Flyway would also detect CONCURRENTLY by itself.
      await write(path.join(dir, `${stem}.sql.conf`), 'executeInTransaction=false\n');
    }
    // Undo (U) files exist for the reversible tail and for one old migration whose undo is broken.
    let kind: DownKind = 'missing';
    if (i >= TAIL_START || step.down.kind === 'broken') {
      const down = step.down.kind === 'noop' ? { kind: 'noop' as const, style: 'comment' as const, comment: step.down.comment || '-- Nothing to undo.\n' } : step.down;
      const { text, kind: k } = plainDown(down);
      if (text !== null) {
        await write(path.join(dir, `U${version}__${description}.sql`), header + text);
        if (step.nonTransactional) await write(path.join(dir, `U${version}__${description}.sql.conf`), 'executeInTransaction=false\n');
        kind = k;
      }
    }
    // Flyway's PostgreSQL parser also runs ALTER TYPE ... ADD VALUE outside a transaction.
    const transactional = !step.nonTransactional && !/ALTER TYPE [^;]* ADD VALUE/i.test(step.up);
    migrations.push({ id: stem, transactional, scriptManaged: false, down: kind });
  }
  await write(path.join(dir, 'R__Tenant overview.sql'), TENANT_OVERVIEW_VIEW);
  migrations.push({ id: 'R__Tenant overview', transactional: true, scriptManaged: false, down: 'missing' });
  return fixture('flyway', dir, migrations, tail(migrations, (m) => m.id.startsWith('R__')));
}

async function writeGolangMigrate(root: string, steps: Step[]): Promise<HistoryFixture> {
  const dir = path.join(root, 'migrations');
  const migrations: MigrationInfo[] = [];
  for (const step of steps) {
    const stem = step.names.golang;
    const managed = step.scriptManaged === true;
    await write(path.join(dir, `${stem}.up.sql`), managed ? wrapTx(step.up) : step.up);
    const { text, kind } = plainDown(step.down);
    if (text !== null) await write(path.join(dir, `${stem}.down.sql`), managed && step.down.kind !== 'noop' ? wrapTx(text) : text);
    // The whole file is one simple-query Exec: PostgreSQL runs it in one implicit transaction.
    migrations.push({
      id: stem,
      transactional: !step.nonTransactional && !managed,
      scriptManaged: managed,
      down: kind,
      ...(severalConcurrently(step) ? { originToolRejects: `${ONE_QUERY_REJECTS} (unless x-multi-statement=true)` } : {}),
    });
  }
  return fixture('golang-migrate', dir, migrations, tail(migrations));
}

async function writeDbmate(root: string, steps: Step[]): Promise<HistoryFixture> {
  const dir = path.join(root, 'db', 'migrations');
  const migrations: MigrationInfo[] = [];
  for (const step of steps) {
    const stem = step.names.dbmate;
    const managed = step.scriptManaged === true;
    const opts = step.nonTransactional || managed ? ' transaction:false' : '';
    let downText: string;
    let kind: DownKind;
    if (step.down.kind === 'none') {
      downText = irreversibleSql(step, step.down.reason);
      kind = 'raises';
    } else {
      const d = plainDown(step.down);
      downText = d.text ?? '';
      kind = d.kind;
    }
    const up = managed ? wrapTx(step.up) : step.up;
    const down = managed && kind !== 'no-op' ? wrapTx(downText) : downText;
    await write(path.join(dir, `${stem}.sql`), `-- migrate:up${opts}\n${up}\n-- migrate:down${opts}\n${down}`);
    migrations.push({
      id: stem,
      transactional: !opts,
      scriptManaged: managed,
      down: kind,
      ...(severalConcurrently(step) ? { originToolRejects: ONE_QUERY_REJECTS } : {}),
    });
  }
  // dbmate applies in file-name order (byte-wise), not in numeric version order.
  migrations.sort((a, b) => (a.id + '.sql' < b.id + '.sql' ? -1 : 1));
  return fixture('dbmate', dir, migrations, tail(migrations));
}

function sqitchDate(i: number, hours = 0): string {
  const d = new Date(Date.UTC(2025, 0, 2 + i, 9 + hours, 0, 0));
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function writeSqitch(root: string, steps: Step[]): Promise<HistoryFixture> {
  const dir = path.join(root, SQITCH_PROJECT);
  await write(
    path.join(dir, 'sqitch.conf'),
    `[core]\n\tengine = pg\n\t# plan_file = sqitch.plan\n\t# top_dir = .\n[engine "pg"]\n\tregistry = sqitch\n`,
  );
  const plan: string[] = [
    '%syntax-version=1.0.0',
    `%project=${SQITCH_PROJECT}`,
    `%uri=${SQITCH_URI}`,
    '',
  ];
  const migrations: MigrationInfo[] = [];
  for (const [i, step] of steps.entries()) {
    // A reworked change: its earlier instance's scripts are name@TAG.sql, TAG = the first tag after it.
    const laterInstance = steps.findIndex((s, j) => j > i && s.key === step.key);
    let id = step.key;
    if (laterInstance >= 0) {
      const tag = SQITCH_TAGS.find((t) => t.after >= i);
      if (!tag) throw new Error(`no tag after ${step.key}`);
      id = `${step.key}@${tag.name}`;
    }
    const deps = [...(step.requires ?? []), ...(step.conflicts ?? []).map((c) => `!${c}`)];
    plan.push(
      `${step.key}${deps.length ? ` [${deps.join(' ')}]` : ''} ${sqitchDate(i)} ${PLANNER} <${PLANNER_EMAIL}> # ${step.note}`,
    );
    for (const tag of SQITCH_TAGS.filter((t) => t.after === i)) {
      plan.push(`@${tag.name} ${sqitchDate(i, 1)} ${PLANNER} <${PLANNER_EMAIL}> # ${tag.note}`);
    }
    const requiresComment = (step.requires ?? []).map((r) => `-- requires: ${r}\n`).join('');
    const deploy = step.nonTransactional
      ? `-- Deploy ${SQITCH_PROJECT}:${step.key} to pg\n${requiresComment}-- No BEGIN/COMMIT: CONCURRENTLY cannot run in a transaction block.\n\n${step.up}`
      : `-- Deploy ${SQITCH_PROJECT}:${step.key} to pg\n${requiresComment}\n${wrapTx(step.up)}`;
    let revert: string;
    let kind: DownKind;
    switch (step.down.kind) {
      case 'none':
        revert = `-- Revert ${SQITCH_PROJECT}:${step.key} from pg\n\n${wrapTx(irreversibleSql(step, step.down.reason))}`;
        kind = 'raises';
        break;
      case 'noop':
        revert = step.down.style === 'empty' ? '' : step.down.comment;
        kind = 'no-op';
        break;
      default:
        revert = step.nonTransactional
          ? `-- Revert ${SQITCH_PROJECT}:${step.key} from pg\n\n${step.down.sql}`
          : `-- Revert ${SQITCH_PROJECT}:${step.key} from pg\n\n${wrapTx(step.down.sql)}`;
        kind = step.down.kind === 'broken' ? 'broken' : 'sql';
    }
    const verify = `-- Verify ${SQITCH_PROJECT}:${step.key} on pg\n\nBEGIN;\n\n${step.verify}\nROLLBACK;\n`;
    await write(path.join(dir, 'deploy', `${id}.sql`), deploy);
    await write(path.join(dir, 'revert', `${id}.sql`), revert);
    await write(path.join(dir, 'verify', `${id}.sql`), verify);
    migrations.push({ id, transactional: false, scriptManaged: !step.nonTransactional, down: kind });
  }
  await write(path.join(dir, 'sqitch.plan'), `${plan.join('\n')}\n`);
  const external = [...new Set(steps.flatMap((s) => (s.requires ?? []).filter((r) => r.includes(':'))))];
  return { ...fixture('sqitch', dir, migrations, tail(migrations)), externalRequirements: external };
}

function fixture(layout: ForeignLayout, dir: string, migrations: MigrationInfo[], reversibleTail: number): HistoryFixture {
  return { layout, dir, ids: migrations.map((m) => m.id), reversibleTail, migrations, externalRequirements: [] };
}

export async function writeHistory(layout: ForeignLayout, root: string): Promise<HistoryFixture> {
  const steps = story();
  switch (layout) {
    case 'diesel':
      return writeDiesel(root, steps);
    case 'flyway':
      return writeFlyway(root, steps);
    case 'golang-migrate':
      return writeGolangMigrate(root, steps);
    case 'dbmate':
      return writeDbmate(root, steps);
    case 'sqitch':
      return writeSqitch(root, steps);
  }
}
