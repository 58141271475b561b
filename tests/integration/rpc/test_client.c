/*
 * test_client.c - Tandem's gRPC client (tdm_rpc_client_*) against a server given on
 * the command line: the grpcio reference server (grpc_echo_server.py) or Tandem's
 * own test server. Each case prints "ok <name>" or "FAIL <name>: why"; exit status
 * 0 when every case passed.
 *
 *   tdm_rpc_test_client <port>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "tandem/log.h"
#include "tandem/rpc_client.h"
#include "tandem/server.h"
#include "echo.pb-c.h"

#define CONCURRENT_CALLS 1000

static uv_loop_t *loop;
static tdm_rpc_client *client;
static int failures;
static int step;
static void next_case(void);

static void check(bool ok, const char *name, const char *why)
{
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
    fflush(stdout);
}

static const char *code_of(const tdm_status *st)
{
    return st == NULL ? "OK" : tdm_code_name(st->code);
}

typedef struct expect {
    const char *name;
    tdm_code code;
    size_t payload_len;
    tdm_arena *arena;
} expect;

static void on_expect(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    expect *e = arg;
    char why[512];
    tdm_code got = st == NULL ? TDM_OK : st->code;
    snprintf(why, sizeof(why), "got %s (%s), want %s", code_of(st), st != NULL ? st->message : "",
             tdm_code_name(e->code));
    bool ok = got == e->code;
    if (ok && st == NULL) {
        const Tandem__Test__V1__EchoResponse *r = (const Tandem__Test__V1__EchoResponse *)response;
        ok = r->payload.len == e->payload_len && strcmp(r->message, e->name) == 0;
        snprintf(why, sizeof(why), "payload %zu bytes (want %zu), message %s", r->payload.len,
                 e->payload_len, r->message);
    }
    check(ok, e->name, why);
    tdm_status_free(st);
    tdm_arena_free(e->arena);
    free(e);
    next_case();
}

static void call_echo(const char *method, const char *name, size_t payload, int delay_ms,
                      uint64_t deadline_ms, tdm_code want)
{
    expect *e = calloc(1, sizeof(*e));
    e->name = name;
    e->code = want;
    e->payload_len = payload;
    e->arena = tdm_arena_new(0);
    Tandem__Test__V1__EchoRequest req = TANDEM__TEST__V1__ECHO_REQUEST__INIT;
    req.message = (char *)name;
    req.payload.len = payload;
    req.payload.data = payload > 0 ? tdm_arena_calloc(e->arena, 1, payload) : NULL;
    req.delay_ms = delay_ms;
    uint64_t deadline = deadline_ms > 0 ? uv_now(loop) + deadline_ms : 0;
    if (tdm_rpc_client_call(client, &tandem__test__v1__echo_service__descriptor, method, &req.base,
                            NULL, deadline, e->arena, on_expect, e) != 0) {
        check(false, name, "call did not start");
        tdm_arena_free(e->arena);
        free(e);
        next_case();
    }
}

/* ---- Context and metadata ------------------------------------------------------------- */

static tdm_arena *ctx_arena;

static void on_context(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    const Tandem__Test__V1__EchoResponse *r = (const Tandem__Test__V1__EchoResponse *)response;
    char why[512] = "";
    bool ok = st == NULL;
    if (!ok) {
        snprintf(why, sizeof(why), "%s: %s", code_of(st), st->message);
    } else {
        ok = strcmp(r->request_id, "req-123") == 0 &&
             strcmp(r->tenant_id, "7d3f0c1e-2b1a-4c5d-9e8f-0a1b2c3d4e5f") == 0 &&
             r->remaining_ms > 1000 && r->remaining_ms <= 5000;
        snprintf(why, sizeof(why), "request_id %s tenant %s remaining %lld", r->request_id,
                 r->tenant_id, (long long)r->remaining_ms);
    }
    check(ok, "context_and_deadline_propagated", why);
    tdm_status_free(st);
    tdm_arena_free(ctx_arena);
    next_case();
}

static void call_context(void)
{
    ctx_arena = tdm_arena_new(0);
    tdm_call_context ctx = {
        .tenant_id = "7d3f0c1e-2b1a-4c5d-9e8f-0a1b2c3d4e5f",
        .principal_id = "0b5c7a2e-1111-4c5d-9e8f-0a1b2c3d4e5f",
        .principal_kind = 1,
        .scopes = TDM_SCOPE_ADMIN,
        .request_id = "req-123",
        .deadline_ms = uv_now(loop) + 5000,
    };
    Tandem__Test__V1__EchoRequest req = TANDEM__TEST__V1__ECHO_REQUEST__INIT;
    req.message = (char *)"ctx";
    tdm_rpc_client_call(client, &tandem__test__v1__echo_service__descriptor, "Echo", &req.base,
                        &ctx, 0, ctx_arena, on_context, NULL);
}

static void on_raw(void *arg, tdm_status *st, const uint8_t *response, size_t len,
                   const tdm_rpc_metadata *md)
{
    char why[256] = "no echoed metadata";
    bool ok = false;
    if (st != NULL) {
        snprintf(why, sizeof(why), "%s: %s", code_of(st), st->message);
    } else {
        Tandem__Test__V1__EchoResponse *r =
            tandem__test__v1__echo_response__unpack(NULL, len, response);
        for (size_t i = 0; r != NULL && i < r->n_metadata; i++) {
            if (strcmp(r->metadata[i]->key, "x-test-key") == 0 &&
                strcmp(r->metadata[i]->value, "round-trip") == 0)
                ok = true;
        }
        if (r != NULL)
            tandem__test__v1__echo_response__free_unpacked(r, NULL);
    }
    check(ok, "metadata_round_trip", why);
    tdm_status_free(st);
    next_case();
}

