/*
 * fuzz_grpc_metadata.c - gRPC request metadata as a service meets it: base64 of "-bin"
 * values (grpc_wire.c tdm_base64_decode), the x-tandem-context-bin RequestContext
 * (grpc_context.c tdm_grpc_context_decode, nanopb), grpc-status-details-bin
 * (grpc_status_details.c), grpc-message percent-decoding, request ids, and the whole
 * header check of a call (grpc_call.c tdm_call_check_headers) on a stream built in
 * memory.
 *
 * Input: up to four NUL-separated fields: the x-tandem-context-bin value (base64 text),
 * an x-request-id, a grpc-timeout, and raw bytes (used as a RequestContext, as a
 * google.rpc.Status and as a grpc-message).
 *
 * Asserts: base64 that a strict reference decoder accepts decodes to the same bytes,
 * and every accepted value has a length within 3/4 of its text; encode then decode is
 * the identity; a decoded context has bounded, NUL-terminated strings and survives
 * tdm_grpc_context_encode/decode unchanged; grpc-message decode(encode(s)) == s;
 * request ids are accepted exactly when they are 1-64 of [A-Za-z0-9._-]; the header
 * check either refuses with a status or leaves a usable request id (and a tenant only
 * when the context decoded); no memory errors (ASan/UBSan).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/common/transport_internal.h"
#include "tandem/rpc_client.h"

#define MD_MAX_INPUT_BYTES 4096u

static void fail(const char *what)
{
    fprintf(stderr, "grpc_metadata: %s\n", what);
    abort();
}

static int b64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict RFC 4648 standard alphabet, padding optional. Returns -1 when refused. */
static long reference_b64(const uint8_t *s, size_t len, uint8_t *out)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

static void check_base64(tdm_arena *a, const uint8_t *text, size_t len)
{
    size_t n = SIZE_MAX;
    uint8_t *got = tdm_base64_decode(a, (const char *)text, len, &n);
    uint8_t *want = malloc(len + 1);
    if (want == NULL)
        abort();
    long ref = reference_b64(text, len, want);
    if (got != NULL && n > len / 4 * 3 + 3)
        fail("base64 decoded length larger than the text allows");
    if (ref >= 0) {
        /* Padding characters in the middle are not for the reference to judge. */
        if (got == NULL || n != (size_t)ref || (n > 0 && memcmp(got, want, n) != 0))
            fail("valid base64 decoded differently");
    }
    if (got != NULL) {
        char *again = tdm_base64_encode(a, got, n);
        size_t m = SIZE_MAX;
        uint8_t *back = again != NULL ? tdm_base64_decode(a, again, strlen(again), &m) : NULL;
        if (back == NULL || m != n || (n > 0 && memcmp(back, got, n) != 0))
            fail("base64 encode/decode is not the identity");
    }
    free(want);
}

static void check_context(tdm_arena *a, const uint8_t *bytes, size_t len)
{
    tdm_call_context ctx = {0};
    if (tdm_grpc_context_decode(a, bytes, len, &ctx) != 0)
        return;
    if (ctx.tenant_id == NULL || ctx.principal_id == NULL || strlen(ctx.tenant_id) > 36 ||
        strlen(ctx.principal_id) > 36 ||
        (ctx.request_id != NULL &&
         !tdm_request_id_acceptable(ctx.request_id, strlen(ctx.request_id))))
        fail("decoded context out of bounds");
    char *text = tdm_grpc_context_encode(a, &ctx, -1);
    if (text == NULL)
        fail("a decoded context does not encode");
    size_t n = 0;
    uint8_t *raw = tdm_base64_decode(a, text, strlen(text), &n);
    tdm_call_context back = {0};
    if (raw == NULL || tdm_grpc_context_decode(a, raw, n, &back) != 0)
        fail("an encoded context does not decode");
    if (strcmp(back.tenant_id, ctx.tenant_id) != 0 ||
        strcmp(back.principal_id, ctx.principal_id) != 0 ||
        back.principal_kind != ctx.principal_kind || back.scopes != ctx.scopes ||
        (back.request_id == NULL) != (ctx.request_id == NULL) ||
        (ctx.request_id != NULL && strcmp(back.request_id, ctx.request_id) != 0))
        fail("context changed through encode/decode");
}

