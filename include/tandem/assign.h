/*
 * assign.h - the assignment engine: exact mentor/mentee assignment, pure C, no I/O.
 *
 * A problem is a bipartite graph: mentors (rows, each with a capacity) and mentees
 * (columns, one mentor each), and an edge for every admissible pair with an integer
 * weight (a score in fixed point, e.g. 87.25 -> 8725). Pairs that are not edges do not
 * exist for the solver. Pins (pairs that must be kept) and exclusions (pairs that must
 * never be made) are declared on the problem; a minimum weight on the options drops
 * the pairs below it. Every unmatched mentee gets a reason the matching service maps
 * onto API.md's (no admissible mentor, all admissible mentors full, below min_score,
 * excluded).
 *
 * Algorithms:
 *   tdm_assign_solve()        OPTIMAL: an exact optimum of the objective, by successive
 *                             shortest augmenting paths (Jonker-Volgenant family) with the
 *                             mentor capacities inside the solver; returns the LP dual
 *                             values, which tdm_assign_check_duals() verifies.
 *   tdm_assign_solve_dense()  the same on a dense weight matrix (the CLI's fast path).
 *   tdm_assign_solve_priced() the same for large programmes given by a score callback:
 *                             a sparse candidate graph, then a pricing loop over all
 *                             pruned pairs until the duals certify the full optimum.
 *   tdm_assign_stable()       STABLE: mentee-proposing deferred acceptance with capacities.
 *   tdm_assign_greedy()       GREEDY: heaviest pair first; a baseline only.
 *
 * Errors: every function that can fail returns a tdm_assign_status; the problem keeps a
 * message naming the offending input (tdm_assign_problem_error()). Nothing aborts on bad
 * input; assert() guards programmer errors only.
 *
 * Ownership: the caller owns the problem (tdm_assign_problem_free) and every result
 * struct; a solve fills the result's arrays, which the caller releases with
 * tdm_assign_result_free() (also safe on a zeroed or failed result). The library keeps
 * no pointer to caller memory after a call returns. All functions are reentrant and a
 * problem may be solved from several threads at once (a failing solve writes the
 * problem's error message, the only shared state); the score callback of
 * tdm_assign_solve_priced() is called from several threads at once.
 */
#ifndef TANDEM_ASSIGN_H
#define TANDEM_ASSIGN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weights are fixed-point integers in [0, TDM_ASSIGN_WEIGHT_MAX]. */
#define TDM_ASSIGN_WEIGHT_MAX 1000000000LL
/* Sizes: at most this many mentors, mentees and edges. */
#define TDM_ASSIGN_MAX_NODES    100000000U
#define TDM_ASSIGN_MAX_CAPACITY 1000000U
/* A dense matrix entry meaning "inadmissible pair". */
#define TDM_ASSIGN_DENSE_NONE INT32_MIN

typedef enum tdm_assign_status {
    TDM_ASSIGN_OK = 0,
    TDM_ASSIGN_E_INVALID,     /* an index, weight, capacity or option out of range */
    TDM_ASSIGN_E_DUPLICATE,   /* the same pair given twice */
    TDM_ASSIGN_E_PIN,         /* contradictory pins (mentee pinned twice, mentor over capacity,
                                 pin on an excluded pair) */
    TDM_ASSIGN_E_RANGE,       /* too large for exact 64-bit arithmetic */
    TDM_ASSIGN_E_NOMEM,       /* allocation failed */
    TDM_ASSIGN_E_UNSUPPORTED, /* option combination this entry point does not offer */
    TDM_ASSIGN_E_NOT_OPTIMAL, /* tdm_assign_check_duals(): the certificate does not hold */
    TDM_ASSIGN_E_INTERNAL,    /* a bug: an internal invariant failed */
    TDM_ASSIGN_E_CANCELLED,   /* the caller's cancel flag was raised during the solve */
} tdm_assign_status;

const char *tdm_assign_strerror(tdm_assign_status st);

typedef enum tdm_assign_objective {
    /* Most mentees matched, then the highest total weight (lexicographic). */
    TDM_ASSIGN_MAX_PARTICIPATION = 0,
    /* Highest total weight (then, among equal totals, most mentees matched). */
    TDM_ASSIGN_MAX_SCORE = 1,
    /* Most mentees matched, then the highest minimum pair weight, then the total. */
    TDM_ASSIGN_MAXIMIN = 2,
} tdm_assign_objective;

