/*
 * test_solve.c - OPTIMAL against brute force: every objective, capacities, inadmissible
 * pairs, pins, exclusions, min_weight, rectangular both ways, empty and edgeless
 * problems; the dual certificate is checked on every solve, the dense fast path must
 * agree with the sparse solver, and every unmatched mentee's reason must be true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brute.h"

static const tdm_assign_objective OBJECTIVES[] = {TDM_ASSIGN_MAX_PARTICIPATION,
                                                  TDM_ASSIGN_MAX_SCORE, TDM_ASSIGN_MAXIMIN};

static void assert_certified(const tdm_assign_problem *p, const tdm_assign_options *o,
                             const tdm_assign_result *r)
{
    char why[256];
    tdm_assign_status st = tdm_assign_check_duals(p, o, r, why, sizeof why);
    if (st != TDM_ASSIGN_OK)
        fail_msg("dual check failed: %s", why);
}

/* Every unmatched mentee's reason is true of the instance and the result. */
static void assert_reasons(const instance *in, const tdm_assign_result *r)
{
    uint32_t load[BRUTE_MAX_MENTORS] = {0};
    for (uint32_t j = 0; j < in->ne; j++)
        if (r->mentor_of[j] >= 0)
            load[r->mentor_of[j]]++;
    for (uint32_t j = 0; j < in->ne; j++) {
        int32_t m = r->mentor_of[j];
        if (in->pin[j] >= 0) {
            assert_int_equal(m, in->pin[j]);
            assert_int_equal(r->reason[j], TDM_ASSIGN_PINNED);
            continue;
        }
        if (m >= 0) {
            assert_true(brute_admissible(in, (uint32_t)m, j));
            assert_int_equal(r->reason[j], TDM_ASSIGN_MATCHED);
            continue;
        }
        bool any_edge = false, any_admissible = false, any_excluded = false, any_below = false;
        for (uint32_t i = 0; i < in->nm; i++) {
            if (in->weight[i][j] < 0)
                continue;
            any_edge = true;
            if (brute_admissible(in, i, j)) {
                any_admissible = true;
                assert_true(load[i] >= in->cap[i]); /* "all admissible mentors full" */
            } else if (in->weight[i][j] < in->min_weight) {
                any_below = true;
            } else {
                any_excluded = true;
            }
        }
        uint8_t want = any_admissible ? TDM_ASSIGN_ALL_MENTORS_FULL
                       : any_excluded ? TDM_ASSIGN_EXCLUDED
                       : any_below    ? TDM_ASSIGN_BELOW_MIN_SCORE
                                      : TDM_ASSIGN_NO_ADMISSIBLE_MENTOR;
        (void)any_edge;
        assert_int_equal(r->reason[j], want);
    }
}

/* Capacities and edges respected, totals consistent. */
static void assert_feasible(const instance *in, const tdm_assign_result *r)
{
    uint32_t load[BRUTE_MAX_MENTORS] = {0};
    int64_t total = 0;
    assert_int_equal(r->n_mentees, in->ne);
    for (size_t k = 0; k < r->n_pairs; k++) {
        const tdm_assign_pair *pr = &r->pairs[k];
        assert_true(pr->mentor < in->nm && pr->mentee < in->ne);
        assert_int_equal(r->mentor_of[pr->mentee], pr->mentor);
        if (in->pin[pr->mentee] < 0)
            assert_int_equal(pr->weight, in->weight[pr->mentor][pr->mentee]);
        total += pr->weight;
        load[pr->mentor]++;
    }
    for (uint32_t i = 0; i < in->nm; i++)
        assert_true(load[i] <= in->cap[i]);
    assert_int_equal(total, r->total_weight);
    assert_int_equal(r->n_pairs + r->n_unmatched, in->ne);
}

/* The dense equivalent of an instance without pins or exclusions: mentee-major. */
static void dense_of(const instance *in, int32_t *w, tdm_assign_dense *d)
{
    for (uint32_t j = 0; j < in->ne; j++)
        for (uint32_t i = 0; i < in->nm; i++)
            w[j * in->nm + i] =
                in->weight[i][j] < 0 ? TDM_ASSIGN_DENSE_NONE : (int32_t)in->weight[i][j];
    *d = (tdm_assign_dense){in->nm, in->ne, w, in->cap, NULL};
}

