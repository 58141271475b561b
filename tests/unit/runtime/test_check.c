/*
 * test_check.c - the field checks, the page-token codec and the scope rule every
 * service shares (tandem/check.h, tandem/page_token.h, tandem/handler.h): what they
 * accept, what they refuse, and that a refusal names its field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/check.h"
#include "tandem/handler.h"
#include "tandem/page_token.h"

static void uuids_in_text_form_only(void **state)
{
    (void)state;
    assert_true(tdm_uuid_valid("123e4567-e89b-12d3-a456-426614174000"));
    assert_true(tdm_uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
    assert_false(tdm_uuid_valid(NULL));
    assert_false(tdm_uuid_valid(""));
    assert_false(tdm_uuid_valid("123e4567e89b12d3a456426614174000"));
    assert_false(tdm_uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(tdm_uuid_valid("123e4567-e89b-12d3-a456-4266141740001"));
    assert_false(tdm_uuid_valid("{23e4567-e89b-12d3-a456-426614174000"));
}

static void utf8_counts_code_points_and_refuses_what_is_not_utf8(void **state)
{
    (void)state;
    assert_int_equal(tdm_utf8_chars(""), 0);
    assert_int_equal(tdm_utf8_chars("abc"), 3);
    assert_int_equal(tdm_utf8_chars("Zo\xc3\xab"), 3);              /* Zoë */
    assert_int_equal(tdm_utf8_chars("\xe2\x82\xac"), 1);            /* € */
    assert_int_equal(tdm_utf8_chars("\xf0\x9f\x98\x80"), 1);        /* an emoji */
    assert_int_equal(tdm_utf8_chars("\xc3"), SIZE_MAX);             /* truncated */
    assert_int_equal(tdm_utf8_chars("\x80"), SIZE_MAX);             /* stray continuation */
    assert_int_equal(tdm_utf8_chars("\xc0\xaf"), SIZE_MAX);         /* overlong '/' */
    assert_int_equal(tdm_utf8_chars("\xe0\x80\xaf"), SIZE_MAX);     /* overlong, 3 bytes */
    assert_int_equal(tdm_utf8_chars("\xed\xa0\x80"), SIZE_MAX);     /* a surrogate */
    assert_int_equal(tdm_utf8_chars("\xf4\x90\x80\x80"), SIZE_MAX); /* past U+10FFFF */
}

static void a_refusal_names_its_field(void **state)
{
    (void)state;
    tdm_status *st = tdm_check_uuid("nope", "programme_id");
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_int_equal(st->n_violations, 1);
    assert_string_equal(st->violations[0].field, "programme_id");
    assert_string_equal(st->violations[0].description, "must be a UUID");
    tdm_status_free(st);
    assert_null(tdm_check_uuid("123e4567-e89b-12d3-a456-426614174000", "id"));
}

static void page_sizes_default_cap_and_refuse_negatives(void **state)
{
    (void)state;
    int size = -1;
    assert_null(tdm_check_page_size(0, &size));
    assert_int_equal(size, TDM_DEFAULT_PAGE_SIZE);
    assert_null(tdm_check_page_size(7, &size));
    assert_int_equal(size, 7);
    assert_null(tdm_check_page_size(100000, &size));
    assert_int_equal(size, TDM_MAX_PAGE_SIZE);
    tdm_status *st = tdm_check_page_size(-1, &size);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "page_size");
    tdm_status_free(st);
}

static void seq_tokens_round_trip_and_refuse_others(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    int64_t seq = -1;
    char *t = tdm_page_token_encode_seq(42, a);
    assert_non_null(t);
    assert_null(strpbrk(t, "+/="));
    assert_int_equal(tdm_page_token_decode_seq(t, &seq), 0);
    assert_int_equal(seq, 42);
    assert_null(tdm_page_token_encode_seq(-1, a));
    assert_int_equal(tdm_page_token_decode_seq("", &seq), -1);
    assert_int_equal(tdm_page_token_decode_seq("forged", &seq), -1);
    assert_int_equal(tdm_page_token_decode_seq("azE6LTE", &seq), -1); /* "k1:-1" */
    /* A keyset token is not a seq token. */
    char *k = tdm_page_token_encode_keyset(1, 2, "123e4567-e89b-12d3-a456-426614174000", a);
    assert_int_equal(tdm_page_token_decode_seq(k, &seq), -1);
    /* An empty token is the first page; a forged one names page_token. */
    assert_null(tdm_check_page_token_seq("", &seq));
    assert_int_equal(seq, 0);
    tdm_status *st = tdm_check_page_token_seq("forged", &seq);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "page_token");
    tdm_status_free(st);
    tdm_arena_free(a);
}

static void keyset_tokens_round_trip_and_refuse_others(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *id = "123e4567-e89b-12d3-a456-426614174000";
    char *t = tdm_page_token_encode_keyset(-5, 1733550000123456, id, a);
    int64_t x = 0, y = 0;
    char back[37];
    assert_non_null(t);
    assert_int_equal(tdm_page_token_decode_keyset(t, &x, &y, back), 0);
    assert_int_equal(x, -5);
    assert_int_equal(y, 1733550000123456);
    assert_string_equal(back, id);
    assert_null(tdm_page_token_encode_keyset(1, 2, "not-a-uuid", a));
    assert_int_equal(tdm_page_token_decode_keyset(tdm_page_token_encode_seq(3, a), &x, &y, back),
                     -1);
    char longest[TDM_PAGE_TOKEN_MAX_CHARS + 2];
    memset(longest, 'A', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(tdm_page_token_decode_keyset(longest, &x, &y, back), -1);
    assert_null(tdm_check_page_token_keyset("", &x, &y, back));
    assert_string_equal(back, "");
    tdm_arena_free(a);
}

static void scopes_need_every_bit_or_admin(void **state)
{
    (void)state;
    assert_true(tdm_scope_allows(TDM_SCOPE_FEEDBACK_READ, TDM_SCOPE_FEEDBACK_READ));
    assert_true(tdm_scope_allows(TDM_SCOPE_ADMIN, TDM_SCOPE_FEEDBACK_WRITE));
    assert_false(tdm_scope_allows(TDM_SCOPE_FEEDBACK_READ, TDM_SCOPE_FEEDBACK_WRITE));
    assert_false(tdm_scope_allows(TDM_SCOPE_ENROLMENT_READ,
                                  TDM_SCOPE_ENROLMENT_READ | TDM_SCOPE_MATCHING_READ));
    assert_false(tdm_scope_allows(0, TDM_SCOPE_ADMIN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uuids_in_text_form_only),
        cmocka_unit_test(utf8_counts_code_points_and_refuses_what_is_not_utf8),
        cmocka_unit_test(a_refusal_names_its_field),
        cmocka_unit_test(page_sizes_default_cap_and_refuse_negatives),
        cmocka_unit_test(seq_tokens_round_trip_and_refuse_others),
        cmocka_unit_test(keyset_tokens_round_trip_and_refuse_others),
        cmocka_unit_test(scopes_need_every_bit_or_admin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
