/*
 * bench_plan.c - the in-process part of a matching run, timed: people prepared for
 * scoring, every pair scored on threads, the exact solve, the explanations of the
 * proposed pairs. The data mirrors bench_run.py (a third mentors with 1-3 seats,
 * REVERSE seniority, skills, interests, goals, languages, offices, time zones,
 * reporting chains), generated from a fixed seed.
 *
 *   tandem-matching-bench-plan [people] [threads]     (default 10000, online CPUs)
 */
#include "bench_data.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    srand(42);
    tdm_arena *a = tdm_arena_new(1u << 20);
    Tandem__V1__Programme *prog =
        bench_programme(a, getenv("BENCH_OBJECTIVE") != NULL ? atoi(getenv("BENCH_OBJECTIVE")) : 0);
    if (prog == NULL)
        return 1;
    double t0 = bench_now();
    mt_policy policy;
    tdm_status *st = mt_policy_init(&policy, prog, a);
    mt_person *mentors = calloc((size_t)n, sizeof(*mentors));
    mt_person *mentees = calloc((size_t)n, sizeof(*mentees));
    size_t nm = 0, ne = 0;
    for (int i = 0; st == NULL && i < n; i++) {
        Tandem__V1__Participant *p = bench_person(a, i, n);
        st = mt_person_init(p->role == TANDEM__V1__ROLE__MENTOR ? &mentors[nm++] : &mentees[ne++],
                            p, &policy, a);
    }
    if (st != NULL) {
        fprintf(stderr, "%s\n", st->message);
        return 1;
    }
    double t1 = bench_now();
    mt_plan_input in = {.pol = &policy,
                        .mentors = mentors,
                        .n_mentors = nm,
                        .mentees = mentees,
                        .n_mentees = ne,
                        .algorithm = TANDEM__V1__ALGORITHM__OPTIMAL,
                        .seed = 1,
                        .threads = threads,
                        .dense_max_cells = getenv("BENCH_DENSE_MAX_CELLS") != NULL
                                               ? strtoull(getenv("BENCH_DENSE_MAX_CELLS"), NULL, 10)
                                               : 0,
                        .arena = a};
    mt_plan_result r;
    if (mt_plan_run(&in, &r) != 0) {
        fprintf(stderr, "plan failed: %s\n", r.error);
        return 1;
    }
    double t2 = bench_now();
    for (size_t k = 0; k < r.n_pairs; k++) {
        Tandem__V1__ExplanationItem **items;
        size_t ni;
        mt_explain(&policy, &mentors[r.pairs[k].mentor], &mentees[r.pairs[k].mentee], a, &items,
                   &ni);
    }
    double t3 = bench_now();
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
