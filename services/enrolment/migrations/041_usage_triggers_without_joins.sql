-- 041_usage_triggers_without_joins.sql - the participant span trigger of 040, made
-- cheap for large updates (issue #18; bench/RESULTS.md "Usage counts").
--
-- 040's UPDATE trigger joined its two transition tables with the spans. Transition
-- tables carry no statistics, and the planner's guess (one row each side) made that a
-- nested loop: a 2,000-row BatchEnrol upsert spent 2.8 s in it. Now an update looks at
-- each row's new state only, never joins: closing runs one indexed UPDATE per row that
-- left being enrolled (usually none); opening leans on the unique index of open spans
-- (ON CONFLICT DO NOTHING probes it per row): a row still enrolled already has its
-- open span, so nothing is inserted for it. The trigger no longer captures the old
-- rows. The spans' time index goes: GetUsageCounts reads a tenant's spans by the
-- primary key's tenant_id prefix, and a BatchEnrol maintains one index fewer per span.

CREATE OR REPLACE FUNCTION enrolment.usage_participants_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- No longer enrolled (withdrawn, erased): its open span ends now.
    FOR r IN SELECT n.tenant_id, n.id FROM usage_new n
              WHERE NOT (n.status IN (1, 2) AND n.erase_time IS NULL)
    LOOP
        UPDATE enrolment.usage_participant_spans
           SET end_time = greatest(start_time, enrolment.usage_now())
         WHERE tenant_id = r.tenant_id AND participant_id = r.id AND end_time IS NULL;
    END LOOP;
    -- Enrolled without an open span (a withdrawn participant re-enrolled): a new one.
    INSERT INTO enrolment.usage_participant_spans (tenant_id, participant_id, start_time)
    SELECT n.tenant_id, n.id, enrolment.usage_now()
      FROM usage_new n
     WHERE n.status IN (1, 2) AND n.erase_time IS NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

DROP TRIGGER usage_participants_updated ON enrolment.participants;
CREATE TRIGGER usage_participants_updated
    AFTER UPDATE ON enrolment.participants
    REFERENCING NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION enrolment.usage_participants_updated();

DROP INDEX enrolment.usage_participant_spans_time;
