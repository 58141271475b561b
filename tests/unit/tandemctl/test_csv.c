/*
 * test_csv.c - tandemctl's strict RFC 4180 reader and the participant rows built
 * from CSV and JSON files: quoting, line endings and line numbers, bounds, recovery
 * after a malformed record, and per-row errors that name the line, field and reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "csv.h"
#include "rows.h"

static csv_result read_str(csv_reader *r)
{
    return csv_read_record(r);
}

static void test_quoted_fields_escapes_and_crlf(void **state)
{
    (void)state;
    const char *in = "a,\"b,c\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",x,\r\nlast,one,two";
    csv_reader r;
    assert_int_equal(csv_reader_init(&r, in, strlen(in)), 0);
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_int_equal(r.n_fields, 3);
    assert_string_equal(r.fields[0], "a");
    assert_string_equal(r.fields[1], "b,c");
    assert_string_equal(r.fields[2], "say \"hi\"");
    assert_int_equal(r.record_line, 1);
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_int_equal(r.n_fields, 3);
    assert_string_equal(r.fields[0], "multi\nline");
    assert_string_equal(r.fields[2], "");
    assert_int_equal(r.record_line, 2);
    assert_int_equal(read_str(&r), CSV_RECORD); /* no final line ending */
    assert_int_equal(r.record_line, 4);
    assert_string_equal(r.fields[2], "two");
    assert_int_equal(read_str(&r), CSV_END);
    csv_reader_free(&r);
}

static void test_bom_and_blank_lines_are_skipped(void **state)
{
    (void)state;
    const char *in = "\xEF\xBB\xBFh1,h2\n\n\r\nv1,v2\n\n";
    csv_reader r;
    assert_int_equal(csv_reader_init(&r, in, strlen(in)), 0);
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_string_equal(r.fields[0], "h1");
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_string_equal(r.fields[1], "v2");
    assert_int_equal(r.record_line, 4);
    assert_int_equal(read_str(&r), CSV_END);
    csv_reader_free(&r);
}

static void test_malformed_record_is_reported_and_the_next_one_read(void **state)
{
    (void)state;
    const char *in = "ok,1\nbad\"quote,2\n\"closed\"junk,3\nbare\rcr,4\nfine,5\n";
    csv_reader r;
    assert_int_equal(csv_reader_init(&r, in, strlen(in)), 0);
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_int_equal(read_str(&r), CSV_ERROR);
    assert_int_equal(r.error_line, 2);
    assert_non_null(strstr(r.error, "quote inside an unquoted field"));
    assert_int_equal(read_str(&r), CSV_ERROR);
    assert_int_equal(r.error_line, 3);
    assert_non_null(strstr(r.error, "after the closing quote"));
    assert_int_equal(read_str(&r), CSV_ERROR);
    assert_int_equal(r.error_line, 4);
    assert_non_null(strstr(r.error, "carriage return"));
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_string_equal(r.fields[0], "fine");
    assert_int_equal(r.record_line, 5);
    assert_int_equal(read_str(&r), CSV_END);
    csv_reader_free(&r);
}

static void test_unterminated_quote_names_its_opening_line(void **state)
{
    (void)state;
    const char *in = "a,b\n\"never closed,\nmore\nlines";
    csv_reader r;
    assert_int_equal(csv_reader_init(&r, in, strlen(in)), 0);
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_int_equal(read_str(&r), CSV_ERROR);
    assert_int_equal(r.error_line, 2);
    assert_non_null(strstr(r.error, "never closed"));
    assert_int_equal(read_str(&r), CSV_END);
    csv_reader_free(&r);
}

