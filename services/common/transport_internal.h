/*
 * transport_internal.h - private state of the transport (server.h): the server,
 * its connections, HTTP/2 streams, gRPC calls and HTTP requests, and the helpers the
 * transport files share (gRPC wire format, writes, metrics).
 *
 * Object graph and lifetimes:
 *   tdm_server ─┬─ tdm_conn (one per accepted TCP connection, on srv->conns)
 *               │     ├─ HTTP/2: nghttp2 session + tdm_h2_stream list (conn->streams)
 *               │     └─ HTTP/1.1: tdm_h1 (http-parser) + the current request
 *               └─ registered services (tdm_srv_service) and built-ins (health, reflection)
 *
 * A stream lives in its own arena. For a gRPC stream the tdm_call is allocated in the
 * same arena, for an HTTP stream the tdm_http_request is. The arena is freed when both
 * the transport is done with it (stream closed, or HTTP/1.1 response written) and the
 * handler has completed it; whichever happens last frees it. So a handler may complete
 * a call whose client went away long ago: the completion is simply dropped.
 */
#ifndef TANDEM_TRANSPORT_INTERNAL_H
#define TANDEM_TRANSPORT_INTERNAL_H

#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tandem/arena.h"
#include "tandem/metrics.h"
#include "tandem/server.h"
#include "tandem/status.h"

/* ---- Named limits -------------------------------------------------------------- */

#define TDM_READ_BUFFER_BYTES         (64u * 1024u)
#define TDM_WRITE_CHUNK_BYTES         (64u * 1024u)
#define TDM_WRITE_HIGH_WATER_BYTES    (1024u * 1024u) /* stop reading above this backlog */
#define TDM_WRITE_LOW_WATER_BYTES     (256u * 1024u)  /* resume below this */
#define TDM_WRITE_POOL_MAX            32u             /* pooled 64 KiB write buffers */
#define TDM_H2_STREAM_WINDOW_BYTES    (1024 * 1024)   /* per-stream receive window */
#define TDM_H2_CONN_WINDOW_BYTES      (16 * 1024 * 1024)
#define TDM_H2_MAX_SETTINGS_ENTRIES   32u
#define TDM_H2_MAX_OUTBOUND_ACK       256u
#define TDM_FLOOD_RST_BURST           1000.0 /* resets a client may send at once ... */
#define TDM_FLOOD_RST_PER_SECOND      100.0  /* ... and sustained (token bucket) */
#define TDM_FLOOD_PING_BURST          100.0
#define TDM_FLOOD_PING_PER_SECOND     10.0
#define TDM_FLOOD_SETTINGS_BURST      100.0
#define TDM_FLOOD_SETTINGS_PER_SECOND 10.0
#define TDM_REQUEST_ID_MAX_BYTES      64u
#define TDM_HTTP_MAX_BODY_DEFAULT     (1024u * 1024u)
#define TDM_IDLE_TIMEOUT_MS_DEFAULT   300000u
#define TDM_HEADER_TIMEOUT_MS_DEFAULT 10000u
/* Output that cannot be sent (peer window 0, or a socket that does not drain) for
 * this long ends the stream or the connection (TANDEM_SEND_STALL_TIMEOUT_MS). */
#define TDM_SEND_STALL_TIMEOUT_MS_DEFAULT       20000u
#define TDM_GRPC_HEADER_BYTES                   5u
#define TDM_GRPC_TIMEOUT_MAX_DIGITS             8u
#define TDM_HTTP1_MAX_PIPELINED_BYTES           (64u * 1024u)
#define TDM_RESPONSE_METADATA_MAX               4u /* entries a handler may add to a gRPC status */
#define TDM_MAX_CONNECTIONS_DEFAULT             10000u
#define TDM_MAX_CONNECTIONS_PER_ADDRESS_DEFAULT 256u
#define TDM_ADDRESS_BUCKETS                     1024u /* hash buckets of connections per address */

/* ---- gRPC wire helpers (grpc_wire.c) -------------------------------------------- */

