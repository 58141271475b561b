/*
 * test_report_fold.c - the report's fold (services/feedback/report_fold.c) on small
 * programmes worked by hand: complementary suppression and its tie-break, the
 * "(not stated)" group, check-ins and raters counted once per group, the at-risk
 * rules, and the programme-level anonymity guard. tests/integration/report_aggregates
 * compares the fold with the from-scratch statement on random programmes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "report_fold.h"

#define NOW_US  1800000000000000LL
#define DAY_US  86400000000LL
#define MENTOR  1
#define MENTEE  2
#define ENROLED 1

static fb_text txt(const char *s)
{
    return (fb_text){s, s != NULL ? strlen(s) : 0};
}

static void id_of(uint8_t id[16], int n)
{
    memset(id, 0, 16);
    id[0] = 0x40;
    id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
}

static fb_report_person person(int n, int role, const char *office)
{
    fb_report_person p = {.role = role, .status = ENROLED};
    id_of(p.id, n);
    p.key[0] = txt(office);
    p.key[1] = txt("Tax");
    p.key[2] = txt(fb_seniority_band(3));
    return p;
}

static fb_report_match match(int n, int mentor, int mentee, int status)
{
    fb_report_match m = {.status = status, .start_us = NOW_US - DAY_US, .declined = 0};
    id_of(m.id, n);
    id_of(m.mentor, mentor);
    id_of(m.mentee, mentee);
    return m;
}

static fb_report_stats stats(int match_n, int check_ins, int rating_sum, bool mentor_rated,
                             bool mentee_rated)
{
    fb_report_stats s = {.check_ins = check_ins,
                         .rating_sum = rating_sum,
                         .last_us = NOW_US - DAY_US,
                         .last_rating = 4,
                         .mentor_rated = mentor_rated,
                         .mentee_rated = mentee_rated};
    id_of(s.match_id, match_n);
    return s;
}

static fb_report_inputs inputs(const fb_report_person *people, size_t n_people, int threshold)
{
    return (fb_report_inputs){.people = people,
                              .n_people = n_people,
                              .threshold = threshold,
                              .cadence_days = 14,
                              .now_us = NOW_US,
                              .as_of_null = true};
}

static const Tandem__V1__BreakdownGroup *group_named(const Tandem__V1__Breakdown *b,
                                                     const char *key)
{
    for (size_t i = 0; i < b->n_groups; i++)
        if (strcmp(b->groups[i]->key, key) == 0)
            return b->groups[i];
    return NULL;
}

static bool names(char **list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* Offices A x5, B x4, C x2 at threshold 3: C is suppressed, and B too (the smallest
 * shown), or C's size would be the total minus A and B. */
static void test_the_smallest_shown_group_goes_with_a_lone_suppressed_one(void **state)
{
    (void)state;
    fb_report_person p[11];
    for (int i = 0; i < 11; i++)
        p[i] = person(i + 1, MENTEE, i < 5 ? "A" : i < 9 ? "B" : "C");
    fb_report_inputs in = inputs(p, 11, 3);
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    assert_int_equal(r->n_breakdowns, 3);
    const Tandem__V1__Breakdown *office = r->breakdowns[0];
    assert_string_equal(office->dimension, "office");
    assert_int_equal(office->n_groups, 1);
    assert_string_equal(office->groups[0]->key, "A");
    assert_int_equal(office->groups[0]->count, 5);
    assert_int_equal(office->suppressed_groups, 2);
    /* practice_area: one group of 11, nothing suppressed. */
    assert_int_equal(r->breakdowns[1]->n_groups, 1);
    assert_int_equal(r->breakdowns[1]->suppressed_groups, 0);
    assert_int_equal(r->enrolled_mentees, 11);
    tdm_arena_free(a);
}

/* Equal sizes: the smallest shown group is the first by key, bytewise. */
static void test_equal_sizes_suppress_the_first_key(void **state)
{
    (void)state;
    fb_report_person p[9];
    for (int i = 0; i < 9; i++)
        p[i] = person(i + 1, MENTEE, i < 4 ? "B" : i < 8 ? "A" : "C");
    fb_report_inputs in = inputs(p, 9, 3);
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    assert_int_equal(r->breakdowns[0]->n_groups, 1);
    assert_string_equal(r->breakdowns[0]->groups[0]->key, "B");
    tdm_arena_free(a);
}

