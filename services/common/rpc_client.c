/*
 * rpc_client.c - the gRPC client services use to call their peers (server.h,
 * "The client"): one HTTP/2 connection per peer, opened lazily, multiplexing
 * concurrent unary calls; reconnection with exponential backoff; per-call deadline
 * (sent as grpc-timeout, enforced by a timer that resets the stream) and metadata;
 * the request context, request id and remaining deadline are propagated.
 *
 * States of the client: IDLE (no connection) → RESOLVING → CONNECTING → READY; a
 * failure to connect fails the waiting calls with UNAVAILABLE and enters BACKOFF,
 * during which new calls fail fast with UNAVAILABLE (as gRPC's default fail-fast
 * calls do) until the timer returns it to IDLE. A connection that the peer closes or
 * GOAWAYs is detached: its calls finish or fail on it, new calls open a new one.
 *
 * Every call completes exactly once through its callback, never from inside
 * tdm_rpc_client_call itself (early failures go through the call's zero-delay timer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"
#include "tandem/rpc_client.h"
#include "transport_internal.h"

#define CLIENT_BACKOFF_FIRST_MS 100u
#define CLIENT_BACKOFF_MAX_MS   5000u
#define CLIENT_MAX_HEADERS      64u /* request metadata entries */

typedef enum client_state {
    CLIENT_IDLE = 0,
    CLIENT_RESOLVING,
    CLIENT_CONNECTING,
    CLIENT_READY,
    CLIENT_BACKOFF,
    CLIENT_CLOSING,
} client_state;

typedef struct cconn cconn;
typedef struct ccall ccall;

struct tdm_rpc_client {
    uv_loop_t *loop;
    tdm_addr peer;
    char *name;
    char *authority;
    client_state state;
    cconn *conn; /* the connection new calls go to (READY), or being opened */
    uv_getaddrinfo_t gai;
    uv_timer_t backoff_timer;
    uint32_t backoff_ms;
    ccall *waiting; /* calls waiting for the connection (singly linked, FIFO) */
    ccall *waiting_tail;
    cconn *conns;   /* every connection not yet closed, current or detached */
    size_t n_calls; /* calls not yet freed */
    size_t n_conns; /* connections not yet freed */
    int handles;    /* backoff timer */
    void (*close_done)(void *arg);
    void *close_arg;
};

typedef enum cconn_state {
    CCONN_CONNECTING = 0,
    CCONN_OPEN,
    CCONN_DETACHED, /* GOAWAY or replaced: finishes its streams, takes no new calls */
    CCONN_CLOSED,
} cconn_state;

struct cconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    tdm_rpc_client *client;
    cconn_state state;
    nghttp2_session *h2;
    cconn *prev, *next; /* client->conns */
    ccall *calls;       /* calls on this connection's streams */
    size_t n_streams;
    int busy;
    bool close_requested;
    size_t write_pending;
};

typedef enum ccall_state {
    CCALL_WAITING = 0, /* for a connection */
    CCALL_ACTIVE,      /* on a stream */
    CCALL_DONE,        /* callback ran; memory goes when the timer has closed */
} ccall_state;

struct ccall {
    tdm_rpc_client *client;
    ccall_state state;
    ccall *next;              /* client->waiting */
    ccall *on_prev, *on_next; /* conn->calls */
    cconn *conn;
    int32_t stream_id;
    tdm_arena *arena; /* the call's own memory (headers, request, response bytes) */
    nghttp2_nv *nv;
    size_t n_nv;
    const uint8_t *req;
    size_t req_len, req_off;
    /* Response. */
    int http_status;
    bool grpc_ct;
    int grpc_status; /* -1 until seen */
    char *grpc_message;
    uint8_t *details;
    size_t details_len;
    tdm_http_header *md;
    size_t n_md, cap_md;
    tdm_deframer deframer;
    const uint8_t *resp;
    size_t resp_len;
    size_t n_resp;
    tdm_code local_code; /* set when we end the call ourselves */
    const char *local_message;
    /* Completion. */
    uv_timer_t timer;
    bool fail_now; /* the timer fires to fail the call (UNAVAILABLE) */
    const ProtobufCMessageDescriptor *output;
    tdm_arena *user_arena;
    tdm_rpc_client_cb cb;
    tdm_rpc_client_raw_cb raw_cb;
    void *arg;
};

static nghttp2_session_callbacks *client_callbacks;

