/*
 * handlers.c - one function per EnrolmentService RPC: check the scope, validate
 * the request (field-level violations), call the store, answer. No SQL here; the
 * personal-data RPCs, which also talk to peers, are in persondata.c.
 */
#include "enrolment.h"
#include "benchmarks.h"

#include <stdio.h>
#include <string.h>

#include "tandem/participant_token.h"
#include "tandem/protobuf.h"

tdm_status *enrol_req_init(enrol_req *r, enrol_service *svc, tdm_call *call, uint32_t scope)
{
    tdm_store_req sr;
    tdm_status *st = tdm_handler_init(&sr, svc->rt, call, scope);
    *r = (enrol_req){
        .pool = sr.pool,
        .arena = sr.arena,
        .ctx = sr.ctx,
        .include_diversity = (sr.ctx->scopes & TDM_SCOPE_ADMIN) != 0,
    };
    return st;
}

bool enrol_req_admin(const enrol_req *r)
{
    return (r->ctx->scopes & TDM_SCOPE_ADMIN) != 0;
}

/* ---- programmes ----------------------------------------------------------------- */

tdm_status *enrol_check_threshold_change(bool admin, int32_t from, int32_t to, const char *field)
{
    if (from == 0)
        from = ENROL_DEFAULT_ANONYMITY_THRESHOLD;
    if (to == 0 || to == from || admin)
        return NULL;
    return tdm_status_add_violation(
        tdm_status_new(TDM_PERMISSION_DENIED, "changing the anonymity threshold needs admin"),
        field, "may be changed only by an admin key");
}

static void handle_create_programme(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__CreateProgrammeRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    tdm_violations v = {0};
    if (st == NULL && req->programme == NULL)
        tdm_violations_add(&v, "programme", "is required");
    else if (st == NULL)
        enrol_validate_programme(req->programme, "programme", &v);
    if (st == NULL)
        st = tdm_violations_take(&v, NULL);
    if (st == NULL)
        st = enrol_check_threshold_change(enrol_req_admin(&r), 0,
                                          req->programme->anonymity_threshold,
                                          "programme.anonymity_threshold");
    if (st == NULL)
        st = tdm_handler_idempotency(call, "CreateProgramme", msg, &r.idem);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    enrol_store_create_programme(&r, req->programme, NULL, NULL, tdm_handler_reply, call);
}

/* A participant token reads only its own programme (PERMISSION_DENIED). */
static tdm_status *own_programme(const enrol_req *r, const char *programme_id)
{
    const tdm_call_context *ctx = r->ctx;
    if (ctx->principal_kind != TDM_PRINCIPAL_PARTICIPANT ||
        strcmp(ctx->participant_programme_id, programme_id) == 0)
        return NULL;
    return tdm_status_add_violation(
        tdm_status_new(TDM_PERMISSION_DENIED, "a participant token reads only its own programme"),
        "programme_id", "is not the token's programme");
}

/* Participants are read by enrolment:read, and by feedback for its callers with
 * their own feedback scopes, cut to what feedback needs (API.md "Least privilege in
 * every answer"). A programme (the tenant's configuration, no personal data) also by
 * the callers of matching and feedback, which read it with their callers' scopes. */
static const uint32_t READERS[] = {TDM_SCOPE_ENROLMENT_READ, TDM_SCOPE_FEEDBACK_READ,
                                   TDM_SCOPE_FEEDBACK_WRITE};
#define N_READERS (sizeof(READERS) / sizeof(READERS[0]))
static const uint32_t PROGRAMME_READERS[] = {TDM_SCOPE_ENROLMENT_READ, TDM_SCOPE_MATCHING_READ,
                                             TDM_SCOPE_MATCHING_WRITE, TDM_SCOPE_FEEDBACK_READ,
                                             TDM_SCOPE_FEEDBACK_WRITE};
#define N_PROGRAMME_READERS (sizeof(PROGRAMME_READERS) / sizeof(PROGRAMME_READERS[0]))

static void handle_get_programme(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetProgrammeRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call,
                                    tdm_scope_pick(call, PROGRAMME_READERS, N_PROGRAMME_READERS) |
                                        TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (st == NULL)
        st = own_programme(&r, req->id);
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_get_programme(&r, req->id, tdm_handler_reply, call);
}

