/*
 * gateway.h - the gateway's process-wide state and the pieces that share it:
 * authentication (auth.c), the TenantService (tenants.c), the REST front
 * (rest_front.c) and gRPC pass-through (passthrough.c).
 *
 * Everything runs on the runtime's loop; gw_state is created by init in main.c and
 * freed by its shutdown.
 */
#ifndef TANDEM_GATEWAY_H
#define TANDEM_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "principal.h"
#include "ratelimit.h"
#include "tandem/metrics.h"
#include "tandem/runtime.h"
#include "tandem/server.h"

/* How often last_used_time is written, in one statement for every key used since. */
#define GW_TOUCH_FLUSH_MS    5000
#define GW_TOUCH_MAX_PENDING 4096 /* distinct keys remembered between flushes */
/* The header naming the tenant a platform key acts for: the tenant's id or slug. */
#define GW_PEER_COUNT    3
#define GW_TENANT_HEADER "x-tandem-tenant"

typedef struct gw_state {
    tdm_runtime *rt;
    const gw_config *cfg; /* the gateway's own settings */
    gw_ratelimiter *limiter;
    uint32_t default_rps, default_burst;
    /* Keys used since the last flush (ids, deduplicated). */
    char (*touched)[37];
    size_t n_touched;
    bool touch_flushing;
    uv_timer_t touch_timer;
    bool touch_timer_open;
    tdm_metric *m_requests, *m_duration, *m_ratelimited;
    /* Failed authentications per client address (auth_guard.h); key lookups made and
     * requests refused by that limit without one. */
    struct gw_auth_guard *guard;
    tdm_metric *m_key_lookups, *m_auth_blocked;
    /* Keys verified from memory (auth_cache.h; NULL: TANDEM_KEY_CACHE_SIZE=0), kept
     * current by the LISTEN connection (listen.h); requests it answered. */
    struct gw_auth_cache *key_cache;
    tdm_metric *m_key_cache_hits;
    /* Peer health (enrolment, matching, feedback), probed every second. peer_ok: the
     * last probe answered SERVING (readiness). unresponsive: the last probes all timed
     * out (a hung peer): calls to it fail fast with UNAVAILABLE until one answers.
     * not_serving: probes in a row answered NOT_SERVING (a sick replica). */
    bool peer_ok[GW_PEER_COUNT];
    bool probing[GW_PEER_COUNT];
    unsigned probe_timeouts[GW_PEER_COUNT];
    unsigned not_serving[GW_PEER_COUNT];
    bool unresponsive[GW_PEER_COUNT];
    uv_timer_t probe_timer;
    bool probe_timer_open;
    /* TANDEM_BOOTSTRAP_KEY is set and not yet ensured in the database. */
    bool bootstrap_pending;
} gw_state;

/* What a route demands of the caller. */
typedef struct gw_route_auth {
    uint32_t scope;     /* TDM_SCOPE_* bits required (0: any valid key) */
    bool tenant_scoped; /* acts for a tenant: the key's, or X-Tandem-Tenant's for platform keys */
    bool platform_only; /* tenant keys are refused (PERMISSION_DENIED) */
    bool person;        /* a participant token may call it (gw_person_may_call) */
} gw_route_auth;

/* st NULL: p is the caller. Otherwise p is NULL and, for RESOURCE_EXHAUSTED,
 * retry_after_s says when to come back. */
typedef void (*gw_auth_cb)(void *arg, tdm_status *st, const gw_principal *p,
                           uint32_t retry_after_s);

/* Authenticate `authorization` (the header/metadata value, may be NULL), apply the
 * key's rate limit, the route's scope and tenancy rules, resolving `tenant_ref`
 * (X-Tandem-Tenant, may be NULL). A key is looked up once, then verified from the key
 * cache while that is kept current (auth_cache.h), so a revoked key is refused within
 * 1 s on every replica. Always calls cb exactly once, possibly
 * before returning. The client is at `address` (its IP address as text; NULL: not
 * known): its failed authentications are counted and, past the limit, it is refused
 * RESOURCE_EXHAUSTED (retry_after_s set) without the key being looked up. */
void gw_auth_resolve_from(gw_state *gw, const char *address, tdm_arena *arena,
                          const char *request_id, uint64_t deadline_ms, const char *authorization,
                          const char *tenant_ref, const gw_route_auth *ra, gw_auth_cb cb,
                          void *arg);

