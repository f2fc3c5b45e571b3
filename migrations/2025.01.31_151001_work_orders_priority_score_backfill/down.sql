-- Runs after the backfill's old values (NULL) have been restored from its backup.
DROP FUNCTION IF EXISTS hs.work_order_priority_score(TEXT);
