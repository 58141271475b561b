/*
 * report_sql.h - the one statement that computes GetProgrammeReport.
 *
 * Participants (from enrolment) and matches (from matching) arrive as parallel
 * arrays (binary, as the owners' column calls give them, or text literals from the
 * public List calls) and are unnested; check-ins are read through the per-match running totals
 * (match_stats) and objective progress through each match's latest percent
 * (goal_progress_latest), both kept by RecordCheckIn, so the statement reads one
 * row per match rather than every check-in. Everything is aggregated here, the
 * breakdowns in one pass over the people and one over the matches, each unpivoted to
 * (dimension, key) rows after its joins:
 * counts, means, NPS, the response rate, the at-risk count and the breakdowns,
 * with the anonymity rules of API.md ("Anonymity that survives a determined reader",
 * docs/privacy.md): groups under the threshold suppressed, and the smallest shown
 * group too when exactly one was suppressed (the total minus the shown groups would
 * reveal it); everyone without a value in a "(not stated)" group; every mean rating
 * and NPS, programme-level too, shown only when at least threshold distinct people
 * gave the ratings or answers (else absent and named in "suppressed"); survey
 * figures over the first k * threshold responses only. Notes and free-text answers
 * are never read.
 *
 * Parameters: $1 programme id, $2 anonymity threshold, $3 check-in cadence (days),
 * $4 objective keys text[];
 * participants $5 id uuid[], $6 role int[], $7 status int[], $8 office text[],
 * $9 practice area text[], $10 seniority int[], $11 gender text[], $12 ethnicity
 * text[], $13 first generation ("yes"/"no"/NULL) text[], $14 disability text[];
 * matches $15 id uuid[], $16 mentor uuid[], $17 mentee uuid[], $18 status int[],
 * $19 start (start_time, else create_time) timestamptz[], $20 a side declined bool[];
 * $21 include the diversity dimensions (the caller is an admin).
 * One row, one column: the report as JSON text (keys in snake_case).
 *
 * Shared with tools/bench/feedback, which times exactly this statement.
 */
#ifndef TANDEM_FEEDBACK_REPORT_SQL_H
#define TANDEM_FEEDBACK_REPORT_SQL_H

#include "tandem/store.h"

/* The transaction's tenant. tools/bench/feedback reads this header's text and puts
 * TDM_SQL_TENANT's expansion where FB_T stands. */
#define FB_T TDM_SQL_TENANT

#define FB_REPORT_NPARAMS 21

