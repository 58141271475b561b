/*
 * store.c - every SQL statement of the feedback service.
 *
 * Each store call is one transaction on the pool, driven as a small chain of
 * statements by a store_op: begin (tenant set by the pool) -> [idempotency claim]
 * -> the statements of the operation -> [outbox] -> [idempotency finish] -> COMMIT,
 * then one callback with the response message or the status. A failure anywhere
 * rolls the whole transaction back, so a check-in, its events and its idempotency
 * record commit together or not at all. Statements are parameterised; rows come
 * back as JSON documents (rows.c maps them to messages). SQLSTATEs become statuses
 * only through tdm_pg_status_from_result (inside the pool).
 */
#include "feedback.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rows.h"
#include "tandem/json.h"
#include "tandem/outbox.h"
#include "tandem/store.h"
#include "google/protobuf/wrappers.pb-c.h"

#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"
#define TS(p) "('epoch'::timestamptz + " p "::bigint * interval '1 microsecond')"

/* The at-risk rules of API.md, shared by ListAtRiskMatches and the sweep. A CTE m
 * of the programme's matches from $1..$6 (id, mentor, mentee, status, start,
 * declined arrays: text literals or the peers' binary columns); then r, each live
 * match with its latest check-in and which rule holds, and risky, those where one
 * does. NOW is "now" as SQL, CADENCE the programme's cadence in days. */
#define FB_AT_RISK_MATCHES_CTE                                                                     \
    " m AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[],"                   \
    "  $5::timestamptz[], $6::bool[]) AS m(id, mentor_id, mentee_id, status, start_time,"          \
    "  declined))"
#define FB_AT_RISK_CTES(NOW, CADENCE)                                                              \
    " r AS MATERIALIZED (SELECT m.id, s.last_time, s.last_rating,"                                 \
    "  COALESCE(s.last_time, m.start_time) AS since,"                                              \
    "  " NOW " - COALESCE(s.last_time, m.start_time) > make_interval(days => 2 * " CADENCE ")"     \
    "   AS overdue,"                                                                               \
    "  COALESCE(s.last_rating, 5) <= 2 AS low, m.declined OR m.status = 3 AS declined"             \
    "  FROM m LEFT JOIN " FB_SCHEMA ".match_stats s ON s.tenant_id = " TDM_SQL_TENANT              \
    "  AND s.match_id = m.id WHERE m.status <> 5),"                                                \
    " risky AS (SELECT * FROM r WHERE overdue OR low OR declined)"
/* "Now" moved by TANDEM_TEST_CLOCK_OFFSET seconds (parameter P; 0 in production). */
#define FB_AT_RISK_NOW(P) "(now() + make_interval(secs => " P "::int))"
/* Opening an episode when the match has no open one (at_risk_episodes_open). */
#define FB_AT_RISK_OPEN_CONFLICT                                                                   \
    "ON CONFLICT (tenant_id, match_id) WHERE close_time IS NULL DO NOTHING"

/* A check-in row (alias c) with its goal progress; notes when $N says so. */
#define CHECK_IN_JSON(notes)                                                                       \
    "json_build_object('id', c.id, 'match_id', c.match_id, 'programme_id', c.programme_id,"        \
    " 'participant_id', c.participant_id, 'occurred_us', " US(                                     \
        "c.occurred_time") ","                                                                     \
                           " 'duration_minutes', c.duration_minutes, 'topics', c.topics,"          \
                           " 'rating', c.rating, 'notes', " notes ", 'create_us', " US(            \
                               "c.create_time") ","                                                \
                                                " 'goal_progress', (SELECT "                       \
                                                "COALESCE(json_agg(json_build_object('key', "      \
                                                "g.objective_key, 'percent', g.percent)"           \
                                                " ORDER BY g.objective_key), '[]') "               \
                                                "FROM " FB_SCHEMA                                  \
                                                ".check_in_goal_progress g WHERE g.tenant_id = "   \
                                                "c.tenant_id AND g.check_in_id = c.id))::text"

/* One store call: the runtime's transaction chain (tandem/store.h) first, then the
 * state of the operation. */
typedef struct store_op {
    tdm_store_op base;
    const char **params;
    int n_params;
    Oid *param_types; /* binary parameters: their types, lengths, formats (else NULL) */
    int *param_lengths;
    int *param_formats;
    int page_size;
    bool include_notes;
    const char *match_id;
    const Tandem__V1__Match *match;
    const Tandem__V1__Survey *survey;
    const fb_programme_data *data;
    Tandem__V1__Match **sorted_matches;
    const char *lock_key; /* the sweep's programme id */
} store_op;

static const tdm_store_owner FB_STORE_OWNER = {.schema = FB_SCHEMA, .service = FB_SERVICE};

/* An operation with room for n_params text parameters; NULL when out of memory
 * (cb has been called). */
static store_op *op_new(const fb_req *r, fb_store_cb cb, void *arg, int n_params)
{
    store_op *op = tdm_store_op_new(sizeof(*op), r, &FB_STORE_OWNER, cb, arg);
    if (op == NULL)
        return NULL;
    op->params =
        tdm_arena_calloc(r->arena, (size_t)(n_params > 0 ? n_params : 1), sizeof(*op->params));
    if (op->params == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return NULL;
    }
    op->n_params = n_params;
    return op;
}

static const char *fmt_i64(tdm_arena *a, int64_t v)
{
    return tdm_arena_printf(a, "%" PRId64, v);
}

static const char *fmt_int(tdm_arena *a, int v)
{
    return tdm_arena_printf(a, "%d", v);
}

static const char *AT_RISK_REASON_NAMES[] = {"AT_RISK_REASON_UNSPECIFIED", "CHECK_IN_OVERDUE",
                                             "LOW_RATING", "PARTICIPANT_DECLINED"};

/* The data of a match.at_risk event: {"match": {...}, "reason": "LOW_RATING",
 * "reasons": ["LOW_RATING", ...]} - the first reason found, and every reason the
 * episode opened with. The match as a feedback:read caller sees it (ids, status,
 * start): whatever the scopes of the call that noticed it, a webhook gets no
 * explanation, score or decline reason (API.md "Least privilege in every answer").
 * The mentor and mentee ids are what the erasure's outbox redaction finds the event
 * by (008_erasure_redacts_events.sql). NULL when out of memory or a reason is not one. */
