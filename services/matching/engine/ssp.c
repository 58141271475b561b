/*
 * ssp.c - exact capacitated assignment by successive shortest augmenting paths.
 *
 * The problem is solved as a min-cost flow on a three-layer network:
 *
 *     mentee j --(cost -w'_ij, cap 1)--> mentor i --(cost 0, cap c_i)--> t
 *     mentee j --(cost 0, cap 1)-------------------------------------> t   ("unmatched")
 *
 * Every mentee sends one unit to t, either through a mentor or through its own
 * "unmatched" arc. The mentor's capacity lives on the single arc i -> t: there is one
 * node per mentor, not one per seat, so a search that reaches a full mentor reaches all
 * of its mentees at once (their arcs are tight) and a mentor with a free seat ends the
 * search. Minimising cost is maximising sum w'_ij over the matched pairs.
 *
 * Node potentials p keep every residual arc's reduced cost rc(a->b) = c + p(a) - p(b)
 * non-negative, so each augmentation follows a Dijkstra search from the excess nodes
 * (unrouted mentees, all at once) to the nearest node with a deficit (t, or in a warm
 * re-solve a mentor that lost a mentee), with the usual potential update
 * p(x) += dist(x) - dist(terminal) for the nodes it settled; after each search a phase
 * of depth-first searches augments every other path made only of tight arcs. The flow stays optimal
 * for the mentees routed so far (Jonker-Volgenant / Hungarian argument: a shortest path
 * augmentation preserves reduced-cost optimality), so the last augmentation leaves an
 * optimum.
 *
 * Why the returned duals certify optimality: with p(t) as origin, set
 *     u_j = max(0, p(j) - p(t)),   v_i = max(0, p(t) - p(i)).
 * Non-negative reduced costs on the residual arcs give u_j + v_i >= w'_ij on every
 * unused edge, equality on used ones (they lie on shortest paths and stay tight), u_j = 0
 * when j is unmatched (its used "unmatched" arc forces p(j) <= p(t)) and v_i = 0 when i
 * has a free seat (its residual arc i -> t forces p(i) >= p(t)). These are exactly the
 * complementary slackness conditions of the LP
 *     max sum w'x  s.t.  sum_i x_ij <= 1,  sum_j x_ij <= c_i,  x >= 0
 * and its dual  min sum u + sum c v  s.t.  u_j + v_i >= w'_ij, u, v >= 0,
 * whose constraint matrix is totally unimodular: the integral assignment is optimal.
 *
 * Initialisation: LAPJV's augmenting row reduction extended to capacities (below).
 */
#include "engine.h"

#include <assert.h>
#include <string.h>

#define ARR_PASSES_ONE_SEAT 2
#define ARR_PASSES_SEATS    32
/* Lazy rows (see expand): a mentee's LAZY_K best mentors are relaxed at once, the rest
 * of its row when the search reaches a distance where they could matter. Rows of at most
 * LAZY_MIN_ROW edges are always scanned in full. */
/* Searches between two progress ticks. */
#define TICK_SEARCHES 64
#define LAZY_K        16
#define LAZY_MIN_ROW  32

enum { MARK_NONE = 0, MARK_HEAP = 1, MARK_DONE = 2 };

struct tdm__ssp {
    uint32_t nm, ne, nn; /* mentors, mentees, nodes (nm + ne + 1) */
    uint32_t t;
    const size_t *row;
    const uint32_t *col;
    const int64_t *wp;
    uint32_t *cap;
    int64_t *p;
    int32_t *mate;
    int64_t *mate_w;
    uint32_t *seat_off, *seat, *seat_of, *used, *out;
    int64_t *alt; /* initialisation: cached best alternative of a seated mentee */
    int64_t t_deficit;
    /* Dijkstra scratch */
    int64_t *dist;
    int32_t *pred;
    int64_t *pred_w;
    uint8_t *mark;
    uint32_t *heap, *hpos, *touched, *path;
    uint32_t *seen;   /* tight phase: phase number that reached the node */
    uint32_t *recent; /* excess mentees settled by the last search */
    uint32_t n_recent;
    /* Lazy rows: per mentee, LAZY_K edge offsets (within its row) of the largest
     * w' + p_i, and lbv a bound on w' + p_i over the edges not listed (INT64_MIN: the
     * list holds them all); valid while lvalid[j] (a new graph clears it). Nodes
     * nn + j of the search scratch stand for row j's waiting full scan. */
    uint32_t *lst;
    int64_t *lbv;
    uint8_t *lvalid;
    tdm__ssp_tick_fn tick;
    void *tick_ctx;
    const atomic_bool *cancel;
    size_t *cursor;
    uint32_t phase;
    uint32_t n_heap, n_touched;
    uint64_t iterations, init_matched;
};

