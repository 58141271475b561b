/*
 * h2_server.c - the server side of HTTP/2 (h2c, prior knowledge) on nghttp2 1.52:
 * streams, their classification (gRPC call, built-in, HTTP request), request bodies
 * and responses, and the flood limits nghttp2 1.52 does not have.
 *
 * nghttp2 is driven in memory: bytes read go to nghttp2_session_mem_recv, frames to
 * send come from nghttp2_session_mem_send (server.c, tdm_h2_flush). Callbacks never
 * call either of them; they only submit, and the caller flushes once recv returns
 * (conn->busy defers flushes and closes requested meanwhile).
 *
 * Stream life: on_begin_headers creates the record in a fresh arena; headers are
 * collected (bounded by TDM_MAX_HEADER_LIST_BYTES); at the end of the header block
 * the stream is classified and gRPC headers validated, so unknown methods, bad
 * content types and oversized messages are refused before any body is buffered;
 * END_STREAM dispatches; on_stream_close detaches the record, which is freed then or
 * when its call/request completes, whichever comes last.
 *
 * Early answers: a stream answered before its request ended (a refusal, or 413 for a
 * body over the route's limit, from Content-Length at the headers or from the DATA
 * received) buffers nothing more. RFC 9113 section 8.1 lets the server then reset
 * the upload with RST_STREAM(NO_ERROR), and clients must keep the response; curl
 * before 8.11 (Debian 12 has 7.88) does not: it reports a stream error and drops the
 * 413. So an HTTP stream's upload is first drained, read and dropped as it comes, up
 * to the route's limit plus H2_DRAIN_BYTES; beyond that, or when Content-Length
 * already says it will go beyond, the stream is reset once the response is out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"
#include "transport_internal.h"

#define MAKE_NV(NAME, VALUE, VLEN)                                                                 \
    ((nghttp2_nv){(uint8_t *)(NAME), (uint8_t *)(VALUE), sizeof(NAME) - 1, (VLEN),                 \
                  NGHTTP2_NV_FLAG_NO_COPY_NAME})

/* How much request body past the route's limit an early-answered HTTP stream reads
 * and drops before it is reset (see the top of the file). Costs bandwidth, never
 * memory. */
#define H2_DRAIN_BYTES (8u * 1024u * 1024u)

static nghttp2_session_callbacks *server_callbacks;
static nghttp2_option *server_options;

/* ---- Stream records --------------------------------------------------------------------- */

static void stream_free(tdm_h2_stream *s)
{
    tdm_server *srv = s->srv;
    tdm_arena_free(s->arena);
    tdm_server_release(srv);
}

void tdm_h2_stream_release(tdm_h2_stream *s)
{
    s->owner_done = true;
    if (s->conn == NULL)
        stream_free(s);
}

static void watcher_remove(tdm_h2_stream *s)
{
    if (!s->watching)
        return;
    if (s->w_prev != NULL)
        s->w_prev->w_next = s->w_next;
    else
        s->srv->watchers = s->w_next;
    if (s->w_next != NULL)
        s->w_next->w_prev = s->w_prev;
    s->watching = false;
}

/* The stream is gone from the connection. Its owner (a call still running) is told;
 * the record is freed now if nobody needs it, otherwise by the owner's release. */
static void stream_detach(tdm_h2_stream *s)
{
    tdm_conn *conn = s->conn;
    if (conn == NULL)
        return;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        conn->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    conn->n_streams--;
    if (conn->n_streams == 0)
        conn->last_activity_ms = uv_now(conn->srv->loop);
    tdm_h2_release_read(s);
    s->conn = NULL;
    watcher_remove(s);
    if (s->builtin != NULL && s->builtin->on_close != NULL)
        s->builtin->on_close(s);
    if (s->owner_done) {
        stream_free(s);
        return;
    }
    /* The owner may complete (and so free s) from inside these calls. */
    if (s->call != NULL)
        tdm_call_stream_closed(s->call);
    else if (s->req != NULL)
        tdm_http_request_cancelled(s->req);
}

void tdm_h2_conn_free(tdm_conn *conn)
{
    while (conn->streams != NULL)
        stream_detach(conn->streams);
    nghttp2_session_del(conn->h2);
    conn->h2 = NULL;
}

bool tdm_h2_conn_idle(const tdm_conn *conn)
{
    return conn->n_streams == 0;
}

void tdm_h2_after_submit(tdm_h2_stream *s)
{
    if (s->conn != NULL && s->conn->busy == 0)
        tdm_h2_flush(s->conn);
}

