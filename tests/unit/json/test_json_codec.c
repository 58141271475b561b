/*
 * test_json_codec.c - the proto3 JSON mapping on accepted input: every field type
 * round-trips to canonical output, both name forms are read, 64-bit integers are
 * strings, enums go by name (read by number too), maps are objects, the well-known
 * types take their special forms, and path/query values set nested fields.
 */
#include "json_test_util.h"

#include <math.h>

#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

static void expect_reencoded(const char *json, const char *canonical)
{
    tdm_arena *arena = tdm_arena_new(0);
    const char *out = reencode(ALL_TYPES, json, arena);
    if (strcmp(out, canonical) != 0)
        fail_msg("input  %s\noutput %s\nwanted %s", json, out, canonical);
    tdm_arena_free(arena);
}

static void every_field_type_round_trips_in_canonical_form(void **state)
{
    (void)state;
    static const char canonical[] =
        "{\"fInt32\":-42,\"fInt64\":\"-9223372036854775808\",\"fUint32\":4294967295,"
        "\"fUint64\":\"18446744073709551615\",\"fSint32\":-7,\"fSint64\":\"-8\","
        "\"fFixed32\":9,\"fFixed64\":\"10\",\"fSfixed32\":-11,\"fSfixed64\":\"-12\","
        "\"fFloat\":0.1,\"fDouble\":1.5e+300,\"fBool\":true,"
        "\"fString\":\"h\xc3\xa9llo \\\"q\\\"\\n\\u0001\",\"fBytes\":\"AAEC/w==\","
        "\"fEnum\":\"GREEN\",\"fMessage\":{\"name\":\"go\",\"level\":3},"
        "\"rInt32\":[1,-2],\"rInt64\":[\"3\",\"-4\"],\"rString\":[\"a\",\"\"],"
        "\"rEnum\":[\"RED\",\"GREEN\"],\"rMessage\":[{\"name\":\"x\"},{}],"
        "\"rBytes\":[\"\",\"AQ==\"],"
        "\"rDouble\":[0,-0.5,\"NaN\",\"Infinity\",\"-Infinity\"],\"rBool\":[false,true],"
        "\"labels\":{\"a\":1,\"b\":0},\"byNumber\":{\"-1\":\"neg\",\"7\":\"seven\"},"
        "\"skillMap\":{\"k\":{\"level\":5}},\"byFlag\":{\"true\":\"yes\"},"
        "\"byId\":{\"18446744073709551615\":\"RED\"},"
        "\"createTime\":\"2024-02-29T12:30:00.123Z\",\"timeout\":\"-1.500s\","
        "\"updateMask\":\"displayName,programme.startDate\",\"wInt32\":0,\"wInt64\":\"5\","
        "\"wUint32\":7,\"wBool\":false,\"wString\":\"\",\"wDouble\":2.5,\"wFloat\":\"NaN\","
        "\"wBytes\":\"YQ==\",\"wUint64\":\"1\",\"fEmpty\":{},"
        "\"fStruct\":{\"a\":[1,\"x\",null,true,{\"b\":{}}]},\"fValue\":\"s\","
        "\"fList\":[1.5,[]],"
        "\"rTimes\":[\"1970-01-01T00:00:00Z\",\"9999-12-31T23:59:59.999999999Z\"],"
        "\"choiceNumber\":0,\"child\":{\"fInt32\":1},"
        "\"participants\":[{\"displayName\":\"p\",\"skills\":[{\"name\":\"s\",\"level\":1}]}]}";
    expect_reencoded(canonical, canonical);
}

static void default_values_are_omitted_and_null_means_default(void **state)
{
    (void)state;
    expect_reencoded("{\"fInt32\":0,\"fString\":\"\",\"fEnum\":\"COLOUR_UNSPECIFIED\","
                     "\"rInt32\":[],\"labels\":{},\"fBool\":false,\"fDouble\":0}",
                     "{}");
    expect_reencoded("{\"fInt32\":null,\"fMessage\":null,\"rInt32\":null,\"labels\":null,"
                     "\"createTime\":null,\"wInt32\":null,\"choiceText\":null}",
                     "{}");
    /* An unset Value is absent; a Value holding null is shown. */
    expect_reencoded("{\"fValue\":null}", "{\"fValue\":null}");
    /* An empty sub-message is present. */
    expect_reencoded("{\"fMessage\":{}}", "{\"fMessage\":{}}");
}