tdm__ssp *tdm__ssp_new(uint32_t nm, uint32_t ne, const uint32_t *capacity)
{
    tdm__ssp *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->nm = nm;
    s->ne = ne;
    s->nn = nm + ne + 1;
    s->t = nm + ne;
    size_t seats = 0;
    for (uint32_t i = 0; i < nm; i++)
        seats += capacity ? capacity[i] : 1;
    s->cap = malloc(sizeof *s->cap * (nm + 1));
    s->p = calloc(s->nn, sizeof *s->p);
    s->mate = malloc(sizeof *s->mate * (ne + 1));
    s->mate_w = calloc(ne + 1, sizeof *s->mate_w);
    s->seat_off = malloc(sizeof *s->seat_off * (nm + 1));
    s->seat = malloc(sizeof *s->seat * (seats + 1));
    s->seat_of = malloc(sizeof *s->seat_of * (ne + 1));
    s->used = calloc(nm + 1, sizeof *s->used);
    s->out = calloc(nm + 1, sizeof *s->out);
    size_t scratch = (size_t)s->nn + ne; /* nodes, then the waiting rows */
    s->dist = malloc(sizeof *s->dist * scratch);
    s->pred = malloc(sizeof *s->pred * scratch);
    s->pred_w = malloc(sizeof *s->pred_w * scratch);
    s->mark = calloc(scratch, 1);
    s->heap = malloc(sizeof *s->heap * scratch);
    s->hpos = malloc(sizeof *s->hpos * scratch);
    s->touched = malloc(sizeof *s->touched * scratch);
    s->lst = malloc(sizeof *s->lst * ((size_t)ne * LAZY_K + 1));
    s->lbv = malloc(sizeof *s->lbv * (ne + 1));
    s->lvalid = calloc(ne + 1, 1);
    s->path = malloc(sizeof *s->path * (s->nn + 1));
    s->seen = calloc(s->nn, sizeof *s->seen);
    s->recent = malloc(sizeof *s->recent * (ne + 1));
    s->cursor = malloc(sizeof *s->cursor * s->nn);
    if (!s->cap || !s->p || !s->mate || !s->mate_w || !s->seat_off || !s->seat || !s->seat_of ||
        !s->used || !s->out || !s->dist || !s->pred || !s->pred_w || !s->mark || !s->heap ||
        !s->hpos || !s->touched || !s->path || !s->seen || !s->cursor || !s->recent || !s->lst ||
        !s->lbv || !s->lvalid) {
        tdm__ssp_free(s);
        return NULL;
    }
    uint32_t off = 0;
    for (uint32_t i = 0; i < nm; i++) {
        s->cap[i] = capacity ? capacity[i] : 1;
        s->seat_off[i] = off;
        off += s->cap[i];
    }
    s->seat_off[nm] = off;
    for (uint32_t j = 0; j < ne; j++)
        s->mate[j] = TDM__MATE_NONE;
    s->t_deficit = ne;
    return s;
}

void tdm__ssp_free(tdm__ssp *s)
{
    if (s == NULL)
        return;
    free(s->cap);
    free(s->p);
    free(s->mate);
    free(s->mate_w);
    free(s->seat_off);
    free(s->seat);
    free(s->seat_of);
    free(s->used);
    free(s->out);
    free(s->dist);
    free(s->pred);
    free(s->pred_w);
    free(s->mark);
    free(s->heap);
    free(s->hpos);
    free(s->touched);
    free(s->path);
    free(s->seen);
    free(s->recent);
    free(s->lst);
    free(s->lbv);
    free(s->lvalid);
    free(s->cursor);
    free(s->alt);
    free(s);
}

