/*
 * stable.c - STABLE (deferred acceptance with capacities) and GREEDY (the baseline).
 *
 * STABLE is the hospitals/residents algorithm with mentees proposing: each free mentee
 * proposes to its best mentor not yet tried; a mentor keeps its best proposals up to its
 * residual capacity and rejects the rest. Both sides rank by the pair's weight; ties are
 * broken by a lottery: one random number per participant drawn from the seed, so the
 * whole run is reproducible from the seed the result returns. The outcome is the
 * mentee-optimal stable matching for the tie-broken preferences, and so has no blocking
 * pair in the weak sense tdm_assign_blocking_pairs() counts (a pair blocks only if both
 * sides strictly prefer each other by weight).
 */
#include "engine.h"

#include <string.h>

static uint64_t pick_seed(uint64_t seed)
{
    if (seed != 0)
        return seed;
    uint64_t s = (uint64_t)(tdm__now() * 1e9);
    s = tdm__splitmix(&s);
    return s != 0 ? s : 1;
}

static uint64_t *lottery(uint64_t seed, uint64_t salt, uint32_t n)
{
    uint64_t *l = malloc(sizeof *l * ((size_t)n + 1));
    if (l == NULL)
        return NULL;
    uint64_t st = seed ^ salt;
    for (uint32_t k = 0; k < n; k++)
        l[k] = tdm__splitmix(&st);
    return l;
}

/* Sort context for a mentee's row: weight descending, then the mentor's lottery. */
typedef struct pref {
    int64_t w;
    uint64_t lot;
    uint32_t who;
} pref;

static int cmp_pref(const void *a, const void *b)
{
    const pref *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    if (x->lot != y->lot)
        return x->lot < y->lot ? -1 : 1;
    return x->who < y->who ? -1 : x->who > y->who;
}

/* true when a is a worse proposal than b for a mentor */
static bool worse(const pref *a, const pref *b)
{
    return cmp_pref(a, b) > 0;
}

/* Mentor's held proposals: a max-heap by "worse", so the worst is on top. */
static void held_up(pref *h, uint32_t pos)
{
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!worse(&h[pos], &h[parent]))
            break;
        pref t = h[pos];
        h[pos] = h[parent];
        h[parent] = t;
        pos = parent;
    }
}

static void held_down(pref *h, uint32_t n)
{
    uint32_t pos = 0;
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= n)
            break;
        if (c + 1 < n && worse(&h[c + 1], &h[c]))
            c++;
        if (!worse(&h[c], &h[pos]))
            break;
        pref t = h[pos];
        h[pos] = h[c];
        h[c] = t;
        pos = c;
    }
}

/* STABLE: deferred acceptance, mentees proposing; mate[j] is j's mentor or -1. */
static tdm_assign_status deferred_acceptance(const tdm__graph *g, uint64_t seed, int32_t *mate)
{
    uint32_t nm = g->n_mentors, ne = g->n_mentees;
    size_t m = g->row[ne];
    uint64_t *lot_mentor = lottery(seed, 0x6d656e746f72ULL, nm);
    uint64_t *lot_mentee = lottery(seed, 0x6d656e746565ULL, ne);
    pref *prefs = malloc(sizeof *prefs * (m + 1));
    size_t *next = malloc(sizeof *next * ((size_t)ne + 1));
    size_t *held_off = malloc(sizeof *held_off * ((size_t)nm + 1));
    uint32_t *n_held = calloc((size_t)nm + 1, sizeof *n_held);
    uint32_t *queue = malloc(sizeof *queue * ((size_t)ne + 1));
    pref *held = NULL;
    tdm_assign_status st = TDM_ASSIGN_E_NOMEM;
    if (!lot_mentor || !lot_mentee || !prefs || !next || !held_off || !n_held || !queue)
        goto done;
    size_t seats = 0;
    for (uint32_t i = 0; i < nm; i++) {
        held_off[i] = seats;
        seats += g->capacity[i];
    }
    held = malloc(sizeof *held * (seats + 1));
    if (held == NULL)
        goto done;
    uint32_t qn = 0;
    for (uint32_t j = 0; j < ne; j++) {
        for (size_t e = g->row[j]; e < g->row[j + 1]; e++)
            prefs[e] = (pref){g->w[e], lot_mentor[g->col[e]], g->col[e]};
        qsort(prefs + g->row[j], g->row[j + 1] - g->row[j], sizeof *prefs, cmp_pref);
        next[j] = g->row[j];
        mate[j] = -1;
        if (g->pin_mentor[j] < 0)
            queue[qn++] = j;
    }
    /* A stack of free mentees; each proposal advances next[j], so at most m proposals. */
    while (qn > 0) {
        uint32_t j = queue[--qn];
        while (next[j] < g->row[j + 1]) {
            pref *pr = &prefs[next[j]++];
            uint32_t i = pr->who;
            pref mine = {pr->w, lot_mentee[j], j};
            pref *h = held + held_off[i];
            if (n_held[i] < g->capacity[i]) {
                h[n_held[i]] = mine;
                held_up(h, n_held[i]++);
                mate[j] = (int32_t)i;
                break;
            }
            if (n_held[i] > 0 && worse(&h[0], &mine)) {
                uint32_t out = h[0].who;
                mate[out] = -1;
                queue[qn++] = out;
                h[0] = mine;
                held_down(h, n_held[i]);
                mate[j] = (int32_t)i;
                break;
            }
        }
    }
    st = TDM_ASSIGN_OK;
done:
    free(lot_mentor);
    free(lot_mentee);
    free(prefs);
    free(next);
    free(held_off);
    free(n_held);
    free(queue);
    free(held);
    return st;
}

