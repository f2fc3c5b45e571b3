-- Base schema (5.0.0): tenants, users, auth helper, home services (hs), automotive (auto),
-- and the empty reporting schema later migrations build on.

CREATE SCHEMA IF NOT EXISTS tenant_mgmt;
CREATE SCHEMA IF NOT EXISTS user_mgmt;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS hs;
CREATE SCHEMA IF NOT EXISTS auto;
CREATE SCHEMA IF NOT EXISTS reporting_mgmt;

-- The tenant the current session acts for: `SET app.current_business_id = '<uuid>'`.
-- NULL when the setting is absent or empty, so RLS policies compare against NULL and match
-- nothing instead of raising.
CREATE OR REPLACE FUNCTION auth.get_current_business_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT NULLIF(current_setting('app.current_business_id', true), '')::uuid
$$;

CREATE TABLE IF NOT EXISTS tenant_mgmt.businesses (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    industry TEXT NOT NULL DEFAULT 'home_services'
        CHECK (industry IN ('home_services', 'automotive', 'veterinary', 'other')),
    timezone TEXT NOT NULL DEFAULT 'America/New_York',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS user_mgmt.users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'staff'
        CHECK (role IN ('owner', 'admin', 'dispatcher', 'technician', 'staff')),
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS idx_users_business ON user_mgmt.users(business_id);

CREATE TABLE IF NOT EXISTS hs.customers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID NOT NULL REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,

    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    company_name TEXT,
    email TEXT,
    phone_primary TEXT,
    phone_secondary TEXT,

    address_line1 TEXT,
    address_line2 TEXT,
    city TEXT,
    state TEXT,
    postal_code TEXT,
    country TEXT NOT NULL DEFAULT 'US',

    notes TEXT,

    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by UUID REFERENCES user_mgmt.users(id),
    updated_by UUID REFERENCES user_mgmt.users(id),
    deleted_at TIMESTAMPTZ,
    deleted_by UUID REFERENCES user_mgmt.users(id)
);

CREATE INDEX IF NOT EXISTS idx_customers_business_name
    ON hs.customers(business_id, last_name, first_name);

CREATE TABLE IF NOT EXISTS hs.work_orders (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID NOT NULL REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,
    customer_id UUID NOT NULL REFERENCES hs.customers(id) ON DELETE CASCADE,

    work_order_number TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    priority TEXT NOT NULL DEFAULT 'normal'
        CHECK (priority IN ('emergency', 'urgent', 'high', 'normal', 'low')),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'scheduled', 'in_progress', 'completed', 'cancelled')),
    scheduled_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    total_amount NUMERIC(12,2) NOT NULL DEFAULT 0,

    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by UUID REFERENCES user_mgmt.users(id),
    updated_by UUID REFERENCES user_mgmt.users(id),
    deleted_at TIMESTAMPTZ,
    deleted_by UUID REFERENCES user_mgmt.users(id)
);

CREATE INDEX IF NOT EXISTS idx_work_orders_business_status
    ON hs.work_orders(business_id, status, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_work_orders_customer
    ON hs.work_orders(customer_id);

-- The pre-5.1 shape of customer equipment: one column per attribute. Restructured into JSONB
-- groups by 2025.01.31_152000..152002.
CREATE TABLE IF NOT EXISTS hs.customer_equipment (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID NOT NULL REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,
    customer_id UUID NOT NULL REFERENCES hs.customers(id) ON DELETE CASCADE,

    equipment_type TEXT NOT NULL,
    equipment_category TEXT NOT NULL,
    equipment_name TEXT NOT NULL,

    manufacturer TEXT,
    model_number TEXT,
    serial_number TEXT,

    install_date DATE,
    installed_by TEXT,
    warranty_start_date DATE,
    warranty_end_date DATE,
    warranty_provider TEXT,

    capacity TEXT,
    efficiency_rating TEXT,
    fuel_type TEXT,
    voltage INTEGER,
    amperage NUMERIC(6,1),

    last_service_date DATE,
    next_service_due DATE,
    maintenance_frequency TEXT,
    maintenance_notes TEXT,

    equipment_condition TEXT DEFAULT 'good',
    operational_status TEXT DEFAULT 'operational',

    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(),
    created_by UUID REFERENCES user_mgmt.users(id),
    updated_by UUID REFERENCES user_mgmt.users(id),
    deleted_at TIMESTAMPTZ,
    deleted_by UUID REFERENCES user_mgmt.users(id)
);

CREATE INDEX IF NOT EXISTS idx_customer_equipment_business_customer
    ON hs.customer_equipment(business_id, customer_id);
CREATE INDEX IF NOT EXISTS idx_customer_equipment_customer
    ON hs.customer_equipment(customer_id);

CREATE TABLE IF NOT EXISTS auto.repair_orders (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID NOT NULL REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,
    -- Customers are shared across industries (as vet.animals.owner_id does).
    customer_id UUID NOT NULL REFERENCES hs.customers(id) ON DELETE CASCADE,

    repair_order_number TEXT NOT NULL,
    vehicle_vin TEXT,
    vehicle_year INTEGER,
    vehicle_make TEXT,
    vehicle_model TEXT,
    mileage INTEGER,
    complaint TEXT,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'in_progress', 'waiting_parts', 'completed', 'invoiced', 'cancelled')),
    total_amount NUMERIC(12,2) NOT NULL DEFAULT 0,

    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by UUID REFERENCES user_mgmt.users(id),
    updated_by UUID REFERENCES user_mgmt.users(id),
    deleted_at TIMESTAMPTZ,
    deleted_by UUID REFERENCES user_mgmt.users(id)
);

CREATE INDEX IF NOT EXISTS idx_repair_orders_business_status
    ON auto.repair_orders(business_id, status, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_repair_orders_customer
    ON auto.repair_orders(customer_id);

-- Tenant isolation. Table owners (and superusers) bypass RLS unless it is forced, so migrations
-- and workers connected as the owner are unaffected.
ALTER TABLE hs.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY customers_tenant_isolation ON hs.customers
    FOR ALL USING (business_id = auth.get_current_business_id());

ALTER TABLE hs.work_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY work_orders_tenant_isolation ON hs.work_orders
    FOR ALL USING (business_id = auth.get_current_business_id());

ALTER TABLE hs.customer_equipment ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_equipment_tenant_isolation ON hs.customer_equipment
    FOR ALL USING (business_id = auth.get_current_business_id());

ALTER TABLE auto.repair_orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY repair_orders_tenant_isolation ON auto.repair_orders
    FOR ALL USING (business_id = auth.get_current_business_id());
