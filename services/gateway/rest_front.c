/*
 * rest_front.c - the REST door: HTTP request -> route -> key, scope, tenant and rate
 * limit -> the request message (body per API.md "Bodies", path variables, query
 * parameters) -> the TenantService here or the owning service over gRPC -> JSON.
 *
 * Errors are API.md's body {"code", "message", "details": [{"field", "description"}]}
 * with the mapped HTTP status; 429 carries Retry-After, 401 WWW-Authenticate. Every
 * request is counted (tandem_http_requests_total{route,method,status}), timed and
 * logged as one JSON line; /healthz, /readyz and /metrics fall through to the
 * runtime's default handler.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway.h"
#include "rest_routes.h"
#include "tandem/json.h"
#include "tandem/log.h"
#include "tandem/v1/tenant.pb-c.h"

#define REST_DEFAULT_TIMEOUT_MS 60000

static gw_routes ROUTES;
static gw_state *GW;
static char *OPENAPI;
static size_t OPENAPI_LEN;

typedef struct rest_op {
    tdm_http_request *req;
    const gw_route *route;
    char **values;
    ProtobufCMessage *msg;
    const char *request_id;
    uint64_t deadline_ms;
    uint64_t start_ms;
    const gw_principal *principal;
} rest_op;

static const char *route_label(const gw_route *r)
{
    return r != NULL ? r->template_ : "unmatched";
}

static void observe(tdm_http_request *req, const gw_route *route, int status, uint64_t start_ms,
                    const gw_principal *p)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    const char *method = tdm_http_method(req);
    tdm_metric_inc(GW->m_requests, (const char *const[]){route_label(route), method, code});
    double seconds = (double)(uv_now(tdm_http_loop(req)) - start_ms) / 1000.0;
    tdm_metric_observe(GW->m_duration, (const char *const[]){route_label(route), method}, seconds);
    char ms[32];
    snprintf(ms, sizeof(ms), "%.0f", seconds * 1000.0);
    tdm_log_fields(TDM_LOG_INFO, tdm_http_request_id(req), "http request", "method", method, "path",
                   tdm_http_path(req), "route", route_label(route), "status", code, "duration_ms",
                   ms, "key_id", p != NULL ? p->key_id : NULL, "tenant_id",
                   p != NULL ? p->tenant_id : NULL, NULL);
}

/* Answer st as API.md's error body; takes st. */
static void respond_error(tdm_http_request *req, const gw_route *route, tdm_status *st,
                          uint32_t retry_after_s, uint64_t start_ms, const gw_principal *p)
{
    int http = tdm_code_http_status(st->code);
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
    tdm_http_header headers[2];
    size_t n = 0;
    char retry[16];
    if (st->code == TDM_RESOURCE_EXHAUSTED && retry_after_s > 0) {
        snprintf(retry, sizeof(retry), "%u", retry_after_s);
        headers[n++] = (tdm_http_header){"Retry-After", retry};
    }
    if (st->code == TDM_UNAUTHENTICATED)
        headers[n++] = (tdm_http_header){"WWW-Authenticate", "Bearer"};
    tdm_status_free(st);
    if (text == NULL) {
        static const char FALLBACK[] = "{\"code\":13,\"message\":\"internal error\"}";
        http = 500;
        text = (char *)FALLBACK;
        len = sizeof(FALLBACK) - 1;
    }
    tdm_http_respond(req, http, "application/json", text, len, headers, n);
    observe(req, route, http, start_ms, p);
}

static void respond_message(rest_op *op, const ProtobufCMessage *m)
{
    size_t len = 0;
    char *text = tdm_json_encode(m, tdm_http_arena(op->req), &len);
    if (text == NULL) {
        respond_error(op->req, op->route,
                      tdm_status_new(TDM_INTERNAL, "the response cannot be shown as JSON"), 0,
                      op->start_ms, op->principal);
        return;
    }
    tdm_http_respond(op->req, 200, "application/json", text, len, NULL, 0);
    observe(op->req, op->route, 200, op->start_ms, op->principal);
}

/* ---- building the request message ---------------------------------------------------- */

static tdm_status *apply_query(rest_op *op)
{
    const char *q = tdm_http_query(op->req);
    tdm_arena *a = tdm_http_arena(op->req);
    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t n = amp != NULL ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        if (n > 0) {
            size_t klen = eq != NULL ? (size_t)(eq - q) : n;
            char *key = gw_percent_decode(a, q, klen, true);
            char *val = eq != NULL ? gw_percent_decode(a, eq + 1, n - klen - 1, true)
                                   : tdm_arena_strdup(a, "");
            if (key == NULL || val == NULL) {
                tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "malformed query string");
                return st;
            }
            tdm_status *st = tdm_json_set_field_path(op->msg, key, val, a);
            if (st != NULL)
                return st;
        }
        q = amp != NULL ? amp + 1 : NULL;
    }
    return NULL;
}

