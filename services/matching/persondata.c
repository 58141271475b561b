/*
 * persondata.c - tandem.internal.v1.PersonDataService on matching: the export and
 * erasure of what matching holds on given participants (proposals, matches, pins,
 * exclusions), asked by enrolment's ExportPerson / ErasePerson with the caller's
 * request context (scope admin). Ids the tenant does not hold are simply absent
 * from the answer (row-level security), as the service's contract says.
 */
#include "matching.h"

static void reply(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    tdm_call *call = arg;
    if (st != NULL)
        tdm_call_fail(call, st);
    else
        tdm_call_respond(call, msg);
}

/* The ids, 1..MT_MAX_PERSON_IDS UUIDs, else INVALID_ARGUMENT naming the field. */
static tdm_status *check_ids(char **ids, size_t n)
{
    if (n == 0 || n > MT_MAX_PERSON_IDS)
        return tdm_status_add_violation(
            tdm_status_new(TDM_INVALID_ARGUMENT, "invalid participant_ids"), "participant_ids",
            "must hold 1 to %u ids", MT_MAX_PERSON_IDS);
    for (size_t i = 0; i < n; i++) {
        if (!mt_uuid_valid(ids[i])) {
            tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "invalid participant_ids");
            return tdm_status_add_violation(st, "participant_ids", "item %zu is not a UUID", i);
        }
    }
    return NULL;
}

static void handle_export(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ExportParticipantsRequest *q = (const void *)msg;
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_ADMIN);
    if (st == NULL)
        st = check_ids(q->participant_ids, q->n_participant_ids);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    mt_store_export(&r, q->participant_ids, q->n_participant_ids, reply, call);
}

static void handle_erase(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__EraseParticipantsRequest *q = (const void *)msg;
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_ADMIN);
    if (st == NULL)
        st = check_ids(q->participant_ids, q->n_participant_ids);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    mt_store_erase(&r, q->participant_ids, q->n_participant_ids, reply, call);
}

static const tdm_rpc_method_def person_methods[] = {
    {"ExportParticipants", handle_export, 0},
    {"EraseParticipants", handle_erase, 0},
};

tdm_status *mt_person_data_register(tdm_runtime *rt, mt_service *svc)
{
    static tdm_rpc_service_def def = {
        .descriptor = &tandem__internal__v1__person_data_service__descriptor,
        .methods = person_methods,
        .n_methods = sizeof(person_methods) / sizeof(person_methods[0]),
        .require_context = true,
    };
    (void)rt;
    def.service_data = svc;
    return tdm_server_add_service(tdm_runtime_server(rt), &def);
}
