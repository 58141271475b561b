/*
 * test_json_limits.c - the JSON decoder's bounds (API.md "The public edge": decoded
 * memory at most 8x the wire size and at most 64 MiB per call, RESOURCE_EXHAUSTED
 * past it), with the measured ratios that docs/operations.md quotes: what a decode
 * holds at its peak (jansson's tree and the message's arena bytes,
 * tdm_json_decode_peak) over the body's bytes, for the REST bodies of BatchEnrol
 * (an HR platform's rows, compact rows), CreateProgramme and RecordCheckIn, and for
 * the pathological shapes (`{}` rows, `[]`, `""` and `0` lists). The "whole tree"
 * figures are the same documents decoded the way the codec did before the bound
 * (jansson's tree of the whole document, then the message), for comparison.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../../services/common/json_internal.h"
#include "codec_test.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "tandem/json.h"
#include "tandem/protobuf.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/feedback.pb-c.h"
#include "tandem/v1/matching.pb-c.h"

#define PROGRAMME_ID "0b5c1c8e-8f51-4a53-9d55-5d2f5b3c2a11"

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char piece[512];
    int n = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof piece);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    memcpy(t->s + t->len, piece, (size_t)n + 1);
    t->len += (size_t)n;
}

typedef enum row_shape { ROWS_HR, ROWS_COMPACT, ROWS_EMPTY } row_shape;

/* A BatchEnrol body of n rows, as an HR platform (or an attacker) would send it. */
static text batch_body(size_t n, row_shape shape)
{
    text t = {0};
    put(&t, "{\"programmeId\":\"%s\",\"participants\":[", PROGRAMME_ID);
    for (size_t i = 0; i < n; i++) {
        const char *sep = i + 1 < n ? "," : "";
        if (shape == ROWS_HR)
            /* The rows of tests/unit/runtime/batch_rows.h, in JSON: an employee
             * number, a full name, a work e-mail, seniority, office, department
             * and two languages. */
            put(&t,
                "{\"externalId\":\"HR-%06zu\",\"displayName\":\"Amelie Dupont-Moreau %zu\","
                "\"email\":\"amelie.dupont-moreau.%zu@firm-example.com\",\"role\":\"MENTEE\","
                "\"seniorityLevel\":3,\"office\":\"London\",\"department\":\"Corporate\","
                "\"languages\":[\"en\",\"fr\"]}%s",
                i, i, i, sep);
        else if (shape == ROWS_COMPACT)
            put(&t,
                "{\"externalId\":\"pg%05zu\",\"displayName\":\"Person pg%05zu\",\"role\":"
                "\"MENTEE\"}%s",
                i, i, sep);
        else
            put(&t, "{}%s", sep);
    }
    put(&t, "]}");
    return t;
}

static text programme_body(void)
{
    text t = {0};
    put(&t, "{\"name\":\"Reverse mentoring 2027\",\"description\":\"Junior lawyers mentor "
            "partners on legal tech, AI and client expectations.\",\"kind\":\"REVERSE\","
            "\"objectives\":[");
    put(&t, "{\"key\":\"digital\",\"title\":\"Digital literacy\",\"description\":\"Partners "
            "use the firm's AI tools with confidence.\"},");
    put(&t, "{\"key\":\"clients\",\"title\":\"Client expectations\",\"description\":\"What "
            "in-house teams expect from a firm today.\"},");
    put(&t, "{\"key\":\"inclusion\",\"title\":\"Inclusion\",\"description\":\"Leadership "
            "hears junior voices.\"}],");
    put(&t, "\"startDate\":\"2027-01-11\",\"endDate\":\"2027-12-17\",\"checkInCadenceDays\":"
            "14,\"anonymityThreshold\":5,\"matchingPolicy\":{\"weights\":{\"skills\":2.0,"
            "\"interests\":1.0,\"objectives\":1.5,\"availability\":0.5,\"language\":1.0,"
            "\"seniority\":1.0,\"perspective\":0.5},\"minScore\":40,\"defaultMentorCapacity\":2,"
            "\"seniorityGap\":{\"min\":2,\"max\":8},\"forbidSameDepartment\":true,"
            "\"forbidReportingLine\":true,\"requireSharedLanguage\":true,\"objective\":"
            "\"MAX_PARTICIPATION\"}}");
    return t;
}

