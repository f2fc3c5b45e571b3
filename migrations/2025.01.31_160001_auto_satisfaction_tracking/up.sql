-- COORD-2025-001, part 2: customer satisfaction tracking on automotive repair orders.
ALTER TABLE auto.repair_orders
    ADD COLUMN IF NOT EXISTS satisfaction_rating INTEGER CHECK (satisfaction_rating >= 1 AND satisfaction_rating <= 5),
    ADD COLUMN IF NOT EXISTS satisfaction_comments TEXT,
    ADD COLUMN IF NOT EXISTS satisfaction_survey_sent_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS satisfaction_response_method TEXT; -- 'email', 'sms', 'phone', 'in_person'

CREATE INDEX IF NOT EXISTS idx_repair_orders_satisfaction
    ON auto.repair_orders(business_id, satisfaction_rating, created_at DESC)
    WHERE satisfaction_rating IS NOT NULL;
