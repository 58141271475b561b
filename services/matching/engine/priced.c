/*
 * priced.c - large programmes: sparse candidates, an exact sparse solve, then pricing.
 *
 * A programme of 10^5 participants has ~10^9 pairs: too many to hold, few enough to
 * score. So the solve runs on a sparse candidate graph and the full pair set is only
 * scanned, with the score callback, in parallel:
 *
 *  1. Candidates: one scan of every pair keeps each mentee's top K mentors and each
 *     mentor's top K' mentees, plus a backbone (each mentee given one admissible mentor
 *     with a free backbone seat, round robin) so the candidate graph can already match
 *     as many mentees as the full one. Top-K alone is not enough: on realistic scores
 *     everybody's top choices are the same popular mentors.
 *  2. Solve the candidate graph exactly (ssp.c), which yields duals u (mentees), v
 *     (mentors) with u_j + v_i >= w'_ij on every candidate edge.
 *  3. Pricing: scan every pair not in the graph; a pair with u_j + v_i < w'_ij (negative
 *     reduced cost) would improve the solution, so it is added. Then re-solve warm: the
 *     flow and potentials are kept and only the mentees with a violated new edge are
 *     re-routed (tdm__ssp_resolve). Repeat until a scan adds nothing.
 *
 * Why that certifies the optimum of the full problem: when no pair has a negative
 * reduced cost, (u, v) is feasible for the dual LP of the full problem (every pair's
 * constraint holds, the candidate ones by the solve and the others by the scan), and the
 * sparse solution with (u, v) satisfies complementary slackness (unmatched mentees have
 * u = 0, mentors with free seats v = 0, matched pairs are tight). The full problem's
 * primal and dual values are then equal: the sparse solution is optimal for the full
 * problem, exactly, in integers.
 *
 * The score callback runs on several threads; everything else here is sequential.
 */
#include "engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TOP_K      16
#define DEFAULT_MAX_ROUNDS 100
#define SCAN_CHUNK         64 /* mentees per work item of a scan */
#define MAX_THREADS        64
#define BACKBONE_TRIES     64 /* mentors tried per mentee for the backbone */
/* Memory for the block bounds: the mentees per block is the smallest power of two
 * (1..SCAN_CHUNK) that keeps the table under this: 25,000 mentors x 75,000 mentees
 * take 16 a block, 234 MB. */
#define BOUND_BLOCK_BYTES (256u << 20)
#define BOUND_NONE        0          /* no admissible pair at or above min_weight */
#define BOUND_UNKNOWN     UINT16_MAX /* a weight too large to store: no bound */

typedef struct cand {
    int64_t w;
    uint32_t who;
} cand;

typedef struct edge3 {
    uint32_t mentee, mentor;
    int64_t w;
} edge3;

/* Pairs whose reduced cost is below this share of the weight range are added with the
 * violators: the duals move a little at each re-solve, and taking the near misses now
 * saves whole scans later. Extra edges never change the optimum, only the graph size. */
#define NEAR_MARGIN_DIVISOR 50
/* Pairs a pricing round adds per mentee at most (see keep_most_violated). */
#define ADD_PER_MENTEE 8
/* A pricing round that touches more than this share of the mentees re-solves cold. */
#define COLD_RESOLVE_DIVISOR 8

typedef struct edge_vec {
    edge3 *v;
    size_t n, cap;
} edge_vec;

static bool edge_push(edge_vec *e, uint32_t mentee, uint32_t mentor, int64_t w)
{
    if (e->n == e->cap) {
        size_t c = e->cap ? e->cap * 2 : 1024;
        edge3 *q = realloc(e->v, sizeof *q * c);
        if (q == NULL)
            return false;
        e->v = q;
        e->cap = c;
    }
    e->v[e->n++] = (edge3){mentee, mentor, w};
    return true;
}

typedef struct pricer pricer;

typedef struct worker {
    pricer *pr;
    cand *mentor_top; /* candidates phase: nm * K' min-heaps of this thread */
    uint32_t *mentor_n;
    int64_t *floor;  /* candidates phase: weakest weight of each full mentor list, else -1 */
    uint32_t *stamp; /* pricing phase: stamp[i] == j + 1 when (i, j) is an edge */
    edge_vec found;  /* pricing phase: violated and near pairs */
    uint64_t violated;
    uint64_t scored;
    int64_t max_w;
    bool bad_weight, nomem;
    uint32_t bad_mentor, bad_mentee;
} worker;