static void handle_list_programmes(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListProgrammesRequest *req = (const void *)msg;
    enrol_req r;
    int page_size = 0;
    int64_t after = 0;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_READ);
    st = tdm_check_page_seq(st, req->page_size, req->page_token, &page_size, &after);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    enrol_store_list_programmes(&r, req, page_size, after, tdm_handler_reply, call);
}

typedef struct programme_update {
    bool admin;
    const Tandem__V1__UpdateProgrammeRequest *req;
    char **paths;
    size_t n_paths;
    tdm_arena *arena;
} programme_update;

/* Inside the update's transaction: merge the masked fields, validate the result,
 * and allow only forward status moves. */
static tdm_status *apply_programme_update(void *arg, const Tandem__V1__Programme *current,
                                          Tandem__V1__Programme **next)
{
    programme_update *u = arg;
    Tandem__V1__Programme *p = tdm_arena_memdup(u->arena, current, sizeof(*current));
    if (p == NULL)
        return tdm_store_oom();
    tdm_status *st = enrol_merge_programme(p, u->req->programme, u->paths, u->n_paths, u->arena);
    if (st != NULL)
        return st;
    /* An unset threshold (a full replacement without it) keeps the stored one rather
     * than falling back to the default. */
    if (p->anonymity_threshold == 0)
        p->anonymity_threshold = current->anonymity_threshold;
    tdm_violations v = {0};
    enrol_validate_programme(p, "programme", &v);
    if ((st = tdm_violations_take(&v, NULL)) != NULL)
        return st;
    st = enrol_check_threshold_change(u->admin, current->anonymity_threshold,
                                      p->anonymity_threshold, "programme.anonymity_threshold");
    if (st != NULL)
        return st;
    if (p->status < current->status) {
        return tdm_status_add_violation(
            tdm_status_new(TDM_FAILED_PRECONDITION, "a programme's status only moves forward"),
            "programme.status", "cannot move back from %s to %s",
            protobuf_c_enum_descriptor_get_value(&tandem__v1__programme__status__descriptor,
                                                 current->status)
                ->name,
            protobuf_c_enum_descriptor_get_value(&tandem__v1__programme__status__descriptor,
                                                 p->status)
                ->name);
    }
    if (p->kind != current->kind && current->mentor_count + current->mentee_count > 0) {
        return tdm_status_add_violation(
            tdm_status_new(TDM_FAILED_PRECONDITION, "the kind cannot change once people enrolled"),
            "programme.kind", "people are enrolled");
    }
    *next = p;
    return NULL;
}

static void handle_update_programme(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__UpdateProgrammeRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    programme_update *u = tdm_arena_calloc(r.arena, 1, sizeof(*u));
    if (st == NULL && u == NULL)
        st = tdm_store_oom();
    if (st == NULL && req->programme == NULL)
        st = tdm_invalid_field("programme", "is required");
    if (st == NULL)
        st = tdm_check_uuid(req->programme->id, "programme.id");
    if (st == NULL)
        st = enrol_mask_paths(req->update_mask, r.arena, &u->paths, &u->n_paths);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    u->admin = enrol_req_admin(&r);
    u->req = req;
    u->arena = r.arena;
    enrol_store_update_programme(&r, req->programme->id, apply_programme_update, u,
                                 tdm_handler_reply, call);
}

/* ---- participants --------------------------------------------------------------- */

