/*
 * test_priced.c - the sparse pricing loop reaches the dense optimum: on medium instances
 * with score-like weights (popular mentors, so top-K candidates alone are not enough),
 * inadmissible pairs, capacities and min_weight, tdm_assign_solve_priced() must certify
 * and agree with the dense solver, and its duals must pass the full problem's check.
 * And on wide instances (128+ mentors, so the dense solver's per-row candidate lists of
 * 16 and their deferred full scans are what runs, with seats barely above mentees, the
 * case that made those lists worth having) the dense solver agrees with the sparse one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "brute.h"

typedef struct matrix_ctx {
    uint32_t nm, ne;
    int32_t *w; /* mentee-major, TDM_ASSIGN_DENSE_NONE when inadmissible */
} matrix_ctx;

static int64_t matrix_score(void *ctx, uint32_t mentor, uint32_t mentee, bool *admissible)
{
    const matrix_ctx *m = ctx;
    int32_t w = m->w[(size_t)mentee * m->nm + mentor];
    *admissible = w != TDM_ASSIGN_DENSE_NONE;
    return *admissible ? w : 0;
}

static void fill_scores(matrix_ctx *m, uint64_t *rng, uint32_t holes_percent)
{
    int32_t *pop = malloc(sizeof *pop * m->nm);
    for (uint32_t i = 0; i < m->nm; i++)
        pop[i] = (int32_t)(brute_rand(rng) % 50); /* popularity: everyone likes the same few */
    for (uint32_t j = 0; j < m->ne; j++)
        for (uint32_t i = 0; i < m->nm; i++) {
            int32_t s = pop[i] + (int32_t)(brute_rand(rng) % 51);
            bool hole = brute_rand(rng) % 100 < holes_percent;
            m->w[(size_t)j * m->nm + i] = hole ? TDM_ASSIGN_DENSE_NONE : s;
        }
    free(pop);
}

/* A random size (a minimum plus up to span - 1 more of each side), its weight matrix
 * (unfilled) and capacities from cap_min to 3; the caller frees the capacities and m->w. */
static uint32_t *instance_new(matrix_ctx *m, uint64_t *rng, uint32_t nm_min, uint32_t nm_span,
                              uint32_t ne_min, uint32_t ne_span, uint32_t cap_min)
{
    m->nm = nm_min + (uint32_t)(brute_rand(rng) % nm_span);
    m->ne = ne_min + (uint32_t)(brute_rand(rng) % ne_span);
    m->w = malloc(sizeof *m->w * m->nm * m->ne);
    uint32_t *cap = malloc(sizeof *cap * m->nm);
    for (uint32_t i = 0; i < m->nm; i++)
        cap[i] = cap_min + (uint32_t)(brute_rand(rng) % (4 - cap_min));
    return cap;
}

/* The priced solver's input for m, on two threads. */
static tdm_assign_pricing pricing_of(matrix_ctx *m, const uint32_t *cap, uint32_t k, uint32_t k2)
{
    return (tdm_assign_pricing){.n_mentors = m->nm,
                                .n_mentees = m->ne,
                                .capacity = cap,
                                .score = matrix_score,
                                .ctx = m,
                                .mentee_top_k = k,
                                .mentor_top_k = k2,
                                .threads = 2};
}

static tdm_assign_problem *problem_of(const matrix_ctx *m, const uint32_t *cap)
{
    tdm_assign_problem *p;
    if (tdm_assign_problem_new(m->nm, m->ne, cap, &p) != TDM_ASSIGN_OK)
        return NULL;
    for (uint32_t j = 0; j < m->ne; j++)
        for (uint32_t i = 0; i < m->nm; i++) {
            int32_t w = m->w[(size_t)j * m->nm + i];
            if (w != TDM_ASSIGN_DENSE_NONE)
                tdm_assign_problem_add_edges(p, &(tdm_assign_edge){i, j, w}, 1);
        }
    return p;
}

