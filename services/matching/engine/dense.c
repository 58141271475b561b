/*
 * dense.c - the exact solver on a dense weight matrix (the CLI's fast path).
 *
 * Same network, potentials and certificate as ssp.c (read its comment first), laid out
 * for a matrix: the Dijkstra search keeps mentors in one array split into
 * [settled | current minimum | to do] as in Jonker and Volgenant's LAPJV, so choosing the
 * next mentor is a linear scan that the row scan already pays for, and no heap is needed.
 * Mentor capacity stays inside: settling a full mentor reaches all of its mentees at the
 * same distance (their pairs are tight) and each of their rows is scanned; settling a
 * mentor with a free seat ends the search.
 *
 * Initialisation is LAPJV's augmenting row reduction (ARR), extended with the "unmatched"
 * option and capacities: a free mentee j looks at its best value a1 = max_i (w'_ij + p_i)
 * and second best a2 (the "unmatched" arc counts, with value p_t). If the best mentor has
 * a free seat (or a free mentor ties for best), j is seated there with p_j = a1.
 * Otherwise the best mentor is full: its occupant with the least slack (its potential
 * minus its best alternative) is displaced and j takes the seat. The mentor's price
 * drops by delta = min(a1 - a2, the smallest slack among the occupants that stay), and
 * those occupants' potentials drop by delta too, so they stay tight and, delta being
 * within their slack, no arc of theirs turns negative; j gets p_j = a1 - delta >= a2.
 * With one seat there is no staying occupant and this is LAPJV's step exactly. Slacks
 * use cached alternatives, which prices only lower, so the cache errs on the safe side.
 * Every step keeps all reduced costs non-negative, so the searches that follow start
 * from a valid state and the result is exact whatever ARR did.
 *
 * Searches scan rows lazily (see "Lazy rows"): a row reached through a full mentor
 * relaxes only its K best mentors at once and its full scan waits until the search gets
 * to a distance where an unlisted mentor could matter, which in nearly balanced markets
 * is rarely before the search ends. Distances, potentials and duals are those of full
 * scans.
 */
#include "engine.h"

#include <string.h>

#define DIST_INF  INT64_MAX
#define NO_MENTOR (-1)
/* Passes of augmenting row reduction (measured on score-like data: with several seats per
 * mentor, more passes keep cutting the number of searches). */
#define ARR_PASSES_ONE_SEAT 2
#define ARR_PASSES_SEATS    32
/* Lazy rows (below): list length, used when a row has at least LAZY_MIN_RATIO times more
 * mentors (16 measured best of 16/32/64/128 on score-like data and the service's). */
#define LAZY_K         16
#define LAZY_MIN_RATIO 2

typedef struct dense_solver {
    uint32_t nm, ne;
    const int32_t *w;
    int64_t scale, offset, thr;
    const uint32_t *cap;
    int64_t *pm;   /* mentor potentials */
    int64_t *pe;   /* mentee potentials */
    int64_t pt;    /* p(t), fixed at 0: only differences matter */
    int32_t *mate; /* mentor, TDM__MATE_NONE or TDM__MATE_DUMMY */
    uint32_t *seat_off, *seat, *seat_of, *used;
    int arr_passes; /* LAPJV's two; more pay off when mentors have several seats */
    int64_t *alt;   /* ARR: an upper bound of a seated mentee's best alternative value */
    /* search scratch */
    int64_t *d;
    int32_t *pred; /* mentee that reached each mentor */
    uint32_t *cols;
    uint32_t *pos; /* inverse of cols */
    /* lazy rows: each mentee's K best mentors; the rest of its row waits in a heap */
    uint32_t k;    /* list length, 0: every row scanned in full */
    uint32_t *lst; /* lst[j * k + r] */
    int64_t *lbv;  /* a bound on w' + p over the mentors not listed, or INT64_MIN */
    int64_t *dkk;  /* distance at which a waiting row was reached */
    int64_t *hkey; /* heap of waiting rows by key */
    uint32_t *hrow;
    uint32_t nh;
    int64_t *bval; /* K + 1 scratch entries for build_row */
    uint32_t *bidx;
    uint64_t iterations, init_matched;
    const atomic_bool *cancel; /* tdm_assign_dense.cancel */
} dense_solver;

