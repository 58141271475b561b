/*
 * peers.c - the calls matching makes to other services: it reads from enrolment a
 * programme and its participants (ListParticipants, every page of FETCH_PAGE_SIZE) or some
 * participants by id (GetParticipant, in parallel). Calls go through the runtime's peer client with
 * the caller's request context, so enrolment applies the caller's tenant and scopes:
 * a programme of another tenant is NOT_FOUND there and here, and diversity data
 * comes back only when the caller had the admin scope.
 */
#include "matching.h"

#include <string.h>

#define FETCH_PAGE_SIZE       500
#define FETCH_CALL_TIMEOUT_MS 30000u

typedef struct fetch_op {
    tdm_runtime *rt;
    const tdm_call_context *ctx;
    const char *programme_id;
    int role;
    int status; /* Participant.Status filter, 0: all */
    tdm_arena *a;
    mt_fetch_cb cb;
    void *arg;
    Tandem__V1__Programme *prog;
    Tandem__V1__Participant **people;
    size_t n, cap;
    /* parallel calls: pages of both roles at once, or GetParticipant by id */
    size_t pending;
    tdm_status *first_error;
} fetch_op;

/* One paged stream of ListParticipants (one role). */
typedef struct fetch_stream {
    fetch_op *f;
    int role;
} fetch_stream;

static uint64_t call_deadline(fetch_op *f)
{
    return uv_now(tdm_runtime_loop(f->rt)) + FETCH_CALL_TIMEOUT_MS;
}

static tdm_rpc_client *enrolment(fetch_op *f)
{
    return tdm_runtime_peer(f->rt, "enrolment");
}

static void fetch_fail(fetch_op *f, tdm_status *st)
{
    f->cb(f->arg, st, NULL, NULL, 0);
}