static void priced_agrees_with_dense_and_certifies(void **state)
{
    (void)state;
    uint64_t rng = 2024, added = 0, rounds = 0;
    for (int round = 0; round < 24; round++) {
        matrix_ctx m;
        uint32_t *cap = instance_new(&m, &rng, 5, 60, 5, 120, 0);
        fill_scores(&m, &rng, round % 3 == 0 ? 40 : 5);
        tdm_assign_problem *p = problem_of(&m, cap);
        assert_non_null(p);
        tdm_assign_dense d = {m.nm, m.ne, m.w, cap, NULL};
        for (int obj = 0; obj < 2; obj++) {
            tdm_assign_options o;
            tdm_assign_options_init(&o);
            o.objective = obj ? TDM_ASSIGN_MAX_SCORE : TDM_ASSIGN_MAX_PARTICIPATION;
            o.min_weight = round % 4 == 1 ? 30 : 0;
            tdm_assign_pricing pr = pricing_of(&m, cap, 1 + round % 3, 1 + round % 2);
            tdm_assign_result a, b;
            assert_int_equal(tdm_assign_solve_priced(&pr, &o, &a), TDM_ASSIGN_OK);
            assert_true(a.stats.certified);
            added += a.stats.pairs_added;
            rounds += a.stats.pricing_rounds;
            assert_int_equal(tdm_assign_solve_dense(&d, &o, &b), TDM_ASSIGN_OK);
            assert_int_equal(a.n_pairs, b.n_pairs);
            assert_int_equal(a.total_weight, b.total_weight);
            char why[256];
            if (tdm_assign_check_duals(p, &o, &a, why, sizeof why) != TDM_ASSIGN_OK)
                fail_msg("round %d: priced duals do not certify the full problem: %s", round, why);
            for (uint32_t j = 0; j < m.ne; j++) /* optima may differ; reasons may not */
                if (a.mentor_of[j] < 0 && b.mentor_of[j] < 0)
                    assert_int_equal(a.reason[j], b.reason[j]);
            tdm_assign_result_free(&a);
            tdm_assign_result_free(&b);
        }
        tdm_assign_problem_free(p);
        free(cap);
        free(m.w);
    }
    print_message("pricing: %llu pairs added over %llu rounds\n", (unsigned long long)added,
                  (unsigned long long)rounds);
    assert_true(added > 0 && rounds > 48); /* the loop really had work to do */
}

static void dense_agrees_with_sparse_on_wide_instances(void **state)
{
    (void)state;
    static const tdm_assign_objective objectives[] = {TDM_ASSIGN_MAX_PARTICIPATION,
                                                      TDM_ASSIGN_MAX_SCORE, TDM_ASSIGN_MAXIMIN};
    uint64_t rng = 77;
    for (int round = 0; round < 6; round++) {
        matrix_ctx m;
        m.nm = 128 + (uint32_t)(brute_rand(&rng) % 129);
        uint32_t *cap = malloc(sizeof *cap * m.nm);
        uint32_t seats = 0;
        for (uint32_t i = 0; i < m.nm; i++) {
            cap[i] = 1 + (uint32_t)(brute_rand(&rng) % 3);
            seats += cap[i];
        }
        /* Seats a little above, equal to, or below the mentees in turn. */
        m.ne = round % 3 == 0 ? seats - seats / 50 : round % 3 == 1 ? seats : seats + 7;
        m.w = malloc(sizeof *m.w * m.nm * m.ne);
        fill_scores(&m, &rng, round % 2 == 0 ? 30 : 3);
        tdm_assign_problem *p = problem_of(&m, cap);
        assert_non_null(p);
        tdm_assign_dense d = {m.nm, m.ne, m.w, cap, NULL};
        for (size_t k = 0; k < sizeof objectives / sizeof *objectives; k++) {
            tdm_assign_options o;
            tdm_assign_options_init(&o);
            o.objective = objectives[k];
            o.min_weight = round == 4 ? 25 : 0;
            tdm_assign_result a, b;
            assert_int_equal(tdm_assign_solve(p, &o, &a), TDM_ASSIGN_OK);
            assert_int_equal(tdm_assign_solve_dense(&d, &o, &b), TDM_ASSIGN_OK);
            value va = brute_value(&a), vb = brute_value(&b);
            if (brute_cmp(va, vb, o.objective) != 0)
                fail_msg("round %d (%u x %u) objective %d: sparse (%lld,%lld,%lld) dense "
                         "(%lld,%lld,%lld)",
                         round, m.nm, m.ne, (int)o.objective, (long long)va.pairs,
                         (long long)va.total, (long long)va.min, (long long)vb.pairs,
                         (long long)vb.total, (long long)vb.min);
            char why[256];
            if (tdm_assign_check_duals(p, &o, &a, why, sizeof why) != TDM_ASSIGN_OK)
                fail_msg("round %d: sparse duals do not certify: %s", round, why);
            if (tdm_assign_check_duals(p, &o, &b, why, sizeof why) != TDM_ASSIGN_OK)
                fail_msg("round %d: dense duals do not certify: %s", round, why);
            uint32_t *used = calloc(m.nm, sizeof *used);
            for (uint32_t j = 0; j < m.ne; j++) {
                int32_t i = b.mentor_of[j];
                if (i < 0)
                    continue;
                assert_true(m.w[(size_t)j * m.nm + (uint32_t)i] != TDM_ASSIGN_DENSE_NONE);
                assert_true(m.w[(size_t)j * m.nm + (uint32_t)i] >= o.min_weight);
                assert_true(++used[i] <= cap[i]);
            }
            free(used);
            tdm_assign_result_free(&a);
            tdm_assign_result_free(&b);
        }
        tdm_assign_problem_free(p);
        free(cap);
        free(m.w);
    }
}

