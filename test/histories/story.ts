/**
 * The schema history shared by every foreign-layout fixture: a small multi-tenant SaaS ("tenantdesk")
 * growing over 35 steps. Each layout writer (layouts.ts) renders these steps in its tool's on-disk
 * format and names; the SQL is the same everywhere, so a difference between layouts is a difference
 * in how the tool reads and runs files, never in the schema.
 *
 * All SQL here is original to this project. It avoids `${` (Flyway placeholders) and psql
 * meta-commands, so every tool can run it unchanged.
 */

/** What a step's down does, independent of the tool. The writers turn it into the tool's own form. */
export type StepDown =
  /** A real inverse of the up. */
  | { kind: 'sql'; sql: string }
  /** The up changes data only: nothing to undo in the schema. Rendered as an empty or comment-only down. */
  | { kind: 'noop'; style: 'empty' | 'comment'; comment: string }
  /** Irreversible: no down at all (or, where the tool requires a down, one that raises). */
  | { kind: 'none'; reason: string }
  /** An old, broken down: a SQL syntax error. */
  | { kind: 'broken'; sql: string };

export interface Step {
  /** snake_case; the Sqitch change name. */
  key: string;
  /** Per-layout names (folder / file stem) — see layouts.ts for the rules each one exercises. */
  names: { diesel: string; flyway: string; golang: string; dbmate: string };
  up: string;
  down: StepDown;
  /** Diesel (only) cannot run an empty or comment-only down.sql; this is what its down.sql holds instead. */
  dieselDown?: StepDown;
  /** Contains statements that cannot run inside a transaction block (CREATE/DROP INDEX CONCURRENTLY). */
  nonTransactional?: boolean;
  /** Written with its own BEGIN/COMMIT in the layouts whose users do that (golang-migrate, dbmate). */
  scriptManaged?: boolean;
  /** Sqitch: `requires` as written in the plan (may be deliberately incomplete), `!conflicts`, note. */
  requires?: string[];
  conflicts?: string[];
  note: string;
  /** Sqitch verify body (wrapped in BEGIN … ROLLBACK). */
  verify: string;
}

const MEMBER_COUNT_V1 = `CREATE OR REPLACE FUNCTION app.member_count(p_tenant bigint)
RETURNS integer
LANGUAGE sql
STABLE
AS $fn$
    SELECT count(*)::integer FROM members WHERE tenant_id = p_tenant
$fn$;
`;

const MEMBER_COUNT_V2 = `CREATE OR REPLACE FUNCTION app.member_count(p_tenant bigint)
RETURNS integer
LANGUAGE sql
STABLE
AS $fn$
    SELECT count(*)::integer FROM members WHERE tenant_id = p_tenant AND role <> 'guest'
$fn$;
`;

/** The repeatable view of the Flyway layout (R__), applied after all versioned migrations. */
export const TENANT_OVERVIEW_VIEW = `CREATE OR REPLACE VIEW tenant_overview AS
SELECT t.id,
       t.slug,
       t.tier,
       (SELECT count(*) FROM members m WHERE m.tenant_id = t.id) AS member_total,
       (SELECT count(*) FROM projects p WHERE p.tenant_id = t.id AND NOT p.archived) AS open_projects
  FROM tenants t;
`;

/** Index (0-based) of the first step of the reversible tail; everything from here on has a real down. */
export const TAIL_START = 29;