typedef enum tdm_assign_algorithm {
    TDM_ASSIGN_OPTIMAL = 0,
    TDM_ASSIGN_STABLE = 1,
    TDM_ASSIGN_GREEDY = 2,
} tdm_assign_algorithm;

/* Why a mentee has (or has not) a mentor. */
typedef enum tdm_assign_reason {
    TDM_ASSIGN_MATCHED = 0,              /* matched by the algorithm */
    TDM_ASSIGN_PINNED = 1,               /* matched by a pin */
    TDM_ASSIGN_NO_ADMISSIBLE_MENTOR = 2, /* no edge at all (and no exclusion) */
    TDM_ASSIGN_ALL_MENTORS_FULL = 3,     /* has admissible mentors, all of them are full */
    TDM_ASSIGN_BELOW_MIN_SCORE = 4,      /* every edge it had is below min_weight */
    TDM_ASSIGN_EXCLUDED = 5,             /* every pair it had left was excluded */
} tdm_assign_reason;

typedef struct tdm_assign_edge {
    uint32_t mentor;
    uint32_t mentee;
    int64_t weight; /* fixed point, 0..TDM_ASSIGN_WEIGHT_MAX */
} tdm_assign_edge;

typedef struct tdm_assign_pair {
    uint32_t mentor;
    uint32_t mentee;
    int64_t weight;
} tdm_assign_pair;

typedef struct tdm_assign_options {
    tdm_assign_algorithm algorithm; /* used by tdm_assign_run() only */
    tdm_assign_objective objective;
    /* Lottery seed for STABLE's and GREEDY's ties; 0 picks one from the clock. The seed
     * used is returned in the result so a run can be logged and replayed. */
    uint64_t seed;
    /* Pairs with weight < min_weight are dropped (reason BELOW_MIN_SCORE). Pins are kept
     * whatever their weight: they are a manager's decision. */
    int64_t min_weight;
} tdm_assign_options;

/* Defaults: OPTIMAL, MAX_PARTICIPATION, seed 0, min_weight 0. */
void tdm_assign_options_init(tdm_assign_options *o);

typedef struct tdm_assign_stats {
    double seconds;           /* wall time of the call */
    uint64_t iterations;      /* shortest-path searches (augmentations) */
    uint64_t init_matched;    /* mentees matched by the initialisation */
    uint64_t solves;          /* exact solves run (MAXIMIN: the threshold search) */
    uint64_t pricing_rounds;  /* tdm_assign_solve_priced(): rounds of pricing */
    uint64_t pairs_scored;    /* score callbacks made */
    uint64_t pairs_added;     /* pairs added by pricing (after the candidates) */
    uint64_t candidate_pairs; /* edges of the first sparse graph */
    double scan_seconds;      /* priced: time in the candidate and pricing scans */
    double solve_seconds;     /* priced: time in the exact sparse solves */
    bool certified;           /* priced: no pruned pair had a negative reduced cost */
} tdm_assign_stats;

/*
 * A result. Arrays are allocated by the solve and owned by the caller
 * (tdm_assign_result_free). mentor_of and reason have one entry per mentee.
 *
 * Duals (OPTIMAL only, else NULL): the solver maximises sum x_ij * w'_ij with
 * w'_ij = weight * dual_scale + dual_offset over the edges with weight >=
 * dual_threshold, pins removed (see the comment in solve.c). mentee_dual (u) and
 * mentor_dual (v) are an optimal solution of the dual LP: u, v >= 0,
 * u_j + v_i >= w'_ij on every edge, tight on every matched pair, u_j = 0 for an
 * unmatched mentee and v_i = 0 for a mentor with a free seat.
 */
typedef struct tdm_assign_result {
    uint32_t n_mentors;
    uint32_t n_mentees;
    size_t n_pairs;
    tdm_assign_pair *pairs; /* sorted by mentee; pins included */
    int32_t *mentor_of;     /* mentor index, or -1 when unmatched */
    uint8_t *reason;        /* tdm_assign_reason */
    int64_t total_weight;   /* sum of the pairs' weights, pins included */
    int64_t min_weight;     /* smallest pair weight (0 when no pair) */
    size_t n_unmatched;
    int64_t *mentee_dual;
    int64_t *mentor_dual;
    int64_t dual_scale;
    int64_t dual_offset;
    int64_t dual_threshold;
    uint64_t seed; /* the lottery seed used (STABLE, GREEDY) */
    tdm_assign_stats stats;
} tdm_assign_result;

