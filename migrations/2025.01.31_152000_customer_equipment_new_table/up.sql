-- Table replacement, step 1 of 3: the new shape of customer equipment, one mapping function from
-- the old row to the new one, and a trigger that mirrors every write on the old table into the
-- new one from this moment on. The copy of the existing rows (152001) and the swap (152002)
-- follow; because the trigger is in place before the copy starts, no write can be lost.

CREATE TABLE IF NOT EXISTS hs.customer_equipment_new (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id UUID NOT NULL REFERENCES tenant_mgmt.businesses(id) ON DELETE CASCADE,
    customer_id UUID NOT NULL REFERENCES hs.customers(id) ON DELETE CASCADE,

    -- Enhanced equipment identification
    equipment_type TEXT NOT NULL,
    equipment_category TEXT NOT NULL,
    equipment_subcategory TEXT, -- New field, NULL for migrated rows
    equipment_name TEXT NOT NULL,

    -- {manufacturer, model_number, serial_number}
    manufacturer_info JSONB NOT NULL DEFAULT '{}',
    -- {install_date, installed_by, warranty_start_date, warranty_end_date, warranty_provider}
    installation_details JSONB DEFAULT '{}',
    -- {capacity, efficiency_rating, fuel_type, voltage, amperage}
    technical_specs JSONB DEFAULT '{}',
    -- {last_service_date, next_service_due, maintenance_frequency, maintenance_notes}
    maintenance_schedule JSONB DEFAULT '{}',

    equipment_condition TEXT DEFAULT 'good',
    operational_status TEXT DEFAULT 'operational',

    -- Audit fields
    created_at TIMESTAMPTZ DEFAULT now(),
    updated_at TIMESTAMPTZ DEFAULT now(),
    created_by UUID REFERENCES user_mgmt.users(id),
    updated_by UUID REFERENCES user_mgmt.users(id),

    -- Soft delete
    deleted_at TIMESTAMPTZ,
    deleted_by UUID REFERENCES user_mgmt.users(id)
);

CREATE INDEX IF NOT EXISTS idx_customer_equipment_new_business_customer
    ON hs.customer_equipment_new(business_id, customer_id);
CREATE INDEX IF NOT EXISTS idx_customer_equipment_new_type_category
    ON hs.customer_equipment_new(business_id, equipment_type, equipment_category);
CREATE INDEX IF NOT EXISTS idx_customer_equipment_new_customer
    ON hs.customer_equipment_new(customer_id);

ALTER TABLE hs.customer_equipment_new ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_equipment_new_tenant_isolation ON hs.customer_equipment_new
    FOR ALL USING (business_id = auth.get_current_business_id());

-- The single definition of "old row -> new row", used by the mirror trigger, the copy (152001)
-- and its verification, so the three can never disagree. Fields are assigned by name.
-- JSONB groups omit NULL attributes (an absent key reads as NULL with ->>), so a migrated row and
-- one written by the application in the new shape look alike.
CREATE OR REPLACE FUNCTION hs.customer_equipment_to_new(e hs.customer_equipment)
RETURNS hs.customer_equipment_new
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    r hs.customer_equipment_new;
BEGIN
    r.id := e.id;
    r.business_id := e.business_id;
    r.customer_id := e.customer_id;
    r.equipment_type := e.equipment_type;
    r.equipment_category := e.equipment_category;
    r.equipment_subcategory := NULL;
    r.equipment_name := e.equipment_name;
    r.manufacturer_info := jsonb_strip_nulls(jsonb_build_object(
        'manufacturer', e.manufacturer,
        'model_number', e.model_number,
        'serial_number', e.serial_number));
    r.installation_details := jsonb_strip_nulls(jsonb_build_object(
        'install_date', e.install_date,
        'installed_by', e.installed_by,
        'warranty_start_date', e.warranty_start_date,
        'warranty_end_date', e.warranty_end_date,
        'warranty_provider', e.warranty_provider));
    r.technical_specs := jsonb_strip_nulls(jsonb_build_object(
        'capacity', e.capacity,
        'efficiency_rating', e.efficiency_rating,
        'fuel_type', e.fuel_type,
        'voltage', e.voltage,
        'amperage', e.amperage));
    r.maintenance_schedule := jsonb_strip_nulls(jsonb_build_object(
        'last_service_date', e.last_service_date,
        'next_service_due', e.next_service_due,
        'maintenance_frequency', e.maintenance_frequency,
        'maintenance_notes', e.maintenance_notes));
    r.equipment_condition := e.equipment_condition;
    r.operational_status := e.operational_status;
    r.created_at := e.created_at;
    r.updated_at := e.updated_at;
    r.created_by := e.created_by;
    r.updated_by := e.updated_by;
    r.deleted_at := e.deleted_at;
    r.deleted_by := e.deleted_by;
    RETURN r;
END;
$$;

-- Mirror of every row write on hs.customer_equipment, in the writer's own transaction.
-- SECURITY DEFINER so it works for application roles without rights on the new table and
-- regardless of their RLS context.
CREATE OR REPLACE FUNCTION hs.customer_equipment_mirror_to_new()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) THEN
        DELETE FROM hs.customer_equipment_new WHERE id = OLD.id;
    END IF;

    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO hs.customer_equipment_new
        SELECT n.* FROM hs.customer_equipment_to_new(NEW) AS n
        ON CONFLICT (id) DO UPDATE SET
            business_id = EXCLUDED.business_id,
            customer_id = EXCLUDED.customer_id,
            equipment_type = EXCLUDED.equipment_type,
            equipment_category = EXCLUDED.equipment_category,
            equipment_subcategory = EXCLUDED.equipment_subcategory,
            equipment_name = EXCLUDED.equipment_name,
            manufacturer_info = EXCLUDED.manufacturer_info,
            installation_details = EXCLUDED.installation_details,
            technical_specs = EXCLUDED.technical_specs,
            maintenance_schedule = EXCLUDED.maintenance_schedule,
            equipment_condition = EXCLUDED.equipment_condition,
            operational_status = EXCLUDED.operational_status,
            created_at = EXCLUDED.created_at,
            updated_at = EXCLUDED.updated_at,
            created_by = EXCLUDED.created_by,
            updated_by = EXCLUDED.updated_by,
            deleted_at = EXCLUDED.deleted_at,
            deleted_by = EXCLUDED.deleted_by;
    END IF;

    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION hs.customer_equipment_mirror_truncate_to_new()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- DELETE, not TRUNCATE: a TRUNCATE ... CASCADE that reaches this trigger usually truncates
    -- hs.customer_equipment_new in the same command (it references hs.customers too), and
    -- TRUNCATE of a table that command is using fails.
    DELETE FROM hs.customer_equipment_new;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_customer_equipment_mirror_to_new
    AFTER INSERT OR UPDATE OR DELETE ON hs.customer_equipment
    FOR EACH ROW EXECUTE FUNCTION hs.customer_equipment_mirror_to_new();

CREATE TRIGGER trg_customer_equipment_mirror_truncate
    AFTER TRUNCATE ON hs.customer_equipment
    FOR EACH STATEMENT EXECUTE FUNCTION hs.customer_equipment_mirror_truncate_to_new();
