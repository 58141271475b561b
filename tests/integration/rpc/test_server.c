/*
 * test_server.c - the real Tandem transport serving tandem.test.v1.EchoService,
 * for the interop tests (grpcio client -> this server) and the benchmark.
 *
 *   tdm_rpc_test_server [port] [--not-ready] [--no-reflection] [--send-stall-ms N]
 *
 * Prints "port <n>" on stdout once listening (port 0 picks a free one). SIGTERM
 * drains (tdm_server_shutdown, 5 s) and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "tandem/log.h"
#include "tandem/server.h"
#include "echo.pb-c.h"

typedef struct slow_call {
    uv_timer_t timer;
    tdm_call *call;
    Tandem__Test__V1__EchoRequest *req;
    bool fired;
} slow_call;

static uv_loop_t *loop;
static tdm_server *server;
static uv_signal_t sigterm;

static Tandem__Test__V1__EchoResponse *echo_response(tdm_call *call,
                                                     const Tandem__Test__V1__EchoRequest *req)
{
    tdm_arena *a = tdm_call_arena(call);
    Tandem__Test__V1__EchoResponse *resp = tdm_arena_alloc(a, sizeof(*resp));
    tandem__test__v1__echo_response__init(resp);
    resp->message = req->message;
    resp->payload = req->payload;
    const tdm_call_context *ctx = tdm_call_ctx(call);
    resp->request_id = (char *)(ctx->request_id != NULL ? ctx->request_id : "");
    resp->tenant_id = (char *)(ctx->tenant_id != NULL ? ctx->tenant_id : "");
    int64_t rem = tdm_call_remaining_ms(call);
    resp->remaining_ms = rem == INT64_MAX ? -1 : rem;
    resp->metadata = tdm_arena_calloc(a, req->n_metadata_keys + 1, sizeof(*resp->metadata));
    for (size_t i = 0; i < req->n_metadata_keys; i++) {
        size_t len = 0;
        const char *v = tdm_call_metadata(call, req->metadata_keys[i], &len);
        if (v == NULL)
            continue;
        Tandem__Test__V1__MetadataEntry *e = tdm_arena_alloc(a, sizeof(*e));
        tandem__test__v1__metadata_entry__init(e);
        e->key = req->metadata_keys[i];
        e->value = tdm_arena_strndup(a, v, len);
        resp->metadata[resp->n_metadata++] = e;
    }
    return resp;
}

static void echo(tdm_call *call, const ProtobufCMessage *request, void *data)
{
    const Tandem__Test__V1__EchoRequest *req = (const Tandem__Test__V1__EchoRequest *)request;
    tdm_call_respond(call, &echo_response(call, req)->base);
}

static void slow_closed(uv_handle_t *h)
{
    free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
    slow_call *sc = t->data;
    sc->fired = true;
    /* Completing a cancelled call is allowed: the completion is dropped. */
    tdm_call_respond(sc->call, &echo_response(sc->call, sc->req)->base);
    uv_close((uv_handle_t *)&sc->timer, slow_closed);
}

/* The on_cancel hook: a real handler would cancel its database query here. */
static void slow_cancel(void *arg)
{
    slow_call *sc = arg;
    if (sc->fired)
        return;
    uv_timer_stop(&sc->timer);
    tdm_call_fail(sc->call, tdm_status_new(TDM_CANCELLED, "cancelled"));
    uv_close((uv_handle_t *)&sc->timer, slow_closed);
}

static void slow(tdm_call *call, const ProtobufCMessage *request, void *data)
{
    slow_call *sc = calloc(1, sizeof(*sc));
    sc->call = call;
    sc->req = (Tandem__Test__V1__EchoRequest *)request;
    uv_timer_init(tdm_call_loop(call), &sc->timer);
    sc->timer.data = sc;
    uv_timer_start(&sc->timer, slow_fire, (uint64_t)(sc->req->delay_ms > 0 ? sc->req->delay_ms : 0),
                   0);
    tdm_call_on_cancel(call, slow_cancel, sc);
}

static void fail(tdm_call *call, const ProtobufCMessage *request, void *data)
{
    tdm_violations v = {0};
    tdm_violations_add(&v, "message", "must not be empty");
    tdm_violations_add(&v, "payload", "must be at most %d bytes", 16);
    tdm_call_fail(call, tdm_violations_take(&v, "invalid echo request: 100% wrong ✓"));
}

static const tdm_rpc_method_def echo_methods[] = {
    {.name = "Echo", .handler = echo},
    {.name = "Slow", .handler = slow},
    {.name = "Fail", .handler = fail},
    {.name = "Big", .handler = echo, .max_request_bytes = TDM_MAX_BATCH_MESSAGE_BYTES},
};

static const tdm_rpc_service_def echo_service = {
    .descriptor = &tandem__test__v1__echo_service__descriptor,
    .methods = echo_methods,
    .n_methods = sizeof(echo_methods) / sizeof(echo_methods[0]),
};

static void drained(void *arg)
{
    uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_sigterm(uv_signal_t *s, int signum)
{
    uv_signal_stop(s);
    tdm_server_shutdown(server, 5000, drained, NULL);
}

int main(int argc, char **argv)
{
    /* As the runtime does: a peer closing during a write is an error return, not a
     * fatal signal. */
    signal(SIGPIPE, SIG_IGN);
    int port = 0;
    bool ready = true, reflection = true;
    uint32_t send_stall_ms = 0; /* the server's default */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--not-ready") == 0)
            ready = false;
        else if (strcmp(argv[i], "--send-stall-ms") == 0 && i + 1 < argc)
            send_stall_ms = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-reflection") == 0)
            reflection = false;
        else
            port = atoi(argv[i]);
    }
    tdm_log_init("rpc-test", TDM_LOG_WARN);
    loop = uv_default_loop();
    tdm_server_options opts = {
        .service_name = "rpc-test",
        .reflection = reflection,
        .send_stall_timeout_ms = send_stall_ms,
    };
    snprintf(opts.listen.host, sizeof(opts.listen.host), "127.0.0.1");
    opts.listen.port = port;
    server = tdm_server_new(loop, &opts);
    tdm_status *st = tdm_server_add_service(server, &echo_service);
    if (st == NULL)
        st = tdm_server_start(server);
    if (st != NULL) {
        fprintf(stderr, "test server: %s\n", st->message);
        return 1;
    }
    tdm_server_set_ready(server, ready, ready ? NULL : "not ready (test)");
    printf("port %d\n", tdm_server_port(server));
    fflush(stdout);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigterm, on_sigterm, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 0;
}
