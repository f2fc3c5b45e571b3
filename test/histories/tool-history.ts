/**
 * Creates the origin tool's OWN history table(s), exactly as the tool creates them, holding the first
 * `appliedCount` migrations the way the tool records them. A pgfm test uses it to start from a database that the
 * foreign tool has been managing ("adopt an existing history").
 *
 * - Diesel: __diesel_schema_migrations(version VARCHAR(50) PK, run_on TIMESTAMP DEFAULT CURRENT_TIMESTAMP), one
 *   row per migration, version = folder name up to '_' without dashes.
 * - Flyway: flyway_schema_history in current_schema(), one SQL row per script (installed_rank from 1, normalized
 *   version or NULL for R__, description, 'SQL', script path, CRC32 checksum, current_user, now(), ms, true).
 * - golang-migrate: schema_migrations(version bigint PK, dirty boolean), ONE row: the last applied version.
 * - dbmate: schema_migrations(version varchar PK), one row per applied file (leading digits as text).
 * - Sqitch: the `sqitch` registry schema (releases, projects, changes, tags, dependencies, events) as pg.sql
 *   creates it, with the release row, the project row and, per applied change, its changes / dependencies /
 *   tags / 'deploy' event rows. A cross-project requirement (`auditkit:audit_sink`) is registered as a deployed
 *   change of its own project, as it would be on a real database (Sqitch refuses to deploy otherwise).
 */
import pg from 'pg';
import type { ForeignLayout, HistoryFixture } from './layouts.js';
import { readHistory, readSqitchPlan, sqitchChangeId, sqitchScriptHash, type ForeignMigration, type SqitchChange, type SqitchPlan } from './read-history.js';
import { promises as fs } from 'node:fs';

export const SQITCH_COMMITTER = { name: 'pgfm test', email: 'pgfm-test@example.com' };

export const DIESEL_TABLE_DDL = `CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);`;

export function flywayTableDdl(schema: string, table = 'flyway_schema_history'): string {
  const t = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  return `CREATE TABLE ${t} (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE ${t} ADD CONSTRAINT ${pg.escapeIdentifier(`${table}_pk`)} PRIMARY KEY ("installed_rank");
CREATE INDEX ${pg.escapeIdentifier(`${table}_s_idx`)} ON ${t} ("success");`;
}

export function golangMigrateTableDdl(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier('schema_migrations')} (version bigint not null primary key, dirty boolean not null)`;
}

/** dbmate quotes each part with quote_ident(), so a plain schema name stays unquoted. */
export function dbmateTableDdl(quotedSchema: string): string {
  return `create table if not exists ${quotedSchema}.schema_migrations (version varchar primary key)`;
}

/** Sqitch's pg registry: the tables, columns and constraints Sqitch's registry has (schema sqitch), which baseline reads. */
export const SQITCH_REGISTRY_DDL = `
CREATE SCHEMA IF NOT EXISTS sqitch;

CREATE TABLE sqitch.releases (
    version         REAL        PRIMARY KEY,
    installed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    installer_name  TEXT        NOT NULL,
    installer_email TEXT        NOT NULL
);

CREATE TABLE sqitch.projects (
    project         TEXT        PRIMARY KEY,
    uri             TEXT            NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    creator_name    TEXT        NOT NULL,
    creator_email   TEXT        NOT NULL
);

CREATE TABLE sqitch.changes (
    change_id       TEXT        PRIMARY KEY,
    script_hash     TEXT            NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, script_hash)
);

CREATE TABLE sqitch.tags (
    tag_id          TEXT        PRIMARY KEY,
    tag             TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    change_id       TEXT        NOT NULL REFERENCES sqitch.changes(change_id) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, tag)
);

CREATE TABLE sqitch.dependencies (
    change_id       TEXT        NOT NULL REFERENCES sqitch.changes(change_id) ON UPDATE CASCADE ON DELETE CASCADE,
    type            TEXT        NOT NULL,
    dependency      TEXT        NOT NULL,
    dependency_id   TEXT            NULL REFERENCES sqitch.changes(change_id) ON UPDATE CASCADE CONSTRAINT dependencies_check CHECK (
            (type = 'require'  AND dependency_id IS NOT NULL)
         OR (type = 'conflict' AND dependency_id IS NULL)
    ),
    PRIMARY KEY (change_id, dependency)
);