struct pricer {
    const tdm_assign_pricing *in;
    uint32_t nm, ne, k, k2;
    int64_t min_w;
    /* candidates phase */
    cand *mentee_top; /* ne * K, sorted by weight descending */
    uint32_t *mentee_n;
    uint8_t *flags; /* TDM__HAD_EDGE (admissible, >= min), TDM__HAD_BELOW_MIN */
    /* Bounds from the candidates scan on the weight of a pair outside the graph: it is in
     * neither top list, so it weighs at most the weakest kept in each (-1 when a list holds
     * every admissible pair). Pricing skips the callback when even that bound cannot beat
     * the duals; this is what makes the scans affordable at 10^9 pairs. */
    int64_t *mentee_max, *mentor_max;
    /* Block bounds, from the same scan: for each block of 2^block_shift consecutive
     * mentees and each mentor, 1 + the largest weight the scan saw between them (see
     * BOUND_NONE, BOUND_UNKNOWN), at block_max[block * nm + mentor]. A pair whose duals
     * already reach its block's bound cannot be violated: pricing skips it unscored.
     * Blocks lie inside one scan chunk, so one thread writes each entry. */
    uint16_t *block_max;
    uint32_t block_shift;
    uint32_t *order;    /* mentors with a bound, by decreasing key = bound' - v */
    int64_t *order_key; /* their keys */
    cand *sortbuf;
    uint32_t n_order;
    /* pricing phase */
    const size_t *row;
    const uint32_t *col;
    const int64_t *u, *v;
    int64_t scale, offset, max_wp, margin;
    bool pricing;
    atomic_uint_fast32_t next_chunk;
    worker workers[MAX_THREADS];
    unsigned n_workers;
};

/* A strict order (weight, then the lower index) so that the kept candidates do not depend
 * on which thread saw which pair first. */
static inline bool weaker(cand a, cand b)
{
    return a.w < b.w || (a.w == b.w && a.who > b.who);
}

static void heap_offer(cand *h, uint32_t *n, uint32_t k, int64_t w, uint32_t who)
{
    /* a min-heap of the best k: the root is the weakest kept */
    cand x = {w, who};
    if (*n < k) {
        uint32_t pos = (*n)++;
        while (pos > 0 && weaker(x, h[(pos - 1) / 2])) {
            h[pos] = h[(pos - 1) / 2];
            pos = (pos - 1) / 2;
        }
        h[pos] = x;
        return;
    }
    if (k == 0 || !weaker(h[0], x))
        return;
    uint32_t pos = 0;
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= k)
            break;
        if (c + 1 < k && weaker(h[c + 1], h[c]))
            c++;
        if (!weaker(h[c], x))
            break;
        h[pos] = h[c];
        pos = c;
    }
    h[pos] = x;
}

static void scan_candidates(worker *wk, uint32_t j)
{
    pricer *p = wk->pr;
    const tdm_assign_pricing *in = p->in;
    cand *top = p->mentee_top + (size_t)j * p->k;
    uint16_t *bound = p->block_max ? p->block_max + (size_t)(j >> p->block_shift) * p->nm : NULL;
    uint32_t n = 0;
    uint8_t f = 0;
    int64_t best = -1;
    for (uint32_t i = 0; i < p->nm; i++) {
        bool adm = true;
        int64_t w = in->score(in->ctx, i, j, &adm);
        wk->scored++;
        if (!adm)
            continue;
        if (w < 0 || w > TDM_ASSIGN_WEIGHT_MAX) {
            wk->bad_weight = true;
            wk->bad_mentor = i;
            wk->bad_mentee = j;
            continue;
        }
        if (w < p->min_w) {
            f |= TDM__HAD_BELOW_MIN;
            continue;
        }
        f |= TDM__HAD_EDGE;
        if (w > best)
            best = w;
        if (bound != NULL) {
            uint16_t b = w < BOUND_UNKNOWN - 1 ? (uint16_t)(w + 1) : BOUND_UNKNOWN;
            if (b > bound[i])
                bound[i] = b;
        }
        /* most pairs lose against both lists' weakest: test that before the heaps */
        cand x = {w, i};
        if (n < p->k || weaker(top[0], x))
            heap_offer(top, &n, p->k, w, i);
        /* The mentor lists total megabytes: test against a compact copy of each list's
         * weakest weight first. A thread sees mentees in increasing order, so on a tie the
         * newcomer is the weaker and is refused, exactly as weaker() would. */
        if (w > wk->floor[i]) {
            cand *mh = wk->mentor_top + (size_t)i * p->k2;
            heap_offer(mh, &wk->mentor_n[i], p->k2, w, j);
            if (wk->mentor_n[i] == p->k2)
                wk->floor[i] = mh[0].w;
        }
    }
    p->mentee_n[j] = n;
    p->flags[j] = f;
    p->mentee_max[j] = n == p->k ? top[0].w : -1;
    if (best > wk->max_w)
        wk->max_w = best;
}

