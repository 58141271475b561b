/*
 * person_data.c - tandem.internal.v1.PersonDataService for every service that holds
 * data about participants (see tandem/person_data.h): scope, ids, the service's
 * store call, reply.
 */
#include "tandem/person_data.h"

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

static const tdm_rpc_method_def PERSON_DATA_METHODS[] = {
    {"ExportParticipants", handle_export, 0},
    {"EraseParticipants", handle_erase, 0},
};

tdm_status *tdm_person_data_register(tdm_person_data_service *svc)
{
    static tdm_rpc_service_def def = {
        .descriptor = &tandem__internal__v1__person_data_service__descriptor,
        .methods = PERSON_DATA_METHODS,
        .n_methods = sizeof(PERSON_DATA_METHODS) / sizeof(PERSON_DATA_METHODS[0]),
        .require_context = true,
    };
    def.service_data = svc;
    return tdm_server_add_service(tdm_runtime_server(svc->rt), &def);
}