/*
 * Incremental reader of length-prefixed messages (1 byte compressed flag, 4 bytes
 * big-endian length, then the message). The length is checked against max_bytes as
 * soon as the prefix is complete, before anything is buffered.
 */
typedef enum tdm_deframe_state {
    TDM_DEFRAME_PREFIX = 0, /* reading the 5-byte prefix */
    TDM_DEFRAME_BODY,       /* reading `length` bytes into buf */
    TDM_DEFRAME_ERROR,      /* refused; further input is ignored */
} tdm_deframe_state;

typedef enum tdm_deframe_result {
    TDM_DEFRAME_OK = 0,     /* input consumed; maybe messages were delivered */
    TDM_DEFRAME_TOO_LARGE,  /* a prefix announced more than max_bytes */
    TDM_DEFRAME_COMPRESSED, /* compressed flag set: we negotiate identity only */
    TDM_DEFRAME_NO_MEMORY,  /* the arena could not hold the message */
    TDM_DEFRAME_STOPPED,    /* on_message returned non-zero */
} tdm_deframe_result;

typedef struct tdm_deframer {
    tdm_deframe_state state;
    uint8_t prefix[TDM_GRPC_HEADER_BYTES];
    size_t prefix_len;
    uint32_t length;    /* of the message being read */
    uint8_t *buf;       /* in the arena, `length` bytes */
    size_t have;        /* bytes of buf filled */
    size_t max_bytes;   /* largest accepted message */
    uint32_t announced; /* length of the refused message (for the error text) */
    tdm_arena *arena;
    /* Called for every complete message; the bytes live in the arena. */
    int (*on_message)(void *arg, const uint8_t *msg, size_t len);
    void *arg;
} tdm_deframer;

void tdm_deframer_init(tdm_deframer *d, tdm_arena *arena, size_t max_bytes,
                       int (*on_message)(void *arg, const uint8_t *msg, size_t len), void *arg);
tdm_deframe_result tdm_deframer_feed(tdm_deframer *d, const uint8_t *data, size_t len);
/* True between messages (no partial prefix or body pending). */
bool tdm_deframer_idle(const tdm_deframer *d);

/* Write the 5-byte prefix of an uncompressed message of `len` bytes. */
void tdm_grpc_prefix(uint8_t out[TDM_GRPC_HEADER_BYTES], uint32_t len);

/*
 * Parse a grpc-timeout value ("1*8DIGIT unit", unit one of H M S m u n) into
 * milliseconds, rounding sub-millisecond remainders up so that a positive timeout
 * never becomes 0. Returns 0 on success, -1 when malformed.
 */
int tdm_grpc_timeout_parse(const char *value, size_t len, uint64_t *ms);
/* Format a timeout of `ms` milliseconds (>= 0) in at most 8 digits; out >= 16 bytes. */
void tdm_grpc_timeout_format(int64_t ms, char *out, size_t out_len);

/* Percent-encode a grpc-message (bytes outside 0x20..0x7E and '%' become %XX).
 * Returns an arena string (NULL on allocation failure). */
char *tdm_grpc_message_encode(tdm_arena *a, const char *msg);
/* Decode a percent-encoded grpc-message; invalid escapes are kept as they are. */
char *tdm_grpc_message_decode(tdm_arena *a, const char *value, size_t len);

/* Base64 (OpenSSL) for "-bin" metadata. Decode accepts padded and unpadded input.
 * Return arena memory, NULL when malformed or out of memory. */
char *tdm_base64_encode(tdm_arena *a, const uint8_t *data, size_t len);
uint8_t *tdm_base64_decode(tdm_arena *a, const char *text, size_t len, size_t *out_len);

/* grpc-status-details-bin: a google.rpc.Status with a google.rpc.BadRequest detail
 * (grpc_status_details.c). encode returns base64 text in the arena, or NULL when st
 * has no violations. decode adds the violations it finds to st. */
char *tdm_grpc_status_details_encode(tdm_arena *a, const tdm_status *st);
void tdm_grpc_status_details_decode(tdm_status *st, const uint8_t *data, size_t len);

