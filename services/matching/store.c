/*
 * store.c - every SQL statement of the matching service that serves an API call.
 * (Runs, proposals and personal data are in store_runs.c.)
 *
 * Each store call is one transaction on the pool, driven as a small chain of
 * statements by a store_op: begin (tenant set by the pool) -> [idempotency claim]
 * -> the statements of the operation -> [outbox] -> [idempotency finish] -> COMMIT,
 * then one callback with the response message or the status. A failure anywhere
 * rolls the whole transaction back, so an effect, its events and its idempotency
 * record commit together or not at all. Statements are parameterised; rows come
 * back as proto3-JSON documents built in SQL (rows.c decodes them). SQLSTATEs
 * become statuses through tdm_pg_status_from_result (inside the pool); a row of
 * another tenant is invisible (row-level security), hence NOT_FOUND.
 */
#include "store_op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- matches ---------------------------------------------------------------------- */

static void match_row_done(tdm_store_op *base, PGresult *res)
{
    if (tdm_store_op_answer_row(base, res, "match", op_json_row, &tandem__v1__match__descriptor))
        tdm_store_op_end(base, NULL);
}

void mt_store_get_match(const mt_req *r, const char *id, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 1, id))
        return;
    static const char sql[] = "SELECT " MATCH_JSON " FROM " MT_SCHEMA ".matches m"
                              " WHERE m.tenant_id = " T " AND m.id = $1::uuid";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, match_row_done);
}

static void list_matches_done(tdm_store_op *base, PGresult *res)
{
    op_page((store_op *)base, res, &tandem__v1__list_matches_response__descriptor, "matches",
            &tandem__v1__match__descriptor);
}

void mt_store_list_matches(const mt_req *r, const Tandem__V1__ListMatchesRequest *q, int page_size,
                           int64_t after, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    tdm_arena *a = r->arena;
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 6, q->programme_id, op_int(a, after),
                             op_int(a, q->status), op_lower(a, q->participant_id),
                             op_lower(a, q->run_id), op_int(a, page_size + 1)))
        return;
    op->page_size = page_size;
    /* Newest first: keyset on seq descending; 0 means "from the newest". */
    static const char sql[] =
        "SELECT m.seq, " MATCH_JSON " FROM " MT_SCHEMA ".matches m"
        " WHERE m.tenant_id = " T " AND m.programme_id = $1::uuid"
        " AND ($2::bigint = 0 OR m.seq < $2::bigint) AND ($3::int = 0 OR m.status = $3::int)"
        " AND ($4 = '' OR m.mentor_id::text = $4 OR m.mentee_id::text = $4)"
        " AND ($5 = '' OR m.run_id::text = $5) ORDER BY m.seq DESC LIMIT $6::int";
    tdm_store_op_start_query(&op->base, true, sql, 6, op->params, list_matches_done);
}

/* ---- RespondToMatch and EndMatch ---------------------------------------------------- */

/* The match just written is the response; append its event, then commit. */
static void match_changed(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "match"))
        return;
    ProtobufCMessage *m = op_row(op, res, 0, 0, &tandem__v1__match__descriptor);
    if (m == NULL)
        return;
    op->base.response = m;
    const Tandem__V1__Match *match = (const void *)m;
    op_event(op, op->event_type, match->id, mt_event_json("match", m, op->base.req.arena), NULL);
}