static int add_people(fetch_op *f, Tandem__V1__Participant **p, size_t n)
{
    if (n == 0)
        return 0;
    if (f->n + n > f->cap) {
        size_t cap = f->cap == 0 ? 1024 : f->cap;
        while (cap < f->n + n)
            cap *= 2;
        Tandem__V1__Participant **grown = tdm_arena_alloc(f->a, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        if (f->n > 0)
            memcpy(grown, f->people, f->n * sizeof(*grown));
        f->people = grown;
        f->cap = cap;
    }
    memcpy(f->people + f->n, p, n * sizeof(*p));
    f->n += n;
    return 0;
}

static void list_page(fetch_stream *fs, const char *token);

/* A stream ended (st: how); the fetch completes when every stream has. */
static void stream_done(fetch_op *f, tdm_status *st)
{
    if (st != NULL && f->first_error == NULL)
        f->first_error = st;
    else if (st != NULL)
        tdm_status_free(st);
    if (--f->pending > 0)
        return;
    if (f->first_error != NULL)
        fetch_fail(f, f->first_error);
    else
        f->cb(f->arg, NULL, f->prog, f->people, f->n);
}

static void page_answered(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    fetch_stream *fs = arg;
    fetch_op *f = fs->f;
    if (st != NULL || f->first_error != NULL) {
        stream_done(f, st);
        return;
    }
    Tandem__V1__ListParticipantsResponse *r = (void *)response;
    if (add_people(f, r->participants, r->n_participants) != 0) {
        stream_done(f, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    if (r->next_page_token != NULL && r->next_page_token[0] != '\0') {
        list_page(fs, r->next_page_token);
        return;
    }
    stream_done(f, NULL);
}

static void list_page(fetch_stream *fs, const char *token)
{
    fetch_op *f = fs->f;
    Tandem__V1__ListParticipantsRequest *q = tdm_arena_alloc(f->a, sizeof(*q));
    tdm_rpc_client *client = enrolment(f);
    if (q == NULL || client == NULL) {
        stream_done(f, tdm_status_new(q == NULL ? TDM_RESOURCE_EXHAUSTED : TDM_UNAVAILABLE,
                                      "could not read the participants from enrolment"));
        return;
    }
    tandem__v1__list_participants_request__init(q);
    q->programme_id = (char *)f->programme_id;
    q->page_size = FETCH_PAGE_SIZE;
    q->page_token = tdm_arena_strdup(f->a, token);
    q->role = (Tandem__V1__Role)fs->role;
    q->status = (Tandem__V1__Participant__Status)f->status;
    if (tdm_rpc_client_call(client, &tandem__v1__enrolment_service__descriptor, "ListParticipants",
                            &q->base, f->ctx, call_deadline(f), f->a, page_answered, fs) != 0)
        stream_done(f, tdm_status_new(TDM_UNAVAILABLE, "enrolment is unavailable"));
}

static void programme_answered(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    fetch_op *f = arg;
    if (st != NULL) {
        fetch_fail(f, st);
        return;
    }
    f->prog = (Tandem__V1__Programme *)response;
    if (f->role < 0) {
        f->cb(f->arg, NULL, f->prog, NULL, 0);
        return;
    }
    /* Both roles: two streams of pages at once (enrolment serves them in parallel
     * on its connection pool), which halves the fetch of a large programme. */
    int roles[2] = {f->role, 0};
    size_t n = 1;
    if (f->role == 0) {
        roles[0] = TANDEM__V1__ROLE__MENTOR;
        roles[1] = TANDEM__V1__ROLE__MENTEE;
        n = 2;
    }
    fetch_stream *fs = tdm_arena_calloc(f->a, n, sizeof(*fs));
    if (fs == NULL) {
        fetch_fail(f, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    f->pending = n + 1; /* +1 until every stream is started */
    for (size_t i = 0; i < n; i++) {
        fs[i] = (fetch_stream){f, roles[i]};
        list_page(&fs[i], "");
    }
    stream_done(f, NULL);
}

void mt_fetch_programme(tdm_runtime *rt, const tdm_call_context *ctx, const char *programme_id,
                        int role, tdm_arena *a, mt_fetch_cb cb, void *arg)
{
    mt_fetch_programme_status(rt, ctx, programme_id, role, 0, a, cb, arg);
}

void mt_fetch_programme_status(tdm_runtime *rt, const tdm_call_context *ctx,
                               const char *programme_id, int role, int status, tdm_arena *a,
                               mt_fetch_cb cb, void *arg)
{
    fetch_op *f = tdm_arena_calloc(a, 1, sizeof(*f));
    Tandem__V1__GetProgrammeRequest *q = tdm_arena_alloc(a, sizeof(*q));
    if (f == NULL || q == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, NULL, 0);
        return;
    }
    *f = (fetch_op){.rt = rt,
                    .ctx = ctx,
                    .programme_id = programme_id,
                    .role = role,
                    .status = status,
                    .a = a,
                    .cb = cb,
                    .arg = arg};
    tandem__v1__get_programme_request__init(q);
    q->id = (char *)programme_id;
    tdm_rpc_client *client = enrolment(f);
    if (client == NULL ||
        tdm_rpc_client_call(client, &tandem__v1__enrolment_service__descriptor, "GetProgramme",
                            &q->base, ctx, call_deadline(f), a, programme_answered, f) != 0)
        fetch_fail(f, tdm_status_new(TDM_UNAVAILABLE, "enrolment is unavailable"));
}

typedef struct fetch_one {
    fetch_op *f;
    size_t index;
} fetch_one;

static void one_done(fetch_op *f)
{
    if (--f->pending > 0)
        return;
    if (f->first_error != NULL)
        fetch_fail(f, f->first_error);
    else
        f->cb(f->arg, NULL, NULL, f->people, f->n);
}

static void one_answered(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    fetch_one *o = arg;
    fetch_op *f = o->f;
    if (st != NULL && f->first_error == NULL)
        f->first_error = st;
    else if (st != NULL)
        tdm_status_free(st);
    else
        f->people[o->index] = (Tandem__V1__Participant *)response;
    one_done(f);
}

void mt_fetch_participants(tdm_runtime *rt, const tdm_call_context *ctx, const char *const *ids,
                           size_t n, tdm_arena *a, mt_fetch_cb cb, void *arg)
{
    fetch_op *f = tdm_arena_calloc(a, 1, sizeof(*f));
    Tandem__V1__Participant **people = tdm_arena_calloc(a, n > 0 ? n : 1, sizeof(*people));
    if (f == NULL || people == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, NULL, 0);
        return;
    }
    *f = (fetch_op){.rt = rt, .ctx = ctx, .a = a, .cb = cb, .arg = arg, .people = people, .n = n};
    f->pending = n + 1; /* +1 until every call is started */
    for (size_t i = 0; i < n; i++) {
        fetch_one *o = tdm_arena_alloc(a, sizeof(*o));
        Tandem__V1__GetParticipantRequest *q = tdm_arena_alloc(a, sizeof(*q));
        tdm_rpc_client *client = enrolment(f);
        if (o == NULL || q == NULL || client == NULL) {
            if (f->first_error == NULL)
                f->first_error = tdm_status_new(TDM_UNAVAILABLE, "enrolment is unavailable");
            f->pending--;
            continue;
        }
        *o = (fetch_one){f, i};
        tandem__v1__get_participant_request__init(q);
        q->id = (char *)ids[i];
        if (tdm_rpc_client_call(client, &tandem__v1__enrolment_service__descriptor,
                                "GetParticipant", &q->base, ctx, call_deadline(f), a, one_answered,
                                o) != 0) {
            if (f->first_error == NULL)
                f->first_error = tdm_status_new(TDM_UNAVAILABLE, "enrolment is unavailable");
            f->pending--;
        }
    }
    one_done(f);
}
