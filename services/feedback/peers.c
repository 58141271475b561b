/*
 * peers.c - what tandem-feedback reads from enrolment and matching, over gRPC.
 *
 * Every call carries the caller's request context (tenant, principal, request id)
 * and deadline, bounded by FB_PEER_TIMEOUT_MS, so another tenant's match or
 * programme is NOT_FOUND exactly as it would be for the caller. The caller's scopes
 * travel as they are, never widened (API.md "Least privilege in every answer"): the
 * owners answer a feedback key the narrow view feedback needs - matching the
 * match's ids, status and start, enrolment a participant's programme, role and
 * status, and the report's columns - and the whole resource only to a caller that
 * also holds their own read scope. Enrolment returns diversity data only to an admin
 * (the report omits the diversity breakdowns otherwise).
 *
 * A whole programme (at-risk listing) is read as three concurrent chains:
 * GetProgramme, ListParticipants page by page, ListMatches page by page. A report
 * reads the same three chains through the owners' internal column calls
 * (tandem.internal.v1 ParticipantColumnsService and MatchColumnsService,
 * report_inputs.proto): only the columns the report needs, as PostgreSQL binary
 * arrays checked here and bound as they are. A peer that answers UNIMPLEMENTED (an
 * older version during a rolling upgrade) is read through its public List call.
 */
#include "feedback.h"

#include "tandem/internal/v1/report_inputs.pb-c.h"

#include <string.h>

typedef struct peer_op {
    fb_service *svc;
    tdm_call *call;
    tdm_call_context ctx;
    fb_peer_cb cb;
    void *arg;
} peer_op;

static uint64_t peer_deadline(tdm_call *call)
{
    return uv_now(tdm_call_loop(call)) + FB_PEER_TIMEOUT_MS;
}

/* The caller's context as it came: its scopes are passed on, never widened. */
static void peer_context(tdm_call *call, tdm_call_context *out)
{
    *out = *tdm_call_ctx(call);
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
        cb(arg, tdm_store_oom(), NULL);
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
        cb(arg, tdm_store_oom(), NULL);
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
        cb(arg, tdm_store_oom(), NULL);
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
        cb(arg, tdm_store_oom(), NULL);
        return;
    }
    tandem__v1__get_participant_request__init(q);
    q->id = (char *)participant_id;
    peer_call(svc, call, "enrolment", &tandem__v1__enrolment_service__descriptor, "GetParticipant",
              &q->base, cb, arg);
}

/* ---- a whole programme ------------------------------------------------------------ */

/* One owner's public List pages (ListParticipants, ListMatches): the request has
 * programme_id, page_size and page_token, the response one repeated field of items
 * and next_page_token, so one chain reads either through its method's descriptors. */
typedef struct list_chain {
    struct data_op *op;
    const char *peer;
    const ProtobufCServiceDescriptor *service;
    const char *method;
    const char *field; /* the response's repeated field, also the noun of its limit */
    void ***items;     /* where the items go: fb_programme_data's array and count */
    size_t *n;
    size_t cap;
    size_t max;
} list_chain;

typedef struct data_op {
    fb_service *svc;
    tdm_call *call;
    const char *programme_id;
    fb_programme_data *data;
    int pending;
    tdm_status *err;
    fb_programme_data_cb cb;
    void *arg;
    list_chain participants, matches;
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

static void *field_at(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    return f == NULL ? NULL : (char *)m + f->offset;
}

static void list_page_ask(list_chain *l, const char *token);

static void list_page(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    list_chain *l = arg;
    if (st != NULL) {
        data_step_done(l->op, st);
        return;
    }
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, l->field);
    char **next = field_at(msg, "next_page_token");
    if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED || next == NULL) {
        data_step_done(l->op, tdm_status_new(TDM_INTERNAL, "%s answered an unexpected page of %s",
                                             l->peer, l->field));
        return;
    }
    size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
    void **src = *(void ***)((char *)msg + f->offset);
    if (append(tdm_call_arena(l->op->call), l->items, l->n, &l->cap, src, n) != 0) {
        data_step_done(l->op, tdm_store_oom());
        return;
    }
    if (*l->n > l->max) {
        data_step_done(l->op,
                       tdm_status_new(TDM_RESOURCE_EXHAUSTED, "the programme has more than %zu %s",
                                      l->max, l->field));
        return;
    }
    if (*next != NULL && (*next)[0] != '\0')
        list_page_ask(l, *next);
    else
        data_step_done(l->op, NULL);
}