/* Partial pricing: of mentee j's pairs found by a round (found.v[first..]), only the
 * ADD_PER_MENTEE of least reduced cost are added. A round on flat scores finds a
 * hundred or more violated pairs per mentee against the first duals, most of which the
 * next duals satisfy anyway; adding them all multiplied the graph (and each solve's
 * cost) several times over. The violated count still covers every pair, so a round
 * certifies only when nothing at all is violated. */
static void keep_most_violated(pricer *p, worker *wk, uint32_t j, size_t first)
{
    size_t n = wk->found.n - first;
    if (n <= ADD_PER_MENTEE)
        return;
    edge3 *e = wk->found.v + first;
    int64_t uj = p->u[j];
    /* selection by reduced cost u_j + v_i - w' (small n: insertion into the first slots) */
    for (size_t a = 0; a < ADD_PER_MENTEE; a++) {
        size_t best = a;
        int64_t rb = uj + p->v[e[a].mentor] - (e[a].w * p->scale + p->offset);
        for (size_t b = a + 1; b < n; b++) {
            int64_t rc = uj + p->v[e[b].mentor] - (e[b].w * p->scale + p->offset);
            if (rc < rb || (rc == rb && e[b].mentor < e[best].mentor)) {
                rb = rc;
                best = b;
            }
        }
        edge3 t = e[a];
        e[a] = e[best];
        e[best] = t;
    }
    wk->found.n = first + ADD_PER_MENTEE;
}

/* Pricing of mentee j. A pair (i, j) outside the graph can only be violated when
 * u_j + v_i < bound_i, i.e. when key_i = bound_i - v_i > u_j: mentors come by decreasing
 * key (sorted each round, as v changes), so the scan stops at the first key <= u_j. Edges
 * already in the graph are stamped. */
static void scan_prices(worker *wk, uint32_t j)
{
    pricer *p = wk->pr;
    const tdm_assign_pricing *in = p->in;
    if (p->mentee_max[j] < 0)
        return; /* every admissible pair of j is already an edge */
    int64_t uj = p->u[j], cap_j = p->mentee_max[j] * p->scale + p->offset;
    if (uj >= cap_j)
        return; /* no pair can beat this mentee's dual */
    const uint16_t *bound =
        p->block_max ? p->block_max + (size_t)(j >> p->block_shift) * p->nm : NULL;
    for (size_t e = p->row[j]; e < p->row[j + 1]; e++)
        wk->stamp[p->col[e]] = j + 1;
    size_t first = wk->found.n;
    for (uint32_t q = 0; q < p->n_order; q++) {
        if (p->order_key[q] <= uj)
            break;
        uint32_t i = p->order[q];
        int64_t have = uj + p->v[i];
        if (have >= cap_j || wk->stamp[i] == j + 1)
            continue; /* cannot be violated, or already an edge */
        if (bound != NULL && bound[i] != BOUND_UNKNOWN &&
            (bound[i] == BOUND_NONE || have >= (int64_t)(bound[i] - 1) * p->scale + p->offset))
            continue; /* nothing in the block beats the duals */
        bool adm = true;
        int64_t w = in->score(in->ctx, i, j, &adm);
        wk->scored++;
        if (!adm || w < p->min_w || w < 0 || w > TDM_ASSIGN_WEIGHT_MAX)
            continue;
        int64_t wp = w * p->scale + p->offset;
        if (have >= wp + p->margin)
            continue;
        wk->violated += have < wp;
        if (!edge_push(&wk->found, j, i, w))
            wk->nomem = true;
    }
    keep_most_violated(p, wk, j, first);
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    pricer *p = wk->pr;
    for (;;) {
        /* A cancelled solve ends its scan at the next chunk: the callback answering
         * inadmissible at once still costs a call per pair, seconds at large sizes. */
        if (p->in->cancel != NULL && atomic_load_explicit(p->in->cancel, memory_order_relaxed))
            break;
        uint32_t c = (uint32_t)atomic_fetch_add(&p->next_chunk, 1);
        uint64_t lo = (uint64_t)c * SCAN_CHUNK;
        if (lo >= p->ne)
            break;
        uint32_t hi = lo + SCAN_CHUNK < p->ne ? (uint32_t)(lo + SCAN_CHUNK) : p->ne;
        for (uint32_t j = (uint32_t)lo; j < hi; j++) {
            if (p->pricing)
                scan_prices(wk, j);
            else
                scan_candidates(wk, j);
        }
    }
    return NULL;
}

