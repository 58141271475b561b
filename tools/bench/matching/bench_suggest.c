/*
 * bench_suggest.c - SuggestMentors' selection on matching's event loop, timed: the
 * indexed selection of suggest.c (mt_suggest) against the selection it replaced
 * (reproduced below as the baseline: every mentor compared with every live match and
 * every exclusion, then every candidate sorted), on the same synthetic programme
 * (bench_data.h) in the same run; both must return the same mentors.
 *
 *   tandem-matching-bench-suggest [mentors] [live matches] [calls] [k]
 *                                  (default 10000 20000 20 5)
 */
#include "bench_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- the baseline: handlers.c's selection before the index ---------------------------- */

static bool same_id(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static bool state_has(char **a, char **b, size_t n, const char *x, const char *y)
{
    for (size_t i = 0; i < n; i++) {
        if (same_id(a[i], x) && same_id(b[i], y))
            return true;
    }
    return false;
}

static int cmp_suggestion(const void *x, const void *y)
{
    const mt_suggestion *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->mentor < b->mentor ? -1 : (a->mentor > b->mentor);
}

static size_t suggest_baseline(const mt_policy *pol, const mt_person *e,
                               Tandem__V1__Participant **mentors, size_t n_mentors,
                               const mt_state *state, size_t k, tdm_arena *a, mt_suggestion *out)
{
    mt_suggestion *cand = tdm_arena_calloc(a, n_mentors + 1, sizeof(*cand));
    size_t n = 0;
    for (size_t i = 0; i < n_mentors; i++) {
        mt_person m;
        if (mt_person_init(&m, mentors[i], pol, a) != NULL)
            return 0;
        int live = 0;
        for (size_t q = 0; q < state->n_live; q++)
            live += same_id(state->live_mentor[q], mentors[i]->id);
        int free_seats = m.capacity - live;
        if (free_seats <= 0 || mt_hard_check(pol, &m, e) != 0 ||
            state_has(state->excl_mentor, state->excl_mentee, state->n_exclusions, mentors[i]->id,
                      e->src->id))
            continue;
        int64_t score = mt_score(pol, &m, e);
        if (score >= pol->min_score)
            cand[n++] = (mt_suggestion){i, score, free_seats};
    }
    qsort(cand, n, sizeof(*cand), cmp_suggestion);
    n = n < k ? n : k;
    for (size_t i = 0; i < n; i++)
        out[i] = cand[i];
    return n;
}

int main(int argc, char **argv)
{
    size_t n_mentors = argc > 1 ? (size_t)atol(argv[1]) : 10000;
    size_t n_live = argc > 2 ? (size_t)atol(argv[2]) : 20000;
    int calls = argc > 3 ? atoi(argv[3]) : 20;
    size_t k = argc > 4 ? (size_t)atol(argv[4]) : 5;
    if (n_mentors == 0 || calls <= 0 || k == 0 || k > MT_MAX_SUGGESTIONS) {
        fprintf(stderr,
                "usage: tandem-matching-bench-suggest [mentors>0] [live] [calls>0] "
                "[k 1..%d]\n",
                MT_MAX_SUGGESTIONS);
        return 2;
    }
    srand(42);
    tdm_arena *a = tdm_arena_new(1u << 20);
    Tandem__V1__Programme *prog = bench_programme(a, 0);
    mt_policy pol;
    if (prog == NULL || mt_policy_init(&pol, prog, a) != NULL)
        return 1;
    /* Mentors are the people i % 3 == 0 of a programme of 3 x n_mentors; the mentee
     * is person 1. Every mentor gets 20 seats, so the live matches leave most free. */
    int people = (int)(3 * n_mentors);
    Tandem__V1__Participant **mentors = tdm_arena_calloc(a, n_mentors, sizeof(*mentors));
    for (size_t i = 0; i < n_mentors; i++) {
        mentors[i] = bench_person(a, (int)(3 * i), people);
        mentors[i]->capacity = 20;
        /* Ids as PostgreSQL's gen_random_uuid() writes them (random throughout). */
        mentors[i]->id = tdm_arena_printf(a, "%08x-%04x-4%03x-8%03x-%04x%08x", (unsigned)rand(),
                                          (unsigned)rand() & 0xffffu, (unsigned)rand() & 0xfffu,
                                          (unsigned)rand() & 0xfffu, (unsigned)rand() & 0xffffu,
                                          (unsigned)rand());
    }
    mt_person e;
    if (mt_person_init(&e, bench_person(a, 1, people), &pol, a) != NULL)
        return 1;
    /* Live matches on random mentors, and 50 exclusions of this mentee. */
    mt_state state = {.n_live = n_live, .n_exclusions = 50};
    state.live_mentor = tdm_arena_calloc(a, n_live + 1, sizeof(char *));
    state.live_mentee = tdm_arena_calloc(a, n_live + 1, sizeof(char *));
    state.excl_mentor = tdm_arena_calloc(a, 50, sizeof(char *));
    state.excl_mentee = tdm_arena_calloc(a, 50, sizeof(char *));
    for (size_t q = 0; q < n_live; q++) {
        state.live_mentor[q] = mentors[(size_t)rand() % n_mentors]->id;
        state.live_mentee[q] = tdm_arena_printf(a, "00000000-0000-4000-9000-%012zu", q);
    }
    for (size_t q = 0; q < 50; q++) {
        state.excl_mentor[q] = mentors[(size_t)rand() % n_mentors]->id;
        state.excl_mentee[q] = (char *)e.src->id;
    }
    mt_suggestion *base = calloc(k, sizeof(*base)), *fast = calloc(k, sizeof(*fast));
    size_t n_base = 0, n_fast = 0;
    double t_base = 0, t_fast = 0;
    for (int c = 0; c < calls; c++) {
        /* Each call on an arena of its own, as each gRPC call has. */
        tdm_arena *ca = tdm_arena_new(1u << 20);
        double t0 = bench_now();
        n_base = suggest_baseline(&pol, &e, mentors, n_mentors, &state, k, ca, base);
        double t1 = bench_now();
        tdm_status *st = mt_suggest(&pol, &e, mentors, n_mentors, &state, k, ca, fast, &n_fast);
        double t2 = bench_now();
        tdm_arena_free(ca);
        if (st != NULL) {
            fprintf(stderr, "mt_suggest: %s\n", st->message);
            return 1;
        }
        t_base += t1 - t0;
        t_fast += t2 - t1;
    }
    bool same = n_base == n_fast;
    for (size_t i = 0; same && i < n_fast; i++)
        same = base[i].mentor == fast[i].mentor && base[i].score == fast[i].score &&
               base[i].free == fast[i].free;
    printf("mentors %zu, live matches %zu, exclusions 50, k %zu, calls %d\n", n_mentors, n_live, k,
           calls);
    printf("baseline (mentors x live): %.3f ms per call\n", 1e3 * t_base / calls);
    printf("indexed (mt_suggest):      %.3f ms per call\n", 1e3 * t_fast / calls);
    printf("same suggestions: %s (%zu)\n", same ? "yes" : "NO", n_fast);
    free(base);
    free(fast);
    tdm_arena_free(a);
    return same ? 0 : 1;
}
