/*
 * test_stable.c - STABLE has no blocking pair and respects capacities and pins; it is
 * reproducible from its seed; GREEDY is feasible; OPTIMAL's blocking pairs are counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "brute.h"

static void check_feasible(const instance *in, const tdm_assign_result *r)
{
    uint32_t load[BRUTE_MAX_MENTORS] = {0};
    for (uint32_t j = 0; j < in->ne; j++) {
        int32_t m = r->mentor_of[j];
        if (in->pin[j] >= 0) {
            assert_int_equal(m, in->pin[j]);
        } else if (m >= 0) {
            assert_true(brute_admissible(in, (uint32_t)m, j));
        } else if (r->reason[j] == TDM_ASSIGN_ALL_MENTORS_FULL) {
            bool any = false;
            for (uint32_t i = 0; i < in->nm; i++)
                any |= brute_admissible(in, i, j);
            assert_true(any);
        }
        if (m >= 0)
            load[m]++;
    }
    for (uint32_t i = 0; i < in->nm; i++)
        assert_true(load[i] <= in->cap[i]);
}

static void stable_has_no_blocking_pair(void **state)
{
    (void)state;
    uint64_t rng = 11;
    for (int round = 0; round < 3000; round++) {
        instance in;
        brute_random(&in, &rng, 5, 7, round % 2 ? 3 : 100, round % 3 == 0, round % 4 == 0);
        tdm_assign_problem *p = brute_problem(&in);
        tdm_assign_options o;
        tdm_assign_options_init(&o);
        o.seed = 1 + (uint64_t)round;
        o.min_weight = in.min_weight;
        tdm_assign_result r;
        assert_int_equal(tdm_assign_stable(p, &o, &r), TDM_ASSIGN_OK);
        assert_int_equal(r.seed, o.seed);
        check_feasible(&in, &r);
        assert_int_equal(tdm_assign_blocking_pairs(p, &o, &r), 0);
        tdm_assign_result g;
        assert_int_equal(tdm_assign_greedy(p, &o, &g), TDM_ASSIGN_OK);
        check_feasible(&in, &g);
        tdm_assign_result opt;
        assert_int_equal(tdm_assign_solve(p, &o, &opt), TDM_ASSIGN_OK);
        assert_int_equal(tdm_assign_check_duals(p, &o, &opt, NULL, 0), TDM_ASSIGN_OK);
        assert_true(tdm_assign_blocking_pairs(p, &o, &opt) != SIZE_MAX);
        /* neither STABLE nor GREEDY matches more than OPTIMAL's maximum */
        assert_true(r.n_pairs <= opt.n_pairs);
        assert_true(g.n_pairs <= opt.n_pairs);
        tdm_assign_result_free(&r);
        tdm_assign_result_free(&g);
        tdm_assign_result_free(&opt);
        tdm_assign_problem_free(p);
    }
}

static void stable_is_reproducible_from_its_seed(void **state)
{
    (void)state;
    /* Four mentees with equal scores for one mentor: the lottery decides. */
    tdm_assign_problem *p;
    assert_int_equal(tdm_assign_problem_new(1, 4, (uint32_t[]){2}, &p), TDM_ASSIGN_OK);
    for (uint32_t j = 0; j < 4; j++)
        tdm_assign_problem_add_edges(p, &(tdm_assign_edge){0, j, 50}, 1);
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    tdm_assign_result a, b;
    assert_int_equal(tdm_assign_stable(p, &o, &a), TDM_ASSIGN_OK); /* seed from the clock */
    assert_true(a.seed != 0);
    o.seed = a.seed;
    assert_int_equal(tdm_assign_stable(p, &o, &b), TDM_ASSIGN_OK);
    assert_int_equal(a.n_pairs, 2);
    assert_memory_equal(a.mentor_of, b.mentor_of, 4 * sizeof *a.mentor_of);
    tdm_assign_result_free(&a);
    tdm_assign_result_free(&b);
    tdm_assign_problem_free(p);
}

static void optimal_can_have_blocking_pairs_that_stable_removes(void **state)
{
    (void)state;
    /* OPTIMAL (max participation) pairs 0-1 and 1-0; mentee 0 and mentor 0 prefer each other. */
    tdm_assign_problem *p;
    assert_int_equal(tdm_assign_problem_new(2, 2, NULL, &p), TDM_ASSIGN_OK);
    tdm_assign_edge e[] = {{0, 0, 90}, {0, 1, 80}, {1, 0, 70}};
    tdm_assign_problem_add_edges(p, e, 3);
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    o.seed = 7;
    tdm_assign_result opt, st;
    assert_int_equal(tdm_assign_solve(p, &o, &opt), TDM_ASSIGN_OK);
    assert_int_equal(opt.n_pairs, 2);
    assert_int_equal(tdm_assign_blocking_pairs(p, &o, &opt), 1);
    assert_int_equal(tdm_assign_stable(p, &o, &st), TDM_ASSIGN_OK);
    assert_int_equal(tdm_assign_blocking_pairs(p, &o, &st), 0);
    assert_int_equal(st.total_weight, 90);
    assert_int_equal(st.reason[1], TDM_ASSIGN_ALL_MENTORS_FULL);
    tdm_assign_result_free(&opt);
    tdm_assign_result_free(&st);
    tdm_assign_problem_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stable_has_no_blocking_pair),
        cmocka_unit_test(stable_is_reproducible_from_its_seed),
        cmocka_unit_test(optimal_can_have_blocking_pairs_that_stable_removes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
