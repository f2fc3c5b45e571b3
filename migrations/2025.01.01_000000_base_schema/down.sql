-- Inverse of the base schema. Objects are dropped explicitly and the schemas without CASCADE,
-- so anything a later migration left behind makes this fail instead of vanishing silently.

DROP TABLE IF EXISTS auto.repair_orders;
DROP TABLE IF EXISTS hs.customer_equipment;
DROP TABLE IF EXISTS hs.work_orders;
DROP TABLE IF EXISTS hs.customers;
DROP TABLE IF EXISTS user_mgmt.users;
DROP TABLE IF EXISTS tenant_mgmt.businesses;
DROP FUNCTION IF EXISTS auth.get_current_business_id();

DROP SCHEMA IF EXISTS reporting_mgmt;
DROP SCHEMA IF EXISTS auto;
DROP SCHEMA IF EXISTS hs;
DROP SCHEMA IF EXISTS auth;
DROP SCHEMA IF EXISTS user_mgmt;
DROP SCHEMA IF EXISTS tenant_mgmt;
