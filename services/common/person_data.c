/*
 * person_data.c - tandem.internal.v1.PersonDataService for every service that holds
 * data about participants (see tandem/person_data.h): scope, ids, the service's
 * store call, reply.
 */
#include "tandem/person_data.h"

#include <stdlib.h>
#include <string.h>

#include "tandem/check.h"
#include "tandem/handler.h"
#include "tandem/internal/v1/erasure.pb-c.h"

/* 1..TDM_PERSON_DATA_MAX_IDS UUIDs, else INVALID_ARGUMENT naming the field. */
static tdm_status *check_ids(char **ids, size_t n)
{
    if (n == 0 || n > TDM_PERSON_DATA_MAX_IDS)
        return tdm_invalid_field("participant_ids", "must have 1 to %u ids",
                                 TDM_PERSON_DATA_MAX_IDS);
    for (size_t i = 0; i < n; i++) {
        if (!tdm_uuid_valid(ids[i]))
            return tdm_invalid_field("participant_ids", "item %zu is not a UUID", i);
    }
    return NULL;
}

/* The store call fn over the request's ids. */
static void serve(tdm_call *call, tdm_person_data_service *svc, tdm_person_data_fn fn, char **ids,
                  size_t n)
{
    tdm_store_req r;
    tdm_status *st = tdm_handler_init(&r, svc->rt, call, TDM_SCOPE_ADMIN);
    if (st == NULL)
        st = check_ids(ids, n);
    if (tdm_handler_fail(call, st))
        return;
    fn(&r, ids, n, tdm_handler_reply, call);
}

static void handle_export(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ExportParticipantsRequest *q = (const void *)msg;
    tdm_person_data_service *svc = data;
    serve(call, svc, svc->export_participants, q->participant_ids, q->n_participant_ids);
}

static void handle_erase(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__EraseParticipantsRequest *q = (const void *)msg;
    tdm_person_data_service *svc = data;
    serve(call, svc, svc->erase_participants, q->participant_ids, q->n_participant_ids);
}

Tandem__Internal__V1__ExportParticipantsResponse *tdm_person_data_export_new(tdm_store_op *op)
{
    Tandem__Internal__V1__ExportParticipantsResponse *out =
        tdm_arena_alloc(op->req.arena, sizeof(*out));
    if (out == NULL) {
        tdm_store_op_end(op, tdm_store_oom());
        return NULL;
    }
    tandem__internal__v1__export_participants_response__init(out);
    return out;
}

/* The kind of row i: its index in kinds, or -1 when it names none. */
static int row_kind(const PGresult *res, int i, int kind_column, size_t n_kinds)
{
    if (kind_column < 0)
        return 0;
    long k = strtol(PQgetvalue(res, i, kind_column), NULL, 10);
    return k >= 0 && (size_t)k < n_kinds ? (int)k : -1;
}

/* Room for `more` items after the n already in the repeated field f of m (the array
 * is copied: the arena does not grow an allocation); false when out of memory. */
static bool field_grow(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t more,
                       tdm_arena *a)
{
    size_t n = *(size_t *)((char *)m + f->quantifier_offset);
    void ***items = (void ***)((char *)m + f->offset);
    void **grown = tdm_arena_calloc(a, n + more + 1, sizeof(*grown));
    if (grown == NULL)
        return false;
    if (n > 0)
        memcpy(grown, *items, n * sizeof(*grown));
    *items = grown;
    return true;
}

