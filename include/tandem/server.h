/*
 * server.h - one listening port per process serving gRPC (HTTP/2 cleartext) and
 * HTTP/1.1 (health, metrics, and at the gateway the REST API).
 *
 * A connection that opens with the HTTP/2 client preface is served by nghttp2; any
 * other first bytes are HTTP/1.1 (http-parser, strict). On HTTP/2 a stream whose
 * content-type is application/grpc[+proto] is a gRPC call; any other stream is an
 * HTTP request handed to the same HTTP handler as HTTP/1.1 requests, so REST works
 * over h2c too.
 *
 * gRPC calls are dispatched through protobuf-c service descriptors: a service is
 * registered with one handler function per method. A handler receives the decoded
 * request (allocated in the call's arena) and the call, and completes it exactly once
 * with tdm_call_respond() or tdm_call_fail(), possibly much later (after PostgreSQL or
 * another service answered). The handler never blocks the loop.
 *
 * Lifetimes: the server owns connections, streams and calls. A call stays valid until
 * the handler completes it, even if the client cancelled or the deadline passed
 * meanwhile (the completion is then dropped); so a handler can always finish its
 * chain of callbacks and complete without checking whether the peer is still there.
 */
#ifndef TANDEM_SERVER_H
#define TANDEM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "tandem/arena.h"
#include "tandem/config.h"
#include "tandem/status.h"

/* Limits (API.md "Limits", issue "Real gRPC"). */
#define TDM_MAX_MESSAGE_BYTES       (4u * 1024u * 1024u)
#define TDM_MAX_BATCH_MESSAGE_BYTES (32u * 1024u * 1024u)
#define TDM_MAX_HEADER_LIST_BYTES   8192u
#define TDM_MAX_CONCURRENT_STREAMS  100u

/* Metadata key carrying the gateway's resolved request context (nanopb-encoded
 * tandem.internal.v1.RequestContext). */
#define TDM_CONTEXT_METADATA_KEY "x-tandem-context-bin"
/* The tenant of a platform call that acts for no tenant (e.g. programme templates):
 * the nil UUID, which no tenant has. */
#define TDM_NIL_TENANT "00000000-0000-0000-0000-000000000000"

/* Scope bits of RequestContext.scopes. */
enum {
    TDM_SCOPE_ADMIN = 1u << 0,
    TDM_SCOPE_ENROLMENT_READ = 1u << 1,
    TDM_SCOPE_ENROLMENT_WRITE = 1u << 2,
    TDM_SCOPE_MATCHING_READ = 1u << 3,
    TDM_SCOPE_MATCHING_WRITE = 1u << 4,
    TDM_SCOPE_FEEDBACK_READ = 1u << 5,
    TDM_SCOPE_FEEDBACK_WRITE = 1u << 6,
    TDM_SCOPE_SCIM = 1u << 7, /* the SCIM 2.0 front: the people directory */
    TDM_SCOPE_LAST = TDM_SCOPE_SCIM,
};

/* Who is calling and for whom: decoded from TDM_CONTEXT_METADATA_KEY. Strings live
 * in the call's arena. */
/* Who calls: tandem.internal.v1.PrincipalKind, the same numbers. */
typedef enum tdm_principal_kind {
    TDM_PRINCIPAL_UNSPECIFIED = 0,
    TDM_PRINCIPAL_PLATFORM = 1, /* a platform key: acts for any tenant it names */
    TDM_PRINCIPAL_TENANT = 2,   /* a tenant key: acts for its own tenant only */
    /* a participant token: acts as one participant (participant_id), only in the
     * calls API.md "Acting as a person" lists */
    TDM_PRINCIPAL_PARTICIPANT = 3,
} tdm_principal_kind;

typedef struct tdm_call_context {
    const char *tenant_id;    /* UUID text; NULL when the call carries no context */
    const char *principal_id; /* API key id (for a participant token: the minting key's) */
    tdm_principal_kind principal_kind;
    const char *participant_id;           /* TDM_PRINCIPAL_PARTICIPANT: the person; else NULL */
    const char *participant_programme_id; /* and their programme; else NULL */
    uint32_t scopes;                      /* TDM_SCOPE_* bits */
    const char *request_id;               /* from the context, x-request-id, or generated */
    uint64_t deadline_ms;                 /* absolute, uv_now() clock; 0 = no deadline */
} tdm_call_context;

typedef struct tdm_server tdm_server;
typedef struct tdm_call tdm_call;

/* ---- gRPC services ---------------------------------------------------------- */

typedef void (*tdm_rpc_handler_fn)(tdm_call *call, const ProtobufCMessage *request,
                                   void *service_data);

/* Admission of a call from its metadata alone (see tdm_rpc_service_def.admit). */
typedef void (*tdm_rpc_admit_fn)(tdm_call *call, void *service_data);

/* What a call may buffer of its request message while its admission is pending:
 * past this the connection stops reading until the call is admitted or refused. */
#define TDM_ADMIT_BUFFER_BYTES (64u * 1024u)

