/*
 * test_score.c - the matching service's pure parts: every hard constraint alone,
 * the weighted score and its explanation (parts add up, details say why, diversity
 * only as an aggregate and only with consent), the interned fast path giving the
 * same scores, and run planning (pins, exclusions, capacities, each unmatched
 * reason, participation against brute force on small programmes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "matching.h"

typedef struct fixture {
    tdm_arena *a;
    Tandem__V1__Programme prog;
    Tandem__V1__MatchingPolicy policy;
    Tandem__V1__SeniorityGap gap;
    Google__Protobuf__Int32Value gap_min, gap_max;
    Tandem__V1__Objective obj[2];
    Tandem__V1__Objective *objp[2];
    mt_policy pol;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->a = tdm_arena_new(0);
    tandem__v1__programme__init(&f->prog);
    tandem__v1__matching_policy__init(&f->policy);
    tandem__v1__seniority_gap__init(&f->gap);
    google__protobuf__int32_value__init(&f->gap_min);
    google__protobuf__int32_value__init(&f->gap_max);
    const char *keys[2][2] = {{"ai_tools", "AI tools"}, {"inclusion", "Inclusion"}};
    for (int i = 0; i < 2; i++) {
        tandem__v1__objective__init(&f->obj[i]);
        f->obj[i].key = (char *)keys[i][0];
        f->obj[i].title = (char *)keys[i][1];
        f->objp[i] = &f->obj[i];
    }
    f->prog.kind = TANDEM__V1__PROGRAMME_KIND__REVERSE;
    f->prog.objectives = f->objp;
    f->prog.n_objectives = 2;
    f->prog.matching_policy = &f->policy;
    assert_null(mt_policy_init(&f->pol, &f->prog, f->a));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tdm_arena_free(f->a);
    free(f);
    return 0;
}

static char **strs(tdm_arena *a, size_t n, ...)
{
    char **out = tdm_arena_calloc(a, n + 1, sizeof(char *));
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        out[i] = va_arg(ap, char *);
    va_end(ap);
    return out;
}

static Tandem__V1__Participant *person(fixture *f, const char *ext, int role, int seniority)
{
    Tandem__V1__Participant *p = tdm_arena_alloc(f->a, sizeof(*p));
    tandem__v1__participant__init(p);
    p->id = tdm_arena_printf(f->a, "id-%s", ext);
    p->external_id = (char *)ext;
    p->role = role;
    p->seniority_level = seniority;
    p->status = TANDEM__V1__PARTICIPANT__STATUS__ENROLLED;
    return p;
}

static Tandem__V1__Participant *mentor(fixture *f, const char *ext, int seniority)
{
    return person(f, ext, TANDEM__V1__ROLE__MENTOR, seniority);
}

static Tandem__V1__Participant *mentee(fixture *f, const char *ext, int seniority)
{
    return person(f, ext, TANDEM__V1__ROLE__MENTEE, seniority);
}

static uint32_t hard(fixture *f, Tandem__V1__Participant *m, Tandem__V1__Participant *e)
{
    mt_person pm, pe;
    assert_null(mt_policy_init(&f->pol, &f->prog, f->a));
    assert_null(mt_person_init(&pm, m, &f->pol, f->a));
    assert_null(mt_person_init(&pe, e, &f->pol, f->a));
    return mt_hard_check(&f->pol, &pm, &pe);
}

static void test_reverse_mentor_never_more_senior(void **state)
{
    fixture *f = *state;
    assert_int_equal(hard(f, mentor(f, "m", 6), mentee(f, "e", 5)), MT_HARD_DIRECTION);
    assert_int_equal(hard(f, mentor(f, "m", 5), mentee(f, "e", 5)), 0);
    f->prog.kind = TANDEM__V1__PROGRAMME_KIND__TRADITIONAL;
    assert_int_equal(hard(f, mentor(f, "m", 2), mentee(f, "e", 5)), MT_HARD_DIRECTION);
    f->prog.kind = TANDEM__V1__PROGRAMME_KIND__PEER;
    assert_int_equal(hard(f, mentor(f, "m", 2), mentee(f, "e", 5)), 0);
}

static void test_gap_range(void **state)
{
    fixture *f = *state;
    f->gap_min.value = 2;
    f->gap_max.value = 4;
    f->gap.min = &f->gap_min;
    f->gap.max = &f->gap_max;
    f->policy.seniority_gap = &f->gap;
    assert_int_equal(hard(f, mentor(f, "m", 4), mentee(f, "e", 5)), MT_HARD_GAP);
    assert_int_equal(hard(f, mentor(f, "m", 1), mentee(f, "e", 6)), MT_HARD_GAP);
    assert_int_equal(hard(f, mentor(f, "m", 2), mentee(f, "e", 5)), 0);
}

static void test_department_reporting_language_withdrawn(void **state)
{
    fixture *f = *state;
    Tandem__V1__Participant *m = mentor(f, "m1", 2), *e = mentee(f, "e1", 8);
    m->department = (char *)"Tax";
    e->department = (char *)"tax";
    assert_int_equal(hard(f, m, e), 0); /* not forbidden by default */
    f->policy.forbid_same_department = true;
    assert_int_equal(hard(f, m, e), MT_HARD_DEPARTMENT);
    e->department = (char *)"Corporate";
    /* Reporting line: on by default, either direction. */
    e->reporting_chain = strs(f->a, 2, "boss", "m1");
    e->n_reporting_chain = 2;
    assert_int_equal(hard(f, m, e), MT_HARD_REPORTING);
    e->n_reporting_chain = 0;
    m->reporting_chain = strs(f->a, 1, "e1");
    m->n_reporting_chain = 1;
    assert_int_equal(hard(f, m, e), MT_HARD_REPORTING);
    m->n_reporting_chain = 0;
    f->policy.require_shared_language = true;
    m->languages = strs(f->a, 1, "French");
    m->n_languages = 1;
    e->languages = strs(f->a, 1, "en");
    e->n_languages = 1;
    assert_int_equal(hard(f, m, e), MT_HARD_LANGUAGE);
    e->languages = strs(f->a, 2, "en", "french");
    e->n_languages = 2;
    assert_int_equal(hard(f, m, e), 0);
    e->status = TANDEM__V1__PARTICIPANT__STATUS__WITHDRAWN;
    assert_int_equal(hard(f, m, e), MT_HARD_WITHDRAWN);
    assert_int_equal(hard(f, e, m), MT_HARD_ROLE | MT_HARD_WITHDRAWN | MT_HARD_DIRECTION);
}