static char *at_risk_event_json(const Tandem__V1__Match *m, const int *reasons, size_t n_reasons,
                                tdm_arena *a)
{
    Tandem__V1__Match shown = TANDEM__V1__MATCH__INIT;
    shown.id = m->id;
    shown.programme_id = m->programme_id;
    shown.mentor_id = m->mentor_id;
    shown.mentee_id = m->mentee_id;
    shown.status = m->status;
    shown.start_time = m->start_time;
    char *match = tdm_json_encode(&shown.base, a, NULL);
    if (match == NULL || n_reasons == 0 || n_reasons > 3)
        return NULL;
    char list[80] = "";
    size_t off = 0;
    for (size_t i = 0; i < n_reasons; i++) {
        if (reasons[i] < 1 || reasons[i] > 3)
            return NULL;
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s\"%s\"", i > 0 ? "," : "",
                                AT_RISK_REASON_NAMES[reasons[i]]);
    }
    return tdm_arena_printf(a, "{\"match\":%s,\"reason\":\"%s\",\"reasons\":[%s]}", match,
                            AT_RISK_REASON_NAMES[reasons[0]], list);
}

/* ---- check-ins ------------------------------------------------------------------- */

static void record_written(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    tdm_arena *a = op->base.req.arena;
    if (!tdm_store_op_one_row(&op->base, res, TDM_INTERNAL, "the check-in was not stored"))
        return;
    Tandem__V1__CheckIn *c =
        fb_check_in_from_row(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), a);
    bool at_risk = PQgetvalue(res, 0, 1)[0] == 't';
    if (!tdm_store_op_allocated(&op->base, c))
        return;
    op->base.response = &c->base;
    tdm_status *st =
        tdm_store_op_add_event(&op->base, (tdm_outbox_event){
                                              .type = "check_in.recorded",
                                              .resource_id = c->id,
                                              .ordering_key = op->match->id,
                                              .data_json = fb_check_in_event_json(c, a),
                                          });
    if (st == NULL && at_risk) {
        static const int LOW[] = {TANDEM__V1__AT_RISK_REASON__LOW_RATING};
        st = tdm_store_op_add_event(&op->base,
                                    (tdm_outbox_event){
                                        .type = "match.at_risk",
                                        .resource_id = op->match->id,
                                        .ordering_key = op->match->id,
                                        .data_json = at_risk_event_json(op->match, LOW, 1, a),
                                    });
    }
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    tdm_store_op_emit(&op->base, NULL);
}

void fb_store_record_check_in(const fb_req *r, const Tandem__V1__RecordCheckInRequest *q,
                              const Tandem__V1__Match *match, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 12);
    if (op == NULL)
        return;
    tdm_arena *a = r->arena;
    op->match = match;
    op->base.response_desc = &tandem__v1__check_in__descriptor;
    const char **keys = tdm_arena_calloc(a, q->n_goal_progress + 1, sizeof(*keys));
    int32_t *percents = tdm_arena_calloc(a, q->n_goal_progress + 1, sizeof(*percents));
    if (keys == NULL || percents == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    for (size_t i = 0; i < q->n_goal_progress; i++) {
        keys[i] = q->goal_progress[i]->objective_key;
        percents[i] = q->goal_progress[i]->percent;
    }
    const char **p = op->params;
    p[0] = match->id;
    p[1] = match->programme_id;
    p[2] = q->participant_id;
    p[3] = match->mentor_id;
    p[4] = match->mentee_id;
    p[5] = fmt_i64(a, fb_timestamp_us(q->occurred_time));
    p[6] = fmt_int(a, q->duration_minutes);
    p[7] = fb_pg_text_array((const char *const *)q->topics, q->n_topics, a);
    p[8] = fmt_int(a, q->rating);
    p[9] = q->notes;
    p[10] = fb_pg_text_array(keys, q->n_goal_progress, a);
    p[11] = fb_pg_int_array(percents, q->n_goal_progress, a);
    for (int i = 0; i < 12; i++) {
        if (!tdm_store_op_allocated(&op->base, p[i]))
            return;
    }
    /* The check-in, its goal progress, the match's running totals (and which side
     * has rated it: the report's rating figures need threshold distinct raters) and
     * latest progress per objective, and the LOW_RATING episode when the match's latest
     * check-in (by occurred_time) now rates 2 or less and the match is not at risk
     * already (its match.at_risk at once, not at the next sweep; the sweep closes the
     * episode once the match has recovered). Progress is written in objective order:
     * its trigger adds it to the programme's per-objective totals (migration 060),
     * which every check-in of the programme then locks in the same order, so
     * concurrent check-ins never deadlock. */
    static const char sql[] =
        "WITH c AS (INSERT INTO " FB_SCHEMA ".check_ins (tenant_id, match_id, programme_id,"
        "  participant_id, mentor_id, mentee_id, occurred_time, duration_minutes, topics, rating,"
        "  notes) VALUES (" TDM_SQL_TENANT
        ", $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, " TS(
            "$6") ","
                  "  NULLIF($7::int, 0), $8::text[], $9::smallint, $10) RETURNING *),"
                  " g AS (SELECT k, p FROM unnest($11::text[], $12::int[]) AS g(k, p)),"
                  " gp AS (INSERT INTO " FB_SCHEMA
                  ".check_in_goal_progress (tenant_id, check_in_id,"
                  "  objective_key, percent) SELECT c.tenant_id, c.id, g.k, g.p FROM c, g),"
                  " gl AS (INSERT INTO " FB_SCHEMA
                  ".goal_progress_latest AS l (tenant_id, programme_id,"
                  "  match_id, objective_key, percent, occurred_time, create_time)"
                  "  SELECT c.tenant_id, c.programme_id, c.match_id, g.k, g.p, c.occurred_time,"
                  "  c.create_time FROM c, g ORDER BY g.k ON CONFLICT (tenant_id, match_id, "
                  "objective_key) DO "
                  "UPDATE"
                  "  SET percent = EXCLUDED.percent, occurred_time = EXCLUDED.occurred_time,"
                  "  create_time = EXCLUDED.create_time"
                  "  WHERE (EXCLUDED.occurred_time, EXCLUDED.create_time) > (l.occurred_time, "
                  "l.create_time)),"
                  " st AS (INSERT INTO " FB_SCHEMA
                  ".match_stats AS s (tenant_id, match_id, programme_id,"
                  "  check_ins, rating_sum, last_time, last_create_time, last_rating,"
                  "  mentor_rated, mentee_rated)"
                  "  SELECT tenant_id, match_id, programme_id, 1, rating, occurred_time, "
                  "create_time, rating,"
                  "  participant_id = mentor_id, participant_id = mentee_id"
                  "  FROM c ON CONFLICT (tenant_id, match_id) DO UPDATE SET"
                  "  check_ins = s.check_ins + 1, rating_sum = s.rating_sum + EXCLUDED.rating_sum,"
                  "  mentor_rated = s.mentor_rated OR EXCLUDED.mentor_rated,"
                  "  mentee_rated = s.mentee_rated OR EXCLUDED.mentee_rated,"
                  "  last_rating = CASE WHEN (EXCLUDED.last_time, EXCLUDED.last_create_time)"
                  "   > (s.last_time, s.last_create_time) THEN EXCLUDED.last_rating ELSE "
                  "s.last_rating END,"
                  "  last_create_time = CASE WHEN (EXCLUDED.last_time, EXCLUDED.last_create_time)"
                  "   > (s.last_time, s.last_create_time) THEN EXCLUDED.last_create_time"
                  "   ELSE s.last_create_time END,"
                  "  last_time = GREATEST(s.last_time, EXCLUDED.last_time)"
                  "  RETURNING s.last_rating),"
                  " risk AS (INSERT INTO " FB_SCHEMA
                  ".at_risk_episodes (tenant_id, match_id, reasons)"
                  "  SELECT " TDM_SQL_TENANT ", $1::uuid, '{2}' FROM st WHERE st.last_rating <= 2"
                  "  " FB_AT_RISK_OPEN_CONFLICT " RETURNING 1)"
                  " SELECT json_build_object('id', c.id, 'match_id', c.match_id,"
                  "  'programme_id', c.programme_id, 'participant_id', c.participant_id,"
                  "  'occurred_us', " US(
                      "c.occurred_time") ", 'duration_minutes', c.duration_minutes,"
                                         "  'topics', c.topics, 'rating', c.rating, "
                                         "'notes', c.notes,"
                                         "  'create_us', " US(
                                             "c.create_time") ","
                                                              "  'goal_progress', "
                                                              "(SELECT "
                                                              "COALESCE(json_agg(json_"
                                                              "build_object('key', k, "
                                                              "'percent', p)"
                                                              "  ORDER BY k), '[]') "
                                                              "FROM g))::text,"
                                                              " EXISTS (SELECT 1 FROM "
                                                              "risk) FROM c";
    tdm_store_op_start_query(&op->base, false, sql, 12, op->params, record_written);
}