static text check_in_body(void)
{
    text t = {0};
    put(&t, "{\"participantId\":\"5d0c7c52-1d6f-4e0e-9a53-3c1d2f7b9e41\",\"occurredTime\":"
            "\"2026-12-01T16:30:00Z\",\"durationMinutes\":45,\"topics\":[\"AI drafting "
            "tools\",\"client reporting\"],\"rating\":4,\"goalProgress\":[{\"objectiveKey\":"
            "\"digital\",\"percent\":40},{\"objectiveKey\":\"clients\",\"percent\":25}],"
            "\"notes\":\"Walked through the contract review assistant; next time: "
            "prompts for due diligence.\"}");
    return t;
}

/* A MatchingRun as tandem-matching reads its row back (GetMatchingRun): stats with
 * the most unmatched mentees a run lists (MT_MAX_UNMATCHED_LISTED, 10,000), each with
 * the reason and detail run.c writes. */
static text matching_run_row(size_t unmatched)
{
    text t = {0};
    put(&t,
        "{\"id\":\"7d4f2a1e-0c3b-4b8e-9f61-2a5d8c3e1b70\",\"programmeId\":\"%s\","
        "\"status\":\"SUCCEEDED\",\"algorithm\":\"OPTIMAL\",\"progress\":1,"
        "\"stats\":{\"participants\":12000,\"mentors\":2000,\"mentees\":10000,"
        "\"admissiblePairs\":\"1850000\",\"pairs\":%zu,\"totalScore\":1234.5,"
        "\"meanScore\":61.7,\"minScore\":40.2,\"unmatchedMentees\":[",
        PROGRAMME_ID, 10000 - unmatched);
    for (size_t i = 0; i < unmatched; i++)
        put(&t,
            "{\"menteeId\":\"5d0c7c52-1d6f-4e0e-9a53-%012zu\",\"reason\":"
            "\"ALL_ADMISSIBLE_MENTORS_FULL\",\"detail\":\"3 admissible mentors, all "
            "full\"}%s",
            i, i + 1 < unmatched ? "," : "");
    put(&t, "],\"unmatchedMenteeCount\":%zu}}", unmatched);
    return t;
}

/* n copies of `element` as a JSON list (a google.protobuf.ListValue document). */
static text list_body(size_t n, const char *element)
{
    text t = {0};
    put(&t, "[");
    for (size_t i = 0; i < n; i++)
        put(&t, "%s%s", element, i + 1 < n ? "," : "");
    put(&t, "]");
    return t;
}

/* One row whose `interests` are n empty strings. */
static text empty_strings_row(size_t n)
{
    text t = {0};
    put(&t, "{\"programmeId\":\"%s\",\"participants\":[{\"externalId\":\"x\",\"interests\":[",
        PROGRAMME_ID);
    for (size_t i = 0; i < n; i++)
        put(&t, "\"\"%s", i + 1 < n ? "," : "");
    put(&t, "]}]}");
    return t;
}

/* Decode `t` as `desc` (into the field `path` of it, as the REST body does); *ratio
 * gets the decode's peak over the wire size. The status is returned. */
static tdm_status *decode(const ProtobufCMessageDescriptor *desc, const char *path, const text *t,
                          double *ratio)
{
    tdm_arena *a = tdm_arena_new(0);
    assert_non_null(a);
    ProtobufCMessage *msg = tdm_json_message_new(desc, a);
    assert_non_null(msg);
    tdm_status *st = tdm_json_merge_text(t->s, t->len, msg, path, a);
    if (ratio != NULL)
        *ratio = (double)tdm_json_decode_peak() / (double)t->len;
    tdm_arena_free(a);
    return st;
}

/* The same document decoded the way the codec did before the bound: the whole tree,
 * then the message (counted with the same budget, set too high to refuse). */
