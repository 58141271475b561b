/*
 * peers.c - what tandem-feedback reads from enrolment and matching, over gRPC.
 *
 * Every call carries the caller's request context (tenant, principal, request id)
 * and deadline, bounded by FB_PEER_TIMEOUT_MS, so another tenant's match or
 * programme is NOT_FOUND exactly as it would be for the caller. The context's scopes
 * gain enrolment:read and matching:read: a key allowed to read feedback may see the
 * aggregates built from those reads without being allowed to list people itself.
 * The admin bit is never added, so enrolment returns diversity data only when the
 * caller is an admin (the report omits the diversity breakdowns otherwise).
 *
 * A whole programme (report, at-risk listing) is read as three concurrent chains:
 * GetProgramme, ListParticipants page by page, ListMatches page by page.
 */
#include "feedback.h"

#include <string.h>

typedef struct peer_op {
    fb_service *svc;
    tdm_call *call;
    tdm_call_context ctx;
    fb_peer_cb cb;
    void *arg;
} peer_op;

static tdm_status *oom(void)
{
    return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
}

static uint64_t peer_deadline(tdm_call *call)
{
    return uv_now(tdm_call_loop(call)) + FB_PEER_TIMEOUT_MS;
}

/* The caller's context with the read scopes the service needs of its peers. */
static void peer_context(tdm_call *call, tdm_call_context *out)
{
    *out = *tdm_call_ctx(call);
    out->scopes |= TDM_SCOPE_ENROLMENT_READ | TDM_SCOPE_MATCHING_READ;
}

static void peer_answered(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    peer_op *op = arg;
    if (st == NULL && response == NULL)
        st = tdm_status_new(TDM_UNAVAILABLE, "a peer answered without a message");
    op->cb(op->arg, st, st == NULL ? response : NULL);
}

static void peer_call(fb_service *svc, tdm_call *call, const char *peer,
                      const ProtobufCServiceDescriptor *service, const char *method,
                      const ProtobufCMessage *request, fb_peer_cb cb, void *arg)
{
    tdm_arena *a = tdm_call_arena(call);
    peer_op *op = tdm_arena_calloc(a, 1, sizeof(*op));
    if (op == NULL) {
        cb(arg, oom(), NULL);
        return;
    }
    op->svc = svc;
    op->call = call;
    op->cb = cb;
    op->arg = arg;
    peer_context(call, &op->ctx);
    tdm_rpc_client *client = tdm_runtime_peer(svc->rt, peer);
    if (client == NULL || tdm_rpc_client_call(client, service, method, request, &op->ctx,
                                              peer_deadline(call), a, peer_answered, op) != 0)
        cb(arg, tdm_status_new(TDM_UNAVAILABLE, "the %s service is unavailable", peer), NULL);
}

void fb_peer_get_match(fb_service *svc, tdm_call *call, const char *match_id, fb_peer_cb cb,
                       void *arg)
{
    Tandem__V1__GetMatchRequest *q = tdm_arena_alloc(tdm_call_arena(call), sizeof(*q));
    if (q == NULL) {
        cb(arg, oom(), NULL);
        return;
    }
    tandem__v1__get_match_request__init(q);
    q->id = (char *)match_id;
    peer_call(svc, call, "matching", &tandem__v1__matching_service__descriptor, "GetMatch",
              &q->base, cb, arg);
}

void fb_peer_get_programme(fb_service *svc, tdm_call *call, const char *programme_id, fb_peer_cb cb,
                           void *arg)
{
    Tandem__V1__GetProgrammeRequest *q = tdm_arena_alloc(tdm_call_arena(call), sizeof(*q));
    if (q == NULL) {
        cb(arg, oom(), NULL);
        return;
    }
    tandem__v1__get_programme_request__init(q);
    q->id = (char *)programme_id;
    peer_call(svc, call, "enrolment", &tandem__v1__enrolment_service__descriptor, "GetProgramme",
              &q->base, cb, arg);
}

void fb_peer_get_participant(fb_service *svc, tdm_call *call, const char *participant_id,
                             fb_peer_cb cb, void *arg)
{
    Tandem__V1__GetParticipantRequest *q = tdm_arena_alloc(tdm_call_arena(call), sizeof(*q));
    if (q == NULL) {
        cb(arg, oom(), NULL);
        return;
    }
    tandem__v1__get_participant_request__init(q);
    q->id = (char *)participant_id;
    peer_call(svc, call, "enrolment", &tandem__v1__enrolment_service__descriptor, "GetParticipant",
              &q->base, cb, arg);
}

/* ---- a whole programme ------------------------------------------------------------ */

typedef struct data_op {
    fb_service *svc;
    tdm_call *call;
    const char *programme_id;
    fb_programme_data *data;
    int pending;
    tdm_status *err;
    fb_programme_data_cb cb;
    void *arg;
    size_t cap_participants;
    size_t cap_matches;
} data_op;

static void data_step_done(data_op *op, tdm_status *st)
{
    if (st != NULL && op->err == NULL)
        op->err = st;
    else if (st != NULL)
        tdm_status_free(st);
    if (--op->pending > 0)
        return;
    if (op->err != NULL)
        op->cb(op->arg, op->err, NULL);
    else
        op->cb(op->arg, NULL, op->data);
}