/* List items (tdm_store_op_page): a row document that does not decode is out of
 * memory (the documents are built by this file's own SQL). */
static tdm_status *check_in_row(const char *json, size_t len, tdm_arena *a, const void *ctx,
                                void **out)
{
    (void)ctx;
    *out = fb_check_in_from_row(json, len, a);
    return *out != NULL ? NULL : tdm_store_oom();
}

static tdm_status *survey_row(const char *json, size_t len, tdm_arena *a, const void *ctx,
                              void **out)
{
    (void)ctx;
    *out = fb_survey_from_row(json, len, a);
    return *out != NULL ? NULL : tdm_store_oom();
}

static char *check_in_token(const void *last, const PGresult *res, int row, tdm_arena *a)
{
    (void)res;
    (void)row;
    const Tandem__V1__CheckIn *c = last;
    return tdm_page_token_encode_keyset(fb_timestamp_us(c->occurred_time),
                                        fb_timestamp_us(c->create_time), c->id, a);
}

static void list_check_ins_done(tdm_store_op *base, PGresult *res)
{
    static const tdm_store_page page = {.desc = &tandem__v1__list_check_ins_response__descriptor,
                                        .field = "check_ins",
                                        .row = check_in_row,
                                        .token = check_in_token};
    tdm_store_op_page(base, res, ((store_op *)base)->page_size, &page);
}

void fb_store_list_check_ins(const fb_req *r, const char *match_id, int page_size,
                             const char *after_token, bool include_notes, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 6);
    if (op == NULL)
        return;
    tdm_arena *a = r->arena;
    op->page_size = page_size;
    op->params[0] = match_id;
    int64_t occ = 0, created = 0;
    char id[37];
    tdm_status *st = tdm_check_page_token_keyset(after_token, &occ, &created, id);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    if (id[0] != '\0') {
        op->params[1] = fmt_i64(a, occ);
        op->params[2] = fmt_i64(a, created);
        op->params[3] = tdm_arena_strdup(a, id);
    }
    op->params[4] = include_notes ? "true" : "false";
    op->params[5] = fmt_int(a, page_size + 1);
    /* Latest first; the keyset (occurred_time, create_time, id) is exact to the
     * microsecond, so check-ins recorded between pages never shift the cursor. */
    static const char sql[] = "SELECT " CHECK_IN_JSON(
        "CASE WHEN $5::bool THEN c.notes ELSE '' END") " FROM " FB_SCHEMA
                                                       ".check_ins c WHERE c.tenant_id "
                                                       "= " TDM_SQL_TENANT
                                                       " AND c.match_id = $1::uuid"
                                                       " AND ($2::bigint IS NULL OR "
                                                       "(c.occurred_time, c.create_time, c.id)"
                                                       "  < (" TS("$2") ", " TS(
                                                           "$3") ", $4::uuid))"
                                                                 " ORDER BY c.occurred_time DESC, "
                                                                 "c.create_time DESC, c.id DESC "
                                                                 "LIMIT $6::int";
    tdm_store_op_start_query(&op->base, true, sql, 6, op->params, list_check_ins_done);
}

static void check_in_row_done(tdm_store_op *base, PGresult *res)
{
    if (tdm_store_op_answer_row(base, res, "check-in", check_in_row, NULL))
        tdm_store_op_end(base, NULL);
}