/* Apply key_id's rate limit (auth_ratelimit.c, in the mode gw->cfg->rate_limit_shared
 * says): calls w->cb(w->arg, allowed, retry_after_s) exactly once, possibly before
 * returning; w lives until then. */
void gw_rate_limit(gw_state *gw, const char *key_id, uint32_t rps, uint32_t burst, gw_rl_waiter *w);

/* Remember that a key was used; written in the next batch. */
void gw_auth_touch(gw_state *gw, const char *key_id);
/* Start/stop the batch timer. stop flushes nothing further. */
void gw_auth_start(gw_state *gw);
void gw_auth_stop(gw_state *gw);

/* ---- participant tokens (participant_auth.c) ------------------------------------- */

/* Enrolment's answer is awaited at most this long when the call has no deadline. */
#define GW_PERSON_VERIFY_MS 5000u

/* Whether a participant token may make this call (API.md "Acting as a person"). */
bool gw_person_may_call(const char *service_full_name, const char *method);

/* A live participant token: whom it acts as. Strings live in the request's arena. */
typedef struct gw_person {
    const char *tenant_id;
    const char *participant_id;
    const char *programme_id;
} gw_person;

struct gw_key_row;
/* st set: the check could not be made. Otherwise person and key are both NULL when
 * the token is malformed, unknown, expired, of a withdrawn or erased participant, or
 * minted by a revoked key; else the person and the key that minted it. */
typedef void (*gw_person_cb)(void *arg, tdm_status *st, const gw_person *person,
                             const struct gw_key_row *key);

/* Check a presented participant token (token[0..len)). Always calls cb once. */
void gw_person_verify(gw_state *gw, tdm_arena *arena, const char *request_id, uint64_t deadline_ms,
                      const char *token, size_t len, gw_person_cb cb, void *arg);

/* ---- TenantService (tenants.c) -------------------------------------------------- */

typedef void (*gw_tenant_cb)(void *arg, tdm_status *st, ProtobufCMessage *response);

/* Run TenantService.<method> for an authenticated caller (platform-only rules already
 * applied by gw_auth_resolve_from; the per-method ones here). idempotency_key may be NULL.
 * Always calls cb once; response lives in arena. */
void gw_tenant_call(gw_state *gw, const char *method, const ProtobufCMessage *request,
                    const gw_principal *p, const char *idempotency_key, const char *request_id,
                    uint64_t deadline_ms, tdm_arena *arena, gw_tenant_cb cb, void *arg);

/* The scope and tenancy of a TenantService method (NULL for an unknown method). */
const gw_route_auth *gw_tenant_method_auth(const char *method);

/* Register TenantService on the server (gRPC). */
tdm_status *gw_tenant_register(gw_state *gw);

/* Make sure the bootstrap key exists (TANDEM_BOOTSTRAP_KEY), retrying until the
 * database answers. */
void gw_tenant_bootstrap(gw_state *gw);

/* ---- Routing to services (passthrough.c) ---------------------------------------- */

/* The peer owning a tandem.v1 service ("enrolment"), NULL for the gateway's own or
 * an unknown one. */
const char *gw_service_peer(const char *service_full_name);
/* The scope and tenancy of a forwarded method: :read for the owning service's
 * reads (GET routes; for gRPC, methods named Get*, List*, Export* excepted...),
 * :write otherwise, admin for ExportPerson, ErasePerson and WebhookService. */
void gw_service_method_auth(const char *service_full_name, const char *method, bool read,
                            gw_route_auth *out);

typedef void (*gw_forward_cb)(void *arg, tdm_status *st, const uint8_t *response, size_t len);

/* Forward one packed request to the owning peer with the caller's context,
 * x-request-id, idempotency-key (may be NULL) and the deadline. cb gets the packed
 * response. Always calls cb once. */
void gw_forward(gw_state *gw, const char *peer, const char *grpc_path, const uint8_t *message,
                size_t len, const gw_principal *p, const char *request_id,
                const char *idempotency_key, uint64_t deadline_ms, tdm_arena *arena,
                gw_forward_cb cb, void *arg);