static void run_random(uint64_t seed, int rounds, uint32_t max_m, uint32_t max_e, int64_t wmax,
                       bool pins, bool excl)
{
    uint64_t rng = seed;
    for (int round = 0; round < rounds; round++) {
        instance in;
        brute_random(&in, &rng, max_m, max_e, wmax, pins, excl);
        tdm_assign_problem *p = brute_problem(&in);
        assert_non_null(p);
        for (size_t k = 0; k < sizeof OBJECTIVES / sizeof *OBJECTIVES; k++) {
            tdm_assign_options o;
            tdm_assign_options_init(&o);
            o.objective = OBJECTIVES[k];
            o.min_weight = in.min_weight;
            tdm_assign_result r;
            assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_OK);
            value best = brute_best(&in, o.objective);
            value got = brute_value(&r);
            if (brute_cmp(got, best, o.objective) != 0)
                fail_msg("round %d objective %d: got (%lld,%lld,%lld) want (%lld,%lld,%lld)", round,
                         (int)o.objective, (long long)got.pairs, (long long)got.total,
                         (long long)got.min, (long long)best.pairs, (long long)best.total,
                         (long long)best.min);
            assert_feasible(&in, &r);
            assert_reasons(&in, &r);
            assert_certified(p, &o, &r);
            if (!pins && !excl) {
                int32_t w[BRUTE_MAX_EDGES];
                tdm_assign_dense d;
                dense_of(&in, w, &d);
                tdm_assign_result rd;
                assert_int_equal(tdm_assign_solve_dense(&d, &o, &rd), TDM_ASSIGN_OK);
                assert_int_equal(brute_cmp(brute_value(&rd), best, o.objective), 0);
                assert_feasible(&in, &rd);
                assert_reasons(&in, &rd);
                assert_certified(p, &o, &rd); /* the dense solve certifies on the problem */
                tdm_assign_result_free(&rd);
            }
            tdm_assign_result_free(&r);
        }
        tdm_assign_problem_free(p);
    }
}

static void optimal_matches_brute_force_with_ties(void **state)
{
    (void)state;
    run_random(1, 1500, 4, 6, 3, false, false);
}

static void optimal_matches_brute_force_wide_weights(void **state)
{
    (void)state;
    run_random(2, 1500, 5, 6, 100, false, false);
}

static void optimal_keeps_pins_and_exclusions_exactly(void **state)
{
    (void)state;
    run_random(3, 1500, 4, 7, 10, true, true);
}

static void rectangular_both_ways(void **state)
{
    (void)state;
    run_random(4, 400, 6, 2, 50, false, false); /* more mentors than mentees */
    run_random(5, 400, 2, 7, 50, true, false);  /* more mentees than seats */
}

static void empty_and_edgeless_problems(void **state)
{
    (void)state;
    uint32_t sizes[][2] = {{0, 0}, {0, 5}, {5, 0}, {3, 4}};
    for (size_t k = 0; k < 4; k++) {
        tdm_assign_problem *p;
        assert_int_equal(tdm_assign_problem_new(sizes[k][0], sizes[k][1], NULL, &p), TDM_ASSIGN_OK);
        for (size_t q = 0; q < 3; q++) {
            tdm_assign_options o;
            tdm_assign_options_init(&o);
            o.objective = OBJECTIVES[q];
            tdm_assign_result r;
            assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_OK);
            assert_int_equal(r.n_pairs, 0);
            assert_int_equal(r.total_weight, 0);
            assert_int_equal(r.n_unmatched, sizes[k][1]);
            for (uint32_t j = 0; j < sizes[k][1]; j++)
                assert_int_equal(r.reason[j], TDM_ASSIGN_NO_ADMISSIBLE_MENTOR);
            assert_certified(p, &o, &r);
            tdm_assign_result_free(&r);
        }
        tdm_assign_problem_free(p);
    }
}

static void participation_beats_score_and_maximin_raises_the_worst(void **state)
{
    (void)state;
    /* Mentor 0 fits both mentees; mentor 1 only mentee 1, badly. */
    tdm_assign_problem *p;
    assert_int_equal(tdm_assign_problem_new(2, 2, NULL, &p), TDM_ASSIGN_OK);
    tdm_assign_edge e[] = {{0, 0, 90}, {0, 1, 95}, {1, 1, 10}};
    assert_int_equal(tdm_assign_problem_add_edges(p, e, 3), TDM_ASSIGN_OK);
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    o.objective = TDM_ASSIGN_MAX_SCORE;
    assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_OK);
    assert_int_equal(r.total_weight, 100); /* 90 + 10 beats 95 alone */
    tdm_assign_result_free(&r);
    assert_int_equal(tdm_assign_problem_add_edges(p, (tdm_assign_edge[]){{1, 0, 40}}, 1),
                     TDM_ASSIGN_OK);
    o.objective = TDM_ASSIGN_MAXIMIN; /* (0,0)+(1,1) min 10; (0,1)+(1,0) min 40 */
    assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_OK);
    assert_int_equal(r.min_weight, 40);
    assert_int_equal(r.total_weight, 135);
    assert_certified(p, &o, &r);
    tdm_assign_result_free(&r);
    tdm_assign_problem_free(p);
}

