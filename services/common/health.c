/*
 * health.c - grpc.health.v1.Health, reflecting the server's readiness
 * (tdm_server_set_ready): Check answers SERVING or NOT_SERVING for the whole server
 * ("") and for every service it serves, NOT_FOUND for others; Watch streams the
 * status now and on every change, and ends when the server shuts down.
 *
 * Health is built into the transport rather than registered through
 * tdm_server_add_service because Watch is server-streaming, which the handler API
 * (unary) does not express. The messages are still encoded by protobuf-c.
 */
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "transport_internal.h"

#define HEALTH_SERVICE "grpc.health.v1.Health"

static bool service_known(const tdm_server *srv, const char *name)
{
    if (name[0] == '\0' || strcmp(name, HEALTH_SERVICE) == 0)
        return true;
    for (size_t i = 0; i < srv->n_services; i++) {
        if (strcmp(srv->services[i].def->descriptor->name, name) == 0)
            return true;
    }
    const char *builtins[8];
    size_t n = tdm_builtin_service_names(srv, builtins, 8);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(builtins[i], name) == 0)
            return true;
    }
    return false;
}

static int serving_status(const tdm_server *srv, const char *service)
{
    if (!service_known(srv, service))
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return srv->ready ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int send_status(tdm_h2_stream *s, int status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    uint8_t buf[16];
    size_t len = grpc__health__v1__health_check_response__pack(&resp, buf);
    s->health_last = status;
    return tdm_h2_grpc_append(s, buf, len, false);
}

/* The service name asked about, in the stream's arena; NULL when undecodable. */
static const char *request_service(tdm_h2_stream *s, const uint8_t *msg, size_t len)
{
    Grpc__Health__V1__HealthCheckRequest *req = grpc__health__v1__health_check_request__unpack(
        tdm_arena_protobuf_allocator(s->arena), len, msg);
    if (req == NULL)
        return NULL;
    return req->service != NULL ? req->service : "";
}

static void check_on_message(tdm_h2_stream *s, const uint8_t *msg, size_t len)
{
    if (s->out_finished)
        return;
    const char *service = request_service(s, msg, len);
    tdm_code code = TDM_OK;
    if (service == NULL) {
        code = TDM_INVALID_ARGUMENT;
        tdm_h2_grpc_finish(s, code, "invalid HealthCheckRequest", NULL);
    } else if (!service_known(s->srv, service)) {
        code = TDM_NOT_FOUND;
        tdm_h2_grpc_finish(s, code, "unknown service", NULL);
    } else if (send_status(s, serving_status(s->srv, service)) != 0) {
        code = TDM_INTERNAL;
        tdm_h2_grpc_finish(s, code, "internal error", NULL);
    } else {
        tdm_h2_grpc_finish(s, TDM_OK, NULL, NULL);
    }
    tdm_call_metrics(s->srv, HEALTH_SERVICE, "Check", code, s->start_ns);
}

static void watch_on_message(tdm_h2_stream *s, const uint8_t *msg, size_t len)
{
    if (s->out_finished || s->watching)
        return;
    const char *service = request_service(s, msg, len);
    if (service == NULL) {
        tdm_call_metrics(s->srv, HEALTH_SERVICE, "Watch", TDM_INVALID_ARGUMENT, s->start_ns);
        tdm_h2_grpc_finish(s, TDM_INVALID_ARGUMENT, "invalid HealthCheckRequest", NULL);
        return;
    }
    s->builtin_state = (void *)service;
    if (s->srv->state >= TDM_SERVER_DRAINING) {
        send_status(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
        tdm_h2_grpc_finish(s, TDM_UNAVAILABLE, "server shutting down", NULL);
        return;
    }
    send_status(s, serving_status(s->srv, service));
    s->watching = true;
    s->w_prev = NULL;
    s->w_next = s->srv->watchers;
    if (s->srv->watchers != NULL)
        s->srv->watchers->w_prev = s;
    s->srv->watchers = s;
}

/* Watch is server-streaming: the client's half-close does not end it. */
static void watch_on_end(tdm_h2_stream *s)
{
    if (!s->watching && !s->out_finished) {
        tdm_call_metrics(s->srv, HEALTH_SERVICE, "Watch", TDM_INVALID_ARGUMENT, s->start_ns);
        tdm_h2_grpc_finish(s, TDM_INVALID_ARGUMENT, "Watch needs a HealthCheckRequest", NULL);
    }
}

static void watch_on_close(tdm_h2_stream *s)
{
    if (!s->out_finished)
        tdm_call_metrics(s->srv, HEALTH_SERVICE, "Watch", TDM_CANCELLED, s->start_ns);
}

void tdm_health_notify(tdm_server *srv)
{
    tdm_h2_stream *next;
    for (tdm_h2_stream *s = srv->watchers; s != NULL; s = next) {
        /* A flush may close the connection and free s. */
        next = s->w_next;
        int status = serving_status(srv, (const char *)s->builtin_state);
        if (status != s->health_last) {
            send_status(s, status);
            tdm_h2_after_submit(s);
        }
    }
}

void tdm_health_end_watchers(tdm_server *srv)
{
    while (srv->watchers != NULL) {
        tdm_h2_stream *s = srv->watchers;
        srv->watchers = s->w_next;
        if (srv->watchers != NULL)
            srv->watchers->w_prev = NULL;
        s->watching = false;
        if (s->health_last != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING)
            send_status(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
        tdm_call_metrics(srv, HEALTH_SERVICE, "Watch", TDM_UNAVAILABLE, s->start_ns);
        tdm_h2_grpc_finish(s, TDM_UNAVAILABLE, "server shutting down", NULL);
        tdm_h2_after_submit(s);
    }
}

const tdm_builtin_method tdm_health_methods[2] = {
    {.path = "/" HEALTH_SERVICE "/Check",
     .service = HEALTH_SERVICE,
     .method = "Check",
     .on_message = check_on_message},
    {.path = "/" HEALTH_SERVICE "/Watch",
     .service = HEALTH_SERVICE,
     .method = "Watch",
     .on_message = watch_on_message,
     .on_end = watch_on_end,
     .on_close = watch_on_close},
};
