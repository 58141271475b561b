/*
 * problem.c - building a problem and reducing it to the graph the solvers work on.
 *
 * How pins are removed and added back, exactly: a pin (i, j) fixes mentee j on mentor i.
 * Every feasible assignment that keeps the pins is the pins plus an assignment of the
 * other mentees in which mentor i has c_i - (pins on i) seats; the objective of the whole
 * is the pins' part plus the rest's (cardinality and total add up; the minimum is the
 * smaller of the two minima, see solve.c for MAXIMIN). So the optimum of the whole is
 * the pins plus an optimum of the reduced problem, which is what the solvers see: pinned
 * mentees are taken out, their mentors' capacities reduced, and the pins are written
 * back into the result.
 *
 * Exclusions and pairs below min_weight are simply not edges. The per-mentee flags
 * remember what was dropped so the reason of an unmatched mentee can be told.
 */
#include "engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

static void set_error(tdm_assign_problem *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(tdm_assign_problem *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
}

const char *tdm_assign_strerror(tdm_assign_status st)
{
    switch (st) {
    case TDM_ASSIGN_OK:
        return "ok";
    case TDM_ASSIGN_E_INVALID:
        return "invalid argument";
    case TDM_ASSIGN_E_DUPLICATE:
        return "pair given twice";
    case TDM_ASSIGN_E_PIN:
        return "contradictory pins";
    case TDM_ASSIGN_E_RANGE:
        return "problem too large for exact 64-bit arithmetic";
    case TDM_ASSIGN_E_NOMEM:
        return "out of memory";
    case TDM_ASSIGN_E_UNSUPPORTED:
        return "unsupported option for this entry point";
    case TDM_ASSIGN_E_NOT_OPTIMAL:
        return "optimality certificate does not hold";
    case TDM_ASSIGN_E_INTERNAL:
        return "internal error";
    case TDM_ASSIGN_E_CANCELLED:
        return "cancelled";
    }
    return "unknown status";
}

void tdm_assign_options_init(tdm_assign_options *o)
{
    memset(o, 0, sizeof *o);
    o->algorithm = TDM_ASSIGN_OPTIMAL;
    o->objective = TDM_ASSIGN_MAX_PARTICIPATION;
}

tdm_assign_status tdm_assign_problem_new(uint32_t n_mentors, uint32_t n_mentees,
                                         const uint32_t *capacity, tdm_assign_problem **out)
{
    *out = NULL;
    if (n_mentors > TDM_ASSIGN_MAX_NODES || n_mentees > TDM_ASSIGN_MAX_NODES)
        return TDM_ASSIGN_E_INVALID;
    if (capacity != NULL)
        for (uint32_t i = 0; i < n_mentors; i++)
            if (capacity[i] > TDM_ASSIGN_MAX_CAPACITY)
                return TDM_ASSIGN_E_INVALID;
    tdm_assign_problem *p = calloc(1, sizeof *p);
    if (p == NULL)
        return TDM_ASSIGN_E_NOMEM;
    p->n_mentors = n_mentors;
    p->n_mentees = n_mentees;
    p->capacity = malloc(sizeof *p->capacity * ((size_t)n_mentors + 1));
    if (p->capacity == NULL) {
        free(p);
        return TDM_ASSIGN_E_NOMEM;
    }
    for (uint32_t i = 0; i < n_mentors; i++)
        p->capacity[i] = capacity ? capacity[i] : 1;
    *out = p;
    return TDM_ASSIGN_OK;
}

void tdm_assign_problem_free(tdm_assign_problem *p)
{
    if (p == NULL)
        return;
    free(p->capacity);
    free(p->edges);
    free(p->pins);
    free(p->excl);
    free(p);
}

const char *tdm_assign_problem_error(const tdm_assign_problem *p)
{
    return p->error;
}

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*arr, n * elem);
    if (q == NULL)
        return false;
    *arr = q;
    *cap = n;
    return true;
}

