/*
 * directory.c - one function per DirectoryService RPC (the people directory behind
 * the gateway's SCIM front): scope `scim`, field checks, store, reply. The SQL and
 * what a change does to participants are in directory_store.c.
 */
#include "enrolment.h"

#include <string.h>

static tdm_status *check_person(const Tandem__Internal__V1__Person *p, bool with_id)
{
    tdm_violations v = {0};
    if (p == NULL) {
        tdm_violations_add(&v, "person", "is required");
        return tdm_violations_take(&v, NULL);
    }
    if (with_id) {
        tdm_status *st = tdm_check_uuid(p->id, "person.id");
        if (st != NULL)
            return st;
    }
    enrol_validate_person(p, "person", &v);
    return tdm_violations_take(&v, NULL);
}

static tdm_status *check_version(int64_t v)
{
    if (v < 0)
        return tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid if_version"),
                                        "if_version", "must not be negative");
    return NULL;
}

static void handle_create_person(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__CreatePersonRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_SCIM);
    if (st == NULL)
        st = check_person(req->person, false);
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_create_person(&r, req->person, tdm_handler_reply, call);
}

static void handle_get_person(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__GetPersonRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_SCIM);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_get_person(&r, req->id, tdm_handler_reply, call);
}

static void handle_list_people(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ListPeopleRequest *req = (const void *)msg;
    enrol_req r;
    int page_size = 0;
    int64_t after = 0;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_SCIM);
    if (tdm_handler_fail(
            call, tdm_check_page_seq(st, req->page_size, req->page_token, &page_size, &after)))
        return;
    enrol_store_list_people(&r, req, page_size, after, tdm_handler_reply, call);
}

static void handle_replace_person(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ReplacePersonRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_SCIM);
    if (st == NULL)
        st = check_person(req->person, true);
    if (st == NULL)
        st = check_version(req->if_version);
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_replace_person(&r, req->person, req->if_version, tdm_handler_reply, call);
}

static void handle_delete_person(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__DeletePersonRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_SCIM);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (st == NULL)
        st = check_version(req->if_version);
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_delete_person(&r, req->id, req->if_version, tdm_handler_reply, call);
}

static const tdm_rpc_method_def directory_methods[] = {
    {"CreatePerson", handle_create_person, 0}, {"GetPerson", handle_get_person, 0},
    {"ListPeople", handle_list_people, 0},     {"ReplacePerson", handle_replace_person, 0},
    {"DeletePerson", handle_delete_person, 0},
};

tdm_status *enrol_directory_register(tdm_runtime *rt, enrol_service *svc)
{
    static tdm_rpc_service_def def = {
        .descriptor = &tandem__internal__v1__directory_service__descriptor,
        .methods = directory_methods,
        .n_methods = sizeof(directory_methods) / sizeof(directory_methods[0]),
        .require_context = true,
    };
    def.service_data = svc;
    return tdm_server_add_service(tdm_runtime_server(rt), &def);
}
