-- 041_usage_triggers_without_joins.sql - the match span trigger of 040, made cheap
-- for large updates (issue #18), as enrolment's 041: an update looks at each match's
-- new state only and never joins its transition tables (no statistics: quadratic
-- plans); one indexed UPDATE per match that left ACTIVE, and an insert that the unique
-- index of open spans turns into nothing for a match already ACTIVE. The trigger no
-- longer captures the old rows, and the spans' time index goes (reads use the primary
-- key's tenant_id prefix).

CREATE OR REPLACE FUNCTION matching.usage_matches_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT n.tenant_id, n.id FROM usage_new n WHERE n.status <> 4
    LOOP
        UPDATE matching.usage_match_spans
           SET end_time = greatest(start_time, matching.usage_now())
         WHERE tenant_id = r.tenant_id AND match_id = r.id AND end_time IS NULL;
    END LOOP;
    INSERT INTO matching.usage_match_spans (tenant_id, match_id, start_time)
    SELECT n.tenant_id, n.id, matching.usage_now()
      FROM usage_new n
     WHERE n.status = 4
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

DROP TRIGGER usage_matches_updated ON matching.matches;
CREATE TRIGGER usage_matches_updated
    AFTER UPDATE ON matching.matches
    REFERENCING NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION matching.usage_matches_updated();

DROP INDEX matching.usage_match_spans_time;
