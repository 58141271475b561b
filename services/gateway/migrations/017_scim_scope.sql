-- 017_scim_scope.sql - what SCIM provisioning (#17) needs of the gateway's tables.
--
-- API keys may carry the `scim` scope (TDM_SCOPE_SCIM, bit 128): the SCIM 2.0 front
-- (/scim/v2) and the people directory behind it.
ALTER TABLE gateway.api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE gateway.api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes > 0 AND scopes <= 255);

-- A webhook may subscribe to participant.updated too (the directory changed a
-- participant): ten event names, so up to ten per endpoint.
ALTER TABLE gateway.webhooks DROP CONSTRAINT webhooks_events_check;
ALTER TABLE gateway.webhooks ADD CONSTRAINT webhooks_events_check
    CHECK (cardinality(events) BETWEEN 1 AND 10);
