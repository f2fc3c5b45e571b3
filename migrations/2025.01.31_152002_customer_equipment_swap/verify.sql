DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'hs.customer_equipment'::regclass
                     AND attname = 'manufacturer_info' AND NOT attisdropped) THEN
        RAISE EXCEPTION 'hs.customer_equipment does not have the new shape after the swap';
    END IF;
    IF to_regclass('hs.customer_equipment_old') IS NULL THEN
        RAISE EXCEPTION 'hs.customer_equipment_old is missing after the swap';
    END IF;
    IF to_regclass('hs.customer_equipment_new') IS NOT NULL THEN
        RAISE EXCEPTION 'hs.customer_equipment_new still exists after the swap';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger
               WHERE tgrelid = 'hs.customer_equipment_old'::regclass AND NOT tgisinternal) THEN
        RAISE EXCEPTION 'hs.customer_equipment_old still has triggers (forward mirror not removed)';
    END IF;
    IF (SELECT count(*) FROM pg_trigger
        WHERE tgrelid = 'hs.customer_equipment'::regclass
          AND tgname IN ('trg_customer_equipment_mirror_to_old', 'trg_customer_equipment_mirror_truncate_to_old')) <> 2 THEN
        RAISE EXCEPTION 'reverse mirror triggers on hs.customer_equipment are missing';
    END IF;
END
$$;