/* Request context metadata (grpc_context.c): fills ctx (strings in the arena) and
 * returns 0, or -1 when the bytes are not a valid RequestContext. The encoder is
 * public (tandem/rpc_client.h). */
int tdm_grpc_context_decode(tdm_arena *a, const uint8_t *data, size_t len, tdm_call_context *ctx);

/* True when a client-supplied request id may be used as is (bounded, printable). */
bool tdm_request_id_acceptable(const char *id, size_t len);

/* ---- Connections and writes (server.c) ---------------------------------------- */

typedef enum tdm_conn_proto {
    TDM_CONN_SNIFFING = 0, /* first bytes not yet seen: h2 preface or HTTP/1.1? */
    TDM_CONN_H2,
    TDM_CONN_HTTP1,
} tdm_conn_proto;

typedef enum tdm_conn_state {
    TDM_CONN_OPEN = 0,
    TDM_CONN_DRAINING, /* GOAWAY sent / no more keep-alive: finish what is in flight */
    TDM_CONN_CLOSING,  /* handles closing; freed by the last close callback */
} tdm_conn_state;

typedef struct tdm_h2_stream tdm_h2_stream;
typedef struct tdm_h1 tdm_h1;

/* A token bucket counting frames a peer may send before it is told to calm down. */
typedef struct tdm_flood_bucket {
    double tokens;
    uint64_t last_ms;
} tdm_flood_bucket;

typedef struct tdm_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle timeout (HTTP/2, HTTP/1.1 keep-alive) and header timeout */
    tdm_server *srv;
    struct tdm_conn *prev, *next; /* srv->conns */
    tdm_conn_proto proto;
    tdm_conn_state state;
    int handles_open;     /* tcp + timer still to close */
    size_t write_pending; /* bytes handed to uv_write, not yet written */
    bool reading;
    bool read_paused; /* by backpressure or an HTTP/1.1 request in progress */
    int busy;         /* inside mem_recv/mem_send: flushing and closing are deferred */
    bool close_requested;
    uint64_t last_activity_ms;
    /* Last time the socket took our bytes (a write completed), or when write_pending
     * became non-zero: a backlog older than the send-stall timeout closes the
     * connection (a client that does not read). */
    uint64_t write_progress_ms;
    uint64_t accept_ms;                /* when accepted: the sniffing phase is timed from here */
    char peer[48];                     /* the client's IP address as text ("" when unknown) */
    struct tdm_address_count *address; /* its entry in srv->addresses, NULL when none */
    uint8_t sniff[24];                 /* first bytes, compared with the HTTP/2 client preface */
    size_t sniff_len;
    /* HTTP/2 */
    nghttp2_session *h2;
    tdm_h2_stream *streams; /* open streams (doubly linked) */
    size_t n_streams;
    tdm_flood_bucket rst_bucket, ping_bucket, settings_bucket;
    bool goaway_sent;
    /* Streams whose admission is pending with TDM_ADMIT_BUFFER_BYTES of their message
     * buffered: reading stays paused while there are any (grpc_call.c). */
    unsigned read_holds;
    /* HTTP/1.1 */
    tdm_h1 *h1;
} tdm_conn;

/* Queue bytes for writing (copied). Returns 0, or -1 when the connection is closing. */
int tdm_conn_write(tdm_conn *conn, const void *data, size_t len);
/* Close the connection now (pending writes are abandoned). */
void tdm_conn_close(tdm_conn *conn);
/* Stop/resume reading, e.g. while an HTTP/1.1 request is being answered. */
void tdm_conn_pause_read(tdm_conn *conn);
void tdm_conn_resume_read(tdm_conn *conn);
/* Close once everything queued has been written. */
void tdm_conn_close_after_write(tdm_conn *conn);
/* Output was queued: make sure the connection's timer looks for a send stall within
 * a quarter of the send-stall timeout (it may be set for the idle timeout). */
void tdm_conn_watch_output(tdm_conn *conn);
/* Make sure the connection's timer looks at it again within `ms`. */
void tdm_conn_look_within(tdm_conn *conn, uint64_t ms);