/* Validation of one participant to enrol; NULL when it may be written. */
static tdm_status *check_participant(const Tandem__V1__Participant *p, const char *prefix)
{
    tdm_violations v = {0};
    enrol_validate_participant(p, prefix, &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    if (st == NULL)
        st = enrol_check_diversity_consent(p, prefix);
    return st;
}

static void handle_enrol(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__EnrolRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    if (st == NULL)
        st = tdm_check_uuid(req->programme_id, "programme_id");
    if (st == NULL && req->participant == NULL)
        st = tdm_invalid_field("participant", "is required");
    if (st == NULL)
        st = check_participant(req->participant, "participant");
    if (st == NULL)
        st = tdm_handler_idempotency(call, "Enrol", msg, &r.idem);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    Tandem__V1__Participant **rows = tdm_arena_alloc(r.arena, sizeof(*rows));
    if (rows == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return;
    }
    rows[0] = req->participant;
    enrol_store_enrol(&r, req->programme_id, rows, NULL, 1, false, tdm_handler_reply, call);
}

typedef struct row_key {
    const char *external_id;
    size_t row;
} row_key;

static int cmp_row_keys(const void *a, const void *b)
{
    const row_key *x = a, *y = b;
    int c = strcmp(x->external_id, y->external_id);
    if (c != 0)
        return c;
    return x->row < y->row ? -1 : (x->row > y->row);
}

/* BatchEnrol's rows arrive undecoded (enrol_register makes them lazy): each is
 * decoded into a scratch arena, checked, and only its external_id kept, so the call
 * holds the rows' bytes, their slices and one decoded row - not 10,000 decoded
 * Participants (API.md "The public edge": decoded at most 8x the wire size). The
 * store decodes them again one at a time as it writes them. */
static void handle_batch_enrol(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__BatchEnrolRequest *req = (const void *)msg;
    enrol_req r;
    size_t n = tdm_protobuf_lazy_count(msg);
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    if (st == NULL && req->n_participants != 0)
        st = tdm_status_new(TDM_INTERNAL, "BatchEnrol's rows were decoded eagerly");
    if (st == NULL)
        st = tdm_check_uuid(req->programme_id, "programme_id");
    if (st == NULL && (n == 0 || n > ENROL_MAX_BATCH_ROWS))
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid participants"),
                                      "participants", "must have 1 to %u rows",
                                      ENROL_MAX_BATCH_ROWS);
    if (st == NULL)
        st = tdm_handler_idempotency(call, "BatchEnrol", msg, &r.idem);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    tdm_status **errors = tdm_arena_calloc(r.arena, n, sizeof(*errors));
    row_key *keys = tdm_arena_calloc(r.arena, n, sizeof(*keys));
    const char **ids = tdm_arena_calloc(r.arena, n, sizeof(*ids));
    if (errors == NULL || keys == NULL || ids == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return;
    }
    /* Row errors are relative to the row ("email"), as RowError documents. */
    for (size_t i = 0; i < n && st == NULL; i++) {
        tdm_arena *scratch = tdm_arena_new(0);
        const Tandem__V1__Participant *p =
            scratch != NULL ? (const void *)tdm_protobuf_lazy_unpack(msg, i, scratch, &st) : NULL;
        if (scratch == NULL)
            st = tdm_store_oom();
        if (p != NULL) {
            errors[i] = check_participant(p, "");
            ids[i] = tdm_arena_strdup(r.arena, p->external_id);
            if (ids[i] == NULL)
                st = tdm_store_oom();
            keys[i] = (row_key){ids[i], i};
        }
        tdm_arena_free(scratch);
    }
    if (st != NULL) {
        for (size_t i = 0; i < n; i++)
            tdm_status_free(errors[i]);
        tdm_call_fail(call, st);
        return;
    }
    /* An external_id appearing twice is an error on the later row. */
    qsort(keys, n, sizeof(*keys), cmp_row_keys);
    for (size_t i = 1; i < n; i++) {
        if (keys[i].external_id[0] == '\0' ||
            strcmp(keys[i].external_id, keys[i - 1].external_id) != 0)
            continue;
        size_t row = keys[i].row;
        if (errors[row] == NULL)
            errors[row] = tdm_status_add_violation(
                tdm_status_new(TDM_INVALID_ARGUMENT, "duplicate external_id in this batch"),
                "external_id", "appears on an earlier row");
    }
    enrol_store_batch_enrol(&r, req->programme_id, msg, ids, errors, n, tdm_handler_reply, call);
}

/* GetParticipant's answer: a caller without enrolment:read (feedback asking for a
 * feedback key) gets only the id, programme, role and status. */
static void participant_reply(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    tdm_call *call = arg;
    if (st == NULL && !tdm_scope_allows(tdm_call_ctx(call)->scopes, TDM_SCOPE_ENROLMENT_READ)) {
        Tandem__V1__Participant *cut = enrol_participant_feedback_view(
            (const Tandem__V1__Participant *)msg, tdm_call_arena(call));
        if (cut == NULL)
            st = tdm_store_oom();
        msg = cut != NULL ? &cut->base : NULL;
    }
    tdm_handler_reply(call, st, msg);
}

