DROP INDEX IF EXISTS hs.idx_work_orders_satisfaction;
ALTER TABLE hs.work_orders
    DROP COLUMN IF EXISTS satisfaction_rating,
    DROP COLUMN IF EXISTS satisfaction_comments,
    DROP COLUMN IF EXISTS satisfaction_survey_sent_at,
    DROP COLUMN IF EXISTS satisfaction_response_method;
