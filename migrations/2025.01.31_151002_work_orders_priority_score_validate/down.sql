-- A validated constraint cannot be marked NOT VALID again, so re-create it as NOT VALID
-- (catalog-only: a NOT VALID constraint is not checked against existing rows).
ALTER TABLE hs.work_orders
    DROP CONSTRAINT IF EXISTS chk_work_orders_priority_score,
    ADD CONSTRAINT chk_work_orders_priority_score
        CHECK (priority_score BETWEEN 0 AND 100) NOT VALID;
