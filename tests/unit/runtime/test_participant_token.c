/*
 * test_participant_token.c - the form of participant tokens
 * (tandem/participant_token.h): fresh tokens carry their tenant and 256 random bits,
 * parse back, hash to the stored form, and anything else is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/participant_token.h"

#define TENANT "123e4567-e89b-12d3-a456-426614174000"

static void a_fresh_token_names_its_tenant_and_differs_every_time(void **state)
{
    (void)state;
    char a[TDM_PARTICIPANT_TOKEN_LEN + 1], b[TDM_PARTICIPANT_TOKEN_LEN + 1], tenant[37];
    assert_int_equal(tdm_participant_token_new(TENANT, a, sizeof(a)), 0);
    assert_int_equal(tdm_participant_token_new(TENANT, b, sizeof(b)), 0);
    assert_int_equal(strlen(a), TDM_PARTICIPANT_TOKEN_LEN);
    assert_memory_equal(a, "tpt_" TENANT "_", 41);
    assert_string_not_equal(a, b);
    assert_true(tdm_participant_token_parse(a, strlen(a), tenant));
    assert_string_equal(tenant, TENANT);
    /* Upper-case tenant ids are written in lower case. */
    assert_int_equal(
        tdm_participant_token_new("123E4567-E89B-12D3-A456-426614174000", a, sizeof(a)), 0);
    assert_memory_equal(a, "tpt_" TENANT "_", 41);
}

static void refuses_a_tenant_that_is_not_a_uuid_or_a_short_buffer(void **state)
{
    (void)state;
    char out[TDM_PARTICIPANT_TOKEN_LEN + 1];
    assert_int_equal(tdm_participant_token_new("not-a-uuid", out, sizeof(out)), -1);
    assert_int_equal(tdm_participant_token_new(NULL, out, sizeof(out)), -1);
    assert_int_equal(tdm_participant_token_new(TENANT, out, sizeof(out) - 1), -1);
}

static void only_the_exact_form_parses(void **state)
{
    (void)state;
    char t[TDM_PARTICIPANT_TOKEN_LEN + 1], tenant[37], bad[TDM_PARTICIPANT_TOKEN_LEN + 1];
    assert_int_equal(tdm_participant_token_new(TENANT, t, sizeof(t)), 0);
    assert_false(tdm_participant_token_parse(t, strlen(t) - 1, tenant)); /* short */
    assert_false(tdm_participant_token_parse(NULL, 0, tenant));
    memcpy(bad, t, sizeof(t));
    bad[0] = 'x'; /* prefix */
    assert_false(tdm_participant_token_parse(bad, strlen(bad), tenant));
    memcpy(bad, t, sizeof(t));
    bad[40] = '.'; /* separator */
    assert_false(tdm_participant_token_parse(bad, strlen(bad), tenant));
    memcpy(bad, t, sizeof(t));
    bad[60] = '+'; /* not base64url */
    assert_false(tdm_participant_token_parse(bad, strlen(bad), tenant));
    memcpy(bad, t, sizeof(t));
    bad[12] = 'z'; /* the tenant is not a UUID */
    assert_false(tdm_participant_token_parse(bad, strlen(bad), tenant));
}

static void the_stored_form_is_the_sha256_in_hex(void **state)
{
    (void)state;
    char hex[65];
    /* SHA-256("abc"), FIPS 180-2. */
    assert_int_equal(tdm_participant_token_hash_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_fresh_token_names_its_tenant_and_differs_every_time),
        cmocka_unit_test(refuses_a_tenant_that_is_not_a_uuid_or_a_short_buffer),
        cmocka_unit_test(only_the_exact_form_parses),
        cmocka_unit_test(the_stored_form_is_the_sha256_in_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
