/*
 * persondata.c - tandem.internal.v1.PersonDataService on feedback: the enrolment
 * service's ExportPerson and ErasePerson ask here for the check-ins and survey
 * responses of a person's participant ids. Export includes notes (it goes to the
 * person, a side of each match); erasure anonymises in one transaction so that
 * every aggregate stays the same while nothing links the rows to the person.
 * Both need the admin scope, as the public calls that lead here do.
 */
#include "feedback.h"

static void reply(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    tdm_call *call = arg;
    if (st != NULL)
        tdm_call_fail(call, st);
    else
        tdm_call_respond(call, msg);
}

static tdm_status *check_ids(char **ids, size_t n)
{
    if (n == 0 || n > FB_MAX_ERASE_IDS)
        return tdm_status_add_violation(
            tdm_status_new(TDM_INVALID_ARGUMENT, "invalid participant_ids"), "participant_ids",
            "must have 1 to %u ids", FB_MAX_ERASE_IDS);
    for (size_t i = 0; i < n; i++) {
        if (!fb_uuid_valid(ids[i]))
            return tdm_status_add_violation(
                tdm_status_new(TDM_INVALID_ARGUMENT, "invalid participant_ids"), "participant_ids",
                "item %zu is not a UUID", i);
    }
    return NULL;
}

static void handle_export(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ExportParticipantsRequest *req = (const void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_ADMIN);
    if (st == NULL)
        st = check_ids(req->participant_ids, req->n_participant_ids);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    fb_store_export(&r, req->participant_ids, req->n_participant_ids, reply, call);
}

static void handle_erase(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__EraseParticipantsRequest *req = (const void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_ADMIN);
    if (st == NULL)
        st = check_ids(req->participant_ids, req->n_participant_ids);
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    fb_store_erase(&r, req->participant_ids, req->n_participant_ids, reply, call);
}

static const tdm_rpc_method_def persondata_methods[] = {
    {"ExportParticipants", handle_export, 0},
    {"EraseParticipants", handle_erase, 0},
};

tdm_status *fb_register_persondata(tdm_runtime *rt, fb_service *svc)
{
    static tdm_rpc_service_def def = {
        .descriptor = &tandem__internal__v1__person_data_service__descriptor,
        .methods = persondata_methods,
        .n_methods = sizeof(persondata_methods) / sizeof(persondata_methods[0]),
        .require_context = true,
    };
    def.service_data = svc;
    return tdm_server_add_service(tdm_runtime_server(rt), &def);
}
