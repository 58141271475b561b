/*
 * passthrough.c - forwarding to the owning services: the gRPC door for every
 * tandem.v1 service the gateway does not implement itself, and gw_forward(), which
 * the REST front uses too.
 *
 * The transport (server.h) dispatches only registered services, so the gateway
 * registers a forwarding definition per service descriptor. Each method checks the
 * caller's key from the metadata alone (the admit hook), before more than
 * TDM_ADMIT_BUFFER_BYTES of the message is read, and forwards the message's bytes
 * undecoded; the service's answer goes back undecoded too. So a caller without a key
 * cannot make the gateway hold or decode its megabytes, and nothing a newer client
 * sends is lost on the way.
 *
 * The client's own x-tandem-context-bin never travels on: the outgoing metadata is
 * built here from the authenticated key (the context, x-request-id,
 * idempotency-key), and the deadline travels as grpc-timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "tandem/log.h"
#include "tandem/uuid.h"
#include "webhook_store.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/feedback.pb-c.h"
#include "tandem/v1/matching.pb-c.h"

#define DEFAULT_FORWARD_TIMEOUT_MS 60000 /* when the caller set no deadline */

static const struct {
    const char *service;
    const char *peer;
    uint32_t read_scope, write_scope;
} OWNERS[] = {
    {"tandem.v1.EnrolmentService", "enrolment", TDM_SCOPE_ENROLMENT_READ,
     TDM_SCOPE_ENROLMENT_WRITE},
    {"tandem.v1.MatchingService", "matching", TDM_SCOPE_MATCHING_READ, TDM_SCOPE_MATCHING_WRITE},
    {"tandem.v1.FeedbackService", "feedback", TDM_SCOPE_FEEDBACK_READ, TDM_SCOPE_FEEDBACK_WRITE},
};

const char *gw_service_peer(const char *service_full_name)
{
    for (size_t i = 0; i < sizeof(OWNERS) / sizeof(OWNERS[0]); i++) {
        if (strcmp(OWNERS[i].service, service_full_name) == 0)
            return OWNERS[i].peer;
    }
    return NULL;
}

void gw_service_method_auth(const char *service_full_name, const char *method, bool read,
                            gw_route_auth *out)
{
    out->tenant_scoped = true;
    out->platform_only = false;
    out->person = gw_person_may_call(service_full_name, method);
    out->scope = TDM_SCOPE_ADMIN;
    if (strcmp(method, "ExportPerson") == 0 || strcmp(method, "ErasePerson") == 0)
        return;
    for (size_t i = 0; i < sizeof(OWNERS) / sizeof(OWNERS[0]); i++) {
        if (strcmp(OWNERS[i].service, service_full_name) == 0) {
            out->scope = read ? OWNERS[i].read_scope : OWNERS[i].write_scope;
            return;
        }
    }
}

int64_t gw_remaining_ms(gw_state *gw, uint64_t deadline_ms)
{
    if (deadline_ms == 0)
        return INT64_MAX;
    uint64_t now = uv_now(tdm_runtime_loop(gw->rt));
    return deadline_ms > now ? (int64_t)(deadline_ms - now) : 0;
}

