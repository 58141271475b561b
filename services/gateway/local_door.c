/*
 * local_door.c - the gRPC door of the services the gateway implements itself
 * (TenantService in tenants.c, WebhookService in webhook.c): authenticate the call
 * with the method's rule, then run the same function the REST door runs, and
 * complete the call with its access log line.
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
