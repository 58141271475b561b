/*
 * store.c - the store operation of every service (see tandem/store.h): begin with
 * the call's tenant and deadline, claim the Idempotency-Key, run the steps, append
 * the outbox events, store the response for replays, commit or roll back, and
 * complete once. The error mapping of a store lives here and nowhere else.
 */
#include "tandem/store.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "tandem/page_token.h"

tdm_status *tdm_store_oom(void)
{
    return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
}

/* A database call that returned non-zero never started: the pool refuses only a
 * programmer error or an allocation that failed, so this is a bug or out of
 * memory, not an unavailable database (which the pool reports through the
 * callback with its own status). */
static tdm_status *not_started(const char *what)
{
    return tdm_status_new(TDM_INTERNAL, "could not %s", what);
}

static void keep_error(tdm_store_op *op, tdm_status *st)
{
    if (st == NULL)
        return;
    if (op->err == NULL)
        op->err = st;
    else
        tdm_status_free(st);
}

static void finish(tdm_store_op *op)
{
    tdm_status *st = op->err;
    op->err = NULL;
    op->cb(op->arg, st, st == NULL ? op->response : NULL);
}

static void ended(void *arg, tdm_status *st)
{
    tdm_store_op *op = arg;
    keep_error(op, st);
    finish(op);
}

void tdm_store_op_end(tdm_store_op *op, tdm_status *st)
{
    keep_error(op, st);
    if (op->tx == NULL) {
        finish(op);
        return;
    }
    tdm_pg_tx *tx = op->tx;
    op->tx = NULL;
    if (tdm_pg_tx_end(tx, op->err == NULL && !op->read_only, ended, op) != 0) {
        keep_error(op, not_started("end the transaction"));
        finish(op);
    }
}

void tdm_store_op_fail_later(tdm_store_op *op, tdm_status *st)
{
    keep_error(op, st);
}

bool tdm_store_op_go_on(tdm_store_op *op)
{
    uint64_t deadline = op->req.ctx != NULL ? op->req.ctx->deadline_ms : 0;
    if (op->err == NULL && deadline != 0 && tdm_pg_pool_now(op->req.pool) >= deadline)
        keep_error(op, tdm_status_new(TDM_DEADLINE_EXCEEDED,
                                      "the deadline passed before the write was done"));
    if (op->err == NULL)
        return true;
    tdm_store_op_end(op, NULL);
    return false;
}

void tdm_store_op_done(tdm_store_op *op, PGresult *res)
{
    (void)res;
    tdm_store_op_end(op, NULL);
}

/* ALREADY_EXISTS in the operation's words, when it chose some; the pool's detail
 * (which constraint) stays for the operator. */
static tdm_status *conflict_status(tdm_store_op *op, tdm_status *st)
{
    if (st->code != TDM_ALREADY_EXISTS || op->conflict_message == NULL)
        return st;
    tdm_status *mine = tdm_status_new(TDM_ALREADY_EXISTS, "%s", op->conflict_message);
    if (mine == NULL)
        return st;
    if (st->detail != NULL)
        tdm_status_set_detail(mine, "%s", st->detail);
    if (op->conflict_field != NULL)
        mine = tdm_status_add_violation(mine, op->conflict_field, "%s",
                                        op->conflict_description != NULL ? op->conflict_description
                                                                         : "already exists");
    tdm_status_free(st);
    return mine;
}

static void result(void *arg, tdm_status *st, PGresult *res)
{
    tdm_store_op *op = arg;
    if (st != NULL) {
        tdm_store_op_end(op, conflict_status(op, st));
        return;
    }
    op->next(op, res);
}

void tdm_store_op_query(tdm_store_op *op, const char *sql, int n, const char *const *values,
                        tdm_store_step next)
{
    op->next = next;
    if (tdm_pg_tx_query(op->tx, sql, n, values, result, op) != 0)
        tdm_store_op_end(op, not_started("send a query"));
}