void tdm__ssp_set_graph(tdm__ssp *s, const size_t *row, const uint32_t *col, const int64_t *wp)
{
    s->row = row;
    s->col = col;
    s->wp = wp;
    memset(s->lvalid, 0, s->ne); /* edge offsets and values changed */
}

const int32_t *tdm__ssp_mate(const tdm__ssp *s)
{
    return s->mate;
}

uint64_t tdm__ssp_iterations(const tdm__ssp *s)
{
    return s->iterations;
}

void tdm__ssp_set_tick(tdm__ssp *s, tdm__ssp_tick_fn fn, void *ctx)
{
    s->tick = fn;
    s->tick_ctx = ctx;
}

void tdm__ssp_set_cancel(tdm__ssp *s, const atomic_bool *cancel)
{
    s->cancel = cancel;
}

/* Read before every search and every reduction step: a cancelled solve (a lost lease)
 * stops within one of them. */
static bool ssp_cancelled(const tdm__ssp *s)
{
    return s->cancel != NULL && atomic_load_explicit(s->cancel, memory_order_relaxed);
}

uint64_t tdm__ssp_init_matched(const tdm__ssp *s)
{
    return s->init_matched;
}

void tdm__ssp_duals(const tdm__ssp *s, int64_t *u, int64_t *v)
{
    int64_t pt = s->p[s->t];
    for (uint32_t j = 0; j < s->ne; j++) {
        int64_t x = s->p[s->nm + j] - pt;
        u[j] = x > 0 ? x : 0;
    }
    for (uint32_t i = 0; i < s->nm; i++) {
        int64_t x = pt - s->p[i];
        v[i] = x > 0 ? x : 0;
    }
}

/* ---- seats ---- */

static void seat_add(tdm__ssp *s, uint32_t i, uint32_t j, int64_t w)
{
    assert(s->used[i] < s->cap[i]);
    uint32_t pos = s->seat_off[i] + s->used[i]++;
    s->seat[pos] = j;
    s->seat_of[j] = pos;
    s->mate[j] = (int32_t)i;
    s->mate_w[j] = w;
}

static void seat_remove(tdm__ssp *s, uint32_t j)
{
    uint32_t i = (uint32_t)s->mate[j];
    uint32_t pos = s->seat_of[j];
    uint32_t last = s->seat_off[i] + --s->used[i];
    uint32_t k = s->seat[last];
    s->seat[pos] = k;
    s->seat_of[k] = pos;
    s->mate[j] = TDM__MATE_NONE;
}

/* ---- binary heap keyed by dist ---- */

static void heap_up(tdm__ssp *s, uint32_t pos)
{
    uint32_t x = s->heap[pos];
    int64_t d = s->dist[x];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        uint32_t y = s->heap[parent];
        if (s->dist[y] <= d)
            break;
        s->heap[pos] = y;
        s->hpos[y] = pos;
        pos = parent;
    }
    s->heap[pos] = x;
    s->hpos[x] = pos;
}

static uint32_t heap_pop(tdm__ssp *s)
{
    uint32_t top = s->heap[0];
    uint32_t x = s->heap[--s->n_heap];
    if (s->n_heap > 0) {
        int64_t d = s->dist[x];
        uint32_t pos = 0;
        for (;;) {
            uint32_t c = 2 * pos + 1;
            if (c >= s->n_heap)
                break;
            if (c + 1 < s->n_heap && s->dist[s->heap[c + 1]] < s->dist[s->heap[c]])
                c++;
            if (s->dist[s->heap[c]] >= d)
                break;
            s->heap[pos] = s->heap[c];
            s->hpos[s->heap[pos]] = pos;
            pos = c;
        }
        s->heap[pos] = x;
        s->hpos[x] = pos;
    }
    return top;
}