static void respond_locked(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "match"))
        return;
    int status = atoi(PQgetvalue(res, 0, 0));
    const char *mentor = PQgetvalue(res, 0, 1), *mentee = PQgetvalue(res, 0, 2);
    int mentor_resp = atoi(PQgetvalue(res, 0, 3)), mentee_resp = atoi(PQgetvalue(res, 0, 4));
    const Tandem__V1__RespondToMatchRequest *q = op->respond;
    const char *who = op_lower(op->base.req.arena, q->participant_id);
    bool is_mentor = strcmp(who, mentor) == 0;
    if (!is_mentor && strcmp(who, mentee) != 0) {
        tdm_store_op_end(&op->base, tdm_status_add_violation(
                                        tdm_status_new(TDM_INVALID_ARGUMENT,
                                                       "the participant is not in this match"),
                                        "participant_id", "must be the match's mentor or mentee"));
        return;
    }
    if (status != TANDEM__V1__MATCH__STATUS__PROPOSED &&
        status != TANDEM__V1__MATCH__STATUS__ACCEPTED) {
        tdm_store_op_end(&op->base,
                         tdm_status_new(TDM_FAILED_PRECONDITION,
                                        "only a PROPOSED or ACCEPTED match can be answered"));
        return;
    }
    int decision = q->accept ? TANDEM__V1__MATCH_RESPONSE__DECISION__ACCEPTED
                             : TANDEM__V1__MATCH_RESPONSE__DECISION__DECLINED;
    int other = is_mentor ? mentee_resp : mentor_resp;
    int next = !q->accept ? TANDEM__V1__MATCH__STATUS__DECLINED
               : other == TANDEM__V1__MATCH_RESPONSE__DECISION__ACCEPTED
                   ? TANDEM__V1__MATCH__STATUS__ACTIVE
                   : TANDEM__V1__MATCH__STATUS__ACCEPTED;
    if ((is_mentor ? mentor_resp : mentee_resp) == decision) {
        /* The same answer again: nothing changes, no second event. */
        static const char sql[] = "SELECT " MATCH_JSON " FROM " MT_SCHEMA ".matches m"
                                  " WHERE m.tenant_id = " T " AND m.id = $1::uuid";
        tdm_store_op_query(&op->base, sql, 1, op->params, match_row_done);
        return;
    }
    op->event_type = q->accept ? "match.accepted" : "match.declined";
    tdm_arena *a = op->base.req.arena;
    if (!tdm_store_op_params(&op->base, &op->params, 5, q->id, is_mentor ? "true" : "false",
                             op_int(a, decision), q->reason, op_int(a, next)))
        return;
    static const char sql[] =
        "WITH m AS (UPDATE " MT_SCHEMA ".matches SET"
        " mentor_response = CASE WHEN $2::bool THEN $3::smallint ELSE mentor_response END,"
        " mentor_reason = CASE WHEN $2::bool THEN $4 ELSE mentor_reason END,"
        " mentor_respond_time = CASE WHEN $2::bool THEN now() ELSE mentor_respond_time END,"
        " mentee_response = CASE WHEN $2::bool THEN mentee_response ELSE $3::smallint END,"
        " mentee_reason = CASE WHEN $2::bool THEN mentee_reason ELSE $4 END,"
        " mentee_respond_time = CASE WHEN $2::bool THEN mentee_respond_time ELSE now() END,"
        " status = $5::smallint,"
        " start_time = CASE WHEN $5::int = 4 THEN now() ELSE start_time END,"
        " end_time = CASE WHEN $5::int = 3 THEN now() ELSE end_time END,"
        " end_reason = CASE WHEN $5::int = 3 THEN $4 ELSE end_reason END, update_time = now()"
        " WHERE tenant_id = " T " AND id = $1::uuid RETURNING *) SELECT " MATCH_JSON " FROM m";
    tdm_store_op_query(&op->base, sql, 5, op->params, match_changed);
}

void mt_store_respond(const mt_req *r, const Tandem__V1__RespondToMatchRequest *q, mt_store_cb cb,
                      void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 1, q->id))
        return;
    op->respond = q;
    static const char sql[] = "SELECT status, mentor_id, mentee_id, mentor_response,"
                              " mentee_response FROM " MT_SCHEMA ".matches"
                              " WHERE tenant_id = " T " AND id = $1::uuid FOR UPDATE";
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, respond_locked);
}

static void end_locked(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "match"))
        return;
    int status = atoi(PQgetvalue(res, 0, 0));
    if (status == TANDEM__V1__MATCH__STATUS__ENDED) {
        static const char sql[] = "SELECT " MATCH_JSON " FROM " MT_SCHEMA ".matches m"
                                  " WHERE m.tenant_id = " T " AND m.id = $1::uuid";
        tdm_store_op_query(&op->base, sql, 1, op->params, match_row_done); /* idempotent */
        return;
    }
    if (status == TANDEM__V1__MATCH__STATUS__DECLINED) {
        tdm_store_op_end(
            &op->base, tdm_status_new(TDM_FAILED_PRECONDITION, "a declined match cannot be ended"));
        return;
    }
    op->event_type = "match.ended";
    static const char sql[] =
        "WITH m AS (UPDATE " MT_SCHEMA ".matches SET status = 5, end_time = now(),"
        " end_reason = $2, update_time = now() WHERE tenant_id = " T " AND id = $1::uuid"
        " RETURNING *) SELECT " MATCH_JSON " FROM m";
    tdm_store_op_query(&op->base, sql, 2, op->params, match_changed);
}