void fb_store_get_check_in(const fb_req *r, const char *check_in_id, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 1);
    if (op == NULL)
        return;
    op->params[0] = check_in_id;
    /* Never the notes: they go only to a participant token of one side. */
    static const char sql[] =
        "SELECT " CHECK_IN_JSON("''") " FROM " FB_SCHEMA
                                      ".check_ins c WHERE c.tenant_id = " TDM_SQL_TENANT
                                      " AND c.id = $1::uuid";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, check_in_row_done);
}

/* ---- surveys ---------------------------------------------------------------------- */

#define SURVEY_JSON                                                                                \
    "json_build_object('id', s.id, 'programme_id', s.programme_id, 'title', s.title,"              \
    " 'description', s.description, 'create_us', " US(                                             \
        "s.create_time") ", 'questions', (SELECT COALESCE(json_agg(json_build_object("             \
                         "'id', q.question_id, 'text', q.text, 'kind', q.kind, 'choices', "        \
                         "q.choices, 'required', q.required) ORDER BY q.position), '[]') "         \
                         "FROM " FB_SCHEMA                                                         \
                         ".survey_questions q WHERE q.tenant_id = s.tenant_id AND q.survey_id = "  \
                         "s.id))::text"

static void survey_row_done(tdm_store_op *base, PGresult *res)
{
    if (tdm_store_op_answer_row(base, res, "survey", survey_row, NULL))
        tdm_store_op_commit(base);
}

void fb_store_create_survey(const fb_req *r, const char *programme_id, const Tandem__V1__Survey *s,
                            fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 4);
    if (op == NULL)
        return;
    op->base.response_desc = &tandem__v1__survey__descriptor;
    op->params[0] = programme_id;
    op->params[1] = s->title;
    op->params[2] = s->description;
    op->params[3] = fb_questions_document(s, r->arena);
    if (!tdm_store_op_allocated(&op->base, op->params[3]))
        return;
    static const char sql[] =
        "WITH s AS (INSERT INTO " FB_SCHEMA ".surveys (tenant_id, programme_id, title, description)"
        "  VALUES (" TDM_SQL_TENANT ", $1::uuid, $2, $3) RETURNING *),"
        " q AS (INSERT INTO " FB_SCHEMA ".survey_questions (tenant_id, survey_id, question_id,"
        "  position, text, kind, choices, required)"
        "  SELECT s.tenant_id, s.id, x.id, x.position, x.text, x.kind,"
        "  ARRAY(SELECT jsonb_array_elements_text(x.choices)), x.required"
        "  FROM s, jsonb_to_recordset($4::jsonb) AS x(id text, position int, text text,"
        "  kind int, choices jsonb, required bool) RETURNING *)"
        " SELECT json_build_object('id', s.id, 'programme_id', s.programme_id, 'title', s.title,"
        "  'description', s.description, 'create_us', " US(
            "s.create_time") ","
                             "  'questions', (SELECT COALESCE(json_agg(json_build_object('id', "
                             "q.question_id,"
                             "  'text', q.text, 'kind', q.kind, 'choices', q.choices, 'required', "
                             "q.required)"
                             "  ORDER BY q.position), '[]') FROM q))::text FROM s";
    tdm_store_op_start_query(&op->base, false, sql, 4, op->params, survey_row_done);
}

void fb_store_get_survey(const fb_req *r, const char *survey_id, fb_store_cb cb, void *arg)
{
    /* Also the first read of SubmitSurveyResponse: read-only, so its key is not
     * claimed here (tdm_store_op_start claims keys of writes only). */
    store_op *op = op_new(r, cb, arg, 1);
    if (op == NULL)
        return;
    op->params[0] = survey_id;
    static const char sql[] = "SELECT " SURVEY_JSON " FROM " FB_SCHEMA ".surveys s"
                              " WHERE s.tenant_id = " TDM_SQL_TENANT " AND s.id = $1::uuid";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, survey_row_done);
}

static char *survey_token(const void *last, const PGresult *res, int row, tdm_arena *a)
{
    (void)res;
    (void)row;
    const Tandem__V1__Survey *sv = last;
    return tdm_page_token_encode_keyset(fb_timestamp_us(sv->create_time), 0, sv->id, a);
}

static void list_surveys_done(tdm_store_op *base, PGresult *res)
{
    static const tdm_store_page page = {.desc = &tandem__v1__list_surveys_response__descriptor,
                                        .field = "surveys",
                                        .row = survey_row,
                                        .token = survey_token};
    tdm_store_op_page(base, res, ((store_op *)base)->page_size, &page);
}

void fb_store_list_surveys(const fb_req *r, const char *programme_id, int page_size,
                           const char *after_token, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 4);
    if (op == NULL)
        return;
    tdm_arena *a = r->arena;
    op->page_size = page_size;
    op->params[0] = programme_id;
    int64_t created = 0, unused = 0;
    char id[37];
    tdm_status *st = tdm_check_page_token_keyset(after_token, &created, &unused, id);
    if (st == NULL && unused != 0)
        st = tdm_invalid_field("page_token", "is not a token this list returned");
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    if (id[0] != '\0') {
        op->params[1] = fmt_i64(a, created);
        op->params[2] = tdm_arena_strdup(a, id);
    }
    op->params[3] = fmt_int(a, page_size + 1);
    /* Newest first; the keyset (create_time, id) is exact to the microsecond. */
    static const char sql[] =
        "SELECT " SURVEY_JSON " FROM " FB_SCHEMA ".surveys s"
        " WHERE s.tenant_id = " TDM_SQL_TENANT " AND s.programme_id = $1::uuid"
        " AND ($2::bigint IS NULL OR (s.create_time, s.id) < (" TS(
            "$2") ", $3::uuid))"
                  " ORDER BY s.create_time DESC, s.id DESC LIMIT $4::int";
    tdm_store_op_start_query(&op->base, true, sql, 4, op->params, list_surveys_done);
}

static void submit_written(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_one_row(&op->base, res, TDM_INTERNAL, "the response was not stored"))
        return;
    Tandem__V1__SurveyResponse *sr = fb_survey_response_from_row(
        PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), op->base.req.arena);
    if (!tdm_store_op_allocated(&op->base, sr))
        return;
    op->base.response = &sr->base;
    tdm_store_op_commit(&op->base);
}