static void relax(tdm__ssp *s, uint32_t y, int64_t nd, uint32_t from, int64_t w)
{
    uint8_t m = s->mark[y];
    if (m == MARK_DONE)
        return;
    if (m == MARK_NONE) {
        s->mark[y] = MARK_HEAP;
        s->touched[s->n_touched++] = y;
        s->dist[y] = nd;
        s->pred[y] = (int32_t)from;
        s->pred_w[y] = w;
        s->heap[s->n_heap] = y;
        heap_up(s, s->n_heap++);
        return;
    }
    if (nd < s->dist[y]) {
        s->dist[y] = nd;
        s->pred[y] = (int32_t)from;
        s->pred_w[y] = w;
        heap_up(s, s->hpos[y]);
    }
}

/*
 * Lazy rows. In a market with about as many seats as mentees a search settles most
 * mentors and so reaches most mentees, and relaxing every edge of every row reached is
 * most of a search's work; yet the arcs that matter are those of small reduced cost.
 * Mentor potentials only go down (searches lower settled nodes, initialisation lowers
 * the displacing mentor's), so w' + p_i of an edge only goes down: the (K+1)-th largest
 * value taken when a row was scanned bounds every edge not listed then, for as long as
 * the graph stays the same. A mentee reached at distance d relaxes its K listed mentors
 * and its full scan waits in the heap at d + max(0, p_j - lbv), a lower bound of what
 * any unlisted arc gives; a search that ends before never pays for it. Settled
 * distances are exactly those of full scans, and so are the potentials.
 */

/* Row j scanned in full from its settled mentee node (every arc relaxed), and its list
 * rebuilt at the current potentials. */
static void scan_row(tdm__ssp *s, uint32_t j)
{
    uint32_t x = s->nm + j;
    int64_t base = s->dist[x] + s->p[x];
    int32_t mine = s->mate[j];
    size_t lo = s->row[j], hi = s->row[j + 1];
    int64_t val[LAZY_K + 1];
    uint32_t idx[LAZY_K + 1];
    uint32_t n = 0;
    for (size_t e = lo; e < hi; e++) {
        uint32_t i = s->col[e];
        if ((int32_t)i != mine)
            relax(s, i, base - s->wp[e] - s->p[i], x, s->wp[e]);
        if (hi - lo <= LAZY_MIN_ROW)
            continue;
        int64_t a = s->wp[e] + s->p[i];
        if (n == LAZY_K + 1 && a <= val[LAZY_K])
            continue;
        uint32_t q = n < LAZY_K + 1 ? n++ : LAZY_K;
        while (q > 0 && val[q - 1] < a) {
            val[q] = val[q - 1];
            idx[q] = idx[q - 1];
            q--;
        }
        val[q] = a;
        idx[q] = (uint32_t)(e - lo);
    }
    if (hi - lo <= LAZY_MIN_ROW)
        return;
    /* the row has more than LAZY_K + 1 edges: the list is full and lbv a real bound */
    memcpy(s->lst + (size_t)j * LAZY_K, idx, sizeof idx[0] * LAZY_K);
    s->lbv[j] = val[LAZY_K];
    s->lvalid[j] = 1;
}

/* Row j's full scan waits in the heap at key (node nn + j). */
static void wait_row(tdm__ssp *s, uint32_t j, int64_t key)
{
    uint32_t y = s->nn + j;
    if (s->mark[y] != MARK_NONE)
        return; /* a mentee is expanded once per search */
    s->mark[y] = MARK_HEAP;
    s->touched[s->n_touched++] = y;
    s->dist[y] = key;
    s->pred[y] = -1;
    s->heap[s->n_heap] = y;
    heap_up(s, s->n_heap++);
}

static bool is_terminal(const tdm__ssp *s, uint32_t x)
{
    if (x == s->t)
        return s->t_deficit > 0;
    return x < s->nm && s->used[x] < s->out[x];
}

