ALTER TABLE hs.customers DROP COLUMN IF EXISTS loyalty_tier;
