/*
 * store.h - the store operation: one transaction of a service's store, from its
 * begin to its one callback, written once for every service.
 *
 *   begin (the call's tenant, deadline and request id)
 *     -> [claim the Idempotency-Key: NEW goes on, REPLAY answers the stored
 *         response, CONFLICT fails ABORTED]
 *     -> the operation's steps, one statement each
 *     -> [append op->events to the service's outbox]
 *     -> [store the response for replays] -> COMMIT, or ROLLBACK on any status
 *     -> cb(arg, status, response)
 *
 * A service's operation struct embeds a tdm_store_op as its FIRST member, the way
 * libuv embeds its request fields in every request, so a step receives the
 * tdm_store_op and casts it back to the service's struct:
 *
 *     typedef struct list_op { tdm_store_op base; int page_size; } list_op;
 *
 *     static void listed(tdm_store_op *base, PGresult *res)
 *     {
 *         list_op *op = (list_op *)base;
 *         ... op->base.response = &page->base; tdm_store_op_end(base, NULL);
 *     }
 *
 *     list_op *op = tdm_store_op_new(sizeof(*op), r, &FB_STORE_OWNER, cb, arg);
 *     if (op == NULL) return;                 (cb has had RESOURCE_EXHAUSTED)
 *     tdm_store_op_start(&op->base, true, select_step);
 *
 * Contract: an operation completes exactly once through cb, after its transaction
 * (if one was begun) has ended - from inside tdm_store_op_new (out of memory) or
 * tdm_store_op_start (the transaction could not be begun) when it cannot start,
 * so a caller does nothing with the operation after handing it over. Every step
 * either sends one statement (tdm_store_op_query*) or ends the operation
 * (tdm_store_op_end, _commit, _emit).
 * Everything lives in the call's arena; the status passed to cb belongs to cb.
 *
 * Error mapping, in this one place:
 *   - a statement's SQLSTATE becomes a status in the pool (tdm_pg_status_from_result);
 *     ALREADY_EXISTS takes the operation's conflict_message (and conflict_field's
 *     violation) when it sets them, keeping the operator detail;
 *   - a database operation that fails to START (the pool, outbox or idempotency call
 *     returns non-zero: a programmer error or out of memory) is INTERNAL, never
 *     UNAVAILABLE; an unreachable database or an expired deadline reaches the
 *     operation from the pool with the pool's own status (UNAVAILABLE,
 *     DEADLINE_EXCEEDED);
 *   - out of memory while building the operation is RESOURCE_EXHAUSTED
 *     (tdm_store_oom).
 */
#ifndef TANDEM_STORE_H
#define TANDEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/idempotency.h"
#include "tandem/outbox.h"
#include "tandem/pg.h"
#include "tandem/server.h"
#include "tandem/status.h"

/* What a store call needs of the call it serves. */
typedef struct tdm_store_req {
    tdm_pg_pool *pool;
    tdm_arena *arena;            /* the call's arena: the operation lives in it */
    const tdm_call_context *ctx; /* tenant, deadline, request id */
    const tdm_idem_key *idem;    /* NULL: no Idempotency-Key */
} tdm_store_req;

/* The service a store operation belongs to: its schema holds the idempotency_keys
 * and outbox tables; service names the outbox's source ("enrolment"). */
typedef struct tdm_store_owner {
    const char *schema;
    const char *service;
} tdm_store_owner;

typedef struct tdm_store_op tdm_store_op;
/* One step: res is the result of the statement the previous step sent (NULL for
 * the first step and after events are appended). */
typedef void (*tdm_store_step)(tdm_store_op *op, PGresult *res);
/* The operation's one completion: (NULL, response) or (status, NULL). */
typedef void (*tdm_store_cb)(void *arg, tdm_status *st, ProtobufCMessage *msg);

struct tdm_store_op {
    /* Set by tdm_store_op_new. */
    tdm_store_req req;
    const tdm_store_owner *owner;
    tdm_store_cb cb;
    void *arg;

    /* Set by the operation. */
    const ProtobufCMessageDescriptor *response_desc; /* keyed calls: decodes a replay */
    ProtobufCMessage *response;                      /* the answer, once known */
    const char *conflict_message;                    /* replaces ALREADY_EXISTS' message */
    const char *conflict_field;                      /* and adds this field's violation */
    const char *conflict_description;
    tdm_outbox_event *events; /* appended by tdm_store_op_emit; add with _add_event */
    size_t n_events;
    bool read_only; /* set by _start; a step that wrote nothing may set it, so the
                       transaction ends without a commit */