const char *gw_grpc_request_id(tdm_call *call)
{
    /* The client's x-request-id when it is 1-64 characters of [A-Za-z0-9._-]; never a
     * request id from a client-supplied context, which the gateway ignores. */
    const char *rid = tdm_call_metadata(call, "x-request-id", NULL);
    size_t n = rid != NULL ? strlen(rid) : 0;
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char c = rid[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (ok)
        return rid;
    char *id = tdm_arena_alloc(tdm_call_arena(call), 37);
    if (id == NULL)
        return NULL;
    tdm_uuid_text(id);
    return id;
}

/* ---- forwarding ---------------------------------------------------------------------------- */

typedef struct forward_op {
    gw_forward_cb cb;
    void *arg;
    tdm_arena *arena;
    gw_state *gw;
    const gw_principal *principal;
    const char *request_id;
    const char *erased_external_id; /* an ErasePerson call: whom it erases */
    const uint8_t *response;
    size_t len;
} forward_op;

#define ERASE_PERSON_PATH "/tandem.v1.EnrolmentService/ErasePerson"

/* The external id an ErasePerson request names, in arena; NULL for any other call
 * (or one enrolment will refuse anyway). */
static const char *erased_external_id(const char *grpc_path, const uint8_t *message, size_t len,
                                      tdm_arena *arena)
{
    if (strcmp(grpc_path, ERASE_PERSON_PATH) != 0)
        return NULL;
    Tandem__V1__ErasePersonRequest *r =
        tandem__v1__erase_person_request__unpack(NULL, len, message);
    const char *ext =
        r != NULL && r->external_id[0] != '\0' ? tdm_arena_strdup(arena, r->external_id) : NULL;
    if (r != NULL)
        tandem__v1__erase_person_request__free_unpacked(r, NULL);
    return ext;
}

static void erasure_settled(void *arg, tdm_status *st)
{
    forward_op *op = arg;
    if (st != NULL) {
        /* The person is erased; the client retries (ErasePerson is safe to repeat)
         * until their undelivered webhooks are cancelled too. */
        tdm_log_fields(TDM_LOG_WARN, op->request_id,
                       "could not cancel an erased person's "
                       "webhook deliveries",
                       "error", st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
        op->cb(op->arg,
               tdm_status_new(TDM_UNAVAILABLE, "the person was erased, but their undelivered "
                                               "webhooks could not be cancelled yet; retry"),
               NULL, 0);
        return;
    }
    op->cb(op->arg, NULL, op->response, op->len);
}

static void forward_done(void *arg, tdm_status *st, const uint8_t *response, size_t len,
                         const tdm_rpc_metadata *md)
{
    forward_op *op = arg;
    if (st != NULL) {
        op->cb(op->arg, st, NULL, 0);
        return;
    }
    /* The bytes belong to the client; keep a copy for the caller's lifetime. */
    uint8_t *copy =
        tdm_arena_memdup(op->arena, response != NULL ? response : (const uint8_t *)"", len);
    if (copy == NULL) {
        op->cb(op->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, 0);
        return;
    }
    if (op->erased_external_id != NULL) {
        /* "After ErasePerson answers, deliveries not yet made of any event about them
         * are cancelled" (API.md): so before it answers, not when the fan-out gets to
         * the person.erased event. */
        op->response = copy;
        op->len = len;
        gw_store_ctx c = {
            .pool = tdm_runtime_pg(op->gw->rt), .arena = op->arena, .request_id = op->request_id};
        if (gw_webhook_store_cancel_erased(&c, op->principal->tenant_id, op->erased_external_id,
                                           erasure_settled, op) != 0)
            erasure_settled(op, tdm_status_new(TDM_INTERNAL, "could not start the cancellation"));
        return;
    }
    op->cb(op->arg, NULL, copy, len);
}

void gw_forward(gw_state *gw, const char *peer, const char *grpc_path, const uint8_t *message,
                size_t len, const gw_principal *p, const char *request_id,
                const char *idempotency_key, uint64_t deadline_ms, tdm_arena *arena,
                gw_forward_cb cb, void *arg)
{
    tdm_rpc_client *client = peer != NULL ? tdm_runtime_peer(gw->rt, peer) : NULL;
    if (client == NULL) {
        cb(arg, tdm_status_new(TDM_UNIMPLEMENTED, "no service serves %s", grpc_path), NULL, 0);
        return;
    }
    if (gw_peer_unresponsive(gw, peer)) {
        /* Fail fast rather than queue behind a hung peer: the client may retry (REST
         * adds Retry-After) and the probe lets calls through again once it answers. */
        cb(arg, tdm_status_new(TDM_UNAVAILABLE, "the %s service is not responding", peer), NULL, 0);
        return;
    }
    if (deadline_ms == 0)
        deadline_ms = uv_now(tdm_runtime_loop(gw->rt)) + DEFAULT_FORWARD_TIMEOUT_MS;
    char *ctx = gw_context_metadata(arena, p, request_id, gw_remaining_ms(gw, deadline_ms));
    forward_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    if (ctx == NULL || op == NULL) {
        cb(arg, tdm_status_new(TDM_INTERNAL, "could not encode the request context"), NULL, 0);
        return;
    }
    op->cb = cb;
    op->arg = arg;
    op->arena = arena;
    op->gw = gw;
    op->principal = p;
    op->request_id = request_id;
    if (p != NULL && p->tenant_id != NULL)
        op->erased_external_id = erased_external_id(grpc_path, message, len, arena);
    tdm_http_header md[3];
    size_t n = 0;
    md[n++] = (tdm_http_header){TDM_CONTEXT_METADATA_KEY, ctx};
    if (request_id != NULL)
        md[n++] = (tdm_http_header){"x-request-id", request_id};
    if (idempotency_key != NULL && idempotency_key[0] != '\0')
        md[n++] = (tdm_http_header){"idempotency-key", idempotency_key};
    if (tdm_rpc_client_call_raw(client, grpc_path, message, len, md, n, deadline_ms, forward_done,
                                op) != 0)
        cb(arg, tdm_status_new(TDM_UNAVAILABLE, "the %s service is unavailable", peer), NULL, 0);
}

/* ---- the gRPC door ---------------------------------------------------------------------- */

/* The access log line of a gRPC call at the gateway; written before completing,
 * which may free the call. */
static void grpc_access_log(tdm_call *call, uint64_t start_ms, const char *request_id,
                            const gw_principal *p, tdm_code code)
{
    char ms[32];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(uv_now(tdm_call_loop(call)) - start_ms));
    tdm_log_fields(TDM_LOG_INFO, request_id, "grpc call", "path", tdm_call_path(call), "code",
                   tdm_code_name(code), "duration_ms", ms, "key_id", p != NULL ? p->key_id : NULL,
                   "tenant_id", p != NULL ? p->tenant_id : NULL, NULL);
}

void gw_grpc_complete(tdm_call *call, uint64_t start_ms, const char *request_id,
                      const gw_principal *p, tdm_status *st, const ProtobufCMessage *response)
{
    grpc_access_log(call, start_ms, request_id, p, st != NULL ? st->code : TDM_OK);
    if (st != NULL)
        tdm_call_fail(call, st);
    else
        tdm_call_respond(call, response);
}

typedef struct grpc_forward {
    gw_state *gw;
    tdm_call *call;
    uint64_t start_ms;
    const gw_principal *principal;
    const char *peer;
    const char *request_id;
    uint64_t deadline_ms;
} grpc_forward;

/* The service's answer goes back to the client as it came, undecoded. */
static void grpc_forward_done(void *arg, tdm_status *st, const uint8_t *response, size_t len)
{
    grpc_forward *g = arg;
    if (st != NULL) {
        gw_grpc_complete(g->call, g->start_ms, g->request_id, g->principal, st, NULL);
        return;
    }
    grpc_access_log(g->call, g->start_ms, g->request_id, g->principal, TDM_OK);
    tdm_call_respond_bytes(g->call, response, len);
}

/* The message is complete and its caller admitted: forward its bytes undecoded (the
 * owning service validates it; unknown fields of a newer client travel on). */
static void grpc_forward_handler(tdm_call *call, const ProtobufCMessage *request, void *data)
{
    (void)request;
    (void)data;
    grpc_forward *g = tdm_call_user(call);
    size_t len = 0;
    const uint8_t *bytes = tdm_call_request_bytes(call, &len);
    gw_forward(g->gw, g->peer, tdm_call_path(call), bytes != NULL ? bytes : (const uint8_t *)"",
               len, g->principal, g->request_id, tdm_call_metadata(call, "idempotency-key", NULL),
               g->deadline_ms, tdm_call_arena(call), grpc_forward_done, g);
}

static void grpc_forward_authed(void *arg, tdm_status *st, const gw_principal *p,
                                uint32_t retry_after_s)
{
    grpc_forward *g = arg;
    if (st != NULL) {
        if (st->code == TDM_RESOURCE_EXHAUSTED && retry_after_s > 0) {
            /* As REST's Retry-After: whole seconds. */
            char retry[16];
            snprintf(retry, sizeof(retry), "%u", retry_after_s);
            tdm_call_set_response_metadata(g->call, "retry-after", retry);
        }
        gw_grpc_complete(g->call, g->start_ms, g->request_id, NULL, st, NULL);
        return;
    }
    g->principal = tdm_arena_memdup(tdm_call_arena(g->call), p, sizeof(*p));
    if (g->principal == NULL) {
        gw_grpc_complete(g->call, g->start_ms, g->request_id, NULL,
                         tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    tdm_call_admit(g->call);
}

static bool method_reads(const char *name)
{
    return strncmp(name, "Get", 3) == 0 || strncmp(name, "List", 4) == 0 ||
           strncmp(name, "Score", 5) == 0 || strncmp(name, "Suggest", 7) == 0;
}

/* The call's metadata is complete, its message still arriving: the key is checked
 * now, so a caller without one is refused before the gateway holds more than
 * TDM_ADMIT_BUFFER_BYTES of what it sends, and nothing of it is ever decoded. */
static void grpc_forward_admit(tdm_call *call, void *data)
{
    gw_state *gw = data;
    tdm_arena *a = tdm_call_arena(call);
    const char *path = tdm_call_path(call);
    const char *slash = strrchr(path, '/');
    grpc_forward *g = tdm_arena_calloc(a, 1, sizeof(*g));
    char *service = tdm_arena_strndup(a, path + 1, slash != NULL ? (size_t)(slash - path - 1) : 0);
    if (g == NULL || service == NULL || slash == NULL) {
        tdm_call_fail(call, tdm_status_new(TDM_INTERNAL, "internal error"));
        return;
    }
    g->gw = gw;
    g->call = call;
    g->start_ms = uv_now(tdm_call_loop(call));
    g->peer = gw_service_peer(service);
    g->request_id = gw_grpc_request_id(call);
    g->deadline_ms = tdm_call_ctx(call)->deadline_ms;
    tdm_call_set_user(call, g);
    /* The route table's scope when the method has a REST binding, so both doors agree;
     * otherwise the naming rule (reads are Get*, List*, Score*, Suggest*). */
    gw_route_auth ra;
    const gw_route_auth *declared = gw_rest_auth_for_grpc_path(path);
    if (declared != NULL)
        ra = *declared;
    else
        gw_service_method_auth(service, slash + 1, method_reads(slash + 1), &ra);
    gw_auth_resolve_from(gw, tdm_call_peer_address(call), a, g->request_id, g->deadline_ms,
                         tdm_call_metadata(call, "authorization", NULL),
                         tdm_call_metadata(call, GW_TENANT_HEADER, NULL), &ra, grpc_forward_authed,
                         g);
}

/* The forwarding definitions: static, because the server keeps pointers to them
 * until it is freed, after the service's shutdown hook has run. */
#define FORWARDED_SERVICES    3
#define FORWARDED_METHODS_MAX 64

static tdm_rpc_method_def FORWARD_METHODS[FORWARDED_SERVICES][FORWARDED_METHODS_MAX];
static tdm_rpc_service_def FORWARD_DEFS[FORWARDED_SERVICES];

tdm_status *gw_passthrough_register(gw_state *gw)
{
    const ProtobufCServiceDescriptor *services[FORWARDED_SERVICES] = {
        &tandem__v1__enrolment_service__descriptor,
        &tandem__v1__matching_service__descriptor,
        &tandem__v1__feedback_service__descriptor,
    };
    for (size_t s = 0; s < FORWARDED_SERVICES; s++) {
        const ProtobufCServiceDescriptor *sd = services[s];
        if (sd->n_methods > FORWARDED_METHODS_MAX)
            return tdm_status_new(TDM_INTERNAL, "%s has more than %d methods", sd->name,
                                  FORWARDED_METHODS_MAX);
        for (unsigned i = 0; i < sd->n_methods; i++) {
            FORWARD_METHODS[s][i] = (tdm_rpc_method_def){
                .name = sd->methods[i].name,
                .handler = grpc_forward_handler,
                .max_request_bytes = strcmp(sd->methods[i].name, "BatchEnrol") == 0
                                         ? TDM_MAX_BATCH_MESSAGE_BYTES
                                         : 0,
            };
        }
        FORWARD_DEFS[s] = (tdm_rpc_service_def){
            .descriptor = sd,
            .methods = FORWARD_METHODS[s],
            .n_methods = sd->n_methods,
            .require_context = false,
            .service_data = gw,
            .admit = grpc_forward_admit,
            .raw_requests = true,
        };
        tdm_status *st = tdm_server_add_service(tdm_runtime_server(gw->rt), &FORWARD_DEFS[s]);
        if (st != NULL)
            return st;
    }
    return NULL;
}

/* ---- peer readiness: grpc.health.v1.Health/Check every second ---------------------------- */

/*
 * The probe serves two purposes. Its answer (SERVING or not) feeds /readyz. Its
 * silence detects a hung peer - one whose socket still accepts but which answers
 * nothing (SIGSTOP, a wedged process, a node out of memory) - that no connect error
 * reveals: after PROBE_TIMEOUTS_UNRESPONSIVE probes in a row time out, the peer is
 * unresponsive. Calls in flight to it are failed (UNAVAILABLE) by dropping its
 * connection, and new calls fail fast in gw_forward instead of waiting out their
 * deadline (60 s for REST). Any answer at all, or a plain connection error, ends it.
 * Three timeouts (about 3 s) rather than one, so a peer that is merely slow for a
 * moment under load is not cut off, and a caller's own short deadline still ends
 * its call as DEADLINE_EXCEEDED first.
 *
 * A peer that answers NOT_SERVING PROBES_NOT_SERVING_RESET times in a row (a replica
 * that lost its database, say) gets its connection reset, so the next call dials
 * again: behind a Kubernetes Service that reaches another replica, where keeping the
 * one HTTP/2 connection would pin this gateway - and every gateway that happened to
 * connect to the same pod - to the sick one, unready. A replica that is merely shutting
 * down sends GOAWAY, which moves the connection on by itself.
 */
#define PROBE_INTERVAL_MS           1000
#define PROBE_TIMEOUT_MS            900
#define PROBE_TIMEOUTS_UNRESPONSIVE 3
#define PROBES_NOT_SERVING_RESET    3

static const char *const PROBED[GW_PEER_COUNT] = {"enrolment", "matching", "feedback"};

typedef struct probe_op {
    gw_state *gw;
    size_t index;
} probe_op;

static probe_op PROBES[GW_PEER_COUNT];

static void probe_done(void *arg, tdm_status *st, const uint8_t *response, size_t len,
                       const tdm_rpc_metadata *md)
{
    probe_op *p = arg;
    gw_state *gw = p->gw;
    size_t i = p->index;
    /* HealthCheckResponse{status: SERVING} is the two bytes 08 01. */
    gw->peer_ok[i] = st == NULL && len == 2 && response[0] == 0x08 && response[1] == 1;
    gw->probing[i] = false;
    bool timed_out = st != NULL && st->code == TDM_DEADLINE_EXCEEDED;
    bool answered = st == NULL; /* SERVING, or NOT_SERVING / UNKNOWN */
    tdm_status_free(st);
    if (answered && !gw->peer_ok[i] && ++gw->not_serving[i] >= PROBES_NOT_SERVING_RESET) {
        gw->not_serving[i] = 0;
        tdm_log_fields(TDM_LOG_WARN, NULL, "peer not serving: connecting again", "peer", PROBED[i],
                       NULL);
        tdm_rpc_client *c = tdm_runtime_peer(gw->rt, PROBED[i]);
        if (c != NULL)
            tdm_rpc_client_reset(c, "the service is not serving");
    } else if (gw->peer_ok[i]) {
        gw->not_serving[i] = 0;
    }
    if (!timed_out) {
        gw->probe_timeouts[i] = 0;
        if (gw->unresponsive[i]) {
            gw->unresponsive[i] = false;
            tdm_log_fields(TDM_LOG_INFO, NULL, "peer answers again", "peer", PROBED[i], NULL);
        }
        return;
    }
    if (++gw->probe_timeouts[i] < PROBE_TIMEOUTS_UNRESPONSIVE || gw->unresponsive[i])
        return;
    gw->unresponsive[i] = true;
    tdm_log_fields(TDM_LOG_WARN, NULL, "peer not responding: failing its calls", "peer", PROBED[i],
                   NULL);
    tdm_rpc_client *c = tdm_runtime_peer(gw->rt, PROBED[i]);
    if (c != NULL)
        tdm_rpc_client_reset(c, "the service is not responding");
}

static void probe_tick(uv_timer_t *timer)
{
    gw_state *gw = timer->data;
    if (tdm_runtime_stopping(gw->rt))
        return;
    uint64_t deadline = uv_now(tdm_runtime_loop(gw->rt)) + PROBE_TIMEOUT_MS;
    for (size_t i = 0; i < GW_PEER_COUNT; i++) {
        if (gw->probing[i])
            continue;
        tdm_rpc_client *c = tdm_runtime_peer(gw->rt, PROBED[i]);
        if (c == NULL)
            continue;
        PROBES[i] = (probe_op){gw, i};
        gw->probing[i] = true;
        if (tdm_rpc_client_call_raw(c, "/grpc.health.v1.Health/Check", (const uint8_t *)"", 0, NULL,
                                    0, deadline, probe_done, &PROBES[i]) != 0) {
            gw->probing[i] = false;
            gw->peer_ok[i] = false;
        }
    }
}

void gw_probe_start(gw_state *gw)
{
    uv_timer_init(tdm_runtime_loop(gw->rt), &gw->probe_timer);
    gw->probe_timer.data = gw;
    gw->probe_timer_open = true;
    uv_timer_start(&gw->probe_timer, probe_tick, 0, PROBE_INTERVAL_MS);
}

void gw_probe_stop(gw_state *gw)
{
    if (!gw->probe_timer_open)
        return;
    uv_timer_stop(&gw->probe_timer);
    uv_close((uv_handle_t *)&gw->probe_timer, NULL);
    gw->probe_timer_open = false;
}

const char *gw_peers_unreachable(const gw_state *gw)
{
    for (size_t i = 0; i < GW_PEER_COUNT; i++) {
        if (!gw->peer_ok[i])
            return PROBED[i];
    }
    return NULL;
}

bool gw_peer_unresponsive(const gw_state *gw, const char *peer)
{
    for (size_t i = 0; peer != NULL && i < GW_PEER_COUNT; i++) {
        if (strcmp(PROBED[i], peer) == 0)
            return gw->unresponsive[i];
    }
    return false;
}