/* No value and an empty value are one "(not stated)" group; withdrawn people are not
 * counted; diversity dimensions only when asked for. */
static void test_no_value_is_a_group_of_its_own(void **state)
{
    (void)state;
    fb_report_person p[4] = {person(1, MENTOR, NULL), person(2, MENTEE, ""),
                             person(3, MENTEE, "Oslo"), person(4, MENTEE, "Oslo")};
    p[3].status = 3; /* withdrawn */
    fb_report_inputs in = inputs(p, 4, 1);
    in.include_diversity = true;
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    assert_int_equal(r->n_breakdowns, 7);
    const Tandem__V1__BreakdownGroup *g = group_named(r->breakdowns[0], "(not stated)");
    assert_non_null(g);
    assert_int_equal(g->count, 2);
    assert_int_equal(group_named(r->breakdowns[0], "Oslo")->count, 1);
    assert_int_equal(group_named(r->breakdowns[3], "(not stated)")->count, 3);
    assert_string_equal(r->breakdowns[2]->groups[0]->key, "3-5");
    assert_int_equal(r->enrolled_mentors, 1);
    assert_int_equal(r->enrolled_mentees, 2);
    tdm_arena_free(a);
}

/* A match with both sides in a group counts its check-ins once; a mentor who rated
 * two matches with members counts once among the group's raters. */
static void test_check_ins_and_raters_count_once_per_group(void **state)
{
    (void)state;
    fb_report_person p[5] = {person(1, MENTOR, "X"), person(2, MENTEE, "X"), person(3, MENTOR, "Y"),
                             person(4, MENTEE, "X"), person(5, MENTEE, "X")};
    fb_report_match m[3] = {match(11, 1, 2, 4), match(12, 3, 4, 4), match(13, 3, 5, 4)};
    fb_report_stats s[3] = {stats(11, 4, 16, true, false), stats(12, 2, 10, true, false),
                            stats(13, 1, 3, true, false)};
    fb_report_inputs in = inputs(p, 5, 1);
    in.matches = m;
    in.n_matches = 3;
    in.stats = s;
    in.n_stats = 3;
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    const Tandem__V1__BreakdownGroup *x = group_named(r->breakdowns[0], "X");
    assert_non_null(x);
    assert_int_equal(x->count, 4);
    assert_int_equal(x->matched, 4);
    assert_int_equal(x->check_ins, 7); /* 4 (once, both sides in X) + 2 + 1 */
    assert_true(x->mean_rating == 29.0 / 7.0);
    /* Raters of X's matches: person 1, and person 3 once for two matches. */
    assert_false(names(x->suppressed, x->n_suppressed, "meanRating"));
    /* Everyone practises Tax: its raters are persons 1 and 3, two, not three (person 3
     * rated two matches with members), so at threshold 3 its mean is withheld, at 2
     * shown. (Office Y, one person, would take X with it at either threshold.) */
    in.threshold = 3;
    r = fb_report_fold(&in, a);
    const Tandem__V1__BreakdownGroup *tax = group_named(r->breakdowns[1], "Tax");
    assert_non_null(tax);
    assert_int_equal(tax->check_ins, 7);
    assert_true(names(tax->suppressed, tax->n_suppressed, "meanRating"));
    assert_null(group_named(r->breakdowns[0], "X"));
    in.threshold = 2;
    r = fb_report_fold(&in, a);
    tax = group_named(r->breakdowns[1], "Tax");
    assert_false(names(tax->suppressed, tax->n_suppressed, "meanRating"));
    assert_true(tax->mean_rating == 29.0 / 7.0);
    tdm_arena_free(a);
}

/* Raters are distinct people: at threshold 3 two raters withhold the mean, at the
 * programme level as in the group. */
