/*
 * test_validate.c - the feedback service's pure rules: check-in limits (time window,
 * duration, rating, topics, goal progress, notes), survey shapes, answers against
 * their question's kind, page tokens, PostgreSQL array literals and row documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feedback.h"
#include "rows.h"

#define NOW 1800000000LL
/* protobuf-c fields are char *; the tests never write through them. */
#define S(literal) ((char *)(uintptr_t)(literal))

static bool has_field(tdm_status *st, const char *field)
{
    for (size_t i = 0; st != NULL && i < st->n_violations; i++)
        if (strcmp(st->violations[i].field, field) == 0)
            return true;
    return false;
}

typedef struct check_in_fixture {
    Tandem__V1__RecordCheckInRequest req;
    Google__Protobuf__Timestamp when;
} check_in_fixture;

static void valid_check_in(check_in_fixture *f)
{
    tandem__v1__record_check_in_request__init(&f->req);
    google__protobuf__timestamp__init(&f->when);
    f->when.seconds = NOW - 3600;
    f->req.match_id = S("0b8c2a2e-6a47-4c1e-9a57-1f3f5c2b9e01");
    f->req.participant_id = S("5d7e4c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6");
    f->req.occurred_time = &f->when;
    f->req.rating = 4;
}

/* The violations of f's request; NULL when none. */
static tdm_status *check(check_in_fixture *f)
{
    tdm_violations v = {0};
    fb_validate_check_in(&f->req, NOW, &v);
    return tdm_violations_take(&v, NULL);
}

static void expect_field(check_in_fixture *f, const char *field)
{
    tdm_status *st = check(f);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    if (!has_field(st, field))
        fail_msg("no violation on %s", field);
    tdm_status_free(st);
}

static void test_check_in_valid(void **state)
{
    (void)state;
    check_in_fixture f;
    valid_check_in(&f);
    assert_null(check(&f));
    f.when.seconds = NOW - FB_MAX_CHECK_IN_AGE_S + 1; /* 365 days ago, just */
    f.req.duration_minutes = FB_MAX_DURATION_MINUTES;
    assert_null(check(&f));
    f.when.seconds = NOW + FB_CLOCK_SKEW_S; /* a device clock slightly ahead */
    f.req.rating = 1;
    assert_null(check(&f));
}

static void test_check_in_time_window(void **state)
{
    (void)state;
    check_in_fixture f;
    valid_check_in(&f);
    f.when.seconds = NOW + 3600;
    expect_field(&f, "occurred_time");
    f.when.seconds = NOW - FB_MAX_CHECK_IN_AGE_S - 1;
    expect_field(&f, "occurred_time");
    f.when.seconds = NOW;
    f.when.nanos = -1;
    expect_field(&f, "occurred_time");
    f.req.occurred_time = NULL;
    expect_field(&f, "occurred_time");
}

static void test_check_in_numbers(void **state)
{
    (void)state;
    check_in_fixture f;
    valid_check_in(&f);
    f.req.duration_minutes = 601;
    expect_field(&f, "duration_minutes");
    f.req.duration_minutes = -5;
    expect_field(&f, "duration_minutes");
    valid_check_in(&f);
    f.req.rating = 0;
    expect_field(&f, "rating");
    f.req.rating = 6;
    expect_field(&f, "rating");
    valid_check_in(&f);
    f.req.match_id = S("not-a-uuid");
    expect_field(&f, "match_id");
    valid_check_in(&f);
    f.req.participant_id = S("");
    expect_field(&f, "participant_id");
}

static void test_check_in_lists(void **state)
{
    (void)state;
    check_in_fixture f;
    valid_check_in(&f);
    char *topics[21];
    for (int i = 0; i < 21; i++)
        topics[i] = S("topic");
    f.req.topics = topics;
    f.req.n_topics = 21;
    expect_field(&f, "topics");
    char long_topic[102];
    memset(long_topic, 'x', 101);
    long_topic[101] = '\0';
    topics[0] = long_topic;
    f.req.n_topics = 1;
    expect_field(&f, "topics[0]");
    topics[0] = S("\xff\xfe");
    expect_field(&f, "topics[0]");

    valid_check_in(&f);
    Tandem__V1__GoalProgress a = TANDEM__V1__GOAL_PROGRESS__INIT;
    Tandem__V1__GoalProgress b = TANDEM__V1__GOAL_PROGRESS__INIT;
    a.objective_key = S("digital");
    a.percent = 40;
    b.objective_key = S("digital");
    b.percent = 101;
    Tandem__V1__GoalProgress *goals[2] = {&a, &b};
    f.req.goal_progress = goals;
    f.req.n_goal_progress = 2;
    tdm_status *st = check(&f);
    assert_true(has_field(st, "goal_progress[1].objective_key"));
    assert_true(has_field(st, "goal_progress[1].percent"));
    assert_false(has_field(st, "goal_progress[0].objective_key"));
    tdm_status_free(st);

    valid_check_in(&f);
    char *notes = malloc(FB_MAX_NOTES_CHARS + 2);
    memset(notes, 'n', FB_MAX_NOTES_CHARS + 1);
    notes[FB_MAX_NOTES_CHARS + 1] = '\0';
    f.req.notes = notes;
    expect_field(&f, "notes");
    notes[FB_MAX_NOTES_CHARS] = '\0';
    assert_null(check(&f));
    free(notes);
}