CREATE TABLE sqitch.events (
    event           TEXT        NOT NULL CONSTRAINT events_event_check CHECK (
        event IN ('deploy', 'revert', 'fail', 'merge')
    ),
    change_id       TEXT        NOT NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    requires        TEXT[]      NOT NULL DEFAULT '{}',
    conflicts       TEXT[]      NOT NULL DEFAULT '{}',
    tags            TEXT[]      NOT NULL DEFAULT '{}',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    PRIMARY KEY (change_id, committed_at)
);
`;

/** The planned date given to an external change registered for a cross-project requirement. */
const EXTERNAL_PLANNED_AT = '2024-12-01T00:00:00Z';

/** The change id under which recordToolHistory registers an external requirement `project:change`. */
export function sqitchExternalChangeId(dependency: string): string {
  const [project, name] = dependency.split(':') as [string, string];
  return sqitchChangeId({
    project,
    uri: null,
    name,
    parentId: null,
    planner: SQITCH_COMMITTER.name,
    email: SQITCH_COMMITTER.email,
    timestamp: EXTERNAL_PLANNED_AT,
    requires: [],
    conflicts: [],
    note: '',
  });
}

async function withClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function currentSchema(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ s: string }>('SELECT current_schema() AS s');
  return rows[0]!.s;
}

/** Resolves a requirement of `changes[index]` the way Sqitch's deploy does. */
function resolveRequire(changes: SqitchChange[], index: number, dep: string, project: string): string {
  const ext = /^([^:]+):(.+)$/.exec(dep);
  if (ext && ext[1] !== project) return sqitchExternalChangeId(dep);
  const key = ext ? ext[2]! : dep;
  const [name, tag] = key.split('@') as [string, string | undefined];
  if (tag !== undefined && name === '') {
    const tagged = changes.find((c) => c.tags.some((t) => t.name === tag));
    if (!tagged) throw new Error(`sqitch: unknown tag @${tag}`);
    return tagged.id;
  }
  if (tag !== undefined) {
    const tagAt = changes.findIndex((c) => c.tags.some((t) => t.name === tag));
    const instance = changes.slice(0, tagAt + 1).filter((c) => c.name === name).pop();
    if (!instance) throw new Error(`sqitch: ${key} does not resolve`);
    return instance.id;
  }
  // By name: the earliest deployed instance (DBIEngine change_id_for: ORDER BY committed_at ASC).
  const instance = changes.slice(0, index).find((c) => c.name === name);
  if (!instance) throw new Error(`sqitch: ${key} does not resolve before ${changes[index]!.name}`);
  return instance.id;
}

async function recordSqitch(client: pg.Client, plan: SqitchPlan, migrations: ForeignMigration[], appliedCount: number): Promise<void> {
  const changes = plan.changes;
  const project = plan.project;
  const { name: user, email } = SQITCH_COMMITTER;
  await client.query('BEGIN');
  await client.query(SQITCH_REGISTRY_DDL);
  await client.query('INSERT INTO sqitch.releases (version, installed_at, installer_name, installer_email) VALUES ($1, clock_timestamp(), $2, $3)', [1.1, user, email]);
  await client.query('COMMIT');
  await client.query('INSERT INTO sqitch.projects (project, uri, creator_name, creator_email) VALUES ($1, $2, $3, $4)', [project, plan.uri, user, email]);

  const applied = migrations.slice(0, appliedCount);
  // External requirements of the applied changes: deployed earlier by their own project.
  const externals = [...new Set(applied.flatMap((m) => m.sqitch!.requires.filter((r) => r.includes(':'))))];
  for (const dep of externals) {
    const [extProject, extChange] = dep.split(':') as [string, string];
    await client.query('INSERT INTO sqitch.projects (project, uri, creator_name, creator_email) VALUES ($1, NULL, $2, $3) ON CONFLICT DO NOTHING', [extProject, user, email]);
    const id = sqitchExternalChangeId(dep);
    await client.query(
      `INSERT INTO sqitch.changes (change_id, script_hash, change, project, note, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at)
       VALUES ($1, NULL, $2, $3, '', $4, $5, $6, $4, $5, clock_timestamp())`,
      [id, extChange, extProject, user, email, EXTERNAL_PLANNED_AT],
    );
    await client.query(
      `INSERT INTO sqitch.events (event, change_id, change, project, note, tags, requires, conflicts, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at)
       VALUES ('deploy', $1, $2, $3, '', '{}', '{}', '{}', $4, $5, $6, $4, $5, clock_timestamp())`,
      [id, extChange, extProject, user, email, EXTERNAL_PLANNED_AT],
    );
  }

  for (const [index, m] of applied.entries()) {
    const c = m.sqitch!;
    const hash = sqitchScriptHash(await fs.readFile(m.up.file));
    // One DBI transaction per change: changes, dependencies, tags, event.
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO sqitch.changes (change_id, script_hash, change, project, note, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp())`,
      [c.id, hash, c.name, project, c.note, user, email, c.timestamp, c.planner, c.email],
    );
    for (const dep of c.requires) {
      await client.query(`INSERT INTO sqitch.dependencies (change_id, type, dependency, dependency_id) VALUES ($1, 'require', $2, $3)`, [
        c.id,
        dep,
        resolveRequire(changes, index, dep, project),
      ]);
    }
    for (const dep of c.conflicts) {
      await client.query(`INSERT INTO sqitch.dependencies (change_id, type, dependency, dependency_id) VALUES ($1, 'conflict', $2, NULL)`, [c.id, dep]);
    }
    for (const tag of c.tags) {
      await client.query(
        `INSERT INTO sqitch.tags (tag_id, tag, project, change_id, note, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp())`,
        [tag.id, `@${tag.name}`, project, c.id, tag.note, user, email, tag.timestamp, tag.planner, tag.email],
      );
    }
    await client.query(
      `INSERT INTO sqitch.events (event, change_id, change, project, note, tags, requires, conflicts, committer_name, committer_email, planned_at, planner_name, planner_email, committed_at)
       VALUES ('deploy', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, clock_timestamp())`,
      [c.id, c.name, project, c.note, c.tags.map((t) => `@${t.name}`), c.requires, c.conflicts, user, email, c.timestamp, c.planner, c.email],
    );
    await client.query('COMMIT');
  }
}

