DO $$
DECLARE
    missing text[];
BEGIN
    SELECT array_agg(t) INTO missing
    FROM unnest(ARRAY[
        'tenant_mgmt.businesses', 'user_mgmt.users', 'hs.customers', 'hs.work_orders',
        'hs.customer_equipment', 'auto.repair_orders'
    ]) AS t
    WHERE to_regclass(t) IS NULL;

    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'base schema incomplete, missing tables: %', missing;
    END IF;

    IF to_regnamespace('reporting_mgmt') IS NULL THEN
        RAISE EXCEPTION 'base schema incomplete, missing schema reporting_mgmt';
    END IF;

    IF to_regprocedure('auth.get_current_business_id()') IS NULL THEN
        RAISE EXCEPTION 'base schema incomplete, missing function auth.get_current_business_id()';
    END IF;
END
$$;