static double whole_tree_ratio(const ProtobufCMessageDescriptor *desc, const char *path,
                               const text *t)
{
    tdm_arena *a = tdm_arena_new(0);
    assert_non_null(a);
    ProtobufCMessage *msg = tdm_json_message_new(desc, a);
    tdm_json_budget b;
    tdm_json_budget_begin(&b, a, TDM_DECODE_BYTES_MAX); /* limit: 64 MiB */
    b.limit = SIZE_MAX / 2;
    json_t *root = NULL;
    tdm_status *st = tdm_json_parse(t->s, t->len, NULL, NULL, &root);
    assert_null(st);
    st = tdm_json_merge_object(root, msg, path, a);
    json_decref(root);
    tdm_json_budget_end(&b);
    tdm_status_free(st);
    tdm_arena_free(a);
    return (double)b.peak / (double)t->len;
}

static void expect_budget_refusal(tdm_status *st, const char *words)
{
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st->message, words));
    tdm_status_free(st);
}

/* The attack of issue #14: an authenticated BatchEnrol body of empty rows took
 * about 100 times its size (jansson's tree of every row, then a 256-byte
 * Participant each). Now refused, in protobuf's words. */
static void empty_rows_past_eight_times_are_refused(void **state)
{
    (void)state;
    text t = batch_body(99999, ROWS_EMPTY);
    tdm_arena *a = tdm_arena_new(0);
    ProtobufCMessage *m = NULL;
    tdm_status *st =
        tdm_json_decode(&tandem__v1__batch_enrol_request__descriptor, t.s, t.len, a, &m);
    assert_null(m);
    char words[128];
    snprintf(words, sizeof words, "request message would take more than 8 times its %zu bytes",
             t.len);
    expect_budget_refusal(st, words);
    tdm_arena_free(a);
    free(t.s);
}

