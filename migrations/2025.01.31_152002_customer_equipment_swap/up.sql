-- Table replacement, step 3 of 3: the swap, in one transaction, catalog-only (no data is read or
-- written while the ACCESS EXCLUSIVE locks are held). The old table is locked first, in the
-- same order as writers (old table, then the mirrored new one), so the swap cannot deadlock
-- with them.
--
-- After the swap the old table stays as hs.customer_equipment_old and is kept in sync in the
-- other direction (hs.customer_equipment -> hs.customer_equipment_old), so rolling the swap back
-- loses no write made after it. Dropping the old table, its reverse mirror and the mapping
-- functions is a later cleanup migration.

DROP TRIGGER IF EXISTS trg_customer_equipment_mirror_to_new ON hs.customer_equipment;
DROP TRIGGER IF EXISTS trg_customer_equipment_mirror_truncate ON hs.customer_equipment;

-- Old table -> hs.customer_equipment_old, with its indexes, constraints and policy.
ALTER TABLE hs.customer_equipment RENAME TO customer_equipment_old;
ALTER INDEX hs.customer_equipment_pkey RENAME TO customer_equipment_old_pkey;
ALTER INDEX hs.idx_customer_equipment_business_customer RENAME TO idx_customer_equipment_old_business_customer;
ALTER INDEX hs.idx_customer_equipment_customer RENAME TO idx_customer_equipment_old_customer;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_business_id_fkey TO customer_equipment_old_business_id_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_customer_id_fkey TO customer_equipment_old_customer_id_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_created_by_fkey TO customer_equipment_old_created_by_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_updated_by_fkey TO customer_equipment_old_updated_by_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_deleted_by_fkey TO customer_equipment_old_deleted_by_fkey;
ALTER POLICY customer_equipment_tenant_isolation ON hs.customer_equipment_old RENAME TO customer_equipment_old_tenant_isolation;

-- New table -> hs.customer_equipment, taking over the canonical names.
ALTER TABLE hs.customer_equipment_new RENAME TO customer_equipment;
ALTER INDEX hs.customer_equipment_new_pkey RENAME TO customer_equipment_pkey;
ALTER INDEX hs.idx_customer_equipment_new_business_customer RENAME TO idx_customer_equipment_business_customer;
ALTER INDEX hs.idx_customer_equipment_new_type_category RENAME TO idx_customer_equipment_type_category;
ALTER INDEX hs.idx_customer_equipment_new_customer RENAME TO idx_customer_equipment_customer;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_new_business_id_fkey TO customer_equipment_business_id_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_new_customer_id_fkey TO customer_equipment_customer_id_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_new_created_by_fkey TO customer_equipment_created_by_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_new_updated_by_fkey TO customer_equipment_updated_by_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_new_deleted_by_fkey TO customer_equipment_deleted_by_fkey;
ALTER POLICY customer_equipment_new_tenant_isolation ON hs.customer_equipment RENAME TO customer_equipment_tenant_isolation;

-- Inverse of hs.customer_equipment_to_new(): new row -> old row. equipment_subcategory has no
-- column in the old shape and is not carried back.
CREATE OR REPLACE FUNCTION hs.customer_equipment_to_old(c hs.customer_equipment)
RETURNS hs.customer_equipment_old
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
DECLARE
    r hs.customer_equipment_old;
