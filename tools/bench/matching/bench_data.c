/*
 * bench_data.c - the synthetic programme of the matching benchmarks (bench_data.h).
 */
#include "bench_data.h"

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

double bench_now(void)
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

bool bench_national(void)
{
    const char *s = getenv("BENCH_SHAPE");
    return s != NULL && strcmp(s, "national") == 0;
}

Tandem__V1__Participant *bench_person(tdm_arena *a, int i, int n)
{
    Tandem__V1__Participant *p = tdm_arena_alloc(a, sizeof(*p));
    tandem__v1__participant__init(p);
    bool national = bench_national();
    bool mentor = national ? i % 4 == 0 : i % 3 == 0;
    p->id = tdm_arena_printf(a, "00000000-0000-4000-8000-%012d", i);
    p->external_id = tdm_arena_printf(a, "HR-%06d", i);
    p->role = mentor ? TANDEM__V1__ROLE__MENTOR : TANDEM__V1__ROLE__MENTEE;
    /* national: a mentor is never more senior than a mentee (REVERSE), so every pair is
     * admissible */
    p->seniority_level =
        national ? (mentor ? rand() % 4 : 3 + rand() % 8) : (mentor ? rand() % 6 : 3 + rand() % 8);
    p->practice_area = (char *)PICK(AREAS);
    p->office = (char *)PICK(OFFICES);
    p->department = tdm_arena_printf(a, "Dept %d", 1 + rand() % 40);
    p->n_reporting_chain = 1;
    p->reporting_chain = tdm_arena_calloc(a, 1, sizeof(char *));
    /* national: managers outside the programme (a partner), so no reporting-line pair */
    p->reporting_chain[0] = national ? tdm_arena_printf(a, "PARTNER-%03d", rand() % 400)
                                     : tdm_arena_printf(a, "HR-%06d", rand() % n);
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
    p->capacity = mentor ? (national ? 3 : 1 + rand() % 3) : 0;
    p->status = TANDEM__V1__PARTICIPANT__STATUS__ENROLLED;
    return p;
}

Tandem__V1__Programme *bench_programme(tdm_arena *a, int objective)
{
    static const char *const keys[3][2] = {
        {"ai_tools", "AI tools"}, {"inclusion", "Inclusion"}, {"client_tech", "Client technology"}};
    Tandem__V1__Objective *objs = tdm_arena_calloc(a, 3, sizeof(*objs));
    Tandem__V1__Objective **objp = tdm_arena_calloc(a, 3, sizeof(*objp));
    Tandem__V1__Programme *prog = tdm_arena_alloc(a, sizeof(*prog));
    Tandem__V1__MatchingPolicy *pol = tdm_arena_alloc(a, sizeof(*pol));
    if (objs == NULL || objp == NULL || prog == NULL || pol == NULL)
        return NULL;
    for (int i = 0; i < 3; i++) {
        tandem__v1__objective__init(&objs[i]);
        objs[i].key = (char *)keys[i][0];
        objs[i].title = (char *)keys[i][1];
        objp[i] = &objs[i];
    }
    tandem__v1__programme__init(prog);
    tandem__v1__matching_policy__init(pol);
    pol->min_score = bench_national() ? 0 : 10;
    pol->objective = objective;
    pol->default_mentor_capacity = 2;
    prog->kind = TANDEM__V1__PROGRAMME_KIND__REVERSE;
    prog->objectives = objp;
    prog->n_objectives = 3;
    prog->matching_policy = pol;
    return prog;
}
