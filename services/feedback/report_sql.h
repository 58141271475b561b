/*
 * report_sql.h - what GetProgrammeReport reads of feedback's own tables: one
 * statement over the maintained totals (issue #19), whose rows report.c hands to the
 * fold (report_fold.h) with the owners' participants and matches.
 *
 * Everything is a running total kept in the transactions that write the rows (never
 * the check-ins, responses or answers themselves):
 *   - match_stats: per match, check-ins, rating sum, latest check-in, which side rated
 *     (RecordCheckIn, 001/009);
 *   - report_respondents: per respondent (participant; an erased one's responses each
 *     their own anonymous respondent), responses and NPS answers (triggers, 060);
 *   - objective_stats: per objective, sum and count of each match's latest percent
 *     (trigger on goal_progress_latest, 060);
 *   - and the newest (total mod threshold) responses by index, the ones the survey
 *     figures leave out ("figures move in steps", API.md), subtracted from the totals.
 * The survey and objective figures are whole here; the people and match figures are
 * the fold's. Notes and free-text answers are never read.
 *
 * Parameters: $1 programme id, $2 anonymity threshold, $3 objective keys text[].
 * Rows, every column text, the first naming the row's kind:
 *   S (one): surveys, survey responses counted, respondents counted, the figures'
 *      as-of time (Unix us, NULL when none), now (Unix us), NPS answers, promoters,
 *      detractors (every respondent's), identified respondents with NPS answers;
 *   O (per objective): its position (1-based), mean percent, matches reporting;
 *   M (per match with check-ins): match id, check-ins, rating sum, latest check-in
 *      (Unix us), latest rating, mentor rated, mentee rated ("true"/"false");
 *   R (per identified respondent with NPS answers counted): participant id, NPS
 *      answers, promoters, detractors.
 *
 * Shared with tools/bench/feedback, which times exactly this statement.
 */
#ifndef TANDEM_FEEDBACK_REPORT_SQL_H
#define TANDEM_FEEDBACK_REPORT_SQL_H

#include "tandem/store.h"

/* The transaction's tenant. tools/bench/feedback reads this header's text and puts
 * TDM_SQL_TENANT's expansion where FB_T stands. */
#define FB_T TDM_SQL_TENANT

#define FB_REPORT_NPARAMS 3
#define FB_REPORT_COLUMNS 10

/* clang-format off */
static const char FB_REPORT_SQL[] =
    "WITH resp_total AS MATERIALIZED ( "
    "  SELECT COALESCE(sum(r.responses), 0)::bigint AS total FROM feedback.report_respondents r "
    "   WHERE r.tenant_id = " FB_T " AND r.programme_id = $1::uuid), "
    /* Survey figures count only the first floor(total / threshold) * threshold responses in */
    /* arrival order: the totals less the newest (total mod threshold), read by index. */
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
    "   WHERE r.tenant_id = " FB_T " AND r.programme_id = $1::uuid) "
    "SELECT 'S', "
    "  (SELECT count(*) FROM feedback.surveys s WHERE s.tenant_id = " FB_T " AND s.programme_id = $1::uuid)::text, "
    "  (SELECT total / $2::int * $2::int FROM resp_total)::text, "
    "  (SELECT count(*) FROM respondents WHERE responses > 0)::text, "
    "  (SELECT (extract(epoch FROM n.create_time) * 1000000)::bigint FROM newest n "
    "    WHERE n.rn = (SELECT total % $2::int + 1 FROM resp_total))::text, "
    "  ((extract(epoch FROM now()) * 1000000)::bigint)::text, "
    "  (SELECT COALESCE(sum(nps_n), 0) FROM respondents)::text, "
    "  (SELECT COALESCE(sum(promoters), 0) FROM respondents)::text, "
    "  (SELECT COALESCE(sum(detractors), 0) FROM respondents)::text, "
    "  (SELECT count(*) FROM respondents WHERE NOT anonymous AND nps_n > 0)::text "
    "UNION ALL "
    "SELECT 'O', k.ord::text, COALESCE((os.percent_sum::numeric / NULLIF(os.matches, 0))::float8, 0)::text, "
    "       COALESCE(os.matches, 0)::text, NULL, NULL, NULL, NULL, NULL, NULL "
    "  FROM unnest($3::text[]) WITH ORDINALITY AS k(key, ord) "
    "  LEFT JOIN feedback.objective_stats os ON os.tenant_id = " FB_T " "
    "   AND os.programme_id = $1::uuid AND os.objective_key = k.key "
    "UNION ALL "
    "SELECT 'M', s.match_id::text, s.check_ins::text, s.rating_sum::text, "
    "       ((extract(epoch FROM s.last_time) * 1000000)::bigint)::text, s.last_rating::text, "
    "       s.mentor_rated::text, s.mentee_rated::text, NULL, NULL "
    "  FROM feedback.match_stats s WHERE s.tenant_id = " FB_T " AND s.programme_id = $1::uuid "
    "UNION ALL "
    "SELECT 'R', r.id::text, r.nps_n::text, r.promoters::text, r.detractors::text, "
    "       NULL, NULL, NULL, NULL, NULL "
    "  FROM respondents r WHERE NOT r.anonymous AND r.nps_n > 0"
    ;
/* clang-format on */

#endif