static void proto_names_and_camel_case_names_are_both_accepted(void **state)
{
    (void)state;
    expect_reencoded("{\"f_int32\":1,\"fInt64\":2,\"participants\":[{\"display_name\":\"a\"},"
                     "{\"displayName\":\"b\"}],\"create_time\":\"2020-01-01T00:00:00Z\"}",
                     "{\"fInt32\":1,\"fInt64\":\"2\",\"createTime\":\"2020-01-01T00:00:00Z\","
                     "\"participants\":[{\"displayName\":\"a\"},{\"displayName\":\"b\"}]}");
}

static void sixty_four_bit_integers_accept_numbers_and_strings(void **state)
{
    (void)state;
    expect_reencoded("{\"fInt64\":123,\"fUint64\":\"42\",\"fSint64\":-5,\"fFixed64\":7}",
                     "{\"fInt64\":\"123\",\"fUint64\":\"42\",\"fSint64\":\"-5\","
                     "\"fFixed64\":\"7\"}");
    expect_reencoded("{\"fInt64\":\"9223372036854775807\",\"fInt32\":\"-2147483648\"}",
                     "{\"fInt32\":-2147483648,\"fInt64\":\"9223372036854775807\"}");
    /* Exponent notation and integral fractions are integers too. */
    expect_reencoded("{\"fInt32\":1e3,\"fInt64\":\"2.0\",\"fUint32\":5.0}",
                     "{\"fInt32\":1000,\"fInt64\":\"2\",\"fUint32\":5}");
}

static void enums_read_by_name_or_number_and_write_by_name(void **state)
{
    (void)state;
    expect_reencoded("{\"fEnum\":2,\"rEnum\":[\"RED\",1,2]}",
                     "{\"fEnum\":\"GREEN\",\"rEnum\":[\"RED\",\"RED\",\"GREEN\"]}");
}

static void maps_are_objects_keyed_by_text(void **state)
{
    (void)state;
    expect_reencoded("{\"by_number\":{\"10\":\"ten\",\"-3\":\"x\"},\"byFlag\":{\"false\":\"no\"},"
                     "\"byId\":{\"1\":2},\"skill_map\":{\"a b\":{\"name\":\"n\"}}}",
                     "{\"byNumber\":{\"10\":\"ten\",\"-3\":\"x\"},"
                     "\"skillMap\":{\"a b\":{\"name\":\"n\"}},\"byFlag\":{\"false\":\"no\"},"
                     "\"byId\":{\"1\":\"GREEN\"}}");
}

static void timestamps_accept_offsets_and_print_utc(void **state)
{
    (void)state;
    expect_reencoded("{\"createTime\":\"2024-01-01T01:30:00+01:30\"}",
                     "{\"createTime\":\"2024-01-01T00:00:00Z\"}");
    expect_reencoded("{\"createTime\":\"1969-12-31t23:59:59.5z\"}",
                     "{\"createTime\":\"1969-12-31T23:59:59.500Z\"}");
    expect_reencoded("{\"createTime\":\"2000-02-29T00:00:00.000001-00:00\"}",
                     "{\"createTime\":\"2000-02-29T00:00:00.000001Z\"}");
    expect_reencoded("{\"createTime\":\"0001-01-01T00:00:00Z\"}",
                     "{\"createTime\":\"0001-01-01T00:00:00Z\"}");
    expect_reencoded("{\"createTime\":\"2024-05-06T07:08:09.123456789Z\"}",
                     "{\"createTime\":\"2024-05-06T07:08:09.123456789Z\"}");
}

static void durations_print_seconds_with_three_six_or_nine_digits(void **state)
{
    (void)state;
    expect_reencoded("{\"timeout\":\"1.5s\"}", "{\"timeout\":\"1.500s\"}");
    expect_reencoded("{\"timeout\":\"0.000000001s\"}", "{\"timeout\":\"0.000000001s\"}");
    expect_reencoded("{\"timeout\":\"-0.25s\"}", "{\"timeout\":\"-0.250s\"}");
    expect_reencoded("{\"timeout\":\"3s\"}", "{\"timeout\":\"3s\"}");
    expect_reencoded("{\"timeout\":\"315576000000.000002s\"}",
                     "{\"timeout\":\"315576000000.000002s\"}");
}