void mt_store_end_match(const mt_req *r, const char *id, const char *reason, mt_store_cb cb,
                        void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 2, id, reason))
        return;
    static const char sql[] = "SELECT status FROM " MT_SCHEMA ".matches"
                              " WHERE tenant_id = " T " AND id = $1::uuid FOR UPDATE";
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, end_locked);
}

static void ended_of(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    op_match_events(op, res, "match.ended", NULL);
}

void mt_store_end_matches_of(const mt_req *r, const char *participant_ids, const char *reason,
                             mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 2, participant_ids, reason))
        return;
    static const char sql[] =
        "WITH m AS (UPDATE " MT_SCHEMA ".matches SET status = 5, end_time = now(),"
        " end_reason = $2, update_time = now() WHERE tenant_id = " T " AND status IN (1, 2, 4)"
        " AND (mentor_id = ANY ($1::uuid[]) OR mentee_id = ANY ($1::uuid[])) RETURNING *)"
        " SELECT " MATCH_JSON " FROM m ORDER BY m.id";
    tdm_store_op_start_query(&op->base, false, sql, 2, op->params, ended_of);
}

/* ---- pins and exclusions ------------------------------------------------------------ */

static const ProtobufCMessageDescriptor *rule_desc(int kind)
{
    return kind == 0 ? &tandem__v1__pin__descriptor : &tandem__v1__exclusion__descriptor;
}

static void rule_row_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, op->kind == 0 ? "pin" : "exclusion"))
        return;
    ProtobufCMessage *m = op_row(op, res, 0, 0, rule_desc(op->kind));
    if (m != NULL) {
        op->base.response = m;
        tdm_store_op_commit(&op->base);
    }
}

static void rule_insert(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (PQntuples(res) > 0) {
        tdm_store_op_end(&op->base,
                         tdm_status_new(TDM_FAILED_PRECONDITION,
                                        op->kind == 0
                                            ? "the pair is excluded: delete the exclusion first"
                                            : "the pair is pinned: delete the pin first"));
        return;
    }
    static const char pin_sql[] =
        "WITH x AS (INSERT INTO " MT_SCHEMA ".pins (tenant_id, id, programme_id, mentor_id,"
        " mentee_id, reason) VALUES (" T ", gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid, $4)"
        " RETURNING *) SELECT " RULE_JSON " FROM x";
    static const char excl_sql[] =
        "WITH x AS (INSERT INTO " MT_SCHEMA ".exclusions (tenant_id, id, programme_id,"
        " mentor_id, mentee_id, reason) VALUES (" T ", gen_random_uuid(), $1::uuid, $2::uuid,"
        " $3::uuid, $4) RETURNING *) SELECT " RULE_JSON " FROM x";
    op->base.conflict_message = op->kind == 0
                                    ? "the pair is already pinned, or the mentee is pinned "
                                      "to another mentor"
                                    : "the pair is already excluded";
    tdm_store_op_query(&op->base, op->kind == 0 ? pin_sql : excl_sql, 4, op->params, rule_row_done);
}

static void rule_check(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    /* A pin conflicts with an exclusion of the same pair, and vice versa. */
    static const char pin_sql[] = "SELECT 1 FROM " MT_SCHEMA ".exclusions WHERE tenant_id = " T
                                  " AND programme_id = $1::uuid AND mentor_id = $2::uuid"
                                  " AND mentee_id = $3::uuid";
    static const char excl_sql[] = "SELECT 1 FROM " MT_SCHEMA ".pins WHERE tenant_id = " T
                                   " AND programme_id = $1::uuid AND mentor_id = $2::uuid"
                                   " AND mentee_id = $3::uuid";
    tdm_store_op_query(&op->base, op->kind == 0 ? pin_sql : excl_sql, 3, op->params, rule_insert);
}

void mt_store_add_pair_rule(const mt_req *r, int kind, const char *programme_id,
                            const char *mentor_id, const char *mentee_id, const char *reason,
                            mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 4, programme_id, mentor_id, mentee_id, reason))
        return;
    op->kind = kind;
    op->base.response_desc = rule_desc(kind);
    tdm_store_op_start(&op->base, false, rule_check);
}

static void list_rules_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (op->kind == 0)
        op_page(op, res, &tandem__v1__list_pins_response__descriptor, "pins", rule_desc(0));
    else
        op_page(op, res, &tandem__v1__list_exclusions_response__descriptor, "exclusions",
                rule_desc(1));
}

