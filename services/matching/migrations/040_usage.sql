-- 040_usage.sql - active matches per month, for billing (issue #18; docs/operations.md
-- "Usage").
--
-- A match is active in a month when it was ACTIVE (both sides accepted, not yet
-- ended) at some moment of it. Each stretch a match spends ACTIVE is a span, opened
-- and closed by a trigger in the transaction of the write that starts or ends it
-- (RespondToMatch, EndMatch, a withdrawal ending the match, erasure), and never
-- changed afterwards, so later erasure or ending does not rewrite past months. A
-- span holds the match's random id and two times, nothing about the people; one row
-- per stretch, keyed by the match, so replicas cannot count twice.
--
-- usage_now(): the database's clock, moved by the session setting
-- tandem.usage_clock_offset_s when a test sets it in its connection string.

CREATE FUNCTION matching.usage_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT now() + COALESCE(NULLIF(current_setting('tandem.usage_clock_offset_s', true), '')::bigint, 0)
                   * interval '1 second'
$$;

CREATE TABLE matching.usage_match_spans (
    tenant_id  uuid        NOT NULL,
    match_id   uuid        NOT NULL,
    start_time timestamptz NOT NULL,
    end_time   timestamptz,
    PRIMARY KEY (tenant_id, match_id, start_time),
    CHECK (end_time IS NULL OR end_time >= start_time)
);
CREATE UNIQUE INDEX usage_match_spans_open
    ON matching.usage_match_spans (tenant_id, match_id) WHERE end_time IS NULL;
CREATE INDEX usage_match_spans_time ON matching.usage_match_spans (tenant_id, start_time);

-- Per statement over its transition tables (one INSERT ... SELECT for a whole
-- ApproveRun), as enrolment's participant spans: one trigger for INSERT, one for
-- UPDATE.
CREATE FUNCTION matching.usage_matches_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO matching.usage_match_spans (tenant_id, match_id, start_time)
    SELECT n.tenant_id, n.id, matching.usage_now() FROM usage_new n WHERE n.status = 4
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION matching.usage_matches_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE matching.usage_match_spans s
       SET end_time = greatest(s.start_time, matching.usage_now())
      FROM usage_old o JOIN usage_new n ON n.tenant_id = o.tenant_id AND n.id = o.id
     WHERE o.status = 4 AND n.status <> 4
       AND s.tenant_id = n.tenant_id AND s.match_id = n.id AND s.end_time IS NULL;
    INSERT INTO matching.usage_match_spans (tenant_id, match_id, start_time)
    SELECT n.tenant_id, n.id, matching.usage_now()
      FROM usage_old o JOIN usage_new n ON n.tenant_id = o.tenant_id AND n.id = o.id
     WHERE o.status <> 4 AND n.status = 4
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_matches_inserted
    AFTER INSERT ON matching.matches
    REFERENCING NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION matching.usage_matches_inserted();
CREATE TRIGGER usage_matches_updated
    AFTER UPDATE ON matching.matches
    REFERENCING OLD TABLE AS usage_old NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION matching.usage_matches_updated();

-- Matches that were ACTIVE or ENDED before this migration: a span from their start
-- to their end, so the months since are counted too. Read by the owner across
-- tenants before the new table's row-level security is on.
ALTER TABLE matching.matches NO FORCE ROW LEVEL SECURITY;
INSERT INTO matching.usage_match_spans (tenant_id, match_id, start_time, end_time)
SELECT tenant_id, id, COALESCE(start_time, create_time),
       CASE WHEN status = 4 THEN NULL
            ELSE greatest(COALESCE(start_time, create_time), COALESCE(end_time, update_time)) END
  FROM matching.matches
 WHERE status = 4 OR (status = 5 AND start_time IS NOT NULL);
ALTER TABLE matching.matches FORCE ROW LEVEL SECURITY;

ALTER TABLE matching.usage_match_spans ENABLE ROW LEVEL SECURITY;
ALTER TABLE matching.usage_match_spans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON matching.usage_match_spans
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON matching.usage_match_spans TO @service_role@;