static Tandem__V1__Skill *skill(fixture *f, const char *name, int level)
{
    Tandem__V1__Skill *s = tdm_arena_alloc(f->a, sizeof(*s));
    tandem__v1__skill__init(s);
    s->name = (char *)name;
    s->level = level;
    return s;
}

static const Tandem__V1__ExplanationItem *item(Tandem__V1__ExplanationItem **items, size_t n,
                                               const char *criterion)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i]->criterion, criterion) == 0)
            return items[i];
    }
    fail_msg("no %s item", criterion);
    return NULL;
}

static void test_explanation_adds_up_and_says_why(void **state)
{
    fixture *f = *state;
    Tandem__V1__Participant *m = mentor(f, "m", 2), *e = mentee(f, "e", 8);
    m->skills = tdm_arena_calloc(f->a, 2, sizeof(*m->skills));
    m->skills[0] = skill(f, "generative AI", 4);
    m->skills[1] = skill(f, "negotiation", 2);
    m->n_skills = 2;
    e->goals = strs(f->a, 2, "AI tools", "public speaking");
    e->n_goals = 2;
    m->interests = strs(f->a, 2, "chess", "Pro bono");
    m->n_interests = 2;
    e->interests = strs(f->a, 2, "pro bono", "music");
    e->n_interests = 2;
    m->office = (char *)"London";
    e->office = (char *)"Paris";
    mt_person pm, pe;
    assert_null(mt_person_init(&pm, m, &f->pol, f->a));
    assert_null(mt_person_init(&pe, e, &f->pol, f->a));
    Tandem__V1__ExplanationItem **items = NULL;
    size_t n = 0;
    int64_t score = mt_explain(&f->pol, &pm, &pe, f->a, &items, &n);
    assert_int_equal(score, mt_score(&f->pol, &pm, &pe));
    assert_int_equal(n, MT_N_CRITERIA);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (int64_t)(items[i]->contribution * MT_SCORE_SCALE + 0.5);
    assert_int_equal(sum, score);
    assert_non_null(strstr(item(items, n, "skills")->detail,
                           "offers generative AI (level 4) for goal 'AI tools'"));
    assert_non_null(strstr(item(items, n, "skills")->detail, "1 of 2 goals met"));
    assert_non_null(strstr(item(items, n, "interests")->detail, "shares 1 interest: pro bono"));
    assert_non_null(strstr(item(items, n, "perspective")->detail, "different offices"));
    /* The goal "AI tools" is also the objective's title, so the objective key works. */
    e->goals = strs(f->a, 1, "ai_tools");
    e->n_goals = 1;
    assert_null(mt_person_init(&pe, e, &f->pol, f->a));
    mt_explain(&f->pol, &pm, &pe, f->a, &items, &n);
    assert_non_null(strstr(item(items, n, "skills")->detail, "offers generative AI (level 4)"));
}

