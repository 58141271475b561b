-- 050_at_risk_follower.sql - let tandem-feedback see which matches exist.
--
-- match.at_risk is emitted by a periodic sweep in tandem-feedback (its
-- at_risk_sweep.c), which must know every live match, the silent ones too (no
-- check-in, no event of its own: overdue by the clock alone). It follows this outbox
-- for match.* events, so the feedback role may read the columns that say which event
-- concerns which match and in what order - tenant_id, type, resource_id, xact_id, seq
-- - of every tenant's rows, through a policy for that role alone. Not the payload: it
-- holds explanations and decline reasons feedback does not need (it asks GetMatch
-- with scope feedback:read for the programme). Without the tandem_feedback role the
-- grant is skipped.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_feedback') THEN
        GRANT USAGE ON SCHEMA matching TO tandem_feedback;
        GRANT SELECT (tenant_id, type, resource_id, xact_id, seq) ON matching.outbox
            TO tandem_feedback;
        CREATE POLICY at_risk_follower ON matching.outbox FOR SELECT TO tandem_feedback
            USING (true);
    ELSE
        RAISE NOTICE 'role tandem_feedback does not exist: the at-risk sweep sees no new matches';
    END IF;
END
$grant$;