static void handle_get_participant(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    Tandem__V1__GetParticipantRequest *req = (void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call,
                                    tdm_scope_pick(call, READERS, N_READERS) | TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_handler_person(call, &req->id, "id");
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    enrol_store_get_participant(&r, req->id, participant_reply, call);
}

static void handle_list_participants(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListParticipantsRequest *req = (const void *)msg;
    enrol_req r;
    int page_size = 0;
    int64_t after = 0;
    /* A participant token reaches this only through matching's SuggestMentors (the
     * gateway does not route it here): the mentors of its own programme. */
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_READ | TDM_SCOPE_AS_PERSON);
    if (st == NULL)
        st = tdm_check_uuid(req->programme_id, "programme_id");
    if (st == NULL)
        st = own_programme(&r, req->programme_id);
    if (st == NULL && tdm_handler_acting_person(r.ctx) != NULL &&
        req->role != TANDEM__V1__ROLE__MENTOR)
        st = tdm_status_add_violation(
            tdm_status_new(TDM_PERMISSION_DENIED, "a participant token lists only mentors"), "role",
            "must be MENTOR for a participant token");
    if (st == NULL && ((int)req->role < 0 || req->role > TANDEM__V1__ROLE__MENTEE))
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid role"), "role",
                                      "unknown value");
    if (st == NULL &&
        ((int)req->status < 0 || req->status > TANDEM__V1__PARTICIPANT__STATUS__WITHDRAWN))
        st = tdm_invalid_field("status", "unknown value");
    st = tdm_check_page_seq(st, req->page_size, req->page_token, &page_size, &after);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    enrol_store_list_participants(&r, req, page_size, after, tdm_handler_reply, call);
}

typedef struct participant_update {
    const Tandem__V1__UpdateParticipantRequest *req;
    char **paths;
    size_t n_paths;
    tdm_arena *arena;
} participant_update;

static tdm_status *apply_participant_update(void *arg, const Tandem__V1__Participant *current,
                                            Tandem__V1__Participant **next)
{
    participant_update *u = arg;
    Tandem__V1__Participant *p = tdm_arena_memdup(u->arena, current, sizeof(*current));
    if (p == NULL)
        return tdm_store_oom();
    tdm_status *st =
        enrol_merge_participant(p, u->req->participant, u->paths, u->n_paths, u->arena);
    if (st == NULL)
        st = check_participant(p, "participant");
    if (st == NULL)
        *next = p;
    return st;
}

static void handle_update_participant(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__UpdateParticipantRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    participant_update *u = tdm_arena_calloc(r.arena, 1, sizeof(*u));
    if (st == NULL && u == NULL)
        st = tdm_store_oom();
    if (st == NULL && req->participant == NULL)
        st = tdm_invalid_field("participant", "is required");
    if (st == NULL)
        st = tdm_check_uuid(req->participant->id, "participant.id");
    if (st == NULL)
        st = enrol_mask_paths(req->update_mask, r.arena, &u->paths, &u->n_paths);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    u->req = req;
    u->arena = r.arena;
    enrol_store_update_participant(&r, req->participant->id, apply_participant_update, u,
                                   tdm_handler_reply, call);
}

static void handle_withdraw(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__WithdrawParticipantRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (st == NULL) {
        size_t n = tdm_utf8_chars(req->reason);
        if (n == SIZE_MAX || n > ENROL_MAX_REASON_CHARS)
            st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid reason"),
                                          "reason", "must be at most %u characters of UTF-8",
                                          ENROL_MAX_REASON_CHARS);
    }
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    enrol_store_withdraw(&r, req->id, req->reason, tdm_handler_reply, call);
}

/* ---- participant tokens ------------------------------------------------------------- */