/* Run one scan over all mentees on the worker threads (the caller's thread is one). */
static void run_scan(pricer *p)
{
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    atomic_store(&p->next_chunk, 0);
    for (unsigned t = 1; t < p->n_workers; t++)
        started[t] = pthread_create(&tid[t], NULL, worker_main, &p->workers[t]) == 0;
    worker_main(&p->workers[0]);
    for (unsigned t = 1; t < p->n_workers; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
}

static int cmp_edge3(const void *a, const void *b)
{
    const edge3 *x = a, *y = b;
    if (x->mentee != y->mentee)
        return x->mentee < y->mentee ? -1 : 1;
    return x->mentor < y->mentor ? -1 : x->mentor > y->mentor;
}

/* The graph as CSR by mentee, rows sorted by mentor, duplicates removed. */
typedef struct csr {
    size_t *row;
    uint32_t *col;
    int64_t *w, *wp;
    size_t m;
} csr;

static void csr_free(csr *g)
{
    free(g->row);
    free(g->col);
    free(g->w);
    free(g->wp);
    memset(g, 0, sizeof *g);
}

static bool csr_build(edge_vec *e, uint32_t ne, int64_t scale, int64_t offset, csr *g)
{
    if (e->n > 0) /* an empty graph has no array: qsort must not see NULL */
        qsort(e->v, e->n, sizeof *e->v, cmp_edge3);
    size_t n = 0;
    for (size_t k = 0; k < e->n; k++)
        if (n == 0 || cmp_edge3(&e->v[n - 1], &e->v[k]) != 0)
            e->v[n++] = e->v[k];
    e->n = n;
    g->row = calloc((size_t)ne + 1, sizeof *g->row);
    g->col = malloc(sizeof *g->col * (n + 1));
    g->w = malloc(sizeof *g->w * (n + 1));
    g->wp = malloc(sizeof *g->wp * (n + 1));
    if (!g->row || !g->col || !g->w || !g->wp)
        return false;
    for (size_t k = 0; k < n; k++) {
        g->row[e->v[k].mentee + 1]++;
        g->col[k] = e->v[k].mentor;
        g->w[k] = e->v[k].w;
        g->wp[k] = e->v[k].w * scale + offset;
    }
    for (uint32_t j = 0; j < ne; j++)
        g->row[j + 1] += g->row[j];
    g->m = n;
    return true;
}

static int64_t csr_weight(const void *ctx, uint32_t mentor, uint32_t mentee)
{
    const csr *g = ctx;
    for (size_t e = g->row[mentee]; e < g->row[mentee + 1]; e++)
        if (g->col[e] == mentor)
            return g->w[e];
    return -1;
}

static tdm_assign_status collect_candidates(pricer *p, const uint32_t *cap, edge_vec *edges)
{
    for (uint32_t j = 0; j < p->ne; j++)
        for (uint32_t r = 0; r < p->mentee_n[j]; r++) {
            cand c = p->mentee_top[(size_t)j * p->k + r];
            if (!edge_push(edges, j, c.who, c.w))
                return TDM_ASSIGN_E_NOMEM;
        }
    /* Each thread kept its top K' of each mentor; the global top K' is among their union. */
    worker *w0 = &p->workers[0];
    for (unsigned t = 1; t < p->n_workers; t++) {
        worker *wk = &p->workers[t];
        for (uint32_t i = 0; i < p->nm; i++)
            for (uint32_t r = 0; r < wk->mentor_n[i]; r++) {
                cand c = wk->mentor_top[(size_t)i * p->k2 + r];
                heap_offer(w0->mentor_top + (size_t)i * p->k2, &w0->mentor_n[i], p->k2, c.w, c.who);
            }
    }
    for (uint32_t i = 0; i < p->nm; i++) {
        p->mentor_max[i] = w0->mentor_n[i] == p->k2 ? w0->mentor_top[(size_t)i * p->k2].w : -1;
        for (uint32_t r = 0; r < w0->mentor_n[i]; r++) {
            cand c = w0->mentor_top[(size_t)i * p->k2 + r];
            if (!edge_push(edges, c.who, i, c.w))
                return TDM_ASSIGN_E_NOMEM;
        }
    }
    /* Backbone: round robin over mentors with backbone seats left. */
    uint32_t *left = malloc(sizeof *left * ((size_t)p->nm + 1));
    uint32_t *ring = malloc(sizeof *ring * ((size_t)p->nm + 1));
    if (!left || !ring) {
        free(left);
        free(ring);
        return TDM_ASSIGN_E_NOMEM;
    }
    uint32_t n_ring = 0, at = 0;
    for (uint32_t i = 0; i < p->nm; i++) {
        left[i] = cap ? cap[i] : 1;
        if (left[i] > 0)
            ring[n_ring++] = i;
    }
    const tdm_assign_pricing *in = p->in;
    for (uint32_t j = 0; j < p->ne && n_ring > 0; j++) {
        if (!(p->flags[j] & TDM__HAD_EDGE))
            continue;
        for (uint32_t t = 0; t < BACKBONE_TRIES && n_ring > 0; t++) {
            at %= n_ring;
            uint32_t i = ring[at];
            bool adm = true;
            int64_t w = in->score(in->ctx, i, j, &adm);
            p->workers[0].scored++;
            if (!adm || w < p->min_w || w > TDM_ASSIGN_WEIGHT_MAX) {
                at++;
                continue;
            }
            if (!edge_push(edges, j, i, w)) {
                free(left);
                free(ring);
                return TDM_ASSIGN_E_NOMEM;
            }
            if (--left[i] == 0)
                ring[at] = ring[--n_ring];
            else
                at++;
            break;
        }
    }
    free(left);
    free(ring);
    return TDM_ASSIGN_OK;
}

static void pricer_free(pricer *p)
{
    free(p->mentee_top);
    free(p->mentee_n);
    free(p->flags);
    free(p->mentee_max);
    free(p->mentor_max);
    free(p->block_max);
    free(p->order);
    free(p->order_key);
    free(p->sortbuf);
    for (unsigned t = 0; t < MAX_THREADS; t++) {
        free(p->workers[t].stamp);
        free(p->workers[t].floor);
        free(p->workers[t].mentor_top);
        free(p->workers[t].mentor_n);
        free(p->workers[t].found.v);
    }
}

/* Block size asked for (a power of two up to SCAN_CHUNK), TDM_ASSIGN_NO_BOUND_BLOCKS,
 * or 0: the smallest that fits BOUND_BLOCK_BYTES, none when even SCAN_CHUNK does not. */
static tdm_assign_status block_bounds_init(pricer *p, uint32_t asked)
{
    if (asked == TDM_ASSIGN_NO_BOUND_BLOCKS || p->nm == 0 || p->ne == 0)
        return TDM_ASSIGN_OK;
    if (asked != 0 && (asked > SCAN_CHUNK || (asked & (asked - 1)) != 0))
        return TDM_ASSIGN_E_INVALID;
    uint32_t shift = 0;
    for (;;) {
        uint64_t blocks = ((uint64_t)p->ne + (1u << shift) - 1) >> shift;
        uint64_t bytes = blocks * p->nm * sizeof *p->block_max;
        if (asked != 0 ? (1u << shift) == asked : bytes <= BOUND_BLOCK_BYTES) {
            p->block_max = calloc(blocks * p->nm, sizeof *p->block_max);
            p->block_shift = shift;
            return p->block_max != NULL ? TDM_ASSIGN_OK : TDM_ASSIGN_E_NOMEM;
        }
        if ((1u << shift) == SCAN_CHUNK)
            return TDM_ASSIGN_OK; /* too large even at the widest block: no bounds */
        shift++;
    }
}

static tdm_assign_status pricer_init(pricer *p, const tdm_assign_pricing *in,
                                     const tdm_assign_options *o)
{
    tdm_assign_status st;
    memset(p, 0, sizeof *p);
    p->in = in;
    p->nm = in->n_mentors;
    p->ne = in->n_mentees;
    p->k = in->mentee_top_k ? in->mentee_top_k : DEFAULT_TOP_K;
    p->k2 = in->mentor_top_k ? in->mentor_top_k : DEFAULT_TOP_K;
    if (p->k > p->nm)
        p->k = p->nm;
    if (p->k2 > p->ne)
        p->k2 = p->ne;
    p->min_w = o->min_weight;
    unsigned t = in->threads;
    if (t == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        t = c > 0 ? (unsigned)c : 1;
    }
    p->n_workers = t > MAX_THREADS ? MAX_THREADS : t;
    p->mentee_top = malloc(sizeof *p->mentee_top * ((size_t)p->ne * p->k + 1));
    p->mentee_n = calloc((size_t)p->ne + 1, sizeof *p->mentee_n);
    p->flags = calloc((size_t)p->ne + 1, 1);
    p->mentee_max = malloc(sizeof *p->mentee_max * ((size_t)p->ne + 1));
    p->mentor_max = malloc(sizeof *p->mentor_max * ((size_t)p->nm + 1));
    if (!p->mentee_top || !p->mentee_n || !p->flags || !p->mentee_max || !p->mentor_max)
        return TDM_ASSIGN_E_NOMEM;
    for (uint32_t i = 0; i < p->nm; i++)
        p->mentor_max[i] = -1;
    st = block_bounds_init(p, in->bound_block);
    if (st != TDM_ASSIGN_OK)
        return st;
    for (unsigned w = 0; w < p->n_workers; w++) {
        worker *wk = &p->workers[w];
        wk->pr = p;
        wk->mentor_top = malloc(sizeof *wk->mentor_top * ((size_t)p->nm * p->k2 + 1));
        wk->mentor_n = calloc((size_t)p->nm + 1, sizeof *wk->mentor_n);
        wk->stamp = calloc((size_t)p->nm + 1, sizeof *wk->stamp);
        wk->floor = malloc(sizeof *wk->floor * ((size_t)p->nm + 1));
        if (!wk->mentor_top || !wk->mentor_n || !wk->stamp || !wk->floor)
            return TDM_ASSIGN_E_NOMEM;
        for (uint32_t i = 0; i < p->nm; i++)
            wk->floor[i] = p->k2 > 0 ? -1 : INT64_MAX;
    }
    return TDM_ASSIGN_OK;
}

static int cmp_cand_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->who < y->who ? -1 : x->who > y->who;
}