static void expand(tdm__ssp *s, uint32_t x)
{
    int64_t dx = s->dist[x];
    if (x == s->t) {
        /* Only in a warm re-solve: t is passed through when a mentor must give a seat up. */
        int64_t pt = s->p[x];
        for (uint32_t i = 0; i < s->nm; i++)
            if (s->out[i] > 0)
                relax(s, i, dx + pt - s->p[i], x, 0);
        for (uint32_t j = 0; j < s->ne; j++)
            if (s->mate[j] == TDM__MATE_DUMMY)
                relax(s, s->nm + j, dx + pt - s->p[s->nm + j], x, 0);
    } else if (x < s->nm) {
        int64_t pi = s->p[x];
        for (uint32_t q = s->seat_off[x]; q < s->seat_off[x] + s->used[x]; q++) {
            uint32_t k = s->seat[q];
            relax(s, s->nm + k, dx + s->mate_w[k] - s->p[s->nm + k] + pi, x, 0);
        }
        if (s->out[x] < s->cap[x])
            relax(s, s->t, dx + pi - s->p[s->t], x, 0);
    } else {
        uint32_t j = x - s->nm;
        int32_t mine = s->mate[j];
        size_t lo = s->row[j];
        if (s->row[j + 1] - lo <= LAZY_MIN_ROW || !s->lvalid[j]) {
            scan_row(s, j);
        } else {
            int64_t base = dx + s->p[x];
            const uint32_t *l = s->lst + (size_t)j * LAZY_K;
            for (uint32_t r = 0; r < LAZY_K; r++) {
                size_t e = lo + l[r];
                uint32_t i = s->col[e];
                if ((int32_t)i != mine)
                    relax(s, i, base - s->wp[e] - s->p[i], x, s->wp[e]);
            }
            if (s->lbv[j] != INT64_MIN) {
                /* every arc not listed has rc = p_x - w' - p_i >= p_x - lbv (and >= 0) */
                int64_t gap = s->p[x] - s->lbv[j];
                wait_row(s, j, dx + (gap > 0 ? gap : 0));
            }
        }
        if (mine != TDM__MATE_DUMMY)
            relax(s, s->t, dx + s->p[x] - s->p[s->t], x, 0);
    }
}

/* Flip the flow along the path src -> ... -> term (pred links). Removals first, so that a
 * mentor's seat is free before the mentee taking it is seated. */
static void augment(tdm__ssp *s, uint32_t src, uint32_t term)
{
    uint32_t n = 0;
    for (uint32_t x = term; x != src; x = (uint32_t)s->pred[x])
        s->path[n++] = x;
    s->path[n++] = src;
    /* path[n-1] = src ... path[0] = term; arcs are path[k+1] -> path[k]. */
    for (uint32_t k = n - 1; k > 0; k--) {
        uint32_t a = s->path[k], b = s->path[k - 1];
        if (a < s->nm && b != s->t)
            seat_remove(s, b - s->nm); /* mentor a -> mentee b: b leaves a */
        else if (a < s->nm)
            s->out[a]++;
        else if (a == s->t && b < s->nm)
            s->out[b]--;
        else if (a == s->t)
            s->mate[b - s->nm] = TDM__MATE_NONE; /* leaves its "unmatched" arc */
    }
    for (uint32_t k = n - 1; k > 0; k--) {
        uint32_t a = s->path[k], b = s->path[k - 1];
        if (a >= s->nm && a != s->t) {
            if (b < s->nm)
                seat_add(s, b, a - s->nm, s->pred_w[b]);
            else
                s->mate[a - s->nm] = TDM__MATE_DUMMY;
        }
    }
    if (term == s->t)
        s->t_deficit--;
}

/* One Dijkstra search from the excess mentee j, then potentials and augmentation. */
/*
 * One Dijkstra search from all excess mentees at once (a super source joined to each
 * excess j by an arc of reduced cost P - p_j, P the largest p_j), stopped at the first
 * deficit node; then the potential update and the augmentation of that one path. The
 * nearest excess is found without exploring far from the others, and every arc on a
 * shortest path becomes tight, which the phase below then exploits.
 */
