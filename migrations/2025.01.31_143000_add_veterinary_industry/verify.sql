DO $$
BEGIN
    IF to_regclass('vet.animals') IS NULL THEN
        RAISE EXCEPTION 'vet.animals was not created';
    END IF;
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = 'vet.animals'::regclass) THEN
        RAISE EXCEPTION 'row level security is not enabled on vet.animals';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_policies
                   WHERE schemaname = 'vet' AND tablename = 'animals'
                     AND policyname = 'vet_animals_tenant_isolation') THEN
        RAISE EXCEPTION 'policy vet_animals_tenant_isolation is missing';
    END IF;
END
$$;
