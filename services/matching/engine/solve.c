/*
 * solve.c - OPTIMAL: objectives as weight transforms over the exact solver, and results.
 *
 * Every objective is reduced to one maximum-weight assignment with integer weights
 * w' = w * scale + offset, where K is the largest number of pairs any solution can have
 * (min(mentees, seats)) and W the largest weight:
 *
 *  MAX_PARTICIPATION  scale 1, offset M = W*K + 1. sum w' = M * pairs + sum w, and
 *                     sum w <= W*K < M, so one more pair always beats any weight: the
 *                     maximum of sum w' is lexicographically (pairs, total) - exactly,
 *                     since every quantity is an integer.
 *  MAX_SCORE          scale B = K + 1, offset 1. sum w' = B * total + pairs, pairs <= K < B:
 *                     the total first, then (among equal totals) the most pairs.
 *  MAXIMIN            first the largest number of pairs P (scale 0, offset 1), then a
 *                     binary search over the distinct weights for the largest threshold T
 *                     such that the edges of weight >= T still admit P pairs (the number
 *                     of pairs is monotone in T), then MAX_PARTICIPATION on those edges.
 *                     With pins the minimum is min(pins' minimum, rest's minimum): any
 *                     threshold up to the pins' minimum gives the same minimum, so the
 *                     final solve uses min(T, pins' minimum) to leave the total the most
 *                     room. Each step is exact, so the lexicographic optimum is too.
 */
#include "engine.h"

#include <string.h>
#include <time.h>

double tdm__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t tdm__splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tdm_assign_result_free(tdm_assign_result *r)
{
    if (r == NULL)
        return;
    free(r->pairs);
    free(r->mentor_of);
    free(r->reason);
    free(r->mentee_dual);
    free(r->mentor_dual);
    memset(r, 0, sizeof *r);
}

tdm_assign_status tdm__transform(tdm_assign_objective obj, int64_t max_w, uint64_t max_pairs,
                                 uint64_t n_nodes, int64_t *scale, int64_t *offset)
{
    int64_t s = 1, off = 1, top;
    if (obj == TDM_ASSIGN_MAX_SCORE) {
        if (__builtin_add_overflow((int64_t)max_pairs, 1, &s))
            return TDM_ASSIGN_E_RANGE;
    } else if (obj == TDM_ASSIGN_MAX_PARTICIPATION) {
        if (__builtin_mul_overflow(max_w, (int64_t)max_pairs, &off) ||
            __builtin_add_overflow(off, 1, &off))
            return TDM_ASSIGN_E_RANGE;
    } else {
        s = 0; /* cardinality */
    }
    /* Potentials and path lengths stay within (nodes + 2) * max w' in absolute value;
     * keep a factor 4 of headroom for sums of two of them. */
    if (__builtin_mul_overflow(max_w, s, &top) || __builtin_add_overflow(top, off, &top) ||
        __builtin_mul_overflow(top, (int64_t)(n_nodes + 2), &top) ||
        __builtin_mul_overflow(top, 4, &top))
        return TDM_ASSIGN_E_RANGE;
    *scale = s;
    *offset = off;
    return TDM_ASSIGN_OK;
}