static void client_connect(tdm_rpc_client *c);
static void cconn_flush(cconn *cc);
static void cconn_close(cconn *cc);
static void client_maybe_done(tdm_rpc_client *c);

/* ---- Completion --------------------------------------------------------------------------- */

static void on_call_timer_closed(uv_handle_t *h)
{
    ccall *call = h->data;
    tdm_rpc_client *c = call->client;
    tdm_arena_free(call->arena);
    free(call);
    c->n_calls--;
    client_maybe_done(c);
}

static tdm_code code_from_http(int status)
{
    /* gRPC's mapping for responses that are not gRPC (doc/http-grpc-status-mapping.md). */
    switch (status) {
    case 400:
        return TDM_INTERNAL;
    case 401:
        return TDM_UNAUTHENTICATED;
    case 403:
        return TDM_PERMISSION_DENIED;
    case 404:
        return TDM_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return TDM_UNAVAILABLE;
    default:
        return TDM_UNKNOWN;
    }
}

/* The status of a finished call, from what arrived (or why it did not). */
static tdm_status *call_status(ccall *call)
{
    if (call->local_code != TDM_OK)
        return tdm_status_new(call->local_code, "%s", call->local_message);
    if (call->grpc_status >= 0) {
        if (call->grpc_status == TDM_OK)
            return NULL;
        tdm_code code =
            call->grpc_status <= TDM_CODE_MAX ? (tdm_code)call->grpc_status : TDM_UNKNOWN;
        tdm_status *st =
            tdm_status_new(code, "%s", call->grpc_message != NULL ? call->grpc_message : "");
        if (call->details != NULL)
            tdm_grpc_status_details_decode(st, call->details, call->details_len);
        return st;
    }
    if (call->http_status != 0 && call->http_status != 200)
        return tdm_status_new(code_from_http(call->http_status), "peer answered HTTP %d",
                              call->http_status);
    if (call->http_status == 0)
        return tdm_status_new(TDM_UNAVAILABLE, "connection to %s lost", call->client->name);
    return tdm_status_new(TDM_INTERNAL, "response from %s without grpc-status", call->client->name);
}

static void call_complete(ccall *call)
{
    if (call->state == CCALL_DONE)
        return;
    call->state = CCALL_DONE;
    tdm_status *st = call_status(call);
    if (st == NULL && call->n_resp != 1)
        st = tdm_status_new(TDM_INTERNAL, "unary response with %zu messages", call->n_resp);
    if (call->raw_cb != NULL) {
        tdm_rpc_metadata md = {.n = call->n_md, .entries = call->md};
        call->raw_cb(call->arg, st, st == NULL ? call->resp : NULL, st == NULL ? call->resp_len : 0,
                     &md);
    } else {
        ProtobufCMessage *msg = NULL;
        if (st == NULL) {
            msg = protobuf_c_message_unpack(call->output,
                                            tdm_arena_protobuf_allocator(call->user_arena),
                                            call->resp_len, call->resp);
            if (msg == NULL)
                st = tdm_status_new(TDM_INTERNAL, "response from %s could not be decoded as %s",
                                    call->client->name, call->output->name);
        }
        call->cb(call->arg, st, msg);
    }
    uv_timer_stop(&call->timer);
    uv_close((uv_handle_t *)&call->timer, on_call_timer_closed);
}

static void call_unlink(ccall *call)
{
    cconn *cc = call->conn;
    if (cc == NULL)
        return;
    if (call->on_prev != NULL)
        call->on_prev->on_next = call->on_next;
    else
        cc->calls = call->on_next;
    if (call->on_next != NULL)
        call->on_next->on_prev = call->on_prev;
    call->on_prev = call->on_next = NULL;
    cc->n_streams--;
    call->conn = NULL;
}

static void call_fail_local(ccall *call, tdm_code code, const char *message)
{
    if (call->local_code == TDM_OK) {
        call->local_code = code;
        call->local_message = message;
    }
}

