DO $$
BEGIN
    IF (SELECT count(*) FROM pg_attribute
        WHERE attrelid = 'hs.work_orders'::regclass AND NOT attisdropped
          AND attname IN ('satisfaction_rating', 'satisfaction_comments',
                          'satisfaction_survey_sent_at', 'satisfaction_response_method')) <> 4 THEN
        RAISE EXCEPTION 'satisfaction columns missing on hs.work_orders';
    END IF;
    IF to_regclass('hs.idx_work_orders_satisfaction') IS NULL THEN
        RAISE EXCEPTION 'index hs.idx_work_orders_satisfaction is missing';
    END IF;
END
$$;
