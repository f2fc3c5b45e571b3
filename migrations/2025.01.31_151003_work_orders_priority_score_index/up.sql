CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_work_orders_priority_score ON hs.work_orders (business_id, priority_score, created_at DESC);