static void test_background_aggregate_with_consent_only(void **state)
{
    fixture *f = *state;
    Tandem__V1__Participant *m = mentor(f, "m", 2), *e = mentee(f, "e", 8);
    mt_person pm, pe;
    assert_null(mt_person_init(&pm, m, &f->pol, f->a));
    assert_null(mt_person_init(&pe, e, &f->pol, f->a));
    int64_t without = mt_score(&f->pol, &pm, &pe);
    Tandem__V1__Consent consent = TANDEM__V1__CONSENT__INIT;
    Tandem__V1__Diversity dm = TANDEM__V1__DIVERSITY__INIT, de = TANDEM__V1__DIVERSITY__INIT;
    dm.gender = (char *)"woman";
    de.gender = (char *)"man";
    m->diversity = &dm;
    e->diversity = &de;
    /* Without consent the data is ignored. */
    assert_null(mt_person_init(&pm, m, &f->pol, f->a));
    assert_null(mt_person_init(&pe, e, &f->pol, f->a));
    assert_int_equal(mt_score(&f->pol, &pm, &pe), without);
    consent.diversity_data = true;
    m->consent = e->consent = &consent;
    assert_null(mt_person_init(&pm, m, &f->pol, f->a));
    assert_null(mt_person_init(&pe, e, &f->pol, f->a));
    assert_true(mt_score(&f->pol, &pm, &pe) > without); /* never lowers, here raises */
    Tandem__V1__ExplanationItem **items = NULL;
    size_t n = 0;
    mt_explain(&f->pol, &pm, &pe, f->a, &items, &n);
    const char *d = item(items, n, "background")->detail;
    assert_non_null(strstr(d, "different backgrounds on 1 of 1"));
    assert_null(strstr(d, "woman"));
}

