/*
 * rest_front.c - the REST door: HTTP request -> route (tdm_rest router) -> key, rate
 * limit, scope and tenant -> the request message (tdm_rest_build_request: body per
 * API.md "Bodies", path variables, query parameters) -> the TenantService or
 * WebhookService here, or the owning service over gRPC -> JSON.
 *
 * Errors are API.md's body {"code", "message", "details": [{"field", "description"}]}
 * with the mapped HTTP status; 429 carries Retry-After, 401 WWW-Authenticate, 405
 * Allow. Every request is counted (tandem_http_requests_total{route,method,status}),
 * timed and logged as one JSON line; /healthz, /readyz and /metrics fall through to
 * the runtime's default handler; /openapi.json serves the generated document.
 *
 * The route table and the OpenAPI document are generated at build time from the
 * descriptor set (tools/codegen, target tandem_rest_routes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"
#include "keys.h"
#include "scim.h"
#include "tandem/json.h"
#include "tandem/log.h"
#include "tandem/rest.h"
#include "tandem/rest_routes.h"
#include "tandem/v1/tenant.pb-c.h"
#include "tandem/v1/webhook.pb-c.h"
#include "webhook.h"

/* Requests without a deadline of their own get this much time downstream. */
#define REST_TIMEOUT_MS 60000
/* Retry-After on 503: the peer probe runs every second, so a peer that is back is let
 * through again within about that. */
#define UNAVAILABLE_RETRY_AFTER_S 1

static tdm_rest_router *ROUTER;
static gw_route_auth *ROUTE_AUTH; /* parallel to tdm_rest_routes */
static gw_state *GW;

typedef struct rest_op {
    tdm_http_request *req;
    tdm_rest_match match;
    const gw_route_auth *auth;
    ProtobufCMessage *msg;
    const char *request_id;
    uint64_t deadline_ms;
    uint64_t start_ms;
    const gw_principal *principal;
} rest_op;

static void observe(tdm_http_request *req, const tdm_rest_route *route, int status,
                    uint64_t start_ms, const gw_principal *p)
{
    gw_http_observe(req, route != NULL ? route->path_template : NULL, status, start_ms, p);
}

void gw_http_observe(tdm_http_request *req, const char *label, int status, uint64_t start_ms,
                     const gw_principal *p)
{
    if (label == NULL)
        label = "unmatched";
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    const char *method = tdm_http_method(req);
    tdm_metric_inc(GW->m_requests, (const char *const[]){label, method, code});
    double seconds = (double)(uv_now(tdm_http_loop(req)) - start_ms) / 1000.0;
    tdm_metric_observe(GW->m_duration, (const char *const[]){label, method}, seconds);
    char ms[32];
    snprintf(ms, sizeof(ms), "%.0f", seconds * 1000.0);
    /* The route template, never the path: paths carry external ids
     * (/v1/people/{external_id}:erase) and logs never hold who a request was about. */
    tdm_log_fields(TDM_LOG_INFO, tdm_http_request_id(req), "http request", "method", method,
                   "route", label, "status", code, "duration_ms", ms, "key_id",
                   p != NULL ? p->key_id : NULL, "tenant_id", p != NULL ? p->tenant_id : NULL,
                   NULL);
}

/* Answer st as API.md's error body (http 0: the status's mapped one); takes st. */
static void respond_error_as(tdm_http_request *req, const tdm_rest_route *route, int http,
                             tdm_status *st, const tdm_http_header *extra, size_t n_extra,
                             uint64_t start_ms, const gw_principal *p)
{
    if (http == 0)
        http = tdm_code_http_status(st->code);
    if (st->detail != NULL)
        tdm_log_fields(http >= 500 ? TDM_LOG_WARN : TDM_LOG_DEBUG, tdm_http_request_id(req),
                       "request failed", "code", tdm_code_name(st->code), "detail", st->detail,
                       NULL);
    json_t *body = json_object();
    json_t *details = json_array();
    json_object_set_new(body, "code", json_integer(st->code));
    json_object_set_new(body, "message", json_string(st->message != NULL ? st->message : ""));
    for (size_t i = 0; i < st->n_violations; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "field", json_string(st->violations[i].field));
        json_object_set_new(d, "description", json_string(st->violations[i].description));
        json_array_append_new(details, d);
    }
    json_object_set_new(body, "details", details);
    size_t len = 0;
    char *text = tdm_json_dump(body, tdm_http_arena(req), &len);
    json_decref(body);
    tdm_status_free(st);
    if (text == NULL) {
        static const char FALLBACK[] = "{\"code\":13,\"message\":\"internal error\"}";
        http = 500;
        text = (char *)FALLBACK;
        len = sizeof(FALLBACK) - 1;
    }
    /* Responding may free the request (and its arena): observe first. */
    observe(req, route, http, start_ms, p);
    tdm_http_respond(req, http, "application/json", text, len, extra, n_extra);
}

