-- 050_at_risk_sweep.sql - match.at_risk comes from a periodic sweep, once per episode.
--
-- ListAtRiskMatches (a GET) wrote at_risk_notices and emitted match.at_risk while
-- answering, so a read-only key triggered webhooks (issue #15, API.md "Least privilege
-- in every answer"). Now the GET only reads, and at_risk_sweep.c finds the matches that
-- became at risk - for every reason, the time-based ones too - on a timer.
--
-- at_risk_episodes: one row per match and at-risk episode. The open episode of a match
-- (close_time NULL) is unique, so the INSERT ... ON CONFLICT DO NOTHING that opens it
-- decides, in the database, which transaction emits the one match.at_risk of the
-- episode, whichever replicas sweep. A sweep that finds the match no longer at risk
-- closes it; a later relapse opens a new one and emits again. Match ids only: nothing
-- an erasure has to reach.
CREATE TABLE feedback.at_risk_episodes (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    match_id   uuid        NOT NULL,
    reasons    smallint[]  NOT NULL, -- AtRiskReason values when it opened
    open_time  timestamptz NOT NULL DEFAULT now(),
    close_time timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX at_risk_episodes_open ON feedback.at_risk_episodes (tenant_id, match_id)
    WHERE close_time IS NULL;

-- at_risk_matches: the matches feedback sweeps, with their programme. Learnt from
-- matching's outbox (match.* events: ids only, matching 050_at_risk_follower.sql), the
-- programme asked of matching once per match (GetMatch, scope feedback:read); and,
-- for matches whose events are older than the outbox keeps, from the check-ins
-- recorded here. A match.ended removes its row (ENDED is final), so programmes whose
-- matches have all ended are no longer swept. Ids only, no personal data.
CREATE TABLE feedback.at_risk_matches (
    tenant_id    uuid NOT NULL,
    match_id     uuid NOT NULL,
    programme_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, match_id)
);
CREATE INDEX at_risk_matches_by_programme ON feedback.at_risk_matches (tenant_id, programme_id);

-- The sweeper: how far it has read matching's outbox (as matching.enrolment_cursor),
-- which replica holds the lease (one sweeps at a time; the episode claim above keeps
-- the event once even when two overlap), and how many passes it has finished. One
-- row, no tenant, no personal data.
CREATE TABLE feedback.at_risk_sweeper (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_xact      xid8    NOT NULL DEFAULT '0',
    last_seq       bigint  NOT NULL DEFAULT 0,
    holder         uuid,
    held_until     timestamptz,
    passes         bigint  NOT NULL DEFAULT 0,
    last_pass_time timestamptz
);
INSERT INTO feedback.at_risk_sweeper DEFAULT VALUES;

ALTER TABLE feedback.at_risk_episodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_episodes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feedback.at_risk_episodes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE feedback.at_risk_matches ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_matches FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feedback.at_risk_matches
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
-- The sweep lists the programmes of every tenant in a transaction bound to no tenant;
-- a transaction bound to a tenant still sees only its own (as enrolment's
-- scheduler_claim).
CREATE POLICY sweeper_list ON feedback.at_risk_matches FOR SELECT
    USING (NULLIF(current_setting('app.tenant_id', true), '') IS NULL);
ALTER TABLE feedback.at_risk_sweeper ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_sweeper FORCE ROW LEVEL SECURITY;
CREATE POLICY sweeper ON feedback.at_risk_sweeper USING (true) WITH CHECK (true);

GRANT SELECT, INSERT, UPDATE (close_time) ON feedback.at_risk_episodes TO @service_role@;
GRANT SELECT, INSERT, DELETE ON feedback.at_risk_matches TO @service_role@;
GRANT SELECT, UPDATE ON feedback.at_risk_sweeper TO @service_role@;

-- What was noticed before stays noticed: a match with a notice gets an open episode,
-- so the first sweep does not announce it again (and closes it if it has recovered).
-- The matches with check-ins are swept from now on. Row-level security is lifted for
-- the owner for the backfill only, inside the migration's transaction.
ALTER TABLE feedback.at_risk_notices NO FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.match_stats NO FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_episodes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_matches NO FORCE ROW LEVEL SECURITY;
INSERT INTO feedback.at_risk_episodes (tenant_id, match_id, reasons, open_time)
SELECT tenant_id, match_id, array_agg(reason ORDER BY reason), min(create_time)
FROM feedback.at_risk_notices GROUP BY tenant_id, match_id;
INSERT INTO feedback.at_risk_matches (tenant_id, match_id, programme_id)
SELECT tenant_id, match_id, programme_id FROM feedback.match_stats ON CONFLICT DO NOTHING;
ALTER TABLE feedback.at_risk_notices FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.match_stats FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_episodes FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.at_risk_matches FORCE ROW LEVEL SECURITY;
-- The notices are no longer written by this release (the episodes replace them).
-- The table stays writable for the replicas of the previous release still serving
-- during a rolling upgrade (their RecordCheckIn inserts a notice for a low rating;
-- revoking it would fail their check-ins); a later release drops it.

-- The gateway prunes matching's outbox only once every reader is past a row: the
-- sweeper is one now (services/gateway/webhook_store.c OUTBOX_READERS). It may read
-- this one row (a transaction id and a sequence number). Without the tandem_gateway
-- role the grant is skipped.
DO $grant$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_gateway') THEN
        GRANT USAGE ON SCHEMA feedback TO tandem_gateway;
        GRANT SELECT ON feedback.at_risk_sweeper TO tandem_gateway;
    ELSE
        RAISE NOTICE 'role tandem_gateway does not exist: matching.outbox is not pruned';
    END IF;
END
$grant$;
