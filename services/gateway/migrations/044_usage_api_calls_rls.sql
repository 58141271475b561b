-- 044_usage_api_calls_rls.sql - gateway.usage_api_calls under row-level security
-- like every other table with a tenant_id (tests/integration/pg/test_pg_rls.c).
--
-- 040 left the table without RLS. Its writer is the usage flush, which adds one
-- replica's counts of many tenants in one statement, and its reader answers a
-- platform key's ListUsage across tenants: like gateway.webhook_queue, it is a
-- cross-tenant worker's table (a tenant, a month, a scope name and a number; no
-- personal data), so RLS is enabled and forced with a policy that admits every row.
-- What it changes: a table created later by mistake without RLS is still caught by
-- the catalogue test, and this one is named there as an exception, with this reason.

ALTER TABLE gateway.usage_api_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE gateway.usage_api_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY cross_tenant_worker ON gateway.usage_api_calls USING (true) WITH CHECK (true);