static void test_sizes_are_bounded(void **state)
{
    (void)state;
    size_t len = CSV_MAX_FIELD_BYTES + 10;
    char *in = malloc(len + 8);
    memset(in, 'x', len);
    memcpy(in + len, "\nok\n", 5);
    csv_reader r;
    assert_int_equal(csv_reader_init(&r, in, strlen(in)), 0);
    assert_int_equal(read_str(&r), CSV_ERROR);
    assert_non_null(strstr(r.error, "longer than"));
    assert_int_equal(read_str(&r), CSV_RECORD);
    assert_string_equal(r.fields[0], "ok");
    csv_reader_free(&r);
    free(in);

    char many[CSV_MAX_FIELDS * 2 + 8];
    size_t n = 0;
    for (int i = 0; i <= CSV_MAX_FIELDS; i++) {
        many[n++] = 'a';
        many[n++] = ',';
    }
    many[n] = '\0';
    assert_int_equal(csv_reader_init(&r, many, n), 0);
    assert_int_equal(read_str(&r), CSV_ERROR);
    assert_non_null(strstr(r.error, "more than"));
    csv_reader_free(&r);
}

static const char HEADER[] = "external_id,display_name,role,seniorityLevel,skills,interests,"
                             "consent_diversity_data,gender,email\n";

static char *with_header(const char *body)
{
    char *s = malloc(strlen(HEADER) + strlen(body) + 1);
    strcpy(s, HEADER);
    strcat(s, body);
    return s;
}

static void test_rows_map_columns_to_participant_json(void **state)
{
    (void)state;
    char *in = with_header("p1,\"Okafor, Amara\",mentor,2,\"Generative AI:5; Python:3\","
                           "AI ethics;Pro bono,yes,Woman,\n");
    rows_set set;
    char err[512];
    assert_int_equal(rows_load_csv(&set, in, strlen(in), err, sizeof err), 0);
    assert_int_equal(set.n_rows, 1);
    assert_int_equal(set.n_errors, 0);
    json_t *p = set.rows[0].participant;
    assert_int_equal(set.rows[0].origin, 2);
    assert_string_equal(json_string_value(json_object_get(p, "externalId")), "p1");
    assert_string_equal(json_string_value(json_object_get(p, "displayName")), "Okafor, Amara");
    assert_string_equal(json_string_value(json_object_get(p, "role")), "MENTOR");
    assert_int_equal(json_integer_value(json_object_get(p, "seniorityLevel")), 2);
    json_t *skills = json_object_get(p, "skills");
    assert_int_equal(json_array_size(skills), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(skills, 1), "name")),
                        "Python");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(skills, 0), "level")), 5);
    assert_int_equal(json_array_size(json_object_get(p, "interests")), 2);
    assert_true(json_is_true(json_object_get(json_object_get(p, "consent"), "diversityData")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p, "diversity"), "gender")), "Woman");
    assert_null(json_object_get(p, "email")); /* empty cells are omitted */
    rows_free(&set);
    free(in);
}

static const rows_error *error_on(const rows_set *set, unsigned long line)
{
    for (size_t i = 0; i < set->n_errors; i++) {
        if (set->errors[i].origin == line) {
            return &set->errors[i];
        }
    }
    return NULL;
}

static void test_bad_rows_are_reported_by_line_and_field(void **state)
{
    (void)state;
    char *in = with_header("ok1,A,mentee,9,,,,,\n"          /* line 2 */
                           "bad2,B,boss,3,,,,,\n"           /* line 3: role */
                           "bad3,C,mentor,eleven,,,,,\n"    /* line 4: level */
                           "bad4,D,mentor,1,Python:9,,,,\n" /* line 5: skill level */
                           ",E,mentor,1,,,,,\n"             /* line 6: required */
                           "bad6,F,mentor\n"                /* line 7: field count */
                           "bad7,\"G\"x,mentor,1,,,,,\n"    /* line 8: CSV syntax */
                           "ok1,H,mentor,1,,,,,\n"          /* line 9: duplicate */
                           "bad9,I,mentor,1,,,maybe,,\n"    /* line 10: boolean */
                           "ok2,J,mentor,0,,,,,\n");
    rows_set set;
    char err[512];
    assert_int_equal(rows_load_csv(&set, in, strlen(in), err, sizeof err), 0);
    assert_int_equal(set.seen, 10);
    assert_int_equal(set.n_rows, 2);
    assert_int_equal(set.n_errors, 8);
    rows_sort_errors(&set);
    assert_string_equal(error_on(&set, 3)->field, "role");
    assert_string_equal(error_on(&set, 3)->external_id, "bad2");
    assert_string_equal(error_on(&set, 4)->field, "seniority_level");
    assert_non_null(strstr(error_on(&set, 4)->message, "not a whole number"));
    assert_string_equal(error_on(&set, 5)->field, "skills");
    assert_non_null(strstr(error_on(&set, 5)->message, "out of range"));
    assert_string_equal(error_on(&set, 6)->field, "external_id");
    assert_string_equal(error_on(&set, 6)->message, "required");
    assert_null(error_on(&set, 7)->field);
    assert_non_null(strstr(error_on(&set, 7)->message, "expected 9 fields"));
    assert_non_null(strstr(error_on(&set, 8)->message, "closing quote"));
    assert_string_equal(error_on(&set, 9)->field, "external_id");
    assert_string_equal(error_on(&set, 9)->message, "duplicate of line 2");
    assert_string_equal(error_on(&set, 10)->field, "consent_diversity_data");
    for (size_t i = 0; i < set.n_errors; i++) {
        assert_true(set.errors[i].local);
        assert_int_equal(set.errors[i].code, 3);
    }
    rows_free(&set);
    free(in);
}