static void list_page_ask(list_chain *l, const char *token)
{
    const ProtobufCMethodDescriptor *method =
        protobuf_c_service_descriptor_get_method_by_name(l->service, l->method);
    ProtobufCMessage *q = method == NULL ? NULL
                                         : tdm_arena_alloc(tdm_call_arena(l->op->call),
                                                           method->input->sizeof_message);
    if (q == NULL) {
        data_step_done(l->op, tdm_store_oom());
        return;
    }
    method->input->message_init(q);
    char **programme_id = field_at(q, "programme_id");
    int32_t *page_size = field_at(q, "page_size");
    char **page_token = field_at(q, "page_token");
    if (programme_id == NULL || page_size == NULL || page_token == NULL) {
        data_step_done(l->op, tdm_status_new(TDM_INTERNAL, "unexpected list request"));
        return;
    }
    *programme_id = (char *)l->op->programme_id;
    *page_size = FB_PEER_PAGE_SIZE;
    *page_token = (char *)token;
    peer_call(l->op->svc, l->op->call, l->peer, l->service, l->method, q, list_page, l);
}

/* A whole programme's data operation: the three chains' targets set, none started. */
static data_op *data_op_new(fb_service *svc, tdm_call *call, const char *programme_id,
                            fb_programme_data_cb cb, void *arg)
{
    tdm_arena *a = tdm_call_arena(call);
    data_op *op = tdm_arena_calloc(a, 1, sizeof(*op));
    fb_programme_data *d = tdm_arena_calloc(a, 1, sizeof(*d));
    if (op == NULL || d == NULL) {
        cb(arg, tdm_store_oom(), NULL);
        return NULL;
    }
    *op = (data_op){
        .svc = svc, .call = call, .programme_id = programme_id, .data = d, .cb = cb, .arg = arg};
    op->participants = (list_chain){.op = op,
                                    .peer = "enrolment",
                                    .service = &tandem__v1__enrolment_service__descriptor,
                                    .method = "ListParticipants",
                                    .field = "participants",
                                    .items = (void ***)&d->participants,
                                    .n = &d->n_participants,
                                    .max = FB_MAX_PROGRAMME_PARTICIPANTS};
    op->matches = (list_chain){.op = op,
                               .peer = "matching",
                               .service = &tandem__v1__matching_service__descriptor,
                               .method = "ListMatches",
                               .field = "matches",
                               .items = (void ***)&d->matches,
                               .n = &d->n_matches,
                               .max = FB_MAX_PROGRAMME_MATCHES};
    return op;
}

void fb_peer_programme_data(fb_service *svc, tdm_call *call, const char *programme_id,
                            bool with_participants, fb_programme_data_cb cb, void *arg)
{
    data_op *op = data_op_new(svc, call, programme_id, cb, arg);
    if (op == NULL)
        return;
    /* Every chain completes through data_step_done exactly once. */
    op->pending = with_participants ? 3 : 2;
    fb_peer_get_programme(svc, call, programme_id, programme_got, op);
    if (with_participants)
        list_page_ask(&op->participants, "");
    list_page_ask(&op->matches, "");
}

/* ---- the report's inputs as packed columns ------------------------------------------- */

