DO $$
BEGIN
    IF to_regclass('reporting_mgmt.unified_satisfaction_view') IS NULL THEN
        RAISE EXCEPTION 'reporting_mgmt.unified_satisfaction_view was not created';
    END IF;
    -- The view must plan and run against both sources.
    PERFORM 1 FROM reporting_mgmt.unified_satisfaction_view LIMIT 1;
END
$$;
