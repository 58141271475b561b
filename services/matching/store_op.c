/*
 * store_op.c - the transaction chain of the matching store (see store_op.h): lease,
 * idempotency claim, steps, outbox, commit or rollback, one callback.
 */
#include "store_op.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tdm_status *op_oom(void)
{
    return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
}

tdm_status *op_not_found(const char *what)
{
    return tdm_status_new(TDM_NOT_FOUND, "%s not found", what);
}

static void op_finish(store_op *op)
{
    tdm_status *st = op->err;
    ProtobufCMessage *msg = st == NULL ? op->response : NULL;
    op->cb(op->arg, st, msg);
}

static void op_ended(void *arg, tdm_status *st)
{
    store_op *op = arg;
    if (st != NULL) {
        if (op->err == NULL)
            op->err = st;
        else
            tdm_status_free(st);
    }
    op_finish(op);
}

void op_end(store_op *op, tdm_status *st)
{
    if (st != NULL && op->err == NULL)
        op->err = st;
    else if (st != NULL)
        tdm_status_free(st);
    if (op->tx == NULL) {
        op_finish(op);
        return;
    }
    tdm_pg_tx *tx = op->tx;
    op->tx = NULL;
    if (tdm_pg_tx_end(tx, op->err == NULL && !op->read_only, op_ended, op) != 0) {
        if (op->err == NULL)
            op->err = tdm_status_new(TDM_INTERNAL, "could not end the transaction");
        op_finish(op);
    }
}

static void op_result(void *arg, tdm_status *st, PGresult *res)
{
    store_op *op = arg;
    if (st != NULL) {
        if (st->code == TDM_ALREADY_EXISTS && op->conflict_message != NULL) {
            tdm_status *mine = tdm_status_new(TDM_ALREADY_EXISTS, "%s", op->conflict_message);
            tdm_status_set_detail(mine, "%s", st->detail != NULL ? st->detail : "");
            tdm_status_free(st);
            st = mine;
        }
        op_end(op, st);
        return;
    }
    op->next(op, res);
}

void op_query(store_op *op, const char *sql, int n, const char *const *values, store_step next)
{
    op->next = next;
    if (tdm_pg_tx_query(op->tx, sql, n, values, op_result, op) != 0)
        op_end(op, tdm_status_new(TDM_INTERNAL, "could not send a query"));
}

static void op_idem_claimed(void *arg, tdm_status *st, tdm_idem_outcome outcome,
                            const uint8_t *response, size_t len)
{
    store_op *op = arg;
    if (st != NULL) {
        op_end(op, st);
        return;
    }
    if (outcome == TDM_IDEM_CONFLICT) {
        op_end(op, tdm_idem_conflict_status());
        return;
    }
    if (outcome == TDM_IDEM_REPLAY) {
        op->response = protobuf_c_message_unpack(
            op->response_desc, tdm_arena_protobuf_allocator(op->req.arena), len, response);
        op->read_only = true; /* nothing to commit */
        op_end(op, op->response == NULL
                       ? tdm_status_new(TDM_INTERNAL, "could not read the stored response")
                       : NULL);
        return;
    }
    op->after_claim(op, NULL);
}

static void op_idem_stored(void *arg, tdm_status *st)
{
    op_end(arg, st);
}

void op_commit_response(store_op *op)
{
    if (op->req.idem == NULL || op->response == NULL) {
        op_end(op, NULL);
        return;
    }
    if (tdm_idem_finish(op->tx, MT_SCHEMA, op->req.idem, op->response, op_idem_stored, op) != 0)
        op_end(op, tdm_status_new(TDM_INTERNAL, "could not store the idempotency key"));
}

static void op_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    store_op *op = arg;
    if (st != NULL) {
        op_end(op, st);
        return;
    }
    op->tx = tx;
    if (op->req.idem != NULL) {
        if (tdm_idem_begin(tx, MT_SCHEMA, op->req.idem, op_idem_claimed, op) != 0)
            op_end(op, tdm_status_new(TDM_INTERNAL, "could not claim the idempotency key"));
        return;
    }
    op->after_claim(op, NULL);
}

store_op *op_new(const mt_req *r, mt_store_cb cb, void *arg)
{
    store_op *op = tdm_arena_calloc(r->arena, 1, sizeof(*op));
    if (op == NULL) {
        cb(arg, op_oom(), NULL);
        return NULL;
    }
    op->req = *r;
    op->cb = cb;
    op->arg = arg;
    return op;
}

