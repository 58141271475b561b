/*
 * test_json_refusals.c - every input the codec refuses is INVALID_ARGUMENT with one
 * violation naming the field by its proto path and saying why: wrong types, numbers
 * out of range or with fractions, unknown fields and enum values, duplicate keys,
 * invalid UTF-8, nesting deeper than 64, malformed well-known types.
 */
#include "json_test_util.h"

#include <stdio.h>
#include <stdlib.h>

static void wrong_types_name_the_nested_field(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "{\"participants\":[{},{},{},{\"skills\":[{\"level\":\"x\"}]}]}",
                   "participants[3].skills[0].level", "must be an integer");
    expect_refusal(ALL_TYPES, "{\"fString\":1}", "f_string", "must be a string");
    expect_refusal(ALL_TYPES, "{\"fBool\":\"true\"}", "f_bool", "must be true or false");
    expect_refusal(ALL_TYPES, "{\"fMessage\":[]}", "f_message", "must be an object");
    expect_refusal(ALL_TYPES, "{\"rInt32\":{}}", "r_int32", "must be a list");
    expect_refusal(ALL_TYPES, "{\"rInt32\":[1,null]}", "r_int32[1]", "must not be null");
    expect_refusal(ALL_TYPES, "{\"labels\":[]}", "labels", "must be an object");
    expect_refusal(ALL_TYPES, "{\"labels\":{\"a\":\"b\"}}", "labels[\"a\"]", "must be an integer");
    expect_refusal(ALL_TYPES, "{\"byNumber\":{\"x\":\"a\"}}", "by_number[\"x\"]",
                   "map key must be an integer");
    expect_refusal(ALL_TYPES, "{\"byFlag\":{\"yes\":\"a\"}}", "by_flag[\"yes\"]", "map key");
    expect_refusal(ALL_TYPES, "{\"skillMap\":{\"k\":{\"levl\":1}}}", "skill_map[\"k\"].levl",
                   "unknown field \"levl\"");
    expect_refusal(ALL_TYPES, "{\"fBytes\":\"***\"}", "f_bytes", "must be base64");
    expect_refusal(ALL_TYPES, "{\"fDouble\":\"fast\"}", "f_double", "must be a number");
    expect_refusal(ALL_TYPES, "[]", "", "must be an object");
}

static void integers_refuse_fractions_and_out_of_range_values(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "{\"fInt32\":1.5}", "f_int32", "must be an integer");
    expect_refusal(ALL_TYPES, "{\"fInt64\":\"1.5\"}", "f_int64", "must be an integer");
    expect_refusal(ALL_TYPES, "{\"fInt64\":\" 1\"}", "f_int64", "must be an integer");
    expect_refusal(ALL_TYPES, "{\"fInt32\":2147483648}", "f_int32", "out of range for int32");
    expect_refusal(ALL_TYPES, "{\"fUint32\":-1}", "f_uint32", "out of range for uint32");
    expect_refusal(ALL_TYPES, "{\"fInt64\":\"9223372036854775808\"}", "f_int64",
                   "out of range for int64");
    expect_refusal(ALL_TYPES, "{\"fUint64\":\"18446744073709551616\"}", "f_uint64",
                   "out of range for uint64");
    expect_refusal(ALL_TYPES, "{\"fUint64\":\"-1\"}", "f_uint64", "out of range for uint64");
    expect_refusal(ALL_TYPES, "{\"fInt64\":1e19}", "f_int64", "out of range for int64");
    expect_refusal(ALL_TYPES, "{\"fFloat\":1e39}", "f_float", "out of range for float");
    expect_refusal(ALL_TYPES, "{\"fDouble\":\"1e999\"}", "f_double", "out of range for double");
    expect_refusal(ALL_TYPES, "{\"fInt64\":99999999999999999999}", "f_int64",
                   "number out of range");
}

static void unknown_fields_and_enum_values_are_refused(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "{\"foo\":1}", "foo", "unknown field \"foo\"");
    expect_refusal(ALL_TYPES, "{\"participants\":[{\"skills\":[{\"foo\":1}]}]}",
                   "participants[0].skills[0].foo", "unknown field \"foo\"");
    expect_refusal(ALL_TYPES, "{\"FInt32\":1}", "FInt32", "unknown field");
    expect_refusal(ALL_TYPES, "{\"fEnum\":\"BLUE\"}", "f_enum",
                   "unknown enum value \"BLUE\" for tandem.codectest.Colour");
    expect_refusal(ALL_TYPES, "{\"rEnum\":[\"RED\",7]}", "r_enum[1]",
                   "unknown enum value 7 for tandem.codectest.Colour");
    expect_refusal(ALL_TYPES, "{\"fEnum\":true}", "f_enum", "name or number");
    expect_refusal(ALL_TYPES, "{\"fEmpty\":{\"x\":1}}", "f_empty.x", "unknown field");
}

static void duplicate_keys_are_refused_wherever_they_are(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "{\"fInt32\":1,\"fInt32\":2}", "f_int32", "duplicate key");
    expect_refusal(ALL_TYPES, "{\"fInt32\":1,\"f_int32\":2}", "f_int32", "duplicate key");
    expect_refusal(ALL_TYPES,
                   "{\"participants\":[{},{\"displayName\":\"a\",\"displayName\":\"b\"}]}",
                   "participants[1].display_name", "duplicate key");
    expect_refusal(ALL_TYPES, "{\"labels\":{\"a\":1,\"a\":2}}", "labels[\"a\"]", "duplicate key");
}