void tdm_assign_result_free(tdm_assign_result *r);

/* ---- the problem ---------------------------------------------------------------- */

typedef struct tdm_assign_problem tdm_assign_problem;

/* A new problem. capacity has n_mentors entries (copied) or is NULL for capacity 1. */
tdm_assign_status tdm_assign_problem_new(uint32_t n_mentors, uint32_t n_mentees,
                                         const uint32_t *capacity, tdm_assign_problem **out);
void tdm_assign_problem_free(tdm_assign_problem *p);
/* Add admissible pairs (copied). Duplicates are reported by the solve. */
tdm_assign_status tdm_assign_problem_add_edges(tdm_assign_problem *p, const tdm_assign_edge *e,
                                               size_t n);
/* Keep mentor-mentee whatever the objective (weight counted in the totals). */
tdm_assign_status tdm_assign_problem_pin(tdm_assign_problem *p, uint32_t mentor, uint32_t mentee,
                                         int64_t weight);
/* Never make this pair (if it is an edge, it is dropped). */
tdm_assign_status tdm_assign_problem_exclude(tdm_assign_problem *p, uint32_t mentor,
                                             uint32_t mentee);
/* The message of the last failure on p, naming the input ("" when none). */
const char *tdm_assign_problem_error(const tdm_assign_problem *p);

/* ---- solving --------------------------------------------------------------------- */

/* OPTIMAL for o->objective. r is overwritten (zeroed first). */
tdm_assign_status tdm_assign_solve(const tdm_assign_problem *p, const tdm_assign_options *o,
                                   tdm_assign_result *r);
/* STABLE: mentee-proposing deferred acceptance. Both sides rank by weight; ties are broken
 * by a lottery drawn from o->seed (one lottery number per participant). Pins are kept and
 * take their seat first. The result has no duals. */
tdm_assign_status tdm_assign_stable(const tdm_assign_problem *p, const tdm_assign_options *o,
                                    tdm_assign_result *r);
/* GREEDY: heaviest admissible pair first (ties by lottery). A baseline only. */
tdm_assign_status tdm_assign_greedy(const tdm_assign_problem *p, const tdm_assign_options *o,
                                    tdm_assign_result *r);
/* Dispatch on o->algorithm. */
tdm_assign_status tdm_assign_run(const tdm_assign_problem *p, const tdm_assign_options *o,
                                 tdm_assign_result *r);

/*
 * Verify that r is an optimum of p under o from its duals alone: primal feasibility,
 * dual feasibility and complementary slackness, in exact integer arithmetic. Returns
 * TDM_ASSIGN_OK, or TDM_ASSIGN_E_NOT_OPTIMAL with the first violation in why.
 * For MAXIMIN it certifies the final solve at r->dual_threshold (the threshold search
 * itself is exact by construction, see solve.c).
 */
tdm_assign_status tdm_assign_check_duals(const tdm_assign_problem *p, const tdm_assign_options *o,
                                         const tdm_assign_result *r, char *why, size_t why_len);

/* Blocking pairs of r (weak stability on weights): an admissible pair whose mentee is
 * unmatched or has a strictly lower weight, and whose mentor has a free seat or a non-pinned
 * mentee of strictly lower weight. Pinned mentees never block. Returns the count, or
 * SIZE_MAX when the problem is invalid. */
size_t tdm_assign_blocking_pairs(const tdm_assign_problem *p, const tdm_assign_options *o,
                                 const tdm_assign_result *r);

/* ---- dense fast path ---------------------------------------------------------------- */

typedef struct tdm_assign_dense {
    uint32_t n_mentors;
    uint32_t n_mentees;
    /* weight[mentee * n_mentors + mentor]; TDM_ASSIGN_DENSE_NONE for an inadmissible pair;
     * other values must lie in [0, TDM_ASSIGN_WEIGHT_MAX]. Not copied; read during the call. */
    const int32_t *weight;
    const uint32_t *capacity; /* n_mentors entries, or NULL for capacity 1 */
    /* May be NULL. Another thread raises it to stop the solve: it is read before every
     * row scan of the reduction and the lists and before every augmentation, so a
     * raised flag ends the call within one of them, with TDM_ASSIGN_E_CANCELLED and no
     * result. */
    const atomic_bool *cancel;
} tdm_assign_dense;

