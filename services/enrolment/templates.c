/*
 * templates.c - the handlers of programme templates (API.md "Programme templates,
 * benchmarks and usage"): CreateProgrammeTemplate, GetProgrammeTemplate,
 * ListProgrammeTemplates, UpdateProgrammeTemplate (platform keys only) and
 * CreateProgrammeFromTemplate (a tenant's enrolment:write).
 *
 * Why enrolment owns templates: a template is a programme's design, and
 * instantiating one is creating a programme - the programme row, its `template`
 * reference and its survey schedule must commit together, which only the owner of
 * the programmes table can do in one transaction (docs/design.md).
 */
#include "enrolment.h"

#include <string.h>

/* A platform key's call: the admin scope and a platform principal, acting for no
 * tenant (the gateway sends TDM_NIL_TENANT, under which the Idempotency-Keys of
 * templates are kept). PERMISSION_DENIED for anyone else, whatever the gateway let
 * through. */
static tdm_status *platform_req_init(enrol_req *r, enrol_service *svc, tdm_call *call)
{
    tdm_status *st = enrol_req_init(r, svc, call, TDM_SCOPE_ADMIN);
    if (st == NULL && (r->ctx->principal_kind != TDM_PRINCIPAL_PLATFORM ||
                       strcmp(r->ctx->tenant_id, TDM_NIL_TENANT) != 0))
        st = tdm_status_new(TDM_PERMISSION_DENIED, "templates need a platform API key");
    return st;
}

void enrol_handle_create_template(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__CreateProgrammeTemplateRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = platform_req_init(&r, data, call);
    tdm_violations v = {0};
    if (st == NULL && req->template_ == NULL)
        tdm_violations_add(&v, "template", "is required");
    else if (st == NULL)
        enrol_validate_template(req->template_, &v);
    if (st == NULL)
        st = tdm_violations_take(&v, NULL);
    if (st == NULL)
        st = tdm_handler_idempotency(call, "CreateProgrammeTemplate", msg, &r.idem);
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_create_template(&r, req->template_, tdm_handler_reply, call);
}

void enrol_handle_get_template(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetProgrammeTemplateRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = platform_req_init(&r, data, call);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (st == NULL && req->version < 0)
        st = tdm_invalid_field("version", "must be 1 or more (0: the latest)");
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_get_template(&r, req->id, req->version, tdm_handler_reply, call);
}

void enrol_handle_list_templates(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__ListProgrammeTemplatesRequest *req = (const void *)msg;
    enrol_req r;
    int page_size = 0;
    int64_t after = 0;
    tdm_status *st = platform_req_init(&r, data, call);
    if (tdm_handler_fail(
            call, tdm_check_page_seq(st, req->page_size, req->page_token, &page_size, &after)))
        return;
    enrol_store_list_templates(&r, page_size, after, tdm_handler_reply, call);
}

typedef struct template_update {
    const Tandem__V1__UpdateProgrammeTemplateRequest *req;
    char **paths;
    size_t n_paths;
    tdm_arena *arena;
} template_update;

/* Inside the update's transaction: merge the masked fields into the latest version
 * and validate the result, which becomes the next version. */
static tdm_status *apply_template_update(void *arg, const Tandem__V1__ProgrammeTemplate *current,
                                         Tandem__V1__ProgrammeTemplate **next)
{
    template_update *u = arg;
    Tandem__V1__ProgrammeTemplate *t = tdm_arena_memdup(u->arena, current, sizeof(*current));
    if (t == NULL)
        return tdm_store_oom();
    tdm_status *st = enrol_merge_template(t, u->req->template_, u->paths, u->n_paths, u->arena);
    if (st != NULL)
        return st;
    tdm_violations v = {0};
    enrol_validate_template(t, &v);
    if ((st = tdm_violations_take(&v, NULL)) != NULL)
        return st;
    *next = t;
    return NULL;
}

void enrol_handle_update_template(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__UpdateProgrammeTemplateRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = platform_req_init(&r, data, call);
    template_update *u = st == NULL ? tdm_arena_calloc(r.arena, 1, sizeof(*u)) : NULL;
    if (st == NULL && u == NULL)
        st = tdm_store_oom();
    if (st == NULL && req->template_ == NULL)
        st = tdm_invalid_field("template", "is required");
    if (st == NULL)
        st = tdm_check_uuid(req->template_->id, "template.id");
    if (st == NULL)
        st = enrol_mask_paths(req->update_mask, r.arena, &u->paths, &u->n_paths);
    if (tdm_handler_fail(call, st))
        return;
    u->req = req;
    u->arena = r.arena;
    enrol_store_update_template(&r, req->template_->id, apply_template_update, u, tdm_handler_reply,
                                call);
}

/* ---- CreateProgrammeFromTemplate ------------------------------------------------------ */

typedef struct from_template {
    tdm_call *call;
    enrol_req r;
    const Tandem__V1__CreateProgrammeFromTemplateRequest *req;
    char **paths;
    size_t n_paths;
} from_template;

/* The template version is read (versions never change, so reading it before the
 * programme's transaction is as good as inside it); then the programme is made of
 * it and created with its template reference and survey schedule. */
static void template_read(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    from_template *f = arg;
    const Tandem__V1__ProgrammeTemplate *t = (const void *)msg;
    Tandem__V1__Programme *p = NULL;
    Tandem__V1__TemplateRef *ref = NULL;
    char *schedule = NULL;
    if (st == NULL)
        st = enrol_programme_from_template(t, f->req, f->paths, f->n_paths, f->r.arena, &p);
    /* The template's threshold was set by the platform; only an admin key of the
     * tenant may override it, as on CreateProgramme. */
    if (st == NULL)
        st = enrol_check_threshold_change(enrol_req_admin(&f->r), t->anonymity_threshold,
                                          p->anonymity_threshold, "overrides.anonymity_threshold");
    if (st == NULL) {
        ref = tdm_arena_alloc(f->r.arena, sizeof(*ref));
        schedule = enrol_schedule_document(t, f->r.arena);
        if (ref == NULL || schedule == NULL)
            st = tdm_store_oom();
    }
    if (tdm_handler_fail(f->call, st))
        return;
    tandem__v1__template_ref__init(ref);
    ref->id = t->id;
    ref->version = t->version;
    enrol_store_create_programme(&f->r, p, ref, schedule, tdm_handler_reply, f->call);
}

void enrol_handle_create_from_template(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__CreateProgrammeFromTemplateRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_WRITE);
    from_template *f = st == NULL ? tdm_arena_calloc(r.arena, 1, sizeof(*f)) : NULL;
    if (st == NULL && f == NULL)
        st = tdm_store_oom();
    if (st == NULL)
        st = tdm_check_uuid(req->template_id, "template_id");
    if (st == NULL && req->version < 0)
        st = tdm_invalid_field("version", "must be 1 or more (0: the latest)");
    if (st == NULL)
        st = enrol_mask_paths(req->update_mask, r.arena, &f->paths, &f->n_paths);
    if (st == NULL)
        st = tdm_handler_idempotency(call, "CreateProgrammeFromTemplate", msg, &r.idem);
    if (tdm_handler_fail(call, st))
        return;
    f->call = call;
    f->r = r;
    f->req = req;
    enrol_req read = r;
    read.idem = NULL; /* the key is claimed by the create, not by this read */
    enrol_store_get_template(&read, req->template_id, req->version, template_read, f);
}