void fb_store_submit_response(const fb_req *r, const Tandem__V1__Survey *survey,
                              const Tandem__V1__SubmitSurveyResponseRequest *q, fb_store_cb cb,
                              void *arg)
{
    store_op *op = op_new(r, cb, arg, 4);
    if (op == NULL)
        return;
    op->base.response_desc = &tandem__v1__survey_response__descriptor;
    op->base.conflict_message = "the participant has already answered this survey";
    op->base.conflict_field = "participant_id";
    op->base.conflict_description = "has a response to this survey";
    op->params[0] = survey->id;
    op->params[1] = survey->programme_id;
    op->params[2] = q->participant_id;
    op->params[3] = fb_answers_document(q, survey, r->arena);
    if (!tdm_store_op_allocated(&op->base, op->params[3]))
        return;
    static const char sql[] =
        "WITH r AS (INSERT INTO " FB_SCHEMA ".survey_responses (tenant_id, survey_id, programme_id,"
        "  participant_id) VALUES (" TDM_SQL_TENANT ", $1::uuid, $2::uuid, $3::uuid) RETURNING *),"
        " a AS (INSERT INTO " FB_SCHEMA ".survey_answers (tenant_id, response_id, programme_id,"
        "  question_id, kind, score, text, choice)"
        "  SELECT r.tenant_id, r.id, r.programme_id, x.question_id, x.kind, x.score,"
        "  NULLIF(x.text, ''), NULLIF(x.choice, '')"
        "  FROM r, jsonb_to_recordset($4::jsonb) AS x(question_id text, kind int, score int,"
        "  text text, choice text) RETURNING *)"
        " SELECT json_build_object('id', r.id, 'survey_id', r.survey_id,"
        "  'programme_id', r.programme_id, 'participant_id', r.participant_id,"
        "  'create_us', " US("r.create_time") ","
                                              "  'answers', (SELECT "
                                              "COALESCE(json_agg(json_build_object('question_id',"
                                              "  a.question_id, 'score', a.score, 'text', a.text, "
                                              "'choice', a.choice)"
                                              "  ORDER BY a.question_id), '[]') FROM a))::text "
                                              "FROM r";
    tdm_store_op_start_query(&op->base, false, sql, 4, op->params, submit_written);
}

/* ---- the programme's matches as array parameters ------------------------------------ */

bool fb_match_declined(const Tandem__V1__Match *m)
{
    return m->status == TANDEM__V1__MATCH__STATUS__DECLINED ||
           (m->mentor_response != NULL &&
            m->mentor_response->decision == TANDEM__V1__MATCH_RESPONSE__DECISION__DECLINED) ||
           (m->mentee_response != NULL &&
            m->mentee_response->decision == TANDEM__V1__MATCH_RESPONSE__DECISION__DECLINED);
}

int64_t fb_match_start_us(const Tandem__V1__Match *m)
{
    if (m->start_time != NULL)
        return fb_timestamp_us(m->start_time);
    return fb_timestamp_us(m->create_time);
}

/* p[0..5] = id, mentor, mentee, status, start, declined arrays. -1 when out of memory. */
static int match_arrays(const fb_programme_data *d, tdm_arena *a, const char **p)
{
    size_t n = d->n_matches;
    const char **ids = tdm_arena_calloc(a, n + 1, sizeof(*ids));
    const char **mentors = tdm_arena_calloc(a, n + 1, sizeof(*mentors));
    const char **mentees = tdm_arena_calloc(a, n + 1, sizeof(*mentees));
    int32_t *status = tdm_arena_calloc(a, n + 1, sizeof(*status));
    int64_t *start = tdm_arena_calloc(a, n + 1, sizeof(*start));
    bool *declined = tdm_arena_calloc(a, n + 1, sizeof(*declined));
    if (ids == NULL || mentors == NULL || mentees == NULL || status == NULL || start == NULL ||
        declined == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const Tandem__V1__Match *m = d->matches[i];
        ids[i] = m->id;
        mentors[i] = tdm_uuid_valid(m->mentor_id) ? m->mentor_id : NULL;
        mentees[i] = tdm_uuid_valid(m->mentee_id) ? m->mentee_id : NULL;
        status[i] = (int32_t)m->status;
        start[i] = fb_match_start_us(m);
        declined[i] = fb_match_declined(m);
    }
    p[0] = fb_pg_text_array(ids, n, a);
    p[1] = fb_pg_text_array(mentors, n, a);
    p[2] = fb_pg_text_array(mentees, n, a);
    p[3] = fb_pg_int_array(status, n, a);
    p[4] = fb_pg_us_array(start, n, a);
    p[5] = fb_pg_bool_array(declined, n, a);
    for (int i = 0; i < 6; i++)
        if (p[i] == NULL)
            return -1;
    return 0;
}

/* Bind n packed columns (binary arrays from the peers) as parameters first..; -1
 * when out of memory. */
static int bind_columns(store_op *op, int first, const fb_pg_array *cols, int n)
{
    for (int i = 0; i < n; i++) {
        fb_pg_array c = cols[i]; /* its buffer keeps room for the header */
        int k = first + i;
        op->params[k] = fb_pg_array_finish(&c, &op->param_lengths[k], op->base.req.arena);
        op->param_formats[k] = 1;
        if (op->params[k] == NULL)
            return -1;
    }
    return 0;
}

/* ---- at-risk matches ------------------------------------------------------------------ */

