ALTER TABLE hs.work_orders
    DROP CONSTRAINT IF EXISTS chk_work_orders_priority_score,
    DROP COLUMN IF EXISTS priority_score;
