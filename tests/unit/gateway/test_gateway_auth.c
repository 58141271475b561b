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

/* Shared mode: what waiting requests were told. */
typedef struct answers {
    int allowed, refused;
    uint32_t retry;
} answers;

static void answered(void *arg, bool allowed, uint32_t retry_after_s)
{
    answers *a = arg;
    if (allowed)
        a->allowed++;
    else
        a->refused++;
    a->retry = retry_after_s;
}

static void shared_first_use_waits_for_one_lease(void **state)
{
    (void)state;
    gw_ratelimiter *rl = gw_ratelimiter_new();
    const char *k = "00000000-0000-0000-0000-00000000000c";
    answers got = {0};
    gw_rl_waiter w[3] = {{.cb = answered, .arg = &got},
                         {.cb = answered, .arg = &got},
                         {.cb = answered, .arg = &got}};
    uint32_t retry = 0, lease = 0, again = 0;
    /* 50/s: batches of 50 ms, 3 tokens. The first request asks for one lease... */
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 50, 50, 0, &w[0], &retry, &lease),
                     GW_RL_QUEUED);
    assert_int_equal(lease, 3);
    /* ...and the next ones wait for the same one. */
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 50, 50, 0, &w[1], &retry, &again),
                     GW_RL_QUEUED);
    assert_int_equal(again, 0);
    gw_ratelimiter_leased(rl, k, true, 3, 0, 1);
    assert_int_equal(got.allowed, 2);
    /* One token left: allowed from memory, and the next batch is asked for early. */
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 50, 50, 2, &w[2], &retry, &lease),
                     GW_RL_ALLOWED);
    assert_int_equal(lease, 3);
    gw_ratelimiter_free(rl);
}

static void shared_empty_bucket_refuses_from_memory(void **state)
{
    (void)state;
    gw_ratelimiter *rl = gw_ratelimiter_new();
    const char *k = "00000000-0000-0000-0000-00000000000d";
    answers got = {0};
    gw_rl_waiter w = {.cb = answered, .arg = &got};
    uint32_t retry = 0, lease = 0;
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 1, 1, 0, &w, &retry, &lease), GW_RL_QUEUED);
    assert_int_equal(lease, 1);
    /* The database bucket is empty; a token in 1.5 s. */
    gw_ratelimiter_leased(rl, k, true, 0, 1500, 10);
    assert_int_equal(got.refused, 1);
    assert_int_equal(got.retry, 2);
    /* Refused from memory, no lease, until then. */
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 1, 1, 600, &w, &retry, &lease),
                     GW_RL_REFUSED);
    assert_int_equal(lease, 0);
    assert_int_equal(retry, 1);
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 1, 1, 1510, &w, &retry, &lease),
                     GW_RL_QUEUED);
    assert_int_equal(lease, 1);
    gw_ratelimiter_leased(rl, k, true, 1, 0, 1520);
    assert_int_equal(got.allowed, 1);
    gw_ratelimiter_free(rl);
}

static void shared_unused_tokens_expire(void **state)
{
    (void)state;
    gw_ratelimiter *rl = gw_ratelimiter_new();
    const char *k = "00000000-0000-0000-0000-00000000000e";
    answers got = {0};
    gw_rl_waiter w = {.cb = answered, .arg = &got};
    uint32_t retry = 0, lease = 0;
    gw_ratelimiter_take_shared(rl, k, 1000, 1000, 0, &w, &retry, &lease);
    assert_int_equal(lease, 50);
    gw_ratelimiter_leased(rl, k, true, 50, 0, 0);
    assert_int_equal(got.allowed, 1);
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 1000, 1000, 10, &w, &retry, &lease),
                     GW_RL_ALLOWED);
    /* Held longer than GW_RL_LEASE_TTL_MS: dropped, so the next request waits. */
    assert_int_equal(
        gw_ratelimiter_take_shared(rl, k, 1000, 1000, GW_RL_LEASE_TTL_MS, &w, &retry, &lease),
        GW_RL_QUEUED);
    gw_ratelimiter_free(rl);
}

static void shared_failed_lease_falls_back_to_this_replica(void **state)
{
    (void)state;
    gw_ratelimiter *rl = gw_ratelimiter_new();
    const char *k = "00000000-0000-0000-0000-00000000000f";
    answers got = {0};
    gw_rl_waiter w = {.cb = answered, .arg = &got};
    uint32_t retry = 0, lease = 0;
    gw_ratelimiter_take_shared(rl, k, 1, 2, 0, &w, &retry, &lease);
    gw_ratelimiter_leased(rl, k, false, 0, 0, 5);
    assert_int_equal(got.allowed, 1);
    /* The local bucket (burst 2) for the next second: one more, then refused. */
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 1, 2, 6, &w, &retry, &lease), GW_RL_ALLOWED);
    assert_int_equal(gw_ratelimiter_take_shared(rl, k, 1, 2, 7, &w, &retry, &lease), GW_RL_REFUSED);
    assert_int_equal(lease, 0);
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
        cmocka_unit_test(shared_first_use_waits_for_one_lease),
        cmocka_unit_test(shared_empty_bucket_refuses_from_memory),
        cmocka_unit_test(shared_unused_tokens_expire),
        cmocka_unit_test(shared_failed_lease_falls_back_to_this_replica),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