static void field_masks_convert_between_camel_and_snake_case(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg = NULL;
    const char *json = "{\"updateMask\":\"displayName,consent.dataProcessing,email\"}";
    assert_null(tdm_json_decode(ALL_TYPES, json, strlen(json), arena, &msg));
    Tandem__Codectest__AllTypes *all = (Tandem__Codectest__AllTypes *)msg;
    assert_int_equal(all->update_mask->n_paths, 3);
    assert_string_equal(all->update_mask->paths[0], "display_name");
    assert_string_equal(all->update_mask->paths[1], "consent.data_processing");
    assert_string_equal(tdm_json_encode(msg, arena, NULL), json);
    tdm_arena_free(arena);
    expect_reencoded("{\"updateMask\":\"\"}", "{\"updateMask\":\"\"}");
}

static void wrappers_are_bare_values(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg = NULL;
    const char *json = "{\"wInt32\":0,\"wBool\":true,\"wString\":\"s\",\"wDouble\":\"Infinity\","
                       "\"wUint32\":\"9\",\"wBytes\":\"__8\"}";
    assert_null(tdm_json_decode(ALL_TYPES, json, strlen(json), arena, &msg));
    Tandem__Codectest__AllTypes *all = (Tandem__Codectest__AllTypes *)msg;
    assert_non_null(all->w_int32);
    assert_int_equal(all->w_int32->value, 0);
    assert_null(all->w_int64);
    assert_true(all->w_bool->value);
    assert_true(isinf(all->w_double->value));
    assert_int_equal(all->w_bytes->value.len, 2); /* URL-safe base64 without padding */
    assert_string_equal(tdm_json_encode(msg, arena, NULL),
                        "{\"wInt32\":0,\"wUint32\":9,\"wBool\":true,\"wString\":\"s\","
                        "\"wDouble\":\"Infinity\",\"wBytes\":\"//8=\"}");
    tdm_arena_free(arena);
}

static void struct_value_and_list_value_carry_any_json(void **state)
{
    (void)state;
    expect_reencoded("{\"fValue\":{\"k\":[1,2.5,\"s\",false,null,{}]}}",
                     "{\"fValue\":{\"k\":[1,2.5,\"s\",false,null,{}]}}");
    expect_reencoded("{\"fList\":[],\"fStruct\":{}}", "{\"fStruct\":{},\"fList\":[]}");
}

static void floats_print_shortest_round_trip_text(void **state)
{
    (void)state;
    expect_reencoded("{\"fFloat\":3.4028235e38,\"fDouble\":0.30000000000000004}",
                     "{\"fFloat\":3.4028235e+38,\"fDouble\":0.30000000000000004}");
    expect_reencoded("{\"fFloat\":\"-Infinity\",\"fDouble\":\"1e-7\"}",
                     "{\"fFloat\":\"-Infinity\",\"fDouble\":1e-07}");
}

static void oneof_members_are_shown_even_when_default(void **state)
{
    (void)state;
    expect_reencoded("{\"choiceText\":\"\"}", "{\"choiceText\":\"\"}");
    expect_reencoded("{\"choiceSkill\":{}}", "{\"choiceSkill\":{}}");
}

static void nesting_of_sixty_four_levels_is_accepted(void **state)
{
    (void)state;
    char json[64 * 16];
    size_t o = 0;
    for (int i = 0; i < 63; i++)
        o += (size_t)snprintf(json + o, sizeof json - o, "{\"child\":");
    o += (size_t)snprintf(json + o, sizeof json - o, "{\"fInt32\":1");
    for (int i = 0; i < 64; i++)
        json[o++] = '}';
    json[o] = '\0';
    tdm_arena *arena = tdm_arena_new(0);
    assert_string_equal(reencode(ALL_TYPES, json, arena), json);
    tdm_arena_free(arena);
}

