/*
 * report_sql.h - the one statement that computes GetProgrammeReport, from maintained
 * aggregates (issue #19).
 *
 * Participants (from enrolment) and matches (from matching) arrive as parallel
 * arrays (binary, as the owners' column calls give them, or text literals from the
 * public List calls) and are unnested in the select list, in lockstep (unnest in
 * FROM stores each array's rows in a tuplestore first, ~15 % more of the statement's
 * CPU on the bench data: bench/RESULTS.md). Their breakdown attributes are
 * enrolment's and change there, so feedback keeps no copy and groups at read time.
 * Everything feedback owns is read as running totals kept in the transactions that
 * write the rows (never the check-ins, responses or answers themselves):
 *   - match_stats: per match, check-ins, rating sum, latest check-in, which side rated
 *     (RecordCheckIn, 001/009);
 *   - report_respondents: per respondent (participant; an erased one's responses each
 *     their own anonymous respondent), responses and NPS answers (triggers, 060);
 *   - objective_stats: per objective, sum and count of each match's latest percent
 *     (trigger on goal_progress_latest, 060);
 *   - and the newest (total mod threshold) responses by index, the ones the survey
 *     figures leave out ("figures move in steps"), subtracted from the totals.
 * Per-match figures are folded onto people (each side's sums), so every breakdown is
 * one pass over the people: a group's check-ins are its members' matches' check-ins
 * minus those of matches with both sides in the group (counted once); its distinct
 * raters are its members who rated, plus raters whose partner is a member (raters with
 * one rated match counted per partner, less those already members; the few with
 * several rated matches made distinct). The anonymity rules of API.md ("Anonymity that
 * survives a determined reader", docs/privacy.md) are applied here, at read time:
 * groups under the threshold suppressed, and the smallest shown group too when exactly
 * one was suppressed (the total minus the shown groups would reveal it); everyone
 * without a value in a "(not stated)" group; every mean rating and NPS, programme-level
 * too, shown only when at least threshold distinct people gave the ratings or answers
 * (else absent and named in "suppressed"); survey figures over the first
 * floor(n / threshold) * threshold responses only. Notes and free-text answers are
 * never read. The figures equal those of the statement before the aggregates
 * (tests/integration/report_aggregates keeps it and compares the two on random data).
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

/* How the service runs the statement: prepared once per connection, by its generic
 * plan (store.c says why). tools/bench/feedback reads this line too and times the
 * statement the same way (a report_sql.h without it: planned for every call). */
#define FB_REPORT_PLAN_CACHE_MODE "force_generic_plan"