/* ---- Server state (server.c) ----------------------------------------------------- */

typedef struct tdm_srv_method {
    const ProtobufCMethodDescriptor *desc;
    const tdm_rpc_method_def *def;
    char *path; /* "/pkg.Service/Method" */
    size_t max_request_bytes;
} tdm_srv_method;

typedef struct tdm_srv_service {
    const tdm_rpc_service_def *def;
    tdm_rpc_service_def *owned_def; /* tdm_server_add_methods' copy, freed with the server */
    tdm_srv_method *methods;        /* one per descriptor method, in descriptor order */
    size_t n_methods;
} tdm_srv_service;

/* Built-in services implemented on raw message streams (health, reflection). */
typedef struct tdm_builtin_method tdm_builtin_method;

typedef enum tdm_server_state {
    TDM_SERVER_NEW = 0,
    TDM_SERVER_RUNNING,
    TDM_SERVER_DRAINING,
    TDM_SERVER_STOPPED, /* done() has run; freed when the last call completes */
} tdm_server_state;

/* Connections open from one client address (server.c). */
typedef struct tdm_address_count {
    struct tdm_address_count *next; /* in its bucket */
    uint32_t connections;
    char address[48];
} tdm_address_count;

struct tdm_server {
    uv_loop_t *loop;
    tdm_server_state state;
    tdm_server_options opts;
    char *service_name;
    uv_tcp_t listener;
    bool listener_open;
    int bound_port;
    tdm_conn *conns;
    size_t n_conns;
    tdm_srv_service *services;
    size_t n_services;
    tdm_http_handler http;
    bool ready;
    char *not_ready_reason;
    size_t in_flight; /* calls and HTTP requests dispatched, not completed */
    size_t alive;     /* calls and HTTP requests whose memory is not freed yet */
    uv_timer_t drain_timer;
    bool drain_timer_open;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
    tdm_h2_stream *watchers; /* grpc.health.v1.Health/Watch streams */
    uint8_t read_buf[TDM_READ_BUFFER_BYTES];
    void *write_pool[TDM_WRITE_POOL_MAX];
    size_t write_pool_n;
    /* Metrics (through the global registry). */
    tdm_metric *m_calls, *m_duration, *m_in_flight, *m_http;
    tdm_metric *m_connections, *m_connections_refused;
    tdm_address_count *addresses[TDM_ADDRESS_BUCKETS];
};

/* Called when a connection is freed or a call/request completes during shutdown. */
void tdm_server_check_drained(tdm_server *srv);
/* A call or request was freed: may free a stopped server. */
void tdm_server_release(tdm_server *srv);
const tdm_srv_method *tdm_server_find_method(const tdm_server *srv, const char *path,
                                             const tdm_srv_service **svc);
const char *tdm_status_text(int status);
uint64_t tdm_now_ns(void);

/* ---- HTTP/2 (h2_server.c) ------------------------------------------------------- */

typedef enum tdm_stream_kind {
    TDM_STREAM_PENDING = 0, /* headers arriving */
    TDM_STREAM_GRPC,        /* a call of a registered service */
    TDM_STREAM_BUILTIN,     /* health / reflection on raw messages */
    TDM_STREAM_HTTP,        /* handed to the HTTP handler */
    TDM_STREAM_REFUSED,     /* answered early; request data is discarded */
} tdm_stream_kind;

typedef enum tdm_stream_state {
    TDM_STREAM_RECEIVING = 0, /* request headers/body arriving */
    TDM_STREAM_DISPATCHED,    /* request complete and with its handler */
    TDM_STREAM_RESPONDED,     /* response (or trailers) submitted */
} tdm_stream_state;

typedef struct tdm_out_chunk {
    struct tdm_out_chunk *next;
    const uint8_t *data;
    size_t len, off;
} tdm_out_chunk;

typedef struct tdm_call tdm_call;