static void bad_input_is_refused_with_a_message(void **state)
{
    (void)state;
    tdm_assign_problem *p;
    uint32_t cap[2] = {1, 1};
    assert_int_equal(tdm_assign_problem_new(2, 2, cap, &p), TDM_ASSIGN_OK);
    tdm_assign_edge bad_mentor = {5, 0, 1};
    assert_int_equal(tdm_assign_problem_add_edges(p, &bad_mentor, 1), TDM_ASSIGN_E_INVALID);
    assert_non_null(strstr(tdm_assign_problem_error(p), "mentor 5 out of range"));
    tdm_assign_edge bad_weight = {0, 0, -3};
    assert_int_equal(tdm_assign_problem_add_edges(p, &bad_weight, 1), TDM_ASSIGN_E_INVALID);
    tdm_assign_edge dup[] = {{0, 1, 3}, {0, 1, 4}};
    assert_int_equal(tdm_assign_problem_add_edges(p, dup, 2), TDM_ASSIGN_OK);
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_E_DUPLICATE);
    assert_non_null(strstr(tdm_assign_problem_error(p), "given twice"));
    tdm_assign_result_free(&r);
    tdm_assign_problem_free(p);

    assert_int_equal(tdm_assign_problem_new(1, 2, NULL, &p), TDM_ASSIGN_OK);
    assert_int_equal(tdm_assign_problem_pin(p, 0, 0, 5), TDM_ASSIGN_OK);
    assert_int_equal(tdm_assign_problem_pin(p, 0, 1, 5), TDM_ASSIGN_OK);
    assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_E_PIN);
    assert_non_null(strstr(tdm_assign_problem_error(p), "more pins than capacity"));
    tdm_assign_problem_free(p);

    tdm_assign_dense d = {1, 1, (int32_t[]){-7}, NULL, NULL};
    assert_int_equal(tdm_assign_solve_dense(&d, &o, &r), TDM_ASSIGN_E_INVALID);
}

/* A raised cancel flag stops a dense solve (the matching worker raises it when the
 * run's lease is lost) with its own status and no result; lowered, the same solve
 * completes. */
static void a_raised_cancel_flag_stops_the_dense_solve(void **state)
{
    (void)state;
    enum { N = 200 };
    static int32_t w[N * N];
    for (uint32_t k = 0; k < N * N; k++)
        w[k] = (int32_t)((k * 2654435761u) % 1000u);
    atomic_bool cancel = true;
    tdm_assign_dense d = {N, N, w, NULL, &cancel};
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    assert_int_equal(tdm_assign_solve_dense(&d, &o, &r), TDM_ASSIGN_E_CANCELLED);
    assert_null(r.mentor_of);
    assert_string_equal(tdm_assign_strerror(TDM_ASSIGN_E_CANCELLED), "cancelled");
    tdm_assign_result_free(&r);
    atomic_store(&cancel, false);
    assert_int_equal(tdm_assign_solve_dense(&d, &o, &r), TDM_ASSIGN_OK);
    assert_int_equal(r.n_pairs, N);
    tdm_assign_result_free(&r);
}

static double thread_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The flag is read in every phase that scans rows, not only between augmentations: with
 * mentors of several seats the reduction before the first augmentation (32 passes over
 * the mentees) and the lists of best mentors are most of a solve, and a replica that
 * lost its run's lease spent seconds of CPU in them before it looked. Raised before the
 * call, the solve now stops after checking its input: it costs a small part of a
 * completed solve of the same matrix (a ratio, so the machine's speed does not
 * matter). */
static void a_raised_cancel_flag_stops_every_phase_of_the_dense_solve(void **state)
{
    (void)state;
    enum { NM = 600, NE = 1800 };
    int32_t *w = malloc(sizeof *w * NM * NE);
    uint32_t *cap = malloc(sizeof *cap * NM);
    assert_non_null(w);
    assert_non_null(cap);
    for (uint32_t k = 0; k < NM * NE; k++)
        w[k] = (int32_t)((k * 2654435761u) % 1000u);
    for (uint32_t i = 0; i < NM; i++)
        cap[i] = 3;
    atomic_bool cancel = false;
    tdm_assign_dense d = {NM, NE, w, cap, &cancel};
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    double t0 = thread_cpu_seconds();
    assert_int_equal(tdm_assign_solve_dense(&d, &o, &r), TDM_ASSIGN_OK);
    double full = thread_cpu_seconds() - t0;
    tdm_assign_result_free(&r);
    atomic_store(&cancel, true);
    t0 = thread_cpu_seconds();
    assert_int_equal(tdm_assign_solve_dense(&d, &o, &r), TDM_ASSIGN_E_CANCELLED);
    double cancelled = thread_cpu_seconds() - t0;
    tdm_assign_result_free(&r);
    fprintf(stderr, "dense %ux%u: completed %.3f CPU-s, cancelled before the call %.3f CPU-s\n", NM,
            NE, full, cancelled);
    assert_true(cancelled < full / 10);
    free(w);
    free(cap);
}

