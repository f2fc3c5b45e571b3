DROP INDEX IF EXISTS auto.idx_repair_orders_satisfaction;
ALTER TABLE auto.repair_orders
    DROP COLUMN IF EXISTS satisfaction_rating,
    DROP COLUMN IF EXISTS satisfaction_comments,
    DROP COLUMN IF EXISTS satisfaction_survey_sent_at,
    DROP COLUMN IF EXISTS satisfaction_response_method;
