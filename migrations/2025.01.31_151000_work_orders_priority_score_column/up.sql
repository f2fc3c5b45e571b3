-- Step 1 of 4 (zero-downtime priority_score). A nullable column without a default and a NOT VALID
-- check are catalog-only changes: a brief ACCESS EXCLUSIVE lock, no table rewrite or scan.
-- Existing rows stay NULL until the backfill (151001); the constraint is validated in 151002
-- without blocking writes, and the index is built concurrently in 151003.
ALTER TABLE hs.work_orders
    ADD COLUMN IF NOT EXISTS priority_score INTEGER,
    ADD CONSTRAINT chk_work_orders_priority_score
        CHECK (priority_score BETWEEN 0 AND 100) NOT VALID;

COMMENT ON COLUMN hs.work_orders.priority_score IS
    'Sort weight derived from priority: emergency 100, urgent 80, high 60, normal 40, low 20, otherwise 0.';
