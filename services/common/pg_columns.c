/*
 * pg_columns.c - the binary-array column reads of include/tandem/pg_columns.h.
 */
#include "tandem/pg_columns.h"

#include <string.h>

#include "tandem/arena.h"
#include "tandem/check.h"

#define MAX_HEADER 4
#define MAX_ARRAYS 16

typedef struct columns_op {
    tdm_pg_columns c;
    int header_bytes[MAX_HEADER];
    ProtobufCBinaryData *arrays[MAX_ARRAYS];
    tdm_pg_tx_options opts;
    tdm_pg_tx *tx;
    tdm_status *err;
} columns_op;

uint32_t tdm_pg_be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

int64_t tdm_pg_be64(const char *p)
{
    return (int64_t)((uint64_t)tdm_pg_be32(p) << 32 | tdm_pg_be32(p + 4));
}

static void columns_ended(void *arg, tdm_status *st)
{
    columns_op *op = arg;
    if (st != NULL && op->err == NULL)
        op->err = st;
    else if (st != NULL)
        tdm_status_free(st);
    if (op->err != NULL)
        tdm_call_fail(op->c.call, op->err);
    else
        tdm_call_respond(op->c.call, op->c.response);
}

/* Read only: the transaction is rolled back either way, then the call completes. */
static void columns_end(columns_op *op, tdm_status *st)
{
    op->err = st;
    if (op->tx == NULL || tdm_pg_tx_end(op->tx, false, columns_ended, op) != 0)
        columns_ended(op, st == NULL ? tdm_status_new(TDM_INTERNAL, "could not end the "
                                                                    "transaction")
                                     : NULL);
}

static void columns_selected(void *arg, tdm_status *st, PGresult *res)
{
    columns_op *op = arg;
    const tdm_pg_columns *c = &op->c;
    if (st != NULL) {
        columns_end(op, st);
        return;
    }
    bool shaped = PQntuples(res) == 1 && PQnfields(res) == c->n_header + c->n_arrays;
    for (int i = 0; shaped && i < c->n_header; i++)
        shaped = PQgetlength(res, 0, i) == op->header_bytes[i];
    if (!shaped) {
        columns_end(op, tdm_status_new(TDM_INTERNAL, "the %s were not read", c->what));
        return;
    }
    tdm_status *hs = c->header(res, c->header_ctx);
    if (hs != NULL) {
        columns_end(op, hs);
        return;
    }
    tdm_arena *a = tdm_call_arena(c->call);
    for (int i = 0; i < c->n_arrays; i++) {
        ProtobufCBinaryData *dst = op->arrays[i];
        int col = c->n_header + i;
        dst->len = 0;
        dst->data = NULL;
        if (PQgetisnull(res, 0, col))
            continue; /* no rows: empty */
        dst->len = (size_t)PQgetlength(res, 0, col);
        dst->data = tdm_arena_memdup(a, PQgetvalue(res, 0, col), dst->len);
        if (dst->data == NULL) {
            columns_end(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
            return;
        }
    }
    columns_end(op, NULL);
}

static void columns_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    columns_op *op = arg;
    if (st != NULL) {
        columns_end(op, st);
        return;
    }
    op->tx = tx;
    if (tdm_pg_tx_query_params(tx, op->c.sql, op->c.nparams, NULL, op->c.params, NULL, NULL, 1,
                               columns_selected, op) != 0)
        columns_end(op, tdm_status_new(TDM_INTERNAL, "could not send a query"));
}

void tdm_pg_columns_respond(const tdm_pg_columns *c)
{
    if (c->n_header > MAX_HEADER || c->n_arrays > MAX_ARRAYS) {
        tdm_call_fail(c->call, tdm_status_new(TDM_INTERNAL, "too many columns"));
        return;
    }
    columns_op *op = tdm_arena_calloc(tdm_call_arena(c->call), 1, sizeof(*op));
    if (op == NULL) {
        tdm_call_fail(c->call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    op->c = *c;
    memcpy(op->header_bytes, c->header_bytes, (size_t)c->n_header * sizeof(int));
    memcpy(op->arrays, c->arrays, (size_t)c->n_arrays * sizeof(*op->arrays));
    op->opts = (tdm_pg_tx_options){.tenant_id = c->ctx->tenant_id,
                                   .deadline_ms = c->ctx->deadline_ms,
                                   .read_only = true,
                                   .request_id = c->ctx->request_id};
    int rc = tdm_pg_tx_begin(c->pool, &op->opts, columns_begun, op);
    if (rc != 0)
        tdm_call_fail(c->call, tdm_pg_not_started(rc, "begin a transaction"));
}

ProtobufCMessage *tdm_pg_columns_begin(tdm_call *call, tdm_status *st,
                                       const ProtobufCMessageDescriptor *desc,
                                       const char *programme_id, int64_t after, int n_params,
                                       const char ***params)
{
    if (st == NULL && !tdm_uuid_valid(programme_id))
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid programme_id"),
                                      "programme_id", "must be a UUID");
    if (st == NULL && after < 0)
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid after"),
                                      "after", "must not be negative");
    if (st != NULL) {
        tdm_call_fail(call, st);
        return NULL;
    }
    tdm_arena *a = tdm_call_arena(call);
    ProtobufCMessage *out = tdm_arena_alloc(a, desc->sizeof_message);
    *params = tdm_arena_calloc(a, (size_t)n_params, sizeof(**params));
    const char *after_text = tdm_arena_printf(a, "%lld", (long long)after);
    if (out == NULL || *params == NULL || after_text == NULL) {
        tdm_call_fail(call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return NULL;
    }
    protobuf_c_message_init(desc, out);
    (*params)[0] = programme_id;
    (*params)[1] = after_text;
    return out;
}
