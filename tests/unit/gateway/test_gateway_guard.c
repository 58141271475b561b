/*
 * test_gateway_guard.c - failed authentications per client address (auth_guard.c):
 * the 21st failure in a window blocks the address for the rest of it (with the
 * seconds to wait), another address is not affected, a new window starts afresh, a
 * key verified lately is remembered for a minute, and a flood of addresses never
 * grows the tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "auth_guard.h"

static void the_limit_blocks_for_the_rest_of_the_window(void **state)
{
    (void)state;
    gw_auth_guard *g = gw_auth_guard_new(20, 10000);
    assert_non_null(g);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(gw_auth_guard_blocked(g, "192.0.2.7", 1000), 0);
        gw_auth_guard_failed(g, "192.0.2.7", 1000);
    }
    assert_int_equal(gw_auth_guard_blocked(g, "192.0.2.7", 1000), 10);
    assert_int_equal(gw_auth_guard_blocked(g, "192.0.2.7", 9500), 2);
    assert_int_equal(gw_auth_guard_blocked(g, "192.0.2.8", 9500), 0);
    /* The window is over: the address may try again, counted afresh. */
    assert_int_equal(gw_auth_guard_blocked(g, "192.0.2.7", 11000), 0);
    gw_auth_guard_failed(g, "192.0.2.7", 11000);
    assert_int_equal(gw_auth_guard_blocked(g, "192.0.2.7", 11000), 0);
    gw_auth_guard_free(g);
}

static void an_unknown_address_is_never_blocked(void **state)
{
    (void)state;
    gw_auth_guard *g = gw_auth_guard_new(1, 10000);
    gw_auth_guard_failed(g, "", 5);
    gw_auth_guard_failed(g, NULL, 5);
    assert_int_equal(gw_auth_guard_blocked(g, "", 5), 0);
    assert_int_equal(gw_auth_guard_blocked(g, NULL, 5), 0);
    gw_auth_guard_free(g);
}

static void a_verified_key_is_remembered_for_a_minute(void **state)
{
    (void)state;
    gw_auth_guard *g = gw_auth_guard_new(20, 10000);
    uint8_t key[GW_GUARD_HASH_BYTES], other[GW_GUARD_HASH_BYTES];
    memset(key, 0xab, sizeof(key));
    memset(other, 0xcd, sizeof(other));
    assert_false(gw_auth_guard_recently_verified(g, key, 1000));
    gw_auth_guard_verified(g, key, 1000);
    assert_true(gw_auth_guard_recently_verified(g, key, 1000 + GW_GUARD_VERIFIED_MS - 1));
    assert_false(gw_auth_guard_recently_verified(g, key, 1000 + GW_GUARD_VERIFIED_MS));
    assert_false(gw_auth_guard_recently_verified(g, other, 1000));
    gw_auth_guard_free(g);
}

static void a_flood_of_addresses_stays_in_the_table(void **state)
{
    (void)state;
    gw_auth_guard *g = gw_auth_guard_new(2, 10000);
    char addr[48];
    /* Far more addresses than slots: older ones are evicted, nothing grows. */
    for (unsigned i = 0; i < 4 * GW_GUARD_ADDRESS_SLOTS; i++) {
        snprintf(addr, sizeof(addr), "2001:db8::%x", i);
        gw_auth_guard_failed(g, addr, 100);
        gw_auth_guard_failed(g, addr, 100);
    }
    /* The most recent address is still tracked and blocked. */
    assert_true(gw_auth_guard_blocked(g, addr, 100) > 0);
    gw_auth_guard_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_limit_blocks_for_the_rest_of_the_window),
        cmocka_unit_test(an_unknown_address_is_never_blocked),
        cmocka_unit_test(a_verified_key_is_remembered_for_a_minute),
        cmocka_unit_test(a_flood_of_addresses_stays_in_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
