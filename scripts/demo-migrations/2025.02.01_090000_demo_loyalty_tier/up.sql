-- Demo: a harmless change that succeeds, so the failure after it has something to roll back.
ALTER TABLE hs.customers ADD COLUMN IF NOT EXISTS loyalty_tier text;