/* Element type OIDs and fixed sizes (pg_type.typlen; -1: variable) of the columns. */
#define OID_BOOL        16u
#define OID_INT4        23u
#define OID_TEXT        25u
#define OID_TIMESTAMPTZ 1184u
#define OID_UUID        2950u

static const struct {
    uint32_t oid;
    int32_t width;
} PARTICIPANT_TYPES[FB_PARTICIPANT_COLUMNS] = {
    {OID_UUID, 16}, {OID_INT4, 4},  {OID_INT4, 4},  {OID_TEXT, -1}, {OID_TEXT, -1},
    {OID_INT4, 4},  {OID_TEXT, -1}, {OID_TEXT, -1}, {OID_TEXT, -1}, {OID_TEXT, -1},
};
static const struct {
    uint32_t oid;
    int32_t width;
} MATCH_TYPES[FB_MATCH_COLUMNS] = {
    {OID_UUID, 16}, {OID_UUID, 16},       {OID_UUID, 16},
    {OID_INT4, 4},  {OID_TIMESTAMPTZ, 8}, {OID_BOOL, 1},
};

/* Append one page's columns; NULL or the status naming the peer. */
static tdm_status *append_columns(fb_pg_array *cols, const ProtobufCBinaryData *const *page,
                                  size_t n_cols, int32_t count, size_t max_rows, const char *peer,
                                  tdm_arena *a)
{
    if (count < 0)
        return tdm_status_new(TDM_INTERNAL, "%s answered a negative row count", peer);
    for (size_t i = 0; i < n_cols; i++) {
        fb_pg_array_result r =
            fb_pg_array_append(&cols[i], page[i]->data, page[i]->len, (size_t)count, max_rows, a);
        if (r == FB_PG_ARRAY_TOO_MANY)
            return tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                                  "the programme has more than %zu rows in %s", max_rows, peer);
        if (r == FB_PG_ARRAY_NO_MEMORY)
            return tdm_store_oom();
        if (r != FB_PG_ARRAY_OK)
            return tdm_status_new(TDM_INTERNAL, "%s answered a malformed column %zu", peer, i);
    }
    return NULL;
}

/* A next page must move forward and the page before it must not be empty. */
static tdm_status *check_cursor(int64_t after, int64_t next, int32_t count, const char *peer)
{
    if (next != 0 && (next <= after || count == 0))
        return tdm_status_new(TDM_INTERNAL, "%s answered a page cursor that does not advance",
                              peer);
    return NULL;
}

/* One owner's pages of columns. The two calls have the same shape (request:
 * programme_id, after; response: count, next_after, then one bytes field per
 * column in field-number order), so one chain reads either through the
 * descriptors of its service's one method. */
#define MAX_COLUMNS FB_PARTICIPANT_COLUMNS /* the wider of the two */

typedef struct column_chain {
    data_op *op;
    const char *peer;
    const ProtobufCServiceDescriptor *service;
    fb_pg_array *cols;
    size_t n_cols;
    size_t max_rows;
    bool *done;           /* set once the last page is in */
    list_chain *fallback; /* the public List chain */
    int64_t after;        /* cursor of the page asked last */
} column_chain;

static void column_page_ask(column_chain *c);