/* The request id of a gRPC call at the gateway: the client's x-request-id when
 * acceptable, otherwise a new UUID (in the call's arena). */
const char *gw_grpc_request_id(tdm_call *call);

/* Complete a gRPC call at the gateway (fail with st, or respond), after writing its
 * access log line. Takes st. */
void gw_grpc_complete(tdm_call *call, uint64_t start_ms, const char *request_id,
                      const gw_principal *p, tdm_status *st, const ProtobufCMessage *response);

/* A service method the gateway implements itself, as its REST and gRPC doors call
 * it (gw_tenant_call, gw_webhook_call). */
typedef void (*gw_local_fn)(gw_state *gw, const char *method, const ProtobufCMessage *request,
                            const gw_principal *p, const char *idempotency_key,
                            const char *request_id, uint64_t deadline_ms, tdm_arena *arena,
                            gw_tenant_cb cb, void *arg);

/* The gRPC door of such a method (local_door.c): authenticate with rule(path, method)
 * (NULL: UNIMPLEMENTED), run fn, complete the call. */
void gw_grpc_local(tdm_call *call, const ProtobufCMessage *request, gw_state *gw,
                   const gw_route_auth *(*rule)(const char *path, const char *method),
                   gw_local_fn fn);

/* A service the gateway implements itself (TenantService, WebhookService): its
 * descriptor, the rule its gRPC door authenticates with, and the function both doors
 * run. Static storage: gw_local_register fills in the rest and the server keeps it. */
#define GW_LOCAL_METHODS_MAX 16
typedef struct gw_local_service {
    const ProtobufCServiceDescriptor *descriptor;
    const gw_route_auth *(*rule)(const char *path, const char *method);
    gw_local_fn fn;
    gw_state *gw;
    tdm_rpc_method_def methods[GW_LOCAL_METHODS_MAX];
    tdm_rpc_service_def def;
} gw_local_service;

/* INVALID_ARGUMENT "<field>: <why>" with that field's violation. */
tdm_status *gw_invalid(const char *field, const char *why);
/* NULL when a store call started (rc 0), else INTERNAL: it never started, a bug or
 * out of memory (the pool reports an unreachable database through the callback). */
tdm_status *gw_started(int rc);

/* Register svc's gRPC door. `table` holds n entries `stride` bytes apart, each
 * starting with its method's name, in the order of svc->descriptor's methods (so a
 * method's index in the descriptor is its entry): INTERNAL if it does not. */
tdm_status *gw_local_register(gw_state *gw, gw_local_service *svc, const void *table, size_t stride,
                              size_t n);

/* The index of `method` among descriptor's first n methods; n when it has no such
 * method. */
size_t gw_local_method_index(const ProtobufCServiceDescriptor *descriptor, const char *method,
                             size_t n);

/* Register a forwarding gRPC service for every tandem.v1 service the gateway does not
 * implement itself. */
tdm_status *gw_passthrough_register(gw_state *gw);

/* Probe every peer's grpc.health.v1 each second; the name of the first peer not
 * SERVING, or NULL when all are. */
void gw_probe_start(gw_state *gw);
void gw_probe_stop(gw_state *gw);
const char *gw_peers_unreachable(const gw_state *gw);
/* True while `peer` ("enrolment", ...) is unresponsive: its probes keep timing out. */
bool gw_peer_unresponsive(const gw_state *gw, const char *peer);

/* ---- REST (rest_front.c) ---------------------------------------------------------- */

/* Read the route table and take over the server's HTTP handler. */
tdm_status *gw_rest_install(gw_state *gw);
/* The authorisation the route table declares for a gRPC method path (its first REST
 * binding), so both doors apply the same rule; NULL when the method has no binding. */
const gw_route_auth *gw_rest_auth_for_grpc_path(const char *grpc_path);
void gw_rest_uninstall(void);

/* Count, time and log one answered HTTP request (tandem_http_requests_total{route,
 * method,status}); route_label: the route's template, or NULL ("unmatched"). */
void gw_http_observe(tdm_http_request *req, const char *route_label, int status, uint64_t start_ms,
                     const gw_principal *p);

/* Milliseconds left before deadline_ms on the loop clock (INT64_MAX when none). */
int64_t gw_remaining_ms(gw_state *gw, uint64_t deadline_ms);

#endif