/* Deadline, or an early failure scheduled with a zero timeout. */
static void on_call_timer(uv_timer_t *t)
{
    ccall *call = t->data;
    if (call->state == CCALL_DONE)
        return;
    call_fail_local(call, call->fail_now ? TDM_UNAVAILABLE : TDM_DEADLINE_EXCEEDED,
                    call->fail_now ? "peer unavailable" : "deadline exceeded");
    if (call->state == CCALL_ACTIVE && call->conn != NULL && call->conn->h2 != NULL) {
        /* The stream is reset; on_stream_close completes the call. */
        cconn *cc = call->conn;
        nghttp2_submit_rst_stream(cc->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
        cconn_flush(cc);
        return;
    }
    if (call->state == CCALL_WAITING) {
        tdm_rpc_client *c = call->client;
        ccall **pp = &c->waiting;
        c->waiting_tail = NULL;
        while (*pp != NULL) {
            if (*pp == call)
                *pp = call->next;
            else {
                c->waiting_tail = *pp;
                pp = &(*pp)->next;
            }
        }
    }
    call_complete(call);
}

static void call_fail_soon(ccall *call)
{
    call->fail_now = true;
    uv_timer_start(&call->timer, on_call_timer, 0, 0);
}

/* ---- Connection: writes and reads ---------------------------------------------------------- */

typedef struct cwrite {
    uv_write_t req;
    cconn *cc;
    size_t len;
    uint8_t data[];
} cwrite;

static void on_cwrite(uv_write_t *req, int status)
{
    cwrite *w = (cwrite *)req;
    cconn *cc = w->cc;
    cc->write_pending -= w->len;
    free(w);
    if (cc->state == CCONN_CLOSED)
        return;
    if (status < 0) {
        cconn_close(cc);
        return;
    }
    if (cc->write_pending < TDM_WRITE_LOW_WATER_BYTES)
        cconn_flush(cc);
}

static int cwrite_send(cconn *cc, cwrite *w)
{
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    w->cc = cc;
    cc->write_pending += w->len;
    if (uv_write(&w->req, (uv_stream_t *)&cc->tcp, &buf, 1, on_cwrite) != 0) {
        cc->write_pending -= w->len;
        free(w);
        return -1;
    }
    return 0;
}

/* Same discipline as the server: copy mem_send's frames into bounded writes. */
static void cconn_flush(cconn *cc)
{
    if (cc->busy > 0 || cc->state == CCONN_CLOSED || cc->state == CCONN_CONNECTING ||
        cc->h2 == NULL)
        return;
    cc->busy++;
    cwrite *w = NULL;
    size_t cap = 0;
    bool failed = false;
    while (!failed && cc->write_pending < TDM_WRITE_HIGH_WATER_BYTES) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(cc->h2, &data);
        if (n <= 0) {
            failed = n < 0;
            break;
        }
        if (w != NULL && cap - w->len < (size_t)n) {
            failed = cwrite_send(cc, w) != 0;
            w = NULL;
        }
        if (w == NULL && !failed) {
            cap = (size_t)n > TDM_WRITE_CHUNK_BYTES ? (size_t)n : TDM_WRITE_CHUNK_BYTES;
            w = malloc(sizeof(*w) + cap);
            if (w == NULL) {
                failed = true;
                break;
            }
            w->len = 0;
        }
        if (!failed) {
            memcpy(w->data + w->len, data, (size_t)n);
            w->len += (size_t)n;
        }
    }
    if (w != NULL && !failed && w->len > 0)
        failed = cwrite_send(cc, w) != 0;
    else if (w != NULL)
        free(w);
    cc->busy--;
    if (failed || cc->close_requested) {
        cconn_close(cc);
        return;
    }
    if (!nghttp2_session_want_read(cc->h2) && !nghttp2_session_want_write(cc->h2) &&
        cc->write_pending == 0)
        cconn_close(cc);
}

static void on_cconn_closed(uv_handle_t *h)
{
    cconn *cc = h->data;
    tdm_rpc_client *c = cc->client;
    free(cc);
    c->n_conns--;
    client_maybe_done(c);
}

/* The connection is gone: every call on it completes (UNAVAILABLE unless it had
 * its status already), the client forgets it. */
static void cconn_close(cconn *cc)
{
    if (cc->state == CCONN_CLOSED)
        return;
    if (cc->busy > 0) {
        cc->close_requested = true;
        return;
    }
    tdm_rpc_client *c = cc->client;
    cc->state = CCONN_CLOSED;
    if (cc->prev != NULL)
        cc->prev->next = cc->next;
    else
        c->conns = cc->next;
    if (cc->next != NULL)
        cc->next->prev = cc->prev;
    if (c->conn == cc) {
        c->conn = NULL;
        if (c->state != CLIENT_CLOSING && c->state != CLIENT_BACKOFF)
            c->state = CLIENT_IDLE;
    }
    if (cc->h2 != NULL) {
        nghttp2_session *h2 = cc->h2;
        cc->h2 = NULL;
        /* nghttp2_session_del runs no callbacks: complete the streams' calls here. */
        while (cc->calls != NULL) {
            ccall *call = cc->calls;
            call_unlink(call);
            call_fail_local(call, TDM_UNAVAILABLE, "connection to peer lost");
            call_complete(call);
        }
        nghttp2_session_del(h2);
    }
    if (!uv_is_closing((uv_handle_t *)&cc->tcp))
        uv_close((uv_handle_t *)&cc->tcp, on_cconn_closed);
}