/* OPTIMAL on a dense matrix (no pins, no exclusions: mark them NONE). Same result and
 * duals as tdm_assign_solve() on the equivalent problem. */
tdm_assign_status tdm_assign_solve_dense(const tdm_assign_dense *d, const tdm_assign_options *o,
                                         tdm_assign_result *r);

/* ---- large programmes: sparse candidates and pricing --------------------------------- */

/* The score of a pair; *admissible = false when the pair must not exist (hard constraint,
 * exclusion). Called concurrently from several threads: it must be thread-safe. */
typedef int64_t (*tdm_assign_score_fn)(void *ctx, uint32_t mentor, uint32_t mentee,
                                       bool *admissible);

/* Where a priced solve stands, reported between its scans of the full pair set and, while
 * the exact sparse solve that follows a scan runs (it can take minutes at 10^5 people),
 * every few searches with solving set. */
typedef struct tdm_assign_progress {
    uint32_t round;           /* 0: the candidates scan is done; then each pricing round */
    uint64_t pairs_scored;    /* score calls so far */
    uint64_t pairs_violated;  /* pairs with a negative reduced cost found by this round */
    uint64_t candidate_pairs; /* edges of the sparse graph at this point */
    /* Reports during the solve after the round's scan: solving is true and routed the
     * share (0-1) of the mentees left to route that are routed. */
    bool solving;
    double routed;
} tdm_assign_progress;

/* Called on the thread that called tdm_assign_solve_priced(), while no score call is
 * running. The first call (round 0, solving false) ends the candidates scan, which calls score
 * exactly once for every pair, all pairs of one mentee on one thread, before any other score call:
 * a caller may count what it needs of every pair there instead of scanning again. */
typedef void (*tdm_assign_progress_fn)(void *ctx, const tdm_assign_progress *p);

typedef struct tdm_assign_pricing {
    uint32_t n_mentors;
    uint32_t n_mentees;
    const uint32_t *capacity; /* NULL for capacity 1 */
    tdm_assign_score_fn score;
    void *ctx;
    uint32_t mentee_top_k;           /* candidates: each mentee's best K mentors (default 16) */
    uint32_t mentor_top_k;           /* and each mentor's best K' mentees (default 16) */
    unsigned threads;                /* scanning threads (0: online CPUs) */
    uint32_t max_rounds;             /* give up certification after this many rounds (0: 100) */
    tdm_assign_progress_fn progress; /* may be NULL; called with ctx */
    /* Pricing skips pairs by bounds kept per block of this many consecutive mentees
     * (a power of two, at most 64): mentees in the same block should be alike. 0: the
     * smallest that fits 256 MB; TDM_ASSIGN_NO_BOUND_BLOCKS: none. */
    uint32_t bound_block;
    /* May be NULL: as tdm_assign_dense's, read between pricing rounds and between
     * the searches of each sparse solve (the callback can make a cancelled round's
     * scan cheap by answering inadmissible). */
    const atomic_bool *cancel;
} tdm_assign_pricing;

#define TDM_ASSIGN_NO_BOUND_BLOCKS UINT32_MAX

/*
 * OPTIMAL (MAX_PARTICIPATION or MAX_SCORE; MAXIMIN is TDM_ASSIGN_E_UNSUPPORTED) over every
 * admissible pair of a programme too large for a dense matrix; o->min_weight applies.
 * r->stats says how many rounds and pairs it took and whether the optimum is certified for
 * the full problem (it is unless max_rounds ran out). The duals in r hold for every pair.
 * Pins are not taken here: the caller removes pinned mentees and lowers their mentors'
 * capacity (exactly as tdm_assign_solve() does internally) and adds the pins back.
 * Exclusions and hard constraints are the callback's admissible = false; the reasons it
 * can tell apart are NO_ADMISSIBLE_MENTOR, BELOW_MIN_SCORE and ALL_MENTORS_FULL.
 */
tdm_assign_status tdm_assign_solve_priced(const tdm_assign_pricing *pr, const tdm_assign_options *o,
                                          tdm_assign_result *r);

#endif