static void set_field_path_binds_path_variables_and_query_values(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg = tdm_json_message_new(&tandem__codectest__all_types__descriptor, arena);
    assert_null(tdm_json_set_field_path(msg, "fMessage.name", "x y", arena));
    assert_null(tdm_json_set_field_path(msg, "f_message.level", "4", arena));
    assert_null(tdm_json_set_field_path(msg, "fInt64", "-9", arena));
    assert_null(tdm_json_set_field_path(msg, "f_bool", "true", arena));
    assert_null(tdm_json_set_field_path(msg, "fEnum", "RED", arena));
    assert_null(tdm_json_set_field_path(msg, "rEnum", "GREEN", arena));
    assert_null(tdm_json_set_field_path(msg, "r_enum", "1", arena));
    assert_null(tdm_json_set_field_path(msg, "rString", "a", arena));
    assert_null(tdm_json_set_field_path(msg, "rString", "b", arena));
    assert_null(tdm_json_set_field_path(msg, "updateMask", "displayName,email", arena));
    assert_null(tdm_json_set_field_path(msg, "update_mask", "status", arena));
    assert_null(tdm_json_set_field_path(msg, "wInt32", "0", arena));
    assert_null(tdm_json_set_field_path(msg, "createTime", "2020-01-02T03:04:05Z", arena));
    assert_null(tdm_json_set_field_path(msg, "timeout", "2s", arena));
    assert_null(tdm_json_set_field_path(msg, "child.child.fString", "deep", arena));
    assert_null(tdm_json_set_field_path(msg, "choiceSkill.name", "c", arena));
    assert_string_equal(tdm_json_encode(msg, arena, NULL),
                        "{\"fInt64\":\"-9\",\"fBool\":true,\"fEnum\":\"RED\","
                        "\"fMessage\":{\"name\":\"x y\",\"level\":4},\"rString\":[\"a\",\"b\"],"
                        "\"rEnum\":[\"GREEN\",\"RED\"],\"createTime\":\"2020-01-02T03:04:05Z\","
                        "\"timeout\":\"2s\",\"updateMask\":\"displayName,email,status\","
                        "\"wInt32\":0,\"choiceSkill\":{\"name\":\"c\"},"
                        "\"child\":{\"child\":{\"fString\":\"deep\"}}}");
    tdm_arena_free(arena);
}

static void set_field_path_refusals_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *path, *value, *field, *why;
    } cases[] = {
        {"pageSize", "1", "pageSize", "unknown field \"pageSize\""},
        {"fInt32", "abc", "f_int32", "must be an integer"},
        {"fInt32", "1.5", "f_int32", "must be an integer"},
        {"fUint32", "-1", "f_uint32", "out of range"},
        {"fMessage.level", "99999999999", "f_message.level", "out of range for int32"},
        {"fEnum", "BLUE", "f_enum", "unknown enum value \"BLUE\" for tandem.codectest.Colour"},
        {"fBool", "yes", "f_bool", "must be true or false"},
        {"fString", "\xff", "f_string", "invalid UTF-8"},
        {"createTime", "yesterday", "create_time", "not a valid RFC 3339 timestamp"},
        {"fMessage", "x", "f_message", "cannot be set"},
        {"labels", "x", "labels", "cannot be set"},
        {"fMessage.nope", "x", "f_message.nope", "unknown field"},
        {"fInt32.x", "1", "f_int32", "has no field"},
        {"updateMask", "a,,b", "update_mask", "empty path"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tdm_arena *arena = tdm_arena_new(0);
        ProtobufCMessage *msg = tdm_json_message_new(ALL_TYPES, arena);
        tdm_status *st = tdm_json_set_field_path(msg, cases[i].path, cases[i].value, arena);
        if (st == NULL)
            fail_msg("%s=%s accepted", cases[i].path, cases[i].value);
        assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
        assert_string_equal(st->violations[0].field, cases[i].field);
        if (strstr(st->violations[0].description, cases[i].why) == NULL)
            fail_msg("%s: %s", cases[i].path, st->violations[0].description);
        tdm_status_free(st);
        tdm_arena_free(arena);
    }
}