static const char FB_REPORT_SQL[] =
    "WITH p AS MATERIALIZED ( "
    "  SELECT * FROM unnest($5::uuid[], $6::int[], $7::int[], $8::text[], $9::text[], $10::int[], "
    "                       $11::text[], $12::text[], $13::text[], $14::text[]) "
    "    AS p(id, role, status, office, practice_area, seniority, gender, ethnicity, first_gen, "
    "disability)), "
    "m AS MATERIALIZED ( "
    "  SELECT * FROM unnest($15::uuid[], $16::uuid[], $17::uuid[], $18::int[], $19::timestamptz[], "
    "$20::bool[]) "
    "    AS m(id, mentor_id, mentee_id, status, start_time, declined)), "
    "per_match AS MATERIALIZED ( "
    "  SELECT s.match_id, s.check_ins AS n, s.rating_sum, s.last_time, s.last_rating, "
    "         s.mentor_rated, s.mentee_rated "
    "    FROM feedback.match_stats s "
    "   WHERE s.tenant_id = " FB_T " AND s.programme_id = $1::uuid), "
    "live AS MATERIALIZED ( "
    "  SELECT DISTINCT x AS id FROM m CROSS JOIN LATERAL (VALUES (m.mentor_id), (m.mentee_id)) "
    "v(x) "
    "   WHERE m.status IN (1, 2, 4)), "
    /* Survey responses in arrival order. The survey figures count only the first */
    /* floor(n / threshold) * threshold of them, so they move in steps of at least */
    /* threshold new responses and two reports never differ by fewer people. */
    "responses AS MATERIALIZED ( "
    "  SELECT r.id, r.participant_id, r.create_time, "
    "         row_number() OVER (ORDER BY r.create_time, r.id) AS rn, count(*) OVER () AS total "
    "    FROM feedback.survey_responses r "
    "   WHERE r.tenant_id = " FB_T " AND r.programme_id = $1::uuid), "
    "counted AS MATERIALIZED ( "
    "  SELECT id, participant_id, create_time FROM responses "
    "   WHERE rn <= (total / $2::int) * $2::int), "
    "nps_answers AS MATERIALIZED ( "
    "  SELECT c.participant_id, a.score FROM feedback.survey_answers a "
    "    JOIN counted c ON c.id = a.response_id "
    "   WHERE a.tenant_id = " FB_T " "
    "     AND a.programme_id = $1::uuid AND a.kind = 2 AND a.score IS NOT NULL), "
    "nps_by_person AS ( "
    "  SELECT participant_id AS id, count(*) AS n, count(*) FILTER (WHERE score >= 9) AS "
    "promoters, "
    "         count(*) FILTER (WHERE score <= 6) AS detractors "
    "    FROM nps_answers WHERE participant_id IS NOT NULL GROUP BY participant_id), "
    /* Who recorded each match's ratings (the recorder is always one side, and */
    /* match_stats keeps which side has): a rating figure rests on these people. */
    "raters AS MATERIALIZED ( "
    "  SELECT pm.match_id, m.mentor_id AS participant_id FROM per_match pm "
    "    JOIN m ON m.id = pm.match_id WHERE pm.mentor_rated "
    "  UNION ALL "
    "  SELECT pm.match_id, m.mentee_id FROM per_match pm "
    "    JOIN m ON m.id = pm.match_id WHERE pm.mentee_rated), "
    /* Each enrolled participant's key in every dimension (k1..k7); without a value */
    /* the key is '(not stated)', a group like any other, so that no suppressed group */
    /* is the total minus the shown ones. Non-admins get no diversity keys (NULL). */
    "keyed AS MATERIALIZED ( "
    "  SELECT p.id, COALESCE(NULLIF(p.office, ''), '(not stated)') AS k1, "
    "         COALESCE(NULLIF(p.practice_area, ''), '(not stated)') AS k2, "
    "         CASE WHEN p.seniority IS NULL THEN '(not stated)' WHEN p.seniority <= 2 THEN '0-2' "
    "              WHEN p.seniority <= 5 THEN '3-5' WHEN p.seniority <= 8 THEN '6-8' ELSE '9-10' "
    "END AS k3, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.gender, ''), '(not stated)') END AS k4, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.ethnicity, ''), '(not stated)') END "
    "AS k5, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.first_gen, ''), '(not stated)') END "
    "AS k6, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.disability, ''), '(not stated)') END "
    "AS k7 "
    "    FROM p WHERE p.status <> 3), "
    "dims AS ( "
    "  SELECT d.dim, d.ord FROM (VALUES ('office', 1), ('practice_area', 2), ('seniority_band', "
    "3), "
    "      ('gender', 4), ('ethnicity', 5), ('first_generation_professional', 6), ('disability', "
    "7)) d(dim, ord) "
    "   WHERE d.ord <= 3 OR $21::bool), "
    /* Each person's figures joined once, then one row per (dimension, key), grouped. */
    "people_groups AS ( "
    "  SELECT v.ord, v.key, count(*) AS n, count(l.id) AS matched, count(nb.id) AS nps_people, "
    "         sum(nb.n) AS nps_n, sum(nb.promoters) AS promoters, "
    "         sum(nb.detractors) AS detractors "
    "    FROM keyed k LEFT JOIN live l ON l.id = k.id LEFT JOIN nps_by_person nb ON nb.id = k.id "
    "    CROSS JOIN LATERAL (VALUES (1, k.k1), (2, k.k2), (3, k.k3), (4, k.k4), (5, k.k5), "
    "                               (6, k.k6), (7, k.k7)) v(ord, key) "
    "   WHERE v.key IS NOT NULL GROUP BY v.ord, v.key), "
    /* Check-ins of matches with a group member: each match with both sides' keys (one */
    /* pass, two joins), then one row per (dimension, key) of either side, the mentee's */
    /* key dropped where it is the mentor's, so a match counts once in a group. A side */
    /* not enrolled (withdrawn or erased) has no keys and counts in no group. */
    "pairs AS MATERIALIZED ( "
    "  SELECT pm.match_id, pm.n, pm.rating_sum, a.k1 AS a1, a.k2 AS a2, a.k3 AS a3, a.k4 AS a4, "
    "         a.k5 AS a5, a.k6 AS a6, a.k7 AS a7, b.k1 AS b1, b.k2 AS b2, b.k3 AS b3, "
    "         b.k4 AS b4, b.k5 AS b5, b.k6 AS b6, b.k7 AS b7 "
    "    FROM per_match pm JOIN m ON m.id = pm.match_id "
    "    LEFT JOIN keyed a ON a.id = m.mentor_id LEFT JOIN keyed b ON b.id = m.mentee_id), "
    "match_sides AS MATERIALIZED ( "
    "  SELECT p.match_id, p.n, p.rating_sum, v.ord, v.key FROM pairs p "
    "    CROSS JOIN LATERAL (VALUES (1, p.a1), (2, p.a2), (3, p.a3), (4, p.a4), (5, p.a5), "
    "      (6, p.a6), (7, p.a7), (1, NULLIF(p.b1, p.a1)), (2, NULLIF(p.b2, p.a2)), "
    "      (3, NULLIF(p.b3, p.a3)), (4, NULLIF(p.b4, p.a4)), (5, NULLIF(p.b5, p.a5)), "
    "      (6, NULLIF(p.b6, p.a6)), (7, NULLIF(p.b7, p.a7))) v(ord, key) "
    "   WHERE v.key IS NOT NULL), "
    "match_groups AS ( "
    "  SELECT s.ord, s.key, sum(s.n) AS n, sum(s.rating_sum) AS rating_sum "
    "    FROM match_sides s GROUP BY s.ord, s.key), "
    /* The distinct people who recorded the ratings behind each group's mean. */
    "rater_groups AS ( "
    "  SELECT d.ord, d.key, count(*) AS raters FROM ( "
    "    SELECT DISTINCT s.ord, s.key, r.participant_id "
    "      FROM match_sides s JOIN raters r ON r.match_id = s.match_id) d "
    "   GROUP BY d.ord, d.key), "
    "ranked AS ( "
    "  SELECT g.*, g.n < $2::int AS small, "
    "         count(*) FILTER (WHERE g.n < $2::int) OVER (PARTITION BY g.ord) AS n_small, "
    "         row_number() OVER (PARTITION BY g.ord, g.n < $2::int ORDER BY g.n, g.key) AS rank_up "
    "    FROM people_groups g), "
    /* Complementary suppression: one suppressed group alone could be recovered by */
    /* subtracting the shown groups from a total, so the smallest shown group goes too. */
    "shown AS ( "
    "  SELECT r.*, NOT (r.small OR (r.n_small = 1 AND r.rank_up = 1)) AS visible FROM ranked r), "
    "breakdowns AS ( "
    "  SELECT s.ord, "
    "         COALESCE(json_agg(json_build_object( "
    "           'key', s.key, 'count', s.n, 'matched', s.matched, 'check_ins', COALESCE(mg.n, 0), "
    /* A group's mean rating and NPS come from fewer people than the group: shown only */
    /* when at least threshold distinct people gave the ratings / answers, so that a */
    /* large group with one respondent does not reveal that respondent's answer. */
    "           'mean_rating', CASE WHEN COALESCE(rg.raters, 0) >= $2::int "
    "                          THEN mg.rating_sum::float8 / mg.n END, "
    "           'nps', CASE WHEN s.nps_people >= $2::int THEN 100.0::float8 * (s.promoters - "
    "s.detractors) / s.nps_n END, "
    "           'suppressed', array_remove(ARRAY[ "
    "             CASE WHEN COALESCE(rg.raters, 0) < $2::int THEN 'meanRating' END, "
    "             CASE WHEN s.nps_people < $2::int THEN 'nps' END], NULL)) "
    "           ORDER BY s.n DESC, s.key) FILTER (WHERE s.visible), '[]') AS groups, "
    "         count(*) FILTER (WHERE NOT s.visible) AS suppressed "
    "    FROM shown s LEFT JOIN match_groups mg ON mg.ord = s.ord AND mg.key = s.key "
    "    LEFT JOIN rater_groups rg ON rg.ord = s.ord AND rg.key = s.key "
    "   GROUP BY s.ord), "
    /* Programme-level contributors: who recorded ratings, who gave NPS answers. */
    "contributors AS ( "
    "  SELECT (SELECT count(DISTINCT participant_id) FROM raters) AS raters, "
    "         (SELECT count(DISTINCT participant_id) FROM nps_answers) AS nps_people), "
    "latest_progress AS ( "
    "  SELECT g.objective_key, g.percent FROM feedback.goal_progress_latest g "
    "   WHERE g.tenant_id = " FB_T " AND g.programme_id = $1::uuid), "
    "progress AS ( "
    "  SELECT k.key, k.ord, avg(lp.percent)::float8 AS mean, count(lp.percent) AS n "
    "    FROM unnest($4::text[]) WITH ORDINALITY AS k(key, ord) "
    "    LEFT JOIN latest_progress lp ON lp.objective_key = k.key "
    "   GROUP BY k.key, k.ord), "
    "risk AS ( "
    "  SELECT m.id FROM m LEFT JOIN per_match pm ON pm.match_id = m.id "
    "   WHERE m.status <> 5 AND (m.declined OR m.status = 3 OR COALESCE(pm.last_rating, 5) <= 2 "
    "         OR now() - COALESCE(pm.last_time, m.start_time) > make_interval(days => 2 * "
    "$3::int))), "
    "surveys AS ( "
    "  SELECT (SELECT count(*) FROM feedback.surveys s "
    "           WHERE s.tenant_id = " FB_T " "
    "             AND s.programme_id = $1::uuid) AS n, "
    "         (SELECT count(*) FROM counted) AS responses, "
    "         (SELECT count(DISTINCT COALESCE(participant_id, id)) FROM counted) AS respondents, "
    "         (SELECT (extract(epoch FROM max(create_time)) * 1000000)::bigint FROM counted) "
    "AS as_of_us, "
    "         (SELECT count(*) FROM keyed) AS enrolled) "
    "SELECT json_build_object( "
    "  'enrolled_mentors', (SELECT count(*) FROM p WHERE p.role = 1 AND p.status <> 3), "
    "  'enrolled_mentees', (SELECT count(*) FROM p WHERE p.role = 2 AND p.status <> 3), "
    "  'matched', (SELECT count(*) FROM live), "
    "  'active_matches', (SELECT count(*) FROM m WHERE m.status = 4), "
    "  'check_ins', (SELECT COALESCE(sum(n), 0) FROM per_match), "
    "  'mean_rating', (SELECT sum(rating_sum)::float8 / NULLIF(sum(n), 0) FROM per_match "
    "                   WHERE (SELECT raters FROM contributors) >= $2::int), "
    "  'nps', (SELECT 100.0::float8 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE "
    "score <= 6)) "
    "                 / count(*) FROM nps_answers "
    "          HAVING count(*) > 0 AND (SELECT nps_people FROM contributors) >= $2::int), "
    "  'suppressed', (SELECT array_remove(ARRAY[ "
    "                   CASE WHEN raters < $2::int THEN 'meanRating' END, "
    "                   CASE WHEN nps_people < $2::int THEN 'nps' END], NULL) FROM contributors), "
    "  'surveys', (SELECT n FROM surveys), "
    "  'survey_responses', (SELECT responses FROM surveys), "
    "  'survey_respondents', (SELECT respondents FROM surveys), "
    "  'survey_figures_as_of_us', (SELECT as_of_us FROM surveys), "
    "  'survey_response_rate', (SELECT CASE WHEN n = 0 OR enrolled = 0 THEN 0 "
    "                                       ELSE responses::float8 / (n * enrolled) END FROM "
    "surveys), "
    "  'at_risk_count', (SELECT count(*) FROM risk), "
    "  'objective_progress', (SELECT COALESCE(json_agg(json_build_object('key', key, 'mean', "
    "COALESCE(mean, 0), "
    "                                 'n', n) ORDER BY ord), '[]') FROM progress), "
    "  'breakdowns', (SELECT COALESCE(json_agg(json_build_object('dimension', d.dim, "
    "                                 'groups', COALESCE(b.groups, '[]'), 'suppressed', "
    "COALESCE(b.suppressed, 0)) "
    "                                 ORDER BY d.ord), '[]') "
    "                   FROM dims d LEFT JOIN breakdowns b ON b.ord = d.ord))::text ";

#endif
