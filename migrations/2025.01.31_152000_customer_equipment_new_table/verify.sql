DO $$
BEGIN
    IF to_regclass('hs.customer_equipment_new') IS NULL THEN
        RAISE EXCEPTION 'hs.customer_equipment_new was not created';
    END IF;
    IF (SELECT count(*) FROM pg_trigger
        WHERE tgrelid = 'hs.customer_equipment'::regclass
          AND tgname IN ('trg_customer_equipment_mirror_to_new', 'trg_customer_equipment_mirror_truncate')
          AND tgenabled <> 'D') <> 2 THEN
        RAISE EXCEPTION 'mirror triggers on hs.customer_equipment are missing or disabled';
    END IF;
END
$$;
