/*
 * check.c - certificates: the dual check of an OPTIMAL result, and blocking pairs.
 *
 * tdm_assign_check_duals() trusts nothing the solver computed except the numbers it
 * returned. It rebuilds the reduced problem (pins out, exclusions and pairs below
 * min_weight dropped), checks that the transform w' = w * scale + offset really encodes
 * the objective lexicographically (see solve.c), then checks
 *   primal feasibility:   every pair is an edge (of weight >= threshold), each mentee has
 *                         at most one mentor, each mentor at most its residual capacity;
 *   dual feasibility:     u >= 0, v >= 0, u_j + v_i >= w'_ij on every edge;
 *   complementary slack:  u_j + v_i = w'_ij on every pair, u_j = 0 for an unmatched
 *                         mentee, v_i = 0 for a mentor with a free seat.
 * Together they give sum w'x = sum u + sum c v: the primal value equals a dual bound, so
 * no assignment does better (weak duality), in exact integers.
 */
#include "engine.h"

#include <inttypes.h>
#include <string.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (why != NULL && why_len > 0)                                                            \
            snprintf(why, why_len, __VA_ARGS__);                                                   \
        st = TDM_ASSIGN_E_NOT_OPTIMAL;                                                             \
        goto done;                                                                                 \
    } while (0)

static uint64_t max_pairs(const tdm__graph *g)
{
    uint64_t seats = 0, free_mentees = g->n_mentees - g->n_pins;
    for (uint32_t i = 0; i < g->n_mentors; i++)
        seats += g->capacity[i];
    return seats < free_mentees ? seats : free_mentees;
}

static bool transform_ok(const tdm__graph *g, const tdm_assign_options *o,
                         const tdm_assign_result *r)
{
    int64_t kmax = (int64_t)max_pairs(g), bound;
    if (o->objective == TDM_ASSIGN_MAX_SCORE) {
        /* one unit of weight (scale) must outweigh any number of pairs (<= kmax * offset) */
        return r->dual_offset >= 1 && r->dual_threshold <= o->min_weight &&
               !__builtin_mul_overflow(kmax, r->dual_offset, &bound) && r->dual_scale > bound;
    }
    /* one more pair (offset) must outweigh any total weight (<= kmax * W) */
    if (r->dual_scale != 1 || __builtin_mul_overflow(kmax, g->max_w, &bound) ||
        r->dual_offset <= bound)
        return false;
    /* a threshold up to min_weight removes nothing the graph still has */
    return o->objective == TDM_ASSIGN_MAXIMIN || r->dual_threshold <= o->min_weight;
}