/* Realistic requests fit, with the ratios docs/operations.md gives. */
static void realistic_requests_fit_within_eight_times(void **state)
{
    (void)state;
    struct {
        const char *name;
        text t;
        const ProtobufCMessageDescriptor *desc;
        const char *path;
    } cases[] = {
        {"BatchEnrol, 10,000 HR rows", batch_body(10000, ROWS_HR),
         &tandem__v1__batch_enrol_request__descriptor, "*"},
        {"BatchEnrol, 10,000 compact rows", batch_body(10000, ROWS_COMPACT),
         &tandem__v1__batch_enrol_request__descriptor, "*"},
        {"BatchEnrol, 100 HR rows", batch_body(100, ROWS_HR),
         &tandem__v1__batch_enrol_request__descriptor, "*"},
        {"CreateProgramme", programme_body(), &tandem__v1__create_programme_request__descriptor,
         "programme"},
        {"RecordCheckIn", check_in_body(), &tandem__v1__record_check_in_request__descriptor, "*"},
        {"MatchingRun row, 10,000 unmatched", matching_run_row(10000),
         &tandem__v1__matching_run__descriptor, "*"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ratio = 0;
        tdm_status *st = decode(cases[i].desc, cases[i].path, &cases[i].t, &ratio);
        if (st != NULL)
            fail_msg("%s refused: %s", cases[i].name, st->message);
        double before = whole_tree_ratio(cases[i].desc, cases[i].path, &cases[i].t);
        print_message("%-34s %8zu bytes: peak %.2f x (whole tree: %.2f x)\n", cases[i].name,
                      cases[i].t.len, ratio, before);
        /* The large batches are where the bound bites: they must fit 8x on their own;
         * small requests are under the 64 KiB floor. */
        if (cases[i].t.len > TDM_DECODE_FLOOR_BYTES / TDM_DECODE_EXPANSION_MAX)
            assert_true(ratio <= (double)TDM_DECODE_EXPANSION_MAX);
        else
            assert_true(ratio * (double)cases[i].t.len <= (double)TDM_DECODE_FLOOR_BYTES);
        free(cases[i].t.s);
    }
}

/* The pathological shapes: measured small (under the 64 KiB floor, where they are
 * let through), refused large. */
static void pathological_shapes_are_refused(void **state)
{
    (void)state;
    struct {
        const char *name;
        text small, large;
        const ProtobufCMessageDescriptor *desc;
    } cases[] = {
        {"BatchEnrol of {} rows", batch_body(200, ROWS_EMPTY), batch_body(50000, ROWS_EMPTY),
         &tandem__v1__batch_enrol_request__descriptor},
        {"ListValue of []", list_body(200, "[]"), list_body(50000, "[]"),
         &google__protobuf__list_value__descriptor},
        {"ListValue of \"\"", list_body(200, "\"\""), list_body(50000, "\"\""),
         &google__protobuf__list_value__descriptor},
        {"ListValue of 0", list_body(200, "0"), list_body(50000, "0"),
         &google__protobuf__list_value__descriptor},
        {"a row of \"\" interests", empty_strings_row(200), empty_strings_row(50000),
         &tandem__v1__batch_enrol_request__descriptor},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double ratio = 0;
        tdm_status *st = decode(cases[i].desc, "*", &cases[i].small, &ratio);
        if (st != NULL)
            fail_msg("%s (small) refused: %s", cases[i].name, st->message);
        double before = whole_tree_ratio(cases[i].desc, "*", &cases[i].small);
        print_message("%-34s %8zu bytes: peak %.2f x (whole tree: %.2f x)\n", cases[i].name,
                      cases[i].small.len, ratio, before);
        assert_true(ratio > (double)TDM_DECODE_EXPANSION_MAX);
        expect_budget_refusal(decode(cases[i].desc, "*", &cases[i].large, NULL),
                              "request message would take more than 8 times its");
        free(cases[i].small.s);
        free(cases[i].large.s);
    }
}

/* A body of 8 MiB or more may take 64 MiB, not 8 times its size: a list of half a
 * million empty objects padded with spaces passes 64 MiB in jansson's tree alone
 * and is refused naming that limit. */
static void a_decode_over_64_mib_names_that_limit(void **state)
{
    (void)state;
    text t = {0};
    put(&t, "[");
    for (size_t list = 0; list < 5; list++) {
        put(&t, "%s[", list > 0 ? "," : "");
        for (size_t i = 0; i < 99999; i++)
            put(&t, "{}%s", i + 1 < 99999 ? "," : "");
        put(&t, "]");
    }
    put(&t, "]");
    size_t pad = 9u * 1024u * 1024u;
    t.s = realloc(t.s, t.len + pad + 1);
    assert_non_null(t.s);
    memset(t.s + t.len, ' ', pad);
    t.len += pad;
    t.s[t.len] = '\0';
    assert_int_equal(tdm_protobuf_decode_budget(t.len), TDM_DECODE_BYTES_MAX);
    expect_budget_refusal(decode(&google__protobuf__list_value__descriptor, "*", &t, NULL),
                          "request message would take more than 64 MiB decoded");
    free(t.s);
}

/* A refusal in the middle of a row leaves jansson's memory freed (the ASan build
 * checks leaks at exit), and the next decode, and jansson outside decodes, work as
 * before: a value built before a refused decode and freed after it is one malloc'd
 * block like any other. */
static void a_refusal_leaks_nothing_and_changes_nothing_after(void **state)
{
    (void)state;
    json_t *outside = json_pack("{s:s, s:[i,i]}", "kept", "across decodes", "list", 1, 2);
    assert_non_null(outside);
    text big = empty_strings_row(50000);
    expect_budget_refusal(decode(&tandem__v1__batch_enrol_request__descriptor, "*", &big, NULL),
                          "8 times");
    text ok = batch_body(100, ROWS_HR);
    assert_null(decode(&tandem__v1__batch_enrol_request__descriptor, "*", &ok, NULL));
    char *dumped = json_dumps(outside, JSON_COMPACT);
    assert_non_null(dumped);
    assert_string_equal(dumped, "{\"kept\":\"across decodes\",\"list\":[1,2]}");
    free(dumped);
    json_decref(outside);
    free(big.s);
    free(ok.s);
}

/* Decoding piece by piece refuses what decoding whole refused, where it broke. */
static void a_document_taken_apart_is_still_checked_whole(void **state)
{
    (void)state;
    static const struct {
        const char *json, *field, *words;
    } cases[] = {
        {"{\"participants\":[{}, ]}", "participants[1]", "malformed JSON"},
        {"{\"participants\":[{},{]}", "participants", "malformed JSON"},
        {"{\"participants\":[{}] x}", "participants", "malformed JSON"},
        {"{\"programmeId\":\"a\" \"participants\":[]}", "programme_id", "malformed JSON"},
        {"{\"programmeId\":\"a\",}", "", "malformed JSON"},
        {"{\"programmeId\":}", "programme_id", "malformed JSON"},
        {"{\"programmeId\":\"a\"", "programme_id", "malformed JSON"},
        {"{\"programmeId\":\"a\"} {}", "", "malformed JSON"},
        {"{\"programme\\u0049d\":\"a\",\"programmeId\":\"b\"}", "programme_id", "duplicate key"},
        {"{\"programmeId\":\"a\",\"programme_id\":\"b\"}", "programme_id", "duplicate key"},
        {"{\"participants\":[{\"role\":\"MENTEE\",\"role\":\"MENTOR\"}]}", "participants[0].role",
         "duplicate key"},
        {"{\"nope\":1}", "nope", "unknown field"},
        {"{\"participants\":[{\"displayName\":\"\\u0000\"}]}", "participants[0].display_name",
         "NUL"},
        {"{\"participants\":{}}", "participants", "must be a list"},
        {"{\"participants\":[1]}", "participants[0]", "must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text t = {.s = (char *)cases[i].json, .len = strlen(cases[i].json)};
        tdm_status *st = decode(&tandem__v1__batch_enrol_request__descriptor, "*", &t, NULL);
        if (st == NULL)
            fail_msg("accepted: %s", cases[i].json);
        if (st->code != TDM_INVALID_ARGUMENT || st->n_violations != 1 ||
            strcmp(st->violations[0].field, cases[i].field) != 0 ||
            strstr(st->violations[0].description, cases[i].words) == NULL)
            fail_msg("%s: %s at \"%s\": %s", cases[i].json, tdm_code_name(st->code),
                     st->n_violations > 0 ? st->violations[0].field : "",
                     st->n_violations > 0 ? st->violations[0].description : st->message);
        tdm_status_free(st);
    }
    /* And what it accepts is what the whole document says. */
    const char *json = " {\"participants\" : [ {\"externalId\":\"a\"} , {\"externalId\":\"b\"} ],"
                       "\"programme_id\":\"p\" } ";
    tdm_arena *a = tdm_arena_new(0);
    ProtobufCMessage *m = NULL;
    assert_null(
        tdm_json_decode(&tandem__v1__batch_enrol_request__descriptor, json, strlen(json), a, &m));
    Tandem__V1__BatchEnrolRequest *req = (Tandem__V1__BatchEnrolRequest *)m;
    assert_string_equal(req->programme_id, "p");
    assert_int_equal(req->n_participants, 2);
    assert_string_equal(req->participants[1]->external_id, "b");
    tdm_arena_free(a);
}

/* Another thread's jansson allocations (matching's work pool encodes run statistics
 * while the loop decodes) are neither counted in nor refused by the loop's decode. */
static atomic_bool stop_allocating;

static void *allocate_elsewhere(void *arg)
{
    size_t *failures = arg;
    size_t big_len = 1u << 20;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, 'a', big_len - 1);
    big[big_len - 1] = '\0';
    while (!atomic_load(&stop_allocating)) {
        json_t *v = json_pack("{s:s, s:[i,i,i]}", "big", big, "list", 1, 2, 3);
        if (v == NULL)
            (*failures)++;
        json_decref(v);
    }
    free(big);
    return NULL;
}

static void other_threads_are_not_counted_nor_refused(void **state)
{
    (void)state;
    size_t failures = 0;
    pthread_t thread;
    atomic_store(&stop_allocating, false);
    assert_int_equal(pthread_create(&thread, NULL, allocate_elsewhere, &failures), 0);
    text ok = batch_body(100, ROWS_HR), refused = batch_body(50000, ROWS_EMPTY);
    size_t first_peak = 0;
    for (int i = 0; i < 20; i++) {
        assert_null(decode(&tandem__v1__batch_enrol_request__descriptor, "*", &ok, NULL));
        /* The same document holds exactly the same at its peak, whatever the other
         * thread allocates meanwhile. */
        if (i == 0)
            first_peak = tdm_json_decode_peak();
        assert_int_equal(tdm_json_decode_peak(), first_peak);
        expect_budget_refusal(
            decode(&tandem__v1__batch_enrol_request__descriptor, "*", &refused, NULL), "8 times");
    }
    atomic_store(&stop_allocating, true);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(failures, 0);
    free(ok.s);
    free(refused.s);
}

/* A message that holds itself (codec_test's AllTypes.child), nested 20 deep - past
 * the 8 levels json_stream.c takes apart, the rest is given to jansson whole - with
 * lists of messages and maps at every level: decoded in pieces, it is the message
 * the whole tree gives. */
static void a_deep_message_decodes_as_the_whole_tree_does(void **state)
{
    (void)state;
    text t = {0};
    for (int level = 0; level < 20; level++)
        put(&t,
            "{\"fInt32\":%d,\"r_message\":[{\"name\":\"s%d\",\"level\":%d},{}],"
            "\"fMessage\":{\"name\":\"m%d\"},\"child\":",
            level, level, level % 5, level);
    put(&t, "{\"fString\":\"bottom\"}");
    for (int level = 0; level < 20; level++)
        put(&t, "}");
    tdm_arena *a = tdm_arena_new(0);
    ProtobufCMessage *pieces = NULL;
    assert_null(tdm_json_decode(&tandem__codectest__all_types__descriptor, t.s, t.len, a, &pieces));
    ProtobufCMessage *whole = tdm_json_message_new(&tandem__codectest__all_types__descriptor, a);
    json_t *root = NULL;
    assert_null(tdm_json_parse(t.s, t.len, NULL, NULL, &root));
    assert_null(tdm_json_merge_object(root, whole, NULL, a));
    json_decref(root);
    size_t n1 = protobuf_c_message_get_packed_size(pieces);
    size_t n2 = protobuf_c_message_get_packed_size(whole);
    assert_int_equal(n1, n2);
    uint8_t *b1 = tdm_arena_alloc(a, n1), *b2 = tdm_arena_alloc(a, n2);
    protobuf_c_message_pack(pieces, b1);
    protobuf_c_message_pack(whole, b2);
    assert_memory_equal(b1, b2, n1);
    /* And a refusal at the bottom names its whole path. */
    t.len = 0;
    for (int level = 0; level < 12; level++)
        put(&t, "{\"child\":");
    put(&t, "{\"fInt32\":\"x\"}");
    for (int level = 0; level < 12; level++)
        put(&t, "}");
    ProtobufCMessage *m = NULL;
    tdm_status *st = tdm_json_decode(&tandem__codectest__all_types__descriptor, t.s, t.len, a, &m);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_string_equal(st->violations[0].field, "child.child.child.child.child.child.child.child."
                                                 "child.child.child.child.f_int32");
    tdm_status_free(st);
    tdm_arena_free(a);
    free(t.s);
}

/* SCIM keeps its bodies as jansson trees: the tree alone is bounded the same way. */
static void a_tree_kept_whole_is_bounded_too(void **state)
{
    (void)state;
    text big = list_body(50000, "{}");
    json_error_t err;
    tdm_status *st = NULL;
    assert_null(tdm_json_load_bounded(big.s, big.len, JSON_REJECT_DUPLICATES, &err, &st));
    expect_budget_refusal(st, "request message would take more than 8 times its");
    const char *user = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                       "\"userName\":\"ada@firm-example.com\",\"emails\":[{\"value\":"
                       "\"ada@firm-example.com\",\"type\":\"work\",\"primary\":true}]}";
    json_t *doc = tdm_json_load_bounded(user, strlen(user), JSON_REJECT_DUPLICATES, &err, &st);
    assert_null(st);
    assert_non_null(doc);
    json_decref(doc);
    assert_null(tdm_json_load_bounded("{\"a\":", 5, 0, &err, &st));
    assert_null(st); /* jansson's refusal, not the bound's */
    free(big.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_rows_past_eight_times_are_refused),
        cmocka_unit_test(realistic_requests_fit_within_eight_times),
        cmocka_unit_test(pathological_shapes_are_refused),
        cmocka_unit_test(a_decode_over_64_mib_names_that_limit),
        cmocka_unit_test(a_refusal_leaks_nothing_and_changes_nothing_after),
        cmocka_unit_test(a_document_taken_apart_is_still_checked_whole),
        cmocka_unit_test(a_tree_kept_whole_is_bounded_too),
        cmocka_unit_test(a_deep_message_decodes_as_the_whole_tree_does),
        cmocka_unit_test(other_threads_are_not_counted_nor_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
