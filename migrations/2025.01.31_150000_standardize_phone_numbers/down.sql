-- Runs after the backfill has been reverted from its backup.
DROP FUNCTION IF EXISTS hs.standardize_phone_number(TEXT);
