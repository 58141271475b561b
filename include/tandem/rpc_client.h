/*
 * rpc_client.h - the gRPC client every process calls its peers with: one HTTP/2
 * connection per peer, opened lazily, multiplexing concurrent unary calls and
 * reconnecting with backoff (services/common/rpc_client.c).
 *
 * Callbacks: a call that returns 0 completes exactly once through its callback, on
 * the loop, never from inside the call; one that returns non-zero never calls it.
 */
#ifndef TANDEM_RPC_CLIENT_H
#define TANDEM_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "tandem/arena.h"
#include "tandem/config.h"
#include "tandem/server.h"
#include "tandem/status.h"

typedef struct tdm_rpc_client tdm_rpc_client;

/* One HTTP/2 connection to `peer`, opened lazily, multiplexing concurrent calls,
 * reconnecting with backoff. peer_name is for logs/metrics ("enrolment"). */
tdm_rpc_client *tdm_rpc_client_new(uv_loop_t *loop, const tdm_addr *peer, const char *peer_name);
/* Fails calls in flight with UNAVAILABLE, closes the connection, then done(arg). */
void tdm_rpc_client_close(tdm_rpc_client *client, void (*done)(void *arg), void *arg);
/* The peer stopped answering (e.g. health probes time out on a hung process): fail
 * every call in flight or waiting with UNAVAILABLE and `reason` (a static string),
 * and drop the connection. The client stays usable: the next call connects anew. */
void tdm_rpc_client_reset(tdm_rpc_client *client, const char *reason);

/* Response metadata (headers and trailers) of a completed call. */
typedef struct tdm_rpc_metadata {
    size_t n;
    tdm_http_header *entries; /* lower-case names; "-bin" values base64 as on the wire */
} tdm_rpc_metadata;

typedef void (*tdm_rpc_client_cb)(void *arg, tdm_status *st, ProtobufCMessage *response);
typedef void (*tdm_rpc_client_raw_cb)(void *arg, tdm_status *st, const uint8_t *response,
                                      size_t len, const tdm_rpc_metadata *md);

/* ctx as x-tandem-context-bin's value: a tandem.internal.v1.RequestContext, base64,
 * in a (NULL on failure); its deadline remaining_ms from now (< 0: none). The gateway
 * builds every forwarded call's context with it. */
char *tdm_grpc_context_encode(tdm_arena *a, const tdm_call_context *ctx, int64_t remaining_ms);

/*
 * A unary call. ctx (may be NULL) is propagated as metadata: its request context
 * (x-tandem-context-bin), request id (x-request-id) and the remaining deadline
 * (grpc-timeout), bounded by deadline_ms if that is sooner (0 = ctx's). The response
 * is unpacked into `arena` (which must outlive the callback). Transport failures are
 * UNAVAILABLE; the peer's grpc-status/message/details come back as the status.
 */
int tdm_rpc_client_call(tdm_rpc_client *client, const ProtobufCServiceDescriptor *service,
                        const char *method, const ProtobufCMessage *request,
                        const tdm_call_context *ctx, uint64_t deadline_ms, tdm_arena *arena,
                        tdm_rpc_client_cb cb, void *arg);

/* The same with extra request metadata (e.g. idempotency-key); the entries (names
 * and values) must live until cb has been called. */
int tdm_rpc_client_call_with(tdm_rpc_client *client, const ProtobufCServiceDescriptor *service,
                             const char *method, const ProtobufCMessage *request,
                             const tdm_call_context *ctx, uint64_t deadline_ms,
                             const tdm_http_header *metadata, size_t n_metadata, tdm_arena *arena,
                             tdm_rpc_client_cb cb, void *arg);

/* Pass-through form for the gateway: the message bytes travel without re-encoding;
 * extra metadata entries are added to the request. */
int tdm_rpc_client_call_raw(tdm_rpc_client *client, const char *path, const uint8_t *message,
                            size_t len, const tdm_http_header *metadata, size_t n_metadata,
                            uint64_t deadline_ms, tdm_rpc_client_raw_cb cb, void *arg);

#endif
