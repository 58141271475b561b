-- 003_webhook_secret_rotation.sql - rotating TANDEM_WEBHOOK_SECRET_KEY.
--
-- After a restart with a new key (and the old one in
-- TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS) the gateway seals each signing secret again
-- under the new key (services/gateway/webhook_rotate.c): it may now rewrite that one
-- column, nothing else of a webhook.
GRANT UPDATE (secret_sealed) ON gateway.webhooks TO @service_role@;
