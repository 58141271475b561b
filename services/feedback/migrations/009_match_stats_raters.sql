-- 009_match_stats_raters.sql - which side of a match has rated it.
--
-- The report shows a mean rating only when at least the anonymity threshold of
-- distinct people recorded the ratings behind it (API.md, "Anonymity that survives a
-- determined reader"). The recorder of a check-in is always one side of its match, so
-- two flags per match, kept by RecordCheckIn with the running totals, say who rated
-- it without the report reading every check-in. Existing rows are filled from the
-- check-ins (a recorder erased before this migration no longer counts). Row-level
-- security is lifted for the owner for the backfill only, inside the migration's
-- transaction, and forced again before it ends.
ALTER TABLE feedback.match_stats
    ADD COLUMN mentor_rated boolean NOT NULL DEFAULT false,
    ADD COLUMN mentee_rated boolean NOT NULL DEFAULT false;
ALTER TABLE feedback.match_stats NO FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.check_ins NO FORCE ROW LEVEL SECURITY;
UPDATE feedback.match_stats s SET
    mentor_rated = EXISTS (SELECT 1 FROM feedback.check_ins c
                            WHERE c.tenant_id = s.tenant_id AND c.match_id = s.match_id
                              AND c.participant_id = c.mentor_id),
    mentee_rated = EXISTS (SELECT 1 FROM feedback.check_ins c
                            WHERE c.tenant_id = s.tenant_id AND c.match_id = s.match_id
                              AND c.participant_id = c.mentee_id);
ALTER TABLE feedback.match_stats FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.check_ins FORCE ROW LEVEL SECURITY;