static tdm_assign_status route_many(tdm__ssp *s, const uint32_t *excess, uint32_t n_excess)
{
    s->n_heap = 0;
    s->n_touched = 0;
    int64_t top = INT64_MIN;
    for (uint32_t q = 0; q < n_excess; q++)
        if (s->p[s->nm + excess[q]] > top)
            top = s->p[s->nm + excess[q]];
    for (uint32_t q = 0; q < n_excess; q++) {
        uint32_t src = s->nm + excess[q];
        s->mark[src] = MARK_HEAP;
        s->touched[s->n_touched++] = src;
        s->dist[src] = top - s->p[src];
        s->pred[src] = -1;
        s->heap[s->n_heap] = src;
        heap_up(s, s->n_heap++);
    }
    uint32_t term = UINT32_MAX;
    while (s->n_heap > 0) {
        uint32_t x = heap_pop(s);
        s->mark[x] = MARK_DONE;
        if (x >= s->nn) {
            scan_row(s, x - s->nn); /* the search got to where its other arcs matter */
            continue;
        }
        if (is_terminal(s, x)) {
            term = x;
            break;
        }
        expand(s, x);
    }
    if (term == UINT32_MAX) {
        for (uint32_t q = 0; q < s->n_touched; q++)
            s->mark[s->touched[q]] = MARK_NONE;
        return TDM_ASSIGN_E_INTERNAL; /* t is always reachable: a bug */
    }
    int64_t dt = s->dist[term];
    s->n_recent = 0;
    for (uint32_t q = 0; q < s->n_touched; q++) {
        uint32_t x = s->touched[q];
        if (s->mark[x] == MARK_DONE && x < s->nn) {
            s->p[x] += s->dist[x] - dt;
            if (x >= s->nm && x != s->t && s->mate[x - s->nm] == TDM__MATE_NONE)
                s->recent[s->n_recent++] = x - s->nm;
        }
        s->mark[x] = MARK_NONE;
    }
    uint32_t src = term;
    while (s->pred[src] >= 0)
        src = (uint32_t)s->pred[src];
    augment(s, src, term);
    s->iterations++;
    return TDM_ASSIGN_OK;
}

/*
 * A phase of augmentations on tight arcs (reduced cost 0), as in the primal-dual method:
 * a depth-first search from each excess mentee over tight residual arcs to a deficit
 * (a mentor that lost a mentee, or t through a free seat or an "unmatched" arc while t
 * still needs flow). A path of reduced length 0 is a shortest path, so augmenting it
 * keeps every reduced cost non-negative, exactly like a search would - only cheaper. A
 * node that led nowhere is not tried again in the same phase. Returns the number of
 * augmentations.
 */
static uint32_t tight_phase(tdm__ssp *s, const uint32_t *excess, uint32_t n_excess)
{
    uint32_t done = 0;
    uint32_t *stack = s->heap;  /* reuse: at most one entry per node */
    size_t *cursor = s->cursor; /* next arc to try, per node on the stack */
    s->phase++;
    for (uint32_t q = 0; q < n_excess; q++) {
        uint32_t j = excess[q];
        if (s->mate[j] != TDM__MATE_NONE)
            continue;
        uint32_t n = 0;
        uint32_t x = s->nm + j;
        s->seen[x] = s->phase;
        s->pred[x] = -1;
        stack[n++] = x;
        cursor[x] = 0;
        uint32_t term = UINT32_MAX;
        while (n > 0 && term == UINT32_MAX) {
            x = stack[n - 1];
            uint32_t next = UINT32_MAX;
            int64_t nw = 0;
            if (x < s->nm) {
                if (s->used[x] < s->out[x]) {
                    term = x;
                    break;
                }
                if (s->out[x] < s->cap[x] && s->p[x] == s->p[s->t] && s->t_deficit > 0) {
                    s->pred[s->t] = (int32_t)x;
                    term = s->t;
                    break;
                }
                while (cursor[x] < s->used[x]) {
                    uint32_t k = s->nm + s->seat[s->seat_off[x] + cursor[x]++];
                    if (s->seen[k] != s->phase) {
                        next = k;
                        break;
                    }
                }
            } else {
                uint32_t jj = x - s->nm;
                int32_t mine = s->mate[jj];
                if (mine != TDM__MATE_DUMMY && s->p[x] == s->p[s->t] && s->t_deficit > 0) {
                    s->pred[s->t] = (int32_t)x;
                    term = s->t;
                    break;
                }
                size_t lo = s->row[jj], hi = s->row[jj + 1];
                while (lo + cursor[x] < hi) {
                    size_t e = lo + cursor[x]++;
                    uint32_t i = s->col[e];
                    if ((int32_t)i == mine || s->seen[i] == s->phase)
                        continue;
                    if (s->p[x] - s->p[i] == s->wp[e]) {
                        next = i;
                        nw = s->wp[e];
                        break;
                    }
                }
            }
            if (next == UINT32_MAX) {
                n--; /* dead end for this phase: stays seen */
                continue;
            }
            s->seen[next] = s->phase;
            s->pred[next] = (int32_t)x;
            s->pred_w[next] = nw;
            cursor[next] = 0;
            stack[n++] = next;
        }
        if (term != UINT32_MAX) {
            augment(s, s->nm + j, term);
            s->iterations++;
            done++;
        }
    }
    return done;
}