static void test_fast_path_scores_identically(void **state)
{
    fixture *f = *state;
    enum { NM = 12, NE = 20 };
    static const char *words[] = {"AI",        "legal design", "chess",      "data",
                                  "inclusion", "tax",          "automation", "Pro bono"};
    mt_person slow_m[NM], slow_e[NE], fast_m[NM], fast_e[NE];
    srand(3);
    for (int i = 0; i < NM + NE; i++) {
        bool is_m = i < NM;
        Tandem__V1__Participant *p =
            is_m ? mentor(f, tdm_arena_printf(f->a, "m%d", i), rand() % 5)
                 : mentee(f, tdm_arena_printf(f->a, "e%d", i), 3 + rand() % 7);
        p->interests = strs(f->a, 2, words[rand() % 8], words[rand() % 8]);
        p->n_interests = 2;
        p->languages = strs(f->a, 1, rand() % 2 ? "en" : "fr");
        p->n_languages = 1;
        p->goals = strs(f->a, 2, words[rand() % 8], rand() % 2 ? "ai_tools" : "inclusion");
        p->n_goals = 2;
        p->skills = tdm_arena_calloc(f->a, 2, sizeof(*p->skills));
        p->skills[0] = skill(f, words[rand() % 8], 1 + rand() % 5);
        p->skills[1] = skill(f, words[rand() % 8], 1 + rand() % 5);
        p->n_skills = 2;
        /* Reporting lines: some point at people of the other side, some outside. */
        if (i % 3 == 0) {
            int boss = rand() % (NM + NE);
            p->reporting_chain = strs(
                f->a, 1,
                i % 2 ? tdm_arena_printf(f->a, "%c%d", boss < NM ? 'm' : 'e', boss) : "partner");
            p->n_reporting_chain = 1;
        }
        mt_person *slow = is_m ? &slow_m[i] : &slow_e[i - NM];
        assert_null(mt_person_init(slow, p, &f->pol, f->a));
        *(is_m ? &fast_m[i] : &fast_e[i - NM]) = *slow;
    }
    assert_null(mt_compile(fast_m, NM, fast_e, NE, f->a));
    assert_true(fast_m[0].fast & MT_FAST_GOALS);
    int reporting = 0, unchained = 0;
    for (int i = 0; i < NM; i++) {
        for (int j = 0; j < NE; j++) {
            assert_int_equal(mt_score(&f->pol, &slow_m[i], &slow_e[j]),
                             mt_score(&f->pol, &fast_m[i], &fast_e[j]));
            uint32_t h = mt_hard_check(&f->pol, &slow_m[i], &slow_e[j]);
            assert_int_equal(h, mt_hard_check(&f->pol, &fast_m[i], &fast_e[j]));
            reporting += (h & MT_HARD_REPORTING) != 0;
            unchained += (fast_m[i].fast & fast_e[j].fast & MT_FAST_UNCHAINED) != 0;
        }
    }
    /* both the skipped chain lookups and the kept ones were exercised */
    assert_true(reporting > 0);
    assert_true(unchained > 0);
}

/* ---- planning -------------------------------------------------------------------- */

static void people(fixture *f, mt_person *m, int nm, const int *mentor_sen, const int *cap,
                   mt_person *e, int ne, const int *mentee_sen)
{
    for (int i = 0; i < nm; i++) {
        Tandem__V1__Participant *p = mentor(f, tdm_arena_printf(f->a, "m%d", i), mentor_sen[i]);
        p->capacity = cap[i];
        assert_null(mt_person_init(&m[i], p, &f->pol, f->a));
    }
    for (int j = 0; j < ne; j++)
        assert_null(mt_person_init(
            &e[j], mentee(f, tdm_arena_printf(f->a, "e%d", j), mentee_sen[j]), &f->pol, f->a));
}

