-- Exact inverse of the swap. hs.customer_equipment (new shape) is locked first, in the same
-- order as its writers (new shape, then the mirrored old table). The old table is complete: the
-- reverse mirror kept it in sync since the swap.

DROP TRIGGER IF EXISTS trg_customer_equipment_mirror_truncate_to_old ON hs.customer_equipment;
DROP TRIGGER IF EXISTS trg_customer_equipment_mirror_to_old ON hs.customer_equipment;
DROP FUNCTION IF EXISTS hs.customer_equipment_mirror_truncate_to_old();
DROP FUNCTION IF EXISTS hs.customer_equipment_mirror_to_old();
DROP FUNCTION IF EXISTS hs.customer_equipment_to_old(hs.customer_equipment);

ALTER POLICY customer_equipment_tenant_isolation ON hs.customer_equipment RENAME TO customer_equipment_new_tenant_isolation;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_deleted_by_fkey TO customer_equipment_new_deleted_by_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_updated_by_fkey TO customer_equipment_new_updated_by_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_created_by_fkey TO customer_equipment_new_created_by_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_customer_id_fkey TO customer_equipment_new_customer_id_fkey;
ALTER TABLE hs.customer_equipment RENAME CONSTRAINT customer_equipment_business_id_fkey TO customer_equipment_new_business_id_fkey;
ALTER INDEX hs.idx_customer_equipment_customer RENAME TO idx_customer_equipment_new_customer;
ALTER INDEX hs.idx_customer_equipment_type_category RENAME TO idx_customer_equipment_new_type_category;
ALTER INDEX hs.idx_customer_equipment_business_customer RENAME TO idx_customer_equipment_new_business_customer;
ALTER INDEX hs.customer_equipment_pkey RENAME TO customer_equipment_new_pkey;
ALTER TABLE hs.customer_equipment RENAME TO customer_equipment_new;

ALTER POLICY customer_equipment_old_tenant_isolation ON hs.customer_equipment_old RENAME TO customer_equipment_tenant_isolation;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_old_deleted_by_fkey TO customer_equipment_deleted_by_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_old_updated_by_fkey TO customer_equipment_updated_by_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_old_created_by_fkey TO customer_equipment_created_by_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_old_customer_id_fkey TO customer_equipment_customer_id_fkey;
ALTER TABLE hs.customer_equipment_old RENAME CONSTRAINT customer_equipment_old_business_id_fkey TO customer_equipment_business_id_fkey;
ALTER INDEX hs.idx_customer_equipment_old_customer RENAME TO idx_customer_equipment_customer;
ALTER INDEX hs.idx_customer_equipment_old_business_customer RENAME TO idx_customer_equipment_business_customer;
ALTER INDEX hs.customer_equipment_old_pkey RENAME TO customer_equipment_pkey;
ALTER TABLE hs.customer_equipment_old RENAME TO customer_equipment;

-- Step 1's mirror again (its functions were kept by the swap).
CREATE TRIGGER trg_customer_equipment_mirror_to_new
    AFTER INSERT OR UPDATE OR DELETE ON hs.customer_equipment
    FOR EACH ROW EXECUTE FUNCTION hs.customer_equipment_mirror_to_new();

CREATE TRIGGER trg_customer_equipment_mirror_truncate
    AFTER TRUNCATE ON hs.customer_equipment
    FOR EACH STATEMENT EXECUTE FUNCTION hs.customer_equipment_mirror_truncate_to_new();