static void on_cconn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static uint8_t read_buf[TDM_READ_BUFFER_BYTES];
    *buf = uv_buf_init((char *)read_buf, sizeof(read_buf));
}

static void on_cconn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cconn *cc = s->data;
    if (nread == 0 || cc->state == CCONN_CLOSED)
        return;
    if (nread < 0) {
        cconn_close(cc);
        return;
    }
    cc->busy++;
    ssize_t rv = nghttp2_session_mem_recv(cc->h2, (const uint8_t *)buf->base, (size_t)nread);
    cc->busy--;
    if (rv < 0 || cc->close_requested) {
        cconn_close(cc);
        return;
    }
    cconn_flush(cc);
}

/* ---- nghttp2 callbacks ---------------------------------------------------------------------- */

static int response_message(void *arg, const uint8_t *msg, size_t len)
{
    ccall *call = arg;
    if (++call->n_resp > 1)
        return -1;
    call->resp = msg;
    call->resp_len = len;
    return 0;
}

static int cl_on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user_data)
{
    ccall *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (call == NULL)
        return 0;
    const char *n = (const char *)name;
    const char *v = (const char *)value;
    if (namelen == 7 && memcmp(n, ":status", 7) == 0) {
        call->http_status = atoi(v);
    } else if (namelen == 12 && memcmp(n, "content-type", 12) == 0) {
        call->grpc_ct = valuelen >= 16 && memcmp(v, "application/grpc", 16) == 0;
    } else if (namelen == 11 && memcmp(n, "grpc-status", 11) == 0) {
        call->grpc_status = atoi(v);
    } else if (namelen == 12 && memcmp(n, "grpc-message", 12) == 0) {
        call->grpc_message = tdm_grpc_message_decode(call->arena, v, valuelen);
    } else if (namelen == 23 && memcmp(n, "grpc-status-details-bin", 23) == 0) {
        call->details = tdm_base64_decode(call->arena, v, valuelen, &call->details_len);
    } else if (n[0] != ':' && call->n_md < CLIENT_MAX_HEADERS) {
        if (call->n_md == call->cap_md) {
            size_t cap = call->cap_md == 0 ? 8 : call->cap_md * 2;
            tdm_http_header *grown = tdm_arena_alloc(call->arena, cap * sizeof(*grown));
            if (grown == NULL)
                return 0;
            if (call->n_md > 0)
                memcpy(grown, call->md, call->n_md * sizeof(*grown));
            call->md = grown;
            call->cap_md = cap;
        }
        call->md[call->n_md].name = tdm_arena_strndup(call->arena, n, namelen);
        call->md[call->n_md].value = tdm_arena_strndup(call->arena, v, valuelen);
        if (call->md[call->n_md].name != NULL && call->md[call->n_md].value != NULL)
            call->n_md++;
    }
    return 0;
}

static int cl_on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                            const uint8_t *data, size_t len, void *user_data)
{
    ccall *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (call == NULL || call->local_code != TDM_OK)
        return 0;
    tdm_deframe_result r = tdm_deframer_feed(&call->deframer, data, len);
    if (r == TDM_DEFRAME_OK)
        return 0;
    call_fail_local(call,
                    r == TDM_DEFRAME_TOO_LARGE    ? TDM_RESOURCE_EXHAUSTED
                    : r == TDM_DEFRAME_COMPRESSED ? TDM_INTERNAL
                                                  : TDM_INTERNAL,
                    r == TDM_DEFRAME_TOO_LARGE ? "response message too large"
                                               : "invalid response message");
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    return 0;
}