tdm_assign_status tdm_assign_check_duals(const tdm_assign_problem *p, const tdm_assign_options *o,
                                         const tdm_assign_result *r, char *why, size_t why_len)
{
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    tdm__graph g;
    char err[sizeof p->error];
    tdm_assign_status st = tdm__graph_build(p, o, &g, err, sizeof err);
    if (st != TDM_ASSIGN_OK) {
        if (why != NULL && why_len > 0)
            snprintf(why, why_len, "%s", err);
        return st;
    }
    uint32_t *load = calloc((size_t)g.n_mentors + 1, sizeof *load);
    if (load == NULL) {
        tdm__graph_free(&g);
        return TDM_ASSIGN_E_NOMEM;
    }
    const int64_t *u = r->mentee_dual, *v = r->mentor_dual;
    int64_t scale = r->dual_scale, offset = r->dual_offset, thr = r->dual_threshold;
    if (u == NULL || v == NULL || r->mentor_of == NULL)
        FAIL("the result carries no duals");
    if (r->n_mentors != g.n_mentors || r->n_mentees != g.n_mentees)
        FAIL("result sizes differ from the problem");
    if (!transform_ok(&g, o, r))
        FAIL("weight transform (scale %" PRId64 ", offset %" PRId64
             ") does not encode the objective",
             scale, offset);
    int64_t total = 0;
    for (uint32_t j = 0; j < g.n_mentees; j++) {
        int32_t m = r->mentor_of[j];
        if (g.pin_mentor[j] >= 0) {
            if (m != g.pin_mentor[j])
                FAIL("mentee %" PRIu32 " lost its pin", j);
            total += g.pin_weight[j];
            continue;
        }
        if (m < 0) {
            if (u[j] != 0)
                FAIL("unmatched mentee %" PRIu32 " has dual %" PRId64 " != 0", j, u[j]);
            continue;
        }
        if ((uint32_t)m >= g.n_mentors)
            FAIL("mentee %" PRIu32 ": mentor %" PRId32 " out of range", j, m);
        int64_t w = tdm__graph_weight(&g, (uint32_t)m, j);
        if (w < 0 || w < thr)
            FAIL("pair (%" PRId32 ", %" PRIu32 ") is not an admissible edge", m, j);
        if (++load[m] > g.capacity[m])
            FAIL("mentor %" PRId32 " over capacity", m);
        total += w;
        if (u[j] + v[m] != w * scale + offset)
            FAIL("pair (%" PRId32 ", %" PRIu32 ") not tight: %" PRId64 " + %" PRId64 " != %" PRId64,
                 m, j, u[j], v[m], w * scale + offset);
    }
    if (total != r->total_weight)
        FAIL("total %" PRId64 " differs from the pairs' sum %" PRId64, r->total_weight, total);
    for (uint32_t i = 0; i < g.n_mentors; i++) {
        if (v[i] < 0)
            FAIL("mentor %" PRIu32 " has a negative dual", i);
        if (v[i] > 0 && load[i] < g.capacity[i])
            FAIL("mentor %" PRIu32 " has a free seat and dual %" PRId64 " > 0", i, v[i]);
    }
    for (uint32_t j = 0; j < g.n_mentees; j++) {
        if (u[j] < 0)
            FAIL("mentee %" PRIu32 " has a negative dual", j);
        if (g.pin_mentor[j] >= 0)
            continue;
        for (size_t e = g.row[j]; e < g.row[j + 1]; e++) {
            if (g.w[e] < thr)
                continue;
            if (u[j] + v[g.col[e]] < g.w[e] * scale + offset)
                FAIL("edge (%" PRIu32 ", %" PRIu32 ") violates its dual constraint", g.col[e], j);
        }
    }
done:
    free(load);
    tdm__graph_free(&g);
    return st;
}

size_t tdm_assign_blocking_pairs(const tdm_assign_problem *p, const tdm_assign_options *o,
                                 const tdm_assign_result *r)
{
    tdm__graph g;
    char err[sizeof p->error];
    if (tdm__graph_build(p, o, &g, err, sizeof err) != TDM_ASSIGN_OK)
        return SIZE_MAX;
    size_t blocking = SIZE_MAX;
    uint32_t *load = calloc((size_t)g.n_mentors + 1, sizeof *load);
    int64_t *worst = malloc(sizeof *worst * ((size_t)g.n_mentors + 1));
    int64_t *mine = malloc(sizeof *mine * ((size_t)g.n_mentees + 1));
    if (!load || !worst || !mine || r->n_mentees != g.n_mentees)
        goto done;
    for (uint32_t i = 0; i < g.n_mentors; i++)
        worst[i] = INT64_MAX;
    for (uint32_t j = 0; j < g.n_mentees; j++) {
        int32_t m = r->mentor_of[j];
        mine[j] = -1;
        if (m < 0 || g.pin_mentor[j] >= 0)
            continue;
        int64_t w = tdm__graph_weight(&g, (uint32_t)m, j);
        if (w < 0)
            goto done; /* not an edge: not a result of this problem */
        mine[j] = w;
        load[m]++;
        if (w < worst[m])
            worst[m] = w;
    }
    blocking = 0;
    for (uint32_t j = 0; j < g.n_mentees; j++) {
        if (g.pin_mentor[j] >= 0)
            continue;
        for (size_t e = g.row[j]; e < g.row[j + 1]; e++) {
            uint32_t i = g.col[e];
            if ((int32_t)i == r->mentor_of[j] || g.w[e] <= mine[j])
                continue;
            if (load[i] < g.capacity[i] || g.w[e] > worst[i])
                blocking++;
        }
    }
done:
    free(load);
    free(worst);
    free(mine);
    tdm__graph_free(&g);
    return blocking;
}
