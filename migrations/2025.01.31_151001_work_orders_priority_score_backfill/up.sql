-- Step 2 of 4 (zero-downtime priority_score), preparation: the derivation as an inlinable SQL
-- function, used by the backfill below and available to application code for new rows.
CREATE OR REPLACE FUNCTION hs.work_order_priority_score(priority TEXT)
RETURNS INTEGER
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE priority
        WHEN 'emergency' THEN 100
        WHEN 'urgent' THEN 80
        WHEN 'high' THEN 60
        WHEN 'normal' THEN 40
        WHEN 'low' THEN 20
        ELSE 0
    END
$$;
