/*
 * plan.c - a run's computation, pure and blocking (the worker calls it on the libuv
 * work pool): pins first, then every remaining pair scored on threads, then the
 * engine, then a reason for every mentee left out.
 *
 * Pins are kept outside the engine: a pinned pair that passes the hard constraints
 * (whatever its score: a pin is a manager's decision) takes one of the mentor's free
 * seats and its mentee leaves the problem. Exclusions, hard constraints and
 * min_score decide which of the remaining pairs are edges.
 *
 * The scoring pass walks mentee by mentee over every mentor, counting for each
 * mentee the pairs that pass everything, those only below min_score and those only
 * excluded; the reasons of API.md follow from these counts (a mentee with an
 * admissible pair who is left out lost to capacity: ALL_ADMISSIBLE_MENTORS_FULL).
 *
 * Solvers: a programme up to DENSE_MAX_CELLS mentor x mentee cells is scored into a
 * dense matrix (4 bytes a cell) and solved exactly by tdm_assign_solve_dense
 * (OPTIMAL, every objective) or, for STABLE and GREEDY, handed to the engine as an
 * edge list. Larger programmes go to tdm_assign_solve_priced (OPTIMAL with
 * MAX_PARTICIPATION or MAX_SCORE), which scores on demand through the callback.
 * There the engine's candidates scan is the scoring pass: it scores every pair once,
 * and the callback counts each pair's fate on the way (a separate pass cost as much
 * as the scan: 62 s of a 100,000-person run); only the pairs the engine never sees
 * (pinned mentees, mentors without a free seat) are counted here. Each pricing round
 * then moves the run's progress between 0.5 and 0.8.
 */
#include "matching.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 30M cells = 120 MB of int32 weights: every programme of up to 10,000 people. */
#define DENSE_MAX_CELLS 30000000ULL
#define MAX_THREADS     16u
/* From this many cells, OPTIMAL (MAX_PARTICIPATION, MAX_SCORE) goes to the engine's
 * sparse pricing solver, reading the scores from the matrix. */
#define PRICED_MIN_CELLS 400000000ULL

