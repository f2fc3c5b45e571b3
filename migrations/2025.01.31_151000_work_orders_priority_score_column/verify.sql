DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'hs.work_orders'::regclass AND attname = 'priority_score'
                     AND NOT attisdropped AND atttypid = 'integer'::regtype) THEN
        RAISE EXCEPTION 'hs.work_orders.priority_score (integer) is missing';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'hs.work_orders'::regclass
                     AND conname = 'chk_work_orders_priority_score' AND contype = 'c') THEN
        RAISE EXCEPTION 'constraint chk_work_orders_priority_score is missing';
    END IF;
END
$$;
