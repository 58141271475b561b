/*
 * store_op.c - what matching's store files share on top of the runtime's store
 * operation (tandem/store.h): parameters, row documents, pages and events.
 */
#include "store_op.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tdm_store_owner MT_STORE_OWNER = {.schema = MT_SCHEMA, .service = MT_SERVICE};

store_op *op_new(const mt_req *r, mt_store_cb cb, void *arg)
{
    return tdm_store_op_new(sizeof(store_op), r, &MT_STORE_OWNER, cb, arg);
}

const char *op_int(tdm_arena *a, int64_t v)
{
    return tdm_arena_printf(a, "%lld", (long long)v);
}

const char *op_uuid_array(store_op *op, char **ids, size_t n)
{
    const char *arr = tdm_pg_uuid_array((const char *const *)ids, n, op->base.req.arena);
    if (arr == NULL)
        tdm_store_op_end(&op->base, tdm_store_oom());
    return arr;
}

const char *op_lower(tdm_arena *a, const char *s)
{
    char *out = tdm_arena_strdup(a, s != NULL ? s : "");
    for (char *p = out; p != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return out != NULL ? out : "";
}

tdm_status *op_json_row(const char *doc, size_t len, tdm_arena *a, const void *ctx, void **out)
{
    const ProtobufCMessageDescriptor *d = ctx;
    *out = mt_from_json(d, doc, len, a);
    if (*out != NULL)
        return NULL;
    return tdm_status_set_detail(
        tdm_status_new(TDM_INTERNAL, "a stored %s could not be read", d->short_name),
        "row document: %.200s", doc);
}

ProtobufCMessage *op_row(store_op *op, PGresult *res, int row, int col,
                         const ProtobufCMessageDescriptor *d)
{
    void *m = NULL;
    tdm_status *st = op_json_row(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col),
                                 op->base.req.arena, d, &m);
    if (st != NULL)
        tdm_store_op_end(&op->base, st);
    return m;
}

void op_page(store_op *op, PGresult *res, const ProtobufCMessageDescriptor *list, const char *field,
             const ProtobufCMessageDescriptor *item)
{
    const tdm_store_page page = {
        .desc = list, .field = field, .column = 1, .row = op_json_row, .row_ctx = item};
    tdm_store_op_page(&op->base, res, op->page_size, &page);
}

int op_event(store_op *op, const char *type, const char *resource_id, const char *data,
             tdm_store_step next)
{
    tdm_status *st = tdm_store_op_add_event(
        &op->base, (tdm_outbox_event){.type = type, .resource_id = resource_id, .data_json = data});
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return -1;
    }
    tdm_store_op_emit(&op->base, next);
    return 0;
}

int op_match_events(store_op *op, PGresult *res, const char *type, tdm_store_step next)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        ProtobufCMessage *m = op_row(op, res, i, 0, &tandem__v1__match__descriptor);
        if (m == NULL)
            return -1;
        tdm_status *st = tdm_store_op_add_event(
            &op->base, (tdm_outbox_event){
                           .type = type,
                           .resource_id = ((Tandem__V1__Match *)m)->id,
                           .data_json = mt_event_json("match", m, op->base.req.arena),
                       });
        if (st != NULL) {
            tdm_store_op_end(&op->base, st);
            return -1;
        }
    }
    tdm_store_op_emit(&op->base, next);
    return 0;
}
