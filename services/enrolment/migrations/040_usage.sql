-- 040_usage.sql - what a tenant used, per month, for billing (issue #18; API.md
-- "Programme templates, benchmarks and usage"; docs/operations.md "Usage").
--
-- A participant is active in a month when they were enrolled (ENROLLED or MATCHED,
-- not erased) at some moment of it. Reading that off the participants table would
-- let history change: a withdrawal followed by a re-enrolment, or an erasure, rewrites
-- the row. So every stretch of time a participant spends enrolled is recorded here as
-- a span, opened and closed by a trigger in the transaction of the write that starts
-- or ends it - whichever path writes (EnrolParticipant, BatchEnrol, the directory,
-- withdrawal, erasure) - and never changed afterwards. A span holds no personal data:
-- the participant's random id (which names nobody once the participant is erased),
-- and two times. One row per stretch, keyed by the participant: replicas cannot count
-- twice.
--
-- The times come from usage_now(): the database's clock, moved by the session setting
-- tandem.usage_clock_offset_s (seconds) when a test sets it in the connection string
-- (options=-c tandem.usage_clock_offset_s=...). Unset in production: now().

CREATE FUNCTION enrolment.usage_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT now() + COALESCE(NULLIF(current_setting('tandem.usage_clock_offset_s', true), '')::bigint, 0)
                   * interval '1 second'
$$;

CREATE TABLE enrolment.usage_participant_spans (
    tenant_id      uuid        NOT NULL,
    participant_id uuid        NOT NULL,
    start_time     timestamptz NOT NULL,
    end_time       timestamptz,
    PRIMARY KEY (tenant_id, participant_id, start_time),
    CHECK (end_time IS NULL OR end_time >= start_time)
);
-- At most one open span per participant.
CREATE UNIQUE INDEX usage_participant_spans_open
    ON enrolment.usage_participant_spans (tenant_id, participant_id) WHERE end_time IS NULL;

-- Enrolled: ENROLLED (1) or MATCHED (2), and not erased. The triggers are per
-- statement over its transition tables, so a BatchEnrol of 10,000 rows opens its
-- spans with one INSERT ... SELECT, not 10,000 (PostgreSQL allows transition tables
-- only on single-event triggers without a column list: one trigger for INSERT, one
-- for UPDATE, which compares each row's old and new state).
CREATE FUNCTION enrolment.usage_participants_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO enrolment.usage_participant_spans (tenant_id, participant_id, start_time)
    SELECT n.tenant_id, n.id, enrolment.usage_now()
      FROM usage_new n
     WHERE n.status IN (1, 2) AND n.erase_time IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION enrolment.usage_participants_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Left being enrolled (withdrawn, erased): the open span ends now.
    UPDATE enrolment.usage_participant_spans s
       SET end_time = greatest(s.start_time, enrolment.usage_now())
      FROM usage_old o JOIN usage_new n ON n.tenant_id = o.tenant_id AND n.id = o.id
     WHERE o.status IN (1, 2) AND o.erase_time IS NULL
       AND NOT (n.status IN (1, 2) AND n.erase_time IS NULL)
       AND s.tenant_id = n.tenant_id AND s.participant_id = n.id AND s.end_time IS NULL;
    -- Enrolled again (a withdrawn participant re-enrolled): a new span.
    INSERT INTO enrolment.usage_participant_spans (tenant_id, participant_id, start_time)
    SELECT n.tenant_id, n.id, enrolment.usage_now()
      FROM usage_old o JOIN usage_new n ON n.tenant_id = o.tenant_id AND n.id = o.id
     WHERE NOT (o.status IN (1, 2) AND o.erase_time IS NULL)
       AND n.status IN (1, 2) AND n.erase_time IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_participants_inserted
    AFTER INSERT ON enrolment.participants
    REFERENCING NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION enrolment.usage_participants_inserted();
CREATE TRIGGER usage_participants_updated
    AFTER UPDATE ON enrolment.participants
    REFERENCING OLD TABLE AS usage_old NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION enrolment.usage_participants_updated();

-- Participants enrolled before this migration: one span each from their enrolment
-- (withdrawn ones closed at their withdrawal), so the months since are counted too.
-- Read across tenants by the owner, as 009 does, before the new table's RLS is on.
ALTER TABLE enrolment.participants NO FORCE ROW LEVEL SECURITY;
INSERT INTO enrolment.usage_participant_spans (tenant_id, participant_id, start_time, end_time)
SELECT tenant_id, id, create_time,
       CASE WHEN status IN (1, 2) AND erase_time IS NULL THEN NULL
            ELSE greatest(create_time, COALESCE(withdraw_time, erase_time, update_time)) END
  FROM enrolment.participants;
ALTER TABLE enrolment.participants FORCE ROW LEVEL SECURITY;

ALTER TABLE enrolment.usage_participant_spans ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment.usage_participant_spans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrolment.usage_participant_spans
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Read by GetUsageCounts: a month's spans.
CREATE INDEX usage_participant_spans_time
    ON enrolment.usage_participant_spans (tenant_id, start_time);

GRANT SELECT, INSERT, UPDATE ON enrolment.usage_participant_spans TO @service_role@;