static void call_raw(void)
{
    Tandem__Test__V1__EchoRequest req = TANDEM__TEST__V1__ECHO_REQUEST__INIT;
    char *keys[] = {(char *)"x-test-key"};
    req.message = (char *)"raw";
    req.n_metadata_keys = 1;
    req.metadata_keys = keys;
    uint8_t buf[128];
    size_t len = tandem__test__v1__echo_request__pack(&req, buf);
    tdm_http_header md[] = {{"x-test-key", "round-trip"}};
    tdm_rpc_client_call_raw(client, "/tandem.test.v1.EchoService/Echo", buf, len, md, 1,
                            uv_now(loop) + 5000, on_raw, NULL);
}

/* ---- Violations --------------------------------------------------------------------------- */

static void on_fail(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    char why[256] = "no status";
    bool ok = false;
    if (st != NULL) {
        ok = st->code == TDM_INVALID_ARGUMENT && st->n_violations == 2 &&
             strcmp(st->violations[0].field, "message") == 0 &&
             strcmp(st->violations[1].field, "payload") == 0;
        snprintf(why, sizeof(why), "%s (%s), %zu violations", code_of(st), st->message,
                 st->n_violations);
    }
    check(ok, "field_violations_in_details", why);
    tdm_status_free(st);
    tdm_arena_free(ctx_arena);
    next_case();
}

static void call_fail(void)
{
    ctx_arena = tdm_arena_new(0);
    Tandem__Test__V1__EchoRequest req = TANDEM__TEST__V1__ECHO_REQUEST__INIT;
    tdm_rpc_client_call(client, &tandem__test__v1__echo_service__descriptor, "Fail", &req.base,
                        NULL, uv_now(loop) + 5000, ctx_arena, on_fail, NULL);
}

static void on_unknown(void *arg, tdm_status *st, const uint8_t *response, size_t len,
                       const tdm_rpc_metadata *md)
{
    check(st != NULL && st->code == TDM_UNIMPLEMENTED, "unknown_method_unimplemented", code_of(st));
    tdm_status_free(st);
    next_case();
}

/* ---- Concurrency -------------------------------------------------------------------------- */

static int concurrent_left, concurrent_bad;
static tdm_arena *concurrent_arena;

static void on_concurrent(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    if (st != NULL)
        concurrent_bad++;
    tdm_status_free(st);
    if (--concurrent_left == 0) {
        char why[64];
        snprintf(why, sizeof(why), "%d of %d failed", concurrent_bad, CONCURRENT_CALLS);
        check(concurrent_bad == 0, "concurrent_1000", why);
        tdm_arena_free(concurrent_arena);
        next_case();
    }
}

static void call_concurrent(void)
{
    concurrent_left = CONCURRENT_CALLS;
    concurrent_arena = tdm_arena_new(0);
    Tandem__Test__V1__EchoRequest req = TANDEM__TEST__V1__ECHO_REQUEST__INIT;
    req.message = (char *)"many";
    for (int i = 0; i < CONCURRENT_CALLS; i++)
        tdm_rpc_client_call(client, &tandem__test__v1__echo_service__descriptor, "Echo", &req.base,
                            NULL, uv_now(loop) + 20000, concurrent_arena, on_concurrent, NULL);
}

/* ---- Sequence ------------------------------------------------------------------------------- */

static void closed(void *arg) {}

static void next_case(void)
{
    switch (step++) {
    case 0:
        call_echo("Echo", "unary", 16, 0, 5000, TDM_OK);
        break;
    case 1:
        call_echo("Echo", "empty", 0, 0, 5000, TDM_OK);
        break;
    case 2:
        call_echo("Echo", "four_mib", 4 * 1024 * 1024 - 64, 0, 20000, TDM_OK);
        break;
    case 3:
        call_echo("Slow", "deadline_1ms", 0, 2000, 1, TDM_DEADLINE_EXCEEDED);
        break;
    case 4:
        call_echo("Echo", "five_mib_refused", 5 * 1024 * 1024, 0, 20000, TDM_RESOURCE_EXHAUSTED);
        break;
    case 5:
        call_echo("Echo", "usable_after_refusal", 8, 0, 5000, TDM_OK);
        break;
    case 6:
        call_concurrent();
        break;
    case 7:
        call_context();
        break;
    case 8:
        call_raw();
        break;
    case 9:
        call_fail();
        break;
    case 10:
        tdm_rpc_client_call_raw(client, "/tandem.test.v1.EchoService/Nope", (const uint8_t *)"", 0,
                                NULL, 0, uv_now(loop) + 5000, on_unknown, NULL);
        break;
    default:
        tdm_rpc_client_close(client, closed, NULL);
        break;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <port>\n", argv[0]);
        return 2;
    }
    tdm_log_init("rpc-test-client", TDM_LOG_WARN);
    loop = uv_default_loop();
    tdm_addr peer = {.port = atoi(argv[1])};
    snprintf(peer.host, sizeof(peer.host), "127.0.0.1");
    client = tdm_rpc_client_new(loop, &peer, "echo");
    next_case();
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    printf("%s\n", failures == 0 ? "all passed" : "FAILED");
    return failures == 0 ? 0 : 1;
}
