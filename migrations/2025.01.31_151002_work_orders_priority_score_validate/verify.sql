DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'hs.work_orders'::regclass
                     AND conname = 'chk_work_orders_priority_score' AND convalidated) THEN
        RAISE EXCEPTION 'chk_work_orders_priority_score is not validated';
    END IF;
END
$$;
