-- 003_outbox_retention.sql - let the gateway delete the outbox rows it is done with.
--
-- Every event keeps the resource it concerns, personal data included, and nothing
-- removed rows before: the outbox grew for ever. The gateway, the one reader (its
-- cursor says what it has fanned out), now deletes rows behind its cursor once they
-- are older than TANDEM_OUTBOX_RETENTION_HOURS (default a week): DELETE on this
-- table and a policy for that role alone. Without the tandem_gateway role the grant
-- is skipped, as in 002_outbox_reader.sql.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_gateway') THEN
        GRANT DELETE ON matching.outbox TO tandem_gateway;
        CREATE POLICY webhook_pruner ON matching.outbox FOR DELETE TO tandem_gateway USING (true);
    ELSE
        RAISE NOTICE 'role tandem_gateway does not exist: matching.outbox is not pruned';
    END IF;
END
$grant$;