void tdm_h2_goaway(tdm_conn *conn)
{
    if (conn->goaway_sent || conn->h2 == NULL || conn->state == TDM_CONN_CLOSING)
        return;
    conn->goaway_sent = true;
    conn->state = TDM_CONN_DRAINING;
    /* Streams up to the last one we processed still complete; the client retries
     * later ones elsewhere. */
    nghttp2_submit_goaway(conn->h2, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(conn->h2), NGHTTP2_NO_ERROR, NULL,
                          0);
    if (conn->busy == 0)
        tdm_h2_flush(conn);
}

/* ---- Send stalls -------------------------------------------------------------------------- */

/* Whether the stream has response output nghttp2 has not sent yet: queued chunks, or
 * a response (or its trailers) submitted while our side has not ended the stream. */
static bool stream_output_pending(const tdm_h2_stream *s)
{
    if (s->out_head == NULL && s->state != TDM_STREAM_RESPONDED)
        return false;
    return nghttp2_session_get_stream_local_close(s->conn->h2, s->id) == 0;
}

static void stream_output_queued(tdm_h2_stream *s)
{
    s->send_progress_ms = uv_now(s->srv->loop);
    tdm_conn_watch_output(s->conn);
}

/* A client that opens streams and never grants window (or stops granting it) would
 * otherwise pin every completed response, up to the method's message limit, for as
 * long as it keeps the socket. Such streams are reset with RST_STREAM(CANCEL): the
 * client learns the stream is over, nghttp2 closes it and its arena is freed. A slow
 * reader keeps its streams, since each WINDOW_UPDATE lets a DATA frame out, and so
 * does a long streaming response with nothing queued. */
uint64_t tdm_h2_check_stalls(tdm_conn *conn, uint64_t now, uint64_t stall_ms)
{
    uint64_t next = UINT64_MAX;
    size_t reset = 0;
    for (tdm_h2_stream *s = conn->streams; s != NULL; s = s->next) {
        if (s->kind == TDM_STREAM_PENDING || !stream_output_pending(s))
            continue;
        uint64_t waited = now - s->send_progress_ms;
        if (waited < stall_ms) {
            if (stall_ms - waited < next)
                next = stall_ms - waited;
            continue;
        }
        /* Submitting a reset closes nothing yet (on_stream_close runs once it is
         * sent), so the list stays intact while it is walked. */
        nghttp2_submit_rst_stream(conn->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
        s->send_progress_ms = now; /* once per timeout, should the reset itself wait */
        reset++;
    }
    if (reset > 0) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", reset);
        tdm_log_fields(TDM_LOG_INFO, NULL,
                       "http2 send stall: resetting streams the peer does not take", "streams", n,
                       NULL);
        tdm_h2_flush(conn);
    }
    return next;
}

/* ---- Responses ---------------------------------------------------------------------------- */

/* Data provider: queued chunks, then (for gRPC) the trailers. With nothing queued and
 * the response not finished (a streaming built-in) the stream is deferred until the
 * next append resumes it. */
static ssize_t data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    tdm_h2_stream *s = source->ptr;
    size_t n = 0;
    while (n < length && s->out_head != NULL) {
        tdm_out_chunk *c = s->out_head;
        size_t take = c->len - c->off;
        if (take > length - n)
            take = length - n;
        memcpy(buf + n, c->data + c->off, take);
        c->off += take;
        n += take;
        if (c->off == c->len) {
            s->out_head = c->next;
            if (s->out_head == NULL)
                s->out_tail = NULL;
        }
    }
    if (s->out_head == NULL) {
        if (s->out_finished) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
            if (s->trailers != NULL) {
                /* gRPC status goes in trailers: end DATA without END_STREAM, then the
                 * trailing HEADERS frame carries it. */
                *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
                if (nghttp2_submit_trailer(session, stream_id, s->trailers, s->n_trailers) != 0)
                    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
            }
        } else if (n == 0) {
            s->data_deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    return (ssize_t)n;
}

static int out_push(tdm_h2_stream *s, const uint8_t *data, size_t len)
{
    tdm_out_chunk *c = tdm_arena_alloc(s->arena, sizeof(*c));
    if (c == NULL)
        return -1;
    c->next = NULL;
    c->data = data;
    c->len = len;
    c->off = 0;
    if (s->out_tail != NULL)
        s->out_tail->next = c;
    else
        s->out_head = c;
    s->out_tail = c;
    return 0;
}

static int submit_grpc_headers(tdm_h2_stream *s)
{
    nghttp2_nv nv[] = {
        MAKE_NV(":status", "200", 3),
        MAKE_NV("content-type", "application/grpc", 16),
        MAKE_NV("grpc-accept-encoding", "identity", 8),
    };
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = data_read};
    s->headers_sent = true;
    return nghttp2_submit_response(s->conn->h2, s->id, nv, 3, &dp);
}