static void respond_error(rest_op *op, tdm_status *st, uint32_t retry_after_s)
{
    tdm_http_header headers[1];
    size_t n = 0;
    char retry[16];
    if (st->code == TDM_RESOURCE_EXHAUSTED && retry_after_s > 0) {
        snprintf(retry, sizeof(retry), "%u", retry_after_s);
        headers[n++] = (tdm_http_header){"Retry-After", retry};
    } else if (st->code == TDM_UNAVAILABLE) {
        snprintf(retry, sizeof(retry), "%u",
                 retry_after_s > 0 ? retry_after_s : UNAVAILABLE_RETRY_AFTER_S);
        headers[n++] = (tdm_http_header){"Retry-After", retry};
    } else if (st->code == TDM_UNAUTHENTICATED) {
        headers[n++] = (tdm_http_header){"WWW-Authenticate", "Bearer"};
    }
    respond_error_as(op->req, op->match.route, 0, st, headers, n, op->start_ms, op->principal);
}

static void respond_message(rest_op *op, const ProtobufCMessage *m)
{
    size_t len = 0;
    char *text = tdm_json_encode(m, tdm_http_arena(op->req), &len);
    if (text == NULL) {
        respond_error(op, tdm_status_new(TDM_INTERNAL, "the response cannot be shown as JSON"), 0);
        return;
    }
    observe(op->req, op->match.route, 200, op->start_ms, op->principal);
    tdm_http_respond(op->req, 200, "application/json", text, len, NULL, 0);
}

/* ---- completion ------------------------------------------------------------------------- */

static const ProtobufCMethodDescriptor *route_method(const tdm_rest_route *r)
{
    return &r->service->methods[r->method_index];
}

static void tenant_done(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    rest_op *op = arg;
    if (st != NULL) {
        respond_error(op, st, 0);
        return;
    }
    respond_message(op, response);
}

static void forward_done(void *arg, tdm_status *st, const uint8_t *response, size_t len)
{
    rest_op *op = arg;
    if (st != NULL) {
        respond_error(op, st, 0);
        return;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(
        route_method(op->match.route)->output,
        tdm_arena_protobuf_allocator(tdm_http_arena(op->req)), len, response);
    if (m == NULL) {
        respond_error(op, tdm_status_new(TDM_INTERNAL, "the service answered garbage"), 0);
        return;
    }
    respond_message(op, m);
}

/* The key was checked from the headers alone, while the body may still be arriving
 * (the transport reads at most TDM_ADMIT_BUFFER_BYTES of it meanwhile): a caller
 * without a valid key is answered now; otherwise the body is read and on_request
 * goes on. */
static void authed(void *arg, tdm_status *st, const gw_principal *p, uint32_t retry_after_s)
{
    rest_op *op = arg;
    if (st != NULL) {
        respond_error(op, st, retry_after_s);
        return;
    }
    op->principal = tdm_arena_memdup(tdm_http_arena(op->req), p, sizeof(*p));
    if (op->principal == NULL) {
        respond_error(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), 0);
        return;
    }
    tdm_http_admit(op->req);
}

/* The body is complete and the caller admitted: build the request message and send
 * it to the method's owner. */
static void call_method(rest_op *op)
{
    tdm_arena *a = tdm_http_arena(op->req);
    size_t body_len = 0;
    const uint8_t *body = tdm_http_body(op->req, &body_len);
    const char *query = tdm_http_query(op->req);
    tdm_status *st = tdm_rest_build_request(&op->match, query, strlen(query), (const char *)body,
                                            body_len, a, &op->msg);
    if (st != NULL) {
        respond_error(op, st, 0);
        return;
    }
    const tdm_rest_route *r = op->match.route;
    const char *idem = tdm_http_header_get(op->req, "Idempotency-Key");
    if (r->service == &tandem__v1__tenant_service__descriptor) {
        gw_tenant_call(GW, route_method(r)->name, op->msg, op->principal, idem, op->request_id,
                       op->deadline_ms, a, tenant_done, op);
        return;
    }
    if (r->service == &tandem__v1__webhook_service__descriptor) {
        gw_webhook_call(GW, route_method(r)->name, op->msg, op->principal, idem, op->request_id,
                        op->deadline_ms, a, tenant_done, op);
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(op->msg);
    uint8_t *buf = tdm_arena_alloc(a, len + 1);
    if (buf == NULL) {
        respond_error(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), 0);
        return;
    }
    protobuf_c_message_pack(op->msg, buf);
    gw_forward(GW, gw_service_peer(r->service->name), r->grpc_path, buf, len, op->principal,
               op->request_id, idem, op->deadline_ms, a, forward_done, op);
}

/* ---- the HTTP handler ----------------------------------------------------------------------- */

static bool runtime_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
           strcmp(path, "/metrics") == 0 || strcmp(path, "/openapi.json") == 0;
}

