-- 002_outbox_reader.sql - let the gateway's webhook worker read this outbox.
--
-- xact_id: the id of the transaction that wrote the row. The worker takes rows only
-- below the oldest transaction still running (pg_snapshot_xmin), in (xact_id, seq)
-- order, so a row committed late can never land behind its cursor (seq alone
-- could: sequence values are handed out before commit).
--
-- The trade-off: tandem_gateway may SELECT every tenant's rows of this one table
-- (USAGE on the schema, SELECT on outbox, a policy for that role alone; nothing
-- else in the schema). The payloads are the resources the events concern, so they
-- hold personal data - the same data the gateway already carries in every
-- response, and what it must send to the tenant's webhooks. The alternative, an
-- internal gRPC method per service paging its outbox, would move the same data
-- over the network and add a method to every service for no less exposure. The
-- gateway role is not BYPASSRLS and gets no other table; the service role keeps
-- only INSERT. A role named tandem_gateway is expected (deploy/sql/bootstrap.sql);
-- without it the grant is skipped and webhooks see no matching events.
ALTER TABLE matching.outbox ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_by_xact ON matching.outbox (xact_id, seq);

DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_gateway') THEN
        GRANT USAGE ON SCHEMA matching TO tandem_gateway;
        GRANT SELECT ON matching.outbox TO tandem_gateway;
        CREATE POLICY webhook_reader ON matching.outbox FOR SELECT TO tandem_gateway USING (true);
    ELSE
        RAISE NOTICE 'role tandem_gateway does not exist: matching.outbox is not readable by webhooks';
    END IF;
END
$grant$;
