-- 006_webhook_state.sql - an endpoint that fails every attempt for 72 h is DISABLED;
-- UpdateWebhook changes an endpoint and re-enables it (API.md "The public edge").
--
-- failing_since: when the first failed attempt after the endpoint's last success (or
-- its creation) was recorded; NULL while its last attempt succeeded or none was made.
-- state: 1 ACTIVE, 2 DISABLED. The delivery worker sets both as it records attempts
-- (webhook_store.c); UpdateWebhook writes url, events and description and sets the
-- endpoint ACTIVE again with its failures forgotten.
ALTER TABLE gateway.webhooks
    ADD COLUMN state smallint NOT NULL DEFAULT 1 CHECK (state IN (1, 2)),
    ADD COLUMN failing_since timestamptz;
GRANT UPDATE (url, events, description, state, failing_since) ON gateway.webhooks
    TO @service_role@;
