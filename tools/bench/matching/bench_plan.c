/*
 * bench_plan.c - the in-process part of a matching run, timed: people prepared for
 * scoring, every pair scored on threads, the exact solve, the explanations of the
 * proposed pairs. The data mirrors bench_run.py (a third mentors with 1-3 seats,
 * REVERSE seniority, skills, interests, goals, languages, offices, time zones,
 * reporting chains), generated from a fixed seed.
 *
 *   tandem-matching-bench-plan [people] [threads]     (default 10000, online CPUs)
 */
#include "matching.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const OFFICES[] = {"London",   "Paris",     "Frankfurt",
                                      "New York", "Singapore", "Madrid"};
static const char *const AREAS[] = {"Corporate",  "Litigation",  "Tax",
                                    "Employment", "Real Estate", "IP"};
static const char *const SKILLS[] = {
    "generative AI", "legal tech",          "data privacy", "client portals", "inclusion",
    "negotiation",   "contract automation", "e-discovery",  "AI tools",       "analytics"};
static const char *const GOALS[] = {"ai_tools",      "inclusion",           "client_tech",
                                    "generative AI", "data privacy basics", "contract automation"};
static const char *const INTERESTS[] = {"pro bono",   "cycling",      "chess",   "music",
                                        "AI",         "legal design", "running", "podcasts",
                                        "innovation", "diversity"};
static const char *const ZONES[] = {"Europe/London", "Europe/Paris", "America/New_York",
                                    "Asia/Singapore"};
#define PICK(a) (a)[rand() % (int)(sizeof(a) / sizeof((a)[0]))]

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char **strings(tdm_arena *a, const char *const *pool, size_t pool_n, size_t n)
{
    char **out = tdm_arena_calloc(a, n, sizeof(char *));
    size_t start = (size_t)rand() % pool_n;
    for (size_t i = 0; i < n; i++)
        out[i] = (char *)pool[(start + i) % pool_n];
    return out;
}