bool tdm_person_data_export_rows(tdm_store_op *op, const PGresult *res, int kind_column,
                                 int doc_column, const tdm_person_data_items *kinds, size_t n_kinds)
{
    tdm_arena *a = op->req.arena;
    if (op->response == NULL) {
        Tandem__Internal__V1__ExportParticipantsResponse *out = tdm_person_data_export_new(op);
        if (out == NULL)
            return false;
        op->response = &out->base;
    }
    ProtobufCMessage *m = op->response;
    int n = PQntuples(res);
    const ProtobufCFieldDescriptor **fields = tdm_arena_calloc(a, n_kinds + 1, sizeof(*fields));
    size_t *counts = tdm_arena_calloc(a, n_kinds + 1, sizeof(*counts));
    if (!tdm_store_op_allocated(op, fields) || !tdm_store_op_allocated(op, counts))
        return false;
    for (size_t k = 0; k < n_kinds; k++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, kinds[k].field);
        /* A programmer error: the service named a field the response lacks. */
        if (f == NULL || f->label != PROTOBUF_C_LABEL_REPEATED ||
            f->type != PROTOBUF_C_TYPE_MESSAGE) {
            tdm_store_op_end(op, tdm_status_new(TDM_INTERNAL, "no items named %s", kinds[k].field));
            return false;
        }
        fields[k] = f;
    }
    for (int i = 0; i < n; i++) {
        int k = row_kind(res, i, kind_column, n_kinds);
        if (k < 0) {
            tdm_store_op_end(op, tdm_status_new(TDM_INTERNAL, "unexpected export row kind"));
            return false;
        }
        counts[k]++;
    }
    for (size_t k = 0; k < n_kinds; k++) {
        if (counts[k] > 0 && !field_grow(m, fields[k], counts[k], a)) {
            tdm_store_op_end(op, tdm_store_oom());
            return false;
        }
    }
    for (int i = 0; i < n; i++) {
        int k = row_kind(res, i, kind_column, n_kinds);
        void *item = NULL;
        tdm_status *st =
            kinds[k].row(PQgetvalue(res, i, doc_column), (size_t)PQgetlength(res, i, doc_column), a,
                         kinds[k].row_ctx, &item);
        if (st != NULL) {
            tdm_store_op_end(op, st);
            return false;
        }
        size_t *count = (size_t *)((char *)m + fields[k]->quantifier_offset);
        void **items = *(void ***)((char *)m + fields[k]->offset);
        items[(*count)++] = item;
    }
    return true;
}

void tdm_person_data_erased(tdm_store_op *op, PGresult *res, const char *const *fields,
                            size_t n_fields)
{
    tdm_arena *a = op->req.arena;
    Tandem__Internal__V1__EraseParticipantsResponse *out = tdm_arena_alloc(a, sizeof(*out));
    Tandem__V1__ErasureCounts *counts = tdm_arena_alloc(a, sizeof(*counts));
    if (out == NULL || counts == NULL) {
        tdm_store_op_end(op, tdm_store_oom());
        return;
    }
    tandem__internal__v1__erase_participants_response__init(out);
    tandem__v1__erasure_counts__init(counts);
    if (PQntuples(res) != 1 || PQnfields(res) < (int)n_fields) {
        tdm_store_op_end(op, tdm_status_new(TDM_INTERNAL, "unexpected erasure result"));
        return;
    }
    for (size_t i = 0; i < n_fields; i++) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            &tandem__v1__erasure_counts__descriptor, fields[i]);
        /* A programmer error: the service named a field ErasureCounts lacks. */
        if (f == NULL || f->type != PROTOBUF_C_TYPE_INT32) {
            tdm_store_op_end(op, tdm_status_new(TDM_INTERNAL, "no count named %s", fields[i]));
            return;
        }
        *(int32_t *)((char *)counts + f->offset) = atoi(PQgetvalue(res, 0, (int)i));
    }
    out->counts = counts;
    op->response = &out->base;
    tdm_store_op_end(op, NULL);
}

static const tdm_rpc_method_def PERSON_DATA_METHODS[] = {
    {"ExportParticipants", handle_export, 0},
    {"EraseParticipants", handle_erase, 0},
};

tdm_status *tdm_person_data_register(tdm_person_data_service *svc)
{
    return TDM_RUNTIME_SERVE(svc->rt, &tandem__internal__v1__person_data_service__descriptor,
                             PERSON_DATA_METHODS, svc);
}