static int cl_on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *user_data)
{
    ccall *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (call == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    call_unlink(call);
    if (error_code != NGHTTP2_NO_ERROR && call->grpc_status < 0)
        call_fail_local(call, TDM_UNAVAILABLE,
                        error_code == NGHTTP2_REFUSED_STREAM ? "stream refused by peer"
                                                             : "stream reset by peer");
    call_complete(call);
    return 0;
}

static int cl_on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    cconn *cc = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        /* The peer is draining: new calls go to a new connection. */
        tdm_rpc_client *c = cc->client;
        if (cc->state == CCONN_OPEN)
            cc->state = CCONN_DETACHED;
        if (c->conn == cc) {
            c->conn = NULL;
            if (c->state == CLIENT_READY)
                c->state = CLIENT_IDLE;
        }
    }
    return 0;
}

static ssize_t cl_data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    ccall *call = source->ptr;
    size_t n = call->req_len - call->req_off;
    if (n > length)
        n = length;
    memcpy(buf, call->req + call->req_off, n);
    call->req_off += n;
    if (call->req_off == call->req_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---- Connecting ----------------------------------------------------------------------------- */

static void call_submit(cconn *cc, ccall *call)
{
    nghttp2_data_provider dp = {.source.ptr = call, .read_callback = cl_data_read};
    int32_t id = nghttp2_submit_request(cc->h2, NULL, call->nv, call->n_nv, &dp, call);
    if (id < 0) {
        call_fail_local(call, TDM_UNAVAILABLE, "could not start the call");
        call_fail_soon(call);
        return;
    }
    call->state = CCALL_ACTIVE;
    call->conn = cc;
    call->stream_id = id;
    call->on_prev = NULL;
    call->on_next = cc->calls;
    if (cc->calls != NULL)
        cc->calls->on_prev = call;
    cc->calls = call;
    cc->n_streams++;
}

static void client_backoff_done(uv_timer_t *t)
{
    tdm_rpc_client *c = t->data;
    if (c->state == CLIENT_BACKOFF)
        c->state = CLIENT_IDLE;
}

static void client_connect_failed(tdm_rpc_client *c, const char *why)
{
    tdm_log_fields(TDM_LOG_WARN, NULL, "peer unreachable", "peer", c->name, "error", why, NULL);
    while (c->waiting != NULL) {
        ccall *call = c->waiting;
        c->waiting = call->next;
        call_fail_soon(call);
        call->state = CCALL_ACTIVE; /* no longer in the waiting list */
        call->conn = NULL;
    }
    c->waiting_tail = NULL;
    if (c->state == CLIENT_CLOSING)
        return;
    /* Exponential backoff with +-20% jitter, so restarted peers are not stampeded. */
    uint32_t jitter = c->backoff_ms / 5;
    uint32_t delay =
        c->backoff_ms - jitter + (jitter > 0 ? (uint32_t)rand() % (2 * jitter + 1) : 0);
    c->backoff_ms =
        c->backoff_ms * 2 > CLIENT_BACKOFF_MAX_MS ? CLIENT_BACKOFF_MAX_MS : c->backoff_ms * 2;
    c->state = CLIENT_BACKOFF;
    uv_timer_start(&c->backoff_timer, client_backoff_done, delay, 0);
}

static void on_cconn_connected(uv_connect_t *req, int status)
{
    cconn *cc = req->data;
    tdm_rpc_client *c = cc->client;
    if (cc->state == CCONN_CLOSED)
        return;
    if (status < 0) {
        cconn_close(cc);
        client_connect_failed(c, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&cc->tcp, 1);
    if (nghttp2_session_client_new(&cc->h2, client_callbacks, cc) != 0) {
        cconn_close(cc);
        client_connect_failed(c, "out of memory");
        return;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, TDM_H2_STREAM_WINDOW_BYTES},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
    };
    nghttp2_submit_settings(cc->h2, NGHTTP2_FLAG_NONE, settings, 3);
    nghttp2_session_set_local_window_size(cc->h2, NGHTTP2_FLAG_NONE, 0, TDM_H2_CONN_WINDOW_BYTES);
    cc->state = CCONN_OPEN;
    c->state = CLIENT_READY;
    c->backoff_ms = CLIENT_BACKOFF_FIRST_MS;
    while (c->waiting != NULL) {
        ccall *call = c->waiting;
        c->waiting = call->next;
        call_submit(cc, call);
    }
    c->waiting_tail = NULL;
    uv_read_start((uv_stream_t *)&cc->tcp, on_cconn_alloc, on_cconn_read);
    cconn_flush(cc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    tdm_rpc_client *c = req->data;
    c->handles--;
    if (c->state == CLIENT_CLOSING) {
        uv_freeaddrinfo(res);
        client_maybe_done(c);
        return;
    }
    if (status < 0 || res == NULL) {
        uv_freeaddrinfo(res);
        c->state = CLIENT_IDLE;
        client_connect_failed(c, uv_strerror(status));
        return;
    }
    cconn *cc = calloc(1, sizeof(*cc));
    if (cc == NULL) {
        uv_freeaddrinfo(res);
        client_connect_failed(c, "out of memory");
        return;
    }
    cc->client = c;
    cc->state = CCONN_CONNECTING;
    uv_tcp_init(c->loop, &cc->tcp);
    cc->tcp.data = cc;
    cc->connect.data = cc;
    c->n_conns++;
    cc->next = c->conns;
    if (c->conns != NULL)
        c->conns->prev = cc;
    c->conns = cc;
    c->conn = cc;
    c->state = CLIENT_CONNECTING;
    int rc = uv_tcp_connect(&cc->connect, &cc->tcp, res->ai_addr, on_cconn_connected);
    uv_freeaddrinfo(res);
    if (rc != 0) {
        cc->state = CCONN_OPEN;
        cconn_close(cc);
        client_connect_failed(c, uv_strerror(rc));
    }
}

static void client_connect(tdm_rpc_client *c)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", c->peer.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->state = CLIENT_RESOLVING;
    if (uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->peer.host, port, &hints) != 0) {
        c->state = CLIENT_IDLE;
        client_connect_failed(c, "cannot resolve");
        return;
    }
    c->handles++;
}

