/*
 * test_status.c - tdm_status: codes map onto API.md's HTTP statuses, violations
 * carry their field paths, and the validation collector summarises them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/pg.h"
#include "tandem/status.h"

static void every_code_maps_to_the_http_status_of_the_contract(void **state)
{
    (void)state;
    assert_int_equal(tdm_code_http_status(TDM_INVALID_ARGUMENT), 400);
    assert_int_equal(tdm_code_http_status(TDM_FAILED_PRECONDITION), 400);
    assert_int_equal(tdm_code_http_status(TDM_OUT_OF_RANGE), 400);
    assert_int_equal(tdm_code_http_status(TDM_UNAUTHENTICATED), 401);
    assert_int_equal(tdm_code_http_status(TDM_PERMISSION_DENIED), 403);
    assert_int_equal(tdm_code_http_status(TDM_NOT_FOUND), 404);
    assert_int_equal(tdm_code_http_status(TDM_ALREADY_EXISTS), 409);
    assert_int_equal(tdm_code_http_status(TDM_ABORTED), 409);
    assert_int_equal(tdm_code_http_status(TDM_RESOURCE_EXHAUSTED), 429);
    assert_int_equal(tdm_code_http_status(TDM_CANCELLED), 499);
    assert_int_equal(tdm_code_http_status(TDM_INTERNAL), 500);
    assert_int_equal(tdm_code_http_status(TDM_UNIMPLEMENTED), 501);
    assert_int_equal(tdm_code_http_status(TDM_UNAVAILABLE), 503);
    assert_int_equal(tdm_code_http_status(TDM_DEADLINE_EXCEEDED), 504);
    assert_int_equal(tdm_code_http_status((tdm_code)99), 500);
}

static void code_names_round_trip(void **state)
{
    (void)state;
    for (int c = 0; c <= TDM_CODE_MAX; c++)
        assert_int_equal(tdm_code_from_name(tdm_code_name((tdm_code)c)), c);
    assert_int_equal(tdm_code_from_name("NOPE"), -1);
    assert_string_equal(tdm_code_name((tdm_code)-3), "UNKNOWN");
}

static void violations_keep_fields_and_prefixes(void **state)
{
    (void)state;
    tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "bad row %d", 3);
    tdm_status_add_violation(st, "email", "must be an address");
    tdm_status_add_violation(st, "[2].level", "must be 1 to 5");
    tdm_status_add_violation(st, "", "row is empty");
    tdm_status_prefix_fields(st, "participants[3]");
    assert_string_equal(st->message, "bad row 3");
    assert_int_equal(st->n_violations, 3);
    assert_string_equal(st->violations[0].field, "participants[3].email");
    assert_string_equal(st->violations[1].field, "participants[3][2].level");
    assert_string_equal(st->violations[2].field, "participants[3]");
    tdm_status *copy = tdm_status_copy(st);
    tdm_status_free(st);
    assert_string_equal(copy->violations[0].description, "must be an address");
    tdm_status_free(copy);
}

static void collector_is_null_when_nothing_was_wrong(void **state)
{
    (void)state;
    tdm_violations v = {0};
    assert_null(tdm_violations_take(&v, NULL));
}

static void collector_summarises_the_first_field(void **state)
{
    (void)state;
    tdm_violations v = {0};
    tdm_violations_add(&v, "external_id", "is required");
    tdm_violations_add(&v, "role", "must be MENTOR or MENTEE");
    tdm_status *st = tdm_violations_take(&v, NULL);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_string_equal(st->message, "invalid external_id: is required (and 1 more)");
    assert_int_equal(st->n_violations, 2);
    assert_null(v.st);
    tdm_status_free(st);
}

static void detail_is_kept_apart_from_the_message(void **state)
{
    (void)state;
    tdm_status *st = tdm_status_new(TDM_INTERNAL, "internal error");
    tdm_status_set_detail(st, "SQLSTATE %s: %s", "XX000", "boom");
    assert_string_equal(st->message, "internal error");
    assert_string_equal(st->detail, "SQLSTATE XX000: boom");
    tdm_status_free(st);
    tdm_status_free(NULL);
}

/* A database call that did not start is a bug (or out of memory) on this side: never
 * UNAVAILABLE, which would tell the client to retry what cannot succeed. */
static void a_database_call_that_did_not_start_is_internal(void **state)
{
    (void)state;
    tdm_status *st = tdm_pg_not_started(UV_EINVAL, "begin a transaction");
    assert_int_equal(st->code, TDM_INTERNAL);
    assert_non_null(strstr(st->detail, "begin a transaction"));
    tdm_status_free(st);
    st = tdm_pg_not_started(UV_ENOMEM, "send a query");
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    tdm_status_free(st);
    st = tdm_pg_not_started(-1, "look the key up");
    assert_int_equal(st->code, TDM_INTERNAL);
    tdm_status_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_maps_to_the_http_status_of_the_contract),
        cmocka_unit_test(code_names_round_trip),
        cmocka_unit_test(violations_keep_fields_and_prefixes),
        cmocka_unit_test(collector_is_null_when_nothing_was_wrong),
        cmocka_unit_test(collector_summarises_the_first_field),
        cmocka_unit_test(detail_is_kept_apart_from_the_message),
        cmocka_unit_test(a_database_call_that_did_not_start_is_internal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