static void column_page(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    column_chain *c = arg;
    if (st != NULL && st->code == TDM_UNIMPLEMENTED && c->after == 0) {
        tdm_status_free(st);
        list_page_ask(c->fallback, "");
        return;
    }
    if (st != NULL) {
        data_step_done(c->op, st);
        return;
    }
    const int32_t *count = field_at(msg, "count");
    const int64_t *next = field_at(msg, "next_after");
    const ProtobufCBinaryData *page[MAX_COLUMNS];
    size_t n_page = 0;
    for (unsigned i = 0; i < msg->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[i];
        if (f->type != PROTOBUF_C_TYPE_BYTES)
            continue;
        if (n_page < MAX_COLUMNS)
            page[n_page] = (const ProtobufCBinaryData *)((const char *)msg + f->offset);
        n_page++;
    }
    if (count == NULL || next == NULL || n_page != c->n_cols)
        st = tdm_status_new(TDM_INTERNAL, "%s answered unexpected columns", c->peer);
    if (st == NULL)
        st = append_columns(c->cols, page, c->n_cols, *count, c->max_rows, c->peer,
                            tdm_call_arena(c->op->call));
    if (st == NULL)
        st = check_cursor(c->after, *next, *count, c->peer);
    if (st != NULL) {
        data_step_done(c->op, st);
        return;
    }
    if (*next != 0) {
        c->after = *next;
        column_page_ask(c);
        return;
    }
    *c->done = true;
    data_step_done(c->op, NULL);
}

static void column_page_ask(column_chain *c)
{
    const ProtobufCMethodDescriptor *method = &c->service->methods[0];
    ProtobufCMessage *q =
        tdm_arena_alloc(tdm_call_arena(c->op->call), method->input->sizeof_message);
    if (q == NULL) {
        data_step_done(c->op, tdm_store_oom());
        return;
    }
    method->input->message_init(q);
    char **programme_id = field_at(q, "programme_id");
    int64_t *after = field_at(q, "after");
    if (programme_id == NULL || after == NULL) {
        data_step_done(c->op, tdm_status_new(TDM_INTERNAL, "unexpected column request"));
        return;
    }
    *programme_id = (char *)c->op->programme_id;
    *after = c->after;
    peer_call(c->op->svc, c->op->call, c->peer, c->service, method->name, q, column_page, c);
}

static void column_chain_start(data_op *op, column_chain *c)
{
    c->op = op;
    column_page_ask(c);
}

void fb_peer_report_inputs(fb_service *svc, tdm_call *call, const char *programme_id,
                           fb_programme_data_cb cb, void *arg)
{
    data_op *op = data_op_new(svc, call, programme_id, cb, arg);
    if (op == NULL)
        return;
    column_chain *chains = tdm_arena_calloc(tdm_call_arena(call), 2, sizeof(*chains));
    if (chains == NULL) {
        cb(arg, tdm_store_oom(), NULL);
        return;
    }
    fb_programme_data *d = op->data;
    for (int i = 0; i < FB_PARTICIPANT_COLUMNS; i++)
        d->pcols[i] = (fb_pg_array){.elemtype = PARTICIPANT_TYPES[i].oid,
                                    .width = PARTICIPANT_TYPES[i].width};
    fb_match_columns_init(d->mcols);
    /* Every chain completes through data_step_done exactly once. */
    op->pending = 3;
    chains[0] =
        (column_chain){.peer = "enrolment",
                       .service = &tandem__internal__v1__participant_columns_service__descriptor,
                       .cols = d->pcols,
                       .n_cols = FB_PARTICIPANT_COLUMNS,
                       .max_rows = FB_MAX_PROGRAMME_PARTICIPANTS,
                       .done = &d->participant_columns,
                       .fallback = &op->participants};
    chains[1] = (column_chain){.peer = "matching",
                               .service = &tandem__internal__v1__match_columns_service__descriptor,
                               .cols = d->mcols,
                               .n_cols = FB_MATCH_COLUMNS,
                               .max_rows = FB_MAX_PROGRAMME_MATCHES,
                               .done = &d->match_columns,
                               .fallback = &op->matches};
    fb_peer_get_programme(svc, call, programme_id, programme_got, op);
    column_chain_start(op, &chains[0]);
    column_chain_start(op, &chains[1]);
}

void fb_match_columns_init(fb_pg_array cols[FB_MATCH_COLUMNS])
{
    for (int i = 0; i < FB_MATCH_COLUMNS; i++)
        cols[i] = (fb_pg_array){.elemtype = MATCH_TYPES[i].oid, .width = MATCH_TYPES[i].width};
}