/* Order the mentors by decreasing key = bound' - v for this round's duals. */
static bool pricing_order(pricer *p)
{
    if (p->order == NULL) {
        p->sortbuf = malloc(sizeof *p->sortbuf * ((size_t)p->nm + 1));
        p->order = malloc(sizeof *p->order * ((size_t)p->nm + 1));
        p->order_key = malloc(sizeof *p->order_key * ((size_t)p->nm + 1));
        if (!p->sortbuf || !p->order || !p->order_key)
            return false;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->nm; i++)
        if (p->mentor_max[i] >= 0)
            p->sortbuf[n++] = (cand){p->mentor_max[i] * p->scale + p->offset - p->v[i], i};
    qsort(p->sortbuf, n, sizeof *p->sortbuf, cmp_cand_desc);
    for (uint32_t q = 0; q < n; q++) {
        p->order[q] = p->sortbuf[q].who;
        p->order_key[q] = p->sortbuf[q].w;
    }
    p->n_order = n;
    return true;
}

static void report(const pricer *p, uint32_t round, const tdm_assign_result *r, uint64_t violated,
                   size_t graph_pairs)
{
    if (p->in->progress == NULL)
        return;
    tdm_assign_progress pg = {round, r->stats.pairs_scored, violated, graph_pairs, false, 0};
    p->in->progress(p->in->ctx, &pg);
}

