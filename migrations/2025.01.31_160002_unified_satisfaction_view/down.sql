DROP VIEW IF EXISTS reporting_mgmt.unified_satisfaction_view;
