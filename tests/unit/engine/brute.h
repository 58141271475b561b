/*
 * brute.h - small random assignment instances and their optimum by exhaustive search,
 * the reference the engine's tests compare against.
 */
#ifndef TANDEM_TEST_BRUTE_H
#define TANDEM_TEST_BRUTE_H

#include "tandem/assign.h"

#define BRUTE_MAX_MENTORS 6
#define BRUTE_MAX_MENTEES 7
#define BRUTE_MAX_EDGES   (BRUTE_MAX_MENTORS * BRUTE_MAX_MENTEES)

typedef struct instance {
    uint32_t nm, ne;
    uint32_t cap[BRUTE_MAX_MENTORS];
    /* weight[i][j] < 0: no edge */
    int64_t weight[BRUTE_MAX_MENTORS][BRUTE_MAX_MENTEES];
    bool excluded[BRUTE_MAX_MENTORS][BRUTE_MAX_MENTEES];
    int32_t pin[BRUTE_MAX_MENTEES]; /* pinned mentor or -1 */
    int64_t pin_weight[BRUTE_MAX_MENTEES];
    int64_t min_weight;
} instance;

/* The value of a solution, compared lexicographically in the objective's order. */
typedef struct value {
    int64_t pairs, total, min;
} value;

uint64_t brute_rand(uint64_t *s);
/* A random instance; wmax bounds weights (small values give many ties). */
void brute_random(instance *in, uint64_t *rng, uint32_t max_mentors, uint32_t max_mentees,
                  int64_t wmax, bool pins, bool exclusions);
/* The problem the engine sees for in (caller frees). */
tdm_assign_problem *brute_problem(const instance *in);
/* The best value over all feasible assignments. */
value brute_best(const instance *in, tdm_assign_objective obj);
/* The value of a result, recomputed from its pairs. */
value brute_value(const tdm_assign_result *r);
/* -1, 0, 1 comparing a and b under obj. */
int brute_cmp(value a, value b, tdm_assign_objective obj);
/* true when w is admissible for the solver (edge, not excluded, >= min_weight, not pinned) */
bool brute_admissible(const instance *in, uint32_t i, uint32_t j);

#endif
