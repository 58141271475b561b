/*
 * benchmarks.c - GetTemplateBenchmark (platform keys) and GetProgrammeBenchmark (a
 * tenant's enrolment:read): the figures the benchmark job stored (benchmark_job.c),
 * read as they are - nothing is computed on the request (docs/benchmarks.md).
 *
 * A template's benchmark carries figures only when published (at least
 * ENROL_BENCH_MIN_TENANTS tenants); a programme's answer holds the calling tenant's
 * own programme (row-level security and the tenant's WHERE: another tenant's
 * programme is NOT_FOUND) beside that benchmark, never another tenant's figures.
 */
#include "benchmarks.h"

#include <string.h>

void enrol_handle_get_template_benchmark(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetTemplateBenchmarkRequest *req = (const void *)msg;
    enrol_req r;
    /* Like the templates: a platform key acting for no tenant (the gateway sends
     * TDM_NIL_TENANT), whatever the gateway let through. */
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ADMIN);
    if (st == NULL && (r.ctx->principal_kind != TDM_PRINCIPAL_PLATFORM ||
                       strcmp(r.ctx->tenant_id, TDM_NIL_TENANT) != 0))
        st = tdm_status_new(TDM_PERMISSION_DENIED, "template benchmarks need a platform API key");
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_get_template_benchmark(&r, req->id, tdm_handler_reply, call);
}

void enrol_handle_get_programme_benchmark(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__V1__GetProgrammeBenchmarkRequest *req = (const void *)msg;
    enrol_req r;
    tdm_status *st = enrol_req_init(&r, data, call, TDM_SCOPE_ENROLMENT_READ);
    if (st == NULL)
        st = tdm_check_uuid(req->id, "id");
    if (tdm_handler_fail(call, st))
        return;
    enrol_store_get_programme_benchmark(&r, req->id, tdm_handler_reply, call);
}
