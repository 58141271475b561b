/*
 * server_http.c - the HTTP request API of server.h, shared by HTTP/1.1 (http1.c)
 * and non-gRPC HTTP/2 streams (h2_server.c), and the default handler: /healthz,
 * /readyz, /metrics, 404 for the rest.
 *
 * A request flows on_headers (which picks the body limit, or answers at once) →
 * body → on_request → exactly one tdm_http_respond. A handler may defer a request
 * from on_headers (tdm_http_defer): its body is then read only up to
 * TDM_ADMIT_BUFFER_BYTES until tdm_http_admit, and the handler owns it meanwhile. The request's
 * arena is released by whichever of "responded" and "transport done" happens last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tandem/log.h"
#include "tandem/uuid.h"
#include "transport_internal.h"

/* ---- Default handler ---------------------------------------------------------------------- */

static size_t default_on_headers(tdm_http_request *req, void *user)
{
    /* The default routes take no body. */
    return 0;
}

void tdm_server_default_http_request(tdm_http_request *req)
{
    tdm_server *srv = req->srv;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (get && strcmp(req->path, "/healthz") == 0) {
        tdm_http_respond(req, 200, "text/plain; charset=utf-8", "ok\n", 3, NULL, 0);
        return;
    }
    if (get && strcmp(req->path, "/readyz") == 0) {
        if (srv->ready) {
            tdm_http_respond(req, 200, "text/plain; charset=utf-8", "ready\n", 6, NULL, 0);
            return;
        }
        const char *reason = srv->not_ready_reason != NULL ? srv->not_ready_reason : "not ready";
        char *body = tdm_arena_printf(req->arena, "not ready: %s\n", reason);
        tdm_http_respond(req, 503, "text/plain; charset=utf-8", body != NULL ? body : "",
                         body != NULL ? strlen(body) : 0, NULL, 0);
        return;
    }
    if (get && strcmp(req->path, "/metrics") == 0 && !srv->opts.metrics_elsewhere) {
        size_t len = 0;
        char *text = tdm_metrics_render(tdm_metrics_global(), &len);
        if (text == NULL) {
            tdm_http_respond(req, 500, "text/plain", "out of memory\n", 14, NULL, 0);
            return;
        }
        tdm_http_respond(req, 200, "text/plain; version=0.0.4", text, len, NULL, 0);
        free(text);
        return;
    }
    static const char body[] = "{\"code\":5,\"message\":\"not found\"}";
    tdm_http_respond(req, 404, "application/json", body, sizeof(body) - 1, NULL, 0);
}

static void default_on_request(tdm_http_request *req, void *user)
{
    tdm_server_default_http_request(req);
}

/* ---- Lifecycle ------------------------------------------------------------------------------ */

int tdm_http_request_init(tdm_http_request *req, const char *target)
{
    const char *q = strchr(target, '?');
    if (q != NULL) {
        req->path = tdm_arena_strndup(req->arena, target, (size_t)(q - target));
        req->query = tdm_arena_strdup(req->arena, q + 1);
    } else {
        req->path = target;
        req->query = "";
    }
    if (req->path == NULL || req->query == NULL)
        return -1;
    const char *rid = tdm_http_header_get(req, "x-request-id");
    if (rid != NULL && tdm_request_id_acceptable(rid, strlen(rid))) {
        req->request_id = rid;
    } else {
        char *id = tdm_arena_alloc(req->arena, 37);
        if (id == NULL)
            return -1;
        tdm_uuid_text(id);
        req->request_id = id;
    }
    req->state = TDM_HTTP_REQ_RECEIVING;
    req->srv->in_flight++;
    req->counted = true;
    return 0;
}

size_t tdm_http_request_on_headers(tdm_http_request *req)
{
    tdm_server *srv = req->srv;
    if (srv->http.on_headers == NULL)
        return default_on_headers(req, NULL);
    return srv->http.on_headers(req, srv->http.user);
}