typedef struct tdm_rpc_method_def {
    const char *name; /* method name as in the descriptor, e.g. "BatchEnrol" */
    tdm_rpc_handler_fn handler;
    size_t max_request_bytes; /* 0 = TDM_MAX_MESSAGE_BYTES */
} tdm_rpc_method_def;

typedef struct tdm_rpc_service_def {
    const ProtobufCServiceDescriptor *descriptor;
    const tdm_rpc_method_def *methods; /* every method of the descriptor must appear */
    size_t n_methods;
    bool require_context; /* refuse calls without a valid request context (UNAUTHENTICATED) */
    void *service_data;   /* passed to every handler */
    /* Optional. Runs for every call of the service as soon as its metadata is
     * complete, before more than TDM_ADMIT_BUFFER_BYTES of its message is read (e.g.
     * to check credentials before an unauthenticated client can make the process
     * hold megabytes). It ends with tdm_call_admit(), after which the method's
     * handler runs once the message is complete, or by failing the call with
     * tdm_call_fail(); either exactly once, on the loop, now or later. */
    tdm_rpc_admit_fn admit;
    /* Handlers get request NULL and read the message's bytes undecoded with
     * tdm_call_request_bytes() (e.g. to forward them as they came). */
    bool raw_requests;
} tdm_rpc_service_def;

/* Register before tdm_server_start. The definition must outlive the server. */
tdm_status *tdm_server_add_service(tdm_server *srv, const tdm_rpc_service_def *def);

/* The usual case of tdm_server_add_service, the way every domain service registers:
 * the methods of `descriptor` (a table in static storage), each call required to carry
 * a request context, every handler given service_data. The server keeps its own
 * definition. */
tdm_status *tdm_server_add_methods(tdm_server *srv, const ProtobufCServiceDescriptor *descriptor,
                                   const tdm_rpc_method_def *methods, size_t n_methods,
                                   void *service_data);

const tdm_call_context *tdm_call_ctx(const tdm_call *call);
tdm_arena *tdm_call_arena(tdm_call *call);
uv_loop_t *tdm_call_loop(tdm_call *call);
tdm_server *tdm_call_server(tdm_call *call);
/* First value of a request metadata entry (lower-case key), NULL when absent.
 * For "-bin" keys the value is the decoded bytes and *len (if non-NULL) its length. */
const char *tdm_call_metadata(const tdm_call *call, const char *key, size_t *len);
/* "/tandem.v1.EnrolmentService/Enrol" */
const char *tdm_call_path(const tdm_call *call);
/* Milliseconds left before the deadline (INT64_MAX when none, <= 0 when passed). */
int64_t tdm_call_remaining_ms(const tdm_call *call);
bool tdm_call_is_cancelled(const tdm_call *call);
/* fn(arg) runs once, on the loop, if the call is cancelled (client reset, deadline,
 * shutdown) before the handler completed it - e.g. to cancel a database query. */
void tdm_call_on_cancel(tdm_call *call, void (*fn)(void *arg), void *arg);

/* Admit a call of a service with an admit hook: its handler runs once the request
 * message is complete (at once if it is already). */
void tdm_call_admit(tdm_call *call);
/* The request message as received (raw_requests services; any, in fact, once the
 * handler runs). The bytes live in the call arena. */
const uint8_t *tdm_call_request_bytes(const tdm_call *call, size_t *len);
/* Add key: value to the metadata sent with the call's status (e.g. "retry-after"):
 * a lower-case key and a printable value, at most 4 entries. Returns 0 or -1. */
int tdm_call_set_response_metadata(tdm_call *call, const char *key, const char *value);
/* The client's IP address as text ("" once the connection is gone). */
const char *tdm_call_peer_address(const tdm_call *call);
/* A pointer of the service's own, e.g. what its admit hook found for the handler. */
void tdm_call_set_user(tdm_call *call, void *user);
void *tdm_call_user(const tdm_call *call);

/* Complete the call. respond packs `response` (which may live in the call arena);
 * fail takes ownership of st (NULL st means INTERNAL). Exactly one of them, once. */
void tdm_call_respond(tdm_call *call, const ProtobufCMessage *response);
void tdm_call_fail(tdm_call *call, tdm_status *st);
/* Respond with a message already packed (e.g. a peer's answer forwarded as it came);
 * the bytes are copied. */
void tdm_call_respond_bytes(tdm_call *call, const uint8_t *message, size_t len);

/* ---- HTTP (HTTP/1.1, and non-gRPC streams on HTTP/2) -------------------------- */

typedef struct tdm_http_request tdm_http_request;

typedef struct tdm_http_header {
    const char *name;
    const char *value;
} tdm_http_header;

typedef struct tdm_http_handler {
    /* Headers are complete, the body has not been read. Return the largest body
     * this request may have (a larger Content-Length or a body growing past it is
     * answered 413 before it is buffered), or respond right away (e.g. 401, 404)
     * and return 0. */
    size_t (*on_headers)(tdm_http_request *req, void *user);
    /* The whole body has arrived. Respond now or later, exactly once. */
    void (*on_request)(tdm_http_request *req, void *user);
    void *user;
} tdm_http_handler;

