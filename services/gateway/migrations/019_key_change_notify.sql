-- Key changes pushed to every gateway replica (issue #19; API.md "Many replicas, one
-- outcome": a revoked key stops working within 1 s on every replica).
--
-- Each gateway keeps the keys it has verified in memory and LISTENs on
-- tandem_api_keys (services/gateway/listen.c, auth_cache.h). Whatever changes what a
-- key may do - revocation, scopes, rate limit, kind, tenant, or the row's deletion by
-- an operator - notifies the key's secret hash (hex) in the same transaction, so the
-- notification is delivered exactly when the change commits, whichever path made it
-- (the API, tandemctl, or SQL by hand). last_used_time, written every minute per key
-- in use, is left out: it changes nothing a cached key decides.
--
-- (Numbered 019, after the issue, so that it does not collide with migrations other
-- branches add meanwhile; versions need only be increasing.)

CREATE FUNCTION gateway.api_keys_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tandem_api_keys', encode(OLD.secret_hash, 'hex'));
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed
    AFTER UPDATE ON gateway.api_keys
    FOR EACH ROW
    WHEN ((OLD.revoke_time, OLD.scopes, OLD.rate_rps, OLD.rate_burst, OLD.kind, OLD.tenant_id,
           OLD.secret_hash)
          IS DISTINCT FROM
          (NEW.revoke_time, NEW.scopes, NEW.rate_rps, NEW.rate_burst, NEW.kind, NEW.tenant_id,
           NEW.secret_hash))
    EXECUTE FUNCTION gateway.api_keys_notify();

CREATE TRIGGER api_keys_deleted
    AFTER DELETE ON gateway.api_keys
    FOR EACH ROW
    EXECUTE FUNCTION gateway.api_keys_notify();