bool tdm_http_request_dispatch(tdm_http_request *req)
{
    tdm_server *srv = req->srv;
    if (req->state != TDM_HTTP_REQ_RECEIVING)
        return false;
    req->body_complete = true;
    if (req->admission == TDM_ADMISSION_PENDING)
        return false; /* tdm_http_admit dispatches */
    req->state = TDM_HTTP_REQ_DISPATCHED;
    if (srv->http.on_request == NULL)
        default_on_request(req, NULL);
    else
        srv->http.on_request(req, srv->http.user);
    return true;
}

bool tdm_http_request_with_handler(const tdm_http_request *req)
{
    return req->state == TDM_HTTP_REQ_DISPATCHED ||
           (req->state == TDM_HTTP_REQ_RECEIVING && req->admission == TDM_ADMISSION_PENDING);
}

/* ---- Admission ------------------------------------------------------------------------------ */

static void http_hold_read(tdm_http_request *req)
{
    if (req->version == 2) {
        if (req->stream != NULL)
            tdm_h2_hold_read(req->stream);
        return;
    }
    if (req->holds_read || req->conn == NULL)
        return;
    req->holds_read = true;
    tdm_conn_hold_read(req->conn);
}

static void http_release_read(tdm_http_request *req)
{
    if (req->version == 2) {
        if (req->stream != NULL)
            tdm_h2_release_read(req->stream);
        return;
    }
    if (!req->holds_read)
        return;
    req->holds_read = false;
    if (req->conn != NULL)
        tdm_conn_release_read(req->conn);
}

void tdm_http_defer(tdm_http_request *req)
{
    if (req->state == TDM_HTTP_REQ_RECEIVING && req->admission == TDM_ADMISSION_NONE)
        req->admission = TDM_ADMISSION_PENDING;
}

void tdm_http_request_body_grew(tdm_http_request *req, size_t body_len)
{
    if (req->admission == TDM_ADMISSION_PENDING && body_len >= TDM_ADMIT_BUFFER_BYTES)
        http_hold_read(req);
}

static void respond_too_large(tdm_http_request *req)
{
    static const char msg[] = "{\"code\":8,\"message\":\"request body too large\"}";
    tdm_http_respond(req, 413, "application/json", msg, sizeof(msg) - 1, NULL, 0);
}

bool tdm_http_request_too_large(tdm_http_request *req)
{
    if (req->admission == TDM_ADMISSION_PENDING) {
        /* The handler owns the request until its admission ends: the 413 waits, and
         * so does the rest of the body. */
        req->refused_status = 413;
        http_hold_read(req);
        return true;
    }
    respond_too_large(req);
    return false;
}

void tdm_http_admit(tdm_http_request *req)
{
    if (req->state != TDM_HTTP_REQ_RECEIVING || req->admission != TDM_ADMISSION_PENDING) {
        tdm_log(TDM_LOG_ERROR, req->request_id, "HTTP request admitted twice or after its answer");
        return;
    }
    req->admission = TDM_ADMISSION_ADMITTED;
    http_release_read(req);
    if (req->cancelled) {
        /* The client went away meanwhile: release the request (nothing is sent). */
        tdm_http_respond(req, 499, "text/plain", NULL, 0, NULL, 0);
        return;
    }
    if (req->refused_status == 413) {
        respond_too_large(req);
        return;
    }
    if (req->body_complete)
        tdm_http_request_dispatch(req);
}

const char *tdm_http_peer_address(const tdm_http_request *req)
{
    const tdm_conn *conn =
        req->version == 2 ? (req->stream != NULL ? req->stream->conn : NULL) : req->conn;
    return conn != NULL ? conn->peer : "";
}

void tdm_http_set_user(tdm_http_request *req, void *user)
{
    req->user = user;
}

void *tdm_http_user(const tdm_http_request *req)
{
    return req->user;
}