static void list_rules_select(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    static const char pin_sql[] =
        "SELECT x.seq, " RULE_JSON " FROM " MT_SCHEMA ".pins x WHERE x.tenant_id = " T
        " AND x.programme_id = $1::uuid AND x.seq > $2::bigint ORDER BY x.seq LIMIT $3::int";
    static const char excl_sql[] =
        "SELECT x.seq, " RULE_JSON " FROM " MT_SCHEMA ".exclusions x WHERE x.tenant_id = " T
        " AND x.programme_id = $1::uuid AND x.seq > $2::bigint ORDER BY x.seq LIMIT $3::int";
    tdm_store_op_query(&op->base, op->kind == 0 ? pin_sql : excl_sql, 3, op->params,
                       list_rules_done);
}

void mt_store_list_pair_rules(const mt_req *r, int kind, const char *programme_id, int page_size,
                              int64_t after, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 3, programme_id, op_int(r->arena, after),
                             op_int(r->arena, page_size + 1)))
        return;
    op->kind = kind;
    op->page_size = page_size;
    tdm_store_op_start(&op->base, true, list_rules_select);
}

static void delete_rule_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, op->kind == 0 ? "pin" : "exclusion"))
        return;
    if (tdm_store_op_answer_empty(&op->base))
        tdm_store_op_end(&op->base, NULL);
}

static void delete_rule(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    static const char pin_sql[] =
        "DELETE FROM " MT_SCHEMA ".pins WHERE tenant_id = " T " AND id = $1::uuid RETURNING 1";
    static const char excl_sql[] = "DELETE FROM " MT_SCHEMA ".exclusions WHERE tenant_id = " T
                                   " AND id = $1::uuid RETURNING 1";
    tdm_store_op_query(&op->base, op->kind == 0 ? pin_sql : excl_sql, 1, op->params,
                       delete_rule_done);
}

void mt_store_delete_pair_rule(const mt_req *r, int kind, const char *id, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 1, id))
        return;
    op->kind = kind;
    tdm_store_op_start(&op->base, false, delete_rule);
}

/* ---- the matching state of a programme ---------------------------------------------- */

static void read_state_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    mt_state *s = op->state;
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    size_t cap = (size_t)(n > 0 ? n : 1);
    char ***mentor[3] = {&s->pin_mentor, &s->excl_mentor, &s->live_mentor};
    char ***mentee[3] = {&s->pin_mentee, &s->excl_mentee, &s->live_mentee};
    size_t *count[3] = {&s->n_pins, &s->n_exclusions, &s->n_live};
    for (int k = 0; k < 3; k++) {
        *mentor[k] = tdm_arena_calloc(a, cap, sizeof(char *));
        *mentee[k] = tdm_arena_calloc(a, cap, sizeof(char *));
        *count[k] = 0;
        if (*mentor[k] == NULL || *mentee[k] == NULL) {
            tdm_store_op_end(&op->base, tdm_store_oom());
            return;
        }
    }
    for (int i = 0; i < n; i++) {
        int k = atoi(PQgetvalue(res, i, 0));
        if (k < 0 || k > 2)
            continue;
        (*mentor[k])[*count[k]] = tdm_arena_strdup(a, PQgetvalue(res, i, 1));
        (*mentee[k])[*count[k]] = tdm_arena_strdup(a, PQgetvalue(res, i, 2));
        (*count[k])++;
    }
    tdm_store_op_end(&op->base, NULL);
}

void mt_store_read_state(const mt_req *r, const char *programme_id, mt_state *out, mt_store_cb cb,
                         void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 1, programme_id))
        return;
    memset(out, 0, sizeof(*out));
    op->state = out;
    static const char sql[] =
        "SELECT 0, mentor_id, mentee_id FROM " MT_SCHEMA ".pins"
        " WHERE tenant_id = " T " AND programme_id = $1::uuid"
        " UNION ALL SELECT 1, mentor_id, mentee_id FROM " MT_SCHEMA ".exclusions"
        " WHERE tenant_id = " T " AND programme_id = $1::uuid"
        " UNION ALL SELECT 2, mentor_id, mentee_id FROM " MT_SCHEMA ".matches"
        " WHERE tenant_id = " T " AND programme_id = $1::uuid AND status IN (1, 2, 4)";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, read_state_done);
}