static void pricing_adds_pairs_that_top_k_missed(void **state)
{
    (void)state;
    /* Two mentors, everyone's first choice is mentor 0: with K = 1 the candidate graph has
     * mentor 1 only through its own top K' and the backbone; pricing must close the gap. */
    matrix_ctx m = {2, 6, NULL};
    m.w = malloc(sizeof *m.w * 12);
    for (uint32_t j = 0; j < 6; j++) {
        m.w[j * 2 + 0] = 90 + (int32_t)j;
        m.w[j * 2 + 1] = 10 + 7 * (int32_t)j % 13;
    }
    uint32_t cap[2] = {3, 3};
    tdm_assign_pricing pr = {.n_mentors = 2,
                             .n_mentees = 6,
                             .capacity = cap,
                             .score = matrix_score,
                             .ctx = &m,
                             .mentee_top_k = 1,
                             .mentor_top_k = 1,
                             .threads = 1};
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result a, b;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &a), TDM_ASSIGN_OK);
    tdm_assign_dense d = {2, 6, m.w, cap, NULL};
    assert_int_equal(tdm_assign_solve_dense(&d, &o, &b), TDM_ASSIGN_OK);
    assert_true(a.stats.certified);
    assert_int_equal(a.n_pairs, 6);
    assert_int_equal(a.total_weight, b.total_weight);
    tdm_assign_result_free(&a);
    tdm_assign_result_free(&b);
    free(m.w);
}

/* Flat scores with many exact ties (a few popularity levels, little noise): the duals
 * move most between rounds here, which is where the block bounds prune hardest. Every
 * block size, and no blocks, must reach the same certified optimum, and the bounds
 * must spare score calls, never add them. */
static void block_bounds_keep_the_optimum_on_flat_scores(void **state)
{
    (void)state;
    uint64_t rng = 2311, scored_off = 0, scored_on = 0;
    static const uint32_t blocks[] = {1, 4, 64, 0};
    for (int round = 0; round < 16; round++) {
        matrix_ctx m;
        uint32_t *cap = instance_new(&m, &rng, 20, 60, 40, 200, 1);
        for (uint32_t j = 0; j < m.ne; j++)
            for (uint32_t i = 0; i < m.nm; i++) {
                bool hole = brute_rand(&rng) % 100 < (round % 2 ? 20u : 0u);
                int32_t s = 60 + (int32_t)(i % 3) * 2 + (int32_t)(brute_rand(&rng) % 3);
                m.w[(size_t)j * m.nm + i] = hole ? TDM_ASSIGN_DENSE_NONE : s;
            }
        tdm_assign_problem *p = problem_of(&m, cap);
        assert_non_null(p);
        tdm_assign_options o;
        tdm_assign_options_init(&o);
        o.objective = round % 3 == 2 ? TDM_ASSIGN_MAX_PARTICIPATION : TDM_ASSIGN_MAX_SCORE;
        o.min_weight = round % 4 == 1 ? 62 : 0;
        tdm_assign_pricing pr = pricing_of(&m, cap, 2, 2);
        pr.bound_block = TDM_ASSIGN_NO_BOUND_BLOCKS;
        tdm_assign_result base;
        assert_int_equal(tdm_assign_solve_priced(&pr, &o, &base), TDM_ASSIGN_OK);
        assert_true(base.stats.certified);
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            pr.bound_block = blocks[b];
            tdm_assign_result a;
            assert_int_equal(tdm_assign_solve_priced(&pr, &o, &a), TDM_ASSIGN_OK);
            assert_true(a.stats.certified);
            assert_int_equal(a.n_pairs, base.n_pairs);
            assert_int_equal(a.total_weight, base.total_weight);
            char why[256];
            if (tdm_assign_check_duals(p, &o, &a, why, sizeof why) != TDM_ASSIGN_OK)
                fail_msg("round %d, block %u: duals do not certify: %s", round, blocks[b], why);
            if (blocks[b] == 1) {
                scored_off += base.stats.pairs_scored;
                scored_on += a.stats.pairs_scored;
            }
            tdm_assign_result_free(&a);
        }
        tdm_assign_result_free(&base);
        tdm_assign_problem_free(p);
        free(cap);
        free(m.w);
    }
    print_message("block bounds: %llu score calls without, %llu with blocks of one\n",
                  (unsigned long long)scored_off, (unsigned long long)scored_on);
    assert_true(scored_on < scored_off);
}