static int cmp_match_id(const void *a, const void *b)
{
    const Tandem__V1__Match *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

static const Tandem__V1__Match *find_match(store_op *op, const char *id)
{
    Tandem__V1__Match key = TANDEM__V1__MATCH__INIT;
    key.id = (char *)id;
    const Tandem__V1__Match *kp = &key;
    Tandem__V1__Match **hit = bsearch(&kp, op->sorted_matches, op->data->n_matches,
                                      sizeof(*op->sorted_matches), cmp_match_id);
    return hit != NULL ? *hit : NULL;
}

/* The page of ListAtRiskMatches: a pure read (API.md "Least privilege in every
 * answer": a GET never writes and never emits; the sweep below does). */
static void at_risk_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    Tandem__V1__ListAtRiskMatchesResponse *out = tdm_arena_alloc(a, sizeof(*out));
    if (!tdm_store_op_allocated(&op->base, out))
        return;
    tandem__v1__list_at_risk_matches_response__init(out);
    out->at_risk_matches =
        tdm_arena_calloc(a, (size_t)op->page_size + 1, sizeof(*out->at_risk_matches));
    if (!tdm_store_op_allocated(&op->base, out->at_risk_matches))
        return;
    int64_t last_since = 0;
    bool more = false;
    /* Columns: match id, overdue, low, declined, last check-in us, last rating,
     * since us. */
    for (int i = 0; i < n; i++) {
        const Tandem__V1__Match *m = find_match(op, PQgetvalue(res, i, 0));
        if (m == NULL) {
            tdm_store_op_end(&op->base, tdm_status_new(TDM_INTERNAL, "an unknown match came back"));
            return;
        }
        if ((int)out->n_at_risk_matches == op->page_size) {
            more = true;
            continue;
        }
        Tandem__V1__AtRiskMatch *x = tdm_arena_alloc(a, sizeof(*x));
        int32_t *reasons = tdm_arena_calloc(a, 3, sizeof(*reasons));
        if (x == NULL || reasons == NULL) {
            tdm_store_op_end(&op->base, tdm_store_oom());
            return;
        }
        tandem__v1__at_risk_match__init(x);
        x->match = (Tandem__V1__Match *)m;
        x->reasons = (Tandem__V1__AtRiskReason *)reasons;
        for (int k = 0; k < 3; k++)
            if (PQgetvalue(res, i, 1 + k)[0] == 't')
                x->reasons[x->n_reasons++] = (Tandem__V1__AtRiskReason)(k + 1);
        if (!PQgetisnull(res, i, 4)) {
            x->last_check_in_time =
                fb_timestamp_from_us(strtoll(PQgetvalue(res, i, 4), NULL, 10), a);
            x->last_rating = atoi(PQgetvalue(res, i, 5));
        }
        last_since = strtoll(PQgetvalue(res, i, 6), NULL, 10);
        out->at_risk_matches[out->n_at_risk_matches++] = x;
    }
    if (more) {
        const Tandem__V1__AtRiskMatch *last = out->at_risk_matches[out->n_at_risk_matches - 1];
        out->next_page_token = tdm_page_token_encode_keyset(last_since, 0, last->match->id, a);
        if (!tdm_store_op_allocated(&op->base, out->next_page_token))
            return;
    }
    op->base.response = &out->base;
    tdm_store_op_end(&op->base, NULL);
}

/* The programme's cadence in days ($7 of the at-risk statements). */
static const char *cadence_param(const fb_programme_data *d, tdm_arena *a)
{
    const Tandem__V1__Programme *g = d->programme;
    return fmt_int(a, g->check_in_cadence_days > 0 ? g->check_in_cadence_days : 14);
}

void fb_store_at_risk(const fb_req *r, const fb_programme_data *d, int clock_offset_s,
                      int page_size, const char *after_token, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 11);
    if (op == NULL)
        return;
    tdm_arena *a = r->arena;
    op->data = d;
    op->page_size = page_size;
    op->sorted_matches = tdm_arena_calloc(a, d->n_matches + 1, sizeof(*op->sorted_matches));
    if (op->sorted_matches == NULL || match_arrays(d, a, op->params) != 0) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    if (d->n_matches > 0)
        memcpy(op->sorted_matches, d->matches, d->n_matches * sizeof(*op->sorted_matches));
    qsort(op->sorted_matches, d->n_matches, sizeof(*op->sorted_matches), cmp_match_id);
    op->params[6] = cadence_param(d, a);
    op->params[7] = fmt_int(a, clock_offset_s);
    int64_t since = 0, unused = 0;
    char id[37];
    tdm_status *st = tdm_check_page_token_keyset(after_token, &since, &unused, id);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    if (id[0] != '\0') {
        op->params[8] = fmt_i64(a, since);
        op->params[9] = tdm_arena_strdup(a, id);
    }
    op->params[10] = fmt_int(a, page_size + 1);
    if (op->params[6] == NULL || op->params[7] == NULL || op->params[10] == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    /* The page is the most overdue first, keyset (since, id). */
    /* The shared CTEs are macros amid the statement's strings: laid out by hand. */
    /* clang-format off */
    static const char sql[] =
        "WITH " FB_AT_RISK_MATCHES_CTE "," FB_AT_RISK_CTES(FB_AT_RISK_NOW("$8"), "$7::int")
        " SELECT id::text, overdue, low, declined, " US("last_time") ", last_rating, "
        US("since") " FROM risky"
        " WHERE $9::bigint IS NULL OR (since, id) > (" TS("$9") ", $10::uuid)"
        " ORDER BY since, id LIMIT $11::int";
    /* clang-format on */
    tdm_store_op_start_query(&op->base, true, sql, 11, op->params, at_risk_done);
}

/* ---- the at-risk sweep (at_risk_sweep.c) -------------------------------------------- */

/* The episodes opened: one match.at_risk each. Columns: match id, reasons
 * ("1,3"), mentor, mentee, status, start us. */
static void sweep_opened(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        Tandem__V1__Match *m = tdm_arena_alloc(a, sizeof(*m));
        if (!tdm_store_op_allocated(&op->base, m))
            return;
        tandem__v1__match__init(m);
        m->id = tdm_arena_strdup(a, PQgetvalue(res, i, 0));
        m->programme_id = (char *)op->data->programme->id;
        m->mentor_id = tdm_arena_strdup(a, PQgetvalue(res, i, 2));
        m->mentee_id = tdm_arena_strdup(a, PQgetvalue(res, i, 3));
        m->status = (Tandem__V1__Match__Status)atoi(PQgetvalue(res, i, 4));
        /* The start the listing shows: only once the match has started. */
        if (m->status == TANDEM__V1__MATCH__STATUS__ACTIVE && !PQgetisnull(res, i, 5))
            m->start_time = fb_timestamp_from_us(strtoll(PQgetvalue(res, i, 5), NULL, 10), a);
        int reasons[3];
        size_t n_reasons = 0;
        for (const char *c = PQgetvalue(res, i, 1); *c != '\0' && n_reasons < 3; c++)
            if (*c >= '1' && *c <= '3')
                reasons[n_reasons++] = *c - '0';
        char *data = m->id != NULL && m->mentor_id != NULL && m->mentee_id != NULL
                         ? at_risk_event_json(m, reasons, n_reasons, a)
                         : NULL;
        tdm_status *st = tdm_store_op_add_event(&op->base, (tdm_outbox_event){
                                                               .type = "match.at_risk",
                                                               .resource_id = m->id,
                                                               .ordering_key = m->id,
                                                               .data_json = data,
                                                           });
        if (st != NULL) {
            tdm_store_op_end(&op->base, st);
            return;
        }
    }
    Google__Protobuf__Int32Value *opened = tdm_arena_alloc(a, sizeof(*opened));
    if (!tdm_store_op_allocated(&op->base, opened))
        return;
    google__protobuf__int32_value__init(opened);
    opened->value = n;
    op->base.response = &opened->base;
    tdm_store_op_emit(&op->base, NULL);
}