static void test_plan_pins_exclusions_and_reasons(void **state)
{
    fixture *f = *state;
    mt_person m[2], e[5];
    const int msen[2] = {3, 3}, cap[2] = {1, 1};
    const int esen[5] = {1, 5, 6, 7, 8}; /* e0 is more junior than every mentor */
    people(f, m, 2, msen, cap, e, 5, esen);
    /* No profile data: every pair scores the same few points (seniority, time zone),
     * so min_score 0 admits every pair in the direction and 99 none. */
    f->policy.min_score = 0;
    assert_null(mt_policy_init(&f->pol, &f->prog, f->a));
    const uint32_t pins[1][2] = {{1, 3}};
    const uint32_t excl[2][2] = {{0, 2}, {1, 2}};
    mt_plan_input in = {.pol = &f->pol,
                        .mentors = m,
                        .n_mentors = 2,
                        .mentees = e,
                        .n_mentees = 5,
                        .pins = pins,
                        .n_pins = 1,
                        .exclusions = excl,
                        .n_exclusions = 2,
                        .algorithm = TANDEM__V1__ALGORITHM__OPTIMAL,
                        .seed = 1,
                        .threads = 2,
                        .arena = f->a};
    mt_plan_result r;
    assert_int_equal(mt_plan_run(&in, &r), 0);
    assert_int_equal(r.n_pairs, 2);
    assert_int_equal(r.pinned_pairs, 1);
    bool pin_kept = false;
    for (size_t k = 0; k < r.n_pairs; k++) {
        pin_kept |= r.pairs[k].pinned && r.pairs[k].mentor == 1 && r.pairs[k].mentee == 3;
        assert_int_not_equal(r.pairs[k].mentee, 2);
    }
    assert_true(pin_kept);
    int reason[5] = {0};
    for (size_t k = 0; k < r.n_unmatched; k++)
        reason[r.unmatched[k].mentee] = r.unmatched[k].reason;
    assert_int_equal(reason[0], TANDEM__V1__UNMATCHED_REASON__NO_ADMISSIBLE_MENTOR);
    assert_int_equal(reason[2], TANDEM__V1__UNMATCHED_REASON__EXCLUDED);
    /* e1 and e4 compete for mentor 0's one seat. */
    assert_int_equal((reason[1] == TANDEM__V1__UNMATCHED_REASON__ALL_ADMISSIBLE_MENTORS_FULL) +
                         (reason[4] == TANDEM__V1__UNMATCHED_REASON__ALL_ADMISSIBLE_MENTORS_FULL),
                     1);
    mt_plan_result_free(&r);

    /* min_score above every score: BELOW_MIN_SCORE. */
    f->policy.min_score = 99;
    assert_null(mt_policy_init(&f->pol, &f->prog, f->a));
    in.n_pins = 0;
    in.n_exclusions = 0;
    assert_int_equal(mt_plan_run(&in, &r), 0);
    assert_int_equal(r.n_pairs, 0);
    for (size_t k = 0; k < r.n_unmatched; k++) {
        if (r.unmatched[k].mentee != 0)
            assert_int_equal(r.unmatched[k].reason, TANDEM__V1__UNMATCHED_REASON__BELOW_MIN_SCORE);
    }
    mt_plan_result_free(&r);
}

static void test_plan_without_mentors(void **state)
{
    fixture *f = *state;
    mt_person e[2];
    const int esen[2] = {4, 5};
    people(f, NULL, 0, NULL, NULL, e, 2, esen);
    mt_plan_input in = {.pol = &f->pol,
                        .mentees = e,
                        .n_mentees = 2,
                        .algorithm = TANDEM__V1__ALGORITHM__OPTIMAL,
                        .threads = 1,
                        .arena = f->a};
    mt_plan_result r;
    assert_int_equal(mt_plan_run(&in, &r), 0);
    assert_int_equal(r.n_pairs, 0);
    assert_int_equal(r.n_unmatched, 2);
    assert_int_equal(r.unmatched[0].reason, TANDEM__V1__UNMATCHED_REASON__NO_ADMISSIBLE_MENTOR);
    mt_plan_result_free(&r);
}

/* Largest number of mentees matched within capacities (brute force). */
static int brute(const bool adm[4][6], const int *cap, int j, int *used)
{
    if (j == 6)
        return 0;
    int best = brute(adm, cap, j + 1, used);
    for (int i = 0; i < 4; i++) {
        if (!adm[i][j] || used[i] >= cap[i])
            continue;
        used[i]++;
        int v = 1 + brute(adm, cap, j + 1, used);
        used[i]--;
        if (v > best)
            best = v;
    }
    return best;
}