/* Seats exactly the mentees (every mentee must be seated, the case of a national
 * programme), flat scores with many exact ties and tiny candidate lists: the first
 * pricing round touches most mentees, so the re-solve is cold, and rounds add only the
 * most violated pairs of each mentee. The sparse solver on the full problem has rows of
 * 40+ mentors, so its searches scan rows lazily. Each must reach the dense optimum with
 * duals that certify the full problem. */
static void cold_resolve_partial_pricing_and_lazy_rows_keep_the_optimum(void **state)
{
    (void)state;
    uint64_t rng = 4242, cold = 0;
    for (int round = 0; round < 12; round++) {
        matrix_ctx m;
        m.nm = 40 + (uint32_t)(brute_rand(&rng) % 40);
        uint32_t *cap = malloc(sizeof *cap * m.nm);
        uint32_t seats = 0;
        for (uint32_t i = 0; i < m.nm; i++) {
            cap[i] = 1 + (uint32_t)(brute_rand(&rng) % 3);
            seats += cap[i];
        }
        m.ne = round % 3 == 2 ? seats - 3 : seats;
        m.w = malloc(sizeof *m.w * m.nm * m.ne);
        for (uint32_t j = 0; j < m.ne; j++)
            for (uint32_t i = 0; i < m.nm; i++) {
                bool hole = round % 4 == 3 && brute_rand(&rng) % 100 < 10;
                int32_t s = 60 + (int32_t)(i % 4) * 2 + (int32_t)(brute_rand(&rng) % 3);
                m.w[(size_t)j * m.nm + i] = hole ? TDM_ASSIGN_DENSE_NONE : s;
            }
        tdm_assign_problem *p = problem_of(&m, cap);
        assert_non_null(p);
        tdm_assign_dense d = {m.nm, m.ne, m.w, cap, NULL};
        for (int obj = 0; obj < 2; obj++) {
            tdm_assign_options o;
            tdm_assign_options_init(&o);
            o.objective = obj ? TDM_ASSIGN_MAX_SCORE : TDM_ASSIGN_MAX_PARTICIPATION;
            tdm_assign_pricing pr = pricing_of(&m, cap, 1 + round % 2, 1);
            tdm_assign_result a, b, c;
            assert_int_equal(tdm_assign_solve_priced(&pr, &o, &a), TDM_ASSIGN_OK);
            assert_true(a.stats.certified);
            assert_int_equal(tdm_assign_solve_dense(&d, &o, &b), TDM_ASSIGN_OK);
            assert_int_equal(tdm_assign_solve(p, &o, &c), TDM_ASSIGN_OK);
            assert_int_equal(a.n_pairs, b.n_pairs);
            assert_int_equal(a.total_weight, b.total_weight);
            assert_int_equal(c.n_pairs, b.n_pairs);
            assert_int_equal(c.total_weight, b.total_weight);
            /* a cold re-solve runs the initialisation again: more mentees seated by it */
            cold += a.stats.init_matched > m.ne;
            char why[256];
            if (tdm_assign_check_duals(p, &o, &a, why, sizeof why) != TDM_ASSIGN_OK)
                fail_msg("round %d: priced duals do not certify: %s", round, why);
            if (tdm_assign_check_duals(p, &o, &c, why, sizeof why) != TDM_ASSIGN_OK)
                fail_msg("round %d: sparse duals do not certify: %s", round, why);
            tdm_assign_result_free(&a);
            tdm_assign_result_free(&b);
            tdm_assign_result_free(&c);
        }
        tdm_assign_problem_free(p);
        free(cap);
        free(m.w);
    }
    print_message("cold re-solves in %llu of 24 priced solves\n", (unsigned long long)cold);
    assert_true(cold > 0);
}

