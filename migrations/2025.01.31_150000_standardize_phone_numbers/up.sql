-- Preparation for the batched backfill declared in migration.yaml: the normalisation function.
-- The backfill itself runs afterwards, in keyset sub-batches, each its own short transaction.

CREATE OR REPLACE FUNCTION hs.standardize_phone_number(phone TEXT)
RETURNS TEXT
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF phone IS NULL THEN
        RETURN NULL;
    END IF;

    -- Remove all non-digits
    phone := regexp_replace(phone, '[^0-9]', '', 'g');

    -- Handle US phone numbers
    IF length(phone) = 10 THEN
        RETURN '+1' || phone;
    ELSIF length(phone) = 11 AND substring(phone, 1, 1) = '1' THEN
        RETURN '+' || phone;
    ELSE
        -- Not a US number: digits only
        RETURN phone;
    END IF;
END;
$$;

COMMENT ON FUNCTION hs.standardize_phone_number(TEXT) IS
    'E.164 for US numbers (+1NNNNNNNNNN); anything else reduced to its digits. Idempotent on its own output.';