static void test_a_mean_of_fewer_raters_than_the_threshold_is_withheld(void **state)
{
    (void)state;
    fb_report_person p[6];
    for (int i = 0; i < 6; i++)
        p[i] = person(i + 1, i < 3 ? MENTOR : MENTEE, "X");
    fb_report_match m[3] = {match(11, 1, 4, 4), match(12, 2, 5, 4), match(13, 3, 6, 4)};
    fb_report_stats s[2] = {stats(11, 3, 12, true, false), stats(12, 3, 9, true, false)};
    fb_report_inputs in = inputs(p, 6, 3);
    in.matches = m;
    in.n_matches = 3;
    in.stats = s;
    in.n_stats = 2;
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    assert_int_equal(r->check_ins, 6);
    assert_true(r->mean_rating == 0.0);
    assert_true(names(r->suppressed, r->n_suppressed, "meanRating"));
    const Tandem__V1__BreakdownGroup *x = group_named(r->breakdowns[0], "X");
    assert_true(x->mean_rating == 0.0);
    assert_true(names(x->suppressed, x->n_suppressed, "meanRating"));
    in.threshold = 2;
    r = fb_report_fold(&in, a);
    assert_true(r->mean_rating == 21.0 / 6.0);
    assert_false(names(r->suppressed, r->n_suppressed, "meanRating"));
    tdm_arena_free(a);
}

/* At risk: declined, a latest rating of 2, no check-in for twice the cadence since
 * the start; never an ENDED match. */
static void test_the_at_risk_rules(void **state)
{
    (void)state;
    fb_report_match m[5] = {match(11, 1, 2, 4), match(12, 1, 3, 4), match(13, 1, 4, 4),
                            match(14, 1, 5, 5), match(15, 1, 6, 4)};
    m[0].declined = 1;
    m[2].start_us = NOW_US - 29 * DAY_US; /* overdue: 29 days > 2 x 14 */
    m[3].start_us = NOW_US - 99 * DAY_US; /* ENDED: never at risk */
    m[4].start_us = NOW_US - 27 * DAY_US; /* not yet */
    fb_report_stats s[1] = {stats(12, 1, 2, true, false)};
    s[0].last_rating = 2;
    fb_report_inputs in = inputs(NULL, 0, 3);
    in.matches = m;
    in.n_matches = 5;
    in.stats = s;
    in.n_stats = 1;
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    assert_int_equal(r->at_risk_count, 3);
    assert_int_equal(r->active_matches, 4);
    assert_int_equal(r->matched, 5); /* mentor 1 and four live mentees */
    tdm_arena_free(a);
}

/* feedback.proto: a breakdown shows "at most 500" groups, largest first. 520 offices
 * of 3 people, ten of them of 4, at threshold 3: the ten, then 490 of the 3s by key;
 * the last 20 by key are left out (not suppressed: they were large enough). */
static void test_a_breakdown_shows_at_most_500_groups(void **state)
{
    (void)state;
    enum { OFFICES = 520, PEOPLE = OFFICES * 3 + 10 };
    static char keys[OFFICES][8];
    static fb_report_person p[PEOPLE];
    int n = 0;
    for (int o = 0; o < OFFICES; o++) {
        snprintf(keys[o], sizeof(keys[o]), "O%03d", o);
        for (int k = 0; k < (o < 10 ? 4 : 3); k++, n++)
            p[n] = person(n + 1, MENTEE, keys[o]);
    }
    assert_int_equal(n, PEOPLE);
    fb_report_inputs in = inputs(p, PEOPLE, 3);
    tdm_arena *a = tdm_arena_new(0);
    Tandem__V1__ProgrammeReport *r = fb_report_fold(&in, a);
    assert_non_null(r);
    const Tandem__V1__Breakdown *office = r->breakdowns[0];
    assert_int_equal(office->n_groups, FB_REPORT_MAX_GROUPS);
    assert_int_equal(office->suppressed_groups, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(office->groups[i]->count, 4);
    assert_string_equal(office->groups[10]->key, "O010");
    assert_string_equal(office->groups[499]->key, "O499");
    assert_int_equal(office->groups[499]->count, 3);
    assert_null(group_named(office, "O500"));
    assert_int_equal(r->enrolled_mentees, PEOPLE);
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_smallest_shown_group_goes_with_a_lone_suppressed_one),
        cmocka_unit_test(test_equal_sizes_suppress_the_first_key),
        cmocka_unit_test(test_no_value_is_a_group_of_its_own),
        cmocka_unit_test(test_check_ins_and_raters_count_once_per_group),
        cmocka_unit_test(test_a_mean_of_fewer_raters_than_the_threshold_is_withheld),
        cmocka_unit_test(test_the_at_risk_rules),
        cmocka_unit_test(test_a_breakdown_shows_at_most_500_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