typedef struct ticks {
    uint32_t solving, last_round;
    double last_routed;
    bool scan_done;
} ticks;

static ticks g_ticks; /* the callback's ctx is the score's (a matrix_ctx) */

static void count_ticks(void *ctx, const tdm_assign_progress *pg)
{
    (void)ctx;
    ticks *t = &g_ticks;
    if (!pg->solving) {
        if (pg->round == 0)
            t->scan_done = true;
        t->last_round = pg->round;
        t->last_routed = 0;
        return;
    }
    /* during a solve: after the candidates scan, for the round just reported, moving on */
    assert_true(t->scan_done);
    assert_int_equal(pg->round, t->last_round);
    assert_true(pg->routed >= t->last_routed && pg->routed <= 1.0);
    t->last_routed = pg->routed;
    t->solving++;
}

/* A solve that takes many searches reports progress while it runs, not only between
 * scans: a watching user (and the run's lease) sees the run move. */
static void progress_moves_during_the_solve(void **state)
{
    (void)state;
    uint64_t rng = 99;
    ticks *t = &g_ticks;
    matrix_ctx m;
    m.nm = 300;
    uint32_t *cap = malloc(sizeof *cap * m.nm);
    for (uint32_t i = 0; i < m.nm; i++)
        cap[i] = 3;
    m.ne = 900;
    m.w = malloc(sizeof *m.w * m.nm * m.ne);
    for (uint32_t j = 0; j < m.ne; j++)
        for (uint32_t i = 0; i < m.nm; i++)
            m.w[(size_t)j * m.nm + i] = 60 + (int32_t)(i % 4) * 2 + (int32_t)(brute_rand(&rng) % 3);
    tdm_assign_pricing pr = pricing_of(&m, cap, 2, 2);
    pr.progress = count_ticks;
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result a;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &a), TDM_ASSIGN_OK);
    assert_true(a.stats.certified);
    print_message("%u progress reports during solves, %llu searches\n", t->solving,
                  (unsigned long long)a.stats.iterations);
    assert_true(t->solving > 0);
    tdm_assign_result_free(&a);
    free(cap);
    free(m.w);
}

static void bound_block_must_be_a_small_power_of_two(void **state)
{
    (void)state;
    int32_t w[2] = {5, 7};
    matrix_ctx m = {2, 1, w};
    tdm_assign_pricing pr = {.n_mentors = 2, .n_mentees = 1, .score = matrix_score, .ctx = &m};
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    pr.bound_block = 3;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &r), TDM_ASSIGN_E_INVALID);
    pr.bound_block = 128;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &r), TDM_ASSIGN_E_INVALID);
    pr.bound_block = 2;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &r), TDM_ASSIGN_OK);
    assert_int_equal(r.total_weight, 7);
    tdm_assign_result_free(&r);
}

static void priced_refuses_maximin_and_bad_weights(void **state)
{
    (void)state;
    matrix_ctx m = {1, 1, (int32_t[]){-5}};
    tdm_assign_pricing pr = {
        .n_mentors = 1, .n_mentees = 1, .score = matrix_score, .ctx = &m, .threads = 1};
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result r;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &r), TDM_ASSIGN_E_INVALID);
    o.objective = TDM_ASSIGN_MAXIMIN;
    assert_int_equal(tdm_assign_solve_priced(&pr, &o, &r), TDM_ASSIGN_E_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(priced_agrees_with_dense_and_certifies),
        cmocka_unit_test(dense_agrees_with_sparse_on_wide_instances),
        cmocka_unit_test(pricing_adds_pairs_that_top_k_missed),
        cmocka_unit_test(priced_refuses_maximin_and_bad_weights),
        cmocka_unit_test(block_bounds_keep_the_optimum_on_flat_scores),
        cmocka_unit_test(bound_block_must_be_a_small_power_of_two),
        cmocka_unit_test(cold_resolve_partial_pricing_and_lazy_rows_keep_the_optimum),
        cmocka_unit_test(progress_moves_during_the_solve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
