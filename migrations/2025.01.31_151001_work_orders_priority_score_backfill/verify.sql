-- Runs once the backfill has finished.
DO $$
DECLARE
    missing bigint;
BEGIN
    SELECT count(*) INTO missing FROM hs.work_orders WHERE priority_score IS NULL;
    IF missing > 0 THEN
        RAISE EXCEPTION 'priority_score backfill incomplete: % work orders without a score', missing;
    END IF;
END
$$;