/* clang-format off */
static const char FB_REPORT_SQL[] =
    "WITH p AS MATERIALIZED ( "
    "  SELECT unnest($5::uuid[]) AS id, unnest($6::int[]) AS role, unnest($7::int[]) AS status, "
    "         unnest($8::text[]) AS office, unnest($9::text[]) AS practice_area, "
    "         unnest($10::int[]) AS seniority, unnest($11::text[]) AS gender, "
    "         unnest($12::text[]) AS ethnicity, unnest($13::text[]) AS first_gen, "
    "         unnest($14::text[]) AS disability), "
    "m AS MATERIALIZED ( "
    "  SELECT unnest($15::uuid[]) AS id, unnest($16::uuid[]) AS mentor_id, unnest($17::uuid[]) AS mentee_id, "
    "         unnest($18::int[]) AS status, unnest($19::timestamptz[]) AS start_time, "
    "         unnest($20::bool[]) AS declined), "
    "per_match AS MATERIALIZED ( "
    "  SELECT s.match_id, s.check_ins AS n, s.rating_sum, s.last_time, s.last_rating, "
    "         s.mentor_rated, s.mentee_rated "
    "    FROM feedback.match_stats s "
    "   WHERE s.tenant_id = " FB_T " AND s.programme_id = $1::uuid), "
    "live AS MATERIALIZED ( "
    "  SELECT DISTINCT x AS id FROM m CROSS JOIN LATERAL (VALUES (m.mentor_id), (m.mentee_id)) v(x) "
    "   WHERE m.status IN (1, 2, 4)), "
    /* Each match with check-ins, with its two sides. */
    "pm_m AS MATERIALIZED ( "
    "  SELECT pm.match_id, pm.n, pm.rating_sum, pm.mentor_rated, pm.mentee_rated, m.mentor_id, m.mentee_id "
    "    FROM per_match pm JOIN m ON m.id = pm.match_id), "
    /* Both sides of every match with check-ins: the side, the other side, whether it rated. */
    "sides AS MATERIALIZED ( "
    "  SELECT v.id, v.partner, pm.n, pm.rating_sum, v.rated "
    "    FROM pm_m pm "
    "    CROSS JOIN LATERAL (VALUES (pm.mentor_id, pm.mentee_id, pm.mentor_rated), "
    "                               (pm.mentee_id, pm.mentor_id, pm.mentee_rated)) v(id, partner, rated)), "
    /* Each person's matches' check-ins and rating sums, and how many of them they rated. */
    "person_matches AS MATERIALIZED ( "
    "  SELECT s.id, sum(s.n)::bigint AS n, sum(s.rating_sum)::bigint AS rating_sum, "
    "         count(*) FILTER (WHERE s.rated) AS rated_sides "
    "    FROM sides s GROUP BY s.id), "
    /* Who rated a match, with whom, and how many matches that rater rated. */
    "rated AS MATERIALIZED ( "
    "  SELECT s.id, s.partner, pmx.rated_sides FROM sides s JOIN person_matches pmx ON pmx.id = s.id "
    "   WHERE s.rated), "
    /* Per person, the raters of one match only whose match was with them. */
    "single_partner AS ( "
    "  SELECT r.partner AS id, count(*) AS n FROM rated r WHERE r.rated_sides = 1 GROUP BY r.partner), "
    /* Survey figures count only the first floor(total / threshold) * threshold responses in */
    /* arrival order: the totals less the newest (total mod threshold), read by index. */
    "resp_total AS MATERIALIZED ( "
    "  SELECT COALESCE(sum(r.responses), 0)::bigint AS total FROM feedback.report_respondents r "
    "   WHERE r.tenant_id = " FB_T " AND r.programme_id = $1::uuid), "
    "newest AS MATERIALIZED ( "
    "  SELECT n.id, n.who, n.create_time, "
    "         row_number() OVER (ORDER BY n.create_time DESC, n.id DESC) AS rn "
    "    FROM (SELECT r.id, COALESCE(r.participant_id, r.id) AS who, r.create_time "
    "            FROM feedback.survey_responses r "
    "           WHERE r.tenant_id = " FB_T " AND r.programme_id = $1::uuid "
    "           ORDER BY r.create_time DESC, r.id DESC "
    "           LIMIT (SELECT total % $2::int + 1 FROM resp_total)) n), "
    "uncounted AS ( "
    "  SELECT n.who, count(*) AS responses, sum(a.n)::bigint AS nps_n, sum(a.promoters)::bigint AS promoters, "
    "         sum(a.detractors)::bigint AS detractors "
    "    FROM newest n CROSS JOIN LATERAL ( "
    "      SELECT count(*) AS n, count(*) FILTER (WHERE x.score >= 9) AS promoters, "
    "             count(*) FILTER (WHERE x.score <= 6) AS detractors "
    "        FROM feedback.survey_answers x "
    "       WHERE x.tenant_id = " FB_T " AND x.response_id = n.id AND x.kind = 2 "
    "         AND x.score IS NOT NULL) a "
    "   WHERE n.rn <= (SELECT total % $2::int FROM resp_total) "
    "   GROUP BY n.who), "
    "respondents AS MATERIALIZED ( "
    "  SELECT r.respondent_id AS id, r.anonymous, r.responses - COALESCE(u.responses, 0) AS responses, "
    "         r.nps_n - COALESCE(u.nps_n, 0) AS nps_n, r.promoters - COALESCE(u.promoters, 0) AS promoters, "
    "         r.detractors - COALESCE(u.detractors, 0) AS detractors "
    "    FROM feedback.report_respondents r LEFT JOIN uncounted u ON u.who = r.respondent_id "
    "   WHERE r.tenant_id = " FB_T " AND r.programme_id = $1::uuid), "
    /* Each enrolled participant's key in every dimension (k1..k7); without a value */
    /* the key is '(not stated)', a group like any other, so that no suppressed group */
    /* is the total minus the shown ones. Non-admins get no diversity keys (NULL). */
    "keyed AS MATERIALIZED ( "
    "  SELECT p.id, COALESCE(NULLIF(p.office, ''), '(not stated)') AS k1, "
    "         COALESCE(NULLIF(p.practice_area, ''), '(not stated)') AS k2, "
    "         CASE WHEN p.seniority IS NULL THEN '(not stated)' WHEN p.seniority <= 2 THEN '0-2' "
    "              WHEN p.seniority <= 5 THEN '3-5' WHEN p.seniority <= 8 THEN '6-8' ELSE '9-10' END AS k3, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.gender, ''), '(not stated)') END AS k4, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.ethnicity, ''), '(not stated)') END AS k5, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.first_gen, ''), '(not stated)') END AS k6, "
    "         CASE WHEN $21::bool THEN COALESCE(NULLIF(p.disability, ''), '(not stated)') END AS k7 "
    "    FROM p WHERE p.status <> 3), "
    "dims AS ( "
    "  SELECT d.dim, d.ord FROM (VALUES ('office', 1), ('practice_area', 2), ('seniority_band', 3), "
    "      ('gender', 4), ('ethnicity', 5), ('first_generation_professional', 6), ('disability', 7)) d(dim, ord) "
    "   WHERE d.ord <= 3 OR $21::bool), "
    /* Each enrolled person's own figures, joined once. */
    "info AS MATERIALIZED ( "
    "  SELECT k.*, l.id IS NOT NULL AS matched, rs.nps_n, rs.promoters, rs.detractors, "
    "         pmx.n AS side_n, pmx.rating_sum AS side_rs, COALESCE(pmx.rated_sides, 0) AS rated_sides, "
    "         sp.n AS single_partners "
    "    FROM keyed k LEFT JOIN live l ON l.id = k.id "
    "    LEFT JOIN respondents rs ON rs.id = k.id AND NOT rs.anonymous "
    "    LEFT JOIN person_matches pmx ON pmx.id = k.id LEFT JOIN single_partner sp ON sp.id = k.id), "
    /* One row per (dimension, key): one grouping set per dimension, one pass. */
    "people_groups AS ( "
    "  SELECT CASE WHEN GROUPING(i.k1) = 0 THEN 1 WHEN GROUPING(i.k2) = 0 THEN 2 "
    "              WHEN GROUPING(i.k3) = 0 THEN 3 WHEN GROUPING(i.k4) = 0 THEN 4 "
    "              WHEN GROUPING(i.k5) = 0 THEN 5 WHEN GROUPING(i.k6) = 0 THEN 6 ELSE 7 END AS ord, "
    "         COALESCE(i.k1, i.k2, i.k3, i.k4, i.k5, i.k6, i.k7) AS key, "
    "         count(*) AS n, count(*) FILTER (WHERE i.matched) AS matched, "
    "         count(*) FILTER (WHERE i.nps_n > 0) AS nps_people, sum(i.nps_n) AS nps_n, "
    "         sum(i.promoters) AS promoters, sum(i.detractors) AS detractors, "
    "         COALESCE(sum(i.side_n), 0) AS side_n, COALESCE(sum(i.side_rs), 0) AS side_rs, "
    "         count(*) FILTER (WHERE i.rated_sides > 0) AS own_raters, "
    "         COALESCE(sum(i.single_partners), 0) AS single_partners "
    "    FROM info i "
    "   GROUP BY GROUPING SETS ((i.k1), (i.k2), (i.k3), (i.k4), (i.k5), (i.k6), (i.k7))), "
    /* Matches with both sides in one group: their check-ins were added for each side, */
    /* and a one-match rater of theirs both as a member and as a partner. */
    "same_groups AS ( "
    "  SELECT v.ord, v.key, sum(pm.n) AS n, sum(pm.rating_sum) AS rating_sum, "
    "         sum(CASE WHEN pm.mentor_rated AND a.rated_sides = 1 THEN 1 ELSE 0 END "
    "             + CASE WHEN pm.mentee_rated AND b.rated_sides = 1 THEN 1 ELSE 0 END) AS single_raters "
    "    FROM pm_m pm JOIN info a ON a.id = pm.mentor_id JOIN info b ON b.id = pm.mentee_id "
    "    CROSS JOIN LATERAL (VALUES (1, CASE WHEN a.k1 = b.k1 THEN a.k1 END), "
    "      (2, CASE WHEN a.k2 = b.k2 THEN a.k2 END), (3, CASE WHEN a.k3 = b.k3 THEN a.k3 END), "
    "      (4, CASE WHEN a.k4 = b.k4 THEN a.k4 END), (5, CASE WHEN a.k5 = b.k5 THEN a.k5 END), "
    "      (6, CASE WHEN a.k6 = b.k6 THEN a.k6 END), (7, CASE WHEN a.k7 = b.k7 THEN a.k7 END)) v(ord, key) "
    "   WHERE v.key IS NOT NULL GROUP BY v.ord, v.key), "
    /* Raters of several matches: each partner's key not already their own, made distinct. */
    "multi_groups AS ( "
    "  SELECT d.ord, d.key, count(*) AS n FROM ( "
    "    SELECT DISTINCT r.id, v.ord, v.key FROM rated r JOIN keyed b ON b.id = r.partner "
    "      LEFT JOIN keyed a ON a.id = r.id "
    "      CROSS JOIN LATERAL (VALUES (1, CASE WHEN a.k1 IS DISTINCT FROM b.k1 THEN b.k1 END), "
    "        (2, CASE WHEN a.k2 IS DISTINCT FROM b.k2 THEN b.k2 END), "
    "        (3, CASE WHEN a.k3 IS DISTINCT FROM b.k3 THEN b.k3 END), "
    "        (4, CASE WHEN a.k4 IS DISTINCT FROM b.k4 THEN b.k4 END), "
    "        (5, CASE WHEN a.k5 IS DISTINCT FROM b.k5 THEN b.k5 END), "
    "        (6, CASE WHEN a.k6 IS DISTINCT FROM b.k6 THEN b.k6 END), "
    "        (7, CASE WHEN a.k7 IS DISTINCT FROM b.k7 THEN b.k7 END)) v(ord, key) "
    "     WHERE r.rated_sides > 1 AND v.key IS NOT NULL) d "
    "   GROUP BY d.ord, d.key), "
    /* A group's figures: check-ins of matches with a member (once), the distinct people */
    /* who recorded their ratings. */
    "groups AS ( "
    "  SELECT g.ord, g.key, g.n, g.matched, g.nps_people, g.nps_n, g.promoters, g.detractors, "
    "         g.side_n - COALESCE(sg.n, 0) AS check_ins, g.side_rs - COALESCE(sg.rating_sum, 0) AS rating_sum, "
    "         g.own_raters + g.single_partners - COALESCE(sg.single_raters, 0) + COALESCE(mg.n, 0) AS raters "
    "    FROM people_groups g LEFT JOIN same_groups sg ON sg.ord = g.ord AND sg.key = g.key "
    "    LEFT JOIN multi_groups mg ON mg.ord = g.ord AND mg.key = g.key "
    "   WHERE g.key IS NOT NULL), "
    "ranked AS ( "
    "  SELECT g.*, g.n < $2::int AS small, "
    "         count(*) FILTER (WHERE g.n < $2::int) OVER (PARTITION BY g.ord) AS n_small, "
    "         row_number() OVER (PARTITION BY g.ord, g.n < $2::int ORDER BY g.n, g.key) AS rank_up "
    "    FROM groups g), "
    /* Complementary suppression: one suppressed group alone could be recovered by */
    /* subtracting the shown groups from a total, so the smallest shown group goes too. */
    "shown AS ( "
    "  SELECT r.*, NOT (r.small OR (r.n_small = 1 AND r.rank_up = 1)) AS visible FROM ranked r), "
    "breakdowns AS ( "
    "  SELECT s.ord, "
    "         COALESCE(json_agg(json_build_object( "
    "           'key', s.key, 'count', s.n, 'matched', s.matched, 'check_ins', s.check_ins, "
    /* A group's mean rating and NPS come from fewer people than the group: shown only */
    /* when at least threshold distinct people gave the ratings / answers, so that a */
    /* large group with one respondent does not reveal that respondent's answer. */
    "           'mean_rating', CASE WHEN s.raters >= $2::int "
    "                          THEN s.rating_sum::float8 / NULLIF(s.check_ins, 0) END, "
    "           'nps', CASE WHEN s.nps_people >= $2::int THEN 100.0::float8 * (s.promoters - s.detractors) / s.nps_n END, "
    "           'suppressed', array_remove(ARRAY[ "
    "             CASE WHEN s.raters < $2::int THEN 'meanRating' END, "
    "             CASE WHEN s.nps_people < $2::int THEN 'nps' END], NULL)) "
    "           ORDER BY s.n DESC, s.key) FILTER (WHERE s.visible), '[]') AS groups, "
    "         count(*) FILTER (WHERE NOT s.visible) AS suppressed "
    "    FROM shown s GROUP BY s.ord), "
    /* Programme-level contributors: who recorded ratings, who gave NPS answers. */
    "contributors AS ( "
    "  SELECT (SELECT count(*) FROM person_matches WHERE rated_sides > 0) AS raters, "
    "         (SELECT count(*) FROM respondents WHERE NOT anonymous AND nps_n > 0) AS nps_people), "
    "progress AS ( "
    "  SELECT k.key, k.ord, (os.percent_sum::numeric / NULLIF(os.matches, 0))::float8 AS mean, "
    "         COALESCE(os.matches, 0) AS n "
    "    FROM unnest($4::text[]) WITH ORDINALITY AS k(key, ord) "
    "    LEFT JOIN feedback.objective_stats os ON os.tenant_id = " FB_T " "
    "     AND os.programme_id = $1::uuid AND os.objective_key = k.key), "
    "risk AS ( "
    "  SELECT m.id FROM m LEFT JOIN per_match pm ON pm.match_id = m.id "
    "   WHERE m.status <> 5 AND (m.declined OR m.status = 3 OR COALESCE(pm.last_rating, 5) <= 2 "
    "         OR now() - COALESCE(pm.last_time, m.start_time) > make_interval(days => 2 * $3::int))), "
    "surveys AS ( "
    "  SELECT (SELECT count(*) FROM feedback.surveys s "
    "           WHERE s.tenant_id = " FB_T " "
    "             AND s.programme_id = $1::uuid) AS n, "
    "         (SELECT total / $2::int * $2::int FROM resp_total) AS responses, "
    "         (SELECT count(*) FROM respondents WHERE responses > 0) AS respondents, "
    "         (SELECT (extract(epoch FROM n.create_time) * 1000000)::bigint FROM newest n "
    "           WHERE n.rn = (SELECT total % $2::int + 1 FROM resp_total)) AS as_of_us, "
    "         (SELECT count(*) FROM keyed) AS enrolled) "
    "SELECT json_build_object( "
    "  'enrolled_mentors', (SELECT count(*) FROM p WHERE p.role = 1 AND p.status <> 3), "
    "  'enrolled_mentees', (SELECT count(*) FROM p WHERE p.role = 2 AND p.status <> 3), "
    "  'matched', (SELECT count(*) FROM live), "
    "  'active_matches', (SELECT count(*) FROM m WHERE m.status = 4), "
    "  'check_ins', (SELECT COALESCE(sum(n), 0) FROM per_match), "
    "  'mean_rating', (SELECT sum(rating_sum)::float8 / NULLIF(sum(n), 0) FROM per_match "
    "                   WHERE (SELECT raters FROM contributors) >= $2::int), "
    "  'nps', (SELECT 100.0::float8 * (sum(promoters) - sum(detractors)) / sum(nps_n) FROM respondents "
    "          HAVING sum(nps_n) > 0 AND (SELECT nps_people FROM contributors) >= $2::int), "
    "  'suppressed', (SELECT array_remove(ARRAY[ "
    "                   CASE WHEN raters < $2::int THEN 'meanRating' END, "
    "                   CASE WHEN nps_people < $2::int THEN 'nps' END], NULL) FROM contributors), "
    "  'surveys', (SELECT n FROM surveys), "
    "  'survey_responses', (SELECT responses FROM surveys), "
    "  'survey_respondents', (SELECT respondents FROM surveys), "
    "  'survey_figures_as_of_us', (SELECT as_of_us FROM surveys), "
    "  'survey_response_rate', (SELECT CASE WHEN n = 0 OR enrolled = 0 THEN 0 "
    "                                       ELSE responses::float8 / (n * enrolled) END FROM surveys), "
    "  'at_risk_count', (SELECT count(*) FROM risk), "
    "  'objective_progress', (SELECT COALESCE(json_agg(json_build_object('key', key, 'mean', COALESCE(mean, 0), "
    "                                 'n', n) ORDER BY ord), '[]') FROM progress), "
    "  'breakdowns', (SELECT COALESCE(json_agg(json_build_object('dimension', d.dim, "
    "                                 'groups', COALESCE(b.groups, '[]'), 'suppressed', COALESCE(b.suppressed, 0)) "
    "                                 ORDER BY d.ord), '[]') "
    "                   FROM dims d LEFT JOIN breakdowns b ON b.ord = d.ord))::text "
    ;
/* clang-format on */

#endif
