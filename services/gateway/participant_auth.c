/*
 * participant_auth.c - participant tokens at the gateway (API.md "Acting as a
 * person"): which calls a token may make, and whether a presented token is live.
 *
 * A token names its tenant (tandem/participant_token.h). Enrolment, which owns
 * participants, keeps the token's hash and answers whether it is live - not expired,
 * its participant neither withdrawn nor erased - in one indexed read
 * (tandem.internal.v1.ParticipantTokenService). The gateway then checks the key
 * that minted it, which it owns: a revoked key's tokens stop with it. Nothing is
 * cached, so every replica refuses a token from the next call after any of these.
 *
 * What a token may do is a closed list; every service refuses a participant
 * principal on any other call too (TDM_SCOPE_AS_PERSON, tandem/handler.h), and
 * checks on the calls listed that the token acts only for its own participant.
 */
#include <string.h>

#include "gateway.h"
#include "store.h"
#include "tandem/participant_token.h"
#include "tandem/internal/v1/participant_token.pb-c.h"

/* The calls of API.md's list. GetCheckIn, GetSurvey and the lists of a programme
 * are not in it: a person reads check-ins through ListCheckIns of their matches. */
static const struct {
    const char *service, *method;
} PERSON_CALLS[] = {
    {"tandem.v1.EnrolmentService", "GetParticipant"},
    {"tandem.v1.EnrolmentService", "GetProgramme"},
    {"tandem.v1.MatchingService", "ListMatches"},
    {"tandem.v1.MatchingService", "GetMatch"},
    {"tandem.v1.MatchingService", "RespondToMatch"},
    {"tandem.v1.MatchingService", "SuggestMentors"},
    {"tandem.v1.FeedbackService", "ListCheckIns"},
    {"tandem.v1.FeedbackService", "RecordCheckIn"},
    {"tandem.v1.FeedbackService", "SubmitSurveyResponse"},
};

bool gw_person_may_call(const char *service_full_name, const char *method)
{
    for (size_t i = 0; i < sizeof(PERSON_CALLS) / sizeof(PERSON_CALLS[0]); i++) {
        if (strcmp(PERSON_CALLS[i].service, service_full_name) == 0 &&
            strcmp(PERSON_CALLS[i].method, method) == 0)
            return true;
    }
    return false;
}

typedef struct person_op {
    gw_state *gw;
    tdm_arena *arena;
    const char *request_id;
    uint64_t deadline_ms;
    tdm_call_context ctx;
    char tenant_id[37];
    const Tandem__Internal__V1__VerifiedParticipantToken *token;
    gw_person_cb cb;
    void *arg;
} person_op;

static void key_checked(void *arg, tdm_status *st, gw_key_row *rows, size_t n)
{
    person_op *op = arg;
    if (st != NULL) {
        op->cb(op->arg, st, NULL, NULL);
        return;
    }
    /* The minting key must still be live, and of the token's tenant (a platform key
     * mints for the tenant it named, which is the token's). */
    if (n != 1 || rows[0].revoke_us != 0) {
        op->cb(op->arg, NULL, NULL, NULL);
        return;
    }
    gw_person p = {
        .tenant_id = op->tenant_id,
        .participant_id = op->token->participant_id,
        .programme_id = op->token->programme_id,
    };
    op->cb(op->arg, NULL, &p, &rows[0]);
}

static void token_verified(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    person_op *op = arg;
    if (st != NULL && st->code == TDM_NOT_FOUND) {
        tdm_status_free(st);
        op->cb(op->arg, NULL, NULL, NULL);
        return;
    }
    if (st != NULL) {
        op->cb(op->arg, st, NULL, NULL);
        return;
    }
    op->token = (const void *)msg;
    gw_store_ctx c = {.pool = tdm_runtime_pg(op->gw->rt),
                      .arena = op->arena,
                      .request_id = op->request_id,
                      .deadline_ms = op->deadline_ms};
    if (gw_store_key_get(&c, op->token->key_id, key_checked, op) != 0)
        op->cb(op->arg, tdm_status_new(TDM_UNAVAILABLE, "the key directory is unavailable"), NULL,
               NULL);
}

void gw_person_verify(gw_state *gw, tdm_arena *arena, const char *request_id, uint64_t deadline_ms,
                      const char *token, size_t len, gw_person_cb cb, void *arg)
{
    person_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    Tandem__Internal__V1__VerifyParticipantTokenRequest *q = tdm_arena_alloc(arena, sizeof(*q));
    uint8_t *hash = tdm_arena_alloc(arena, TDM_PARTICIPANT_TOKEN_HASH_BYTES);
    if (op == NULL || q == NULL || hash == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, NULL);
        return;
    }
    *op = (person_op){.gw = gw,
                      .arena = arena,
                      .request_id = request_id,
                      .deadline_ms = deadline_ms,
                      .cb = cb,
                      .arg = arg};
    if (!tdm_participant_token_parse(token, len, op->tenant_id) ||
        tdm_participant_token_hash(token, len, hash) != 0) {
        cb(arg, NULL, NULL, NULL);
        return;
    }
    tandem__internal__v1__verify_participant_token_request__init(q);
    q->token_hash.data = hash;
    q->token_hash.len = TDM_PARTICIPANT_TOKEN_HASH_BYTES;
    /* The gateway's own question, in the token's tenant, with no scope. */
    op->ctx = (tdm_call_context){.tenant_id = op->tenant_id,
                                 .principal_id = "",
                                 .principal_kind = TDM_PRINCIPAL_PLATFORM,
                                 .request_id = request_id};
    tdm_rpc_client *client = tdm_runtime_peer(gw->rt, "enrolment");
    uint64_t deadline =
        deadline_ms != 0 ? deadline_ms : uv_now(tdm_runtime_loop(gw->rt)) + GW_PERSON_VERIFY_MS;
    if (client == NULL ||
        tdm_rpc_client_call(client, &tandem__internal__v1__participant_token_service__descriptor,
                            "VerifyParticipantToken", &q->base, &op->ctx, deadline, arena,
                            token_verified, op) != 0)
        cb(arg, tdm_status_new(TDM_UNAVAILABLE, "the enrolment service is unavailable"), NULL,
           NULL);
}
