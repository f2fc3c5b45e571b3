-- Runs once the backfill has finished. "Standard" means: the migration has nothing left to change.
-- A value already of the form +<digits> is left alone (as the seed did); any other non-null value
-- must already be what hs.standardize_phone_number() returns for it (for a non-US number that is
-- its digits, which are not '+...', so a plain '^\+\d+$' test would never pass for it).
DO $$
DECLARE
    remaining bigint;
BEGIN
    IF hs.standardize_phone_number('(555) 123-4567') IS DISTINCT FROM '+15551234567'
       OR hs.standardize_phone_number('555.123.4567') IS DISTINCT FROM '+15551234567'
       OR hs.standardize_phone_number('1-555-123-4567') IS DISTINCT FROM '+15551234567'
       OR hs.standardize_phone_number('+15551234567') IS DISTINCT FROM '+15551234567'
       OR hs.standardize_phone_number('12345') IS DISTINCT FROM '12345'
       OR hs.standardize_phone_number(NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'hs.standardize_phone_number() does not behave as specified';
    END IF;

    SELECT count(*) INTO remaining
    FROM hs.customers
    WHERE (phone_primary !~ '^\+\d+$' AND hs.standardize_phone_number(phone_primary) <> phone_primary)
       OR (phone_secondary !~ '^\+\d+$' AND hs.standardize_phone_number(phone_secondary) <> phone_secondary);

    IF remaining > 0 THEN
        RAISE EXCEPTION 'phone standardization incomplete: % customers still have non-standard phone numbers', remaining;
    END IF;
END
$$;