int tdm_h2_grpc_append(tdm_h2_stream *s, const uint8_t *msg, size_t len, bool owned)
{
    if (s->conn == NULL || s->out_finished || len > UINT32_MAX)
        return -1;
    stream_output_queued(s);
    uint8_t *prefix = tdm_arena_alloc(s->arena, TDM_GRPC_HEADER_BYTES);
    const uint8_t *body = owned || len == 0 ? msg : tdm_arena_memdup(s->arena, msg, len);
    if (prefix == NULL || (len > 0 && body == NULL))
        return -1;
    tdm_grpc_prefix(prefix, (uint32_t)len);
    if (out_push(s, prefix, TDM_GRPC_HEADER_BYTES) != 0 || (len > 0 && out_push(s, body, len) != 0))
        return -1;
    if (!s->headers_sent)
        return submit_grpc_headers(s) == 0 ? 0 : -1;
    if (s->data_deferred) {
        s->data_deferred = false;
        nghttp2_session_resume_data(s->conn->h2, s->id);
    }
    return 0;
}

void tdm_h2_grpc_finish(tdm_h2_stream *s, tdm_code code, const char *message,
                        const char *details_b64)
{
    if (s->conn == NULL || s->out_finished)
        return;
    s->out_finished = true;
    s->state = TDM_STREAM_RESPONDED;
    stream_output_queued(s);
    char *status = tdm_arena_printf(s->arena, "%d", (int)code);
    char *msg = message != NULL && message[0] != '\0' && code != TDM_OK
                    ? tdm_grpc_message_encode(s->arena, message)
                    : NULL;
    nghttp2_nv *nv = tdm_arena_alloc(s->arena, (6 + s->n_response_md) * sizeof(*nv));
    if (status == NULL || nv == NULL) {
        nghttp2_submit_rst_stream(s->conn->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    size_t n = 0;
    bool trailers_only = !s->headers_sent;
    if (trailers_only) {
        /* Trailers-Only: one HEADERS frame with END_STREAM carrying :status,
         * content-type and the status. */
        nv[n++] = MAKE_NV(":status", "200", 3);
        nv[n++] = MAKE_NV("content-type", "application/grpc", 16);
    }
    size_t first_trailer = n;
    nv[n++] = MAKE_NV("grpc-status", status, strlen(status));
    if (msg != NULL)
        nv[n++] = MAKE_NV("grpc-message", msg, strlen(msg));
    if (details_b64 != NULL)
        nv[n++] = MAKE_NV("grpc-status-details-bin", details_b64, strlen(details_b64));
    for (size_t i = 0; i < s->n_response_md; i++) {
        const tdm_http_header *h = &s->response_md[i];
        nv[n++] = (nghttp2_nv){(uint8_t *)h->name, (uint8_t *)h->value, strlen(h->name),
                               strlen(h->value), NGHTTP2_NV_FLAG_NONE};
    }
    if (trailers_only) {
        s->headers_sent = true;
        nghttp2_submit_response(s->conn->h2, s->id, nv, n, NULL);
        return;
    }
    s->trailers = nv + first_trailer;
    s->n_trailers = n - first_trailer;
    if (s->data_deferred) {
        s->data_deferred = false;
        nghttp2_session_resume_data(s->conn->h2, s->id);
    }
}

void tdm_h2_grpc_finish_status(tdm_h2_stream *s, const tdm_status *st)
{
    char *details = st->n_violations > 0 ? tdm_grpc_status_details_encode(s->arena, st) : NULL;
    tdm_h2_grpc_finish(s, st->code, st->message, details);
}

static char *lower_dup(tdm_arena *a, const char *name)
{
    char *out = tdm_arena_strdup(a, name);
    if (out == NULL)
        return NULL;
    for (char *p = out; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return out;
}

void tdm_h2_http_respond(tdm_h2_stream *s, int status, const char *content_type, const void *body,
                         size_t len, const tdm_http_header *headers, size_t n_headers,
                         const char *request_id)
{
    if (s->conn == NULL || s->out_finished)
        return;
    s->out_finished = true;
    s->state = TDM_STREAM_RESPONDED;
    stream_output_queued(s);
    nghttp2_nv *nv = tdm_arena_alloc(s->arena, (4 + n_headers) * sizeof(*nv));
    char *st = tdm_arena_printf(s->arena, "%d", status);
    char *cl = tdm_arena_printf(s->arena, "%zu", len);
    const uint8_t *copy = len > 0 ? tdm_arena_memdup(s->arena, body, len) : NULL;
    if (nv == NULL || st == NULL || cl == NULL || (len > 0 && copy == NULL)) {
        nghttp2_submit_rst_stream(s->conn->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    size_t n = 0;
    nv[n++] = MAKE_NV(":status", st, strlen(st));
    if (content_type != NULL)
        nv[n++] = MAKE_NV("content-type", content_type, strlen(content_type));
    nv[n++] = MAKE_NV("content-length", cl, strlen(cl));
    if (request_id != NULL)
        nv[n++] = MAKE_NV("x-request-id", request_id, strlen(request_id));
    for (size_t i = 0; i < n_headers; i++) {
        /* HTTP/2 header names must be lower case; handlers write them as in HTTP/1.1. */
        char *name = lower_dup(s->arena, headers[i].name);
        if (name == NULL)
            continue;
        nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)headers[i].value, strlen(name),
                               strlen(headers[i].value), NGHTTP2_NV_FLAG_NONE};
    }
    s->headers_sent = true;
    if (len == 0) {
        nghttp2_submit_response(s->conn->h2, s->id, nv, n, NULL);
        return;
    }
    out_push(s, copy, len);
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = data_read};
    nghttp2_submit_response(s->conn->h2, s->id, nv, n, &dp);
}

/* Answer a stream before any handler sees it. */
static void refuse_grpc(tdm_h2_stream *s, tdm_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse_grpc(tdm_h2_stream *s, tdm_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = tdm_arena_vprintf(s->arena, fmt, ap);
    va_end(ap);
    s->kind = TDM_STREAM_REFUSED;
    if (s->call != NULL) {
        /* A call waiting for its admission: it answers, and counts, when it ends. */
        tdm_call_refuse(s->call, code, msg);
        return;
    }
    tdm_call_metrics(s->srv, s->service_label, s->method_label, code, s->start_ns);
    tdm_h2_grpc_finish(s, code, msg, NULL);
}

static void refuse_http(tdm_h2_stream *s, int status, const char *text)
{
    s->kind = TDM_STREAM_REFUSED;
    tdm_h2_http_respond(s, status, "text/plain; charset=utf-8", text, strlen(text), NULL, 0, NULL);
}

/* ---- Request headers -------------------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    tdm_conn *conn = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    tdm_arena *a = tdm_arena_new(0);
    tdm_h2_stream *s = a != NULL ? tdm_arena_calloc(a, 1, sizeof(*s)) : NULL;
    if (s == NULL) {
        tdm_arena_free(a);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->arena = a;
    s->srv = conn->srv;
    s->conn = conn;
    s->id = frame->hd.stream_id;
    s->owner_done = true;
    s->health_last = -1;
    s->start_ns = tdm_now_ns();
    s->next = conn->streams;
    if (conn->streams != NULL)
        conn->streams->prev = s;
    conn->streams = s;
    conn->n_streams++;
    conn->srv->alive++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static int add_header(tdm_h2_stream *s, const uint8_t *name, size_t namelen, const uint8_t *value,
                      size_t valuelen)
{
    if (s->n_headers == s->cap_headers) {
        size_t cap = s->cap_headers == 0 ? 16 : s->cap_headers * 2;
        tdm_http_header *grown = tdm_arena_alloc(s->arena, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        if (s->n_headers > 0)
            memcpy(grown, s->headers, s->n_headers * sizeof(*grown));
        s->headers = grown;
        s->cap_headers = cap;
    }
    char *n = tdm_arena_strndup(s->arena, (const char *)name, namelen);
    char *v = tdm_arena_strndup(s->arena, (const char *)value, valuelen);
    if (n == NULL || v == NULL)
        return -1;
    s->headers[s->n_headers].name = n;
    s->headers[s->n_headers].value = v;
    s->n_headers++;
    if (strcmp(n, "content-type") == 0)
        s->content_type = v;
    else if (strcmp(n, "te") == 0)
        s->te = v;
    else if (strcmp(n, "grpc-timeout") == 0)
        s->timeout = v;
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    tdm_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL || frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* request trailers carry nothing we use */
    /* RFC 9113 section 6.5.2: each field counts its name, value and 32 bytes. */
    s->header_bytes += namelen + valuelen + 32;
    if (s->header_bytes > TDM_MAX_HEADER_LIST_BYTES) {
        s->headers_too_large = true;
        return 0;
    }
    if (namelen > 0 && name[0] == ':') {
        char *v = tdm_arena_strndup(s->arena, (const char *)value, valuelen);
        if (v == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (namelen == 7 && memcmp(name, ":method", 7) == 0)
            s->method = v;
        else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
            s->path = v;
        else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0)
            s->scheme = v;
        else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
            s->authority = v;
        return 0;
    }
    return add_header(s, name, namelen, value, valuelen) == 0
               ? 0
               : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int grpc_on_message(void *arg, const uint8_t *msg, size_t len)
{
    tdm_h2_stream *s = arg;
    if (s->kind == TDM_STREAM_BUILTIN) {
        s->builtin->on_message(s, msg, len);
        return 0;
    }
    /* Unary: exactly one request message. */
    if (++s->n_msgs > 1)
        return -1;
    s->msg = msg;
    s->msg_len = len;
    return 0;
}

static bool grpc_content_type_ok(const char *ct)
{
    const char *rest = ct + strlen("application/grpc");
    return rest[0] == '\0' || rest[0] == ';' || strcmp(rest, "+proto") == 0 ||
           strncmp(rest, "+proto;", 7) == 0;
}

/* The request's Content-Length, when it has one. */
static bool content_length(const tdm_h2_stream *s, uint64_t *out)
{
    for (size_t i = 0; i < s->n_headers; i++) {
        if (strcmp(s->headers[i].name, "content-length") != 0)
            continue;
        char *end;
        unsigned long long v = strtoull(s->headers[i].value, &end, 10);
        if (end == s->headers[i].value || *end != '\0')
            return false;
        *out = v;
        return true;
    }
    return false;
}

static void start_http(tdm_h2_stream *s)
{
    tdm_http_request *req = tdm_arena_calloc(s->arena, 1, sizeof(*req));
    if (req == NULL) {
        refuse_http(s, 500, "out of memory\n");
        return;
    }
    req->srv = s->srv;
    req->arena = s->arena;
    req->version = 2;
    req->stream = s;
    req->method = s->method;
    req->headers = s->headers;
    req->n_headers = s->n_headers;
    req->start_ns = s->start_ns;
    s->kind = TDM_STREAM_HTTP;
    s->req = req;
    s->owner_done = false;
    if (tdm_http_request_init(req, s->path) != 0) {
        tdm_http_respond(req, 500, "text/plain", "out of memory\n", 14, NULL, 0);
        return;
    }
    s->max_body = tdm_http_request_on_headers(req);
    if (req->state != TDM_HTTP_REQ_RECEIVING)
        return; /* answered from the headers (404, 405, ...) */
    /* As over HTTP/1.1: a body announced over the limit is refused before any of it
     * is read. nghttp2 has checked the value's syntax and will hold the DATA to it. */
    uint64_t announced;
    if (content_length(s, &announced) && announced > s->max_body)
        tdm_http_request_too_large(req);
}

static void headers_done(tdm_h2_stream *s)
{
    tdm_server *srv = s->srv;
    const char *ct = s->content_type;
    bool grpc_ct = ct != NULL && strncmp(ct, "application/grpc", 16) == 0;
    if (s->path == NULL || s->method == NULL) {
        refuse_http(s, 400, "missing :path or :method\n");
        return;
    }
    const tdm_srv_service *svc = NULL;
    const tdm_srv_method *m = tdm_server_find_method(srv, s->path, &svc);
    const tdm_builtin_method *b = tdm_builtin_find(srv, s->path);
    if (!grpc_ct && m == NULL && b == NULL) {
        if (s->headers_too_large) {
            refuse_http(s, 431, "request headers too large\n");
            return;
        }
        start_http(s);
        return;
    }
    /* A gRPC path, or a gRPC content type: only application/grpc[+proto] is served. */
    if (!grpc_ct || !grpc_content_type_ok(ct)) {
        refuse_http(s, 415, "unsupported content-type\n");
        return;
    }
    if (b != NULL) {
        s->service_label = b->service;
        s->method_label = b->method;
    } else if (m != NULL) {
        s->service_label = svc->def->descriptor->name;
        s->method_label = m->desc->name;
    } else {
        s->service_label = "unknown";
        s->method_label = "unknown";
    }
    if (s->headers_too_large) {
        refuse_grpc(s, TDM_RESOURCE_EXHAUSTED, "request metadata larger than %u bytes",
                    TDM_MAX_HEADER_LIST_BYTES);
        return;
    }
    if (strcmp(s->method, "POST") != 0) {
        refuse_http(s, 405, "gRPC requires POST\n");
        return;
    }
    if (b != NULL) {
        s->kind = TDM_STREAM_BUILTIN;
        s->builtin = b;
        tdm_deframer_init(&s->deframer, s->arena, TDM_MAX_MESSAGE_BYTES, grpc_on_message, s);
        return;
    }
    if (m == NULL) {
        const char *slash = strchr(s->path + 1, '/');
        if (svc == NULL)
            refuse_grpc(s, TDM_UNIMPLEMENTED, "unknown service %.*s",
                        slash != NULL ? (int)(slash - s->path - 1) : (int)strlen(s->path + 1),
                        s->path + 1);
        else
            refuse_grpc(s, TDM_UNIMPLEMENTED, "unknown method %s for service %s",
                        slash != NULL ? slash + 1 : "", svc->def->descriptor->name);
        return;
    }
    s->svc = svc;
    s->rpc = m;
    s->kind = TDM_STREAM_GRPC;
    tdm_status *st = tdm_call_check_headers(s);
    if (st != NULL) {
        tdm_call_metrics(srv, s->service_label, s->method_label, st->code, s->start_ns);
        s->kind = TDM_STREAM_REFUSED;
        tdm_h2_grpc_finish_status(s, st);
        tdm_status_free(st);
        return;
    }
    tdm_deframer_init(&s->deframer, s->arena, m->max_request_bytes, grpc_on_message, s);
    if (svc->def->admit != NULL)
        tdm_call_begin_admission(s);
}

/* ---- Admission: reading held while a call's credentials are checked ----------------------- */

void tdm_h2_hold_read(tdm_h2_stream *s)
{
    tdm_conn *conn = s->conn;
    if (s->holds_read || conn == NULL)
        return;
    s->holds_read = true;
    tdm_conn_hold_read(conn);
}

void tdm_h2_release_read(tdm_h2_stream *s)
{
    tdm_conn *conn = s->conn;
    if (!s->holds_read)
        return;
    s->holds_read = false;
    if (conn != NULL)
        tdm_conn_release_read(conn);
}

/* While its admission is pending a call keeps at most TDM_ADMIT_BUFFER_BYTES of its
 * message (plus what the current read brought): then the connection stops reading,
 * so an unauthenticated client cannot make the process hold its megabytes. */
static void admission_bound(tdm_h2_stream *s)
{
    if (s->call == NULL || s->call->admission != TDM_ADMISSION_PENDING)
        return;
    size_t buffered = s->deframer.have + (s->msg != NULL ? s->msg_len : 0);
    if (buffered >= TDM_ADMIT_BUFFER_BYTES)
        tdm_h2_hold_read(s);
}

/* ---- Request bodies ----------------------------------------------------------------------- */

static void grpc_data(tdm_h2_stream *s, const uint8_t *data, size_t len)
{
    tdm_deframe_result r = tdm_deframer_feed(&s->deframer, data, len);
    switch (r) {
    case TDM_DEFRAME_OK:
        admission_bound(s);
        return;
    case TDM_DEFRAME_TOO_LARGE:
        /* Refused on the prefix alone; the rest of the body is dropped as it comes
         * and the client is told to stop with RST_STREAM(NO_ERROR) after the status. */
        refuse_grpc(s, TDM_RESOURCE_EXHAUSTED, "request message larger than max (%u vs. %zu bytes)",
                    s->deframer.announced, s->deframer.max_bytes);
        return;
    case TDM_DEFRAME_COMPRESSED:
        refuse_grpc(s, TDM_UNIMPLEMENTED, "compressed messages are not supported");
        return;
    case TDM_DEFRAME_NO_MEMORY:
        refuse_grpc(s, TDM_RESOURCE_EXHAUSTED, "out of memory");
        return;
    case TDM_DEFRAME_STOPPED:
        if (s->kind == TDM_STREAM_GRPC)
            refuse_grpc(s, TDM_INTERNAL, "more than one request message for a unary method");
        return;
    }
}

static void http_data(tdm_h2_stream *s, const uint8_t *data, size_t len)
{
    if (s->req == NULL || s->req->state != TDM_HTTP_REQ_RECEIVING)
        return;
    if (s->req->refused_status != 0 || len > s->max_body - s->body_len ||
        s->body_len > s->max_body) {
        /* From here on counted, not kept (drain_data); the 413 may be held back by a
         * pending admission (then it goes out when the admission ends). */
        s->body_len += len;
        if (s->req->refused_status == 0)
            tdm_http_request_too_large(s->req);
        return;
    }
    if (s->body_len + len > s->body_cap) {
        size_t cap = s->body_cap == 0 ? 4096 : s->body_cap * 2;
        while (cap < s->body_len + len)
            cap *= 2;
        if (cap > s->max_body)
            cap = s->max_body;
        uint8_t *grown = tdm_arena_alloc(s->arena, cap);
        if (grown == NULL) {
            tdm_http_respond(s->req, 500, "text/plain", "out of memory\n", 14, NULL, 0);
            return;
        }
        if (s->body_len > 0)
            memcpy(grown, s->body, s->body_len);
        s->body = grown;
        s->body_cap = cap;
    }
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
    tdm_http_request_body_grew(s->req, s->body_len);
}

/* ---- Early answers ------------------------------------------------------------------------ */

/* Whether the upload of a stream answered early may still be drained (see the top
 * of the file): only HTTP streams, and only while what was received, and what
 * Content-Length announces, stay within the route's limit plus H2_DRAIN_BYTES. */
static bool drain_allowed(const tdm_h2_stream *s)
{
    if (s->kind != TDM_STREAM_HTTP)
        return false;
    uint64_t limit = (uint64_t)s->max_body + H2_DRAIN_BYTES;
    uint64_t announced;
    if (content_length(s, &announced) && announced > limit)
        return false;
    return s->body_len <= limit;
}

/* Tell a client still sending to stop: RST_STREAM(NO_ERROR) after the response. The
 * stream becomes REFUSED so that it is reset once only. */
static void stop_upload(nghttp2_session *session, tdm_h2_stream *s)
{
    s->kind = TDM_STREAM_REFUSED;
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
}

/* DATA of an HTTP stream already answered: counted in body_len, dropped. Once over
 * the drain allowance, the upload is stopped, if the response is out already
 * (otherwise on_frame_send does it after the response's last frame: a reset queued
 * earlier would go out before the response and discard it). */
static void drain_data(nghttp2_session *session, tdm_h2_stream *s, size_t len)
{
    s->body_len += len;
    if (!drain_allowed(s) && nghttp2_session_get_stream_local_close(session, s->id) == 1)
        stop_upload(session, s);
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
    tdm_h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s == NULL)
        return 0;
    if (s->state == TDM_STREAM_RESPONDED && s->kind == TDM_STREAM_HTTP) {
        drain_data(session, s, len);
        return 0;
    }
    if (s->state != TDM_STREAM_RECEIVING)
        return 0;
    if (s->kind == TDM_STREAM_GRPC || s->kind == TDM_STREAM_BUILTIN)
        grpc_data(s, data, len);
    else if (s->kind == TDM_STREAM_HTTP)
        http_data(s, data, len);
    return 0;
}

static void request_end(tdm_h2_stream *s)
{
    s->end_stream = true;
    if (s->state != TDM_STREAM_RECEIVING)
        return;
    switch (s->kind) {
    case TDM_STREAM_GRPC:
        if (!tdm_deframer_idle(&s->deframer)) {
            refuse_grpc(s, TDM_INTERNAL, "request ended inside a message");
            return;
        }
        if (s->n_msgs == 0) {
            refuse_grpc(s, TDM_INTERNAL, "request without a message");
            return;
        }
        s->state = TDM_STREAM_DISPATCHED;
        tdm_call_start(s);
        return;
    case TDM_STREAM_BUILTIN:
        if (!tdm_deframer_idle(&s->deframer)) {
            refuse_grpc(s, TDM_INTERNAL, "request ended inside a message");
            return;
        }
        if (s->builtin->on_end != NULL)
            s->builtin->on_end(s);
        else if (!s->out_finished) {
            tdm_call_metrics(s->srv, s->service_label, s->method_label, TDM_OK, s->start_ns);
            tdm_h2_grpc_finish(s, TDM_OK, NULL, NULL);
        }
        return;
    case TDM_STREAM_HTTP:
        if (s->req != NULL && s->req->state == TDM_HTTP_REQ_RECEIVING) {
            s->state = TDM_STREAM_DISPATCHED;
            s->req->body = s->body;
            s->req->body_len = s->body_len;
            tdm_http_request_dispatch(s->req);
        }
        return;
    case TDM_STREAM_PENDING:
    case TDM_STREAM_REFUSED:
        return;
    }
}

/* ---- Floods ------------------------------------------------------------------------------- */

/* A token bucket per frame type: `burst` frames at once, `rate` per second after. */
static bool flood_take(tdm_flood_bucket *b, uint64_t now_ms, double burst, double rate)
{
    double refill = (double)(now_ms - b->last_ms) * rate / 1000.0;
    b->last_ms = now_ms;
    b->tokens = b->tokens + refill > burst ? burst : b->tokens + refill;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

static void flood_detected(tdm_conn *conn, const char *what)
{
    tdm_log_fields(TDM_LOG_WARN, NULL, "http2 flood: closing the connection", "frame", what, NULL);
    /* GOAWAY(ENHANCE_YOUR_CALM); nghttp2 stops processing the peer's frames and the
     * connection closes once the GOAWAY is written. */
    nghttp2_session_terminate_session(conn->h2, NGHTTP2_ENHANCE_YOUR_CALM);
    tdm_conn_pause_read(conn);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    tdm_conn *conn = user_data;
    uint64_t now = uv_now(conn->srv->loop);
    tdm_h2_stream *s;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (s == NULL)
            return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
            headers_done(s);
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
            request_end(s);
        return 0;
    case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
            if (s != NULL)
                request_end(s);
        }
        return 0;
    case NGHTTP2_RST_STREAM:
        /* nghttp2 1.52 has no rapid-reset limiter (CVE-2023-44487): count them. */
        if (!flood_take(&conn->rst_bucket, now, TDM_FLOOD_RST_BURST, TDM_FLOOD_RST_PER_SECOND))
            flood_detected(conn, "RST_STREAM");
        return 0;
    case NGHTTP2_PING:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) &&
            !flood_take(&conn->ping_bucket, now, TDM_FLOOD_PING_BURST, TDM_FLOOD_PING_PER_SECOND))
            flood_detected(conn, "PING");
        return 0;
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) &&
            !flood_take(&conn->settings_bucket, now, TDM_FLOOD_SETTINGS_BURST,
                        TDM_FLOOD_SETTINGS_PER_SECOND))
            flood_detected(conn, "SETTINGS");
        return 0;
    default:
        return 0;
    }
}