/* The solver's ticks, as progress of the round whose solve is running. */
typedef struct ticker {
    const pricer *p;
    const tdm_assign_result *r;
    uint32_t round;
    uint64_t violated;
    size_t graph_pairs;
} ticker;

static void solve_tick(void *ctx, uint32_t left, uint32_t start)
{
    const ticker *t = ctx;
    tdm_assign_progress pg = {t->round,    t->r->stats.pairs_scored,
                              t->violated, t->graph_pairs,
                              true,        start > 0 ? 1.0 - (double)left / start : 1.0};
    t->p->in->progress(t->p->in->ctx, &pg);
}

/* A new solver reports its searches as progress and stops when the run is cancelled
 * (a lost lease, a stopping replica): a solve after a large pricing round can take
 * seconds, too long to wait for the next round's check. */
static void solver_new_ticking(tdm__ssp *s, ticker *t)
{
    if (s == NULL)
        return;
    if (t->p->in->progress != NULL)
        tdm__ssp_set_tick(s, solve_tick, t);
    tdm__ssp_set_cancel(s, t->p->in->cancel);
}

static tdm_assign_status check_input(const tdm_assign_pricing *in, const tdm_assign_options *o,
                                     uint64_t *seats)
{
    if (in->score == NULL || in->n_mentors > TDM_ASSIGN_MAX_NODES ||
        in->n_mentees > TDM_ASSIGN_MAX_NODES || o->min_weight < 0)
        return TDM_ASSIGN_E_INVALID;
    if (o->objective == TDM_ASSIGN_MAXIMIN)
        return TDM_ASSIGN_E_UNSUPPORTED;
    *seats = 0;
    for (uint32_t i = 0; i < in->n_mentors; i++) {
        uint32_t c = in->capacity ? in->capacity[i] : 1;
        if (c > TDM_ASSIGN_MAX_CAPACITY)
            return TDM_ASSIGN_E_INVALID;
        *seats += c;
    }
    return TDM_ASSIGN_OK;
}