struct tdm_h2_stream {
    tdm_arena *arena;
    tdm_server *srv;
    tdm_conn *conn; /* NULL once the stream closed */
    int32_t id;
    bool owner_done; /* no call/request, or it completed: freed when the stream closes */
    tdm_stream_kind kind;
    tdm_stream_state state;
    struct tdm_h2_stream *prev, *next;     /* conn->streams */
    struct tdm_h2_stream *w_prev, *w_next; /* srv->watchers */
    bool watching;
    /* Request headers. */
    const char *method, *path, *scheme, *authority, *content_type, *te, *timeout;
    tdm_http_header *headers;
    size_t n_headers, cap_headers;
    size_t header_bytes;
    bool headers_too_large;
    bool end_stream; /* the client finished sending */
    /* Request body. */
    tdm_deframer deframer; /* gRPC */
    uint8_t *body;         /* HTTP */
    size_t body_len, body_cap, max_body;
    const uint8_t *msg; /* the unary request message once complete */
    size_t msg_len;
    size_t n_msgs;
    /* Response. */
    tdm_out_chunk *out_head, *out_tail;
    bool out_finished;  /* no more data after the queued chunks */
    bool data_deferred; /* the data provider returned NGHTTP2_ERR_DEFERRED */
    bool headers_sent;
    /* Last time the response made progress: output submitted, or a frame of it sent.
     * A response that cannot be sent (the peer's window stays 0) for the send-stall
     * timeout is reset, freeing what it holds (h2_server.c tdm_h2_check_stalls). */
    uint64_t send_progress_ms;
    nghttp2_nv *trailers;
    size_t n_trailers;
    /* Owners. */
    tdm_call *call;
    tdm_http_request *req;
    const tdm_builtin_method *builtin;
    void *builtin_state;
    uint64_t start_ns;
    const char *service_label, *method_label; /* for metrics */
    /* gRPC, validated with the headers. */
    const tdm_srv_service *svc;
    const tdm_srv_method *rpc;
    tdm_call_context ctx;
    int health_last; /* Watch: last status sent, -1 none */
    bool holds_read; /* counted in conn->read_holds */
    /* Response metadata set by the handler (tdm_call_set_response_metadata), sent
     * with the status. */
    tdm_http_header *response_md; /* TDM_RESPONSE_METADATA_MAX entries, in the arena */
    size_t n_response_md;
};

/* Serve the connection as h2c; `data` is the first bytes read (including the
 * preface). Returns 0 or -1 (the caller closes). */
int tdm_h2_conn_start(tdm_conn *conn, const uint8_t *data, size_t len);
int tdm_h2_conn_read(tdm_conn *conn, const uint8_t *data, size_t len);
/* Send what nghttp2 has queued, within the write backlog bound. */
void tdm_h2_flush(tdm_conn *conn);
void tdm_h2_goaway(tdm_conn *conn);
/* The connection is going away: detach every stream (cancelling calls). */
void tdm_h2_conn_free(tdm_conn *conn);
bool tdm_h2_conn_idle(const tdm_conn *conn);
/* Reset the streams whose response made no progress for stall_ms; returns the ms
 * until the next stream could stall (UINT64_MAX when none has output pending). */
uint64_t tdm_h2_check_stalls(tdm_conn *conn, uint64_t now, uint64_t stall_ms);

/* gRPC responses on a stream. Append queues one message (copied into the stream's
 * arena unless `owned` says data already lives there). finish sets the status;
 * a stream that sent nothing yet answers Trailers-Only. */
int tdm_h2_grpc_append(tdm_h2_stream *s, const uint8_t *msg, size_t len, bool owned);
void tdm_h2_grpc_finish(tdm_h2_stream *s, tdm_code code, const char *message,
                        const char *details_b64);
/* Convenience: a gRPC error from a status (violations become details). st is kept. */
void tdm_h2_grpc_finish_status(tdm_h2_stream *s, const tdm_status *st);
/* HTTP response on a stream. */
void tdm_h2_http_respond(tdm_h2_stream *s, int status, const char *content_type, const void *body,
                         size_t len, const tdm_http_header *headers, size_t n_headers,
                         const char *request_id);