/* After the last frame of a response, a client still sending (answered early) is
 * told to stop with RST_STREAM(NO_ERROR), as RFC 9113 section 8.1 allows, unless
 * its upload may still be drained. */
static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    tdm_h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL)
        return 0;
    /* The response moved: the send-stall clock starts again. */
    s->send_progress_ms = uv_now(s->srv->loop);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->end_stream && !drain_allowed(s))
        stop_upload(session, s);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    tdm_h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        stream_detach(s);
    }
    return 0;
}

/* ---- Session ------------------------------------------------------------------------------- */

static int init_callbacks(void)
{
    if (server_callbacks != NULL)
        return 0;
    if (nghttp2_session_callbacks_new(&server_callbacks) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(server_callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(server_callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(server_callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(server_callbacks, on_frame_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(server_callbacks, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(server_callbacks, on_stream_close);
    if (nghttp2_option_new(&server_options) != 0)
        return -1;
    /* Bound what a peer can make us queue: ACKs to PING/SETTINGS floods, entries per
     * SETTINGS frame; closed streams are not kept for priority. */
    nghttp2_option_set_max_outbound_ack(server_options, TDM_H2_MAX_OUTBOUND_ACK);
    nghttp2_option_set_max_settings(server_options, TDM_H2_MAX_SETTINGS_ENTRIES);
    nghttp2_option_set_no_closed_streams(server_options, 1);
    nghttp2_option_set_max_send_header_block_length(server_options, 64 * 1024);
    return 0;
}

int tdm_h2_conn_start(tdm_conn *conn, const uint8_t *data, size_t len)
{
    if (init_callbacks() != 0)
        return -1;
    if (nghttp2_session_server_new2(&conn->h2, server_callbacks, conn, server_options) != 0)
        return -1;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, TDM_MAX_CONCURRENT_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, TDM_H2_STREAM_WINDOW_BYTES},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, TDM_MAX_HEADER_LIST_BYTES},
    };
    if (nghttp2_submit_settings(conn->h2, NGHTTP2_FLAG_NONE, settings, 3) != 0 ||
        nghttp2_session_set_local_window_size(conn->h2, NGHTTP2_FLAG_NONE, 0,
                                              TDM_H2_CONN_WINDOW_BYTES) != 0)
        return -1;
    uint64_t now = uv_now(conn->srv->loop);
    conn->rst_bucket = (tdm_flood_bucket){TDM_FLOOD_RST_BURST, now};
    conn->ping_bucket = (tdm_flood_bucket){TDM_FLOOD_PING_BURST, now};
    conn->settings_bucket = (tdm_flood_bucket){TDM_FLOOD_SETTINGS_BURST, now};
    if (conn->srv->state >= TDM_SERVER_DRAINING)
        tdm_h2_goaway(conn);
    return tdm_h2_conn_read(conn, data, len);
}

int tdm_h2_conn_read(tdm_conn *conn, const uint8_t *data, size_t len)
{
    conn->busy++;
    ssize_t rv = nghttp2_session_mem_recv(conn->h2, data, len);
    conn->busy--;
    if (rv < 0) {
        tdm_log(TDM_LOG_DEBUG, NULL, "http2 receive failed: %s", nghttp2_strerror((int)rv));
        tdm_conn_close(conn);
        return -1;
    }
    if (conn->close_requested) {
        tdm_conn_close(conn);
        return -1;
    }
    tdm_h2_flush(conn);
    return 0;
}