void tdm_http_request_cancelled(tdm_http_request *req)
{
    if (req->state == TDM_HTTP_REQ_RESPONDED || req->cancelled)
        return;
    req->cancelled = true;
    if (req->state == TDM_HTTP_REQ_RECEIVING && req->version == 2 &&
        req->admission != TDM_ADMISSION_PENDING) {
        /* The stream closed before its body was complete: the handler never got the
         * request, so nobody else will ever answer it. Finish it here (499, client
         * closed request - nothing is sent on a closed stream) so its record and its
         * in-flight count are released. Found by fuzz_http1_request. */
        tdm_http_respond(req, 499, "text/plain", NULL, 0, NULL, 0);
        return;
    }
    void (*fn)(void *) = req->cancel_fn;
    req->cancel_fn = NULL;
    if (fn != NULL)
        fn(req->cancel_arg);
}

/* The method as a metric label: HTTP/2's :method is any token the client sends, so
 * only the standard methods keep their name. */
static const char *metric_method(const char *method)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (method != NULL && strcmp(method, known[i]) == 0)
            return known[i];
    }
    return "OTHER";
}

void tdm_http_metrics(tdm_server *srv, const tdm_http_request *req, int status)
{
    if (srv->m_http == NULL)
        return;
    char code[12];
    snprintf(code, sizeof(code), "%d", status);
    /* Label values must come from a bounded set. The default handler's routes are
     * its three paths; a custom handler (the gateway's REST front) counts its own
     * requests by route template, so they are not counted again here with their raw
     * paths (one series per id); anything else is folded into "unmatched". */
    const char *path = req->path != NULL ? req->path : "";
    const char *route = "unmatched";
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0)
        route = path;
    else if (srv->http.on_request != NULL)
        return;
    tdm_metric_inc(srv->m_http, (const char *const[]){route, metric_method(req->method), code});
}

void tdm_http_respond(tdm_http_request *req, int status, const char *content_type, const void *body,
                      size_t len, const tdm_http_header *headers, size_t n_headers)
{
    if (req->state == TDM_HTTP_REQ_RESPONDED) {
        tdm_log(TDM_LOG_ERROR, req->request_id, "HTTP request answered twice");
        return;
    }
    tdm_server *srv = req->srv;
    req->state = TDM_HTTP_REQ_RESPONDED;
    http_release_read(req);
    if (req->counted) {
        req->counted = false;
        srv->in_flight--;
    }
    tdm_http_metrics(srv, req, status);
    if (strcmp(req->method, "HEAD") == 0)
        len = 0;
    if (req->version == 2) {
        tdm_h2_stream *s = req->stream;
        if (s->conn != NULL && !req->cancelled) {
            tdm_h2_http_respond(s, status, content_type, body, len, headers, n_headers,
                                req->request_id);
            tdm_h2_after_submit(s);
        }
        tdm_h2_stream_release(s);
        return;
    }
    tdm_h1_respond(req, status, content_type, body, len, headers, n_headers);
}

/* ---- Accessors --------------------------------------------------------------------------------
 */

const char *tdm_http_method(const tdm_http_request *req)
{
    return req->method;
}

const char *tdm_http_path(const tdm_http_request *req)
{
    return req->path;
}

const char *tdm_http_query(const tdm_http_request *req)
{
    return req->query;
}

const char *tdm_http_header_get(const tdm_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

const uint8_t *tdm_http_body(const tdm_http_request *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body != NULL ? req->body : (const uint8_t *)"";
}

tdm_arena *tdm_http_arena(tdm_http_request *req)
{
    return req->arena;
}

uv_loop_t *tdm_http_loop(tdm_http_request *req)
{
    return req->srv->loop;
}

tdm_server *tdm_http_server(tdm_http_request *req)
{
    return req->srv;
}

const char *tdm_http_request_id(const tdm_http_request *req)
{
    return req->request_id;
}

int tdm_http_version(const tdm_http_request *req)
{
    return req->version;
}

bool tdm_http_is_cancelled(const tdm_http_request *req)
{
    return req->cancelled;
}

void tdm_http_on_cancel(tdm_http_request *req, void (*fn)(void *arg), void *arg)
{
    req->cancel_fn = fn;
    req->cancel_arg = arg;
    if (req->cancelled && req->state != TDM_HTTP_REQ_RESPONDED) {
        req->cancel_fn = NULL;
        fn(arg);
    }
}