static tdm_status *build_message(rest_op *op)
{
    tdm_arena *a = tdm_http_arena(op->req);
    const gw_route *r = op->route;
    const ProtobufCMessageDescriptor *desc = r->method->input;
    size_t len = 0;
    const uint8_t *body = tdm_http_body(op->req, &len);
    tdm_status *st = NULL;
    if (strcmp(r->body, "*") == 0) {
        if (len == 0) {
            op->msg = tdm_json_message_new(desc, a);
        } else if ((st = tdm_json_decode(desc, (const char *)body, len, a, &op->msg)) != NULL) {
            return st;
        }
    } else {
        op->msg = tdm_json_message_new(desc, a);
        if (op->msg != NULL && r->body[0] != '\0') {
            json_t *obj = NULL;
            if (len == 0)
                return tdm_status_add_violation(
                    tdm_status_new(TDM_INVALID_ARGUMENT, "a JSON body is required"), r->body,
                    "required");
            if ((st = tdm_json_parse((const char *)body, len, NULL, r->body, &obj)) != NULL)
                return st;
            st = tdm_json_merge_object(obj, op->msg, r->body, a);
            json_decref(obj);
            if (st != NULL)
                return st;
        }
        /* grpc-gateway: query parameters fill what neither the path nor the body does. */
        if (op->msg != NULL && (st = apply_query(op)) != NULL)
            return st;
    }
    if (op->msg == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < r->n_segments; i++) {
        if (r->vars[i] == NULL)
            continue;
        if ((st = tdm_json_set_field_path(op->msg, r->vars[i], op->values[i], a)) != NULL)
            return st;
    }
    return NULL;
}

/* ---- completion ------------------------------------------------------------------------- */

static void tenant_done(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    rest_op *op = arg;
    if (st != NULL) {
        respond_error(op->req, op->route, st, 0, op->start_ms, op->principal);
        return;
    }
    respond_message(op, response);
}

static void forward_done(void *arg, tdm_status *st, const uint8_t *response, size_t len)
{
    rest_op *op = arg;
    if (st != NULL) {
        respond_error(op->req, op->route, st, 0, op->start_ms, op->principal);
        return;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(
        op->route->method->output, tdm_arena_protobuf_allocator(tdm_http_arena(op->req)), len,
        response);
    if (m == NULL) {
        respond_error(op->req, op->route,
                      tdm_status_new(TDM_INTERNAL, "the service answered garbage"), 0, op->start_ms,
                      op->principal);
        return;
    }
    respond_message(op, m);
}

static void authed(void *arg, tdm_status *st, const gw_principal *p, uint32_t retry_after_s)
{
    rest_op *op = arg;
    if (st != NULL) {
        respond_error(op->req, op->route, st, retry_after_s, op->start_ms, NULL);
        return;
    }
    tdm_arena *a = tdm_http_arena(op->req);
    op->principal = tdm_arena_memdup(a, p, sizeof(*p));
    if (op->principal == NULL) {
        respond_error(op->req, op->route, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"),
                      0, op->start_ms, NULL);
        return;
    }
    if ((st = build_message(op)) != NULL) {
        respond_error(op->req, op->route, st, 0, op->start_ms, op->principal);
        return;
    }
    const char *idem = tdm_http_header_get(op->req, "Idempotency-Key");
    if (op->route->service == &tandem__v1__tenant_service__descriptor) {
        gw_tenant_call(GW, op->route->method->name, op->msg, op->principal, idem, op->request_id,
                       op->deadline_ms, a, tenant_done, op);
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(op->msg);
    uint8_t *buf = tdm_arena_alloc(a, len + 1);
    if (buf == NULL) {
        respond_error(op->req, op->route, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"),
                      0, op->start_ms, op->principal);
        return;
    }
    protobuf_c_message_pack(op->msg, buf);
    gw_forward(GW, op->route->peer, op->route->grpc_path, buf, len, op->principal, op->request_id,
               idem, op->deadline_ms, a, forward_done, op);
}

/* ---- the HTTP handler ----------------------------------------------------------------------- */

static bool runtime_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
           strcmp(path, "/metrics") == 0;
}

static const gw_route *match(tdm_http_request *req, char ***values, bool *path_known)
{
    return gw_routes_match(&ROUTES, tdm_http_method(req), tdm_http_path(req), tdm_http_arena(req),
                           values, path_known);
}

static size_t on_headers(tdm_http_request *req, void *user)
{
    const char *path = tdm_http_path(req);
    if (runtime_path(path) || strcmp(path, "/openapi.json") == 0)
        return 0;
    char **values = NULL;
    bool known = false;
    const gw_route *r = match(req, &values, &known);
    if (r == NULL) {
        uint64_t now = uv_now(tdm_http_loop(req));
        if (known)
            respond_error(req, NULL,
                          tdm_status_new(TDM_UNIMPLEMENTED, "method %s not allowed on %s",
                                         tdm_http_method(req), path),
                          0, now, NULL);
        else
            respond_error(req, NULL, tdm_status_new(TDM_NOT_FOUND, "no such route: %s", path), 0,
                          now, NULL);
        return 0;
    }
    return r->max_body_bytes;
}

static void on_request(tdm_http_request *req, void *user)
{
    const char *path = tdm_http_path(req);
    if (runtime_path(path)) {
        tdm_server_default_http_request(req);
        return;
    }
    uint64_t now = uv_now(tdm_http_loop(req));
    if (strcmp(path, "/openapi.json") == 0 && OPENAPI != NULL) {
        tdm_http_respond(req, 200, "application/json", OPENAPI, OPENAPI_LEN, NULL, 0);
        observe(req, NULL, 200, now, NULL);
        return;
    }
    rest_op *op = tdm_arena_calloc(tdm_http_arena(req), 1, sizeof(*op));
    bool known = false;
    if (op == NULL) {
        respond_error(req, NULL, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), 0, now,
                      NULL);
        return;
    }
    op->req = req;
    op->start_ms = now;
    op->route = match(req, &op->values, &known);
    if (op->route == NULL) {
        respond_error(req, NULL, tdm_status_new(TDM_NOT_FOUND, "no such route: %s", path), 0, now,
                      NULL);
        return;
    }
    op->request_id = tdm_http_request_id(req);
    op->deadline_ms = now + REST_DEFAULT_TIMEOUT_MS;
    gw_auth_resolve(GW, tdm_http_arena(req), op->request_id, op->deadline_ms,
                    tdm_http_header_get(req, "Authorization"),
                    tdm_http_header_get(req, "X-Tandem-Tenant"), &op->route->auth, authed, op);
}

