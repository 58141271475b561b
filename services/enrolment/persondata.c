/*
 * persondata.c - ExportPerson and ErasePerson (GDPR), across services.
 *
 * The person is named by external_id in the caller's tenant. Enrolment resolves it
 * to participant ids (including ids erased earlier, found by the person hash, so a
 * retried erasure reaches the peers again), then asks matching and feedback
 * (tandem.internal.v1.PersonDataService) in parallel, then does its own part in one
 * transaction with the audit row (who, when, which person - as a hash - which
 * request, which services could not be reached).
 *
 * Choice when a peer cannot be reached (not running, error, timeout): enrolment
 * still completes its own part (erasure happens; the export is audited), and the
 * call fails UNAVAILABLE naming the services that did not answer, one field
 * violation each - never a silent success. ErasePerson is safe to retry: the retry
 * finds the erased ids by hash and asks the peers again.
 */
#include "enrolment.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define N_PEERS 2
static const char *const PEERS[N_PEERS] = {"matching", "feedback"};

typedef struct person_op {
    enrol_service *svc;
    tdm_call *call;
    enrol_req req;
    bool erase;
    const char *external_id;
    uint8_t hash[32];
    char **ids;
    size_t n_ids;
    Tandem__V1__PersonExport *export_msg;
    int pending;
    bool unreachable[N_PEERS];
    char *peer_error[N_PEERS];
    Tandem__V1__ErasureCounts *peer_counts[N_PEERS];
    ProtobufCMessage *peer_export[N_PEERS];
} person_op;

typedef struct peer_call {
    person_op *op;
    int index;
} peer_call;

