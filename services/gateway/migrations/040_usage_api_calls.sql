-- 040_usage_api_calls.sql - API calls per tenant, month and scope, for billing
-- (issue #18; docs/operations.md "Usage").
--
-- Each gateway replica counts the calls it admits in memory and adds its counts here
-- every TANDEM_USAGE_FLUSH_MS and on SIGTERM, with one additive upsert per flush
-- (count = count + the replica's delta), so replicas add up instead of overwriting
-- each other and no call is counted twice. Like the tenant directory, written for
-- many tenants in one statement and read only by the gateway: no row-level security.
-- No personal data: a tenant, a month, a scope name and a number.

CREATE TABLE gateway.usage_api_calls (
    tenant_id uuid   NOT NULL REFERENCES gateway.tenants (id),
    month     date   NOT NULL CHECK (extract(day FROM month) = 1),
    scope     text   NOT NULL CHECK (char_length(scope) BETWEEN 1 AND 32),
    count     bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, month, scope)
);

GRANT SELECT, INSERT, UPDATE ON gateway.usage_api_calls TO @service_role@;