export function story(): Step[] {
  const steps: Step[] = [
    {
      key: 'setup',
      names: {
        diesel: '00000000000000_diesel_initial_setup',
        flyway: 'V1__Create app schema',
        golang: '1_setup',
        dbmate: '',
      },
      up: `CREATE SCHEMA app;

CREATE FUNCTION app.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$;
`,
      down: { kind: 'sql', sql: `DROP FUNCTION app.touch_updated_at();\nDROP SCHEMA app;\n` },
      note: 'App schema and the updated_at trigger helper',
      verify: `SELECT 'app.touch_updated_at()'::regprocedure;\n`,
    },
    {
      key: 'tenants',
      names: { diesel: '20140929103760_create_tenants', flyway: 'V1.1__create_tenants', golang: '2_create_tenants', dbmate: '' },
      up: `CREATE TYPE plan_tier AS ENUM ('free', 'team', 'business');

CREATE TABLE tenants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]+$'),
    display_name text NOT NULL,
    tier plan_tier NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
`,
      down: { kind: 'sql', sql: `DROP TABLE tenants;\nDROP TYPE plan_tier;\n` },
      requires: ['setup'],
      note: 'Tenants and their plan tier',
      verify: `SELECT id, slug, display_name, tier FROM tenants WHERE false;\n`,
    },
    {
      key: 'members',
      names: { diesel: '2017-10-08-193512_create_members', flyway: 'V1_2__create members', golang: '3_create_members', dbmate: '' },
      up: `CREATE TYPE member_role AS ENUM ('owner', 'admin', 'member', 'guest');

CREATE TABLE members (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL,
    full_name text,
    role member_role NOT NULL DEFAULT 'member',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX members_tenant_email_key ON members (tenant_id, lower(email));
`,
      down: { kind: 'sql', sql: `DROP TABLE members;\nDROP TYPE member_role;\n` },
      requires: ['tenants'],
      note: 'Members of a tenant, one email per tenant',
      verify: `SELECT id, tenant_id, email, role FROM members WHERE false;\n`,
    },
    {
      key: 'projects',
      names: { diesel: '2017-10-09-080000_create_projects', flyway: 'V1.3__create_projects', golang: '4_create_projects', dbmate: '' },
      up: `CREATE TABLE projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
`,
      down: { kind: 'sql', sql: `DROP TABLE projects;\n` },
      requires: ['tenants'],
      note: 'Projects',
      verify: `SELECT id, tenant_id, name, archived FROM projects WHERE false;\n`,
    },
    {
      key: 'tenant_settings',
      names: { diesel: '20171012101500_add_tenant_settings', flyway: 'V2__add tenant settings', golang: '5_add_tenant_settings', dbmate: '' },
      up: `ALTER TABLE tenants ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;\n`,
      down: { kind: 'sql', sql: `ALTER TABLE tenants DROP COLUMN settings;\n` },
      requires: ['tenants'],
      note: 'Free-form settings per tenant',
      verify: `SELECT settings FROM tenants WHERE false;\n`,
    },
    {
      key: 'plan_limits',
      names: { diesel: '2018-01-15-120000_seed_plan_limits', flyway: 'V2.1__seed_plan_limits', golang: '6_seed_plan_limits', dbmate: '' },
      up: `CREATE TABLE plan_limits (
    tier plan_tier PRIMARY KEY,
    max_members integer NOT NULL CHECK (max_members > 0),
    max_projects integer NOT NULL CHECK (max_projects > 0)
);

INSERT INTO plan_limits (tier, max_members, max_projects) VALUES
    ('free', 3, 1),
    ('team', 25, 20),
    ('business', 500, 1000);
`,
      down: { kind: 'sql', sql: `DROP TABLE plan_limits;\n` },
      requires: ['tenants'],
      note: 'Limits of each plan tier, with their rows',
      verify: `SELECT 1 / count(*) FROM plan_limits;\n`,
    },
    {
      key: 'tasks',
      names: { diesel: '2018-02-01-090000_create_tasks', flyway: 'V2.2__create_tasks', golang: '7_create_tasks', dbmate: '' },
      up: `CREATE TYPE task_status AS ENUM ('todo', 'doing', 'done');

CREATE TABLE tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title text NOT NULL,
    status task_status NOT NULL DEFAULT 'todo',
    assignee_id bigint REFERENCES members (id) ON DELETE SET NULL,
    legacy_ref text,
    due_on date,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tasks_project_status_idx ON tasks (project_id, status);

CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION app.touch_updated_at();
`,
      down: { kind: 'sql', sql: `DROP TABLE tasks;\nDROP TYPE task_status;\n` },
      requires: ['projects', 'members'],
      note: 'Tasks inside projects',
      verify: `SELECT id, project_id, title, status FROM tasks WHERE false;\n`,
    },
    {
      key: 'member_count',
      names: { diesel: '2018-02-01-093000_member_count_function', flyway: 'V2.3__member_count_function', golang: '8_member_count_function', dbmate: '' },
      up: MEMBER_COUNT_V1,
      down: { kind: 'sql', sql: `DROP FUNCTION app.member_count(bigint);\n` },
      requires: ['members'],
      note: 'Count the members of a tenant',
      verify: `SELECT app.member_count(0);\n`,
    },
    {
      key: 'active_projects',
      names: { diesel: '2018-03-10-111111_active_projects_view', flyway: 'V2.4__active_projects_view', golang: '9_active_projects_view', dbmate: '' },
      up: `CREATE VIEW active_projects AS
SELECT p.id, p.tenant_id, t.slug AS tenant_slug, p.name
  FROM projects p
  JOIN tenants t ON t.id = p.tenant_id
 WHERE NOT p.archived;
`,
      down: { kind: 'sql', sql: `DROP VIEW active_projects;\n` },
      requires: ['projects'],
      note: 'View of the projects that are not archived',
      verify: `SELECT id, tenant_slug FROM active_projects WHERE false;\n`,
    },
    {
      key: 'task_blocked_status',
      names: { diesel: '2018-05-02-140000_task_blocked_status', flyway: 'V2.5__task_blocked_status', golang: '10_task_blocked_status', dbmate: '' },
      up: `ALTER TYPE task_status ADD VALUE 'blocked' BEFORE 'done';\n`,
      down: { kind: 'none', reason: 'PostgreSQL cannot drop an enum value' },
      requires: ['tasks'],
      note: 'A blocked status; enum values cannot be removed',
      verify: `SELECT 'blocked'::task_status;\n`,
    },
    {
      key: 'activity_events',
      names: { diesel: '2019-01-07-080000_activity_events', flyway: 'V2.6__activity_events_partitioned', golang: '11_activity_events', dbmate: '' },
      up: `CREATE TABLE activity_events (
    tenant_id bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (tenant_id, occurred_at, kind)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE activity_events_2025h1 PARTITION OF activity_events
    FOR VALUES FROM ('2025-01-01 00:00:00+00') TO ('2025-07-01 00:00:00+00');
CREATE TABLE activity_events_2025h2 PARTITION OF activity_events
    FOR VALUES FROM ('2025-07-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
`,
      down: { kind: 'sql', sql: `DROP TABLE activity_events;\n` },
      requires: ['tenants'],
      note: 'Activity events, partitioned by half-year',
      verify: `SELECT tenant_id, occurred_at, kind FROM activity_events WHERE false;\n`,
    },
    {
      key: 'audit_log',
      names: { diesel: '2019-01-07-081500_audit_log', flyway: 'V2.7__audit_log', golang: '12_audit_log', dbmate: '' },
      up: `CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    tenant_id bigint,
    table_name text NOT NULL,
    row_id bigint,
    action text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    old_row jsonb,
    new_row jsonb
);

CREATE FUNCTION app.audit_row() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log (tenant_id, table_name, row_id, action, old_row)
        VALUES (OLD.tenant_id, TG_TABLE_NAME, OLD.id, TG_OP, to_jsonb(OLD));
    ELSE
        INSERT INTO audit_log (tenant_id, table_name, row_id, action, old_row, new_row)
        VALUES (NEW.tenant_id, TG_TABLE_NAME, NEW.id, TG_OP,
                CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END, to_jsonb(NEW));
    END IF;
    RETURN NULL;
END
$fn$;
`,
      down: { kind: 'sql', sql: `DROP FUNCTION app.audit_row();\nDROP TABLE audit_log;\n` },
      scriptManaged: true,
      requires: ['setup', 'auditkit:audit_sink'],
      // A same-project conflict must name a change of the plan (Sqitch dies on an unknown one); a cross-project
      // conflict is only looked up in the registry: deploy fails if auditkit's row_triggers is deployed.
      conflicts: ['auditkit:row_triggers'],
      note: 'Audit log table and its row trigger function',
      verify: `SELECT id, action FROM audit_log WHERE false;\nSELECT 'app.audit_row()'::regprocedure;\n`,
    },
    {
      key: 'tasks_audit',
      names: { diesel: '2019-01-07-082000_tasks_audit_trigger', flyway: 'V2.8__tasks_audit_trigger', golang: '13_tasks_audit_trigger', dbmate: '' },
      up: `CREATE TRIGGER tasks_audit AFTER INSERT OR UPDATE OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION app.audit_row();
`,
      down: { kind: 'sql', sql: `DROP TRIGGER tasks_audit ON tasks;\n` },
      // Deliberately incomplete: it also needs audit_log (app.audit_row), which it does not list.
      requires: ['tasks'],
      note: 'Audit every change to tasks',
      verify: `SELECT 1 / count(*) FROM pg_trigger WHERE tgname = 'tasks_audit';\n`,
    },
    {
      key: 'backfill_locale',
      names: { diesel: '2019-04-20-160000_backfill_locale', flyway: 'V2.9__backfill_locale', golang: '14_backfill_locale', dbmate: '' },
      up: `UPDATE tenants
   SET settings = settings || '{"locale": "en"}'::jsonb
 WHERE settings ->> 'locale' IS NULL;
`,
      down: { kind: 'sql', sql: `UPDATE tenants SET settings = settings - 'locale';\n` },
      // Diesel: a zero-byte down.sql is refused (EmptyMigration), so this migration cannot be reverted there.
      dieselDown: { kind: 'noop', style: 'empty', comment: '' },
      requires: ['tenant_settings'],
      note: 'Default locale for existing tenants',
      verify: `SELECT 1;\n`,
    },
    {
      key: 'task_comments',
      names: { diesel: '2019-06-30-235959_create_task_comments', flyway: 'V2.10__create task comments', golang: '15_create_task_comments', dbmate: '' },
      up: `CREATE TABLE task_comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    task_id bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    author_id bigint REFERENCES members (id) ON DELETE SET NULL,
    body text NOT NULL CHECK (length(body) <= 10000),
    created_at timestamptz NOT NULL DEFAULT now()
);
`,
      down: { kind: 'sql', sql: `DROP TABLE task_comments;\n` },
      requires: ['tasks'],
      note: 'Comments on tasks',
      verify: `SELECT id, task_id, body FROM task_comments WHERE false;\n`,
    },
    {
      key: 'comment_indexes',
      names: { diesel: '2019-07-01-000000_comment_indexes', flyway: 'V2.11__comment_indexes', golang: '16_comment_indexes', dbmate: '' },
      up: `CREATE INDEX CONCURRENTLY task_comments_task_idx ON task_comments (task_id, created_at);
CREATE INDEX CONCURRENTLY tasks_assignee_open_idx ON tasks (assignee_id) WHERE status <> 'done';
`,
      down: {
        kind: 'sql',
        sql: `DROP INDEX CONCURRENTLY tasks_assignee_open_idx;\nDROP INDEX CONCURRENTLY task_comments_task_idx;\n`,
      },
      nonTransactional: true,
      requires: ['task_comments'],
      note: 'Indexes built without locking writes',
      verify: `SELECT 'task_comments_task_idx'::regclass, 'tasks_assignee_open_idx'::regclass;\n`,
    },
    {
      key: 'invoices',
      names: { diesel: '2020-02-29-120000_billing_invoices', flyway: 'V3__billing invoices', golang: '17_billing_invoices', dbmate: '' },
      up: `CREATE SCHEMA billing;

CREATE TYPE billing.invoice_state AS ENUM ('draft', 'open', 'paid', 'void');

CREATE SEQUENCE billing.invoice_number_seq START 1000;

CREATE TABLE billing.invoices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    number bigint NOT NULL DEFAULT nextval('billing.invoice_number_seq') UNIQUE,
    state billing.invoice_state NOT NULL DEFAULT 'draft',
    issued_on date,
    currency char(3) NOT NULL DEFAULT 'EUR'
);

ALTER SEQUENCE billing.invoice_number_seq OWNED BY billing.invoices.number;
`,
      down: { kind: 'sql', sql: `DROP TABLE billing.invoices;\nDROP TYPE billing.invoice_state;\nDROP SCHEMA billing;\n` },
      requires: ['tenants'],
      note: 'Billing schema with invoices',
      verify: `SELECT id, number, state FROM billing.invoices WHERE false;\n`,
    },
    {
      key: 'invoice_lines',
      names: { diesel: '2020-03-01-080000_invoice_lines', flyway: 'V3.1__invoice_lines', golang: '18_invoice_lines', dbmate: '' },
      up: `CREATE TABLE billing.invoice_lines (
    invoice_id bigint NOT NULL REFERENCES billing.invoices (id) ON DELETE CASCADE,
    line_no integer NOT NULL,
    description text NOT NULL,
    quantity numeric(12, 3) NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

CREATE FUNCTION billing.invoice_total_cents(p_invoice bigint) RETURNS bigint
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    total bigint;
BEGIN
    SELECT coalesce(sum(round(quantity * unit_price_cents)), 0)::bigint
      INTO total
      FROM billing.invoice_lines
     WHERE invoice_id = p_invoice;
    RETURN total;
END
$fn$;
`,
      down: { kind: 'sql', sql: `DROP FUNCTION billing.invoice_total_cents(bigint);\nDROP TABLE billing.invoice_lines;\n` },
      requires: ['invoices'],
      note: 'Invoice lines and the invoice total',
      verify: `SELECT billing.invoice_total_cents(0);\n`,
    },
    {
      key: 'monthly_revenue',
      names: { diesel: '2020-03-01-081000_monthly_revenue', flyway: 'V3.2__monthly_revenue', golang: '19_monthly_revenue', dbmate: '' },
      up: `CREATE MATERIALIZED VIEW billing.monthly_revenue AS
SELECT i.tenant_id,
       date_trunc('month', i.issued_on)::date AS month,
       sum(l.quantity * l.unit_price_cents) AS cents
  FROM billing.invoices i
  JOIN billing.invoice_lines l ON l.invoice_id = i.id
 WHERE i.state = 'paid'
 GROUP BY 1, 2
WITH NO DATA;

CREATE UNIQUE INDEX monthly_revenue_key ON billing.monthly_revenue (tenant_id, month);
`,
      down: { kind: 'sql', sql: `DROP MATERIALIZED VIEW billing.monthly_revenue;\n` },
      requires: ['invoice_lines'],
      note: 'Monthly revenue per tenant (materialized)',
      verify: `SELECT 'billing.monthly_revenue'::regclass;\n`,
    },
    {
      key: 'member_display_name',
      names: { diesel: '2020-09-09-090909_rename_display_name', flyway: 'V3.3__rename_full_name', golang: '20_rename_display_name', dbmate: '' },
      up: `ALTER TABLE members RENAME COLUMN full_name TO display_name;\n`,
      down: { kind: 'sql', sql: `ALTER TABLE members RENAME COLUMN display_name TO full_name;\n` },
      requires: ['members'],
      note: 'Rename full_name to display_name',
      verify: `SELECT display_name FROM members WHERE false;\n`,
    },
    {
      key: 'email_domain',
      names: { diesel: '2021-01-01-000000_email_domain', flyway: 'V4__email_domain', golang: '21_email_domain', dbmate: '' },
      up: `CREATE DOMAIN app.email_address AS text
    CHECK (VALUE ~ '^[^@[:space:]]+@[^@[:space:]]+$');

ALTER TABLE members ALTER COLUMN email TYPE app.email_address;
`,
      down: { kind: 'sql', sql: `ALTER TABLE members ALTER COLUMN email TYPE text;\nDROP DOMAIN app.email_address;\n` },
      requires: ['members'],
      note: 'Email addresses are checked by a domain',
      verify: `SELECT 'x@y'::app.email_address;\n`,
    },
    {
      key: 'api_keys',
      names: { diesel: '2021-03-15-101010_api_keys', flyway: 'V5__api_keys', golang: '22_api_keys', dbmate: '' },
      up: `CREATE TABLE api_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    label text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    created_by bigint REFERENCES members (id) ON DELETE SET NULL,
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE INDEX api_keys_live_idx ON api_keys (tenant_id) WHERE revoked_at IS NULL;
`,
      down: { kind: 'sql', sql: `DROP TABLE api_keys;\n` },
      requires: ['members'],
      note: 'API keys, stored as hashes',
      verify: `SELECT id, key_hash FROM api_keys WHERE false;\n`,
    },
    {
      key: 'projects_rls',
      names: { diesel: '2021-11-30-170000_projects_rls', flyway: 'V6__projects_rls', golang: '23_projects_rls', dbmate: '' },
      up: `ALTER TABLE projects ENABLE ROW LEVEL SECURITY;

CREATE POLICY projects_tenant_isolation ON projects
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint);
`,
      down: { kind: 'sql', sql: `DROP POLICY projects_tenant_isolation ON projects;\nALTER TABLE projects DISABLE ROW LEVEL SECURITY;\n` },
      requires: ['projects'],
      note: 'Row level security: a session sees its own tenant only',
      verify: `SELECT 1 / count(*) FROM pg_policy WHERE polname = 'projects_tenant_isolation';\n`,
    },
    {
      key: 'activity_partitions',
      names: { diesel: '2022-01-01-000001_activity_partitions', flyway: 'V7__activity_partitions', golang: '24_activity_partitions', dbmate: '' },
      up: `CREATE TABLE activity_events_2026h1 PARTITION OF activity_events
    FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-07-01 00:00:00+00');
CREATE TABLE activity_events_default PARTITION OF activity_events DEFAULT;

CREATE INDEX activity_events_kind_idx ON activity_events (kind);
`,
      down: {
        kind: 'sql',
        sql: `DROP INDEX activity_events_kind_idx;\nDROP TABLE activity_events_default;\nDROP TABLE activity_events_2026h1;\n`,
      },
      requires: ['activity_events'],
      note: 'One more partition, a default partition and a partitioned index',
      verify: `SELECT 'activity_events_default'::regclass;\n`,
    },
    {
      key: 'comment_bump',
      names: { diesel: '2022-06-06-060606_comment_bump_trigger', flyway: 'V8__comment_bump_trigger', golang: '25_comment_bump_trigger', dbmate: '' },
      up: `CREATE FUNCTION app.bump_task_on_comment() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    UPDATE tasks SET updated_at = now() WHERE id = NEW.task_id;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER task_comments_bump AFTER INSERT ON task_comments
    FOR EACH ROW EXECUTE FUNCTION app.bump_task_on_comment();
`,
      down: {
        kind: 'sql',
        sql: `DROP TRIGGER task_comments_bump ON task_comments;\nDROP FUNCTION app.bump_task_on_comment();\n`,
      },
      requires: ['task_comments'],
      note: 'A new comment bumps its task',
      verify: `SELECT 'app.bump_task_on_comment()'::regprocedure;\n`,
    },
    {
      key: 'demo_tenants',
      names: { diesel: '2023-02-14-120000-0000_demo_tenants', flyway: 'V9__demo_tenants', golang: '26_demo_tenants', dbmate: '' },
      up: `INSERT INTO tenants (slug, display_name, tier) VALUES
    ('acme', 'Acme Rockets', 'team'),
    ('globex', 'Globex Corporation', 'business');

INSERT INTO projects (tenant_id, name)
SELECT id, 'Onboarding' FROM tenants WHERE slug IN ('acme', 'globex');
`,
      down: {
        kind: 'sql',
        sql: `DELETE FROM projects WHERE name = 'Onboarding'\n   AND tenant_id IN (SELECT id FROM tenants WHERE slug IN ('acme', 'globex'));\nDELETE FROM tenants WHERE slug IN ('acme', 'globex');\n`,
      },
      // Diesel: a down.sql holding only a comment reaches the server as an empty query, which Diesel refuses.
      dieselDown: { kind: 'noop', style: 'comment', comment: '-- Demo rows are left in place: nothing to undo here.\n' },
      requires: ['projects'],
      note: 'Two demo tenants with an onboarding project',
      verify: `SELECT 1 / count(*) FROM tenants WHERE slug = 'acme';\n`,
    },
    {
      key: 'labels',
      names: { diesel: '2023-02-14-120000-0001_labels', flyway: 'V010__labels', golang: '27_labels', dbmate: '' },
      up: `CREATE TABLE labels (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL,
    color text NOT NULL DEFAULT '#888888' CHECK (color ~ '^#[0-9a-f]{6}$'),
    UNIQUE (tenant_id, name)
);

CREATE TABLE task_labels (
    task_id bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    label_id bigint NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, label_id)
);
`,
      down: { kind: 'broken', sql: `DROP TABLE task_labels;\nDROP TABEL labels;\n` },
      requires: ['tasks'],
      note: 'Labels on tasks',
      verify: `SELECT id, name, color FROM labels WHERE false;\n`,
    },
    {
      key: 'invoice_issue_check',
      names: { diesel: '20231001000000_invoice_issue_check', flyway: 'V11__invoice_issue_check', golang: '28_invoice_issue_check', dbmate: '' },
      up: `ALTER TABLE billing.invoices
    ADD CONSTRAINT invoices_issued_when_open CHECK (state = 'draft' OR issued_on IS NOT NULL);
`,
      down: { kind: 'sql', sql: `ALTER TABLE billing.invoices DROP CONSTRAINT invoices_issued_when_open;\n` },
      requires: ['invoices'],
      note: 'An invoice past draft has an issue date',
      verify: `SELECT 1 / count(*) FROM pg_constraint WHERE conname = 'invoices_issued_when_open';\n`,
    },
    {
      key: 'drop_legacy_ref',
      names: { diesel: '2025-12-01-090000-0000_drop_legacy_ref', flyway: 'V12__drop_legacy_ref', golang: '29_drop_legacy_ref', dbmate: '' },
      up: `ALTER TABLE tasks DROP COLUMN legacy_ref;\n`,
      down: { kind: 'none', reason: 'the dropped legacy_ref data cannot be brought back' },
      requires: ['tasks'],
      note: 'Drop the legacy reference column for good',
      verify: `SELECT 1 / (1 - count(*)) FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'legacy_ref';\n`,
    },
    // ---- reversible tail (TAIL_START) ----
    {
      key: 'webhooks',
      names: { diesel: '2026-07-15-182934-0000_webhooks', flyway: 'V20250301120000__webhooks', golang: '20250301120000_webhooks', dbmate: '' },
      up: `CREATE TABLE webhooks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    target_url text NOT NULL CHECK (target_url LIKE 'https://%'),
    events text[] NOT NULL DEFAULT '{}',
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
`,
      down: { kind: 'sql', sql: `DROP TABLE webhooks;\n` },
      requires: ['tenants'],
      note: 'Outgoing webhooks per tenant',
      verify: `SELECT id, target_url, events FROM webhooks WHERE false;\n`,
    },
    {
      key: 'archive_zz_projects',
      names: {
        diesel: '2026-07-15-182934-0001_archive_zz_projects',
        flyway: 'V20250301120500__archive zz projects',
        golang: '20250301120500_archive_zz_projects',
        dbmate: '',
      },
      up: `UPDATE projects SET archived = true WHERE name LIKE 'zz-%';\n`,
      down: { kind: 'noop', style: 'empty', comment: '' },
      dieselDown: {
        kind: 'sql',
        sql: `-- Nothing to undo: a data-only change. Diesel refuses an empty or comment-only down.sql,\n-- so the down runs one harmless statement.\nSELECT 1;\n`,
      },
      requires: ['projects'],
      note: 'Archive the projects named zz-*',
      verify: `SELECT 1;\n`,
    },
    {
      key: 'member_count',
      names: {
        diesel: '2026-07-16-090000-0000_member_count_excludes_guests',
        flyway: 'V20250302090000__member_count_excludes_guests',
        golang: '20250302090000_member_count_excludes_guests',
        dbmate: '',
      },
      up: MEMBER_COUNT_V2,
      down: { kind: 'sql', sql: MEMBER_COUNT_V1 },
      requires: ['member_count@v1.0'],
      note: 'Guests no longer count as members',
      verify: `SELECT 1 / position('guest' IN prosrc) FROM pg_proc WHERE oid = 'app.member_count(bigint)'::regprocedure;\n`,
    },
    {
      key: 'webhooks_flag',
      names: { diesel: '2026-07-16-090000-0001_webhooks_flag', flyway: 'V20250302091500__webhooks_flag', golang: '20250302091500_webhooks_flag', dbmate: '' },
      up: `UPDATE tenants
   SET settings = jsonb_set(settings, '{webhooks}', 'true'::jsonb)
 WHERE tier = 'business';
`,
      down: { kind: 'noop', style: 'comment', comment: '-- Nothing to undo: the flag is harmless for tenants without webhooks.\n' },
      dieselDown: { kind: 'sql', sql: `UPDATE tenants SET settings = settings - 'webhooks' WHERE tier = 'business';\n` },
      requires: ['webhooks', 'tenant_settings'],
      note: 'Turn webhooks on for business tenants',
      verify: `SELECT 1;\n`,
    },
    {
      key: 'live_webhooks',
      names: { diesel: '2026-07-20-101500-0000_live_webhooks', flyway: 'V20250303100000__live webhooks view', golang: '20250303100000_live_webhooks', dbmate: '' },
      up: `ALTER TABLE webhooks ADD COLUMN disabled_at timestamptz;

CREATE VIEW live_webhooks AS
SELECT id, tenant_id, target_url, events
  FROM webhooks
 WHERE disabled_at IS NULL;
`,
      down: { kind: 'sql', sql: `DROP VIEW live_webhooks;\nALTER TABLE webhooks DROP COLUMN disabled_at;\n` },
      requires: ['webhooks'],
      note: 'Webhooks can be disabled; view of the live ones',
      verify: `SELECT id FROM live_webhooks WHERE false;\n`,
    },
    {
      key: 'webhooks_tenant_idx',
      names: {
        diesel: '2026-07-20-101600-0000_webhooks_tenant_index',
        flyway: 'V20250303100500__webhooks_tenant_index',
        golang: '20250303100500_webhooks_tenant_index',
        dbmate: '',
      },
      up: `CREATE INDEX CONCURRENTLY webhooks_tenant_idx ON webhooks (tenant_id);\n`,
      down: { kind: 'sql', sql: `DROP INDEX CONCURRENTLY webhooks_tenant_idx;\n` },
      nonTransactional: true,
      requires: ['webhooks'],
      note: 'Index webhooks by tenant without locking writes',
      verify: `SELECT 'webhooks_tenant_idx'::regclass;\n`,
    },
  ];
  // dbmate: 14-digit timestamps, except step 6, which an old dbmate user wrote as a bare date. dbmate orders by
  // FILE NAME, so '20250105090000_add_tenant_settings.sql' < '20250105_seed_plan_limits.sql' ('0' < '_'),
  // while a numeric order would run 20250105 first of all (before plan_tier exists) and fail.
  steps.forEach((step, i) => {
    const n = i + 1;
    let version: string;
    if (i >= TAIL_START) version = step.names.golang.split('_')[0]!;
    else if (n <= 5) version = `202501${String(n).padStart(2, '0')}090000`;
    else if (n === 6) version = '20250105';
    else version = `202501${String(n - 1).padStart(2, '0')}090000`;
    step.names.dbmate = `${version}_${step.names.golang.slice(step.names.golang.indexOf('_') + 1)}`;
  });
  return steps;
}