void op_start(store_op *op, bool read_only, store_step first)
{
    op->read_only = read_only;
    op->after_claim = first;
    if (op->req.pool == NULL) {
        op_end(op, tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable"));
        return;
    }
    tdm_pg_tx_options opts = {
        .tenant_id = op->req.ctx->tenant_id,
        .deadline_ms = op->req.ctx->deadline_ms,
        .read_only = read_only,
        .request_id = op->req.ctx->request_id,
    };
    if (tdm_pg_tx_begin(op->req.pool, &opts, op_begun, op) != 0)
        op_end(op, tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable"));
}

int op_params(store_op *op, int n, ...)
{
    const char **v = tdm_arena_calloc(op->req.arena, (size_t)n, sizeof(*v));
    if (v == NULL) {
        op_end(op, op_oom());
        return -1;
    }
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        v[i] = va_arg(ap, const char *);
    va_end(ap);
    op->params = v;
    return 0;
}

const char *op_int(tdm_arena *a, int64_t v)
{
    return tdm_arena_printf(a, "%lld", (long long)v);
}

const char *op_lower(tdm_arena *a, const char *s)
{
    char *out = tdm_arena_strdup(a, s != NULL ? s : "");
    for (char *p = out; p != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return out != NULL ? out : "";
}

ProtobufCMessage *op_row(store_op *op, PGresult *res, int row, int col,
                         const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = mt_from_json(d, PQgetvalue(res, row, col),
                                       (size_t)PQgetlength(res, row, col), op->req.arena);
    if (m == NULL)
        op_end(op, tdm_status_set_detail(
                       tdm_status_new(TDM_INTERNAL, "a stored %s could not be read", d->short_name),
                       "row document: %.200s", PQgetvalue(res, row, col)));
    return m;
}

int op_page(store_op *op, PGresult *res, const ProtobufCMessageDescriptor *d, void ***items,
            size_t *n, char **token)
{
    int rows = PQntuples(res);
    int take = rows > op->page_size ? op->page_size : rows;
    *n = 0;
    *token = (char *)"";
    *items = tdm_arena_calloc(op->req.arena, (size_t)(take > 0 ? take : 1), sizeof(void *));
    if (*items == NULL) {
        op_end(op, op_oom());
        return -1;
    }
    for (int i = 0; i < take; i++) {
        ProtobufCMessage *m = op_row(op, res, i, 1, d);
        if (m == NULL)
            return -1;
        (*items)[(*n)++] = m;
    }
    if (rows > op->page_size)
        *token =
            mt_page_token_encode(strtoll(PQgetvalue(res, take - 1, 0), NULL, 10), op->req.arena);
    return 0;
}

static tdm_outbox_source op_source(const store_op *op)
{
    return (tdm_outbox_source){
        .schema = MT_SCHEMA,
        .service = MT_SERVICE,
        .tenant_id = op->req.ctx->tenant_id,
        .request_id = op->req.ctx->request_id,
    };
}

int op_event(store_op *op, const char *type, const char *resource_id, const char *data,
             tdm_pg_done_cb done)
{
    tdm_outbox_event *ev = tdm_arena_alloc(op->req.arena, sizeof(*ev));
    if (ev == NULL || data == NULL) {
        op_end(op, op_oom());
        return -1;
    }
    *ev = (tdm_outbox_event){.type = type, .resource_id = resource_id, .data_json = data};
    tdm_outbox_source src = op_source(op);
    if (tdm_outbox_append(op->tx, &src, ev, 1, done, op) != 0) {
        op_end(op, tdm_status_new(TDM_INTERNAL, "could not record the event"));
        return -1;
    }
    return 0;
}

static void events_chunk_done(void *arg, tdm_status *st)
{
    store_op *op = arg;
    if (st != NULL) {
        op_end(op, st);
        return;
    }
    op_append_events(op);
}

void op_append_events(store_op *op)
{
    if (op->events_done >= op->n_events) {
        op->after_events(op, NULL);
        return;
    }
    size_t n = op->n_events - op->events_done;
    if (n > TDM_OUTBOX_MAX_EVENTS)
        n = TDM_OUTBOX_MAX_EVENTS;
    tdm_outbox_source src = op_source(op);
    const tdm_outbox_event *first = op->events + op->events_done;
    op->events_done += n;
    if (tdm_outbox_append(op->tx, &src, first, n, events_chunk_done, op) != 0)
        op_end(op, tdm_status_new(TDM_INTERNAL, "could not record the events"));
}

int op_match_events(store_op *op, PGresult *res, const char *type, store_step next)
{
    int n = PQntuples(res);
    op->events = tdm_arena_calloc(op->req.arena, (size_t)(n > 0 ? n : 1), sizeof(*op->events));
    if (op->events == NULL) {
        op_end(op, op_oom());
        return -1;
    }
    for (int i = 0; i < n; i++) {
        ProtobufCMessage *m = op_row(op, res, i, 0, &tandem__v1__match__descriptor);
        if (m == NULL)
            return -1;
        char *data = mt_event_json("match", m, op->req.arena);
        if (data == NULL) {
            op_end(op, op_oom());
            return -1;
        }
        op->events[op->n_events++] = (tdm_outbox_event){
            .type = type,
            .resource_id = ((Tandem__V1__Match *)m)->id,
            .data_json = data,
        };
    }
    op->after_events = next;
    op_append_events(op);
    return 0;
}