static void invalid_utf8_and_nul_are_refused(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "{\"fString\":\"ok\xff\"}", "f_string", "invalid UTF-8");
    expect_refusal(ALL_TYPES, "{\"rString\":[\"a\",\"\xc0\xaf\"]}", "r_string[1]", "invalid UTF-8");
    expect_refusal(ALL_TYPES, "{\"fString\":\"a\\u0000b\"}", "f_string", "NUL");
}

static void nesting_deeper_than_sixty_four_is_refused(void **state)
{
    (void)state;
    char json[65 * 16];
    size_t o = 0;
    for (int i = 0; i < 64; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "{\"child\":");
    o += (size_t)snprintf(json + o, sizeof json - o, "{");
    for (int i = 0; i < 65; i++)
        json[o++] = '}';
    json[o] = '\0';
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg = NULL;
    tdm_status *st = tdm_json_decode(ALL_TYPES, json, strlen(json), arena, &msg);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_string_equal(st->violations[0].description, "nesting deeper than 64");
    assert_true(strncmp(st->violations[0].field, "child.child.child", 17) == 0);
    tdm_status_free(st);
    /* Arrays count too, and a million levels cost nothing before the refusal. */
    size_t deep = 1000000;
    char *brackets = malloc(deep * 2 + 32);
    o = (size_t)snprintf(brackets, 32, "{\"fValue\":");
    memset(brackets + o, '[', deep);
    memset(brackets + o + deep, ']', deep);
    brackets[o + 2 * deep] = '}';
    st = tdm_json_decode(ALL_TYPES, brackets, o + 2 * deep + 1, arena, &msg);
    assert_non_null(st);
    assert_string_equal(st->violations[0].description, "nesting deeper than 64");
    assert_true(strncmp(st->violations[0].field, "f_value[0][0]", 13) == 0);
    tdm_status_free(st);
    free(brackets);
    tdm_arena_free(arena);
}

static void malformed_well_known_types_are_refused(void **state)
{
    (void)state;
    static const char *const bad_times[] = {
        "2024-02-30T00:00:00Z",     "2023-02-29T00:00:00Z",
        "2024-01-01 00:00:00Z",     "2024-01-01T00:00:00",
        "2024-01-01T24:00:00Z",     "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00.Z",    "2024-01-01T00:00:00.1234567890Z",
        "2024-01-01T00:00:00+1:00", "24-01-01T00:00:00Z",
        "0000-12-31T00:00:00Z",     "2024-01-01T00:00:00Zjunk",
    };
    char json[128];
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        snprintf(json, sizeof json, "{\"createTime\":\"%s\"}", bad_times[i]);
        expect_refusal(ALL_TYPES, json, "create_time", "not a valid RFC 3339 timestamp");
    }
    expect_refusal(ALL_TYPES, "{\"createTime\":\"0001-01-01T00:00:00+00:01\"}", "create_time",
                   "outside years 0001 to 9999");
    expect_refusal(ALL_TYPES, "{\"rTimes\":[\"2020-01-01T00:00:00Z\",1]}", "r_times[1]",
                   "must be a string");
    expect_refusal(ALL_TYPES, "{\"timeout\":\"1\"}", "timeout", "not a valid duration");
    expect_refusal(ALL_TYPES, "{\"timeout\":\"1.s\"}", "timeout", "not a valid duration");
    expect_refusal(ALL_TYPES, "{\"timeout\":\"315576000001s\"}", "timeout", "out of range");
    expect_refusal(ALL_TYPES, "{\"updateMask\":[\"a\"]}", "update_mask", "must be a string");
    expect_refusal(ALL_TYPES, "{\"wInt32\":\"x\"}", "w_int32", "must be an integer");
    expect_refusal(ALL_TYPES, "{\"wBool\":{\"value\":true}}", "w_bool", "must be true or false");
}

static void oneof_members_exclude_each_other(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "{\"choiceText\":\"a\",\"choiceNumber\":1}", "choice_number",
                   "only one field of its oneof");
}

static void malformed_documents_are_refused_where_they_break(void **state)
{
    (void)state;
    expect_refusal(ALL_TYPES, "", "", "malformed JSON");
    expect_refusal(ALL_TYPES, "{\"fMessage\":{\"name\":}}", "f_message.name", "malformed JSON");
    expect_refusal(ALL_TYPES, "{} {}", "", "malformed JSON");
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg = NULL;
    /* The length is checked before a byte is read. */
    tdm_status *st =
        tdm_json_decode(ALL_TYPES, "{}", (size_t)TDM_JSON_MAX_INPUT_BYTES + 1, arena, &msg);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    tdm_status_free(st);
    /* So is the number of values, before jansson allocates any of them. */
    size_t n = TDM_JSON_MAX_VALUES + 1;
    char *many = malloc(n * 2 + 32);
    size_t o = (size_t)snprintf(many, 32, "{\"rInt32\":[");
    for (size_t i = 0; i < n; i++) {
        many[o++] = '0';
        many[o++] = ',';
    }
    many[o - 1] = ']';
    many[o++] = '}';
    st = tdm_json_decode(ALL_TYPES, many, o, arena, &msg);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    tdm_status_free(st);
    free(many);
    tdm_arena_free(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrong_types_name_the_nested_field),
        cmocka_unit_test(integers_refuse_fractions_and_out_of_range_values),
        cmocka_unit_test(unknown_fields_and_enum_values_are_refused),
        cmocka_unit_test(duplicate_keys_are_refused_wherever_they_are),
        cmocka_unit_test(invalid_utf8_and_nul_are_refused),
        cmocka_unit_test(nesting_deeper_than_sixty_four_is_refused),
        cmocka_unit_test(malformed_well_known_types_are_refused),
        cmocka_unit_test(oneof_members_exclude_each_other),
        cmocka_unit_test(malformed_documents_are_refused_where_they_break),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