static tdm_assign_status check_pair(tdm_assign_problem *p, const char *what, size_t k,
                                    uint32_t mentor, uint32_t mentee)
{
    if (mentor >= p->n_mentors) {
        set_error(p, "%s %zu: mentor %" PRIu32 " out of range (%" PRIu32 " mentors)", what, k,
                  mentor, p->n_mentors);
        return TDM_ASSIGN_E_INVALID;
    }
    if (mentee >= p->n_mentees) {
        set_error(p, "%s %zu: mentee %" PRIu32 " out of range (%" PRIu32 " mentees)", what, k,
                  mentee, p->n_mentees);
        return TDM_ASSIGN_E_INVALID;
    }
    return TDM_ASSIGN_OK;
}

static tdm_assign_status check_weight(tdm_assign_problem *p, const char *what, size_t k, int64_t w)
{
    if (w < 0 || w > TDM_ASSIGN_WEIGHT_MAX) {
        set_error(p, "%s %zu: weight %" PRId64 " outside [0, %lld]", what, k, w,
                  TDM_ASSIGN_WEIGHT_MAX);
        return TDM_ASSIGN_E_INVALID;
    }
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm_assign_problem_add_edges(tdm_assign_problem *p, const tdm_assign_edge *e,
                                               size_t n)
{
    if (n > (size_t)TDM_ASSIGN_MAX_NODES * 4 || p->n_edges + n > (size_t)TDM_ASSIGN_MAX_NODES * 4) {
        set_error(p, "too many edges");
        return TDM_ASSIGN_E_INVALID;
    }
    for (size_t k = 0; k < n; k++) {
        tdm_assign_status st = check_pair(p, "edge", p->n_edges + k, e[k].mentor, e[k].mentee);
        if (st == TDM_ASSIGN_OK)
            st = check_weight(p, "edge", p->n_edges + k, e[k].weight);
        if (st != TDM_ASSIGN_OK)
            return st;
    }
    if (!grow((void **)&p->edges, &p->cap_edges, p->n_edges + n, sizeof *p->edges))
        return TDM_ASSIGN_E_NOMEM;
    memcpy(p->edges + p->n_edges, e, n * sizeof *e);
    p->n_edges += n;
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm_assign_problem_pin(tdm_assign_problem *p, uint32_t mentor, uint32_t mentee,
                                         int64_t weight)
{
    tdm_assign_status st = check_pair(p, "pin", p->n_pins, mentor, mentee);
    if (st == TDM_ASSIGN_OK)
        st = check_weight(p, "pin", p->n_pins, weight);
    if (st != TDM_ASSIGN_OK)
        return st;
    if (!grow((void **)&p->pins, &p->cap_pins, p->n_pins + 1, sizeof *p->pins))
        return TDM_ASSIGN_E_NOMEM;
    p->pins[p->n_pins++] = (tdm_assign_pair){mentor, mentee, weight};
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm_assign_problem_exclude(tdm_assign_problem *p, uint32_t mentor,
                                             uint32_t mentee)
{
    tdm_assign_status st = check_pair(p, "exclusion", p->n_excl, mentor, mentee);
    if (st != TDM_ASSIGN_OK)
        return st;
    if (!grow((void **)&p->excl, &p->cap_excl, p->n_excl + 1, sizeof *p->excl))
        return TDM_ASSIGN_E_NOMEM;
    p->excl[p->n_excl++] = (tdm_assign_pair){mentor, mentee, 0};
    return TDM_ASSIGN_OK;
}

/* ---- the reduced graph ---- */

void tdm__graph_free(tdm__graph *g)
{
    free(g->capacity);
    free(g->row);
    free(g->col);
    free(g->w);
    free(g->flags);
    free(g->pin_mentor);
    free(g->pin_weight);
    memset(g, 0, sizeof *g);
}

static int cmp_pair_mentee_mentor(const void *a, const void *b)
{
    const tdm_assign_pair *x = a, *y = b;
    if (x->mentee != y->mentee)
        return x->mentee < y->mentee ? -1 : 1;
    if (x->mentor != y->mentor)
        return x->mentor < y->mentor ? -1 : 1;
    return 0;
}

static bool excluded(const tdm_assign_pair *ex, size_t n, uint32_t mentor, uint32_t mentee)
{
    tdm_assign_pair key = {mentor, mentee, 0};
    return n > 0 && bsearch(&key, ex, n, sizeof *ex, cmp_pair_mentee_mentor) != NULL;
}

static tdm_assign_status apply_pins(const tdm_assign_problem *p, const tdm_assign_pair *ex,
                                    tdm__graph *g, char *err, size_t err_len)
{
    g->pins_min = INT64_MAX;
    for (size_t k = 0; k < p->n_pins; k++) {
        const tdm_assign_pair *pin = &p->pins[k];
        if (g->pin_mentor[pin->mentee] >= 0) {
            snprintf(err, err_len, "pin %zu: mentee %" PRIu32 " is pinned twice", k, pin->mentee);
            return TDM_ASSIGN_E_PIN;
        }
        if (g->capacity[pin->mentor] == 0) {
            snprintf(err, err_len, "pin %zu: mentor %" PRIu32 " has more pins than capacity", k,
                     pin->mentor);
            return TDM_ASSIGN_E_PIN;
        }
        if (excluded(ex, p->n_excl, pin->mentor, pin->mentee)) {
            snprintf(err, err_len,
                     "pin %zu: mentor %" PRIu32 " and mentee %" PRIu32 " are also excluded", k,
                     pin->mentor, pin->mentee);
            return TDM_ASSIGN_E_PIN;
        }
        g->capacity[pin->mentor]--;
        g->pin_mentor[pin->mentee] = (int32_t)pin->mentor;
        g->pin_weight[pin->mentee] = pin->weight;
        g->flags[pin->mentee] |= TDM__PINNED;
        g->pins_total += pin->weight;
        if (pin->weight < g->pins_min)
            g->pins_min = pin->weight;
        g->n_pins++;
    }
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm__graph_build_solve(const tdm_assign_problem *p, const tdm_assign_options *o,
                                         tdm__graph *g)
{
    char err[sizeof p->error];
    tdm_assign_status st = tdm__graph_build(p, o, g, err, sizeof err);
    if (st != TDM_ASSIGN_OK)
        memcpy(((tdm_assign_problem *)p)->error, err, sizeof err);
    return st;
}

tdm_assign_status tdm__graph_build(const tdm_assign_problem *p, const tdm_assign_options *o,
                                   tdm__graph *g, char *err, size_t err_len)
{
    memset(g, 0, sizeof *g);
    uint32_t nm = p->n_mentors, ne = p->n_mentees;
    g->n_mentors = nm;
    g->n_mentees = ne;
    tdm_assign_status st = TDM_ASSIGN_E_NOMEM;
    tdm_assign_pair *ex = NULL;
    size_t *count = NULL;
    uint32_t *keep = NULL;
    g->capacity = malloc(sizeof *g->capacity * ((size_t)nm + 1));
    g->row = calloc((size_t)ne + 2, sizeof *g->row);
    g->flags = calloc((size_t)ne + 1, 1);
    g->pin_mentor = malloc(sizeof *g->pin_mentor * ((size_t)ne + 1));
    g->pin_weight = calloc((size_t)ne + 1, sizeof *g->pin_weight);
    count = calloc((size_t)nm + 1, sizeof *count);
    if (!g->capacity || !g->row || !g->flags || !g->pin_mentor || !g->pin_weight || !count)
        goto fail;
    memcpy(g->capacity, p->capacity, sizeof *g->capacity * nm);
    for (uint32_t j = 0; j < ne; j++)
        g->pin_mentor[j] = -1;
    if (p->n_excl > 0) {
        ex = malloc(sizeof *ex * p->n_excl);
        if (ex == NULL)
            goto fail;
        memcpy(ex, p->excl, sizeof *ex * p->n_excl);
        qsort(ex, p->n_excl, sizeof *ex, cmp_pair_mentee_mentor);
    }
    st = apply_pins(p, ex, g, err, err_len);
    if (st != TDM_ASSIGN_OK)
        goto fail;
    st = TDM_ASSIGN_E_NOMEM;
    if (g->n_pins == 0)
        g->pins_min = 0;

    /* Keep the edges that survive, then counting-sort them by mentor and (stably) by
     * mentee, so each mentee's row is sorted by mentor and duplicates are adjacent. */
    keep = malloc(sizeof *keep * (p->n_edges + 1));
    if (keep == NULL)
        goto fail;
    size_t n_keep = 0;
    for (size_t k = 0; k < p->n_edges; k++) {
        const tdm_assign_edge *e = &p->edges[k];
        g->flags[e->mentee] |= TDM__HAD_EDGE;
        if (g->pin_mentor[e->mentee] >= 0)
            continue;
        if (e->weight < o->min_weight) {
            g->flags[e->mentee] |= TDM__HAD_BELOW_MIN;
            continue;
        }
        if (excluded(ex, p->n_excl, e->mentor, e->mentee)) {
            g->flags[e->mentee] |= TDM__HAD_EXCLUDED;
            continue;
        }
        keep[n_keep++] = (uint32_t)k;
        count[e->mentor]++;
    }
    uint32_t *by_mentor = malloc(sizeof *by_mentor * (n_keep + 1));
    g->col = malloc(sizeof *g->col * (n_keep + 1));
    g->w = malloc(sizeof *g->w * (n_keep + 1));
    if (!by_mentor || !g->col || !g->w) {
        free(by_mentor);
        goto fail;
    }
    size_t acc = 0;
    for (uint32_t i = 0; i < nm; i++) {
        size_t c = count[i];
        count[i] = acc;
        acc += c;
    }
    for (size_t q = 0; q < n_keep; q++)
        by_mentor[count[p->edges[keep[q]].mentor]++] = keep[q];
    for (size_t q = 0; q < n_keep; q++)
        g->row[p->edges[by_mentor[q]].mentee + 1]++;
    for (uint32_t j = 0; j < ne; j++)
        g->row[j + 1] += g->row[j];
    size_t *fill = count; /* reuse as a cursor per mentee: needs ne entries */
    if (ne > nm) {
        fill = realloc(count, sizeof *fill * ((size_t)ne + 1));
        if (fill == NULL) {
            free(by_mentor);
            goto fail;
        }
        count = fill;
    }
    memcpy(fill, g->row, sizeof *fill * ne);
    for (size_t q = 0; q < n_keep; q++) {
        const tdm_assign_edge *e = &p->edges[by_mentor[q]];
        size_t at = fill[e->mentee]++;
        g->col[at] = e->mentor;
        g->w[at] = e->weight;
        if (e->weight > g->max_w)
            g->max_w = e->weight;
    }
    free(by_mentor);
    for (uint32_t j = 0; j < ne; j++)
        for (size_t e = g->row[j] + 1; e < g->row[j + 1]; e++)
            if (g->col[e] == g->col[e - 1]) {
                snprintf(err, err_len, "mentor %" PRIu32 " and mentee %" PRIu32 " given twice",
                         g->col[e], j);
                st = TDM_ASSIGN_E_DUPLICATE;
                goto fail;
            }
    free(keep);
    free(count);
    free(ex);
    return TDM_ASSIGN_OK;
fail:
    if (st == TDM_ASSIGN_E_NOMEM)
        snprintf(err, err_len, "out of memory");
    free(keep);
    free(count);
    free(ex);
    tdm__graph_free(g);
    return st;
}
