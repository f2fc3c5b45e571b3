-- Step 3 of 4 (zero-downtime priority_score). VALIDATE CONSTRAINT scans the table under a
-- SHARE UPDATE EXCLUSIVE lock: reads and writes continue while it runs.
ALTER TABLE hs.work_orders VALIDATE CONSTRAINT chk_work_orders_priority_score;
