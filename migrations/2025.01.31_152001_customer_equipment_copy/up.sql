-- Table replacement, step 2 of 3: the existing rows are copied by the batched backfill declared
-- in migration.yaml (batch_sql), one key range per transaction. Nothing to prepare here beyond
-- checking that step 1 is in place: without the mirror trigger, writes made during the copy
-- would be lost.
DO $$
BEGIN
    IF to_regclass('hs.customer_equipment_new') IS NULL
       OR to_regprocedure('hs.customer_equipment_to_new(hs.customer_equipment)') IS NULL THEN
        RAISE EXCEPTION 'hs.customer_equipment_new or hs.customer_equipment_to_new() is missing (migration 2025.01.31_152000)';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'hs.customer_equipment'::regclass
                     AND tgname = 'trg_customer_equipment_mirror_to_new' AND tgenabled <> 'D') THEN
        RAISE EXCEPTION 'mirror trigger trg_customer_equipment_mirror_to_new is not active; a copy now would lose concurrent writes';
    END IF;
END
$$;