static void merge_object_decodes_a_body_into_one_field(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg =
        tdm_json_message_new(&tandem__codectest__update_programme_request__descriptor, arena);
    json_t *body = json_loads("{\"name\":\"Reverse 2025\",\"id\":\"p1\"}", 0, NULL);
    assert_null(tdm_json_merge_object(body, msg, "programme", arena));
    json_decref(body);
    assert_null(tdm_json_set_field_path(msg, "programme.id", "p2", arena));
    assert_null(tdm_json_set_field_path(msg, "updateMask", "name", arena));
    assert_string_equal(tdm_json_encode(msg, arena, NULL),
                        "{\"programme\":{\"id\":\"p2\",\"name\":\"Reverse 2025\"},"
                        "\"updateMask\":\"name\"}");
    body = json_loads("{\"nme\":\"x\"}", 0, NULL);
    tdm_status *st = tdm_json_merge_object(body, msg, "programme", arena);
    json_decref(body);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "programme.nme");
    assert_string_equal(st->violations[0].description, "unknown field \"nme\"");
    tdm_status_free(st);
    tdm_arena_free(arena);
}

static void json_names_follow_protoc(void **state)
{
    (void)state;
    ProtobufCFieldDescriptor f = {.name = "check_in_cadence_days"};
    char buf[64];
    assert_string_equal(tdm_json_field_name(&f, buf, sizeof buf), "checkInCadenceDays");
    f.name = "foo_1bar__baz";
    assert_string_equal(tdm_json_field_name(&f, buf, sizeof buf), "foo1barBaz");
    assert_null(tdm_json_field_name(&f, buf, 4));
}

static void well_known_types_encode_alone_and_invalid_values_fail(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    assert_string_equal(tdm_json_encode(&empty.base, arena, NULL), "{}");
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = 1700000000;
    ts.nanos = 5000;
    assert_string_equal(tdm_json_encode(&ts.base, arena, NULL), "\"2023-11-14T22:13:20.000005Z\"");
    ts.seconds = 253402300800; /* year 10000 */
    assert_null(tdm_json_encode(&ts.base, arena, NULL));
    ts.seconds = 0;
    ts.nanos = -1;
    assert_null(tdm_json_encode(&ts.base, arena, NULL));
    tdm_arena_free(arena);
}

/* A binary message may repeat a map key (the last entry wins): JSON shows the key once,
 * where it first stood, with the last value. */
static void a_repeated_map_key_shows_once_with_its_last_value(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    Tandem__Codectest__AllTypes m = TANDEM__CODECTEST__ALL_TYPES__INIT;
    Tandem__Codectest__AllTypes__LabelsEntry e[4] = {
        TANDEM__CODECTEST__ALL_TYPES__LABELS_ENTRY__INIT,
        TANDEM__CODECTEST__ALL_TYPES__LABELS_ENTRY__INIT,
        TANDEM__CODECTEST__ALL_TYPES__LABELS_ENTRY__INIT,
        TANDEM__CODECTEST__ALL_TYPES__LABELS_ENTRY__INIT,
    };
    char keys[4][2] = {"b", "a", "b", "c"};
    Tandem__Codectest__AllTypes__LabelsEntry *entries[4];
    for (int i = 0; i < 4; i++) {
        e[i].key = keys[i];
        e[i].value = i + 1;
        entries[i] = &e[i];
    }
    m.n_labels = 4;
    m.labels = entries;
    assert_string_equal(tdm_json_encode(&m.base, arena, NULL),
                        "{\"labels\":{\"b\":3,\"a\":2,\"c\":4}}");
    tdm_arena_free(arena);
}

/* JSON text is UTF-8: a string field holding anything else fails the whole message
 * rather than writing invalid JSON. */
static void a_string_that_is_not_utf8_fails_the_encoding(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    Tandem__Codectest__AllTypes m = TANDEM__CODECTEST__ALL_TYPES__INIT;
    char good[] = "caf\xc3\xa9", bad[] = "bad\xff", surrogate[] = "surrogate\xed\xa0\x80";
    m.f_string = good;
    assert_string_equal(tdm_json_encode(&m.base, arena, NULL), "{\"fString\":\"caf\xc3\xa9\"}");
    m.f_string = bad;
    assert_null(tdm_json_encode(&m.base, arena, NULL));
    m.f_string = surrogate;
    assert_null(tdm_json_encode(&m.base, arena, NULL));
    tdm_arena_free(arena);
}

/* The writer composes documents from values and whole messages, escaped as the
 * encoder escapes; a failed value fails the document. */
