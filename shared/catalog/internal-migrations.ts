import pg from 'pg';
import { ADVISORY_KEY_SQL } from '../db.js';
import { OperationError } from '../errors.js';
import { quoteIdent } from '../sql/quote.js';
import { checkName, STATUS_COLUMNS } from './statuses.js';
import type { Tables } from './tables.js';

interface InternalMigration {
  version: number;
  name: string;
  sql: (t: Tables) => string;
}

/**
 * The catalog's own schema history. Append only: an applied entry is never edited,
 * a change is a new entry.
 */
const INTERNAL_MIGRATIONS: InternalMigration[] = [
  {
    version: 1,
    name: 'catalog',
    sql: (t) => `
CREATE TABLE ${t.schema_versions} (
  version                     text PRIMARY KEY,
  major_version               integer NOT NULL,
  minor_version               integer NOT NULL,
  patch_version               integer NOT NULL,
  build_version               integer NOT NULL DEFAULT 0,
  version_type                text NOT NULL CHECK (version_type IN ('major', 'minor', 'patch', 'hotfix')),
  description                 text,
  release_notes               text,
  affected_schemas            text[] NOT NULL DEFAULT '{}',
  affected_industries         text[] NOT NULL DEFAULT '{}',
  requires_previous_version   text REFERENCES ${t.schema_versions} (version),
  blocks_versions             text[] NOT NULL DEFAULT '{}',
  breaking_changes            text[] NOT NULL DEFAULT '{}',
  deprecations                text[] NOT NULL DEFAULT '{}',
  new_features                text[] NOT NULL DEFAULT '{}',
  requires_maintenance_window boolean NOT NULL DEFAULT false,
  registered_at               timestamptz NOT NULL DEFAULT now(),
  UNIQUE (major_version, minor_version, patch_version, build_version)
);

CREATE TABLE ${t.migrations} (
  migration_id      text PRIMARY KEY,
  name              text NOT NULL,
  description       text,
  migration_type    text NOT NULL,
  migration_category text NOT NULL,
  impact_level      text NOT NULL,
  schema_version    text REFERENCES ${t.schema_versions} (version),
  target_schemas    text[] NOT NULL DEFAULT '{}',
  target_tables     text[] NOT NULL DEFAULT '{}',
  depends_on        text[],
  blocks            text[] NOT NULL DEFAULT '{}',
  up_sql            text NOT NULL,
  down_sql          text,
  verify_sql        text,
  -- Parsed statements of up/down/verify: workers on any host execute these, not local files.
  scripts           jsonb NOT NULL,
  definition        jsonb NOT NULL,
  checksum          text NOT NULL,
  file_checksums    jsonb NOT NULL,
  registered_at     timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ${t.coordinated_sets} (
  set_id                  text PRIMARY KEY,
  name                    text NOT NULL,
  description             text,
  members                 text[] NOT NULL,
  coordination_order      jsonb NOT NULL,
  rollback_all_on_failure boolean NOT NULL,
  can_partial_execute     boolean NOT NULL,
  registered_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ${t.runs} (
  run_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment  text NOT NULL,
  direction    text NOT NULL CHECK (direction IN ('up', 'down')),
  status       text NOT NULL DEFAULT 'running'
               CHECK (status IN ('running', 'paused', 'completed', 'failed', 'rolling_back', 'rolled_back', 'cancelled')),
  target       text,
  set_id       text REFERENCES ${t.coordinated_sets} (set_id),
  rollback_of  uuid REFERENCES ${t.runs} (run_id),
  auto_rollback boolean NOT NULL DEFAULT true,
  plan         jsonb NOT NULL,
  plan_hash    text NOT NULL,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  error        text,
  error_code   text
);
-- One active run per environment: two producers racing for the same work collide here.
CREATE UNIQUE INDEX runs_one_active_per_environment ON ${t.runs} (environment)
  WHERE status IN ('running', 'paused', 'rolling_back');

CREATE TABLE ${t.steps} (
  step_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id           uuid NOT NULL REFERENCES ${t.runs} (run_id),
  migration_id     text NOT NULL REFERENCES ${t.migrations} (migration_id),
  direction        text NOT NULL CHECK (direction IN ('up', 'down')),
  stage            integer NOT NULL,
  kind             text NOT NULL,
  -- The definition this step was planned with; a worker refuses to run a different one.
  checksum         text NOT NULL,
  -- Bumped when an operator re-drives the step, so its job id changes.
  generation       integer NOT NULL DEFAULT 0,
  status           text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'cancelled')),
  attempts         integer NOT NULL DEFAULT 0,
  statements_done  integer NOT NULL DEFAULT 0,
  -- Backfills: last key done (JSON array of key values as text) and rows changed so far.
  checkpoint       jsonb,
  rows_done        bigint NOT NULL DEFAULT 0,
  worker_id        text,
  started_at       timestamptz,
  finished_at      timestamptz,
  last_error       text,
  last_sqlstate    text,
  UNIQUE (run_id, migration_id, direction)
);
CREATE INDEX steps_by_status ON ${t.steps} (status) WHERE status IN ('pending', 'queued', 'running');

-- A backfill's key space, split into ranges that workers process in parallel.
CREATE TABLE ${t.chunks} (
  chunk_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  step_id         bigint NOT NULL REFERENCES ${t.steps} (step_id),
  run_id          uuid NOT NULL REFERENCES ${t.runs} (run_id),
  chunk_no        integer NOT NULL,
  lower_bound     jsonb,            -- exclusive; NULL: from the first key
  upper_bound     jsonb,            -- inclusive; NULL: to the last key
  checkpoint      jsonb,            -- last key done; committed with each sub-batch
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'paused', 'cancelled')),
  generation      integer NOT NULL DEFAULT 0,
  keys_total      bigint NOT NULL,
  keys_done       bigint NOT NULL DEFAULT 0,
  rows_changed    bigint NOT NULL DEFAULT 0,
  batches         integer NOT NULL DEFAULT 0,
  batch_size      integer,
  last_batch_ms   numeric,
  throttle_state  text,
  attempts        integer NOT NULL DEFAULT 0,
  worker_id       text,
  started_at      timestamptz,
  heartbeat_at    timestamptz,
  finished_at     timestamptz,
  last_error      text,
  last_sqlstate   text,
  UNIQUE (step_id, chunk_no)
);
CREATE INDEX chunks_open ON ${t.chunks} (step_id, status) WHERE status IN ('pending', 'queued', 'running', 'paused');

CREATE TABLE ${t.migration_status} (
  migration_id           text NOT NULL REFERENCES ${t.migrations} (migration_id),
  environment            text NOT NULL,
  status                 text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'rolled_back')),
  applied_checksum       text,
  applied_file_checksums jsonb,
  applied_at             timestamptz,
  rolled_back_at         timestamptz,
  -- A backfill's table of old values, restored by its rollback.
  backup_table           text,
  run_id                 uuid REFERENCES ${t.runs} (run_id),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration_id, environment)
);

CREATE TABLE ${t.version_deployments} (
  version     text NOT NULL REFERENCES ${t.schema_versions} (version),
  environment text NOT NULL,
  deployed_at timestamptz NOT NULL DEFAULT now(),
  run_id      uuid REFERENCES ${t.runs} (run_id),
  PRIMARY KEY (version, environment)
);

CREATE TABLE ${t.migration_executions} (
  execution_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  migration_id     text NOT NULL REFERENCES ${t.migrations} (migration_id),
  environment      text NOT NULL,
  database_name    text NOT NULL DEFAULT current_database(),
  server_hostname  text,
  execution_type   text NOT NULL CHECK (execution_type IN ('forward', 'rollback', 'validation', 'test')),
  run_id           uuid REFERENCES ${t.runs} (run_id),
  step_id          bigint REFERENCES ${t.steps} (step_id),
  attempt          integer NOT NULL DEFAULT 1,
  worker_id        text,
  -- The backend that ran the attempt: an attempt is abandoned only once this backend is gone.
  backend_pid      integer NOT NULL DEFAULT pg_backend_pid(),
  executed_by      text,
  execution_method text NOT NULL DEFAULT 'automated',
  started_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  completed_at     timestamptz,
  duration_ms      numeric GENERATED ALWAYS AS (EXTRACT(EPOCH FROM (completed_at - started_at)) * 1000) STORED,
  execution_status text NOT NULL DEFAULT 'running'
                   CHECK (execution_status IN ('running', 'completed', 'failed', 'abandoned', 'skipped', 'dispatched')),
  rows_affected    bigint,
  statements_done  integer NOT NULL DEFAULT 0,
  error_message    text,
  error_code       text,
  error_details    jsonb,
  validation_passed boolean
);
CREATE INDEX migration_executions_by_migration ON ${t.migration_executions} (migration_id, environment, started_at);
CREATE INDEX migration_executions_by_step ON ${t.migration_executions} (step_id);

CREATE TABLE ${t.rollback_plans} (
  migration_id        text PRIMARY KEY REFERENCES ${t.migrations} (migration_id),
  rollback_strategy   text NOT NULL CHECK (rollback_strategy IN ('sql_script', 'backup_restore', 'irreversible')),
  validation_queries  text[] NOT NULL DEFAULT '{}',
  risk_level          text NOT NULL,
  potential_data_loss boolean NOT NULL,
  rollback_timeout_seconds numeric NOT NULL
);

CREATE TABLE ${t.migration_tests} (
  test_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  migration_id   text NOT NULL REFERENCES ${t.migrations} (migration_id),
  test_name      text NOT NULL,
  test_type      text NOT NULL,
  description    text,
  test_sql       text NOT NULL,
  expected_result jsonb,
  setup_sql      text,
  teardown_sql   text,
  max_execution_time_seconds numeric,
  environments   text[] NOT NULL,
  UNIQUE (migration_id, test_name)
);

CREATE TABLE ${t.test_executions} (
  test_execution_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  test_id          bigint NOT NULL REFERENCES ${t.migration_tests} (test_id) ON DELETE CASCADE,
  execution_id     bigint REFERENCES ${t.migration_executions} (execution_id),
  environment      text NOT NULL,
  executed_at      timestamptz NOT NULL DEFAULT now(),
  test_status      text NOT NULL CHECK (test_status IN ('passed', 'failed', 'error')),
  execution_time_ms numeric,
  actual_result    jsonb,
  error_message    text,
  result_matches_expected boolean,
  performance_within_limits boolean
);

CREATE TABLE ${t.audit_log} (
  audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor        text NOT NULL,
  action       text NOT NULL,
  environment  text,
  run_id       uuid,
  migration_id text,
  details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON ${t.audit_log} (at);

CREATE TABLE ${t.coordinator_lease} (
  name        text PRIMARY KEY,
  holder      text NOT NULL,
  acquired_at timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'chunk key marks',
    // Keys at every mark_keys-th position of a chunk's range, read from the key index when the
    // backfill is split (while its pages are still all-visible): sub-batches end on a mark
    // instead of walking the index (and, on pages the fleet has already changed, the heap) to
    // find their upper bound. next_mark is committed with the checkpoint.
    sql: (t) => `
ALTER TABLE ${t.chunks}
  ADD COLUMN marks     jsonb,
  ADD COLUMN mark_keys integer,
  ADD COLUMN next_mark integer NOT NULL DEFAULT 0;
`,
  },
  {
    version: 3,
    name: 'status checks from the lifecycle constants',
    // From here on the CHECK constraints are generated from shared/catalog/statuses.ts. The
    // restore of a backfill now runs as chunks, so a step's own checkpoint is gone.
    sql: (t) => `${statusChecks(t)}
ALTER TABLE ${t.steps} DROP COLUMN checkpoint;
`,
  },
];

/** Re-creates every status CHECK constraint from the lists in statuses.ts. */
export function statusChecks(t: Tables): string {
  return STATUS_COLUMNS.map(({ table, column, values }) => {
    const name = quoteIdent(checkName(table, column));
    const list = values.map((value) => pg.escapeLiteral(value)).join(', ');
    return `ALTER TABLE ${t[table]} DROP CONSTRAINT IF EXISTS ${name}, ADD CONSTRAINT ${name} CHECK (${quoteIdent(column)} IN (${list}));`;
  }).join('\n');
}

export const CATALOG_VERSION = INTERNAL_MIGRATIONS.at(-1)!.version;

/**
 * Creates or upgrades the catalog. The whole upgrade is one transaction holding an
 * advisory lock on the schema, and each version inserts its own bookkeeping row, so
 * processes starting at once serialize: one applies, the others find it done.
 */
export async function migrateCatalog(pool: pg.Pool, t: Tables): Promise<{ applied: number[] }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(${ADVISORY_KEY_SQL})`, [`pgfm-catalog:${t.schemaName}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${t.internal_migrations} (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ max: number | null }>(`SELECT max(version) AS max FROM ${t.internal_migrations}`);
    const current = rows[0]?.max ?? 0;
    if (current > CATALOG_VERSION) {
      throw new OperationError(`catalog ${t.schemaName} is at version ${current}, newer than this build knows (${CATALOG_VERSION}); upgrade the fleet`);
    }
    const applied: number[] = [];
    for (const migration of INTERNAL_MIGRATIONS.filter((m) => m.version > current)) {
      await client.query(`INSERT INTO ${t.internal_migrations} (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      await client.query(migration.sql(t));
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return { applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
