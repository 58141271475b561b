-- 042_usage_spans_opened_without_probe.sql - the span trigger of 040 for new
-- participants, without ON CONFLICT (issue #19; bench/RESULTS.md "BatchEnrol in
-- chunks").
--
-- A row inserted into participants has an id no span can hold yet: ids are drawn by
-- the table's default (gen_random_uuid()) and never sent in, and an upsert that finds
-- its row takes the UPDATE trigger instead. So the INSERT trigger's ON CONFLICT DO
-- NOTHING only cost a speculative insertion per span - on a 10,000-row insert about
-- 40 % more than the plain insert (85-100 ms against 118-153 ms for 10,000 spans,
-- measured on this kind of machine). Should a span ever be there, the insert now
-- fails the statement, and with it the enrolment, rather than count a participant
-- twice or not at all. The UPDATE trigger (041) keeps its ON CONFLICT: a re-enrolled
-- participant may still have its open span.

CREATE OR REPLACE FUNCTION enrolment.usage_participants_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO enrolment.usage_participant_spans (tenant_id, participant_id, start_time)
    SELECT n.tenant_id, n.id, enrolment.usage_now()
      FROM usage_new n
     WHERE n.status IN (1, 2) AND n.erase_time IS NULL;
    RETURN NULL;
END
$$;
