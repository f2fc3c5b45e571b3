-- Demo: fails on purpose. About 10% of generated customers have no primary phone, so
-- PostgreSQL refuses with 23502 (not_null_violation): not retryable, the run rolls back.
ALTER TABLE hs.customers ALTER COLUMN phone_primary SET NOT NULL;
