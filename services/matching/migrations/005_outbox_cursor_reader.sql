-- 005_outbox_cursor_reader.sql - let the gateway see how far the withdrawal follower
-- has read enrolment's outbox.
--
-- The gateway prunes the services' outboxes (TANDEM_OUTBOX_RETENTION_HOURS), and an
-- outbox row may go only once every reader of that outbox is past it: the gateway's
-- own fan-out and, for enrolment's outbox, this service's withdrawal follower
-- (matching.enrolment_cursor). Pruning behind the gateway's cursor alone lost the
-- withdrawals of a follower that lagged past the retention. So tandem_gateway may
-- read that one row (no tenant, no personal data: a transaction id and a sequence
-- number); the follower policy of 004_withdrawals.sql already admits every role.
-- Without the tandem_gateway role the grant is skipped, and nothing else changes.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_gateway') THEN
        GRANT USAGE ON SCHEMA matching TO tandem_gateway;
        GRANT SELECT ON matching.enrolment_cursor TO tandem_gateway;
    ELSE
        RAISE NOTICE 'role tandem_gateway does not exist: enrolment.outbox is not pruned';
    END IF;
END
$grant$;