    /* Private to store.c. */
    tdm_pg_tx *tx;
    tdm_store_step next, first, after_events;
    const char *first_sql; /* the first statement of _start_query/_start_prepared */
    const char *const *first_values;
    int first_n;
    bool first_prepared;
    tdm_status *err;
    size_t events_done;
    size_t events_cap; /* room in events when tdm_store_op_add_event allocated it */
};

/* RESOURCE_EXHAUSTED "out of memory": the status of an allocation that failed. */
tdm_status *tdm_store_oom(void);

/* Whether an allocation succeeded: when p is NULL, ends op with RESOURCE_EXHAUSTED
 * (tdm_store_oom) and returns false; the step then returns. */
bool tdm_store_op_allocated(tdm_store_op *op, const void *p);

/* The operation's text parameters: the n values that follow (NULL is SQL NULL) in a
 * new array in the call's arena, set in *out. False after ending op with
 * RESOURCE_EXHAUSTED (tdm_store_op_allocated) when there was no room: the caller
 * then returns.
 *
 *     if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 2, id, reason))
 *         return;
 */
bool tdm_store_op_params(tdm_store_op *op, const char ***out, int n, ...);

/* A zeroed operation of `size` bytes (a struct whose first member is a
 * tdm_store_op) in r->arena, for r and owner (which must outlive it). NULL when out
 * of memory, after calling cb(arg, RESOURCE_EXHAUSTED, NULL). */
void *tdm_store_op_new(size_t size, const tdm_store_req *r, const tdm_store_owner *owner,
                       tdm_store_cb cb, void *arg);

/* Begin the transaction (read-only ones commit nothing), claim the Idempotency-Key
 * when r->idem is set (a write), then run first(op, NULL). */
void tdm_store_op_start(tdm_store_op *op, bool read_only, tdm_store_step first);

/* The same, when the first step is one statement: begin (and claim the key), then
 * send sql with values (n of them; the caller keeps sql and values alive until the
 * operation ends) and run next with its result - the statement a first step would
 * only send. _prepared sends it through the connection's prepared-statement cache. */
void tdm_store_op_start_query(tdm_store_op *op, bool read_only, const char *sql, int n,
                              const char *const *values, tdm_store_step next);
void tdm_store_op_start_prepared(tdm_store_op *op, bool read_only, const char *sql, int n,
                                 const char *const *values, tdm_store_step next);

/* A read of one prepared statement in its own read-only transaction, sent as one
 * round trip (tdm_pg_exec_prepared), instead of tdm_store_op_start: next decodes
 * the result and ends the operation, which then has no transaction to end. */
void tdm_store_op_read_once(tdm_store_op *op, const char *sql, int n, const char *const *values,
                            tdm_store_step next);

/* One statement in the operation's transaction; next gets its result. On a server
 * error the operation ends with the mapped status instead. */
void tdm_store_op_query(tdm_store_op *op, const char *sql, int n, const char *const *values,
                        tdm_store_step next);
/* The same through the connection's prepared-statement cache (SQL fixed in code). */
void tdm_store_op_query_prepared(tdm_store_op *op, const char *sql, int n,
                                 const char *const *values, tdm_store_step next);
/* The same with explicit parameter types, lengths and formats (1 = binary). The
 * parameters are copied before it returns. 0 when the statement is on its way (next
 * will run, or the operation end with the server's error); -1 when the operation
 * has already ended (the transaction was not open): op must not be touched again.
 * A caller may go on working while the statement runs, e.g. preparing the next one
 * (enrolment's chunked BatchEnrol), but may not end the operation until next runs. */
int tdm_store_op_query_params(tdm_store_op *op, const char *sql, int n, const Oid *types,
                              const char *const *values, const int *lengths, const int *formats,
                              tdm_store_step next);
/* The same through the connection's prepared-statement cache (SQL fixed in code, and
 * the same types with every call: tdm_pg_tx_query_params_prepared). */
void tdm_store_op_query_params_prepared(tdm_store_op *op, const char *sql, int n, const Oid *types,
                                        const char *const *values, const int *lengths,
                                        const int *formats, tdm_store_step next);

/* The answer of a call that answers google.protobuf.Empty (a delete): a new Empty as
 * op->response. False after ending op with RESOURCE_EXHAUSTED. */
bool tdm_store_op_answer_empty(tdm_store_op *op);

/* ---- one row ---------------------------------------------------------------------- */

/* Whether the statement answered exactly one row. When it did not, ends op with
 * NOT_FOUND "<what> not found" (the resource is not in the caller's tenant) and
 * returns false: the step then returns. */
bool tdm_store_op_found(tdm_store_op *op, const PGresult *res, const char *what);
/* The same with another code and message (e.g. ABORTED "the claim was lost" when a
 * fenced write matched no row). */