static void test_bad_header_makes_the_file_unusable(void **state)
{
    (void)state;
    rows_set set;
    char err[1024];
    const char *unknown = "external_id,display_name,role,shoe_size\n";
    assert_int_equal(rows_load_csv(&set, unknown, strlen(unknown), err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1: field shoe_size: unknown column"));
    rows_free(&set);
    const char *missing = "external_id,display_name\n";
    assert_int_equal(rows_load_csv(&set, missing, strlen(missing), err, sizeof err), -1);
    assert_non_null(strstr(err, "field role: required column missing"));
    rows_free(&set);
    const char *twice = "role,external_id,display_name,role\n";
    assert_int_equal(rows_load_csv(&set, twice, strlen(twice), err, sizeof err), -1);
    assert_non_null(strstr(err, "column given twice"));
    rows_free(&set);
    assert_int_equal(rows_load_csv(&set, "", 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
    rows_free(&set);
}

static void test_json_files_as_array_or_batch_body(void **state)
{
    (void)state;
    rows_set set;
    char err[512];
    const char *arr = "[{\"externalId\":\"a\"},7,{\"externalId\":\"a\"}]";
    assert_int_equal(rows_load_json(&set, arr, strlen(arr), err, sizeof err), 0);
    assert_int_equal(set.seen, 3);
    assert_int_equal(set.n_rows, 1);
    assert_int_equal(set.n_errors, 2);
    rows_sort_errors(&set);
    assert_int_equal(set.errors[0].origin, 2);
    assert_string_equal(set.errors[1].message, "duplicate of row 1");
    assert_string_equal(rows_origin_word(&set), "row");
    rows_free(&set);
    const char *body = "{\"participants\":[{\"externalId\":\"x\"},{\"externalId\":\"y\"}]}";
    assert_int_equal(rows_load_json(&set, body, strlen(body), err, sizeof err), 0);
    assert_int_equal(set.n_rows, 2);
    rows_free(&set);
    const char *broken = "{\"participants\": [";
    assert_int_equal(rows_load_json(&set, broken, strlen(broken), err, sizeof err), -1);
    assert_non_null(strstr(err, "line 1"));
    rows_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoted_fields_escapes_and_crlf),
        cmocka_unit_test(test_bom_and_blank_lines_are_skipped),
        cmocka_unit_test(test_malformed_record_is_reported_and_the_next_one_read),
        cmocka_unit_test(test_unterminated_quote_names_its_opening_line),
        cmocka_unit_test(test_sizes_are_bounded),
        cmocka_unit_test(test_rows_map_columns_to_participant_json),
        cmocka_unit_test(test_bad_rows_are_reported_by_line_and_field),
        cmocka_unit_test(test_bad_header_makes_the_file_unusable),
        cmocka_unit_test(test_json_files_as_array_or_batch_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