/* ---- Public API ------------------------------------------------------------------------------ */

static int init_client_callbacks(void)
{
    if (client_callbacks != NULL)
        return 0;
    if (nghttp2_session_callbacks_new(&client_callbacks) != 0)
        return -1;
    nghttp2_session_callbacks_set_on_header_callback(client_callbacks, cl_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(client_callbacks, cl_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(client_callbacks, cl_on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(client_callbacks, cl_on_frame_recv);
    return 0;
}

tdm_rpc_client *tdm_rpc_client_new(uv_loop_t *loop, const tdm_addr *peer, const char *peer_name)
{
    if (init_client_callbacks() != 0)
        return NULL;
    tdm_rpc_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->peer = *peer;
    c->name = strdup(peer_name != NULL ? peer_name : peer->host);
    size_t alen = strlen(peer->host) + 16;
    c->authority = malloc(alen);
    if (c->name == NULL || c->authority == NULL) {
        free(c->name);
        free(c->authority);
        free(c);
        return NULL;
    }
    snprintf(c->authority, alen, strchr(peer->host, ':') != NULL ? "[%s]:%d" : "%s:%d", peer->host,
             peer->port);
    c->backoff_ms = CLIENT_BACKOFF_FIRST_MS;
    uv_timer_init(loop, &c->backoff_timer);
    c->backoff_timer.data = c;
    c->handles = 1;
    return c;
}

static void client_free_now(tdm_rpc_client *c)
{
    void (*done)(void *) = c->close_done;
    void *arg = c->close_arg;
    free(c->name);
    free(c->authority);
    free(c);
    if (done != NULL)
        done(arg);
}

static void client_maybe_done(tdm_rpc_client *c)
{
    if (c->state == CLIENT_CLOSING && c->n_calls == 0 && c->n_conns == 0 && c->handles == 0)
        client_free_now(c);
}

static void on_backoff_closed(uv_handle_t *h)
{
    tdm_rpc_client *c = h->data;
    c->handles--;
    client_maybe_done(c);
}

void tdm_rpc_client_close(tdm_rpc_client *client, void (*done)(void *arg), void *arg)
{
    tdm_rpc_client *c = client;
    if (c->state == CLIENT_CLOSING)
        return;
    bool resolving = c->state == CLIENT_RESOLVING;
    c->state = CLIENT_CLOSING;
    c->close_done = done;
    c->close_arg = arg;
    while (c->waiting != NULL) {
        ccall *call = c->waiting;
        c->waiting = call->next;
        call->state = CCALL_ACTIVE;
        call_fail_local(call, TDM_UNAVAILABLE, "client closed");
        call_complete(call);
    }
    c->waiting_tail = NULL;
    if (resolving)
        uv_cancel((uv_req_t *)&c->gai);
    cconn *next;
    for (cconn *cc = c->conns; cc != NULL; cc = next) {
        /* A connection inside its own callbacks closes when they return. */
        next = cc->next;
        cconn_close(cc);
    }
    uv_close((uv_handle_t *)&c->backoff_timer, on_backoff_closed);
}

void tdm_rpc_client_reset(tdm_rpc_client *client, const char *reason)
{
    tdm_rpc_client *c = client;
    if (c->state == CLIENT_CLOSING)
        return;
    tdm_log_fields(TDM_LOG_WARN, NULL, "dropping the connection to a peer", "peer", c->name,
                   "reason", reason, NULL);
    /* Waiting calls fail through their zero-delay timer, as when a connect fails: never
     * from inside the caller's own stack. */
    while (c->waiting != NULL) {
        ccall *call = c->waiting;
        c->waiting = call->next;
        call_fail_local(call, TDM_UNAVAILABLE, reason);
        call_fail_soon(call);
        call->state = CCALL_ACTIVE; /* no longer in the waiting list */
        call->conn = NULL;
    }
    c->waiting_tail = NULL;
    cconn *next;
    for (cconn *cc = c->conns; cc != NULL; cc = next) {
        next = cc->next;
        for (ccall *call = cc->calls; call != NULL; call = call->on_next)
            call_fail_local(call, TDM_UNAVAILABLE, reason);
        /* Completes the calls on it (UNAVAILABLE, with the reason set above); a
         * connection inside its own callbacks closes when they return. */
        cconn_close(cc);
    }
}

/* Common part of both call forms: the call record, its headers, its deadline. */
static ccall *call_new(tdm_rpc_client *c, const char *path, const tdm_call_context *ctx,
                       uint64_t deadline_ms, const tdm_http_header *extra, size_t n_extra)
{
    if (c->state == CLIENT_CLOSING || n_extra > CLIENT_MAX_HEADERS)
        return NULL;
    tdm_arena *a = tdm_arena_new(0);
    ccall *call = calloc(1, sizeof(*call));
    if (a == NULL || call == NULL) {
        tdm_arena_free(a);
        free(call);
        return NULL;
    }
    call->client = c;
    call->arena = a;
    call->grpc_status = -1;
    tdm_deframer_init(&call->deframer, a, TDM_MAX_BATCH_MESSAGE_BYTES, response_message, call);
    /* The deadline: the sooner of the caller's and the incoming call's. */
    uint64_t deadline = ctx != NULL ? ctx->deadline_ms : 0;
    if (deadline_ms != 0 && (deadline == 0 || deadline_ms < deadline))
        deadline = deadline_ms;
    uint64_t now = uv_now(c->loop);
    call->nv = tdm_arena_calloc(a, 10 + n_extra, sizeof(*call->nv));
    char *timeout = NULL;
    if (deadline != 0) {
        timeout = tdm_arena_alloc(a, 24);
        if (timeout != NULL)
            tdm_grpc_timeout_format(deadline > now ? (int64_t)(deadline - now) : 0, timeout, 24);
    }
    char *ctx_b64 = NULL;
    if (ctx != NULL && ctx->tenant_id != NULL)
        ctx_b64 = tdm_grpc_context_encode(a, ctx, deadline != 0 ? (int64_t)(deadline - now) : -1);
    char *p = tdm_arena_strdup(a, path);
    if (call->nv == NULL || p == NULL || (deadline != 0 && timeout == NULL)) {
        tdm_arena_free(a);
        free(call);
        return NULL;
    }
#define NV(NAME, VALUE)                                                                            \
    (call->nv[call->n_nv++] = (nghttp2_nv){(uint8_t *)(NAME), (uint8_t *)(VALUE), strlen(NAME),    \
                                           strlen(VALUE), NGHTTP2_NV_FLAG_NONE})
    NV(":method", "POST");
    NV(":scheme", "http");
    NV(":path", p);
    NV(":authority", c->authority);
    NV("content-type", "application/grpc");
    NV("te", "trailers");
    NV("user-agent", "tandem-rpc/1");
    if (timeout != NULL)
        NV("grpc-timeout", timeout);
    if (ctx != NULL && ctx->request_id != NULL)
        NV("x-request-id", ctx->request_id);
    if (ctx_b64 != NULL)
        NV(TDM_CONTEXT_METADATA_KEY, ctx_b64);
    for (size_t i = 0; i < n_extra; i++)
        NV(extra[i].name, extra[i].value);
#undef NV
    uv_timer_init(c->loop, &call->timer);
    call->timer.data = call;
    c->n_calls++;
    if (deadline != 0)
        uv_timer_start(&call->timer, on_call_timer, deadline > now ? deadline - now : 0, 0);
    return call;
}

static int call_go(ccall *call)
{
    tdm_rpc_client *c = call->client;
    if (c->state == CLIENT_BACKOFF) {
        call->state = CCALL_ACTIVE;
        call_fail_soon(call);
        return 0;
    }
    if (c->state == CLIENT_READY && c->conn != NULL && c->conn->state == CCONN_OPEN) {
        call_submit(c->conn, call);
        cconn_flush(c->conn);
        return 0;
    }
    call->state = CCALL_WAITING;
    if (c->waiting_tail != NULL)
        c->waiting_tail->next = call;
    else
        c->waiting = call;
    c->waiting_tail = call;
    if (c->state == CLIENT_IDLE)
        client_connect(c);
    return 0;
}

int tdm_rpc_client_call(tdm_rpc_client *client, const ProtobufCServiceDescriptor *service,
                        const char *method, const ProtobufCMessage *request,
                        const tdm_call_context *ctx, uint64_t deadline_ms, tdm_arena *arena,
                        tdm_rpc_client_cb cb, void *arg)
{
    return tdm_rpc_client_call_with(client, service, method, request, ctx, deadline_ms, NULL, 0,
                                    arena, cb, arg);
}

int tdm_rpc_client_call_with(tdm_rpc_client *client, const ProtobufCServiceDescriptor *service,
                             const char *method, const ProtobufCMessage *request,
                             const tdm_call_context *ctx, uint64_t deadline_ms,
                             const tdm_http_header *metadata, size_t n_metadata, tdm_arena *arena,
                             tdm_rpc_client_cb cb, void *arg)
{
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(service, method);
    if (md == NULL || cb == NULL || arena == NULL)
        return -1;
    char path[512];
    int n = snprintf(path, sizeof(path), "/%s/%s", service->name, method);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -1;
    size_t size = protobuf_c_message_get_packed_size(request);
    if (size > TDM_MAX_BATCH_MESSAGE_BYTES)
        return -1;
    ccall *call = call_new(client, path, ctx, deadline_ms, metadata, n_metadata);
    if (call == NULL)
        return -1;
    uint8_t *buf = tdm_arena_alloc(call->arena, TDM_GRPC_HEADER_BYTES + size);
    if (buf == NULL) {
        call_fail_local(call, TDM_RESOURCE_EXHAUSTED, "out of memory");
        call->state = CCALL_ACTIVE;
        call_fail_soon(call);
        call->cb = cb;
        call->arg = arg;
        call->output = md->output;
        call->user_arena = arena;
        return 0;
    }
    tdm_grpc_prefix(buf, (uint32_t)size);
    protobuf_c_message_pack(request, buf + TDM_GRPC_HEADER_BYTES);
    call->req = buf;
    call->req_len = TDM_GRPC_HEADER_BYTES + size;
    call->output = md->output;
    call->user_arena = arena;
    call->cb = cb;
    call->arg = arg;
    return call_go(call);
}

int tdm_rpc_client_call_raw(tdm_rpc_client *client, const char *path, const uint8_t *message,
                            size_t len, const tdm_http_header *metadata, size_t n_metadata,
                            uint64_t deadline_ms, tdm_rpc_client_raw_cb cb, void *arg)
{
    if (cb == NULL || path == NULL || len > TDM_MAX_BATCH_MESSAGE_BYTES)
        return -1;
    ccall *call = call_new(client, path, NULL, deadline_ms, metadata, n_metadata);
    if (call == NULL)
        return -1;
    uint8_t *buf = tdm_arena_alloc(call->arena, TDM_GRPC_HEADER_BYTES + len);
    call->raw_cb = cb;
    call->arg = arg;
    if (buf == NULL) {
        call_fail_local(call, TDM_RESOURCE_EXHAUSTED, "out of memory");
        call->state = CCALL_ACTIVE;
        call_fail_soon(call);
        return 0;
    }
    tdm_grpc_prefix(buf, (uint32_t)len);
    if (len > 0)
        memcpy(buf + TDM_GRPC_HEADER_BYTES, message, len);
    call->req = buf;
    call->req_len = TDM_GRPC_HEADER_BYTES + len;
    return call_go(call);
}