/* Match the request; on failure answer it (404, 405 with Allow, 400) and return false. */
static bool match_or_answer(tdm_http_request *req, tdm_rest_match *m, uint64_t now)
{
    const char *path = tdm_http_path(req);
    tdm_status *st = tdm_rest_match_request(ROUTER, tdm_http_method(req), path, strlen(path),
                                            tdm_http_arena(req), m);
    if (st == NULL)
        return true;
    if (st->code == TDM_UNIMPLEMENTED && m->allow != NULL) {
        tdm_http_header allow = {"Allow", m->allow};
        respond_error_as(req, NULL, 405, st, &allow, 1, now, NULL);
    } else {
        respond_error_as(req, NULL, 0, st, NULL, 0, now, NULL);
    }
    return false;
}

/* Headers are complete: route, then check the key before the body is read (the
 * request waits for its admission, see authed). */
static size_t on_headers(tdm_http_request *req, void *user)
{
    if (runtime_path(tdm_http_path(req)))
        return 0;
    if (gw_scim_path(tdm_http_path(req)))
        return gw_scim_on_headers(GW, req);
    uint64_t now = uv_now(tdm_http_loop(req));
    rest_op *op = tdm_arena_calloc(tdm_http_arena(req), 1, sizeof(*op));
    if (op == NULL) {
        respond_error_as(req, NULL, 0, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"),
                         NULL, 0, now, NULL);
        return 0;
    }
    op->req = req;
    op->start_ms = now;
    if (!match_or_answer(req, &op->match, now))
        return 0;
    op->auth = &ROUTE_AUTH[op->match.route - tdm_rest_routes];
    op->request_id = tdm_http_request_id(req);
    op->deadline_ms = now + REST_TIMEOUT_MS;
    size_t max_body = op->match.route->max_request_bytes;
    tdm_http_set_user(req, op);
    tdm_http_defer(req);
    gw_auth_resolve_from(GW, tdm_http_peer_address(req), tdm_http_arena(req), op->request_id,
                         op->deadline_ms, tdm_http_header_get(req, "Authorization"),
                         tdm_http_header_get(req, "X-Tandem-Tenant"), op->auth, authed, op);
    /* Answered already (no key): the transport sees it and ignores the limit. */
    return max_body;
}

static void on_request(tdm_http_request *req, void *user)
{
    const char *path = tdm_http_path(req);
    uint64_t now = uv_now(tdm_http_loop(req));
    if (strcmp(path, "/openapi.json") == 0) {
        observe(req, NULL, 200, now, NULL);
        tdm_http_respond(req, 200, "application/json", tdm_openapi_json, tdm_openapi_json_len, NULL,
                         0);
        return;
    }
    if (runtime_path(path)) {
        tdm_server_default_http_request(req);
        return;
    }
    if (gw_scim_path(path)) {
        gw_scim_on_request(req);
        return;
    }
    rest_op *op = tdm_http_user(req);
    if (op == NULL || op->principal == NULL) {
        respond_error_as(req, NULL, 0, tdm_status_new(TDM_INTERNAL, "internal error"), NULL, 0, now,
                         NULL);
        return;
    }
    call_method(op);
}

/* The authorisation of a route from its declared scope. */
static gw_route_auth route_auth(const tdm_rest_route *r)
{
    if (r->service == &tandem__v1__tenant_service__descriptor) {
        const gw_route_auth *ra = gw_tenant_method_auth(route_method(r)->name);
        if (ra != NULL)
            return *ra;
    }
    if (strcmp(r->scope, "platform") == 0)
        return (gw_route_auth){.scope = TDM_SCOPE_ADMIN, .platform_only = true};
    uint32_t bit = gw_scope_bit(r->scope);
    return (gw_route_auth){.scope = bit != 0 ? bit : TDM_SCOPE_ADMIN,
                           .tenant_scoped = true,
                           .person = gw_person_may_call(r->service->name, route_method(r)->name)};
}

const gw_route_auth *gw_rest_auth_for_grpc_path(const char *grpc_path)
{
    for (size_t i = 0; ROUTE_AUTH != NULL && i < tdm_rest_routes_count; i++) {
        if (strcmp(tdm_rest_routes[i].grpc_path, grpc_path) == 0)
            return &ROUTE_AUTH[i];
    }
    return NULL;
}

tdm_status *gw_rest_install(gw_state *gw)
{
    ROUTE_AUTH = calloc(tdm_rest_routes_count, sizeof(*ROUTE_AUTH));
    if (ROUTE_AUTH == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < tdm_rest_routes_count; i++)
        ROUTE_AUTH[i] = route_auth(&tdm_rest_routes[i]);
    tdm_status *st = tdm_rest_router_new(tdm_rest_routes, tdm_rest_routes_count, &ROUTER);
    if (st != NULL) {
        free(ROUTE_AUTH);
        ROUTE_AUTH = NULL;
        return st;
    }
    GW = gw;
    static tdm_http_handler handler = {.on_headers = on_headers, .on_request = on_request};
    handler.user = gw;
    tdm_server_set_http_handler(tdm_runtime_server(gw->rt), &handler);
    return NULL;
}

void gw_rest_uninstall(void)
{
    tdm_rest_router_free(ROUTER);
    ROUTER = NULL;
    free(ROUTE_AUTH);
    ROUTE_AUTH = NULL;
    GW = NULL;
}