BEGIN
    r.id := c.id;
    r.business_id := c.business_id;
    r.customer_id := c.customer_id;
    r.equipment_type := c.equipment_type;
    r.equipment_category := c.equipment_category;
    r.equipment_name := c.equipment_name;
    r.manufacturer := c.manufacturer_info ->> 'manufacturer';
    r.model_number := c.manufacturer_info ->> 'model_number';
    r.serial_number := c.manufacturer_info ->> 'serial_number';
    r.install_date := (c.installation_details ->> 'install_date')::date;
    r.installed_by := c.installation_details ->> 'installed_by';
    r.warranty_start_date := (c.installation_details ->> 'warranty_start_date')::date;
    r.warranty_end_date := (c.installation_details ->> 'warranty_end_date')::date;
    r.warranty_provider := c.installation_details ->> 'warranty_provider';
    r.capacity := c.technical_specs ->> 'capacity';
    r.efficiency_rating := c.technical_specs ->> 'efficiency_rating';
    r.fuel_type := c.technical_specs ->> 'fuel_type';
    r.voltage := (c.technical_specs ->> 'voltage')::integer;
    r.amperage := (c.technical_specs ->> 'amperage')::numeric;
    r.last_service_date := (c.maintenance_schedule ->> 'last_service_date')::date;
    r.next_service_due := (c.maintenance_schedule ->> 'next_service_due')::date;
    r.maintenance_frequency := c.maintenance_schedule ->> 'maintenance_frequency';
    r.maintenance_notes := c.maintenance_schedule ->> 'maintenance_notes';
    r.equipment_condition := c.equipment_condition;
    r.operational_status := c.operational_status;
    r.created_at := c.created_at;
    r.updated_at := c.updated_at;
    r.created_by := c.created_by;
    r.updated_by := c.updated_by;
    r.deleted_at := c.deleted_at;
    r.deleted_by := c.deleted_by;
    RETURN r;
END;
$$;

CREATE OR REPLACE FUNCTION hs.customer_equipment_mirror_to_old()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) THEN
        DELETE FROM hs.customer_equipment_old WHERE id = OLD.id;
    END IF;

    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO hs.customer_equipment_old
        SELECT o.* FROM hs.customer_equipment_to_old(NEW) AS o
        ON CONFLICT (id) DO UPDATE SET
            business_id = EXCLUDED.business_id,
            customer_id = EXCLUDED.customer_id,
            equipment_type = EXCLUDED.equipment_type,
            equipment_category = EXCLUDED.equipment_category,
            equipment_name = EXCLUDED.equipment_name,
            manufacturer = EXCLUDED.manufacturer,
            model_number = EXCLUDED.model_number,
            serial_number = EXCLUDED.serial_number,
            install_date = EXCLUDED.install_date,
            installed_by = EXCLUDED.installed_by,
            warranty_start_date = EXCLUDED.warranty_start_date,
            warranty_end_date = EXCLUDED.warranty_end_date,
            warranty_provider = EXCLUDED.warranty_provider,
            capacity = EXCLUDED.capacity,
            efficiency_rating = EXCLUDED.efficiency_rating,
            fuel_type = EXCLUDED.fuel_type,
            voltage = EXCLUDED.voltage,
            amperage = EXCLUDED.amperage,
            last_service_date = EXCLUDED.last_service_date,
            next_service_due = EXCLUDED.next_service_due,
            maintenance_frequency = EXCLUDED.maintenance_frequency,
            maintenance_notes = EXCLUDED.maintenance_notes,
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

CREATE OR REPLACE FUNCTION hs.customer_equipment_mirror_truncate_to_old()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- DELETE, not TRUNCATE: a TRUNCATE ... CASCADE that reaches this trigger usually truncates
    -- hs.customer_equipment_old in the same command (it references hs.customers too), and
    -- TRUNCATE of a table that command is using fails.
    DELETE FROM hs.customer_equipment_old;
    RETURN NULL;
END;
$$;

CREATE TRIGGER trg_customer_equipment_mirror_to_old
    AFTER INSERT OR UPDATE OR DELETE ON hs.customer_equipment
    FOR EACH ROW EXECUTE FUNCTION hs.customer_equipment_mirror_to_old();

CREATE TRIGGER trg_customer_equipment_mirror_truncate_to_old
    AFTER TRUNCATE ON hs.customer_equipment
    FOR EACH STATEMENT EXECUTE FUNCTION hs.customer_equipment_mirror_truncate_to_old();