static void test_goal_keys_against_programme(void **state)
{
    (void)state;
    check_in_fixture f;
    valid_check_in(&f);
    Tandem__V1__GoalProgress a = TANDEM__V1__GOAL_PROGRESS__INIT;
    a.objective_key = S("leadership");
    Tandem__V1__GoalProgress *goals[1] = {&a};
    f.req.goal_progress = goals;
    f.req.n_goal_progress = 1;
    Tandem__V1__Objective o = TANDEM__V1__OBJECTIVE__INIT;
    o.key = S("digital");
    Tandem__V1__Objective *objectives[1] = {&o};
    Tandem__V1__Programme p = TANDEM__V1__PROGRAMME__INIT;
    p.objectives = objectives;
    p.n_objectives = 1;
    tdm_violations v = {0};
    fb_validate_goal_keys(&f.req, &p, &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    assert_true(has_field(st, "goal_progress[0].objective_key"));
    tdm_status_free(st);
    a.objective_key = S("digital");
    fb_validate_goal_keys(&f.req, &p, &v);
    assert_null(tdm_violations_take(&v, NULL));
}

static void test_survey_shapes(void **state)
{
    (void)state;
    Tandem__V1__Question q1 = TANDEM__V1__QUESTION__INIT, q2 = TANDEM__V1__QUESTION__INIT;
    q1.id = S("q1");
    q1.text = S("Which?");
    q1.kind = TANDEM__V1__QUESTION_KIND__CHOICE;
    char *choices[2] = {S("a"), S("b")};
    q1.choices = choices;
    q1.n_choices = 2;
    q2.id = S("q1");
    q2.text = S("Rate");
    q2.kind = TANDEM__V1__QUESTION_KIND__NPS_0_10;
    q2.choices = choices;
    q2.n_choices = 1;
    Tandem__V1__Question *qs[2] = {&q1, &q2};
    Tandem__V1__Survey s = TANDEM__V1__SURVEY__INIT;
    s.title = S("Survey");
    s.questions = qs;
    s.n_questions = 2;
    tdm_violations v = {0};
    fb_validate_survey(&s, &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    assert_true(has_field(st, "survey.questions[1].id"));
    assert_true(has_field(st, "survey.questions[1].choices"));
    assert_false(has_field(st, "survey.questions[0].choices"));
    tdm_status_free(st);
    q2.id = S("q2");
    q2.n_choices = 0;
    fb_validate_survey(&s, &v);
    assert_null(tdm_violations_take(&v, NULL));
    q1.n_choices = 1; /* a CHOICE question needs two */
    fb_validate_survey(&s, &v);
    st = tdm_violations_take(&v, NULL);
    assert_true(has_field(st, "survey.questions[0].choices"));
    tdm_status_free(st);
}

static void test_answers_by_kind(void **state)
{
    (void)state;
    Tandem__V1__Question rate = TANDEM__V1__QUESTION__INIT, nps = TANDEM__V1__QUESTION__INIT;
    Tandem__V1__Question text = TANDEM__V1__QUESTION__INIT;
    rate.id = S("rate");
    rate.kind = TANDEM__V1__QUESTION_KIND__RATING_1_5;
    rate.required = true;
    nps.id = S("nps");
    nps.kind = TANDEM__V1__QUESTION_KIND__NPS_0_10;
    text.id = S("why");
    text.kind = TANDEM__V1__QUESTION_KIND__TEXT;
    Tandem__V1__Question *qs[3] = {&rate, &nps, &text};
    Tandem__V1__Survey s = TANDEM__V1__SURVEY__INIT;
    s.questions = qs;
    s.n_questions = 3;

    Google__Protobuf__Int32Value zero = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
    Google__Protobuf__Int32Value ten = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
    ten.value = 10;
    Tandem__V1__Answer a1 = TANDEM__V1__ANSWER__INIT, a2 = TANDEM__V1__ANSWER__INIT;
    a1.question_id = S("nps");
    a1.score = &zero; /* 0 is a real NPS answer */
    a2.question_id = S("rate");
    a2.score = &ten;
    Tandem__V1__Answer *answers[2] = {&a1, &a2};
    Tandem__V1__SubmitSurveyResponseRequest r = TANDEM__V1__SUBMIT_SURVEY_RESPONSE_REQUEST__INIT;
    r.answers = answers;
    r.n_answers = 2;
    tdm_violations v = {0};
    fb_validate_answers(&r, &s, &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    assert_true(has_field(st, "answers[1].score"));
    assert_false(has_field(st, "answers[0].score"));
    tdm_status_free(st);

    r.n_answers = 1; /* the required rating is missing */
    fb_validate_answers(&r, &s, &v);
    st = tdm_violations_take(&v, NULL);
    assert_true(has_field(st, "answers"));
    tdm_status_free(st);

    a2.question_id = S("why");
    a2.score = NULL;
    a2.text = S("fine");
    r.n_answers = 2;
    rate.required = false;
    fb_validate_answers(&r, &s, &v);
    assert_null(tdm_violations_take(&v, NULL));
}

static void test_page_tokens(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *id = "0b8c2a2e-6a47-4c1e-9a57-1f3f5c2b9e01";
    char *tok = tdm_page_token_encode_keyset(1790000000123456LL, -42, id, a);
    assert_non_null(tok);
    assert_null(strpbrk(tok, "+/="));
    int64_t x = 0, y = 0;
    char got[37];
    assert_int_equal(tdm_page_token_decode_keyset(tok, &x, &y, got), 0);
    assert_true(x == 1790000000123456LL);
    assert_true(y == -42);
    assert_string_equal(got, id);
    assert_int_equal(tdm_page_token_decode_keyset("", &x, &y, got), -1);
    assert_int_equal(tdm_page_token_decode_keyset("zz!", &x, &y, got), -1);
    assert_int_equal(tdm_page_token_decode_keyset("MToyOmJhZA", &x, &y, got), -1); /* "1:2:bad" */
    tdm_arena_free(a);
}

static void test_array_literals(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *items[4] = {"plain", "with \"quote\"", NULL, "back\\slash"};
    assert_string_equal(fb_pg_text_array(items, 4, a),
                        "{\"plain\",\"with \\\"quote\\\"\",NULL,\"back\\\\slash\"}");
    assert_string_equal(fb_pg_text_array(items, 0, a), "{}");
    int32_t ints[3] = {1, -2, 30};
    assert_string_equal(fb_pg_int_array(ints, 3, a), "{1,-2,30}");
    bool bools[2] = {true, false};
    assert_string_equal(fb_pg_bool_array(bools, 2, a), "{t,f}");
    int64_t us[2] = {0, -1};
    assert_string_equal(fb_pg_us_array(us, 2, a),
                        "{\"1970-01-01 00:00:00.000000+00\",\"1969-12-31 23:59:59.999999+00\"}");
    tdm_arena_free(a);
}

static void test_report_row(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *doc =
        "{\"enrolled_mentors\": 3, \"enrolled_mentees\": 4, \"matched\": 6, \"active_matches\": 2,"
        " \"check_ins\": 5, \"mean_rating\": 3.4, \"nps\": null, \"surveys\": 1,"
        " \"survey_responses\": 2, \"survey_response_rate\": 0.2857, \"at_risk_count\": 1,"
        " \"objective_progress\": [{\"key\": \"digital\", \"mean\": 50, \"n\": 2}],"
        " \"breakdowns\": [{\"dimension\": \"office\", \"suppressed\": 2, \"groups\":"
        " [{\"key\": \"London\", \"count\": 6, \"matched\": 4, \"check_ins\": 3,"
        " \"mean_rating\": 4, \"nps\": -12.5}]}]}";
    Tandem__V1__ProgrammeReport *r = fb_report_from_row(doc, strlen(doc), a);
    assert_non_null(r);
    assert_int_equal(r->enrolled_mentees, 4);
    assert_null(r->nps); /* no NPS answers: unset, not 0 */
    assert_true(r->mean_rating == 3.4);
    assert_int_equal(r->n_objective_progress, 1);
    assert_true(r->objective_progress[0]->mean_percent == 50.0);
    assert_int_equal(r->n_breakdowns, 1);
    assert_int_equal(r->breakdowns[0]->suppressed_groups, 2);
    assert_non_null(r->breakdowns[0]->groups[0]->nps);
    assert_true(r->breakdowns[0]->groups[0]->nps->value == -12.5);
    assert_null(fb_report_from_row("{", 1, a));
    tdm_arena_free(a);
}

static void test_event_never_has_notes(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__CheckIn c = TANDEM__V1__CHECK_IN__INIT;
    c.id = S("0b8c2a2e-6a47-4c1e-9a57-1f3f5c2b9e01");
    c.notes = S("private words");
    c.rating = 3;
    char *json = fb_check_in_event_json(&c, a);
    assert_non_null(json);
    assert_null(strstr(json, "private"));
    assert_non_null(strstr(json, "\"checkIn\""));
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_in_valid),
        cmocka_unit_test(test_check_in_time_window),
        cmocka_unit_test(test_check_in_numbers),
        cmocka_unit_test(test_check_in_lists),
        cmocka_unit_test(test_goal_keys_against_programme),
        cmocka_unit_test(test_survey_shapes),
        cmocka_unit_test(test_answers_by_kind),
        cmocka_unit_test(test_page_tokens),
        cmocka_unit_test(test_array_literals),
        cmocka_unit_test(test_report_row),
        cmocka_unit_test(test_event_never_has_notes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
