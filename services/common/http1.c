/*
 * http1.c - HTTP/1.1 connections with http-parser 2.9 (strict): keep-alive and
 * pipelining, one request at a time.
 *
 * Smuggling: a request carrying both Content-Length and Transfer-Encoding, or two
 * Content-Lengths, is refused (400) and the connection closed, so no front proxy
 * and Tandem can disagree on where a request ends. Headers are bounded
 * (TDM_MAX_HEADER_LIST_BYTES, 431) and must arrive within header_timeout_ms
 * (server.c's connection timer); the body is bounded by what the handler's
 * on_headers allows (413 before it is buffered when Content-Length says so).
 *
 * An answer given before the body was read (413, 401, 400) is followed by a
 * lingering close (H1_LINGER_MS): the rest of the body is read and dropped, so a
 * client that writes its whole body before reading still sees the answer.
 *
 * Pipelining: when a request is complete the parser is paused and reading stops;
 * bytes already read stay in `pending` and are parsed once the response is queued,
 * so responses leave in request order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tandem/log.h"
#include "transport_internal.h"

#define H1_MAX_HEADERS 100u

typedef enum tdm_h1_state {
    TDM_H1_IDLE = 0,  /* between requests */
    TDM_H1_HEADERS,   /* request line and headers arriving */
    TDM_H1_BODY,      /* body arriving */
    TDM_H1_WAITING,   /* complete and with the handler, or answered early */
    TDM_H1_LINGERING, /* answered before its body was read: the rest is read and
                         dropped, then the connection closes (RFC 9112 section 9.6) */
    TDM_H1_DEAD,      /* protocol error answered; closing */
} tdm_h1_state;

/* Lingering close: after an early answer (413, 401 on a large body, 400), what the
 * client still sends is read and dropped - up to the request's body limit plus
 * H1_LINGER_EXTRA_BYTES, for at most H1_LINGER_MS - before the connection closes.
 * Closing with unread bytes in the socket makes the kernel send a reset, which
 * destroys the answer at a client that writes its whole body before reading. */
#define H1_LINGER_EXTRA_BYTES (8u * 1024u * 1024u)
#define H1_LINGER_MS          5000u

struct tdm_h1 {
    http_parser parser;
    tdm_conn *conn;
    tdm_h1_state state;
    tdm_http_request *req;
    bool responded; /* the current request has been answered */
    bool has_body;  /* the current request announced a body */
    bool keep_alive;
    bool pumping;
    uint64_t request_start_ms;
    /* When the first byte arrived since the last request ended (0: none yet). The
     * header timeout counts from here, so bytes that do not begin a request (blank
     * lines, which http-parser skips before a request line) cannot hold a
     * connection open by dripping. */
    uint64_t preamble_start_ms;
    /* Request line and headers, NUL-separated, bounded. */
    char hbuf[TDM_MAX_HEADER_LIST_BYTES + 1];
    size_t hlen;
    size_t name_off[H1_MAX_HEADERS], value_off[H1_MAX_HEADERS];
    size_t n_headers;
    bool in_value;
    bool too_large;
    /* Body in the request arena. */
    uint8_t *body;
    size_t body_len, body_cap, max_body;
    /* Bytes read after a complete request. */
    uint8_t *pending;
    size_t pending_len;
    /* TDM_H1_LINGERING: bytes still to be dropped before closing, and since when. */
    size_t linger_left;
    uint64_t linger_start_ms;
};

static http_parser_settings h1_settings;

static void h1_pump(tdm_h1 *h);

/* ---- Responses ------------------------------------------------------------------------------ */

static void request_free(tdm_http_request *req)
{
    tdm_server *srv = req->srv;
    if (req->counted) {
        req->counted = false;
        srv->in_flight--;
    }
    tdm_arena_free(req->arena);
    tdm_server_release(srv);
}

/* The answer is queued; read and drop what the client still sends (see
 * H1_LINGER_MS) instead of closing on unread bytes. */
static void h1_linger(tdm_h1 *h, size_t limit)
{
    tdm_conn *conn = h->conn;
    h->state = TDM_H1_LINGERING;
    h->linger_left = limit + H1_LINGER_EXTRA_BYTES;
    h->linger_start_ms = uv_now(conn->srv->loop);
    tdm_conn_look_within(conn, H1_LINGER_MS);
    free(h->pending);
    h->pending = NULL;
    h->pending_len = 0;
    tdm_conn_resume_read(conn);
}

