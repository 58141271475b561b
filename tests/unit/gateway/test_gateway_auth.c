/*
 * test_gateway_auth.c - the gateway's authentication core: key secrets have the
 * documented format and entropy source, hashes are SHA-256 and compared in constant
 * time, bearer tokens are parsed strictly, scopes imply what API.md says, and the
 * token bucket admits a burst then the sustained rate, answering Retry-After.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"
#include "ratelimit.h"
#include "tandem/server.h"

static void generated_secrets_have_the_documented_format(void **state)
{
    (void)state;
    char a[GW_KEY_SECRET_LEN + 1], b[GW_KEY_SECRET_LEN + 1];
    assert_int_equal(gw_key_generate(a, sizeof(a)), 0);
    assert_int_equal(gw_key_generate(b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 47);
    assert_memory_equal(a, "tdm_", 4);
    for (size_t i = 4; i < 47; i++) {
        char c = a[i];
        assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_');
    }
    assert_string_not_equal(a, b);
    assert_int_equal(gw_key_generate(a, 10), -1);
}

static void hash_is_sha256_of_the_secret(void **state)
{
    (void)state;
    uint8_t h[GW_KEY_HASH_BYTES];
    char hex[GW_KEY_HASH_HEX_LEN + 1];
    assert_int_equal(gw_key_hash("abc", 3, h), 0);
    gw_key_hash_hex(h, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void hash_compare_is_exact(void **state)
{
    (void)state;
    uint8_t a[GW_KEY_HASH_BYTES], b[GW_KEY_HASH_BYTES];
    gw_key_hash("tdm_secret-one", 14, a);
    memcpy(b, a, sizeof(a));
    assert_true(gw_key_hash_equal(a, b));
    b[31] ^= 1;
    assert_false(gw_key_hash_equal(a, b));
    b[31] ^= 1;
    b[0] ^= 0x80;
    assert_false(gw_key_hash_equal(a, b));
}

static void bearer_tokens_are_parsed_strictly(void **state)
{
    (void)state;
    const char *tok = NULL;
    size_t len = 0;
    assert_true(gw_bearer_token("Bearer tdm_abcdefghijklmnop", &tok, &len));
    assert_int_equal(len, 20);
    assert_memory_equal(tok, "tdm_abcdefghijklmnop", len);
    assert_true(gw_bearer_token("bearer   tdm_abcdefghijklmnop  ", &tok, &len));
    assert_int_equal(len, 20);
    assert_false(gw_bearer_token(NULL, &tok, &len));
    assert_false(gw_bearer_token("", &tok, &len));
    assert_false(gw_bearer_token("Basic dXNlcjpwYXNzd29yZA==", &tok, &len));
    assert_false(gw_bearer_token("Bearer short", &tok, &len));
    assert_false(gw_bearer_token("Bearer tdm_abcdefghijklmnop extra", &tok, &len));
    assert_false(gw_bearer_token("Bearer tdm_abc\"defghijklmnop", &tok, &len));
    char longer[GW_KEY_SECRET_MAX + 20];
    memcpy(longer, "Bearer ", 7);
    memset(longer + 7, 'a', GW_KEY_SECRET_MAX + 1);
    longer[7 + GW_KEY_SECRET_MAX + 1] = '\0';
    assert_false(gw_bearer_token(longer, &tok, &len));
}

static void scopes_have_names_and_admin_implies_all(void **state)
{
    (void)state;
    assert_int_equal(gw_scope_bit("admin"), TDM_SCOPE_ADMIN);
    assert_int_equal(gw_scope_bit("enrolment:read"), TDM_SCOPE_ENROLMENT_READ);
    assert_int_equal(gw_scope_bit("feedback:write"), TDM_SCOPE_FEEDBACK_WRITE);
    assert_int_equal(gw_scope_bit("enrolment:delete"), 0);
    assert_string_equal(gw_scope_name(TDM_SCOPE_MATCHING_WRITE), "matching:write");
    assert_null(gw_scope_name(3));
    assert_true(gw_scope_allows(TDM_SCOPE_ADMIN, TDM_SCOPE_FEEDBACK_WRITE));
    assert_true(gw_scope_allows(TDM_SCOPE_ENROLMENT_READ, TDM_SCOPE_ENROLMENT_READ));
    assert_false(gw_scope_allows(TDM_SCOPE_ENROLMENT_READ, TDM_SCOPE_ENROLMENT_WRITE));
    assert_false(gw_scope_allows(TDM_SCOPE_ENROLMENT_WRITE, TDM_SCOPE_ADMIN));
    assert_false(gw_scope_allows(0, TDM_SCOPE_MATCHING_READ));
    assert_true(gw_scope_allows(TDM_SCOPE_MATCHING_READ, 0));
}

static void bucket_admits_burst_then_refills_at_rate(void **state)
{
    (void)state;
    gw_bucket b = {0};
    uint32_t retry = 0;
    for (int i = 0; i < 5; i++)
        assert_true(gw_bucket_take(&b, 2, 5, 1000, &retry));
    assert_false(gw_bucket_take(&b, 2, 5, 1000, &retry));
    assert_int_equal(retry, 1);
    /* 2 per second: one token after 500 ms, not before. */
    assert_false(gw_bucket_take(&b, 2, 5, 1400, &retry));
    assert_true(gw_bucket_take(&b, 2, 5, 1500, &retry));
    /* Refill never exceeds the burst. */
    for (int i = 0; i < 5; i++)
        assert_true(gw_bucket_take(&b, 2, 5, 100000, &retry));
    assert_false(gw_bucket_take(&b, 2, 5, 100000, &retry));
}

static void retry_after_rounds_up_to_whole_seconds(void **state)
{
    (void)state;
    gw_bucket b = {0};
    uint32_t retry = 0;
    assert_true(gw_bucket_take(&b, 1, 1, 0, &retry));
    assert_false(gw_bucket_take(&b, 1, 1, 0, &retry));
    assert_int_equal(retry, 1);
    /* 1 request per second: after 100 ms still a whole second to wait. */
    assert_false(gw_bucket_take(&b, 1, 1, 100, &retry));
    assert_int_equal(retry, 1);
}

static void limiter_keeps_keys_apart(void **state)
{
    (void)state;
    gw_ratelimiter *rl = gw_ratelimiter_new();
    uint32_t retry = 0;
    const char *a = "00000000-0000-0000-0000-00000000000a";
    const char *b = "00000000-0000-0000-0000-00000000000b";
    assert_true(gw_ratelimiter_take(rl, a, 1, 2, 0, &retry));
    assert_true(gw_ratelimiter_take(rl, a, 1, 2, 0, &retry));
    assert_false(gw_ratelimiter_take(rl, a, 1, 2, 0, &retry));
    assert_true(gw_ratelimiter_take(rl, b, 1, 2, 0, &retry));
    assert_int_equal(gw_ratelimiter_size(rl), 2);
    gw_ratelimiter_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_secrets_have_the_documented_format),
        cmocka_unit_test(hash_is_sha256_of_the_secret),
        cmocka_unit_test(hash_compare_is_exact),
        cmocka_unit_test(bearer_tokens_are_parsed_strictly),
        cmocka_unit_test(scopes_have_names_and_admin_implies_all),
        cmocka_unit_test(bucket_admits_burst_then_refills_at_rate),
        cmocka_unit_test(retry_after_rounds_up_to_whole_seconds),
        cmocka_unit_test(limiter_keeps_keys_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
