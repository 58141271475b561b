/*
 * local_door.c - the gRPC door of the services the gateway implements itself
 * (TenantService in tenants.c, WebhookService in webhook.c): authenticate the call
 * with the method's rule, then run the same function the REST door runs, and
 * complete the call with its access log line; and the registration of such a
 * service.
 */
#include <string.h>

#include "gateway.h"

typedef struct local_call {
    gw_state *gw;
    tdm_call *call;
    gw_local_fn fn;
    uint64_t start_ms;
    const gw_principal *principal;
    const char *method;
    const ProtobufCMessage *request;
    const char *request_id;
    const char *idem_key;
    uint64_t deadline_ms;
} local_call;

static void local_done(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    local_call *g = arg;
    gw_grpc_complete(g->call, g->start_ms, g->request_id, g->principal, st, response);
}

static void local_authed(void *arg, tdm_status *st, const gw_principal *p, uint32_t retry_after_s)
{
    local_call *g = arg;
    (void)retry_after_s;
    if (st != NULL) {
        gw_grpc_complete(g->call, g->start_ms, g->request_id, NULL, st, NULL);
        return;
    }
    gw_principal *copy = tdm_arena_memdup(tdm_call_arena(g->call), p, sizeof(*p));
    if (copy == NULL) {
        gw_grpc_complete(g->call, g->start_ms, g->request_id, NULL,
                         tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    g->principal = copy;
    g->fn(g->gw, g->method, g->request, copy, g->idem_key, g->request_id, g->deadline_ms,
          tdm_call_arena(g->call), local_done, g);
}

void gw_grpc_local(tdm_call *call, const ProtobufCMessage *request, gw_state *gw,
                   const gw_route_auth *(*rule)(const char *path, const char *method),
                   gw_local_fn fn)
{
    tdm_arena *a = tdm_call_arena(call);
    local_call *g = tdm_arena_calloc(a, 1, sizeof(*g));
    if (g == NULL) {
        tdm_call_fail(call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    const char *path = tdm_call_path(call);
    const char *slash = strrchr(path, '/');
    g->gw = gw;
    g->call = call;
    g->fn = fn;
    g->start_ms = uv_now(tdm_call_loop(call));
    g->method = slash != NULL ? slash + 1 : path;
    g->request = request;
    g->request_id = gw_grpc_request_id(call);
    g->idem_key = tdm_call_metadata(call, "idempotency-key", NULL);
    g->deadline_ms = tdm_call_ctx(call)->deadline_ms;
    const gw_route_auth *ra = rule(path, g->method);
    if (ra == NULL) {
        tdm_call_fail(call, tdm_status_new(TDM_UNIMPLEMENTED, "unknown method"));
        return;
    }
    /* With the client's address, so failed authentications count against it here as
     * on every other door. */
    gw_auth_resolve_from(gw, tdm_call_peer_address(call), a, g->request_id, g->deadline_ms,
                         tdm_call_metadata(call, "authorization", NULL),
                         tdm_call_metadata(call, GW_TENANT_HEADER, NULL), ra, local_authed, g);
}

size_t gw_local_method_index(const ProtobufCServiceDescriptor *descriptor, const char *method,
                             size_t n)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(descriptor, method);
    size_t i = md != NULL ? (size_t)(md - descriptor->methods) : n;
    return i < n ? i : n;
}

static void local_handler(tdm_call *call, const ProtobufCMessage *request, void *data)
{
    gw_local_service *svc = data;
    gw_grpc_local(call, request, svc->gw, svc->rule, svc->fn);
}

tdm_status *gw_local_register(gw_state *gw, gw_local_service *svc, const void *table, size_t stride,
                              size_t n)
{
    const ProtobufCServiceDescriptor *d = svc->descriptor;
    if (n != d->n_methods || n > GW_LOCAL_METHODS_MAX)
        return tdm_status_new(TDM_INTERNAL, "%s has %u methods, the gateway's table %zu", d->name,
                              d->n_methods, n);
    for (size_t i = 0; i < n; i++) {
        const char *name = *(const char *const *)(const void *)((const char *)table + i * stride);
        if (strcmp(d->methods[i].name, name) != 0)
            return tdm_status_new(TDM_INTERNAL, "%s's method table does not follow its descriptor",
                                  d->name);
        svc->methods[i] = (tdm_rpc_method_def){d->methods[i].name, local_handler, 0};
    }
    svc->gw = gw;
    svc->def = (tdm_rpc_service_def){.descriptor = d,
                                     .methods = svc->methods,
                                     .n_methods = n,
                                     .require_context = false,
                                     .service_data = svc};
    return tdm_server_add_service(tdm_runtime_server(gw->rt), &svc->def);
}

tdm_status *gw_invalid(const char *field, const char *why)
{
    tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "%s: %s", field, why);
    return tdm_status_add_violation(st, field, "%s", why);
}

tdm_status *gw_started(int rc)
{
    return rc == 0 ? NULL : tdm_status_new(TDM_INTERNAL, "could not start a database operation");
}