/* Bytes arriving while lingering: dropped; past the allowance the connection closes
 * (once the answer is out). */
static void h1_linger_drop(tdm_h1 *h, size_t len)
{
    if (len < h->linger_left) {
        h->linger_left -= len;
        return;
    }
    h->linger_left = 0;
    h->state = TDM_H1_DEAD;
    tdm_conn_close_after_write(h->conn);
}

/* A protocol-level refusal, outside any handler. */
static void h1_fail(tdm_h1 *h, int status)
{
    tdm_conn *conn = h->conn;
    char head[160];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status,
                     tdm_status_text(status));
    h->state = TDM_H1_DEAD;
    if (h->req != NULL) {
        tdm_http_metrics(conn->srv, h->req, status);
        request_free(h->req);
        h->req = NULL;
    }
    tdm_conn_write(conn, head, (size_t)n);
    /* The request may go on arriving: let the client read the refusal. */
    h1_linger(h, h->max_body > 0 ? h->max_body : TDM_HTTP_MAX_BODY_DEFAULT);
}

static bool header_value_safe(const char *v)
{
    return strpbrk(v, "\r\n") == NULL;
}

void tdm_h1_respond(tdm_http_request *req, int status, const char *content_type, const void *body,
                    size_t len, const tdm_http_header *headers, size_t n_headers)
{
    tdm_conn *conn = req->conn;
    if (conn == NULL || conn->state == TDM_CONN_CLOSING) {
        request_free(req);
        return;
    }
    tdm_h1 *h = conn->h1;
    /* Keep-alive only when the request was read to its end (or has no body): an
     * unread body cannot be skipped safely. */
    bool keep = h->keep_alive && conn->srv->state == TDM_SERVER_RUNNING &&
                (h->state == TDM_H1_WAITING || (h->state == TDM_H1_BODY && !h->has_body));
    size_t cap =
        256 + len + strlen(req->request_id) + (content_type != NULL ? strlen(content_type) : 0);
    for (size_t i = 0; i < n_headers; i++)
        cap += strlen(headers[i].name) + strlen(headers[i].value) + 4;
    char *out = tdm_arena_alloc(req->arena, cap);
    if (out == NULL) {
        h->responded = true;
        h->req = NULL;
        request_free(req);
        h1_fail(h, 500);
        return;
    }
    int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nX-Request-Id: %s\r\n%s",
                     status, tdm_status_text(status), len, req->request_id,
                     keep ? "" : "Connection: close\r\n");
    size_t o = (size_t)n;
    if (content_type != NULL)
        o += (size_t)snprintf(out + o, cap - o, "Content-Type: %s\r\n", content_type);
    for (size_t i = 0; i < n_headers; i++) {
        if (!header_value_safe(headers[i].name) || !header_value_safe(headers[i].value))
            continue;
        o += (size_t)snprintf(out + o, cap - o, "%s: %s\r\n", headers[i].name, headers[i].value);
    }
    out[o++] = '\r';
    out[o++] = '\n';
    if (len > 0) {
        memcpy(out + o, body, len);
        o += len;
    }
    tdm_conn_write(conn, out, o);
    h->responded = true;
    h->req = NULL;
    request_free(req);
    if (!keep && h->state == TDM_H1_BODY && h->has_body) {
        /* Answered before its body was read: the rest is read and dropped first. */
        h1_linger(h, h->max_body);
        return;
    }
    if (!keep) {
        /* Anything pipelined after this request is not read: the connection closes
         * once the response is out. */
        h->state = TDM_H1_DEAD;
        tdm_conn_close_after_write(conn);
        return;
    }
    if (h->state == TDM_H1_WAITING)
        h1_pump(h);
}

/* ---- Parser callbacks ------------------------------------------------------------------------ */

static int hbuf_append(tdm_h1 *h, const char *at, size_t len)
{
    if (len > sizeof(h->hbuf) - 1 - h->hlen) {
        h->too_large = true;
        return -1;
    }
    memcpy(h->hbuf + h->hlen, at, len);
    h->hlen += len;
    return 0;
}

/* NUL-terminate the piece being built; the terminator counts against the limit. */
static int hbuf_terminate(tdm_h1 *h)
{
    return hbuf_append(h, "", 1);
}