/* Route every excess mentee: phases of tight augmentations between multi-source searches. */
static tdm_assign_status route_all(tdm__ssp *s)
{
    uint32_t *excess = malloc(sizeof *excess * ((size_t)s->ne + 1));
    if (excess == NULL)
        return TDM_ASSIGN_E_NOMEM;
    uint32_t n = 0;
    for (uint32_t j = 0; j < s->ne; j++)
        if (s->mate[j] == TDM__MATE_NONE)
            excess[n++] = j;
    tdm_assign_status st = TDM_ASSIGN_OK;
    uint32_t start = n, searches = 0;
    while (n > 0) {
        if (ssp_cancelled(s)) {
            st = TDM_ASSIGN_E_CANCELLED;
            break;
        }
        if (s->tick != NULL && ++searches % TICK_SEARCHES == 0)
            s->tick(s->tick_ctx, n, start);
        st = route_many(s, excess, n);
        if (st != TDM_ASSIGN_OK)
            break;
        /* Only the excess mentees the search settled: the potential update made new
         * tight arcs only out of settled nodes, so a DFS from any other excess mentee
         * meets the arcs that failed it before (it may still succeed through a reverse
         * arc an augmentation made; a later search finds that path then). Trying every
         * excess mentee after every search cost O(excess x row) per search: quadratic in
         * the excess, which after a large pricing round is most of the mentees. */
        tight_phase(s, s->recent, s->n_recent);
        uint32_t m = 0;
        for (uint32_t q = 0; q < n; q++)
            if (s->mate[excess[q]] == TDM__MATE_NONE)
                excess[m++] = excess[q];
        n = m;
    }
    free(excess);
    return st;
}

/*
 * Initialisation: augmenting row reduction with capacities, the sparse twin of the one in
 * dense.c (its comment gives the argument). Mentee potentials start at their best value
 * max(p_t, max_i w'_ij + p_i), which makes every arc's reduced cost non-negative; a mentee
 * whose best mentor has a free seat takes it, otherwise it displaces the occupant with
 * the least slack while the mentor's price drops by what the staying occupants' slack
 * allows. Displaced mentees are retried while a budget lasts; whatever is left is routed
 * by the searches.
 */
static void arr_step(tdm__ssp *s, uint32_t j, uint32_t *again, uint32_t *n_again, uint32_t *later,
                     uint32_t *n_later, uint64_t *budget)
{
    int64_t pt = s->p[s->t];
    int64_t a1 = pt, a2 = pt, bf = INT64_MIN;
    size_t e1 = SIZE_MAX, ef = SIZE_MAX;
    for (size_t e = s->row[j]; e < s->row[j + 1]; e++) {
        uint32_t i = s->col[e];
        int64_t a = s->wp[e] + s->p[i];
        if (a > a1) {
            a2 = a1;
            a1 = a;
            e1 = e;
        } else if (a > a2) {
            a2 = a;
        }
        if (s->used[i] < s->cap[i] && a > bf) {
            bf = a;
            ef = e;
        }
    }
    uint32_t x = s->nm + j;
    if (e1 == SIZE_MAX) {
        s->p[x] = pt; /* "unmatched" is as good as any mentor: tight */
        s->mate[j] = TDM__MATE_DUMMY;
        s->t_deficit--;
        return;
    }
    if (ef != SIZE_MAX && bf == a1) {
        uint32_t i = s->col[ef];
        s->p[x] = a1;
        s->alt[j] = a2;
        seat_add(s, i, j, s->wp[ef]);
        s->out[i]++;
        s->t_deficit--;
        s->init_matched++;
        return;
    }
    uint32_t i = s->col[e1];
    if (s->cap[i] == 0) {
        s->p[x] = a1;
        later[(*n_later)++] = j;
        return;
    }
    int64_t delta;
    uint32_t kmin = tdm__arr_displace(s->seat + s->seat_off[i], s->used[i], s->p + s->nm, s->alt,
                                      &s->p[i], a1 - a2, &delta);
    s->p[x] = a1 - delta;
    s->alt[j] = a2;
    uint32_t pos = s->seat_of[kmin];
    s->mate[kmin] = TDM__MATE_NONE;
    s->seat[pos] = j;
    s->seat_of[j] = pos;
    s->mate[j] = (int32_t)i;
    s->mate_w[j] = s->wp[e1];
    if (delta > 0 && *budget > 0) {
        (*budget)--;
        again[(*n_again)++] = kmin;
    } else {
        later[(*n_later)++] = kmin;
    }
}

