/*
 * test_gateway_key_cache.c - the verified-key cache (auth_cache.c): a key is served
 * from memory only while enabled and fresh; a forgotten key is gone, and so is the
 * result of a lookup that was in flight when any key was forgotten or the LISTEN was
 * lost (the race of a revocation committed between a lookup's read and its answer);
 * disabling empties it; entries age out; a flood of keys never grows it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "auth_cache.h"
#include "keys.h"

static void hash_of(const char *secret, uint8_t out[GW_AUTH_CACHE_HASH_BYTES])
{
    assert_int_equal(gw_key_hash(secret, strlen(secret), out), 0);
}

static gw_cached_key key(const char *id)
{
    gw_cached_key k = {.kind = 2, .scopes = 1, .rate_rps = 50, .rate_burst = 50};
    snprintf(k.id, sizeof(k.id), "%s", id);
    snprintf(k.tenant_id, sizeof(k.tenant_id), "00000000-0000-0000-0000-000000000001");
    return k;
}

static void a_key_is_served_only_while_enabled_and_fresh(void **state)
{
    (void)state;
    gw_auth_cache *c = gw_auth_cache_new(100, 300000);
    uint8_t h[32];
    hash_of("tdm_secret-one-aaaaaaaaaaaa", h);
    gw_cached_key k = key("11111111-1111-1111-1111-111111111111"), out;
    /* Not listening yet: nothing is kept. */
    assert_false(gw_auth_cache_put(c, h, &k, gw_auth_cache_epoch(c), 10));
    gw_auth_cache_enable(c, true);
    assert_true(gw_auth_cache_put(c, h, &k, gw_auth_cache_epoch(c), 10));
    assert_true(gw_auth_cache_get(c, h, 20, 1000, &out));
    assert_string_equal(out.id, k.id);
    assert_int_equal(out.rate_rps, 50);
    /* The listener's last answered ping is too old: not served, but kept. */
    assert_false(gw_auth_cache_get(c, h, 1000, 1000, &out));
    assert_true(gw_auth_cache_get(c, h, 1500, 1800, &out));
    /* The connection is lost: emptied. */
    gw_auth_cache_enable(c, false);
    assert_int_equal(gw_auth_cache_size(c), 0);
    gw_auth_cache_enable(c, true);
    assert_false(gw_auth_cache_get(c, h, 1500, 1800, &out));
    gw_auth_cache_free(c);
}

static void a_forgotten_key_is_looked_up_again(void **state)
{
    (void)state;
    gw_auth_cache *c = gw_auth_cache_new(100, 300000);
    gw_auth_cache_enable(c, true);
    uint8_t a[32], b[32];
    hash_of("tdm_secret-a-aaaaaaaaaaaaaa", a);
    hash_of("tdm_secret-b-bbbbbbbbbbbbbb", b);
    gw_cached_key ka = key("aaaaaaaa-1111-1111-1111-111111111111");
    gw_cached_key kb = key("bbbbbbbb-1111-1111-1111-111111111111"), out;
    assert_true(gw_auth_cache_put(c, a, &ka, gw_auth_cache_epoch(c), 1));
    assert_true(gw_auth_cache_put(c, b, &kb, gw_auth_cache_epoch(c), 1));
    gw_auth_cache_forget(c, a);
    assert_false(gw_auth_cache_get(c, a, 2, 1000, &out));
    assert_true(gw_auth_cache_get(c, b, 2, 1000, &out));
    assert_int_equal(gw_auth_cache_size(c), 1);
    gw_auth_cache_free(c);
}