typedef struct plan_ctx {
    const mt_plan_input *in;
    /* exclusions as sorted (mentor << 32 | mentee) keys */
    uint64_t *excl;
    size_t n_excl;
    int32_t *pin_of;         /* per mentee: pinned mentor or -1 */
    bool *mentee_out;        /* skipped (live) or kept by a pin */
    int *residual;           /* free seats per mentor after pins */
    int32_t *active_mentor;  /* mentor -> column of the matrix, or -1 */
    uint32_t *mentor_of_col; /* column -> mentor */
    uint32_t n_active_mentors;
    uint32_t *inactive_mentors; /* mentors with no free seat */
    uint32_t n_inactive_mentors;
    int32_t *active_mentee;  /* mentee -> row of the matrix, or -1 */
    uint32_t *mentee_of_row; /* row -> mentee */
    uint32_t n_active_mentees;
    int32_t *matrix; /* row * n_active_mentors + col, or NULL (priced) */
    uint32_t *n_ok, *n_below, *n_excluded;
    int64_t admissible;
    /* Priced without a matrix: the engine's candidates scan is the scoring pass, and
     * its score calls count each pair's fate until the scan is reported done. */
    bool count_in_engine;
    bool counting; /* until the engine reports its candidates scan done */
    double solve_t0, scan_done_seconds;
    pthread_mutex_t lock;
    uint32_t next_row; /* work distribution */
} plan_ctx;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool is_excluded(const plan_ctx *c, uint32_t mentor, uint32_t mentee)
{
    uint64_t key = (uint64_t)mentor << 32 | mentee;
    size_t lo = 0, hi = c->n_excl;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->excl[mid] == key)
            return true;
        if (c->excl[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The pair's fate: 0 admissible (score in *score), 1 hard constraint, 2 excluded,
 * 3 below min_score. */
static int classify(const plan_ctx *c, uint32_t i, uint32_t j, int64_t *score)
{
    const mt_plan_input *in = c->in;
    if (mt_hard_check(in->pol, &in->mentors[i], &in->mentees[j]) != 0)
        return 1;
    if (c->n_excl > 0 && is_excluded(c, i, j))
        return 2;
    *score = mt_score(in->pol, &in->mentors[i], &in->mentees[j]);
    return *score < in->pol->min_score ? 3 : 0;
}

#define ROWS_PER_GRAB 16u
/* Mentors scored against one block of mentees before moving on, so their data
 * stays in cache for the whole block (a mentor's prepared data is a few hundred
 * bytes; 256 of them fit the L2 cache of any machine). */
#define MENTORS_PER_TILE 256u

static void score_rows(plan_ctx *c, uint32_t first, uint32_t last, int64_t *admissible)
{
    const mt_plan_input *in = c->in;
    uint32_t ok[ROWS_PER_GRAB] = {0}, below[ROWS_PER_GRAB] = {0}, excluded[ROWS_PER_GRAB] = {0};
    for (uint32_t i0 = 0; i0 < in->n_mentors; i0 += MENTORS_PER_TILE) {
        uint32_t i1 =
            i0 + MENTORS_PER_TILE < in->n_mentors ? i0 + MENTORS_PER_TILE : (uint32_t)in->n_mentors;
        for (uint32_t j = first; j < last; j++) {
            if (in->mentee_skipped != NULL && in->mentee_skipped[j])
                continue;
            int32_t row = c->active_mentee[j];
            int32_t *w = c->matrix != NULL && row >= 0
                             ? c->matrix + (size_t)row * c->n_active_mentors
                             : NULL;
            uint32_t k = j - first;
            for (uint32_t i = i0; i < i1; i++) {
                int64_t score = 0;
                int fate = classify(c, i, j, &score);
                ok[k] += fate == 0;
                excluded[k] += fate == 2;
                below[k] += fate == 3;
                int32_t col = c->active_mentor[i];
                if (w != NULL && col >= 0)
                    w[col] = fate == 0 ? (int32_t)score : TDM_ASSIGN_DENSE_NONE;
            }
        }
    }
    for (uint32_t j = first; j < last; j++) {
        c->n_ok[j] = ok[j - first];
        c->n_below[j] = below[j - first];
        c->n_excluded[j] = excluded[j - first];
        *admissible += ok[j - first];
    }
}

/* With the engine counting (priced, no matrix), the pairs its scan never sees: every
 * pair of a pinned mentee, and an active mentee's pairs with the mentors who have no
 * free seat. The counts then match those of a full scoring pass. */
static void count_unseen_rows(plan_ctx *c, uint32_t first, uint32_t last)
{
    const mt_plan_input *in = c->in;
    for (uint32_t j = first; j < last; j++) {
        if (in->mentee_skipped != NULL && in->mentee_skipped[j])
            continue;
        bool seen = c->active_mentee[j] >= 0;
        size_t n = seen ? c->n_inactive_mentors : in->n_mentors;
        for (size_t k = 0; k < n; k++) {
            uint32_t i = seen ? c->inactive_mentors[k] : (uint32_t)k;
            int64_t score = 0;
            int fate = classify(c, i, j, &score);
            c->n_ok[j] += fate == 0;
            c->n_excluded[j] += fate == 2;
            c->n_below[j] += fate == 3;
        }
    }
}

static bool cancelled(const mt_plan_input *in)
{
    return in->cancel != NULL && atomic_load(in->cancel);
}

static void *score_worker(void *arg)
{
    plan_ctx *c = arg;
    const mt_plan_input *in = c->in;
    int64_t admissible = 0;
    while (!cancelled(in)) {
        pthread_mutex_lock(&c->lock);
        uint32_t first = c->next_row;
        c->next_row = first + ROWS_PER_GRAB;
        pthread_mutex_unlock(&c->lock);
        if (first >= in->n_mentees)
            break;
        uint32_t last = first + ROWS_PER_GRAB;
        if (last > in->n_mentees)
            last = (uint32_t)in->n_mentees;
        if (c->count_in_engine)
            count_unseen_rows(c, first, last);
        else
            score_rows(c, first, last, &admissible);
    }
    pthread_mutex_lock(&c->lock);
    c->admissible += admissible;
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static unsigned thread_count(const mt_plan_input *in)
{
    unsigned n = in->threads;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    return n > MAX_THREADS ? MAX_THREADS : n;
}

static int score_all(plan_ctx *c)
{
    unsigned n = thread_count(c->in);
    pthread_t tid[MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < n; t++) {
        if (pthread_create(&tid[started], NULL, score_worker, c) != 0)
            break;
        started++;
    }
    score_worker(c); /* this thread works too */
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    return 0;
}

/* The priced solver's view: active rows and columns only, scored on demand when
 * there is no matrix, else read from it. During the engine's candidates scan every
 * pair comes here exactly once and all of a mentee's pairs on one thread (assign.h),
 * so the per-mentee counts are written without a lock. */
static int64_t priced_score(void *ctx, uint32_t col, uint32_t row, bool *admissible)
{
    plan_ctx *c = ctx;
    if (c->matrix != NULL) {
        int32_t w = c->matrix[(size_t)row * c->n_active_mentors + col];
        *admissible = w != TDM_ASSIGN_DENSE_NONE;
        return *admissible ? w : 0;
    }
    int64_t score = 0;
    if (cancelled(c->in)) {
        /* The result will be thrown away: finish the engine's scan at once. */
        *admissible = false;
        return 0;
    }
    uint32_t j = c->mentee_of_row[row];
    int fate = classify(c, c->mentor_of_col[col], j, &score);
    if (c->counting) {
        c->n_ok[j] += fate == 0;
        c->n_excluded[j] += fate == 2;
        c->n_below[j] += fate == 3;
    }
    *admissible = fate == 0;
    return *admissible ? score : 0;
}

/* Progress through the solve, so a watching user and the lease see it move: the
 * candidates scan is the scoring pass (to 0.5), then each pricing round moves a
 * further share of what is left before 0.8 (the rounds needed are not known ahead),
 * and the exact solve after each scan moves it on towards the next round's value as it
 * routes mentees (the engine ticks every few searches). */
static void priced_progress(void *ctx, const tdm_assign_progress *pg)
{
    plan_ctx *c = ctx;
    const mt_plan_input *in = c->in;
    double fraction = pg->round == 0 ? 0.5 : 0.8 - 0.3 / (double)(pg->round + 1);
    if (pg->round == 0 && !pg->solving) {
        c->counting = false;
        c->scan_done_seconds = now_seconds() - c->solve_t0;
    }
    if (pg->solving) {
        /* the solve after this round's scan: most of the way to the next round's value */
        double next = 0.8 - 0.3 / (double)(pg->round + 2);
        fraction += (next - fraction) * 0.9 * pg->routed;
    }
    if (in->progress != NULL)
        in->progress(in->progress_arg, fraction);
}

static int cmp_pairs(const void *a, const void *b)
{
    const mt_plan_pair *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->mentee != y->mentee)
        return x->mentee < y->mentee ? -1 : 1;
    return x->mentor < y->mentor ? -1 : (x->mentor > y->mentor);
}

static int fail(mt_plan_result *r, const char *why, const char *what)
{
    snprintf(r->error, sizeof(r->error), "%s%s", why, what);
    return -1;
}

/* Edges of the matrix for the engine's general entry points (STABLE, GREEDY). */
static tdm_assign_status solve_edges(const plan_ctx *c, const uint32_t *cap,
                                     const tdm_assign_options *o, tdm_assign_result *res)
{
    tdm_assign_problem *p = NULL;
    tdm_assign_status st =
        tdm_assign_problem_new(c->n_active_mentors, c->n_active_mentees, cap, &p);
    size_t chunk = 65536, k = 0;
    tdm_assign_edge *e = malloc(chunk * sizeof(*e));
    if (st == TDM_ASSIGN_OK && e == NULL)
        st = TDM_ASSIGN_E_NOMEM;
    for (uint32_t row = 0; st == TDM_ASSIGN_OK && row < c->n_active_mentees; row++) {
        const int32_t *w = c->matrix + (size_t)row * c->n_active_mentors;
        for (uint32_t col = 0; st == TDM_ASSIGN_OK && col < c->n_active_mentors; col++) {
            if (w[col] == TDM_ASSIGN_DENSE_NONE)
                continue;
            e[k++] = (tdm_assign_edge){col, row, w[col]};
            if (k == chunk) {
                st = tdm_assign_problem_add_edges(p, e, k);
                k = 0;
            }
        }
    }
    if (st == TDM_ASSIGN_OK && k > 0)
        st = tdm_assign_problem_add_edges(p, e, k);
    if (st == TDM_ASSIGN_OK)
        st = tdm_assign_run(p, o, res);
    free(e);
    tdm_assign_problem_free(p);
    return st;
}

/* Blocking pairs under the score-induced preferences (weak stability), from the
 * matrix: a pair whose mentee is unmatched or prefers it strictly, and whose mentor
 * has a free seat or a non-pinned mentee it likes strictly less. */
static int64_t blocking_pairs(const plan_ctx *c, const int32_t *col_of_row_mate,
                              const int64_t *row_score, const int *seats_used, const int64_t *worst)
{
    int64_t n = 0;
    for (uint32_t row = 0; row < c->n_active_mentees; row++) {
        const int32_t *w = c->matrix + (size_t)row * c->n_active_mentors;
        for (uint32_t col = 0; col < c->n_active_mentors; col++) {
            if (w[col] == TDM_ASSIGN_DENSE_NONE || col_of_row_mate[row] == (int32_t)col)
                continue;
            if (col_of_row_mate[row] >= 0 && w[col] <= row_score[row])
                continue;
            uint32_t mentor = c->mentor_of_col[col];
            bool free_seat = seats_used[col] < c->residual[mentor];
            if (free_seat || (worst[col] >= 0 && worst[col] < w[col]))
                n++;
        }
    }
    return n;
}

static tdm_assign_objective engine_objective(int objective)
{
    return objective == TANDEM__V1__MATCHING_OBJECTIVE__MAX_SCORE ? TDM_ASSIGN_MAX_SCORE
           : objective == TANDEM__V1__MATCHING_OBJECTIVE__MAXIMIN ? TDM_ASSIGN_MAXIMIN
                                                                  : TDM_ASSIGN_MAX_PARTICIPATION;
}

static int prepare(plan_ctx *c, mt_plan_result *r)
{
    const mt_plan_input *in = c->in;
    size_t nm = in->n_mentors, ne = in->n_mentees;
    if (in->arena != NULL) {
        tdm_status *st = mt_compile(in->mentors, nm, in->mentees, ne, in->arena);
        if (st != NULL) {
            tdm_status_free(st);
            return fail(r, "out of memory", "");
        }
    }
    c->excl = malloc((in->n_exclusions + 1) * sizeof(*c->excl));
    c->pin_of = malloc((ne + 1) * sizeof(*c->pin_of));
    c->mentee_out = calloc(ne + 1, sizeof(*c->mentee_out));
    c->residual = malloc((nm + 1) * sizeof(*c->residual));
    c->active_mentor = malloc((nm + 1) * sizeof(*c->active_mentor));
    c->mentor_of_col = malloc((nm + 1) * sizeof(*c->mentor_of_col));
    c->inactive_mentors = malloc((nm + 1) * sizeof(*c->inactive_mentors));
    c->active_mentee = malloc((ne + 1) * sizeof(*c->active_mentee));
    c->mentee_of_row = malloc((ne + 1) * sizeof(*c->mentee_of_row));
    c->n_ok = calloc(ne + 1, sizeof(uint32_t));
    c->n_below = calloc(ne + 1, sizeof(uint32_t));
    c->n_excluded = calloc(ne + 1, sizeof(uint32_t));
    r->pairs = malloc((ne + 1) * sizeof(*r->pairs));
    r->unmatched = malloc((ne + 1) * sizeof(*r->unmatched));
    if (!c->excl || !c->pin_of || !c->mentee_out || !c->residual || !c->active_mentor ||
        !c->mentor_of_col || !c->inactive_mentors || !c->active_mentee || !c->mentee_of_row ||
        !c->n_ok || !c->n_below || !c->n_excluded || !r->pairs || !r->unmatched)
        return fail(r, "out of memory", "");
    for (size_t k = 0; k < in->n_exclusions; k++)
        c->excl[k] = (uint64_t)in->exclusions[k][0] << 32 | in->exclusions[k][1];
    qsort(c->excl, in->n_exclusions, sizeof(*c->excl), cmp_u64);
    c->n_excl = in->n_exclusions;
    for (size_t i = 0; i < nm; i++) {
        int cap = in->free_capacity != NULL ? in->free_capacity[i] : in->mentors[i].capacity;
        c->residual[i] = in->mentors[i].withdrawn || cap < 0 ? 0 : cap;
    }
    for (size_t j = 0; j < ne; j++) {
        c->pin_of[j] = -1;
        c->mentee_out[j] = in->mentee_skipped != NULL && in->mentee_skipped[j];
    }
    /* Pins: kept when the pair passes the hard constraints and the mentor has a seat. */
    for (size_t k = 0; k < in->n_pins; k++) {
        uint32_t i = in->pins[k][0], j = in->pins[k][1];
        if (i >= nm || j >= ne || c->mentee_out[j] || c->residual[i] <= 0 ||
            mt_hard_check(in->pol, &in->mentors[i], &in->mentees[j]) != 0)
            continue;
        c->residual[i]--;
        c->mentee_out[j] = true;
        c->pin_of[j] = (int32_t)i;
        r->pairs[r->n_pairs++] =
            (mt_plan_pair){i, j, mt_score(in->pol, &in->mentors[i], &in->mentees[j]), true};
        r->pinned_pairs++;
    }
    for (size_t i = 0; i < nm; i++) {
        c->active_mentor[i] = c->residual[i] > 0 ? (int32_t)c->n_active_mentors : -1;
        if (c->residual[i] > 0)
            c->mentor_of_col[c->n_active_mentors++] = (uint32_t)i;
        else
            c->inactive_mentors[c->n_inactive_mentors++] = (uint32_t)i;
    }
    for (size_t j = 0; j < ne; j++) {
        c->active_mentee[j] = c->mentee_out[j] ? -1 : (int32_t)c->n_active_mentees;
        if (!c->mentee_out[j])
            c->mentee_of_row[c->n_active_mentees++] = (uint32_t)j;
    }
    return 0;
}

static void plan_ctx_free(plan_ctx *c)
{
    free(c->excl);
    free(c->pin_of);
    free(c->mentee_out);
    free(c->residual);
    free(c->active_mentor);
    free(c->mentor_of_col);
    free(c->inactive_mentors);
    free(c->active_mentee);
    free(c->mentee_of_row);
    free(c->n_ok);
    free(c->n_below);
    free(c->n_excluded);
    free(c->matrix);
}

static int reason_of(const plan_ctx *c, uint32_t j)
{
    if (c->n_ok[j] > 0)
        return TANDEM__V1__UNMATCHED_REASON__ALL_ADMISSIBLE_MENTORS_FULL;
    if (c->n_below[j] > 0)
        return TANDEM__V1__UNMATCHED_REASON__BELOW_MIN_SCORE;
    if (c->n_excluded[j] > 0)
        return TANDEM__V1__UNMATCHED_REASON__EXCLUDED;
    return TANDEM__V1__UNMATCHED_REASON__NO_ADMISSIBLE_MENTOR;
}

/* The engine's pairs into r (original indices), and the statistics. */
static int collect(plan_ctx *c, const tdm_assign_result *res, mt_plan_result *r)
{
    const mt_plan_input *in = c->in;
    uint32_t nr = c->n_active_mentees, nc = c->n_active_mentors;
    int32_t *mate = malloc((nr + 1) * sizeof(*mate));
    int64_t *row_score = malloc((nr + 1) * sizeof(*row_score));
    int *used = calloc(nc + 1, sizeof(*used));
    int64_t *worst = malloc((nc + 1) * sizeof(*worst));
    if (!mate || !row_score || !used || !worst) {
        free(mate);
        free(row_score);
        free(used);
        free(worst);
        return fail(r, "out of memory", "");
    }
    for (uint32_t row = 0; row < nr; row++)
        mate[row] = -1;
    for (uint32_t col = 0; col < nc; col++)
        worst[col] = -1;
    bool *matched = calloc(in->n_mentees + 1, sizeof(*matched));
    bool *mentor_used = calloc(in->n_mentors + 1, sizeof(*mentor_used));
    for (size_t k = 0; matched != NULL && mentor_used != NULL && k < res->n_pairs; k++) {
        uint32_t col = res->pairs[k].mentor, row = res->pairs[k].mentee;
        uint32_t i = c->mentor_of_col[col], j = c->mentee_of_row[row];
        mate[row] = (int32_t)col;
        row_score[row] = res->pairs[k].weight;
        used[col]++;
        if (worst[col] < 0 || res->pairs[k].weight < worst[col])
            worst[col] = res->pairs[k].weight;
        r->pairs[r->n_pairs++] = (mt_plan_pair){i, j, res->pairs[k].weight, false};
    }
    int rc = 0;
    if (matched == NULL || mentor_used == NULL) {
        rc = fail(r, "out of memory", "");
        goto done;
    }
    if (c->matrix != NULL)
        r->blocking_pairs = blocking_pairs(c, mate, row_score, used, worst);
    for (size_t k = 0; k < r->n_pairs; k++) {
        matched[r->pairs[k].mentee] = true;
        mentor_used[r->pairs[k].mentor] = true;
        r->total_score += r->pairs[k].score;
        if (k == 0 || r->pairs[k].score < r->min_score)
            r->min_score = r->pairs[k].score;
    }
    for (uint32_t j = 0; j < in->n_mentees; j++) {
        if (matched[j] || (in->mentee_skipped != NULL && in->mentee_skipped[j]))
            continue;
        r->unmatched[r->n_unmatched++] =
            (mt_plan_unmatched){j, reason_of(c, j), c->n_ok[j], c->n_below[j], c->n_excluded[j]};
    }
    for (size_t i = 0; i < in->n_mentors; i++) {
        int seats = in->free_capacity != NULL ? in->free_capacity[i] : in->mentors[i].capacity;
        if (!mentor_used[i] && !in->mentors[i].withdrawn && seats > 0)
            r->unmatched_mentors++;
    }
    qsort(r->pairs, r->n_pairs, sizeof(*r->pairs), cmp_pairs);
done:
    free(matched);
    free(mentor_used);
    free(mate);
    free(row_score);
    free(used);
    free(worst);
    return rc;
}

int mt_plan_run(const mt_plan_input *in, mt_plan_result *r)
{
    memset(r, 0, sizeof(*r));
    plan_ctx c = {.in = in};
    pthread_mutex_init(&c.lock, NULL);
    int rc = prepare(&c, r);
    uint32_t nr = c.n_active_mentees, nc = c.n_active_mentors;
    uint64_t dense_max = in->dense_max_cells != 0 ? in->dense_max_cells : DENSE_MAX_CELLS;
    bool dense = (uint64_t)nr * nc <= dense_max;
    if (rc == 0 && !dense &&
        (in->algorithm != TANDEM__V1__ALGORITHM__OPTIMAL ||
         in->pol->objective == TANDEM__V1__MATCHING_OBJECTIVE__MAXIMIN))
        rc = fail(r, "",
                  "the programme is too large for this algorithm or objective: use "
                  "OPTIMAL with MAX_PARTICIPATION or MAX_SCORE");
    if (rc == 0 && dense && nr > 0 && nc > 0) {
        c.matrix = malloc((size_t)nr * nc * sizeof(*c.matrix));
        if (c.matrix == NULL)
            rc = fail(r, "out of memory for ", "the score matrix");
    }
    double t0 = now_seconds();
    c.count_in_engine = c.counting = !dense;
    if (rc == 0)
        rc = score_all(&c);
    if (rc == 0 && cancelled(in))
        rc = fail(r, MT_PLAN_CANCELLED, "");
    r->score_seconds = now_seconds() - t0;
    if (rc == 0 && !c.count_in_engine && in->progress != NULL)
        in->progress(in->progress_arg, 0.5);

    tdm_assign_options o;
    tdm_assign_options_init(&o);
    o.objective = engine_objective(in->pol->objective);
    o.seed = in->seed != 0 ? in->seed : 1;
    uint32_t *cap = malloc((nc + 1) * sizeof(*cap));
    if (rc == 0 && cap == NULL)
        rc = fail(r, "out of memory", "");
    for (uint32_t col = 0; rc == 0 && col < nc; col++)
        cap[col] = (uint32_t)c.residual[c.mentor_of_col[col]];
    tdm_assign_result res;
    memset(&res, 0, sizeof(res));
    t0 = now_seconds();
    if (rc == 0 && nr > 0 && nc > 0) {
        tdm_assign_status st;
        bool large = (uint64_t)nr * nc > PRICED_MIN_CELLS &&
                     in->algorithm == TANDEM__V1__ALGORITHM__OPTIMAL &&
                     in->pol->objective != TANDEM__V1__MATCHING_OBJECTIVE__MAXIMIN;
        if (!dense || large) {
            tdm_assign_pricing pr = {
                .n_mentors = nc,
                .n_mentees = nr,
                .capacity = cap,
                .score = priced_score,
                .ctx = &c,
                .threads = thread_count(in),
                .progress = priced_progress,
                .cancel = in->cancel,
            };
            r->priced = true;
            c.solve_t0 = t0;
            st = tdm_assign_solve_priced(&pr, &o, &res);
        } else if (in->algorithm == TANDEM__V1__ALGORITHM__OPTIMAL) {
            tdm_assign_dense d = {.n_mentors = nc,
                                  .n_mentees = nr,
                                  .weight = c.matrix,
                                  .capacity = cap,
                                  .cancel = in->cancel};
            st = tdm_assign_solve_dense(&d, &o, &res);
        } else {
            o.algorithm = in->algorithm == TANDEM__V1__ALGORITHM__STABLE ? TDM_ASSIGN_STABLE
                                                                         : TDM_ASSIGN_GREEDY;
            st = solve_edges(&c, cap, &o, &res);
        }
        if (st == TDM_ASSIGN_E_CANCELLED || (st == TDM_ASSIGN_OK && cancelled(in)))
            rc = fail(r, MT_PLAN_CANCELLED, "");
        else if (st != TDM_ASSIGN_OK)
            rc = fail(r, "the assignment engine failed: ", tdm_assign_strerror(st));
    }
    r->solve_seconds = now_seconds() - t0;
    if (c.count_in_engine) {
        /* the scoring was the engine's candidates scan: count it as scoring */
        r->score_seconds += c.scan_done_seconds;
        r->solve_seconds -= c.scan_done_seconds;
        for (size_t j = 0; j < in->n_mentees; j++)
            c.admissible += c.n_ok[j];
    }
    r->admissible_pairs = c.admissible;
    r->engine = res.stats;
    if (rc == 0)
        rc = collect(&c, &res, r);
    if (rc == 0 && in->progress != NULL)
        in->progress(in->progress_arg, 0.8);
    tdm_assign_result_free(&res);
    free(cap);
    plan_ctx_free(&c);
    pthread_mutex_destroy(&c.lock);
    if (rc != 0) {
        char keep[sizeof(r->error)];
        memcpy(keep, r->error, sizeof(keep));
        mt_plan_result_free(r);
        memcpy(r->error, keep, sizeof(keep));
    }
    return rc;
}

void mt_plan_result_free(mt_plan_result *r)
{
    free(r->pairs);
    free(r->unmatched);
    memset(r, 0, sizeof(*r));
}