static void handle_issue_token(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__IssueParticipantTokenRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (st == NULL && (req->ttl_seconds < 0 || req->ttl_seconds > TDM_PARTICIPANT_TOKEN_TTL_MAX_S))
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid ttl_seconds"),
                                      "ttl_seconds", "must be 1 to %d (0 means %d)",
                                      TDM_PARTICIPANT_TOKEN_TTL_MAX_S,
                                      TDM_PARTICIPANT_TOKEN_TTL_DEFAULT_S);
    if (tdm_handler_fail(call, st))
        return;
    /* No Idempotency-Key: a replay record would keep the token in clear. A retry
     * mints another token, which is harmless. */
    char *token = tdm_arena_alloc(r.arena, TDM_PARTICIPANT_TOKEN_LEN + 1);
    char hash[65];
    if (token == NULL ||
        tdm_participant_token_new(r.ctx->tenant_id, token, TDM_PARTICIPANT_TOKEN_LEN + 1) != 0 ||
        tdm_participant_token_hash_hex(token, TDM_PARTICIPANT_TOKEN_LEN, hash) != 0) {
        tdm_call_fail(call, tdm_status_new(TDM_INTERNAL, "could not make a token"));
        return;
    }
    int ttl = req->ttl_seconds != 0 ? req->ttl_seconds : TDM_PARTICIPANT_TOKEN_TTL_DEFAULT_S;
    enrol_store_issue_token(&r, req->id, token, tdm_arena_strdup(r.arena, hash), ttl,
                            tdm_handler_reply, call);
}

/* tandem.internal.v1.ParticipantTokenService: the gateway's check of a token, in the
 * tenant the token names (the context's). */
static void handle_verify_token(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__VerifyParticipantTokenRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, 0);
    if (st == NULL && req->token_hash.len != TDM_PARTICIPANT_TOKEN_HASH_BYTES)
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid token_hash"),
                                      "token_hash", "must be a SHA-256 (32 bytes)");
    if (tdm_handler_fail(call, st))
        return;
    char *hex = tdm_arena_alloc(r.arena, 2 * TDM_PARTICIPANT_TOKEN_HASH_BYTES + 1);
    if (hex == NULL) {
        tdm_call_fail(call, tdm_store_oom());
        return;
    }
    tdm_participant_token_hex(req->token_hash.data, hex);
    enrol_store_verify_token(&r, hex, tdm_handler_reply, call);
}

static const tdm_rpc_method_def token_methods[] = {
    {"VerifyParticipantToken", handle_verify_token, 0},
};

/* ---- registration ----------------------------------------------------------------- */

static const tdm_rpc_method_def enrol_methods[] = {
    {"CreateProgramme", handle_create_programme, 0},
    {"GetProgramme", handle_get_programme, 0},
    {"ListProgrammes", handle_list_programmes, 0},
    {"UpdateProgramme", handle_update_programme, 0},
    {"Enrol", handle_enrol, 0},
    {"BatchEnrol", handle_batch_enrol, TDM_MAX_BATCH_MESSAGE_BYTES},
    {"GetParticipant", handle_get_participant, 0},
    {"ListParticipants", handle_list_participants, 0},
    {"UpdateParticipant", handle_update_participant, 0},
    {"WithdrawParticipant", handle_withdraw, 0},
    {"IssueParticipantToken", handle_issue_token, 0},
    {"ExportPerson", enrol_handle_export_person, 0},
    {"ErasePerson", enrol_handle_erase_person, 0},
    {"CreateProgrammeTemplate", enrol_handle_create_template, 0},
    {"GetProgrammeTemplate", enrol_handle_get_template, 0},
    {"ListProgrammeTemplates", enrol_handle_list_templates, 0},
    {"UpdateProgrammeTemplate", enrol_handle_update_template, 0},
    {"CreateProgrammeFromTemplate", enrol_handle_create_from_template, 0},
    {"GetTemplateBenchmark", enrol_handle_get_template_benchmark, 0},
    {"GetProgrammeBenchmark", enrol_handle_get_programme_benchmark, 0},
};

tdm_status *enrol_register(tdm_runtime *rt, enrol_service *svc)
{
    svc->rt = rt;
    enrol_timezones_load();
    if (tdm_protobuf_set_lazy(&tandem__v1__batch_enrol_request__descriptor, 2 /* participants */) !=
        0)
        return tdm_status_new(TDM_INTERNAL, "could not make BatchEnrol's rows lazy");
    tdm_status *st =
        TDM_RUNTIME_SERVE(rt, &tandem__v1__enrolment_service__descriptor, enrol_methods, svc);
    if (st == NULL)
        st = TDM_RUNTIME_SERVE(rt, &tandem__internal__v1__participant_token_service__descriptor,
                               token_methods, svc);
    return st;
}