static Tandem__V1__Participant *person(tdm_arena *a, int i, int n)
{
    Tandem__V1__Participant *p = tdm_arena_alloc(a, sizeof(*p));
    tandem__v1__participant__init(p);
    bool mentor = i % 3 == 0;
    p->id = tdm_arena_printf(a, "00000000-0000-4000-8000-%012d", i);
    p->external_id = tdm_arena_printf(a, "HR-%06d", i);
    p->role = mentor ? TANDEM__V1__ROLE__MENTOR : TANDEM__V1__ROLE__MENTEE;
    p->seniority_level = mentor ? rand() % 6 : 3 + rand() % 8;
    p->practice_area = (char *)PICK(AREAS);
    p->office = (char *)PICK(OFFICES);
    p->department = tdm_arena_printf(a, "Dept %d", 1 + rand() % 40);
    p->n_reporting_chain = 1;
    p->reporting_chain = tdm_arena_calloc(a, 1, sizeof(char *));
    p->reporting_chain[0] = tdm_arena_printf(a, "HR-%06d", rand() % n);
    p->n_skills = 4;
    p->skills = tdm_arena_calloc(a, 4, sizeof(*p->skills));
    for (size_t k = 0; k < 4; k++) {
        p->skills[k] = tdm_arena_alloc(a, sizeof(Tandem__V1__Skill));
        tandem__v1__skill__init(p->skills[k]);
        p->skills[k]->name = (char *)SKILLS[(i + 3 * k) % 10];
        p->skills[k]->level = 1 + rand() % 5;
    }
    p->n_interests = 3;
    p->interests = strings(a, INTERESTS, 10, 3);
    p->n_goals = 2;
    p->goals = strings(a, GOALS, 6, 2);
    p->n_languages = 2;
    p->languages = tdm_arena_calloc(a, 2, sizeof(char *));
    p->languages[0] = (char *)"en";
    p->languages[1] = (char *)(rand() % 2 ? "fr" : "de");
    p->availability_hours_per_month = 2 + rand() % 11;
    p->timezone = (char *)PICK(ZONES);
    p->capacity = mentor ? 1 + rand() % 3 : 0;
    p->status = TANDEM__V1__PARTICIPANT__STATUS__ENROLLED;
    return p;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    srand(42);
    tdm_arena *a = tdm_arena_new(1u << 20);
    Tandem__V1__Objective objs[3];
    Tandem__V1__Objective *objp[3];
    const char *keys[3][2] = {
        {"ai_tools", "AI tools"}, {"inclusion", "Inclusion"}, {"client_tech", "Client technology"}};
    for (int i = 0; i < 3; i++) {
        tandem__v1__objective__init(&objs[i]);
        objs[i].key = (char *)keys[i][0];
        objs[i].title = (char *)keys[i][1];
        objp[i] = &objs[i];
    }
    Tandem__V1__Programme prog = TANDEM__V1__PROGRAMME__INIT;
    Tandem__V1__MatchingPolicy pol = TANDEM__V1__MATCHING_POLICY__INIT;
    pol.min_score = 10;
    pol.objective = getenv("BENCH_OBJECTIVE") != NULL ? atoi(getenv("BENCH_OBJECTIVE")) : 0;
    pol.default_mentor_capacity = 2;
    prog.kind = TANDEM__V1__PROGRAMME_KIND__REVERSE;
    prog.objectives = objp;
    prog.n_objectives = 3;
    prog.matching_policy = &pol;

    double t0 = now();
    mt_policy policy;
    tdm_status *st = mt_policy_init(&policy, &prog, a);
    mt_person *mentors = calloc((size_t)n, sizeof(*mentors));
    mt_person *mentees = calloc((size_t)n, sizeof(*mentees));
    size_t nm = 0, ne = 0;
    for (int i = 0; st == NULL && i < n; i++) {
        Tandem__V1__Participant *p = person(a, i, n);
        st = mt_person_init(p->role == TANDEM__V1__ROLE__MENTOR ? &mentors[nm++] : &mentees[ne++],
                            p, &policy, a);
    }
    if (st != NULL) {
        fprintf(stderr, "%s\n", st->message);
        return 1;
    }
    double t1 = now();
    mt_plan_input in = {.pol = &policy,
                        .mentors = mentors,
                        .n_mentors = nm,
                        .mentees = mentees,
                        .n_mentees = ne,
                        .algorithm = TANDEM__V1__ALGORITHM__OPTIMAL,
                        .seed = 1,
                        .threads = threads,
                        .arena = a};
    mt_plan_result r;
    if (mt_plan_run(&in, &r) != 0) {
        fprintf(stderr, "plan failed: %s\n", r.error);
        return 1;
    }
    double t2 = now();
    for (size_t k = 0; k < r.n_pairs; k++) {
        Tandem__V1__ExplanationItem **items;
        size_t ni;
        mt_explain(&policy, &mentors[r.pairs[k].mentor], &mentees[r.pairs[k].mentee], a, &items,
                   &ni);
    }
    double t3 = now();
    printf("people %d: %zu mentors x %zu mentees, %lld admissible pairs\n", n, nm, ne,
           (long long)r.admissible_pairs);
    printf("prepare %.3f s, score %.3f s, solve %.3f s (%s), explain %.3f s, total %.3f s\n",
           t1 - t0, r.score_seconds, r.solve_seconds, r.priced ? "priced" : "dense", t3 - t2,
           t3 - t0);
    printf("engine: %llu searches, %llu initially matched, %llu pricing rounds, %llu pairs "
           "added, %llu candidates, scan %.3f s, solves %.3f s\n",
           (unsigned long long)r.engine.iterations, (unsigned long long)r.engine.init_matched,
           (unsigned long long)r.engine.pricing_rounds, (unsigned long long)r.engine.pairs_added,
           (unsigned long long)r.engine.candidate_pairs, r.engine.scan_seconds,
           r.engine.solve_seconds);
    printf("pairs %zu, unmatched %zu, total score %.2f\n", r.n_pairs, r.n_unmatched,
           (double)r.total_score / MT_SCORE_SCALE);
    mt_plan_result_free(&r);
    free(mentors);
    free(mentees);
    tdm_arena_free(a);
    return 0;
}