static int on_message_begin(http_parser *p)
{
    tdm_h1 *h = p->data;
    h->state = TDM_H1_HEADERS;
    h->request_start_ms =
        h->preamble_start_ms != 0 ? h->preamble_start_ms : uv_now(h->conn->srv->loop);
    h->preamble_start_ms = 0;
    h->hlen = 0;
    h->n_headers = 0;
    h->in_value = false;
    h->too_large = false;
    h->body = NULL;
    h->body_len = h->body_cap = 0;
    h->responded = false;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    return hbuf_append(p->data, at, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    tdm_h1 *h = p->data;
    if (h->n_headers == 0 || h->in_value) {
        if (hbuf_terminate(h) != 0)
            return -1;
        if (h->n_headers == H1_MAX_HEADERS) {
            h->too_large = true;
            return -1;
        }
        h->name_off[h->n_headers++] = h->hlen;
        h->in_value = false;
    }
    return hbuf_append(h, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    tdm_h1 *h = p->data;
    if (!h->in_value) {
        if (hbuf_terminate(h) != 0)
            return -1;
        h->value_off[h->n_headers - 1] = h->hlen;
        h->in_value = true;
    }
    return hbuf_append(h, at, len);
}

static int build_request(tdm_h1 *h)
{
    tdm_server *srv = h->conn->srv;
    tdm_arena *a = tdm_arena_new(0);
    tdm_http_request *req = a != NULL ? tdm_arena_calloc(a, 1, sizeof(*req)) : NULL;
    if (req == NULL) {
        tdm_arena_free(a);
        return -1;
    }
    srv->alive++;
    req->arena = a;
    req->srv = srv;
    req->version = 1;
    req->conn = h->conn;
    req->start_ns = tdm_now_ns();
    req->method = http_method_str((enum http_method)h->parser.method);
    h->req = req;
    char *copy = tdm_arena_memdup(a, h->hbuf, h->hlen);
    req->headers = tdm_arena_calloc(a, h->n_headers + 1, sizeof(*req->headers));
    if (copy == NULL || req->headers == NULL)
        return -1;
    for (size_t i = 0; i < h->n_headers; i++) {
        req->headers[i].name = copy + h->name_off[i];
        req->headers[i].value = copy + h->value_off[i];
    }
    req->n_headers = h->n_headers;
    return tdm_http_request_init(req, copy);
}

static int on_headers_complete(http_parser *p)
{
    tdm_h1 *h = p->data;
    if (hbuf_terminate(h) != 0)
        return -1;
    if (h->n_headers > 0 && !h->in_value) {
        /* A field without value cannot come from http-parser; keep offsets sane. */
        h->value_off[h->n_headers - 1] = h->hlen - 1;
    }
    if (build_request(h) != 0) {
        h1_fail(h, 500);
        return -1;
    }
    tdm_http_request *req = h->req;
    size_t n_cl = 0, n_te = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "content-length") == 0)
            n_cl++;
        else if (strcasecmp(req->headers[i].name, "transfer-encoding") == 0)
            n_te++;
    }
    if ((n_cl > 0 && n_te > 0) || n_cl > 1 || n_te > 1) {
        h1_fail(h, 400);
        return -1;
    }
    h->keep_alive = http_should_keep_alive(p) != 0;
    h->has_body =
        (p->flags & F_CHUNKED) || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    h->state = TDM_H1_BODY;
    h->max_body = tdm_http_request_on_headers(req);
    if (h->state == TDM_H1_LINGERING) {
        /* Answered from on_headers, before the limit was known: linger by it. */
        h->linger_left = h->max_body + H1_LINGER_EXTRA_BYTES;
    }
    if (h->responded) {
        /* Answered from on_headers (401, 404, ...): without a body the connection
         * goes on; with one, tdm_h1_respond closed it. */
        return h->has_body ? -1 : 0;
    }
    bool has_body = h->has_body;
    if (p->content_length != ULLONG_MAX && p->content_length > h->max_body) {
        h->keep_alive = false;
        /* Held back while the handler decides on the request: its body is dropped
         * meanwhile (on_body) and reading soon stops. */
        return tdm_http_request_too_large(req) ? 0 : -1;
    }
    if (has_body) {
        const char *expect = tdm_http_header_get(req, "expect");
        if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
            tdm_conn_write(h->conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        if (p->content_length != ULLONG_MAX && p->content_length > 0) {
            h->body = tdm_arena_alloc(req->arena, (size_t)p->content_length);
            if (h->body == NULL) {
                h1_fail(h, 500);
                return -1;
            }
            h->body_cap = (size_t)p->content_length;
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    tdm_h1 *h = p->data;
    tdm_http_request *req = h->req;
    if (req->refused_status != 0)
        return 0; /* refused, the answer held back by a pending admission */
    if (len > h->max_body - h->body_len) {
        h->keep_alive = false;
        return tdm_http_request_too_large(req) ? 0 : -1;
    }
    if (h->body_len + len > h->body_cap) {
        size_t cap = h->body_cap == 0 ? 4096 : h->body_cap * 2;
        while (cap < h->body_len + len)
            cap *= 2;
        if (cap > h->max_body)
            cap = h->max_body;
        uint8_t *grown = tdm_arena_alloc(req->arena, cap);
        if (grown == NULL) {
            h1_fail(h, 500);
            return -1;
        }
        if (h->body_len > 0)
            memcpy(grown, h->body, h->body_len);
        h->body = grown;
        h->body_cap = cap;
    }
    memcpy(h->body + h->body_len, at, len);
    h->body_len += len;
    tdm_http_request_body_grew(req, h->body_len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tdm_h1 *h = p->data;
    h->state = TDM_H1_WAITING;
    if (h->req != NULL) {
        h->req->body = h->body;
        h->req->body_len = h->body_len;
    }
    /* One request at a time: the parser stops here; h1_pump dispatches. */
    http_parser_pause(p, 1);
    return 0;
}

/* ---- Driving the parser -------------------------------------------------------------------- */

static int pending_append(tdm_h1 *h, const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    if (h->pending_len + len > TDM_HTTP1_MAX_PIPELINED_BYTES + TDM_READ_BUFFER_BYTES)
        return -1;
    uint8_t *grown = realloc(h->pending, h->pending_len + len);
    if (grown == NULL)
        return -1;
    memcpy(grown + h->pending_len, data, len);
    h->pending = grown;
    h->pending_len += len;
    return 0;
}

/* Parse; bytes after a complete request are kept for later. */
static void h1_execute(tdm_h1 *h, const uint8_t *data, size_t len)
{
    tdm_conn *conn = h->conn;
    conn->busy++;
    size_t n = http_parser_execute(&h->parser, &h1_settings, (const char *)data, len);
    conn->busy--;
    enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);
    if (h->state == TDM_H1_LINGERING) {
        /* Answered from inside the parser: what it did not take is dropped too. */
        if (n < len)
            h1_linger_drop(h, len - n);
    } else if (err == HPE_PAUSED) {
        if (pending_append(h, data + n, len - n) != 0)
            h1_fail(h, 400);
    } else if (err != HPE_OK && h->state != TDM_H1_DEAD) {
        h1_fail(h, h->too_large ? 431 : 400);
    }
    if (conn->close_requested)
        tdm_conn_close(conn);
}

/*
 * Move the connection forward: dispatch a complete request, and once it is answered
 * (keep-alive), parse the pipelined bytes already read; resume reading when there is
 * nothing left to parse. Pipelined requests wait while the write backlog is over
 * TDM_WRITE_HIGH_WATER_BYTES: a client that sends requests and does not read the
 * answers cannot make us hold more than about one response beyond the bound (and
 * the send-stall timeout closes it if the backlog never moves). server.c resumes
 * through tdm_h1_resume once the backlog is under TDM_WRITE_LOW_WATER_BYTES.
 */
static void h1_pump(tdm_h1 *h)
{
    if (h->pumping)
        return;
    h->pumping = true;
    tdm_conn *conn = h->conn;
    while (conn->state == TDM_CONN_OPEN && h->state != TDM_H1_DEAD) {
        if (h->state == TDM_H1_WAITING && h->req != NULL &&
            h->req->state == TDM_HTTP_REQ_RECEIVING) {
            if (!tdm_http_request_dispatch(h->req))
                break; /* its admission is pending: tdm_http_admit dispatches */
            continue;
        }
        if (h->state == TDM_H1_WAITING) {
            if (!h->responded)
                break; /* the handler answers later; tdm_h1_respond pumps again */
            h->state = TDM_H1_IDLE;
            h->preamble_start_ms = 0;
            http_parser_pause(&h->parser, 0);
        }
        if (h->pending_len == 0 || conn->write_pending >= TDM_WRITE_HIGH_WATER_BYTES)
            break;
        uint8_t *buf = h->pending;
        size_t len = h->pending_len;
        h->pending = NULL;
        h->pending_len = 0;
        h1_execute(h, buf, len);
        free(buf);
    }
    h->pumping = false;
    if (conn->state != TDM_CONN_OPEN || h->state == TDM_H1_DEAD)
        return;
    if (h->state == TDM_H1_WAITING || h->pending_len > 0)
        tdm_conn_pause_read(conn);
    else if (!conn->reading)
        tdm_conn_resume_read(conn);
}

void tdm_h1_resume(tdm_conn *conn)
{
    tdm_h1 *h = conn->h1;
    if (h != NULL && conn->state == TDM_CONN_OPEN && h->state != TDM_H1_DEAD)
        h1_pump(h);
}

int tdm_h1_conn_read(tdm_conn *conn, const uint8_t *data, size_t len)
{
    tdm_h1 *h = conn->h1;
    if (h->state == TDM_H1_DEAD)
        return 0;
    if (h->state == TDM_H1_LINGERING) {
        h1_linger_drop(h, len);
        return 0;
    }
    if (h->state == TDM_H1_WAITING || h->pending_len > 0) {
        if (pending_append(h, data, len) != 0) {
            tdm_conn_close(conn);
            return -1;
        }
        tdm_conn_pause_read(conn);
        return 0;
    }
    if (h->state == TDM_H1_IDLE && h->preamble_start_ms == 0 && len > 0)
        h->preamble_start_ms = uv_now(conn->srv->loop);
    h1_execute(h, data, len);
    if (conn->state == TDM_CONN_OPEN)
        h1_pump(h);
    return 0;
}

int tdm_h1_conn_start(tdm_conn *conn)
{
    if (h1_settings.on_message_begin == NULL) {
        h1_settings.on_message_begin = on_message_begin;
        h1_settings.on_url = on_url;
        h1_settings.on_header_field = on_header_field;
        h1_settings.on_header_value = on_header_value;
        h1_settings.on_headers_complete = on_headers_complete;
        h1_settings.on_body = on_body;
        h1_settings.on_message_complete = on_message_complete;
    }
    tdm_h1 *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    h->conn = conn;
    conn->h1 = h;
    return 0;
}

void tdm_h1_conn_free(tdm_conn *conn)
{
    tdm_h1 *h = conn->h1;
    if (h == NULL)
        return;
    tdm_http_request *req = h->req;
    if (req != NULL) {
        req->conn = NULL;
        if (tdm_http_request_with_handler(req)) {
            /* The handler still holds it: it is freed when it responds. */
            tdm_http_request_cancelled(req);
        } else {
            request_free(req);
        }
    }
    free(h->pending);
    free(h);
    conn->h1 = NULL;
}

void tdm_h1_drain(tdm_conn *conn)
{
    tdm_h1 *h = conn->h1;
    if (h == NULL || tdm_h1_conn_idle(conn)) {
        tdm_conn_close(conn);
        return;
    }
    /* The response in progress carries Connection: close (server no longer RUNNING). */
    h->keep_alive = false;
}

bool tdm_h1_conn_idle(const tdm_conn *conn)
{
    const tdm_h1 *h = conn->h1;
    return h == NULL || (h->state == TDM_H1_IDLE && h->pending_len == 0 && h->req == NULL);
}

int64_t tdm_h1_linger_left_ms(const tdm_conn *conn)
{
    const tdm_h1 *h = conn->h1;
    if (h == NULL || h->state != TDM_H1_LINGERING)
        return -1;
    uint64_t spent = uv_now(conn->srv->loop) - h->linger_start_ms;
    return spent >= H1_LINGER_MS ? 0 : (int64_t)(H1_LINGER_MS - spent);
}

int64_t tdm_h1_header_started_ms(const tdm_conn *conn)
{
    const tdm_h1 *h = conn->h1;
    if (h == NULL)
        return -1;
    uint64_t now = uv_now(conn->srv->loop);
    if (h->state == TDM_H1_HEADERS)
        return (int64_t)(now - h->request_start_ms);
    if (h->state == TDM_H1_IDLE && h->preamble_start_ms != 0)
        return (int64_t)(now - h->preamble_start_ms);
    return -1;
}