static void test_plan_participation_is_maximum(void **state)
{
    fixture *f = *state;
    f->gap_min.value = 1;
    f->gap_max.value = 3;
    f->gap.min = &f->gap_min;
    f->gap.max = &f->gap_max;
    f->policy.seniority_gap = &f->gap;
    assert_null(mt_policy_init(&f->pol, &f->prog, f->a));
    srand(11);
    for (int round = 0; round < 40; round++) {
        mt_person m[4], e[6];
        int msen[4], cap[4], esen[6];
        for (int i = 0; i < 4; i++) {
            msen[i] = rand() % 6;
            cap[i] = 1 + rand() % 2;
        }
        for (int j = 0; j < 6; j++)
            esen[j] = rand() % 9;
        people(f, m, 4, msen, cap, e, 6, esen);
        bool adm[4][6];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++)
                adm[i][j] = mt_hard_check(&f->pol, &m[i], &e[j]) == 0;
        int used[4] = {0};
        mt_plan_input in = {.pol = &f->pol,
                            .mentors = m,
                            .n_mentors = 4,
                            .mentees = e,
                            .n_mentees = 6,
                            .algorithm = TANDEM__V1__ALGORITHM__OPTIMAL,
                            .seed = 1,
                            .threads = 1};
        mt_plan_result r;
        assert_int_equal(mt_plan_run(&in, &r), 0);
        assert_int_equal((int)r.n_pairs, brute(adm, cap, 0, used));
        for (size_t k = 0; k < r.n_pairs; k++)
            assert_true(adm[r.pairs[k].mentor][r.pairs[k].mentee]);
        mt_plan_result_free(&r);
    }
}

/* A person with a few interests and skills drawn from small pools, so that scores are
 * flat with many exact ties: the hard case for the large-programme solver. */
static void random_person(fixture *f, mt_person *out, int role, int k)
{
    static const char *const POOL[] = {"ai", "privacy", "chess", "music", "design", "data"};
    Tandem__V1__Participant *p =
        person(f, tdm_arena_printf(f->a, "%c%d", role == TANDEM__V1__ROLE__MENTOR ? 'm' : 'e', k),
               role, role == TANDEM__V1__ROLE__MENTOR ? rand() % 6 : 2 + rand() % 7);
    p->n_interests = 2;
    p->interests = strs(f->a, 2, POOL[rand() % 6], POOL[rand() % 6]);
    p->availability_hours_per_month = 2 + rand() % 4;
    p->capacity = 1 + rand() % 3;
    assert_null(mt_person_init(out, p, &f->pol, f->a));
}

/* The large-programme path (the engine's priced solver, which also does the scoring
 * pass) gives the same optimum, pairs, admissible counts and unmatched reasons as the
 * dense path on the same programme: pins, exclusions, mentors with no free seat and
 * min_score included. */
static void test_plan_priced_path_equals_dense(void **state)
{
    fixture *f = *state;
    srand(23);
    for (int round = 0; round < 24; round++) {
        enum { NM = 30, NE = 70 };
        f->policy.min_score = round % 3 == 0 ? 0 : 20 + rand() % 20;
        f->policy.objective = round % 2 ? TANDEM__V1__MATCHING_OBJECTIVE__MAX_SCORE
                                        : TANDEM__V1__MATCHING_OBJECTIVE__MAX_PARTICIPATION;
        assert_null(mt_policy_init(&f->pol, &f->prog, f->a));
        mt_person m[NM], e[NE];
        int free_cap[NM];
        for (int i = 0; i < NM; i++) {
            random_person(f, &m[i], TANDEM__V1__ROLE__MENTOR, i);
            free_cap[i] = rand() % 5 == 0 ? 0 : m[i].capacity;
        }
        for (int j = 0; j < NE; j++)
            random_person(f, &e[j], TANDEM__V1__ROLE__MENTEE, j);
        uint32_t pins[3][2], excl[12][2];
        for (int k = 0; k < 3; k++)
            pins[k][0] = rand() % NM, pins[k][1] = rand() % NE;
        for (int k = 0; k < 12; k++)
            excl[k][0] = rand() % NM, excl[k][1] = rand() % NE;
        mt_plan_input in = {.pol = &f->pol,
                            .mentors = m,
                            .n_mentors = NM,
                            .mentees = e,
                            .n_mentees = NE,
                            .free_capacity = free_cap,
                            .pins = (const uint32_t(*)[2])pins,
                            .n_pins = 3,
                            .exclusions = (const uint32_t(*)[2])excl,
                            .n_exclusions = 12,
                            .algorithm = TANDEM__V1__ALGORITHM__OPTIMAL,
                            .seed = 1,
                            .threads = 2,
                            .arena = f->a};
        mt_plan_result dense, priced;
        assert_int_equal(mt_plan_run(&in, &dense), 0);
        in.dense_max_cells = 1;
        assert_int_equal(mt_plan_run(&in, &priced), 0);
        assert_false(dense.priced);
        assert_true(priced.priced);
        assert_true(priced.engine.certified);
        assert_int_equal(priced.n_pairs, dense.n_pairs);
        assert_int_equal(priced.total_score, dense.total_score);
        assert_int_equal(priced.pinned_pairs, dense.pinned_pairs);
        assert_int_equal(priced.admissible_pairs, dense.admissible_pairs);
        assert_int_equal(priced.n_unmatched, dense.n_unmatched);
        /* Ties may leave out different mentees; those left out by both agree. */
        for (size_t a = 0; a < priced.n_unmatched; a++)
            for (size_t b = 0; b < dense.n_unmatched; b++) {
                const mt_plan_unmatched *x = &priced.unmatched[a], *y = &dense.unmatched[b];
                if (x->mentee != y->mentee)
                    continue;
                assert_int_equal(x->reason, y->reason);
                assert_int_equal(x->admissible, y->admissible);
                assert_int_equal(x->below_min, y->below_min);
                assert_int_equal(x->excluded, y->excluded);
            }
        mt_plan_result_free(&dense);
        mt_plan_result_free(&priced);
    }
}

