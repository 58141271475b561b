-- 005_webhook_limits.sql - at most 20 endpoints per tenant (API.md "The public edge").
--
-- Every endpoint of a tenant takes a share of the delivery worker's time, so their
-- number is bounded. A trigger, not a count in the INSERT: it takes a per-tenant
-- advisory lock first and counts after it (each statement of a PL/pgSQL function has
-- a snapshot of its own under READ COMMITTED), so two CreateWebhook calls at once on
-- two gateway replicas cannot both see 19 and make 21. The refusal is a
-- check_violation named webhooks_per_tenant, which the gateway answers as
-- FAILED_PRECONDITION (services/gateway/webhook.c).
CREATE FUNCTION gateway.webhooks_per_tenant() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('gateway.webhooks ' || NEW.tenant_id::text, 0));
    IF (SELECT count(*) FROM gateway.webhooks WHERE tenant_id = NEW.tenant_id) >= 20 THEN
        RAISE EXCEPTION 'a tenant may have at most 20 webhooks'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'webhooks_per_tenant';
    END IF;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER webhooks_per_tenant BEFORE INSERT ON gateway.webhooks
    FOR EACH ROW EXECUTE FUNCTION gateway.webhooks_per_tenant();

-- The fair claim (webhook_store.c) counts each tenant's live leases.
CREATE INDEX webhook_queue_leased ON gateway.webhook_queue (tenant_id)
    WHERE lease_until IS NOT NULL;