/* An OpenAPI 3.1 document of the route table: every path, method, operation and
 * path parameter, bearer authentication and the error body. */
static char *openapi_document(const gw_routes *routes, size_t *len)
{
    json_t *doc = json_pack("{s:s, s:{s:s, s:s}, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:{s:{s:s}, "
                            "s:{s:s}, s:{s:s, s:{s:s, s:{s:{s:s}, s:{s:s}}}}}}}}, s:[{s:[]}]}",
                            "openapi", "3.1.0", "info", "title", "Tandem API", "version", "v1",
                            "components", "securitySchemes", "bearer", "type", "http", "scheme",
                            "bearer", "schemas", "Error", "type", "object", "properties", "code",
                            "type", "integer", "message", "type", "string", "details", "type",
                            "array", "items", "type", "object", "properties", "field", "type",
                            "string", "description", "type", "string", "security", "bearer");
    json_t *paths = json_object();
    if (doc == NULL || paths == NULL) {
        json_decref(doc);
        json_decref(paths);
        return NULL;
    }
    for (size_t i = 0; i < routes->n; i++) {
        const gw_route *r = &routes->routes[i];
        json_t *item = json_object_get(paths, r->template_);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, r->template_, item);
        }
        char method[8] = {0}, op_id[200];
        for (size_t c = 0; c < sizeof(method) - 1 && r->http_method[c] != '\0'; c++)
            method[c] = (char)(r->http_method[c] | 0x20);
        const char *dot = strrchr(r->service->name, '.');
        snprintf(op_id, sizeof(op_id), "%s_%s", dot != NULL ? dot + 1 : r->service->name,
                 r->method->name);
        json_t *params = json_array();
        for (size_t s = 0; s < r->n_segments; s++) {
            if (r->vars[s] != NULL)
                json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name",
                                                        r->vars[s], "in", "path", "required", 1,
                                                        "schema", "type", "string"));
        }
        json_t *op = json_pack(
            "{s:s, s:[s], s:o, s:{s:{s:s}, s:{s:s, s:{s:{s:{s:s}}}}}}", "operationId", op_id,
            "tags", dot != NULL ? dot + 1 : r->service->name, "parameters", params, "responses",
            "200", "description", "OK", "default", "description", "Error (API.md \"Errors\")",
            "content", "application/json", "schema", "$ref", "#/components/schemas/Error");
        if (op != NULL && r->body[0] != '\0')
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                          "application/json", "schema", "type", "object"));
        if (op != NULL)
            json_object_set_new(item, method, op);
    }
    json_object_set_new(doc, "paths", paths);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

tdm_status *gw_rest_install(gw_state *gw)
{
    tdm_status *st = gw_routes_load(&ROUTES);
    if (st != NULL)
        return st;
    OPENAPI = openapi_document(&ROUTES, &OPENAPI_LEN);
    GW = gw;
    static tdm_http_handler handler = {.on_headers = on_headers, .on_request = on_request};
    handler.user = gw;
    tdm_server_set_http_handler(tdm_runtime_server(gw->rt), &handler);
    return NULL;
}

void gw_rest_uninstall(void)
{
    gw_routes_free(&ROUTES);
    free(OPENAPI);
    OPENAPI = NULL;
    GW = NULL;
}
