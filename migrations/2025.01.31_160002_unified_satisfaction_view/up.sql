-- COORD-2025-001, part 3: cross-industry satisfaction reporting over parts 1 and 2.
CREATE OR REPLACE VIEW reporting_mgmt.unified_satisfaction_view AS
WITH satisfaction_data AS (
    -- Home Services satisfaction
    SELECT
        business_id,
        'home_services'::text AS industry,
        'work_order'::text AS transaction_type,
        id AS transaction_id,
        customer_id,
        satisfaction_rating,
        satisfaction_comments,
        satisfaction_survey_sent_at,
        satisfaction_response_method,
        created_at AS transaction_date,
        total_amount AS transaction_value
    FROM hs.work_orders
    WHERE satisfaction_rating IS NOT NULL

    UNION ALL

    -- Automotive satisfaction
    SELECT
        business_id,
        'automotive'::text AS industry,
        'repair_order'::text AS transaction_type,
        id AS transaction_id,
        customer_id,
        satisfaction_rating,
        satisfaction_comments,
        satisfaction_survey_sent_at,
        satisfaction_response_method,
        created_at AS transaction_date,
        total_amount AS transaction_value
    FROM auto.repair_orders
    WHERE satisfaction_rating IS NOT NULL

    -- Additional industries can be added here as they're implemented
)
SELECT
    *,
    CASE
        WHEN satisfaction_rating >= 4 THEN 'promoter'
        WHEN satisfaction_rating = 3 THEN 'passive'
        ELSE 'detractor'
    END AS nps_category
FROM satisfaction_data;