static bool reference_request_id(const uint8_t *id, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static void check_message(tdm_arena *a, const uint8_t *bytes, size_t len)
{
    char *decoded = tdm_grpc_message_decode(a, (const char *)bytes, len);
    if (decoded == NULL)
        fail("grpc-message decode failed");
    char *text = tdm_arena_strndup(a, (const char *)bytes, len);
    char *encoded = tdm_grpc_message_encode(a, text);
    for (const char *p = encoded; *p != '\0'; p++) {
        if (*p < 0x20 || *p > 0x7e)
            fail("grpc-message encoding left a byte outside 0x20-0x7E");
    }
    char *back = tdm_grpc_message_decode(a, encoded, strlen(encoded));
    if (strcmp(back, text) != 0)
        fail("grpc-message decode(encode(s)) != s");
}

/* The server's own check of a call's headers, on a stream that exists only here. */
static void check_headers(tdm_arena *a, const char *ctx_b64, const char *request_id,
                          const char *timeout, bool require_context)
{
    static tdm_server srv;
    srv.loop = uv_default_loop();
    tdm_rpc_service_def def = {.require_context = require_context};
    tdm_srv_service svc = {.def = &def};
    tdm_http_header headers[2];
    size_t n = 0;
    if (ctx_b64 != NULL)
        headers[n++] = (tdm_http_header){TDM_CONTEXT_METADATA_KEY, ctx_b64};
    if (request_id != NULL)
        headers[n++] = (tdm_http_header){"x-request-id", request_id};
    tdm_h2_stream s = {.arena = a,
                       .srv = &srv,
                       .svc = &svc,
                       .headers = headers,
                       .n_headers = n,
                       .timeout = timeout};
    tdm_status *st = tdm_call_check_headers(&s);
    if (st != NULL) {
        if (st->code == TDM_OK || st->message == NULL)
            fail("refused without a status");
        tdm_status_free(st);
        return;
    }
    if (s.ctx.request_id == NULL ||
        !tdm_request_id_acceptable(s.ctx.request_id, strlen(s.ctx.request_id)))
        fail("accepted call without a usable request id");
    if (s.ctx.tenant_id != NULL && (ctx_b64 == NULL || s.ctx.tenant_id[0] == '\0'))
        fail("tenant from nowhere");
    if (require_context && s.ctx.tenant_id == NULL)
        fail("context required but call accepted without one");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > MD_MAX_INPUT_BYTES)
        return 0;
    bool require_context = data[0] & 1;
    data++;
    size--;
    /* Split into up to four fields at NUL bytes (header values cannot hold NUL). */
    const uint8_t *field[4] = {NULL, NULL, NULL, NULL};
    size_t field_len[4] = {0, 0, 0, 0};
    size_t start = 0, nf = 0;
    for (size_t i = 0; i <= size && nf < 4; i++) {
        if (i == size || (data[i] == 0 && nf < 3)) {
            field[nf] = data + start;
            field_len[nf] = i - start;
            nf++;
            start = i + 1;
        }
    }
    tdm_arena *a = tdm_arena_new(0);
    if (a == NULL)
        return 0;
    /* Exact-size copies so ASan sees any read past a value. */
    char *text[4] = {NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < nf; i++) {
        text[i] = malloc(field_len[i] + 1);
        if (text[i] == NULL)
            abort();
        memcpy(text[i], field[i], field_len[i]);
        text[i][field_len[i]] = '\0';
    }
    check_base64(a, (const uint8_t *)text[0], field_len[0]);
    size_t n = 0;
    uint8_t *ctx_bytes = tdm_base64_decode(a, text[0], field_len[0], &n);
    if (ctx_bytes != NULL)
        check_context(a, ctx_bytes, n);
    if (nf > 1 && tdm_request_id_acceptable(text[1], field_len[1]) !=
                      reference_request_id((const uint8_t *)text[1], field_len[1]))
        fail("request id rule differs");
    if (nf > 3) {
        uint8_t *raw = malloc(field_len[3] + 1);
        if (raw == NULL)
            abort();
        memcpy(raw, field[3], field_len[3]);
        check_context(a, raw, field_len[3]);
        tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "refused");
        tdm_grpc_status_details_decode(st, raw, field_len[3]);
        char *b64 = tdm_grpc_status_details_encode(a, st);
        if ((st->n_violations > 0) != (b64 != NULL))
            fail("status details encode disagrees with the violations");
        tdm_status_free(st);
        check_message(a, raw, field_len[3]);
        free(raw);
    }
    check_headers(a, text[0], nf > 1 ? text[1] : NULL, nf > 2 ? text[2] : NULL, require_context);
    for (size_t i = 0; i < nf; i++)
        free(text[i]);
    tdm_arena_free(a);
    return 0;
}
