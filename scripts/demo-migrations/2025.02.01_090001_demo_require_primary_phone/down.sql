ALTER TABLE hs.customers ALTER COLUMN phone_primary DROP NOT NULL;
