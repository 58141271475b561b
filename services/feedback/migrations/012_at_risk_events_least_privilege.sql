-- 012_at_risk_events_least_privilege.sql - match.at_risk events already written keep
-- only what a feedback:read caller may see of the match.
--
-- The match in a match.at_risk event was the whole Match as the noticing call read
-- it: explanation (with diversity-derived items), score, responses and decline
-- reasons. New events carry only id, programmeId, mentorId, menteeId, status and
-- startTime (API.md "Least privilege in every answer"); this rewrites the rows written
-- before, not yet pruned, the same way. Row-level security is forced for the owner
-- too; it is lifted for this statement only, inside the migration's transaction.
ALTER TABLE feedback.outbox NO FORCE ROW LEVEL SECURITY;

UPDATE feedback.outbox o
SET payload = jsonb_set(o.payload, '{match}',
                        COALESCE((SELECT jsonb_object_agg(f.key, f.value)
                                  FROM jsonb_each(o.payload -> 'match') f
                                  WHERE f.key IN ('id', 'programmeId', 'mentorId', 'menteeId',
                                                  'status', 'startTime')), '{}'::jsonb))
WHERE o.type = 'match.at_risk' AND jsonb_typeof(o.payload -> 'match') = 'object';

ALTER TABLE feedback.outbox FORCE ROW LEVEL SECURITY;