static tdm_assign_status write_result(const pricer *p, const tdm__ssp *s, const csr *g,
                                      tdm_assign_result *r)
{
    tdm_assign_status st = tdm__result_fill(r, p->nm, p->ne, tdm__ssp_mate(s), csr_weight, g, NULL);
    if (st != TDM_ASSIGN_OK)
        return st;
    r->mentee_dual = malloc(sizeof *r->mentee_dual * ((size_t)p->ne + 1));
    r->mentor_dual = malloc(sizeof *r->mentor_dual * ((size_t)p->nm + 1));
    if (!r->mentee_dual || !r->mentor_dual)
        return TDM_ASSIGN_E_NOMEM;
    tdm__ssp_duals(s, r->mentee_dual, r->mentor_dual);
    for (uint32_t j = 0; j < p->ne; j++) {
        if (r->mentor_of[j] >= 0)
            continue;
        uint8_t f = p->flags[j];
        r->reason[j] = (f & TDM__HAD_EDGE)        ? TDM_ASSIGN_ALL_MENTORS_FULL
                       : (f & TDM__HAD_BELOW_MIN) ? TDM_ASSIGN_BELOW_MIN_SCORE
                                                  : TDM_ASSIGN_NO_ADMISSIBLE_MENTOR;
    }
    return TDM_ASSIGN_OK;
}

