DROP TRIGGER IF EXISTS trg_customer_equipment_mirror_truncate ON hs.customer_equipment;
DROP TRIGGER IF EXISTS trg_customer_equipment_mirror_to_new ON hs.customer_equipment;
DROP FUNCTION IF EXISTS hs.customer_equipment_mirror_truncate_to_new();
DROP FUNCTION IF EXISTS hs.customer_equipment_mirror_to_new();
-- The mapping function's return type is the new table's row type: drop it before the table.
DROP FUNCTION IF EXISTS hs.customer_equipment_to_new(hs.customer_equipment);
DROP TABLE IF EXISTS hs.customer_equipment_new;