static void test_page_tokens(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    int64_t n = 0;
    assert_int_equal(tdm_page_token_decode_seq(tdm_page_token_encode_seq(12345, a), &n), 0);
    assert_int_equal(n, 12345);
    assert_int_equal(tdm_page_token_decode_seq("bm9wZQ", &n), -1);
    assert_int_equal(tdm_page_token_decode_seq("!!", &n), -1);
    tdm_arena_free(a);
}

/* SuggestMentors' selection: a mentor's live matches use its seats, an exclusion with
 * this mentee (only) rules a mentor out, the best k come first. */
static void test_suggest_counts_live_seats_and_exclusions(void **state)
{
    fixture *f = *state;
    Tandem__V1__Participant *m[4] = {mentor(f, "m0", 2), mentor(f, "m1", 2), mentor(f, "m2", 2),
                                     mentor(f, "m3", 2)};
    int caps[4] = {1, 2, 1, 1};
    for (int i = 0; i < 4; i++)
        m[i]->capacity = caps[i];
    mt_person e;
    assert_null(mt_person_init(&e, mentee(f, "e", 8), &f->pol, f->a));
    mt_state st = {
        .n_live = 3,
        .live_mentor = strs(f->a, 3, "id-m0", "id-m1", "id-nobody"),
        .live_mentee = strs(f->a, 3, "id-x", "id-y", "id-z"),
        .n_exclusions = 2,
        .excl_mentor = strs(f->a, 2, "id-m2", "id-m3"),
        .excl_mentee = strs(f->a, 2, "id-e", "id-other"),
    };
    mt_suggestion out[5];
    size_t n = 0;
    assert_null(mt_suggest(&f->pol, &e, m, 4, &st, 5, f->a, out, &n));
    /* m0 is full (1 seat, 1 live match), m2 is excluded with e; m3's exclusion is
     * with someone else. */
    assert_int_equal(n, 2);
    assert_int_equal(out[0].mentor, 1);
    assert_int_equal(out[0].free, 1);
    assert_int_equal(out[1].mentor, 3);
    assert_int_equal(out[1].free, 1);
    assert_true(out[0].score >= out[1].score);
    assert_null(mt_suggest(&f->pol, &e, m, 4, &st, 1, f->a, out, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0].mentor, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reverse_mentor_never_more_senior, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_department_reporting_language_withdrawn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_explanation_adds_up_and_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_aggregate_with_consent_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fast_path_scores_identically, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_priced_path_equals_dense, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_pins_exclusions_and_reasons, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_participation_is_maximum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_without_mentors, setup, teardown),
        cmocka_unit_test(test_page_tokens),
        cmocka_unit_test_setup_teardown(test_suggest_counts_live_seats_and_exclusions, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