/* After a response: flush now unless nghttp2 is in the middle of a callback. */
void tdm_h2_after_submit(tdm_h2_stream *s);
/* The stream's record is no longer needed by its owner (call/request completed). */
void tdm_h2_stream_release(tdm_h2_stream *s);

/* ---- gRPC calls (grpc_call.c) ---------------------------------------------------- */

typedef enum tdm_call_state {
    TDM_CALL_RUNNING = 0, /* with its admit hook or its handler */
    TDM_CALL_COMPLETED,   /* respond/fail happened */
} tdm_call_state;

/* Admission (tdm_rpc_service_def.admit) of a running call. */
typedef enum tdm_call_admission {
    TDM_ADMISSION_NONE = 0, /* the service has no admit hook */
    TDM_ADMISSION_PENDING,  /* the hook runs; the message is read up to a bound */
    TDM_ADMISSION_ADMITTED, /* the handler runs once the message is complete */
} tdm_call_admission;

struct tdm_call {
    tdm_call_state state;
    tdm_server *srv;
    tdm_h2_stream *stream; /* NULL once the stream closed */
    tdm_arena *arena;      /* the stream's arena */
    const tdm_srv_service *svc;
    const tdm_srv_method *method;
    tdm_call_context ctx;
    bool cancelled;
    tdm_code cancel_code; /* what the client was told when cancelled by the server */
    void (*cancel_fn)(void *arg);
    void *cancel_arg;
    uv_timer_t deadline_timer;
    bool timer_open;
    uint64_t start_ns;
    tdm_call_admission admission;
    bool message_ready; /* the request message is complete (END_STREAM seen) */
    bool dispatched;    /* the handler was called */
    void *user;         /* tdm_call_set_user */
};

/* The request of a gRPC stream is complete (END_STREAM): build the call in the
 * stream's arena, unpack the request and run the handler. */
void tdm_call_start(tdm_h2_stream *s);
/* The headers of a call whose service has an admit hook are valid: build the call
 * and run the hook while the message is still arriving. */
void tdm_call_begin_admission(tdm_h2_stream *s);
/* The stream is refused by the transport (malformed or oversized message) while its
 * call waits for admission: the client gets `code` and `message`, and the call
 * completes when its admit hook ends. */
void tdm_call_refuse(tdm_call *call, tdm_code code, const char *message);
/* While a call's admission is pending: hold the connection's reading once the
 * stream has buffered TDM_ADMIT_BUFFER_BYTES (h2_server.c), and let it go. */
void tdm_h2_hold_read(tdm_h2_stream *s);
void tdm_h2_release_read(tdm_h2_stream *s);
/* Validate gRPC request headers (deadline, context, request id) into s; returns
 * NULL or the status to refuse the stream with (caller frees). */
tdm_status *tdm_call_check_headers(tdm_h2_stream *s);
/* The stream closed (client reset, connection gone, our own reset). */
void tdm_call_stream_closed(tdm_call *call);
/* Metrics of a finished call (also used by built-ins). */
void tdm_call_metrics(tdm_server *srv, const char *service, const char *method, tdm_code code,
                      uint64_t start_ns);
void tdm_call_metrics_in_flight(tdm_server *srv, const char *service, int delta);

/* ---- Built-ins (health.c, reflection.c) ---------------------------------------- */

struct tdm_builtin_method {
    const char *path;
    const char *service; /* for metrics */
    const char *method;
    /* A complete request message; the stream may answer with tdm_h2_grpc_append/finish. */
    void (*on_message)(tdm_h2_stream *s, const uint8_t *msg, size_t len);
    /* The client half-closed (may be NULL: finish OK if not finished yet). */
    void (*on_end)(tdm_h2_stream *s);
    /* The stream closed (may be NULL). */
    void (*on_close)(tdm_h2_stream *s);
    bool reflection; /* only when opts.reflection */
};

extern const tdm_builtin_method tdm_health_methods[2];
extern const tdm_builtin_method tdm_reflection_methods[2];

