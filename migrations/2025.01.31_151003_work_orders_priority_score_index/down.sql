DROP INDEX CONCURRENTLY IF EXISTS hs.idx_work_orders_priority_score;