void tdm_store_op_query_prepared(tdm_store_op *op, const char *sql, int n,
                                 const char *const *values, tdm_store_step next)
{
    op->next = next;
    if (tdm_pg_tx_query_prepared(op->tx, sql, n, values, result, op) != 0)
        tdm_store_op_end(op, not_started("send a query"));
}

int tdm_store_op_query_params(tdm_store_op *op, const char *sql, int n, const Oid *types,
                              const char *const *values, const int *lengths, const int *formats,
                              tdm_store_step next)
{
    op->next = next;
    if (tdm_pg_tx_query_params(op->tx, sql, n, types, values, lengths, formats, 0, result, op) == 0)
        return 0;
    tdm_store_op_end(op, not_started("send a query"));
    return -1;
}

void tdm_store_op_query_params_prepared(tdm_store_op *op, const char *sql, int n, const Oid *types,
                                        const char *const *values, const int *lengths,
                                        const int *formats, tdm_store_step next)
{
    op->next = next;
    if (tdm_pg_tx_query_params_prepared(op->tx, sql, n, types, values, lengths, formats, 0, result,
                                        op) != 0)
        tdm_store_op_end(op, not_started("send a query"));
}

/* ---- idempotency ------------------------------------------------------------------ */

static void idem_claimed(void *arg, tdm_status *st, tdm_idem_outcome outcome,
                         const uint8_t *response, size_t len)
{
    tdm_store_op *op = arg;
    if (st != NULL) {
        tdm_store_op_end(op, st);
        return;
    }
    if (outcome == TDM_IDEM_CONFLICT) {
        tdm_store_op_end(op, tdm_idem_conflict_status());
        return;
    }
    if (outcome == TDM_IDEM_REPLAY) {
        op->response = protobuf_c_message_unpack(
            op->response_desc, tdm_arena_protobuf_allocator(op->req.arena), len, response);
        op->read_only = true; /* nothing to commit */
        tdm_store_op_end(op, op->response == NULL
                                 ? tdm_status_new(TDM_INTERNAL, "could not read the stored "
                                                                "response")
                                 : NULL);
        return;
    }
    op->first(op, NULL);
}

static void idem_stored(void *arg, tdm_status *st)
{
    tdm_store_op_end(arg, st);
}

void tdm_store_op_commit(tdm_store_op *op)
{
    if (op->req.idem == NULL || op->response == NULL || op->read_only) {
        tdm_store_op_end(op, NULL);
        return;
    }
    if (tdm_idem_finish(op->tx, op->owner->schema, op->req.idem, op->response, idem_stored, op) !=
        0)
        tdm_store_op_end(op, not_started("store the idempotency key"));
}

/* ---- begin ------------------------------------------------------------------------- */

static tdm_pg_tx_options tx_options(const tdm_store_op *op)
{
    return (tdm_pg_tx_options){
        .tenant_id = op->req.ctx->tenant_id,
        .deadline_ms = op->req.ctx->deadline_ms,
        .read_only = op->read_only,
        .request_id = op->req.ctx->request_id,
    };
}

static void begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    tdm_store_op *op = arg;
    if (st != NULL) {
        tdm_store_op_end(op, st);
        return;
    }
    op->tx = tx;
    /* A read-only operation has no effect to make idempotent. */
    if (op->req.idem != NULL && !op->read_only) {
        if (tdm_idem_begin(tx, op->owner->schema, op->req.idem, idem_claimed, op) != 0)
            tdm_store_op_end(op, not_started("claim the idempotency key"));
        return;
    }
    op->first(op, NULL);
}

void *tdm_store_op_new(size_t size, const tdm_store_req *r, const tdm_store_owner *owner,
                       tdm_store_cb cb, void *arg)
{
    tdm_store_op *op = size >= sizeof(*op) ? tdm_arena_calloc(r->arena, 1, size) : NULL;
    if (op == NULL) {
        cb(arg, tdm_store_oom(), NULL);
        return NULL;
    }
    op->req = *r;
    op->owner = owner;
    op->cb = cb;
    op->arg = arg;
    return op;
}

