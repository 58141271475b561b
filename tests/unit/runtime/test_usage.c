/*
 * test_usage.c - the month of a usage request (tandem/usage.h): "YYYY-MM" from 2000
 * on is accepted and parsed, anything else refused naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/usage.h"

static void months_are_parsed(void **state)
{
    (void)state;
    int y = 0, m = 0;
    assert_true(tdm_usage_month_parse("2027-01", &y, &m));
    assert_int_equal(y, 2027);
    assert_int_equal(m, 1);
    assert_true(tdm_usage_month_parse("2000-12", &y, &m));
    assert_int_equal(y, 2000);
    assert_int_equal(m, 12);
    assert_true(tdm_usage_month_parse("9999-09", &y, &m));
}

static void anything_else_is_refused(void **state)
{
    (void)state;
    static const char *const BAD[] = {"",        "2027",     "2027-1",  "2027-001", "2027-00",
                                      "2027-13", "1999-12",  "27-01",   "2027/01",  "2027-01-01",
                                      "2027-1a", " 2027-01", "+027-01", "２027-01"};
    int y = -1, m = -1;
    assert_false(tdm_usage_month_parse(NULL, &y, &m));
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        if (tdm_usage_month_parse(BAD[i], &y, &m))
            fail_msg("\"%s\" was accepted", BAD[i]);
    }
    assert_int_equal(y, -1);
    assert_int_equal(m, -1);
}

static void a_refusal_names_the_field(void **state)
{
    (void)state;
    int y = 0, m = 0;
    tdm_status *st = tdm_usage_check_month("2027-13", "month", &y, &m);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_int_equal(st->n_violations, 1);
    assert_string_equal(st->violations[0].field, "month");
    tdm_status_free(st);
    assert_null(tdm_usage_check_month("2026-12", "month", &y, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(months_are_parsed),
        cmocka_unit_test(anything_else_is_refused),
        cmocka_unit_test(a_refusal_names_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