const tdm_builtin_method *tdm_builtin_find(const tdm_server *srv, const char *path);
/* Readiness changed: Watch streams get the new status. */
void tdm_health_notify(tdm_server *srv);
/* Shutdown: Watch streams are ended. */
void tdm_health_end_watchers(tdm_server *srv);
/* Names of the built-in services the server exposes (for reflection's list). */
size_t tdm_builtin_service_names(const tdm_server *srv, const char **names, size_t max);

/* ---- HTTP requests (server_http.c, http1.c) -------------------------------------- */

typedef enum tdm_http_req_state {
    TDM_HTTP_REQ_RECEIVING = 0,
    TDM_HTTP_REQ_DISPATCHED,
    TDM_HTTP_REQ_RESPONDED,
} tdm_http_req_state;

struct tdm_http_request {
    tdm_http_req_state state;
    tdm_server *srv;
    tdm_arena *arena;
    int version;
    tdm_h2_stream *stream; /* HTTP/2: NULL once closed */
    tdm_conn *conn;        /* HTTP/1.1: NULL once the connection closed */
    const char *method, *path, *query, *request_id;
    tdm_http_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    bool cancelled;
    bool counted; /* in srv->in_flight */
    void (*cancel_fn)(void *arg);
    void *cancel_arg;
    uint64_t start_ns;
    /* tdm_http_defer/tdm_http_admit. While PENDING the handler owns the request as if
     * dispatched: the transport neither frees nor answers it. */
    tdm_call_admission admission;
    bool body_complete; /* the whole body arrived (dispatch was asked for) */
    bool holds_read;    /* HTTP/1.1: counted in conn->read_holds (HTTP/2: the stream's) */
    int refused_status; /* the transport's answer (413) held back by a pending admission */
    void *user;
};

/* Fill request fields shared by both versions (path/query split, request id). */
int tdm_http_request_init(tdm_http_request *req, const char *target);
/* Run the handler's on_headers; returns the body limit (0 and responded if it
 * answered already). */
size_t tdm_http_request_on_headers(tdm_http_request *req);
/* The body is complete: run on_request, unless the admission is pending (then
 * tdm_http_admit does). Returns whether on_request ran. */
bool tdm_http_request_dispatch(tdm_http_request *req);
void tdm_http_request_cancelled(tdm_http_request *req);
/* The body has grown to body_len: while the admission is pending, hold reading past
 * TDM_ADMIT_BUFFER_BYTES. */
void tdm_http_request_body_grew(tdm_http_request *req, size_t body_len);
/* The body is over the limit: answer 413 now, or once a pending admission ends.
 * Returns true when the answer was held back (the request is still receiving). */
bool tdm_http_request_too_large(tdm_http_request *req);
/* Whether the handler holds the request (dispatched, or its admission pending). */
bool tdm_http_request_with_handler(const tdm_http_request *req);
/* Reading held by a request or stream: the connection reads only without holds. */
void tdm_conn_hold_read(tdm_conn *conn);
void tdm_conn_release_read(tdm_conn *conn);
void tdm_http_metrics(tdm_server *srv, const tdm_http_request *req, int status);

/* HTTP/1.1 (http1.c). */
int tdm_h1_conn_start(tdm_conn *conn);
int tdm_h1_conn_read(tdm_conn *conn, const uint8_t *data, size_t len);
void tdm_h1_conn_free(tdm_conn *conn);
void tdm_h1_respond(tdm_http_request *req, int status, const char *content_type, const void *body,
                    size_t len, const tdm_http_header *headers, size_t n_headers);
/* Shutdown: close if idle, else close after the current response. */
void tdm_h1_drain(tdm_conn *conn);
/* The write backlog went under the low-water mark: answer pipelined requests held
 * back, or read again. */
void tdm_h1_resume(tdm_conn *conn);
bool tdm_h1_conn_idle(const tdm_conn *conn);
/* Header timeout passed (ms since the request began), or -1 when not in headers. */
int64_t tdm_h1_header_started_ms(const tdm_conn *conn);
/* Lingering after an early answer: ms left before closing (0: time is up), or -1
 * when not lingering. */
int64_t tdm_h1_linger_left_ms(const tdm_conn *conn);

#endif