static tdm_assign_status init_arr(tdm__ssp *s)
{
    uint32_t *a = malloc(sizeof *a * ((size_t)s->ne + 1));
    uint32_t *b = malloc(sizeof *b * ((size_t)s->ne + 1));
    s->alt = malloc(sizeof *s->alt * ((size_t)s->ne + 1));
    if (!a || !b || !s->alt) {
        free(a);
        free(b);
        return TDM_ASSIGN_E_NOMEM;
    }
    tdm_assign_status st = TDM_ASSIGN_OK;
    int passes = ARR_PASSES_ONE_SEAT;
    for (uint32_t i = 0; i < s->nm; i++)
        if (s->cap[i] > 1)
            passes = ARR_PASSES_SEATS;
    uint32_t na = 0, nb;
    for (uint32_t j = s->ne; j-- > 0;)
        a[na++] = j;
    for (int pass = 0; pass < passes && na > 0 && st == TDM_ASSIGN_OK; pass++) {
        nb = 0;
        uint64_t budget = 2 * (uint64_t)na + 16;
        while (na > 0) {
            if (ssp_cancelled(s)) {
                st = TDM_ASSIGN_E_CANCELLED; /* as route_all: a lost run stops at once */
                break;
            }
            uint32_t j = a[--na];
            if (s->mate[j] == TDM__MATE_NONE)
                arr_step(s, j, a, &na, b, &nb, &budget);
        }
        for (uint32_t q = 0; q < nb; q++)
            a[q] = b[nb - 1 - q];
        na = nb;
    }
    free(a);
    free(b);
    return st;
}

tdm_assign_status tdm__ssp_solve(tdm__ssp *s)
{
    tdm_assign_status st = init_arr(s);
    return st != TDM_ASSIGN_OK ? st : route_all(s);
}

/*
 * Warm re-solve after the caller added edges (pricing). Mentee j with a new edge of
 * negative reduced cost gets p(j) raised until all its arcs are non-negative again and
 * leaves its mentor: the mentor keeps its flow to t and so has a deficit of one, which
 * the next searches fill (possibly by passing through t, i.e. freeing a seat elsewhere).
 * Everything else keeps its flow and potentials, so the work is proportional to the
 * change, not the problem.
 */
tdm_assign_status tdm__ssp_resolve(tdm__ssp *s, const uint8_t *touched_mentee)
{
    int64_t pt = s->p[s->t];
    for (uint32_t j = 0; j < s->ne; j++) {
        if (!touched_mentee[j])
            continue;
        int64_t pj = s->p[s->nm + j];
        bool violated = false;
        int64_t need = pt;
        for (size_t e = s->row[j]; e < s->row[j + 1]; e++) {
            int64_t x = s->wp[e] + s->p[s->col[e]];
            if (x > need)
                need = x;
            if ((int32_t)s->col[e] != s->mate[j] && x > pj)
                violated = true;
        }
        if (!violated)
            continue;
        s->p[s->nm + j] = need;
        if (s->mate[j] >= 0) {
            seat_remove(s, j);
        } else if (s->mate[j] == TDM__MATE_DUMMY) {
            s->mate[j] = TDM__MATE_NONE;
            s->t_deficit++;
        }
    }
    return route_all(s);
}
