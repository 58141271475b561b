-- 060_report_aggregates.sql - the report's survey and progress figures kept as
-- running totals (issue #19), so GetProgrammeReport no longer reads every response,
-- every NPS answer and every match's latest progress.
--
-- Three maintained aggregates, each kept by a trigger in the transaction that writes
-- the rows it sums (RecordCheckIn, SubmitSurveyResponse, the erasure), so every
-- writer keeps them right and a report never sees one without the other:
--
--   * report_respondents: per programme and respondent, how many survey responses
--     and NPS answers (and of those, promoters and detractors). The respondent is the
--     participant id; once a participant is erased (survey_responses.participant_id
--     set NULL) each of their responses becomes its own anonymous respondent keyed by
--     the response's random id - exactly how the report has always counted an erased
--     respondent (COALESCE(participant_id, response id)) - and the row keyed by their
--     participant id goes. A person answering twice is one row: distinct-person counts
--     stay exact. Breakdown attributes are NOT kept here: they are enrolment's and can
--     change at any time, so the report groups these per-person rows by the keys
--     enrolment gives it at read time (services/feedback/report_sql.h).
--   * objective_stats: per programme and objective, the sum and count of each match's
--     latest percent (goal_progress_latest), so the mean is sum / count.
--   * an index on survey_responses in arrival order, so the report reads only the
--     newest (total mod threshold) responses that its survey figures leave out
--     ("figures move in steps") and subtracts them from the totals.
--
-- Match figures keep coming from match_stats (one row per match, kept by
-- RecordCheckIn since 001). Existing rows are backfilled here; row-level security is
-- lifted for the owner for the backfill only, inside the migration's transaction.

CREATE TABLE feedback.report_respondents (
    tenant_id     uuid    NOT NULL,
    programme_id  uuid    NOT NULL,
    respondent_id uuid    NOT NULL, -- participant id, or an erased respondent's response id
    anonymous     boolean NOT NULL, -- an erased respondent's response
    responses     integer NOT NULL CHECK (responses >= 0),
    nps_n         integer NOT NULL CHECK (nps_n >= 0),
    promoters     integer NOT NULL CHECK (promoters >= 0),
    detractors    integer NOT NULL CHECK (detractors >= 0),
    PRIMARY KEY (tenant_id, programme_id, respondent_id)
);

CREATE TABLE feedback.objective_stats (
    tenant_id     uuid    NOT NULL,
    programme_id  uuid    NOT NULL,
    objective_key text    NOT NULL,
    percent_sum   bigint  NOT NULL CHECK (percent_sum >= 0),
    matches       integer NOT NULL CHECK (matches >= 0),
    PRIMARY KEY (tenant_id, programme_id, objective_key)
);

-- The newest responses of a programme first (the report's uncounted tail).
CREATE INDEX survey_responses_arrival
    ON feedback.survey_responses (tenant_id, programme_id, create_time DESC, id DESC);

-- A response's share of its respondent's totals: 1 response and its NPS answers.
CREATE FUNCTION feedback.report_respondent_add(p_tenant uuid, p_programme uuid, p_respondent uuid,
                                               p_anonymous boolean, p_responses integer,
                                               p_nps integer, p_promoters integer,
                                               p_detractors integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO feedback.report_respondents AS r (tenant_id, programme_id, respondent_id,
        anonymous, responses, nps_n, promoters, detractors)
    VALUES (p_tenant, p_programme, p_respondent, p_anonymous, p_responses, p_nps, p_promoters,
            p_detractors)
    ON CONFLICT (tenant_id, programme_id, respondent_id) DO UPDATE SET
        responses = r.responses + EXCLUDED.responses, nps_n = r.nps_n + EXCLUDED.nps_n,
        promoters = r.promoters + EXCLUDED.promoters,
        detractors = r.detractors + EXCLUDED.detractors
$$;

CREATE FUNCTION feedback.report_on_response() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n integer; pro integer; det integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- Its answers are inserted after it (they reference it): they add themselves.
        PERFORM feedback.report_respondent_add(NEW.tenant_id, NEW.programme_id,
            COALESCE(NEW.participant_id, NEW.id), NEW.participant_id IS NULL, 1, 0, 0, 0);
        RETURN NULL;
    END IF;
    -- Erasure: the response leaves its participant's row for an anonymous one.
    IF OLD.participant_id IS NOT NULL AND NEW.participant_id IS NULL THEN
        SELECT count(*), count(*) FILTER (WHERE a.score >= 9), count(*) FILTER (WHERE a.score <= 6)
          INTO n, pro, det
          FROM feedback.survey_answers a
         WHERE a.tenant_id = NEW.tenant_id AND a.response_id = NEW.id AND a.kind = 2
           AND a.score IS NOT NULL;
        UPDATE feedback.report_respondents r
           SET responses = r.responses - 1, nps_n = r.nps_n - n, promoters = r.promoters - pro,
               detractors = r.detractors - det
         WHERE r.tenant_id = OLD.tenant_id AND r.programme_id = OLD.programme_id
           AND r.respondent_id = OLD.participant_id;
        DELETE FROM feedback.report_respondents r
         WHERE r.tenant_id = OLD.tenant_id AND r.programme_id = OLD.programme_id
           AND r.respondent_id = OLD.participant_id AND r.responses = 0;
        PERFORM feedback.report_respondent_add(NEW.tenant_id, NEW.programme_id, NEW.id, true, 1,
                                               n, pro, det);
    ELSIF OLD.participant_id IS DISTINCT FROM NEW.participant_id
          OR OLD.programme_id <> NEW.programme_id THEN
        RAISE EXCEPTION 'a survey response changes respondent only by erasure';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION feedback.report_on_answer() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    who uuid;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.score IS DISTINCT FROM NEW.score OR OLD.kind <> NEW.kind
           OR OLD.response_id <> NEW.response_id THEN
            RAISE EXCEPTION 'a survey answer''s score is never changed';
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.kind <> 2 OR NEW.score IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(r.participant_id, r.id) INTO who
      FROM feedback.survey_responses r
     WHERE r.tenant_id = NEW.tenant_id AND r.id = NEW.response_id;
    PERFORM feedback.report_respondent_add(NEW.tenant_id, NEW.programme_id, who, false, 0, 1,
        (NEW.score >= 9)::int, (NEW.score <= 6)::int);
    RETURN NULL;
END
$$;

CREATE FUNCTION feedback.report_on_progress() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (OLD.programme_id <> NEW.programme_id
                             OR OLD.objective_key <> NEW.objective_key) THEN
        RAISE EXCEPTION 'a match''s latest progress keeps its programme and objective';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- The row exists: the first progress of this match and objective inserted it.
        UPDATE feedback.objective_stats s SET percent_sum = s.percent_sum + NEW.percent - OLD.percent
         WHERE s.tenant_id = NEW.tenant_id AND s.programme_id = NEW.programme_id
           AND s.objective_key = NEW.objective_key;
    ELSE
        INSERT INTO feedback.objective_stats AS s (tenant_id, programme_id, objective_key,
            percent_sum, matches)
        VALUES (NEW.tenant_id, NEW.programme_id, NEW.objective_key, NEW.percent, 1)
        ON CONFLICT (tenant_id, programme_id, objective_key) DO UPDATE SET
            percent_sum = s.percent_sum + EXCLUDED.percent_sum, matches = s.matches + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER report_aggregates AFTER INSERT OR UPDATE ON feedback.survey_responses
    FOR EACH ROW EXECUTE FUNCTION feedback.report_on_response();
CREATE TRIGGER report_aggregates AFTER INSERT OR UPDATE ON feedback.survey_answers
    FOR EACH ROW EXECUTE FUNCTION feedback.report_on_answer();
CREATE TRIGGER report_aggregates AFTER INSERT OR UPDATE ON feedback.goal_progress_latest
    FOR EACH ROW EXECUTE FUNCTION feedback.report_on_progress();

-- Backfill from the rows already there.
ALTER TABLE feedback.survey_responses NO FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.survey_answers NO FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.goal_progress_latest NO FORCE ROW LEVEL SECURITY;

INSERT INTO feedback.report_respondents (tenant_id, programme_id, respondent_id, anonymous,
    responses, nps_n, promoters, detractors)
SELECT r.tenant_id, r.programme_id, COALESCE(r.participant_id, r.id), r.participant_id IS NULL,
       count(*), COALESCE(sum(a.n), 0), COALESCE(sum(a.pro), 0), COALESCE(sum(a.det), 0)
  FROM feedback.survey_responses r
  LEFT JOIN LATERAL (
      SELECT count(*) AS n, count(*) FILTER (WHERE x.score >= 9) AS pro,
             count(*) FILTER (WHERE x.score <= 6) AS det
        FROM feedback.survey_answers x
       WHERE x.tenant_id = r.tenant_id AND x.response_id = r.id AND x.kind = 2
         AND x.score IS NOT NULL) a ON true
 GROUP BY 1, 2, 3, 4;

INSERT INTO feedback.objective_stats (tenant_id, programme_id, objective_key, percent_sum,
    matches)
SELECT tenant_id, programme_id, objective_key, sum(percent), count(*)
  FROM feedback.goal_progress_latest GROUP BY 1, 2, 3;

ALTER TABLE feedback.survey_responses FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.survey_answers FORCE ROW LEVEL SECURITY;
ALTER TABLE feedback.goal_progress_latest FORCE ROW LEVEL SECURITY;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['report_respondents', 'objective_stats'] LOOP
        EXECUTE format('ALTER TABLE feedback.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE feedback.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON feedback.%I
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- The triggers run as the role that writes the rows (the service role): it needs these.
GRANT SELECT, INSERT, UPDATE, DELETE ON feedback.report_respondents TO @service_role@;
GRANT SELECT, INSERT, UPDATE ON feedback.objective_stats TO @service_role@;
REVOKE EXECUTE ON FUNCTION feedback.report_respondent_add(uuid, uuid, uuid, boolean, integer,
    integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION feedback.report_respondent_add(uuid, uuid, uuid, boolean, integer,
    integer, integer, integer) TO @service_role@;
