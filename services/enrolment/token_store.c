/*
 * token_store.c - the two statements of participant tokens (API.md "Acting as a
 * person"): keeping a new token's hash, and finding the live token of a hash for
 * the gateway (tandem.internal.v1.ParticipantTokenService).
 *
 * A token is live while it has not expired and its participant is neither withdrawn
 * nor erased; both are read in the statement that finds it, so a withdrawal or an
 * erasure stops the person's tokens from the next call on, on every gateway replica.
 * The key that minted it is the gateway's to check (it owns API keys).
 */
#include "enrolment.h"

#include <stdlib.h>
#include <string.h>

#define T     TDM_SQL_TENANT
#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

typedef struct token_op {
    tdm_store_op base; /* first */
    const char *params[4];
    const char *token;
} token_op;

static token_op *token_op_new(const enrol_req *r, enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx};
    return tdm_store_op_new(sizeof(token_op), &sr, &ENROL_STORE_OWNER, cb, arg);
}

static void issued(tdm_store_op *base, PGresult *res)
{
    token_op *op = (token_op *)base;
    tdm_arena *a = op->base.req.arena;
    if (!tdm_store_op_found(base, res, "participant"))
        return;
    if (PQgetisnull(res, 0, 0)) {
        tdm_store_op_end(base,
                         tdm_status_add_violation(tdm_status_new(TDM_FAILED_PRECONDITION,
                                                                 "the participant has withdrawn"),
                                                  "id", "is a withdrawn participant"));
        return;
    }
    Tandem__V1__ParticipantToken *out = tdm_arena_alloc(a, sizeof(*out));
    if (!tdm_store_op_allocated(base, out))
        return;
    tandem__v1__participant_token__init(out);
    out->token = (char *)op->token;
    out->expire_time = enrol_time_from_us(strtoll(PQgetvalue(res, 0, 0), NULL, 10), a);
    if (!tdm_store_op_allocated(base, out->expire_time))
        return;
    /* Not through tdm_store_op_commit's replay record: the response holds the token
     * in clear, which is never stored (the call takes no Idempotency-Key). */
    op->base.response = &out->base;
    tdm_store_op_end(base, NULL);
}

void enrol_store_issue_token(const enrol_req *r, const char *id, const char *token,
                             const char *hash_hex, int ttl_s, enrol_store_cb cb, void *arg)
{
    token_op *op = token_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->token = token;
    op->params[0] = id;
    op->params[1] = hash_hex;
    op->params[2] = r->ctx->principal_id;
    op->params[3] = tdm_arena_printf(r->arena, "%d", ttl_s);
    if (!tdm_store_op_allocated(&op->base, op->params[3]))
        return;
    /* One row for a participant that exists and is not erased; its expire time when
     * it is not withdrawn (a token is then kept), NULL when it is. */
    static const char sql[] =
        "WITH p AS (SELECT id, status <> 3 AND withdraw_time IS NULL AS live"
        "  FROM " ENROL_SCHEMA ".participants WHERE tenant_id = " T " AND id = $1::uuid"
        "  AND erase_time IS NULL),"
        " pruned AS (DELETE FROM " ENROL_SCHEMA ".participant_tokens WHERE tenant_id = " T
        "  AND participant_id = $1::uuid AND expire_time <= now()),"
        " kept AS (INSERT INTO " ENROL_SCHEMA ".participant_tokens (tenant_id, token_hash,"
        "  participant_id, key_id, expire_time)"
        "  SELECT " T ", decode($2, 'hex'), p.id, $3, now() + make_interval(secs => $4::int)"
        "  FROM p WHERE p.live RETURNING expire_time)"
        " SELECT (SELECT " US("expire_time") " FROM kept) FROM p";
    tdm_store_op_start_query(&op->base, false, sql, 4, op->params, issued);
}

static void verified(tdm_store_op *base, PGresult *res)
{
    tdm_arena *a = base->req.arena;
    if (!tdm_store_op_one_row(base, res, TDM_NOT_FOUND, "no live participant token"))
        return;
    Tandem__Internal__V1__VerifiedParticipantToken *out = tdm_arena_alloc(a, sizeof(*out));
    if (!tdm_store_op_allocated(base, out))
        return;
    tandem__internal__v1__verified_participant_token__init(out);
    out->participant_id = tdm_arena_strdup(a, PQgetvalue(res, 0, 0));
    out->programme_id = tdm_arena_strdup(a, PQgetvalue(res, 0, 1));
    out->key_id = tdm_arena_strdup(a, PQgetvalue(res, 0, 2));
    out->role = (Tandem__V1__Role)atoi(PQgetvalue(res, 0, 3));
    if (out->participant_id == NULL || out->programme_id == NULL || out->key_id == NULL) {
        tdm_store_op_end(base, tdm_store_oom());
        return;
    }
    base->response = &out->base;
    tdm_store_op_end(base, NULL);
}

void enrol_store_verify_token(const enrol_req *r, const char *hash_hex, enrol_store_cb cb,
                              void *arg)
{
    static const char sql[] =
        "SELECT t.participant_id, p.programme_id, t.key_id, p.role"
        " FROM " ENROL_SCHEMA ".participant_tokens t JOIN " ENROL_SCHEMA ".participants p"
        " ON p.tenant_id = t.tenant_id AND p.id = t.participant_id"
        " WHERE t.tenant_id = " T " AND t.token_hash = decode($1, 'hex')"
        " AND t.expire_time > now() AND p.status <> 3 AND p.withdraw_time IS NULL"
        " AND p.erase_time IS NULL";
    token_op *op = token_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->params[0] = hash_hex;
    tdm_store_op_read_once(&op->base, sql, 1, op->params, verified);
}