int64_t tdm__graph_weight(const void *ctx, uint32_t mentor, uint32_t mentee)
{
    const tdm__graph *g = ctx;
    size_t lo = g->row[mentee], hi = g->row[mentee + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->col[mid] < mentor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->row[mentee + 1] && g->col[lo] == mentor ? g->w[lo] : -1;
}

tdm_assign_status tdm__result_alloc(tdm_assign_result *r, uint32_t n_mentors, uint32_t n_mentees)
{
    r->n_mentors = n_mentors;
    r->n_mentees = n_mentees;
    r->mentor_of = malloc(sizeof *r->mentor_of * ((size_t)n_mentees + 1));
    r->reason = calloc((size_t)n_mentees + 1, 1);
    r->pairs = malloc(sizeof *r->pairs * ((size_t)n_mentees + 1));
    if (!r->mentor_of || !r->reason || !r->pairs)
        return TDM_ASSIGN_E_NOMEM;
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm__result_fill(tdm_assign_result *r, uint32_t n_mentors, uint32_t n_mentees,
                                   const int32_t *mate, tdm__weight_of weight, const void *ctx,
                                   const tdm__graph *g)
{
    tdm_assign_status st = tdm__result_alloc(r, n_mentors, n_mentees);
    if (st != TDM_ASSIGN_OK)
        return st;
    r->min_weight = INT64_MAX;
    for (uint32_t j = 0; j < n_mentees; j++) {
        int32_t m = -1;
        int64_t w = 0;
        if (g != NULL && g->pin_mentor[j] >= 0) {
            m = g->pin_mentor[j];
            w = g->pin_weight[j];
            r->reason[j] = TDM_ASSIGN_PINNED;
        } else if (mate[j] >= 0) {
            m = mate[j];
            w = weight(ctx, (uint32_t)m, j);
            if (w < 0)
                return TDM_ASSIGN_E_INTERNAL;
            r->reason[j] = TDM_ASSIGN_MATCHED;
        }
        r->mentor_of[j] = m;
        if (m < 0) {
            r->n_unmatched++;
            continue;
        }
        r->pairs[r->n_pairs++] = (tdm_assign_pair){(uint32_t)m, j, w};
        r->total_weight += w;
        if (w < r->min_weight)
            r->min_weight = w;
    }
    if (r->n_pairs == 0)
        r->min_weight = 0;
    return TDM_ASSIGN_OK;
}

void tdm__result_reasons(tdm_assign_result *r, const tdm__graph *g)
{
    for (uint32_t j = 0; j < r->n_mentees; j++) {
        if (r->mentor_of[j] >= 0)
            continue;
        uint8_t f = g->flags[j];
        if (g->row[j + 1] > g->row[j])
            r->reason[j] = TDM_ASSIGN_ALL_MENTORS_FULL;
        else if (f & TDM__HAD_EXCLUDED)
            r->reason[j] = TDM_ASSIGN_EXCLUDED;
        else if (f & TDM__HAD_BELOW_MIN)
            r->reason[j] = TDM_ASSIGN_BELOW_MIN_SCORE;
        else
            r->reason[j] = TDM_ASSIGN_NO_ADMISSIBLE_MENTOR;
    }
}

/* The edges of g with weight >= threshold, as w' = w * scale + offset. */
typedef struct wgraph {
    size_t *row;
    uint32_t *col;
    int64_t *wp;
} wgraph;

static void wgraph_free(wgraph *h)
{
    free(h->row);
    free(h->col);
    free(h->wp);
}

static tdm_assign_status wgraph_build(const tdm__graph *g, int64_t scale, int64_t offset,
                                      int64_t threshold, wgraph *h)
{
    size_t m = g->row[g->n_mentees];
    h->row = malloc(sizeof *h->row * ((size_t)g->n_mentees + 1));
    h->col = malloc(sizeof *h->col * (m + 1));
    h->wp = malloc(sizeof *h->wp * (m + 1));
    if (!h->row || !h->col || !h->wp) {
        wgraph_free(h);
        return TDM_ASSIGN_E_NOMEM;
    }
    size_t n = 0;
    for (uint32_t j = 0; j < g->n_mentees; j++) {
        h->row[j] = n;
        for (size_t e = g->row[j]; e < g->row[j + 1]; e++) {
            if (g->w[e] < threshold)
                continue;
            h->col[n] = g->col[e];
            h->wp[n++] = g->w[e] * scale + offset;
        }
    }
    h->row[g->n_mentees] = n;
    return TDM_ASSIGN_OK;
}

static uint64_t max_pairs(const tdm__graph *g)
{
    uint64_t seats = 0, free_mentees = g->n_mentees - g->n_pins;
    for (uint32_t i = 0; i < g->n_mentors; i++)
        seats += g->capacity[i];
    return seats < free_mentees ? seats : free_mentees;
}

/* One exact solve of g at (scale, offset, threshold). On success *out holds the solver
 * (caller frees) and its wgraph (caller frees). */
static tdm_assign_status solve_once(const tdm__graph *g, int64_t scale, int64_t offset,
                                    int64_t threshold, tdm__ssp **out, wgraph *h,
                                    tdm_assign_stats *stats)
{
    *out = NULL;
    tdm_assign_status st = wgraph_build(g, scale, offset, threshold, h);
    if (st != TDM_ASSIGN_OK)
        return st;
    tdm__ssp *s = tdm__ssp_new(g->n_mentors, g->n_mentees, g->capacity);
    if (s == NULL) {
        wgraph_free(h);
        return TDM_ASSIGN_E_NOMEM;
    }
    tdm__ssp_set_graph(s, h->row, h->col, h->wp);
    st = tdm__ssp_solve(s);
    stats->iterations += tdm__ssp_iterations(s);
    stats->init_matched += tdm__ssp_init_matched(s);
    stats->solves++;
    if (st != TDM_ASSIGN_OK) {
        tdm__ssp_free(s);
        wgraph_free(h);
        return st;
    }
    *out = s;
    return TDM_ASSIGN_OK;
}

static size_t count_pairs(const tdm__ssp *s, uint32_t ne)
{
    const int32_t *mate = tdm__ssp_mate(s);
    size_t n = 0;
    for (uint32_t j = 0; j < ne; j++)
        n += mate[j] >= 0;
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

tdm_assign_status tdm__maximin_search(size_t n, tdm__pairs_at pairs_at, void *ctx, size_t *best_k)
{
    uint64_t best;
    tdm_assign_status st = pairs_at(ctx, 0, &best);
    size_t lo = 0, hi = n - 1; /* invariant: the lo-th weight keeps `best` pairs */
    while (st == TDM_ASSIGN_OK && lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        uint64_t got;
        st = pairs_at(ctx, mid, &got);
        if (st != TDM_ASSIGN_OK)
            break;
        if (got == best)
            lo = mid;
        else
            hi = mid - 1;
    }
    *best_k = lo;
    return st;
}

/* One probe of the sparse search: solve g with the k-th weight as threshold. */
typedef struct sparse_probe {
    const tdm__graph *g;
    const int64_t *ws;
    tdm_assign_stats *stats;
} sparse_probe;

static tdm_assign_status sparse_pairs_at(void *ctx, size_t k, uint64_t *pairs)
{
    const sparse_probe *c = ctx;
    tdm__ssp *s;
    wgraph h;
    tdm_assign_status st = solve_once(c->g, 0, 1, c->ws[k], &s, &h, c->stats);
    if (st != TDM_ASSIGN_OK)
        return st;
    *pairs = count_pairs(s, c->g->n_mentees);
    tdm__ssp_free(s);
    wgraph_free(&h);
    return TDM_ASSIGN_OK;
}

/* MAXIMIN's threshold: the largest T keeping the maximum number of pairs. */
static tdm_assign_status maximin_threshold(const tdm__graph *g, tdm_assign_stats *stats,
                                           int64_t *threshold)
{
    size_t m = g->row[g->n_mentees];
    *threshold = 0;
    if (m == 0)
        return TDM_ASSIGN_OK;
    int64_t *ws = malloc(sizeof *ws * m);
    if (ws == NULL)
        return TDM_ASSIGN_E_NOMEM;
    memcpy(ws, g->w, sizeof *ws * m);
    qsort(ws, m, sizeof *ws, cmp_i64);
    size_t nd = 0;
    for (size_t k = 0; k < m; k++)
        if (nd == 0 || ws[nd - 1] != ws[k])
            ws[nd++] = ws[k];
    size_t lo;
    sparse_probe probe = {g, ws, stats};
    tdm_assign_status st = tdm__maximin_search(nd, sparse_pairs_at, &probe, &lo);
    if (st == TDM_ASSIGN_OK)
        *threshold = ws[lo];
    free(ws);
    return st;
}

static tdm_assign_status solve_graph(const tdm__graph *g, const tdm_assign_options *o,
                                     tdm_assign_result *r)
{
    uint64_t kmax = max_pairs(g);
    uint64_t nodes = (uint64_t)g->n_mentors + g->n_mentees;
    int64_t threshold = 0, scale, offset;
    tdm_assign_objective obj = o->objective;
    tdm_assign_status st;
    if (obj == TDM_ASSIGN_MAXIMIN) {
        st = tdm__transform(TDM_ASSIGN_MAX_PARTICIPATION, g->max_w, kmax, nodes, &scale, &offset);
        if (st != TDM_ASSIGN_OK)
            return st;
        st = maximin_threshold(g, &r->stats, &threshold);
        if (st != TDM_ASSIGN_OK)
            return st;
        if (g->n_pins > 0 && g->pins_min < threshold)
            threshold = g->pins_min;
        obj = TDM_ASSIGN_MAX_PARTICIPATION;
    }
    st = tdm__transform(obj, g->max_w, kmax, nodes, &scale, &offset);
    if (st != TDM_ASSIGN_OK)
        return st;
    tdm__ssp *s;
    wgraph h;
    st = solve_once(g, scale, offset, threshold, &s, &h, &r->stats);
    if (st != TDM_ASSIGN_OK)
        return st;
    st = tdm__result_fill(r, g->n_mentors, g->n_mentees, tdm__ssp_mate(s), tdm__graph_weight, g, g);
    if (st == TDM_ASSIGN_OK) {
        r->mentee_dual = malloc(sizeof *r->mentee_dual * ((size_t)g->n_mentees + 1));
        r->mentor_dual = malloc(sizeof *r->mentor_dual * ((size_t)g->n_mentors + 1));
        if (!r->mentee_dual || !r->mentor_dual)
            st = TDM_ASSIGN_E_NOMEM;
    }
    if (st == TDM_ASSIGN_OK) {
        tdm__ssp_duals(s, r->mentee_dual, r->mentor_dual);
        /* Pinned mentees are not in the LP: their dual is 0 by convention. */
        for (uint32_t j = 0; j < g->n_mentees; j++)
            if (g->pin_mentor[j] >= 0)
                r->mentee_dual[j] = 0;
        r->dual_scale = scale;
        r->dual_offset = offset;
        r->dual_threshold = threshold;
        tdm__result_reasons(r, g);
    }
    tdm__ssp_free(s);
    wgraph_free(&h);
    return st;
}

tdm_assign_status tdm_assign_solve(const tdm_assign_problem *p, const tdm_assign_options *o,
                                   tdm_assign_result *r)
{
    double t0 = tdm__now();
    memset(r, 0, sizeof *r);
    if (o->objective > TDM_ASSIGN_MAXIMIN || o->min_weight < 0) {
        snprintf(((tdm_assign_problem *)p)->error, sizeof p->error, "invalid options");
        return TDM_ASSIGN_E_INVALID;
    }
    tdm__graph g;
    tdm_assign_status st = tdm__graph_build_solve(p, o, &g);
    if (st != TDM_ASSIGN_OK)
        return st;
    st = solve_graph(&g, o, r);
    tdm__graph_free(&g);
    if (st != TDM_ASSIGN_OK) {
        tdm_assign_result_free(r);
        return st;
    }
    r->seed = o->seed;
    r->stats.seconds = tdm__now() - t0;
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm_assign_run(const tdm_assign_problem *p, const tdm_assign_options *o,
                                 tdm_assign_result *r)
{
    switch (o->algorithm) {
    case TDM_ASSIGN_OPTIMAL:
        return tdm_assign_solve(p, o, r);
    case TDM_ASSIGN_STABLE:
        return tdm_assign_stable(p, o, r);
    case TDM_ASSIGN_GREEDY:
        return tdm_assign_greedy(p, o, r);
    }
    memset(r, 0, sizeof *r);
    return TDM_ASSIGN_E_INVALID;
}