/* Read once per row scan or augmentation: each costs O(mentors) at least, so the load is
 * free beside it, and a cancelled solve stops within one of them (a lost lease should
 * not cost seconds of a core). */
static bool dense_cancelled(const dense_solver *s)
{
    return s->cancel != NULL && atomic_load_explicit(s->cancel, memory_order_relaxed);
}

static inline int64_t wprime(const dense_solver *s, int32_t w)
{
    return (int64_t)w * s->scale + s->offset;
}

static void seat_put(dense_solver *s, uint32_t i, uint32_t pos, uint32_t j)
{
    s->seat[pos] = j;
    s->seat_of[j] = pos;
    s->mate[j] = (int32_t)i;
}

static void seat_new(dense_solver *s, uint32_t i, uint32_t j)
{
    seat_put(s, i, s->seat_off[i] + s->used[i]++, j);
}

/* ---- augmenting row reduction ---- */

static void arr_step(dense_solver *s, uint32_t j, uint32_t *freelist, uint32_t *n_free,
                     uint32_t *next, uint32_t *n_next, uint64_t *budget)
{
    const int32_t *row = s->w + (size_t)j * s->nm;
    int64_t a1 = s->pt, a2 = s->pt, bf = INT64_MIN;
    int32_t i1 = NO_MENTOR, ifree = NO_MENTOR;
    for (uint32_t i = 0; i < s->nm; i++) {
        if (row[i] < s->thr)
            continue;
        int64_t a = wprime(s, row[i]) + s->pm[i];
        if (a > a1) {
            a2 = a1;
            a1 = a;
            i1 = (int32_t)i;
        } else if (a > a2) {
            a2 = a;
        }
        if (s->used[i] < s->cap[i] && a > bf) {
            bf = a;
            ifree = (int32_t)i;
        }
    }
    if (i1 == NO_MENTOR) {
        s->pe[j] = s->pt; /* "unmatched" is at least as good as any mentor: tight */
        s->mate[j] = TDM__MATE_DUMMY;
        return;
    }
    if (ifree != NO_MENTOR && bf == a1) {
        s->pe[j] = a1;
        s->alt[j] = a2; /* best value without this mentor: a tie keeps a2 == a1 */
        seat_new(s, (uint32_t)ifree, j);
        s->init_matched++;
        return;
    }
    uint32_t i = (uint32_t)i1;
    if (s->cap[i] == 0) {
        s->pe[j] = a1;
        next[(*n_next)++] = j; /* a mentor without seats: left to the searches */
        return;
    }
    /* The occupant with the least slack leaves; the others stay tight while the price
     * drops by delta, which their slack (potential minus best alternative) must cover. */
    int64_t delta;
    uint32_t kmin = tdm__arr_displace(s->seat + s->seat_off[i], s->used[i], s->pe, s->alt,
                                      &s->pm[i], a1 - a2, &delta);
    s->pe[j] = a1 - delta;
    s->alt[j] = a2;
    uint32_t pos = s->seat_of[kmin];
    s->mate[kmin] = TDM__MATE_NONE;
    seat_put(s, i, pos, j);
    if (delta > 0 && *budget > 0) {
        (*budget)--;
        freelist[(*n_free)++] = kmin; /* the price moved: worth another try now */
    } else {
        next[(*n_next)++] = kmin;
    }
}

