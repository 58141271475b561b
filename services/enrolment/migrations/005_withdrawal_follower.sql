-- 005_withdrawal_follower.sql - let tandem-matching see which participants withdrew.
--
-- A withdrawn participant's live matches must end, and matches are matching's
-- (services/matching/withdrawals.c). It follows this outbox for participant.withdrawn
-- events, so the matching role may read the columns that say which event concerns
-- whom and in what order - tenant_id, type, resource_id, xact_id, seq - of every
-- tenant's rows, through a policy for that role alone. Not the payload: it holds the
-- person's data, which matching does not need here. Without the tandem_matching role
-- the grant is skipped.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_matching') THEN
        GRANT USAGE ON SCHEMA enrolment TO tandem_matching;
        GRANT SELECT (tenant_id, type, resource_id, xact_id, seq) ON enrolment.outbox
            TO tandem_matching;
        CREATE POLICY withdrawal_follower ON enrolment.outbox FOR SELECT TO tandem_matching
            USING (true);
    ELSE
        RAISE NOTICE 'role tandem_matching does not exist: withdrawals will not end matches';
    END IF;
END
$grant$;