void tdm_store_op_start(tdm_store_op *op, bool read_only, tdm_store_step first)
{
    op->read_only = read_only;
    op->first = first;
    if (op->req.pool == NULL) {
        tdm_store_op_end(op, tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable"));
        return;
    }
    tdm_pg_tx_options opts = tx_options(op);
    if (tdm_pg_tx_begin(op->req.pool, &opts, begun, op) != 0)
        tdm_store_op_end(op, not_started("begin a transaction"));
}

/* The first step of _start_query and _start_prepared. */
static void first_statement(tdm_store_op *op, PGresult *res)
{
    (void)res;
    if (op->first_prepared)
        tdm_store_op_query_prepared(op, op->first_sql, op->first_n, op->first_values, op->next);
    else
        tdm_store_op_query(op, op->first_sql, op->first_n, op->first_values, op->next);
}

static void start_statement(tdm_store_op *op, bool read_only, bool prepared, const char *sql, int n,
                            const char *const *values, tdm_store_step next)
{
    op->first_sql = sql;
    op->first_n = n;
    op->first_values = values;
    op->first_prepared = prepared;
    op->next = next;
    tdm_store_op_start(op, read_only, first_statement);
}

void tdm_store_op_start_query(tdm_store_op *op, bool read_only, const char *sql, int n,
                              const char *const *values, tdm_store_step next)
{
    start_statement(op, read_only, false, sql, n, values, next);
}

void tdm_store_op_start_prepared(tdm_store_op *op, bool read_only, const char *sql, int n,
                                 const char *const *values, tdm_store_step next)
{
    start_statement(op, read_only, true, sql, n, values, next);
}

void tdm_store_op_read_once(tdm_store_op *op, const char *sql, int n, const char *const *values,
                            tdm_store_step next)
{
    op->read_only = true;
    op->next = next;
    if (op->req.pool == NULL) {
        tdm_store_op_end(op, tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable"));
        return;
    }
    tdm_pg_tx_options opts = tx_options(op);
    opts.implicit_tx = true; /* settings and statement, one round trip, no BEGIN/COMMIT */
    if (tdm_pg_exec_prepared(op->req.pool, &opts, sql, n, values, result, op) != 0)
        tdm_store_op_end(op, not_started("send a query"));
}

/* ---- outbox ------------------------------------------------------------------------ */

static void events_appended(void *arg, tdm_status *st)
{
    tdm_store_op *op = arg;
    if (st != NULL) {
        tdm_store_op_end(op, st);
        return;
    }
    tdm_store_op_emit(op, op->after_events);
}

int tdm_store_op_emit(tdm_store_op *op, tdm_store_step after)
{
    op->after_events = after;
    if (op->events_done >= op->n_events) {
        if (after != NULL)
            after(op, NULL);
        else
            tdm_store_op_commit(op);
        return 0;
    }
    size_t n = op->n_events - op->events_done;
    if (n > TDM_OUTBOX_MAX_EVENTS)
        n = TDM_OUTBOX_MAX_EVENTS;
    tdm_outbox_source src = {
        .schema = op->owner->schema,
        .service = op->owner->service,
        .tenant_id = op->req.ctx->tenant_id,
        .request_id = op->req.ctx->request_id,
    };
    const tdm_outbox_event *first = op->events + op->events_done;
    op->events_done += n;
    if (tdm_outbox_append(op->tx, &src, first, n, events_appended, op) == 0)
        return 0;
    tdm_store_op_end(op, not_started("record the events"));
    return -1;
}

tdm_status *tdm_store_op_add_event(tdm_store_op *op, tdm_outbox_event ev)
{
    if (ev.data_json == NULL)
        return tdm_store_oom();
    if (op->n_events >= op->events_cap) { /* none yet, full, or set by hand */
        size_t cap = op->events_cap > 0 ? 2 * op->events_cap : op->n_events + 4;
        tdm_outbox_event *grown = tdm_arena_calloc(op->req.arena, cap, sizeof(*grown));
        if (grown == NULL)
            return tdm_store_oom();
        if (op->n_events > 0)
            memcpy(grown, op->events, op->n_events * sizeof(*grown));
        op->events = grown;
        op->events_cap = cap;
    }
    op->events[op->n_events++] = ev;
    return NULL;
}

void tdm_store_op_emit_event(tdm_store_op *op, tdm_outbox_event ev, tdm_store_step after)
{
    tdm_status *st = tdm_store_op_add_event(op, ev);
    if (st != NULL) {
        tdm_store_op_end(op, st);
        return;
    }
    tdm_store_op_emit(op, after);
}

bool tdm_store_op_allocated(tdm_store_op *op, const void *p)
{
    if (p != NULL)
        return true;
    tdm_store_op_end(op, tdm_store_oom());
    return false;
}

bool tdm_store_op_params(tdm_store_op *op, const char ***out, int n, ...)
{
    const char **v = tdm_arena_calloc(op->req.arena, (size_t)(n > 0 ? n : 1), sizeof(*v));
    if (!tdm_store_op_allocated(op, v))
        return false;
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        v[i] = va_arg(ap, const char *);
    va_end(ap);
    *out = v;
    return true;
}

bool tdm_store_op_answer_empty(tdm_store_op *op)
{
    Google__Protobuf__Empty *e = tdm_arena_alloc(op->req.arena, sizeof(*e));
    if (!tdm_store_op_allocated(op, e))
        return false;
    google__protobuf__empty__init(e);
    op->response = &e->base;
    return true;
}

/* ---- one row ----------------------------------------------------------------------- */

bool tdm_store_op_found(tdm_store_op *op, const PGresult *res, const char *what)
{
    if (PQntuples(res) == 1)
        return true;
    tdm_store_op_end(op, tdm_status_new(TDM_NOT_FOUND, "%s not found", what));
    return false;
}

bool tdm_store_op_one_row(tdm_store_op *op, const PGresult *res, tdm_code code, const char *message)
{
    if (PQntuples(res) == 1)
        return true;
    tdm_store_op_end(op, tdm_status_new(code, "%s", message));
    return false;
}

bool tdm_store_op_answer_row(tdm_store_op *op, PGresult *res, const char *what,
                             tdm_store_row_fn row, const void *ctx)
{
    if (!tdm_store_op_found(op, res, what))
        return false;
    void *item = NULL;
    tdm_status *st =
        row(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), op->req.arena, ctx, &item);
    if (st != NULL) {
        tdm_store_op_end(op, st);
        return false;
    }
    op->response = item;
    return true;
}

/* ---- lists ------------------------------------------------------------------------- */

static char *seq_token(const PGresult *res, int row, tdm_arena *a)
{
    return tdm_page_token_encode_seq(strtoll(PQgetvalue(res, row, 0), NULL, 10), a);
}

void tdm_store_op_page(tdm_store_op *op, PGresult *res, int page_size, const tdm_store_page *p)
{
    tdm_arena *a = op->req.arena;
    int rows = PQntuples(res);
    int take = rows > page_size ? page_size : rows;
    void **items = tdm_arena_calloc(a, (size_t)(take > 0 ? take : 1), sizeof(*items));
    if (!tdm_store_op_allocated(op, items))
        return;
    for (int i = 0; i < take; i++) {
        tdm_status *st = p->row(PQgetvalue(res, i, p->column),
                                (size_t)PQgetlength(res, i, p->column), a, p->row_ctx, &items[i]);
        if (st != NULL) {
            tdm_store_op_end(op, st);
            return;
        }
    }
    char *next = (char *)"";
    if (rows > page_size && take > 0)
        next = p->token != NULL ? p->token(items[take - 1], res, take - 1, a)
                                : seq_token(res, take - 1, a);
    op->response =
        next != NULL ? tdm_page_message(a, p->desc, p->field, items, (size_t)take, next) : NULL;
    tdm_store_op_end(op, op->response != NULL ? NULL : tdm_store_oom());
}