tdm_assign_status tdm_assign_solve_priced(const tdm_assign_pricing *in, const tdm_assign_options *o,
                                          tdm_assign_result *r)
{
    double t0 = tdm__now();
    memset(r, 0, sizeof *r);
    uint64_t seats;
    tdm_assign_status st = check_input(in, o, &seats);
    if (st != TDM_ASSIGN_OK)
        return st;
    pricer p;
    edge_vec edges = {0};
    csr g = {0};
    tdm__ssp *s = NULL;
    int64_t *u = NULL, *v = NULL;
    uint8_t *touched = NULL;
    uint64_t iters_before = 0, init_before = 0; /* of solvers replaced by cold re-solves */
    st = pricer_init(&p, in, o);
    if (st != TDM_ASSIGN_OK)
        goto done;

    /* 1. candidates */
    double ts = tdm__now();
    run_scan(&p);
    r->stats.scan_seconds += tdm__now() - ts;
    if (in->cancel != NULL && atomic_load(in->cancel)) {
        st = TDM_ASSIGN_E_CANCELLED;
        goto done;
    }
    int64_t max_w = 0;
    for (unsigned t = 0; t < p.n_workers; t++) {
        worker *wk = &p.workers[t];
        r->stats.pairs_scored += wk->scored;
        wk->scored = 0;
        if (wk->max_w > max_w)
            max_w = wk->max_w;
        if (wk->bad_weight) {
            st = TDM_ASSIGN_E_INVALID;
            goto done;
        }
    }
    report(&p, 0, r, 0, 0);
    st = collect_candidates(&p, in->capacity, &edges);
    if (st != TDM_ASSIGN_OK)
        goto done;
    uint64_t kmax = seats < p.ne ? seats : p.ne;
    st = tdm__transform(o->objective, max_w, kmax, (uint64_t)p.nm + p.ne, &p.scale, &p.offset);
    if (st != TDM_ASSIGN_OK)
        goto done;
    p.max_wp = max_w * p.scale + p.offset;
    p.margin = p.scale * (max_w / NEAR_MARGIN_DIVISOR + 1);
    st = TDM_ASSIGN_E_NOMEM;
    if (!csr_build(&edges, p.ne, p.scale, p.offset, &g))
        goto done;
    r->stats.candidate_pairs = g.m;

    /* 2. exact sparse solve */
    s = tdm__ssp_new(p.nm, p.ne, in->capacity);
    ticker tick = {&p, r, 0, 0, g.m};
    solver_new_ticking(s, &tick);
    u = malloc(sizeof *u * ((size_t)p.ne + 1));
    v = malloc(sizeof *v * ((size_t)p.nm + 1));
    touched = malloc((size_t)p.ne + 1);
    if (!s || !u || !v || !touched)
        goto done;
    tdm__ssp_set_graph(s, g.row, g.col, g.wp);
    ts = tdm__now();
    st = tdm__ssp_solve(s);
    r->stats.solve_seconds += tdm__now() - ts;
    r->stats.solves++;
    if (st != TDM_ASSIGN_OK)
        goto done;

    /* 3. pricing rounds */
    uint32_t max_rounds = in->max_rounds ? in->max_rounds : DEFAULT_MAX_ROUNDS;
    p.pricing = true;
    for (uint32_t round = 0; round < max_rounds; round++) {
        if (in->cancel != NULL && atomic_load(in->cancel)) {
            st = TDM_ASSIGN_E_CANCELLED;
            goto done;
        }
        tdm__ssp_duals(s, u, v);
        p.row = g.row;
        p.col = g.col;
        p.u = u;
        p.v = v;
        if (!pricing_order(&p)) {
            st = TDM_ASSIGN_E_NOMEM;
            goto done;
        }
        for (unsigned t = 0; t < p.n_workers; t++) {
            p.workers[t].found.n = 0;
            p.workers[t].violated = 0;
        }
        ts = tdm__now();
        run_scan(&p);
        r->stats.scan_seconds += tdm__now() - ts;
        r->stats.pricing_rounds++;
        if (in->cancel != NULL && atomic_load(in->cancel)) {
            st = TDM_ASSIGN_E_CANCELLED;
            goto done;
        }
        size_t added = 0;
        uint64_t violated = 0, n_touched = 0;
        memset(touched, 0, p.ne);
        for (unsigned t = 0; t < p.n_workers; t++) {
            worker *wk = &p.workers[t];
            r->stats.pairs_scored += wk->scored;
            wk->scored = 0;
            violated += wk->violated;
            if (wk->nomem) {
                st = TDM_ASSIGN_E_NOMEM;
                goto done;
            }
        }
        report(&p, round + 1, r, violated, g.m);
        if (violated == 0) {
            r->stats.certified = true; /* near misses need not be added: nothing improves */
            break;
        }
        for (unsigned t = 0; t < p.n_workers; t++) {
            worker *wk = &p.workers[t];
            for (size_t k = 0; k < wk->found.n; k++) {
                edge3 e = wk->found.v[k];
                if (!edge_push(&edges, e.mentee, e.mentor, e.w)) {
                    st = TDM_ASSIGN_E_NOMEM;
                    goto done;
                }
                n_touched += !touched[e.mentee];
                touched[e.mentee] = 1;
                added++;
            }
        }
        r->stats.pairs_added += added;
        tick = (ticker){&p, r, round + 1, violated, g.m + added};
        csr_free(&g);
        if (!csr_build(&edges, p.ne, p.scale, p.offset, &g)) {
            st = TDM_ASSIGN_E_NOMEM;
            goto done;
        }
        ts = tdm__now();
        if (n_touched > (uint64_t)p.ne / COLD_RESOLVE_DIVISOR) {
            /* Most mentees would be re-routed: a warm re-solve would search from
             * thousands of excess mentees at once (each search and tight phase costs
             * in proportion to them), while a cold solve's initialisation seats most
             * of them without a search. Same optimum either way. */
            iters_before += tdm__ssp_iterations(s);
            init_before += tdm__ssp_init_matched(s);
            tdm__ssp_free(s);
            s = tdm__ssp_new(p.nm, p.ne, in->capacity);
            if (s == NULL) {
                st = TDM_ASSIGN_E_NOMEM;
                goto done;
            }
            solver_new_ticking(s, &tick);
            tdm__ssp_set_graph(s, g.row, g.col, g.wp);
            st = tdm__ssp_solve(s);
        } else {
            tdm__ssp_set_graph(s, g.row, g.col, g.wp);
            st = tdm__ssp_resolve(s, touched);
        }
        r->stats.solve_seconds += tdm__now() - ts;
        r->stats.solves++;
        if (st != TDM_ASSIGN_OK)
            goto done;
    }
    st = write_result(&p, s, &g, r);
    if (st == TDM_ASSIGN_OK) {
        r->dual_scale = p.scale;
        r->dual_offset = p.offset;
        r->stats.iterations = iters_before + tdm__ssp_iterations(s);
        r->stats.init_matched = init_before + tdm__ssp_init_matched(s);
        r->stats.seconds = tdm__now() - t0;
    }
done:
    if (st != TDM_ASSIGN_OK) {
        tdm_assign_stats keep = r->stats;
        tdm_assign_result_free(r);
        r->stats = keep;
    }
    free(u);
    free(v);
    free(touched);
    tdm__ssp_free(s);
    csr_free(&g);
    free(edges.v);
    pricer_free(&p);
    return st;
}