/* Append src[0..n) to a growing arena array (doubling, old blocks stay in the arena). */
static int append(tdm_arena *a, void ***items, size_t *n, size_t *cap, void **src, size_t n_src)
{
    if (*n + n_src > *cap) {
        size_t cap2 = *cap == 0 ? 1024 : *cap;
        while (cap2 < *n + n_src)
            cap2 *= 2;
        void **grown = tdm_arena_alloc(a, cap2 * sizeof(void *));
        if (grown == NULL)
            return -1;
        if (*n > 0)
            memcpy(grown, *items, *n * sizeof(void *));
        *items = grown;
        *cap = cap2;
    }
    if (n_src > 0)
        memcpy(*items + *n, src, n_src * sizeof(void *));
    *n += n_src;
    return 0;
}

static void programme_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    data_op *op = arg;
    if (st == NULL)
        op->data->programme = (Tandem__V1__Programme *)msg;
    data_step_done(op, st);
}

static void list_participants(data_op *op, const char *token);

static void participants_page(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    data_op *op = arg;
    if (st == NULL && msg == NULL)
        st = tdm_status_new(TDM_INTERNAL, "enrolment answered no participants page");
    if (st != NULL || msg == NULL) {
        data_step_done(op, st);
        return;
    }
    Tandem__V1__ListParticipantsResponse *r = (void *)msg;
    fb_programme_data *d = op->data;
    if (append(tdm_call_arena(op->call), (void ***)&d->participants, &d->n_participants,
               &op->cap_participants, (void **)r->participants, r->n_participants) != 0) {
        data_step_done(op, oom());
        return;
    }
    if (d->n_participants > FB_MAX_PROGRAMME_PARTICIPANTS) {
        data_step_done(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                                          "the programme has more than %u participants",
                                          FB_MAX_PROGRAMME_PARTICIPANTS));
        return;
    }
    if (r->next_page_token != NULL && r->next_page_token[0] != '\0')
        list_participants(op, r->next_page_token);
    else
        data_step_done(op, NULL);
}

static void list_participants(data_op *op, const char *token)
{
    Tandem__V1__ListParticipantsRequest *q = tdm_arena_alloc(tdm_call_arena(op->call), sizeof(*q));
    if (q == NULL) {
        data_step_done(op, oom());
        return;
    }
    tandem__v1__list_participants_request__init(q);
    q->programme_id = (char *)op->programme_id;
    q->page_size = FB_PEER_PAGE_SIZE;
    q->page_token = (char *)token;
    peer_call(op->svc, op->call, "enrolment", &tandem__v1__enrolment_service__descriptor,
              "ListParticipants", &q->base, participants_page, op);
}

static void list_matches(data_op *op, const char *token);

static void matches_page(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    data_op *op = arg;
    if (st == NULL && msg == NULL)
        st = tdm_status_new(TDM_INTERNAL, "matching answered no matches page");
    if (st != NULL || msg == NULL) {
        data_step_done(op, st);
        return;
    }
    Tandem__V1__ListMatchesResponse *r = (void *)msg;
    fb_programme_data *d = op->data;
    if (append(tdm_call_arena(op->call), (void ***)&d->matches, &d->n_matches, &op->cap_matches,
               (void **)r->matches, r->n_matches) != 0) {
        data_step_done(op, oom());
        return;
    }
    if (d->n_matches > FB_MAX_PROGRAMME_MATCHES) {
        data_step_done(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                                          "the programme has more than %u matches",
                                          FB_MAX_PROGRAMME_MATCHES));
        return;
    }
    if (r->next_page_token != NULL && r->next_page_token[0] != '\0')
        list_matches(op, r->next_page_token);
    else
        data_step_done(op, NULL);
}

static void list_matches(data_op *op, const char *token)
{
    Tandem__V1__ListMatchesRequest *q = tdm_arena_alloc(tdm_call_arena(op->call), sizeof(*q));
    if (q == NULL) {
        data_step_done(op, oom());
        return;
    }
    tandem__v1__list_matches_request__init(q);
    q->programme_id = (char *)op->programme_id;
    q->page_size = FB_PEER_PAGE_SIZE;
    q->page_token = (char *)token;
    peer_call(op->svc, op->call, "matching", &tandem__v1__matching_service__descriptor,
              "ListMatches", &q->base, matches_page, op);
}

void fb_peer_programme_data(fb_service *svc, tdm_call *call, const char *programme_id,
                            bool with_participants, fb_programme_data_cb cb, void *arg)
{
    tdm_arena *a = tdm_call_arena(call);
    data_op *op = tdm_arena_calloc(a, 1, sizeof(*op));
    fb_programme_data *d = tdm_arena_calloc(a, 1, sizeof(*d));
    if (op == NULL || d == NULL) {
        cb(arg, oom(), NULL);
        return;
    }
    op->svc = svc;
    op->call = call;
    op->programme_id = programme_id;
    op->data = d;
    op->cb = cb;
    op->arg = arg;
    /* Every chain completes through data_step_done exactly once. */
    op->pending = with_participants ? 3 : 2;
    fb_peer_get_programme(svc, call, programme_id, programme_got, op);
    if (with_participants)
        list_participants(op, "");
    list_matches(op, "");
}