static tdm_assign_status arr(dense_solver *s)
{
    uint32_t *a = malloc(sizeof *a * ((size_t)s->ne + 1));
    uint32_t *b = malloc(sizeof *b * ((size_t)s->ne + 1));
    if (a == NULL || b == NULL) {
        free(a);
        free(b);
        return TDM_ASSIGN_E_NOMEM;
    }
    tdm_assign_status st = TDM_ASSIGN_OK;
    uint32_t na = 0, nb;
    for (uint32_t j = s->ne; j-- > 0;)
        a[na++] = j;
    /* Passes as in LAPJV. Every mentee is looked at in the first pass (so each has a
     * valid potential); a displaced mentee is retried at once only while the budget
     * lasts, which keeps ARR O(n) row scans. */
    for (int pass = 0; pass < s->arr_passes && na > 0 && st == TDM_ASSIGN_OK; pass++) {
        nb = 0;
        uint64_t budget = 2 * (uint64_t)na + 16;
        while (na > 0) {
            if (dense_cancelled(s)) {
                st = TDM_ASSIGN_E_CANCELLED;
                break;
            }
            uint32_t j = a[--na];
            if (s->mate[j] != TDM__MATE_NONE)
                continue;
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

/* ---- one shortest augmenting path search from mentee src ---- */

typedef struct term {
    int32_t mentor; /* FREE: mentor with a free seat; DUMMY: mentor of the leaving mentee */
    int32_t mentee; /* DUMMY: the mentee that goes "unmatched" (src: mentor = -1) */
    bool dummy;
} term;

/* Scan mentee k's row (reached at distance dk) over the mentors still to do. Mentors
 * that reach the current minimum join the scan list at once. */
#define SCAN_ROW_BODY(WEIGHT_TERM)                                                                 \
    for (uint32_t q = *hi; q < nm; q++) {                                                          \
        uint32_t i = cols[q];                                                                      \
        int32_t w = row[i];                                                                        \
        if (w < thr)                                                                               \
            continue;                                                                              \
        int64_t nd = base - (WEIGHT_TERM)-pm[i];                                                   \
        if (nd < d[i]) {                                                                           \
            d[i] = nd;                                                                             \
            pred[i] = (int32_t)k;                                                                  \
            if (nd == mn) {                                                                        \
                cols[q] = cols[*hi];                                                               \
                s->pos[cols[q]] = q;                                                               \
                s->pos[i] = *hi;                                                                   \
                cols[(*hi)++] = i;                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

static void scan_row(dense_solver *s, uint32_t k, int64_t dk, int64_t mn, uint32_t *hi)
{
    const int32_t *row = s->w + (size_t)k * s->nm;
    int64_t base = dk + s->pe[k] - s->offset;
    int64_t *d = s->d;
    int32_t *pred = s->pred;
    const int64_t *pm = s->pm;
    uint32_t *cols = s->cols;
    int64_t scale = s->scale, thr = s->thr;
    uint32_t nm = s->nm;
    if (scale == 1) /* MAX_PARTICIPATION and MAXIMIN: no multiplication in the hot loop */
        SCAN_ROW_BODY((int64_t)w)
    else
        SCAN_ROW_BODY((int64_t)w * scale)
}

/*
 * Lazy rows. A search that reaches a full mentor scans its mentees' rows: in a market with
 * about as many seats as mentees the last searches settle nearly every mentor, so nearly
 * every row is scanned per search. But a row's arcs that matter are those of small reduced
 * cost. Each mentee keeps its K mentors of largest w' + p_i (taken after ARR) and lbv, the
 * (K+1)-th value. Mentor potentials only go down, so for every mentor not listed
 * rc = p_k - w' - p_i >= p_k - lbv: a row reached at distance dk scans its list at once
 * and waits in a heap with key dk + p_k - lbv; its full scan happens only if the search
 * gets to that distance. Every distance settled is the exact one, as in a full scan.
 */
static void heap_push(dense_solver *s, int64_t key, uint32_t row)
{
    uint32_t x = s->nh++;
    while (x > 0) {
        uint32_t up = (x - 1) / 2;
        if (s->hkey[up] <= key)
            break;
        s->hkey[x] = s->hkey[up];
        s->hrow[x] = s->hrow[up];
        x = up;
    }
    s->hkey[x] = key;
    s->hrow[x] = row;
}

static uint32_t heap_pop(dense_solver *s)
{
    uint32_t top = s->hrow[0];
    int64_t key = s->hkey[--s->nh];
    uint32_t row = s->hrow[s->nh], x = 0;
    for (;;) {
        uint32_t c = 2 * x + 1;
        if (c >= s->nh)
            break;
        if (c + 1 < s->nh && s->hkey[c + 1] < s->hkey[c])
            c++;
        if (s->hkey[c] >= key)
            break;
        s->hkey[x] = s->hkey[c];
        s->hrow[x] = s->hrow[c];
        x = c;
    }
    s->hkey[x] = key;
    s->hrow[x] = row;
    return top;
}

/* Row j's K best mentors at the current potentials; val and idx hold K + 1 entries. */
static void build_row(dense_solver *s, uint32_t j, int64_t *val, uint32_t *idx)
{
    uint32_t K = s->k;
    const int32_t *row = s->w + (size_t)j * s->nm;
    uint32_t n = 0; /* val sorted decreasing, at most K + 1 */
    for (uint32_t i = 0; i < s->nm; i++) {
        if (row[i] < s->thr)
            continue;
        int64_t a = wprime(s, row[i]) + s->pm[i];
        if (n == K + 1 && a <= val[K])
            continue;
        uint32_t q = n < K + 1 ? n++ : K;
        while (q > 0 && val[q - 1] < a) {
            val[q] = val[q - 1];
            idx[q] = idx[q - 1];
            q--;
        }
        val[q] = a;
        idx[q] = i;
    }
    uint32_t *l = s->lst + (size_t)j * K;
    for (uint32_t r = 0; r < K; r++)
        l[r] = r < n ? idx[r] : UINT32_MAX;
    s->lbv[j] = n == K + 1 ? val[K] : INT64_MIN;
}

static tdm_assign_status build_lists(dense_solver *s)
{
    for (uint32_t j = 0; j < s->ne; j++) {
        if (dense_cancelled(s))
            return TDM_ASSIGN_E_CANCELLED;
        build_row(s, j, s->bval, s->bidx);
    }
    return TDM_ASSIGN_OK;
}

/* Row k reached at distance dk: its listed mentors now, the rest when the search gets to
 * dk + p_k - lbv. */
static void scan_list(dense_solver *s, uint32_t k, int64_t dk, int64_t mn, uint32_t *hi)
{
    const int32_t *row = s->w + (size_t)k * s->nm;
    const uint32_t *l = s->lst + (size_t)k * s->k;
    int64_t base = dk + s->pe[k] - s->offset;
    for (uint32_t r = 0; r < s->k; r++) {
        uint32_t i = l[r];
        if (i == UINT32_MAX)
            break;
        if (s->pos[i] < *hi)
            continue; /* settled, or in the group being settled */
        int64_t nd = base - (int64_t)row[i] * s->scale - s->pm[i];
        if (nd < s->d[i]) {
            s->d[i] = nd;
            s->pred[i] = (int32_t)k;
            if (nd == mn) {
                uint32_t q = s->pos[i], o = s->cols[*hi];
                s->cols[q] = o;
                s->pos[o] = q;
                s->cols[*hi] = i;
                s->pos[i] = (*hi)++;
            }
        }
    }
    if (s->lbv[k] != INT64_MIN) {
        s->dkk[k] = dk;
        heap_push(s, dk + s->pe[k] - s->lbv[k], k);
    }
}

static void shift_chain(dense_solver *s, uint32_t src, int32_t i, uint32_t pos)
{
    /* Mentor i's seat pos is vacated; it goes to the mentee that reached i, whose own seat
     * is vacated in turn, back to the source. */
    for (;;) {
        uint32_t j = (uint32_t)s->pred[i];
        int32_t old = s->mate[j];
        uint32_t old_pos = j == src ? 0 : s->seat_of[j];
        seat_put(s, (uint32_t)i, pos, j);
        if (j == src)
            return;
        i = old;
        pos = old_pos;
    }
}

static void augment_from(dense_solver *s, uint32_t src)
{
    uint32_t nm = s->nm;
    for (uint32_t i = 0; i < nm; i++) {
        s->d[i] = DIST_INF;
        s->cols[i] = i;
        s->pos[i] = i;
    }
    s->nh = 0;
    uint32_t lo = 0, hi = 0;
    int64_t mn = 0;
    int64_t dt = s->pe[src] - s->pt; /* src goes "unmatched" */
    term tm = {NO_MENTOR, (int32_t)src, true};
    scan_row(s, src, 0, INT64_MIN, &hi);
    for (;;) {
        if (lo == hi) {
            /* Collect the mentors at the new minimum distance into [lo, hi). */
            mn = DIST_INF;
            for (uint32_t q = hi; q < nm; q++) {
                uint32_t i = s->cols[q];
                int64_t di = s->d[i];
                if (di <= mn) {
                    if (di < mn) {
                        hi = lo;
                        mn = di;
                    }
                    uint32_t o = s->cols[hi];
                    s->cols[q] = o;
                    s->pos[o] = q;
                    s->cols[hi] = i;
                    s->pos[i] = hi++;
                }
            }
            if (s->nh > 0 && s->hkey[0] <= mn && s->hkey[0] < dt) {
                /* a waiting row's full scan comes first: it may reach below mn */
                hi = lo;
                uint32_t k = heap_pop(s);
                scan_row(s, k, s->dkk[k], INT64_MIN, &hi);
                build_row(s, k, s->bval, s->bidx); /* paid for already: refresh */
                continue;
            }
            if (mn >= dt)
                break;
        }
        uint32_t i = s->cols[lo++];
        if (s->used[i] < s->cap[i]) {
            int64_t c = mn + s->pm[i] - s->pt;
            if (c < dt) {
                dt = c;
                tm = (term){(int32_t)i, -1, false};
            }
            if (dt <= mn)
                break;
            continue;
        }
        for (uint32_t q = s->seat_off[i]; q < s->seat_off[i] + s->used[i]; q++) {
            uint32_t k = s->seat[q];
            int64_t c = mn + s->pe[k] - s->pt;
            if (c < dt) {
                dt = c;
                tm = (term){(int32_t)i, (int32_t)k, true};
            }
        }
        if (dt <= mn)
            break;
        for (uint32_t q = s->seat_off[i]; q < s->seat_off[i] + s->used[i]; q++) {
            if (s->k > 0)
                scan_list(s, s->seat[q], mn, mn, &hi);
            else
                scan_row(s, s->seat[q], mn, mn, &hi);
        }
    }
    /* Potentials: settled mentors [0, lo) and the mentees they reached move by d - dt. */
    for (uint32_t q = 0; q < lo; q++) {
        uint32_t i = s->cols[q];
        int64_t delta = s->d[i] - dt;
        if (delta >= 0)
            continue;
        s->pm[i] += delta;
        if (s->used[i] == s->cap[i])
            for (uint32_t r = s->seat_off[i]; r < s->seat_off[i] + s->used[i]; r++)
                s->pe[s->seat[r]] += delta;
    }
    s->pe[src] -= dt;
    /* Flip the path. */
    if (tm.dummy && tm.mentor == NO_MENTOR) {
        s->mate[src] = TDM__MATE_DUMMY;
    } else if (tm.dummy) {
        uint32_t pos = s->seat_of[tm.mentee];
        s->mate[tm.mentee] = TDM__MATE_DUMMY;
        shift_chain(s, src, tm.mentor, pos);
    } else {
        shift_chain(s, src, tm.mentor, s->seat_off[tm.mentor] + s->used[tm.mentor]++);
    }
    s->iterations++;
}

static void dense_free(dense_solver *s)
{
    free(s->pm);
    free(s->pe);
    free(s->mate);
    free(s->seat_off);
    free(s->seat);
    free(s->seat_of);
    free(s->used);
    free(s->alt);
    free(s->d);
    free(s->pred);
    free(s->cols);
    free(s->pos);
    free(s->lst);
    free(s->lbv);
    free(s->dkk);
    free(s->hkey);
    free(s->hrow);
    free(s->bval);
    free(s->bidx);
    free((void *)s->cap);
}

static int64_t dense_weight(const void *ctx, uint32_t mentor, uint32_t mentee)
{
    const tdm_assign_dense *d = ctx;
    return d->weight[(size_t)mentee * d->n_mentors + mentor];
}

static uint64_t count_pairs(const dense_solver *s)
{
    uint64_t n = 0;
    for (uint32_t j = 0; j < s->ne; j++)
        n += s->mate[j] >= 0;
    return n;
}

/* One exact solve at (scale, offset, threshold); s must be freshly allocated. */
static tdm_assign_status dense_run(dense_solver *s, const tdm_assign_dense *dd, const uint32_t *cap,
                                   int64_t scale, int64_t offset, int64_t thr)
{
    uint32_t nm = dd->n_mentors, ne = dd->n_mentees;
    memset(s, 0, sizeof *s);
    s->nm = nm;
    s->ne = ne;
    s->w = dd->weight;
    s->scale = scale;
    s->offset = offset;
    s->thr = thr;
    s->cancel = dd->cancel;
    uint32_t *c = malloc(sizeof *c * ((size_t)nm + 1));
    s->cap = c;
    s->pm = calloc((size_t)nm + 1, sizeof *s->pm);
    s->pe = calloc((size_t)ne + 1, sizeof *s->pe);
    s->mate = malloc(sizeof *s->mate * ((size_t)ne + 1));
    s->seat_off = malloc(sizeof *s->seat_off * ((size_t)nm + 1));
    s->seat_of = malloc(sizeof *s->seat_of * ((size_t)ne + 1));
    s->used = calloc((size_t)nm + 1, sizeof *s->used);
    s->alt = malloc(sizeof *s->alt * ((size_t)ne + 1));
    s->d = malloc(sizeof *s->d * ((size_t)nm + 1));
    s->pred = malloc(sizeof *s->pred * ((size_t)nm + 1));
    s->cols = malloc(sizeof *s->cols * ((size_t)nm + 1));
    s->pos = malloc(sizeof *s->pos * ((size_t)nm + 1));
    if (!c || !s->pm || !s->pe || !s->mate || !s->seat_off || !s->seat_of || !s->used || !s->alt ||
        !s->d || !s->pred || !s->cols || !s->pos)
        return TDM_ASSIGN_E_NOMEM;
    uint32_t seats = 0;
    s->arr_passes = ARR_PASSES_ONE_SEAT;
    for (uint32_t i = 0; i < nm; i++) {
        c[i] = cap ? cap[i] : 1;
        if (c[i] > 1)
            s->arr_passes = ARR_PASSES_SEATS;
        s->seat_off[i] = seats;
        seats += c[i];
    }
    s->seat = malloc(sizeof *s->seat * ((size_t)seats + 1));
    if (s->seat == NULL)
        return TDM_ASSIGN_E_NOMEM;
    for (uint32_t j = 0; j < ne; j++)
        s->mate[j] = TDM__MATE_NONE;
    tdm_assign_status st = arr(s);
    if (st != TDM_ASSIGN_OK)
        return st;
    s->k = LAZY_K;
    if ((uint64_t)s->k * LAZY_MIN_RATIO > nm)
        s->k = 0;
    if (s->k > 0) {
        s->lst = malloc(sizeof *s->lst * ((size_t)ne * s->k + 1));
        s->lbv = malloc(sizeof *s->lbv * ((size_t)ne + 1));
        s->dkk = malloc(sizeof *s->dkk * ((size_t)ne + 1));
        s->hkey = malloc(sizeof *s->hkey * ((size_t)ne + 1));
        s->hrow = malloc(sizeof *s->hrow * ((size_t)ne + 1));
        s->bval = malloc(sizeof *s->bval * ((size_t)s->k + 1));
        s->bidx = malloc(sizeof *s->bidx * ((size_t)s->k + 1));
        if (!s->lst || !s->lbv || !s->dkk || !s->hkey || !s->hrow || !s->bval || !s->bidx)
            return TDM_ASSIGN_E_NOMEM;
        if ((st = build_lists(s)) != TDM_ASSIGN_OK)
            return st;
    }
    for (uint32_t j = 0; j < ne; j++) {
        if (dense_cancelled(s))
            return TDM_ASSIGN_E_CANCELLED;
        if (s->mate[j] == TDM__MATE_NONE)
            augment_from(s, j);
    }
    return TDM_ASSIGN_OK;
}

static tdm_assign_status dense_check(const tdm_assign_dense *d, int64_t *max_w, uint64_t *kmax)
{
    if (d->n_mentors > TDM_ASSIGN_MAX_NODES || d->n_mentees > TDM_ASSIGN_MAX_NODES ||
        (d->weight == NULL && (uint64_t)d->n_mentors * d->n_mentees > 0))
        return TDM_ASSIGN_E_INVALID;
    uint64_t seats = 0;
    for (uint32_t i = 0; i < d->n_mentors; i++) {
        uint32_t c = d->capacity ? d->capacity[i] : 1;
        if (c > TDM_ASSIGN_MAX_CAPACITY)
            return TDM_ASSIGN_E_INVALID;
        seats += c;
    }
    *kmax = seats < d->n_mentees ? seats : d->n_mentees;
    int64_t mw = 0;
    size_t n = (size_t)d->n_mentors * d->n_mentees;
    for (size_t k = 0; k < n; k++) {
        int32_t w = d->weight[k];
        if (w == TDM_ASSIGN_DENSE_NONE)
            continue;
        if (w < 0 || w > TDM_ASSIGN_WEIGHT_MAX)
            return TDM_ASSIGN_E_INVALID;
        if (w > mw)
            mw = w;
    }
    *max_w = mw;
    return TDM_ASSIGN_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* One probe of the threshold search: solve with the k-th weight as threshold. */
typedef struct dense_probe {
    const tdm_assign_dense *d;
    const int32_t *ws;
    tdm_assign_stats *stats;
} dense_probe;

static tdm_assign_status dense_pairs_at(void *ctx, size_t k, uint64_t *pairs)
{
    const dense_probe *c = ctx;
    dense_solver s;
    tdm_assign_status st = dense_run(&s, c->d, c->d->capacity, 0, 1, c->ws[k]);
    *pairs = st == TDM_ASSIGN_OK ? count_pairs(&s) : 0;
    c->stats->solves++;
    c->stats->iterations += s.iterations;
    dense_free(&s);
    return st;
}

/* MAXIMIN on the matrix: as in solve.c, by binary search over the distinct weights. */
static tdm_assign_status dense_threshold(const tdm_assign_dense *d, int64_t min_w,
                                         tdm_assign_stats *stats, int64_t *thr)
{
    size_t n = (size_t)d->n_mentors * d->n_mentees, nd = 0;
    int32_t *ws = malloc(sizeof *ws * (n + 1));
    if (ws == NULL)
        return TDM_ASSIGN_E_NOMEM;
    for (size_t k = 0; k < n; k++)
        if (d->weight[k] != TDM_ASSIGN_DENSE_NONE && d->weight[k] >= min_w)
            ws[nd++] = d->weight[k];
    *thr = 0;
    if (nd == 0) {
        free(ws);
        return TDM_ASSIGN_OK;
    }
    qsort(ws, nd, sizeof *ws, cmp_i32);
    size_t u = 0;
    for (size_t k = 0; k < nd; k++)
        if (u == 0 || ws[u - 1] != ws[k])
            ws[u++] = ws[k];
    size_t lo;
    dense_probe probe = {d, ws, stats};
    tdm_assign_status st = tdm__maximin_search(u, dense_pairs_at, &probe, &lo);
    *thr = ws[lo];
    free(ws);
    return st;
}

tdm_assign_status tdm_assign_solve_dense(const tdm_assign_dense *d, const tdm_assign_options *o,
                                         tdm_assign_result *r)
{
    double t0 = tdm__now();
    memset(r, 0, sizeof *r);
    int64_t max_w, scale, offset, thr = 0;
    uint64_t kmax;
    if (o->objective > TDM_ASSIGN_MAXIMIN || o->min_weight < 0)
        return TDM_ASSIGN_E_INVALID;
    tdm_assign_status st = dense_check(d, &max_w, &kmax);
    if (st != TDM_ASSIGN_OK)
        return st;
    uint64_t nodes = (uint64_t)d->n_mentors + d->n_mentees;
    tdm_assign_objective obj = o->objective;
    if (obj == TDM_ASSIGN_MAXIMIN) {
        st = tdm__transform(TDM_ASSIGN_MAX_PARTICIPATION, max_w, kmax, nodes, &scale, &offset);
        if (st == TDM_ASSIGN_OK)
            st = dense_threshold(d, o->min_weight, &r->stats, &thr);
        if (st != TDM_ASSIGN_OK)
            return st;
        obj = TDM_ASSIGN_MAX_PARTICIPATION;
    }
    if (thr < o->min_weight)
        thr = o->min_weight;
    st = tdm__transform(obj, max_w, kmax, nodes, &scale, &offset);
    if (st != TDM_ASSIGN_OK)
        return st;
    dense_solver s;
    st = dense_run(&s, d, d->capacity, scale, offset, thr);
    r->stats.solves++;
    r->stats.iterations += s.iterations;
    r->stats.init_matched += s.init_matched;
    if (st == TDM_ASSIGN_OK)
        st = tdm__result_fill(r, d->n_mentors, d->n_mentees, s.mate, dense_weight, d, NULL);
    if (st == TDM_ASSIGN_OK) {
        r->mentee_dual = malloc(sizeof *r->mentee_dual * ((size_t)d->n_mentees + 1));
        r->mentor_dual = malloc(sizeof *r->mentor_dual * ((size_t)d->n_mentors + 1));
        if (!r->mentee_dual || !r->mentor_dual)
            st = TDM_ASSIGN_E_NOMEM;
    }
    if (st == TDM_ASSIGN_OK) {
        for (uint32_t j = 0; j < d->n_mentees; j++) {
            int64_t x = s.pe[j] - s.pt;
            r->mentee_dual[j] = x > 0 ? x : 0;
        }
        for (uint32_t i = 0; i < d->n_mentors; i++) {
            int64_t x = s.pt - s.pm[i];
            r->mentor_dual[i] = x > 0 ? x : 0;
        }
        r->dual_scale = scale;
        r->dual_offset = offset;
        r->dual_threshold = thr;
        for (uint32_t j = 0; j < d->n_mentees; j++) {
            if (r->mentor_of[j] >= 0)
                continue;
            bool any = false, below = false;
            const int32_t *row = d->weight + (size_t)j * d->n_mentors;
            for (uint32_t i = 0; i < d->n_mentors; i++) {
                if (row[i] == TDM_ASSIGN_DENSE_NONE)
                    continue;
                if (row[i] >= o->min_weight)
                    any = true;
                else
                    below = true;
            }
            r->reason[j] = any     ? TDM_ASSIGN_ALL_MENTORS_FULL
                           : below ? TDM_ASSIGN_BELOW_MIN_SCORE
                                   : TDM_ASSIGN_NO_ADMISSIBLE_MENTOR;
        }
    }
    dense_free(&s);
    if (st != TDM_ASSIGN_OK)
        tdm_assign_result_free(r);
    else
        r->stats.seconds = tdm__now() - t0;
    return st;
}
