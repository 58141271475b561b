/*
 * test_validate.c - the enrolment service's pure input rules: e-mail syntax, IANA
 * time zones, dates, UTF-8 lengths, page tokens and participant field violations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "enrolment.h"

static void test_email(void **state)
{
    (void)state;
    assert_true(enrol_email_valid("ada.lovelace@example.org"));
    assert_true(enrol_email_valid("a+b@sub.example.co.uk"));
    assert_false(enrol_email_valid("no-at-sign"));
    assert_false(enrol_email_valid("@example.org"));
    assert_false(enrol_email_valid("a..b@example.org"));
    assert_false(enrol_email_valid("a@localhost"));
    assert_false(enrol_email_valid("a@-bad.org"));
    assert_false(enrol_email_valid("a@example.123"));
    assert_false(enrol_email_valid("a b@example.org"));
}

static void test_timezone(void **state)
{
    (void)state;
    assert_true(enrol_timezone_valid("Europe/London"));
    assert_true(enrol_timezone_valid("UTC"));
    assert_false(enrol_timezone_valid("Mars/Olympus"));
    assert_false(enrol_timezone_valid("../etc/passwd"));
    assert_false(enrol_timezone_valid(""));
}

static void test_date(void **state)
{
    (void)state;
    assert_true(enrol_date_valid("2028-02-29"));
    assert_false(enrol_date_valid("2027-02-29"));
    assert_false(enrol_date_valid("2027-13-01"));
    assert_false(enrol_date_valid("27-01-01"));
}

static void test_utf8_chars(void **state)
{
    (void)state;
    assert_int_equal(tdm_utf8_chars("Zoë"), 3);
    assert_int_equal(tdm_utf8_chars("\xff"), SIZE_MAX);
}

static void test_page_token_round_trip(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    int64_t seq = 0;
    assert_int_equal(tdm_page_token_decode_seq(tdm_page_token_encode_seq(123456789, a), &seq), 0);
    assert_int_equal(seq, 123456789);
    assert_int_equal(tdm_page_token_decode_seq("garbage!", &seq), -1);
    tdm_arena_free(a);
}

static void test_participant_violations(void **state)
{
    (void)state;
    Tandem__V1__Participant p = TANDEM__V1__PARTICIPANT__INIT;
    char ext[] = "e1", name[] = "Name";
    p.external_id = ext;
    p.display_name = name;
    p.role = TANDEM__V1__ROLE__MENTOR;
    p.seniority_level = 11;
    p.capacity = 21;
    tdm_violations v = {0};
    enrol_validate_participant(&p, "participant", &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_int_equal(st->n_violations, 2);
    assert_string_equal(st->violations[0].field, "participant.seniority_level");
    assert_string_equal(st->violations[1].field, "participant.capacity");
    tdm_status_free(st);
}

/* The anonymity threshold is 3..1000; 0 (unset) takes the default. */
static void test_anonymity_threshold_range(void **state)
{
    (void)state;
    static const struct {
        int32_t value;
        bool ok;
    } CASES[] = {{0, true}, {1, false}, {2, false}, {3, true}, {1000, true}, {1001, false}};
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        Tandem__V1__Programme p = TANDEM__V1__PROGRAMME__INIT;
        char name[] = "Pilot";
        p.name = name;
        p.kind = TANDEM__V1__PROGRAMME_KIND__REVERSE;
        p.anonymity_threshold = CASES[i].value;
        tdm_violations v = {0};
        enrol_validate_programme(&p, "programme", &v);
        tdm_status *st = tdm_violations_take(&v, NULL);
        if (CASES[i].ok) {
            assert_null(st);
            continue;
        }
        assert_non_null(st);
        assert_int_equal(st->n_violations, 1);
        assert_string_equal(st->violations[0].field, "programme.anonymity_threshold");
        tdm_status_free(st);
    }
}

/* HMAC-SHA256(key, tenant || external_id): the RFC 4231-style vector of
 * HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), split between
 * the two parts; no key, no hash. */
static void test_person_hash_is_keyed(void **state)
{
    (void)state;
    static const char EXPECTED[] =
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
    uint8_t out[32], other[32];
    char hex[65];
    assert_int_equal(
        enrol_person_hash("key", "The quick brown fox ", "jumps over the lazy dog", out), 0);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", out[i]);
    assert_string_equal(hex, EXPECTED);
    assert_int_equal(
        enrol_person_hash("another key", "The quick brown fox ", "jumps over the lazy dog", other),
        0);
    assert_memory_not_equal(out, other, 32);
    assert_int_equal(enrol_person_hash(NULL, "t", "e", out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_utf8_chars),
        cmocka_unit_test(test_page_token_round_trip),
        cmocka_unit_test(test_participant_violations),
        cmocka_unit_test(test_anonymity_threshold_range),
        cmocka_unit_test(test_person_hash_is_keyed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