export async function recordToolHistory(
  layout: ForeignLayout,
  fixture: HistoryFixture,
  databaseUrl: string,
  appliedCount: number,
): Promise<void> {
  const migrations = await readHistory(layout, fixture.dir);
  if (appliedCount < 0 || appliedCount > migrations.length) throw new Error(`appliedCount ${appliedCount} out of range`);
  const applied = migrations.slice(0, appliedCount);
  await withClient(databaseUrl, async (client) => {
    switch (layout) {
      case 'diesel': {
        await client.query(DIESEL_TABLE_DDL);
        // One transaction per migration, so run_on (CURRENT_TIMESTAMP) grows like the real runs.
        for (const m of applied) await client.query('INSERT INTO __diesel_schema_migrations (version) VALUES ($1)', [m.version]);
        return;
      }
      case 'flyway': {
        const schema = await currentSchema(client);
        await client.query(flywayTableDdl(schema));
        const table = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier('flyway_schema_history')}`;
        for (const [i, m] of applied.entries()) {
          await client.query(
            `INSERT INTO ${table} ("installed_rank", "version", "description", "type", "script", "checksum", "installed_by", "execution_time", "success")
             VALUES ($1, $2, $3, 'SQL', $4, $5, current_user, $6, true)`,
            [i + 1, m.version, m.flyway!.description, m.flyway!.script, m.flyway!.checksum, 3 + (i % 7)],
          );
        }
        return;
      }
      case 'golang-migrate': {
        const schema = await currentSchema(client);
        await client.query(golangMigrateTableDdl(schema));
        const table = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier('schema_migrations')}`;
        await client.query('BEGIN');
        await client.query(`TRUNCATE ${table}`);
        const last = applied[applied.length - 1];
        if (last) await client.query(`INSERT INTO ${table} (version, dirty) VALUES ($1, $2)`, [last.version, false]);
        await client.query('COMMIT');
        return;
      }
      case 'dbmate': {
        const { rows } = await client.query<{ q: string }>('SELECT quote_ident(current_schema()) AS q');
        const quoted = rows[0]!.q;
        await client.query(dbmateTableDdl(quoted));
        for (const m of applied) await client.query(`insert into ${quoted}.schema_migrations (version) values ($1)`, [m.version]);
        return;
      }
      case 'sqitch':
        await recordSqitch(client, await readSqitchPlan(fixture.dir), migrations, appliedCount);
        return;
    }
  });
}