static void sweep_claim(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    /* Close the open episodes of matches no longer at risk (ended ones included);
     * open one for each at-risk match without one. The unique open episode decides
     * who emits: a concurrent sweep's INSERT waits for this transaction and then does
     * nothing, so each episode has one match.at_risk whichever replicas sweep. */
    /* clang-format off */
    static const char sql[] =
        "WITH " FB_AT_RISK_MATCHES_CTE "," FB_AT_RISK_CTES(FB_AT_RISK_NOW("$8"), "$7::int") ","
        " closed AS (UPDATE " FB_SCHEMA ".at_risk_episodes e SET close_time = now() FROM m"
        "  WHERE e.tenant_id = " TDM_SQL_TENANT " AND e.match_id = m.id AND e.close_time IS NULL"
        "  AND NOT EXISTS (SELECT 1 FROM risky WHERE risky.id = e.match_id) RETURNING 1),"
        " opened AS (INSERT INTO " FB_SCHEMA ".at_risk_episodes (tenant_id, match_id, reasons)"
        "  SELECT " TDM_SQL_TENANT ", id, array_remove(ARRAY[CASE WHEN overdue THEN 1 END,"
        "   CASE WHEN low THEN 2 END, CASE WHEN declined THEN 3 END], NULL)::smallint[]"
        "  FROM risky " FB_AT_RISK_OPEN_CONFLICT " RETURNING match_id, reasons)"
        " SELECT o.match_id::text, array_to_string(o.reasons, ','), m.mentor_id::text,"
        "  m.mentee_id::text, m.status, " US("m.start_time")
        " FROM opened o JOIN m ON m.id = o.match_id, (SELECT count(*) FROM closed) c"
        " ORDER BY o.match_id";
    /* clang-format on */
    tdm_store_op_query_params(&op->base, sql, 8, op->param_types, op->params, op->param_lengths,
                              op->param_formats, sweep_opened);
}

/* Sweeps of one programme take turns (a transaction-scoped advisory lock of the
 * tenant and programme), so each decides on what the one before it committed. */
void fb_store_at_risk_sweep(const fb_req *r, const fb_programme_data *d, int clock_offset_s,
                            fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 8);
    if (op == NULL)
        return;
    tdm_arena *a = r->arena;
    op->data = d;
    op->lock_key = d->programme->id;
    op->param_types = tdm_arena_calloc(a, 8, sizeof(*op->param_types));
    op->param_lengths = tdm_arena_calloc(a, 8, sizeof(*op->param_lengths));
    op->param_formats = tdm_arena_calloc(a, 8, sizeof(*op->param_formats));
    if (op->param_types == NULL || op->param_lengths == NULL || op->param_formats == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    int failed = d->match_columns ? bind_columns(op, 0, d->mcols, FB_MATCH_COLUMNS)
                                  : match_arrays(d, a, op->params);
    op->params[6] = cadence_param(d, a);
    op->params[7] = fmt_int(a, clock_offset_s);
    for (int i = 0; failed == 0 && i < 8; i++)
        failed = op->params[i] == NULL ? -1 : 0;
    if (failed != 0) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    static const char sql[] =
        "SELECT pg_advisory_xact_lock(hashtextextended('feedback.at_risk:' || " TDM_SQL_TENANT
        "::text || $1, 0))";
    tdm_store_op_start_query(&op->base, false, sql, 1, &op->lock_key, sweep_claim);
}

/* Register matches the sweep follows (at_risk_sweep.c learns them from matching's
 * outbox): ids "{...}" and their programmes, as array literals; forget ended ones. */
void fb_store_follow_matches(const fb_req *r, const char *match_ids, const char *programme_ids,
                             const char *ended_ids, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 3);
    if (op == NULL)
        return;
    op->params[0] = match_ids;
    op->params[1] = programme_ids;
    op->params[2] = ended_ids;
    /* A match proposed and ended within one batch is not followed at all; an ended
     * match's open episode closes (its programme may be swept no more). */
    static const char sql[] =
        "WITH ended AS (DELETE FROM " FB_SCHEMA ".at_risk_matches"
        "  WHERE tenant_id = " TDM_SQL_TENANT " AND match_id = ANY($3::uuid[]) RETURNING 1),"
        " closed AS (UPDATE " FB_SCHEMA ".at_risk_episodes SET close_time = now()"
        "  WHERE tenant_id = " TDM_SQL_TENANT " AND match_id = ANY($3::uuid[])"
        "  AND close_time IS NULL RETURNING 1)"
        " INSERT INTO " FB_SCHEMA ".at_risk_matches (tenant_id, match_id, programme_id)"
        " SELECT " TDM_SQL_TENANT ", x.m, x.p FROM unnest($1::uuid[], $2::uuid[]) AS x(m, p)"
        " WHERE x.m <> ALL($3::uuid[]) ON CONFLICT DO NOTHING";
    tdm_store_op_start_query(&op->base, false, sql, 3, op->params, tdm_store_op_done);
}

/* ---- personal data ---------------------------------------------------------------- */

/* Export items: a row document that does not decode is out of memory, as in lists. */
static tdm_status *survey_response_row(const char *json, size_t len, tdm_arena *a, const void *ctx,
                                       void **out)
{
    (void)ctx;
    *out = fb_survey_response_from_row(json, len, a);
    return *out != NULL ? NULL : tdm_store_oom();
}