static void a_lookup_overtaken_by_a_revocation_is_not_kept(void **state)
{
    (void)state;
    gw_auth_cache *c = gw_auth_cache_new(100, 300000);
    gw_auth_cache_enable(c, true);
    uint8_t h[32];
    hash_of("tdm_secret-race-rrrrrrrrrrr", h);
    gw_cached_key k = key("cccccccc-1111-1111-1111-111111111111"), out;
    /* The lookup starts and reads the row (valid); the key is revoked and its
     * notification handled before the lookup's answer is. */
    uint64_t epoch = gw_auth_cache_epoch(c);
    gw_auth_cache_forget(c, h);
    assert_false(gw_auth_cache_put(c, h, &k, epoch, 5));
    assert_false(gw_auth_cache_get(c, h, 6, 1000, &out));
    /* Likewise across a lost and regained LISTEN. */
    epoch = gw_auth_cache_epoch(c);
    gw_auth_cache_enable(c, false);
    gw_auth_cache_enable(c, true);
    assert_false(gw_auth_cache_put(c, h, &k, epoch, 7));
    /* A lookup that started afterwards is kept. */
    assert_true(gw_auth_cache_put(c, h, &k, gw_auth_cache_epoch(c), 8));
    assert_true(gw_auth_cache_get(c, h, 9, 1000, &out));
    gw_auth_cache_free(c);
}

static void entries_age_out(void **state)
{
    (void)state;
    gw_auth_cache *c = gw_auth_cache_new(100, 1000);
    gw_auth_cache_enable(c, true);
    uint8_t h[32];
    hash_of("tdm_secret-age-aaaaaaaaaaaa", h);
    gw_cached_key k = key("dddddddd-1111-1111-1111-111111111111"), out;
    assert_true(gw_auth_cache_put(c, h, &k, gw_auth_cache_epoch(c), 100));
    assert_true(gw_auth_cache_get(c, h, 1099, 5000, &out));
    assert_false(gw_auth_cache_get(c, h, 1100, 5000, &out));
    assert_int_equal(gw_auth_cache_size(c), 0);
    gw_auth_cache_free(c);
}

static void a_flood_of_keys_stays_in_the_table(void **state)
{
    (void)state;
    gw_auth_cache *c = gw_auth_cache_new(64, 300000);
    gw_auth_cache_enable(c, true);
    uint8_t h[32], last[32];
    char secret[64];
    gw_cached_key k = key("eeeeeeee-1111-1111-1111-111111111111"), out;
    for (int i = 0; i < 10000; i++) {
        snprintf(secret, sizeof(secret), "tdm_flood-%08d-xxxxxxxx", i);
        hash_of(secret, h);
        assert_true(gw_auth_cache_put(c, h, &k, gw_auth_cache_epoch(c), (uint64_t)i + 1));
        memcpy(last, h, sizeof(h));
    }
    assert_true(gw_auth_cache_size(c) <= 64);
    assert_true(gw_auth_cache_get(c, last, 10001, 20000, &out));
    gw_auth_cache_free(c);
}

static void no_cache_is_a_miss(void **state)
{
    (void)state;
    assert_null(gw_auth_cache_new(0, 1000));
    uint8_t h[32] = {0};
    gw_cached_key k = key("ffffffff-1111-1111-1111-111111111111"), out;
    gw_auth_cache_enable(NULL, true);
    assert_false(gw_auth_cache_put(NULL, h, &k, gw_auth_cache_epoch(NULL), 1));
    assert_false(gw_auth_cache_get(NULL, h, 1, 1000, &out));
}

static void a_notified_hash_is_read_back(void **state)
{
    (void)state;
    uint8_t h[32], back[32];
    char hex[GW_KEY_HASH_HEX_LEN + 1];
    hash_of("tdm_secret-hex-hhhhhhhhhhhh", h);
    gw_key_hash_hex(h, hex);
    assert_true(gw_key_hash_from_hex(hex, back));
    assert_memory_equal(h, back, 32);
    assert_false(gw_key_hash_from_hex("", back));
    assert_false(gw_key_hash_from_hex("zz", back));
    hex[63] = 'g';
    assert_false(gw_key_hash_from_hex(hex, back));
    assert_false(gw_key_hash_from_hex(NULL, back));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_key_is_served_only_while_enabled_and_fresh),
        cmocka_unit_test(a_forgotten_key_is_looked_up_again),
        cmocka_unit_test(a_lookup_overtaken_by_a_revocation_is_not_kept),
        cmocka_unit_test(entries_age_out),
        cmocka_unit_test(a_flood_of_keys_stays_in_the_table),
        cmocka_unit_test(no_cache_is_a_miss),
        cmocka_unit_test(a_notified_hash_is_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
