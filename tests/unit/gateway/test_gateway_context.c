/*
 * test_gateway_context.c - the request context the gateway attaches: encoded with
 * nanopb into base64, it decodes with protobuf-c (what any service or tool would use)
 * to exactly the authenticated key's tenant, principal, kind, scopes and request id,
 * with a deadline in the future; over-long strings are dropped, never truncated into
 * another value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "principal.h"
#include "tandem/internal/v1/context.pb-c.h"

static Tandem__Internal__V1__RequestContext *decode(const char *b64)
{
    unsigned char raw[512];
    size_t n = strlen(b64);
    assert_true(n < sizeof(raw));
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    assert_true(len >= 0);
    /* EVP_DecodeBlock counts base64 padding as zero bytes. */
    if (n >= 1 && b64[n - 1] == '=')
        len--;
    if (n >= 2 && b64[n - 2] == '=')
        len--;
    return tandem__internal__v1__request_context__unpack(NULL, (size_t)len, raw);
}

static void context_round_trips_through_protobuf_c(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    gw_principal p = {
        .key_id = "0b9a7c1e-5d4f-4e2a-9c3b-1a2b3c4d5e6f",
        .key_tenant_id = NULL,
        .kind = 1,
        .scopes = 0x7F,
        .tenant_id = "11111111-2222-4333-8444-555555555555",
    };
    char *b64 = gw_context_metadata(a, &p, "req-42", 1500);
    assert_non_null(b64);
    Tandem__Internal__V1__RequestContext *rc = decode(b64);
    assert_non_null(rc);
    assert_string_equal(rc->tenant_id, p.tenant_id);
    assert_string_equal(rc->principal_id, p.key_id);
    assert_int_equal(rc->principal_kind, 1);
    assert_int_equal(rc->scopes, 0x7F);
    assert_string_equal(rc->request_id, "req-42");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    assert_true(rc->deadline_unix_ms > now_ms);
    assert_true(rc->deadline_unix_ms <= now_ms + 1500);
    tandem__internal__v1__request_context__free_unpacked(rc, NULL);
    tdm_arena_free(a);
}

static void no_deadline_and_oversized_ids_are_left_out(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    char long_id[100];
    memset(long_id, 'r', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    gw_principal p = {.key_id = "k", .kind = 2, .scopes = 2, .tenant_id = "t"};
    char *b64 = gw_context_metadata(a, &p, long_id, INT64_MAX);
    assert_non_null(b64);
    Tandem__Internal__V1__RequestContext *rc = decode(b64);
    assert_non_null(rc);
    assert_string_equal(rc->request_id, "");
    assert_int_equal(rc->deadline_unix_ms, 0);
    assert_int_equal(rc->principal_kind, 2);
    assert_int_equal(rc->scopes, 2);
    tandem__internal__v1__request_context__free_unpacked(rc, NULL);
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(context_round_trips_through_protobuf_c),
        cmocka_unit_test(no_deadline_and_oversized_ids_are_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