/* Replace the default handler (which serves /healthz, /readyz and /metrics - unless
 * opts.metrics_elsewhere - and answers 404 to the rest). A custom handler can fall back on the
 * default with tdm_server_default_http_request(). */
void tdm_server_set_http_handler(tdm_server *srv, const tdm_http_handler *handler);
void tdm_server_default_http_request(tdm_http_request *req);

const char *tdm_http_method(const tdm_http_request *req); /* "GET" */
const char *tdm_http_path(const tdm_http_request *req);   /* "/v1/programmes/x" (no query) */
const char *tdm_http_query(const tdm_http_request *req);  /* "a=b&c=d" or "" */
const char *tdm_http_header_get(const tdm_http_request *req, const char *name); /* any case */
const uint8_t *tdm_http_body(const tdm_http_request *req, size_t *len);
tdm_arena *tdm_http_arena(tdm_http_request *req);
uv_loop_t *tdm_http_loop(tdm_http_request *req);
tdm_server *tdm_http_server(tdm_http_request *req);
const char *tdm_http_request_id(const tdm_http_request *req); /* X-Request-Id or generated */
int tdm_http_version(const tdm_http_request *req);            /* 1 or 2 */
bool tdm_http_is_cancelled(const tdm_http_request *req);
void tdm_http_on_cancel(tdm_http_request *req, void (*fn)(void *arg), void *arg);
/* From on_headers: the request waits for admission (e.g. its credentials are checked
 * asynchronously). Meanwhile at most TDM_ADMIT_BUFFER_BYTES of its body is read (then
 * the connection stops reading), and a body over the limit is not answered 413
 * until the admission ends. The handler ends it exactly once: tdm_http_admit(), after
 * which on_request runs when the body is complete (or the 413 goes out), or by
 * answering with tdm_http_respond() at any time before. */
void tdm_http_defer(tdm_http_request *req);
void tdm_http_admit(tdm_http_request *req);
/* The client's IP address as text ("" once the connection is gone). */
const char *tdm_http_peer_address(const tdm_http_request *req);
/* A pointer of the handler's own, e.g. what its admission found for on_request. */
void tdm_http_set_user(tdm_http_request *req, void *user);
void *tdm_http_user(const tdm_http_request *req);
/* Complete the request; body is copied. X-Request-Id is added automatically. */
void tdm_http_respond(tdm_http_request *req, int status, const char *content_type, const void *body,
                      size_t len, const tdm_http_header *headers, size_t n_headers);

/* ---- The server --------------------------------------------------------------- */

typedef struct tdm_server_options {
    tdm_addr listen;
    const char *service_name;   /* for metrics and logs, e.g. "enrolment" */
    bool reflection;            /* grpc.reflection.v1alpha (+v1) from the descriptor set */
    uint32_t idle_timeout_ms;   /* close connections idle this long (default 300000) */
    uint32_t header_timeout_ms; /* HTTP/1.1: headers must arrive within (default 10000) */
    /* A response the client does not take (HTTP/2 window left at 0, or a socket that
     * does not drain) for this long is reset, or its connection closed (default 20000). */
    uint32_t send_stall_timeout_ms;
    /* Connections open at once, in all and from one client address; one more is
     * closed as soon as it is accepted (defaults 10000 and 256). */
    uint32_t max_connections;
    uint32_t max_connections_per_address;
    /* The default handler answers /metrics with 404: the metrics are served by another
     * server of the process, on its admin port (TANDEM_ADMIN_LISTEN), never this one. */
    bool metrics_elsewhere;
} tdm_server_options;

tdm_server *tdm_server_new(uv_loop_t *loop, const tdm_server_options *opts);
/* Bind and listen; INVALID_ARGUMENT/UNAVAILABLE with the reason on failure. */
tdm_status *tdm_server_start(tdm_server *srv);
/* The port actually bound (useful when listening on port 0 in tests). */
int tdm_server_port(const tdm_server *srv);

/* Readiness: /readyz answers 200 and grpc.health.v1 SERVING only when ready.
 * The reason is shown by /readyz when not ready ("database unreachable"). */
void tdm_server_set_ready(tdm_server *srv, bool ready, const char *reason);
bool tdm_server_is_ready(const tdm_server *srv);

/* Calls and HTTP requests in progress. */
size_t tdm_server_in_flight(const tdm_server *srv);

/* Graceful shutdown: health turns NOT_SERVING, the listener closes, GOAWAY goes to
 * every HTTP/2 connection and idle HTTP/1.1 connections close; in-flight calls run
 * until they complete or drain_timeout_ms passes (then they are cancelled); then
 * every connection is closed and done(arg) runs. The server is freed afterwards. */
void tdm_server_shutdown(tdm_server *srv, uint32_t drain_timeout_ms, void (*done)(void *arg),
                         void *arg);

#endif