typedef struct gedge {
    int64_t w;
    uint64_t lot;
    uint32_t mentor, mentee;
} gedge;

static int cmp_gedge(const void *a, const void *b)
{
    const gedge *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->lot < y->lot ? -1 : x->lot > y->lot;
}

/* GREEDY: pairs by weight descending, ties by a lottery from the seed. */
static tdm_assign_status greedy(const tdm__graph *g, uint64_t seed, int32_t *mate)
{
    uint64_t rng = seed;
    size_t m = g->row[g->n_mentees];
    gedge *es = malloc(sizeof *es * (m + 1));
    uint32_t *load = calloc((size_t)g->n_mentors + 1, sizeof *load);
    tdm_assign_status st = TDM_ASSIGN_E_NOMEM;
    if (!es || !load)
        goto done;
    for (uint32_t j = 0; j < g->n_mentees; j++) {
        mate[j] = -1;
        for (size_t e = g->row[j]; e < g->row[j + 1]; e++)
            es[e] = (gedge){g->w[e], tdm__splitmix(&rng), g->col[e], j};
    }
    qsort(es, m, sizeof *es, cmp_gedge);
    for (size_t k = 0; k < m; k++) {
        if (mate[es[k].mentee] >= 0 || load[es[k].mentor] >= g->capacity[es[k].mentor])
            continue;
        mate[es[k].mentee] = (int32_t)es[k].mentor;
        load[es[k].mentor]++;
    }
    st = TDM_ASSIGN_OK;
done:
    free(es);
    free(load);
    return st;
}

/* Both algorithms run alike: the clock, the graph, the seed, the algorithm's mate array,
 * then the result with the pins added back and the reasons of the unmatched. */
typedef tdm_assign_status (*algorithm)(const tdm__graph *g, uint64_t seed, int32_t *mate);

static tdm_assign_status run(const tdm_assign_problem *p, const tdm_assign_options *o,
                             tdm_assign_result *r, algorithm algo)
{
    double t0 = tdm__now();
    memset(r, 0, sizeof *r);
    if (o->min_weight < 0)
        return TDM_ASSIGN_E_INVALID;
    tdm__graph g;
    tdm_assign_status st = tdm__graph_build_solve(p, o, &g);
    if (st != TDM_ASSIGN_OK)
        return st;
    uint64_t seed = pick_seed(o->seed);
    int32_t *mate = malloc(sizeof *mate * ((size_t)g.n_mentees + 1));
    st = mate == NULL ? TDM_ASSIGN_E_NOMEM : algo(&g, seed, mate);
    if (st == TDM_ASSIGN_OK)
        st = tdm__result_fill(r, g.n_mentors, g.n_mentees, mate, tdm__graph_weight, &g, &g);
    if (st == TDM_ASSIGN_OK) {
        tdm__result_reasons(r, &g);
        r->seed = seed;
        r->stats.seconds = tdm__now() - t0;
    } else {
        tdm_assign_result_free(r);
    }
    free(mate);
    tdm__graph_free(&g);
    return st;
}

tdm_assign_status tdm_assign_stable(const tdm_assign_problem *p, const tdm_assign_options *o,
                                    tdm_assign_result *r)
{
    return run(p, o, r, deferred_acceptance);
}

tdm_assign_status tdm_assign_greedy(const tdm_assign_problem *p, const tdm_assign_options *o,
                                    tdm_assign_result *r)
{
    return run(p, o, r, greedy);
}