static void checker_rejects_a_suboptimal_result(void **state)
{
    (void)state;
    tdm_assign_problem *p;
    assert_int_equal(tdm_assign_problem_new(2, 2, NULL, &p), TDM_ASSIGN_OK);
    tdm_assign_edge e[] = {{0, 0, 9}, {0, 1, 5}, {1, 0, 5}, {1, 1, 1}};
    assert_int_equal(tdm_assign_problem_add_edges(p, e, 4), TDM_ASSIGN_OK);
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    assert_int_equal(tdm_assign_solve(p, &o, &r), TDM_ASSIGN_OK);
    assert_int_equal(r.total_weight, 10);
    assert_certified(p, &o, &r);
    r.mentee_dual[0] -= 1; /* a dual that no longer covers its edges */
    char why[128];
    assert_int_equal(tdm_assign_check_duals(p, &o, &r, why, sizeof why), TDM_ASSIGN_E_NOT_OPTIMAL);
    tdm_assign_result_free(&r);
    tdm_assign_problem_free(p);
}

/* Medium instances: dense and sparse solvers agree and both certify. */
static void dense_and_sparse_agree_on_medium_instances(void **state)
{
    (void)state;
    uint64_t rng = 77;
    for (int round = 0; round < 40; round++) {
        uint32_t nm = 1 + (uint32_t)(brute_rand(&rng) % 60);
        uint32_t ne = 1 + (uint32_t)(brute_rand(&rng) % 80);
        uint32_t *cap = malloc(sizeof *cap * nm);
        int32_t *w = malloc(sizeof *w * nm * ne);
        for (uint32_t i = 0; i < nm; i++)
            cap[i] = 1 + (uint32_t)(brute_rand(&rng) % 3);
        tdm_assign_problem *p;
        assert_int_equal(tdm_assign_problem_new(nm, ne, cap, &p), TDM_ASSIGN_OK);
        for (uint32_t j = 0; j < ne; j++)
            for (uint32_t i = 0; i < nm; i++) {
                bool edge = brute_rand(&rng) % 4 != 0;
                w[j * nm + i] = edge ? (int32_t)(brute_rand(&rng) % 101) : TDM_ASSIGN_DENSE_NONE;
                if (edge)
                    tdm_assign_problem_add_edges(p, &(tdm_assign_edge){i, j, w[j * nm + i]}, 1);
            }
        tdm_assign_dense d = {nm, ne, w, cap, NULL};
        for (size_t k = 0; k < 3; k++) {
            tdm_assign_options o;
            tdm_assign_options_init(&o);
            o.objective = OBJECTIVES[k];
            tdm_assign_result a, b;
            assert_int_equal(tdm_assign_solve(p, &o, &a), TDM_ASSIGN_OK);
            assert_int_equal(tdm_assign_solve_dense(&d, &o, &b), TDM_ASSIGN_OK);
            assert_int_equal(brute_cmp(brute_value(&a), brute_value(&b), o.objective), 0);
            assert_certified(p, &o, &a);
            assert_certified(p, &o, &b);
            tdm_assign_result_free(&a);
            tdm_assign_result_free(&b);
        }
        tdm_assign_problem_free(p);
        free(cap);
        free(w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(optimal_matches_brute_force_with_ties),
        cmocka_unit_test(optimal_matches_brute_force_wide_weights),
        cmocka_unit_test(optimal_keeps_pins_and_exclusions_exactly),
        cmocka_unit_test(rectangular_both_ways),
        cmocka_unit_test(empty_and_edgeless_problems),
        cmocka_unit_test(participation_beats_score_and_maximin_raises_the_worst),
        cmocka_unit_test(bad_input_is_refused_with_a_message),
        cmocka_unit_test(checker_rejects_a_suboptimal_result),
        cmocka_unit_test(a_raised_cancel_flag_stops_the_dense_solve),
        cmocka_unit_test(a_raised_cancel_flag_stops_every_phase_of_the_dense_solve),
        cmocka_unit_test(dense_and_sparse_agree_on_medium_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