static const tdm_person_data_items EXPORT_CHECK_INS = {.field = "check_ins", .row = check_in_row};
static const tdm_person_data_items EXPORT_SURVEY_RESPONSES = {.field = "survey_responses",
                                                              .row = survey_response_row};

static void export_responses_done(tdm_store_op *base, PGresult *res)
{
    if (tdm_person_data_export_rows(base, res, -1, 0, &EXPORT_SURVEY_RESPONSES, 1))
        tdm_store_op_end(base, NULL);
}

static void export_check_ins_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_person_data_export_rows(base, res, -1, 0, &EXPORT_CHECK_INS, 1))
        return;
    static const char sql[] =
        "SELECT json_build_object('id', r.id, 'survey_id', r.survey_id,"
        " 'programme_id', r.programme_id, 'participant_id', r.participant_id,"
        " 'create_us', " US(
            "r.create_time") ", 'answers', (SELECT "
                             "COALESCE(json_agg(json_build_object("
                             "'question_id', a.question_id, 'score', a.score, "
                             "'text', a.text, 'choice', a.choice)"
                             " ORDER BY a.question_id), '[]') FROM " FB_SCHEMA
                             ".survey_answers a WHERE a.tenant_id = r.tenant_id "
                             "AND a.response_id = r.id))::text"
                             " FROM " FB_SCHEMA
                             ".survey_responses r WHERE r.tenant_id = " TDM_SQL_TENANT
                             " AND r.participant_id = ANY($1::uuid[]) ORDER BY "
                             "r.create_time, r.id LIMIT $2::int";
    tdm_store_op_query(&op->base, sql, 2, op->params, export_responses_done);
}

void fb_store_export(const fb_req *r, char **ids, size_t n, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 2);
    if (op == NULL)
        return;
    op->params[0] = fb_pg_text_array((const char *const *)ids, n, r->arena);
    op->params[1] = fmt_int(r->arena, FB_MAX_EXPORT_ITEMS);
    if (op->params[0] == NULL || op->params[1] == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    /* Check-ins of their matches, with the notes they wrote: the other side's notes
     * are that person's, not this one's (API.md "Acting as a person"). */
    static const char sql[] =
        "SELECT " CHECK_IN_JSON("CASE WHEN c.participant_id = ANY($1::uuid[]) THEN c.notes ELSE '' "
                                "END") " FROM " FB_SCHEMA ".check_ins c"
                                       " WHERE c.tenant_id = " TDM_SQL_TENANT
                                       " AND (c.participant_id = ANY($1::uuid[])"
                                       " OR c.mentor_id = ANY($1::uuid[]) OR c.mentee_id = "
                                       "ANY($1::uuid[]))"
                                       " ORDER BY c.occurred_time, c.id LIMIT $2::int";
    tdm_store_op_start_query(&op->base, true, sql, 2, op->params, export_check_ins_done);
}

static void erase_done(tdm_store_op *op, PGresult *res)
{
    static const char *const COUNTS[] = {"check_ins", "survey_responses"};
    tdm_person_data_erased(op, res, COUNTS, sizeof(COUNTS) / sizeof(COUNTS[0]));
}

void fb_store_erase(const fb_req *r, char **ids, size_t n, fb_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg, 1);
    if (op == NULL)
        return;
    op->params[0] = fb_pg_text_array((const char *const *)ids, n, r->arena);
    if (!tdm_store_op_allocated(&op->base, op->params[0]))
        return;
    /* The person's ids go; ratings, durations, progress and scores stay, so every
     * aggregate is unchanged. Check-ins they recorded lose notes and topics; their
     * free-text answers are deleted. One UPDATE per table (a row may be both the
     * person's record and name them as a side). Idempotency records and events that
     * name the person go too (tandem/person_data.h). */
    /* The shared CTEs are macros amid the statement's strings: laid out by hand. */
    /* clang-format off */
    static const char sql[] =
        "WITH mine AS (SELECT count(*) AS n FROM " FB_SCHEMA ".check_ins"
        "  WHERE tenant_id = " TDM_SQL_TENANT " AND participant_id = ANY($1::uuid[])),"
        " ci AS (UPDATE " FB_SCHEMA ".check_ins c SET"
        "  notes = CASE WHEN c.participant_id = ANY($1::uuid[]) THEN '' ELSE c.notes END,"
        "  topics = CASE WHEN c.participant_id = ANY($1::uuid[]) THEN '{}' ELSE c.topics END,"
        "  participant_id = CASE WHEN c.participant_id = ANY($1::uuid[]) THEN NULL"
        "   ELSE c.participant_id END,"
        "  mentor_id = CASE WHEN c.mentor_id = ANY($1::uuid[]) THEN NULL ELSE c.mentor_id END,"
        "  mentee_id = CASE WHEN c.mentee_id = ANY($1::uuid[]) THEN NULL ELSE c.mentee_id END"
        "  WHERE c.tenant_id = " TDM_SQL_TENANT " AND (c.participant_id = ANY($1::uuid[])"
        "  OR c.mentor_id = ANY($1::uuid[]) OR c.mentee_id = ANY($1::uuid[])) RETURNING 1),"
        " resp AS (UPDATE " FB_SCHEMA ".survey_responses r SET participant_id = NULL"
        "  WHERE r.tenant_id = " TDM_SQL_TENANT
        " AND r.participant_id = ANY($1::uuid[]) RETURNING r.id),"
        " ans AS (UPDATE " FB_SCHEMA ".survey_answers a SET text = NULL FROM resp"
        "  WHERE a.tenant_id = " TDM_SQL_TENANT
        " AND a.response_id = resp.id AND a.text IS NOT NULL"
        "  RETURNING 1),"
        TDM_ERASE_IDEMPOTENCY_CTE("idem", FB_SCHEMA, "$1::uuid[]") ","
        TDM_ERASE_OUTBOX_CTE("ev", FB_SCHEMA, "$1::uuid[]")
        " SELECT (SELECT n FROM mine), (SELECT count(*) FROM resp),"
        "  (SELECT count(*) FROM ci), (SELECT count(*) FROM ans), (SELECT count(*) FROM idem),"
        "  (SELECT count(*) FROM ev)";
    /* clang-format on */
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, erase_done);
}