static Google__Protobuf__Timestamp *now_ts(tdm_arena *a)
{
    Google__Protobuf__Timestamp *t = tdm_arena_alloc(a, sizeof(*t));
    if (t == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->seconds = ts.tv_sec;
    t->nanos = (int32_t)ts.tv_nsec;
    return t;
}

/* "{matching,feedback}" for the audit's text[] column. */
static const char *unreachable_array(person_op *op)
{
    char buf[64] = "{";
    for (int i = 0; i < N_PEERS; i++) {
        if (!op->unreachable[i])
            continue;
        if (buf[1] != '\0')
            strcat(buf, ",");
        strcat(buf, PEERS[i]);
    }
    strcat(buf, "}");
    return tdm_arena_strdup(op->req.arena, buf);
}

/* UNAVAILABLE naming each peer that did not answer; NULL when all answered. */
static tdm_status *unreachable_status(person_op *op, const char *done)
{
    tdm_status *st = NULL;
    for (int i = 0; i < N_PEERS; i++) {
        if (!op->unreachable[i])
            continue;
        if (st == NULL)
            st = tdm_status_new(TDM_UNAVAILABLE,
                                "%s; some services could not be reached, retry to complete", done);
        tdm_status_add_violation(st, PEERS[i], "could not be reached: %s",
                                 op->peer_error[i] ? op->peer_error[i] : "no answer");
    }
    return st;
}

static void copy_repeated(void ***dst, size_t *n_dst, void **src, size_t n_src, tdm_arena *a)
{
    if (n_src == 0)
        return;
    void **all = tdm_arena_calloc(a, *n_dst + n_src, sizeof(void *));
    if (all == NULL)
        return;
    if (*n_dst > 0)
        memcpy(all, *dst, *n_dst * sizeof(void *));
    memcpy(all + *n_dst, src, n_src * sizeof(void *));
    *dst = all;
    *n_dst += n_src;
}

/* ---- export ---------------------------------------------------------------------- */

static void export_audited(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    person_op *op = arg;
    (void)msg;
    if (st == NULL)
        st = unreachable_status(op, "the export is incomplete");
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    Tandem__V1__PersonExport *e = op->export_msg;
    tdm_arena *a = op->req.arena;
    for (int i = 0; i < N_PEERS; i++) {
        Tandem__Internal__V1__ExportParticipantsResponse *r = (void *)op->peer_export[i];
        if (r == NULL)
            continue;
        copy_repeated((void ***)&e->proposals, &e->n_proposals, (void **)r->proposals,
                      r->n_proposals, a);
        copy_repeated((void ***)&e->matches, &e->n_matches, (void **)r->matches, r->n_matches, a);
        copy_repeated((void ***)&e->pins, &e->n_pins, (void **)r->pins, r->n_pins, a);
        copy_repeated((void ***)&e->exclusions, &e->n_exclusions, (void **)r->exclusions,
                      r->n_exclusions, a);
        copy_repeated((void ***)&e->check_ins, &e->n_check_ins, (void **)r->check_ins,
                      r->n_check_ins, a);
        copy_repeated((void ***)&e->survey_responses, &e->n_survey_responses,
                      (void **)r->survey_responses, r->n_survey_responses, a);
    }
    e->export_time = now_ts(a);
    tdm_call_respond(op->call, &e->base);
}

static void erase_stored(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    person_op *op = arg;
    if (st == NULL)
        st = unreachable_status(op, "the person was erased from enrolment");
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    tdm_arena *a = op->req.arena;
    Tandem__V1__ErasePersonResponse *out = tdm_arena_alloc(a, sizeof(*out));
    if (out == NULL) {
        tdm_call_fail(op->call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    tandem__v1__erase_person_response__init(out);
    out->external_id = tdm_arena_strdup(a, op->external_id);
    out->enrolment = (Tandem__V1__ErasureCounts *)msg;
    out->matching = op->peer_counts[0];
    out->feedback = op->peer_counts[1];
    out->erase_time = now_ts(a);
    tdm_call_respond(op->call, &out->base);
}

static void peers_done(person_op *op)
{
    const char *unreachable = unreachable_array(op);
    if (op->erase)
        enrol_store_erase_person(&op->req, op->external_id, op->hash, unreachable, erase_stored,
                                 op);
    else
        enrol_store_audit_export(&op->req, op->hash, (int)op->export_msg->n_participants,
                                 unreachable, export_audited, op);
}

static void peer_answered(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    peer_call *pc = arg;
    person_op *op = pc->op;
    if (st != NULL) {
        op->unreachable[pc->index] = true;
        op->peer_error[pc->index] = tdm_arena_printf(
            op->req.arena, "%s: %s", tdm_code_name(st->code), st->message ? st->message : "");
        tdm_status_free(st);
    } else if (op->erase) {
        Tandem__Internal__V1__EraseParticipantsResponse *r = (void *)response;
        op->peer_counts[pc->index] = r->counts;
    } else {
        op->peer_export[pc->index] = response;
    }
    if (--op->pending == 0)
        peers_done(op);
}

static void ask_peers(person_op *op)
{
    tdm_arena *a = op->req.arena;
    uint64_t deadline = uv_now(tdm_call_loop(op->call)) + ENROL_PEER_TIMEOUT_MS;
    const char *method = op->erase ? "EraseParticipants" : "ExportParticipants";
    ProtobufCMessage *request;
    if (op->erase) {
        Tandem__Internal__V1__EraseParticipantsRequest *r = tdm_arena_alloc(a, sizeof(*r));
        if (r == NULL)
            goto oom;
        tandem__internal__v1__erase_participants_request__init(r);
        r->participant_ids = op->ids;
        r->n_participant_ids = op->n_ids;
        request = &r->base;
    } else {
        Tandem__Internal__V1__ExportParticipantsRequest *r = tdm_arena_alloc(a, sizeof(*r));
        if (r == NULL)
            goto oom;
        tandem__internal__v1__export_participants_request__init(r);
        r->participant_ids = op->ids;
        r->n_participant_ids = op->n_ids;
        request = &r->base;
    }
    op->pending = N_PEERS + 1; /* +1 until every call is started */
    for (int i = 0; i < N_PEERS; i++) {
        peer_call *pc = tdm_arena_alloc(a, sizeof(*pc));
        tdm_rpc_client *client = tdm_runtime_peer(op->svc->rt, PEERS[i]);
        op->pending--;
        if (pc == NULL || client == NULL) {
            op->unreachable[i] = true;
            continue;
        }
        pc->op = op;
        pc->index = i;
        op->pending++;
        if (tdm_rpc_client_call(client, &tandem__internal__v1__person_data_service__descriptor,
                                method, request, tdm_call_ctx(op->call), deadline, a, peer_answered,
                                pc) != 0) {
            op->pending--;
            op->unreachable[i] = true;
        }
    }
    if (--op->pending == 0)
        peers_done(op);
    return;
oom:
    tdm_call_fail(op->call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
}

static void person_found(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    person_op *op = arg;
    if (st != NULL) {
        tdm_call_fail(op->call, st);
        return;
    }
    op->export_msg = (Tandem__V1__PersonExport *)msg;
    if (!op->erase && op->export_msg->n_participants == 0) {
        /* Only erased records remain: nothing is held on the person any more. */
        tdm_call_fail(op->call, tdm_status_new(TDM_NOT_FOUND, "person not found"));
        return;
    }
    ask_peers(op);
}

static void person_start(tdm_call *call, void *data, const char *external_id, bool erase)
{
    person_op *op = tdm_arena_calloc(tdm_call_arena(call), 1, sizeof(*op));
    if (op == NULL) {
        tdm_call_fail(call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    tdm_status *st = enrol_req_init(&op->req, data, call, TDM_SCOPE_ADMIN);
    if (st == NULL) {
        size_t n = tdm_utf8_chars(external_id);
        if (n == 0 || n == SIZE_MAX || n > ENROL_MAX_NAME_CHARS)
            st = tdm_status_add_violation(
                tdm_status_new(TDM_INVALID_ARGUMENT, "invalid external_id"), "external_id",
                "must be 1 to %u characters", ENROL_MAX_NAME_CHARS);
    }
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    op->svc = data;
    op->call = call;
    op->erase = erase;
    op->external_id = external_id;
    op->req.include_diversity = true; /* the export goes to the person themself */
    if (enrol_person_hash(op->svc->person_hash_key, op->req.ctx->tenant_id, external_id,
                          op->hash) != 0) {
        /* Never audit a person under a hash anyone could reverse by trying ids. */
        tdm_call_fail(call, tdm_status_new(TDM_FAILED_PRECONDITION,
                                           "personal-data requests need TANDEM_PERSON_HASH_KEY, "
                                           "which this deployment does not set"));
        return;
    }
    enrol_store_find_person(&op->req, external_id, op->hash, &op->ids, &op->n_ids, person_found,
                            op);
}

void enrol_handle_export_person(tdm_call *call, const ProtobufCMessage *req, void *data)
{
    const Tandem__V1__ExportPersonRequest *r = (const void *)req;
    person_start(call, data, r->external_id, false);
}

void enrol_handle_erase_person(tdm_call *call, const ProtobufCMessage *req, void *data)
{
    const Tandem__V1__ErasePersonRequest *r = (const void *)req;
    person_start(call, data, r->external_id, true);
}