static void the_writer_composes_values_and_messages(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    Tandem__Codectest__Skill skill = TANDEM__CODECTEST__SKILL__INIT;
    char name[] = "law\n";
    skill.name = name;
    skill.level = 4;
    tdm_json_writer w = {0};
    tdm_json_writer_raw(&w, "[", 1);
    tdm_json_writer_string(&w, "q\"");
    tdm_json_writer_raw(&w, ",", 1);
    tdm_json_writer_int(&w, -12);
    tdm_json_writer_raw(&w, ",", 1);
    tdm_json_writer_bool(&w, true);
    tdm_json_writer_raw(&w, ",", 1);
    tdm_json_writer_message(&w, &skill.base);
    tdm_json_writer_raw(&w, "]", 1);
    size_t len = 0;
    const char *out = tdm_json_writer_finish(&w, arena, &len);
    assert_string_equal(out, "[\"q\\\"\",-12,true,{\"name\":\"law\\n\",\"level\":4}]");
    assert_int_equal(len, strlen(out));
    assert_string_equal(tdm_json_encode(&skill.base, arena, NULL),
                        "{\"name\":\"law\\n\",\"level\":4}");
    tdm_json_writer bad = {0};
    tdm_json_writer_raw(&bad, "[", 1);
    tdm_json_writer_string(&bad, "\xc0\x80");
    tdm_json_writer_raw(&bad, "]", 1);
    assert_null(tdm_json_writer_finish(&bad, arena, NULL));
    tdm_arena_free(arena);
}

static void dump_writes_compact_json_with_shortest_numbers(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    json_t *v = json_pack("{s:f, s:I, s:s, s:[b,n], s:f, s:f, s:f, s:f}", "r", 0.1, "i",
                          (json_int_t)-7, "s", "tab\t\"\\\x1f/", "a", 1, "big", 1e21, "whole", 20.0,
                          "neg", -16.0, "negzero", -0.0);
    size_t len = 0;
    const char *out = tdm_json_dump(v, arena, &len);
    /* Whole doubles print as integers (a score contribution of 20 is "20", not "2e+01"),
     * and negative zero keeps its sign. */
    assert_string_equal(out, "{\"r\":0.1,\"i\":-7,\"s\":\"tab\\t\\\"\\\\\\u001f/\","
                             "\"a\":[true,null],\"big\":1e+21,\"whole\":20,\"neg\":-16,"
                             "\"negzero\":-0.0}");
    assert_int_equal(len, strlen(out));
    json_decref(v);
    tdm_arena_free(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field_type_round_trips_in_canonical_form),
        cmocka_unit_test(default_values_are_omitted_and_null_means_default),
        cmocka_unit_test(proto_names_and_camel_case_names_are_both_accepted),
        cmocka_unit_test(sixty_four_bit_integers_accept_numbers_and_strings),
        cmocka_unit_test(enums_read_by_name_or_number_and_write_by_name),
        cmocka_unit_test(maps_are_objects_keyed_by_text),
        cmocka_unit_test(timestamps_accept_offsets_and_print_utc),
        cmocka_unit_test(durations_print_seconds_with_three_six_or_nine_digits),
        cmocka_unit_test(field_masks_convert_between_camel_and_snake_case),
        cmocka_unit_test(wrappers_are_bare_values),
        cmocka_unit_test(struct_value_and_list_value_carry_any_json),
        cmocka_unit_test(floats_print_shortest_round_trip_text),
        cmocka_unit_test(oneof_members_are_shown_even_when_default),
        cmocka_unit_test(nesting_of_sixty_four_levels_is_accepted),
        cmocka_unit_test(set_field_path_binds_path_variables_and_query_values),
        cmocka_unit_test(set_field_path_refusals_name_the_field),
        cmocka_unit_test(merge_object_decodes_a_body_into_one_field),
        cmocka_unit_test(json_names_follow_protoc),
        cmocka_unit_test(well_known_types_encode_alone_and_invalid_values_fail),
        cmocka_unit_test(a_repeated_map_key_shows_once_with_its_last_value),
        cmocka_unit_test(a_string_that_is_not_utf8_fails_the_encoding),
        cmocka_unit_test(the_writer_composes_values_and_messages),
        cmocka_unit_test(dump_writes_compact_json_with_shortest_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