bool tdm_store_op_one_row(tdm_store_op *op, const PGresult *res, tdm_code code,
                          const char *message);

/* ---- lists ---------------------------------------------------------------------- */

/* One row's document (column `column` of res) as a list item: *out, or a status. */
typedef tdm_status *(*tdm_store_row_fn)(const char *doc, size_t len, tdm_arena *a, const void *ctx,
                                        void **out);
/* The next_page_token that follows the last row shown (its item and row index). */
typedef char *(*tdm_store_token_fn)(const void *item, const PGresult *res, int row, tdm_arena *a);

/* How a list's answer is made from the rows of its statement. */
typedef struct tdm_store_page {
    const ProtobufCMessageDescriptor *desc; /* the List...Response message */
    const char *field;                      /* its repeated field of items */
    int column;                             /* the column of each row's document */
    tdm_store_row_fn row;
    const void *row_ctx;      /* given to row */
    tdm_store_token_fn token; /* NULL: a seq token of column 0 (tdm_page_token_encode_seq) */
} tdm_store_page;

/* The answer of a list whose statement asked for page_size + 1 rows: a new p->desc
 * message as op->response, its p->field holding the first page_size rows, its
 * next_page_token set when the statement found one row more; then
 * tdm_store_op_end. A row that does not decode ends the op with row's status. */
void tdm_store_op_page(tdm_store_op *op, PGresult *res, int page_size, const tdm_store_page *p);

/* The answer of a call that reads or writes one resource: the statement's one row,
 * its document in column 0 decoded by row (with ctx) as op->response. False after
 * ending op: NOT_FOUND "<what> not found" when there is no row (tdm_store_op_found),
 * or row's status. The step then ends the operation its own way (_end, _commit). */
bool tdm_store_op_answer_row(tdm_store_op *op, PGresult *res, const char *what,
                             tdm_store_row_fn row, const void *ctx);

/* A write of many statements may work while one runs (tdm_store_op_query_params and
 * tdm_store_op_emit say whether it went out), but may not end the operation before
 * that statement answers. Work that failed meanwhile keeps its status here (the first
 * kept wins; takes st, NULL is nothing); the next step asks tdm_store_op_go_on. */
void tdm_store_op_fail_later(tdm_store_op *op, tdm_status *st);
/* At the start of a step of such a write: false after ending the operation (rolled
 * back) with the status kept by tdm_store_op_fail_later, or with DEADLINE_EXCEEDED
 * "the deadline passed before the write was done" when the call's deadline has passed
 * - each statement's timeout is the deadline left at BEGIN, so a write of many
 * statements stops here rather than commit for a caller already told it failed. The
 * step then returns. */
bool tdm_store_op_go_on(tdm_store_op *op);
/* End: roll back when st (or an earlier status) is set, else commit (or, read-only,
 * just end); then complete with op->response or the status. Takes st. */
void tdm_store_op_end(tdm_store_op *op, tdm_status *st);
/* A last step that only ends the operation well: the statement's result is not
 * needed (tdm_store_op_end(op, NULL)). */
void tdm_store_op_done(tdm_store_op *op, PGresult *res);
/* The effect is done: store op->response for replays when the call is keyed, then
 * commit and complete. */
void tdm_store_op_commit(tdm_store_op *op);
/* Append op->events not yet appended (any number, in statements of at most
 * TDM_OUTBOX_MAX_EVENTS) to the owner's outbox, then run after(op, NULL) - or, when
 * after is NULL, tdm_store_op_commit. With events to append: 0 when the first
 * statement is on its way (the caller may work on, as after
 * tdm_store_op_query_params, until after runs), -1 when the operation has ended.
 * With none, after (or the commit) runs before this returns 0, and op may be gone. */
int tdm_store_op_emit(tdm_store_op *op, tdm_store_step after);

/* ---- events ---------------------------------------------------------------------- */

/* Add ev to op->events (kept in order, grown in the call's arena; events set there by
 * hand stay first), for tdm_store_op_emit to append. NULL, or RESOURCE_EXHAUSTED when
 * out of memory - also when ev.data_json is NULL, which is how an event body that
 * could not be encoded arrives - and then op->events is unchanged. */
tdm_status *tdm_store_op_add_event(tdm_store_op *op, tdm_outbox_event ev);
/* The tail of a write with one event: tdm_store_op_add_event, then
 * tdm_store_op_emit(op, after); or, out of memory, tdm_store_op_end with the status. */
void tdm_store_op_emit_event(tdm_store_op *op, tdm_outbox_event ev, tdm_store_step after);

#endif
