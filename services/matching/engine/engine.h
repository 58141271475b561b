/*
 * engine.h - internals shared by the assignment engine's files (not installed).
 *
 * problem.c turns a tdm_assign_problem plus options into a tdm__graph: the pins
 * removed, exclusions and pairs below min_weight dropped, edges grouped by mentee
 * (CSR). ssp.c solves a graph exactly with transformed weights w' = w * scale + offset;
 * solve.c picks the transform for each objective and writes the result.
 */
#ifndef TANDEM_ENGINE_H
#define TANDEM_ENGINE_H

#include "tandem/assign.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct tdm_assign_problem {
    uint32_t n_mentors;
    uint32_t n_mentees;
    uint32_t *capacity;
    tdm_assign_edge *edges;
    size_t n_edges, cap_edges;
    tdm_assign_pair *pins;
    size_t n_pins, cap_pins;
    tdm_assign_pair *excl; /* weight unused */
    size_t n_excl, cap_excl;
    char error[192];
};

/* Per-mentee flags computed while building the graph: what it had, for reasons. */
enum {
    TDM__HAD_EDGE = 1,      /* at least one edge in the input */
    TDM__HAD_EXCLUDED = 2,  /* an edge at or above min_weight was excluded */
    TDM__HAD_BELOW_MIN = 4, /* an edge below min_weight was dropped */
    TDM__PINNED = 8,        /* removed from the problem by a pin */
};

typedef struct tdm__graph {
    uint32_t n_mentors, n_mentees;
    uint32_t *capacity;  /* residual: pins subtracted */
    size_t *row;         /* n_mentees + 1 offsets into col / w */
    uint32_t *col;       /* mentor of each edge, increasing within a row */
    int64_t *w;          /* raw weight */
    uint8_t *flags;      /* per mentee, TDM__* */
    int32_t *pin_mentor; /* per mentee: pinned mentor or -1 */
    int64_t *pin_weight;
    int64_t pins_total, pins_min;
    size_t n_pins;
    int64_t max_w; /* largest edge weight (0 when none) */
} tdm__graph;

void tdm__graph_free(tdm__graph *g);
/* Build g from p and o; on failure the message is written to err. */
tdm_assign_status tdm__graph_build(const tdm_assign_problem *p, const tdm_assign_options *o,
                                   tdm__graph *g, char *err, size_t err_len);
/* The same for a solve's entry point: on failure the message goes to p's error, where
 * tdm_assign_problem_error() reads it. */
tdm_assign_status tdm__graph_build_solve(const tdm_assign_problem *p, const tdm_assign_options *o,
                                         tdm__graph *g);

/* ---- the shortest augmenting path solver (ssp.c) ---- */

#define TDM__MATE_NONE  (-1) /* not routed yet (an excess of the flow) */
#define TDM__MATE_DUMMY (-2) /* routed through its "unmatched" arc */

typedef struct tdm__ssp tdm__ssp;

/* A solver over edges (row/col/wp: w' per edge) by mentee. wp >= 1 on every edge. */
tdm__ssp *tdm__ssp_new(uint32_t n_mentors, uint32_t n_mentees, const uint32_t *capacity);
void tdm__ssp_free(tdm__ssp *s);
/* Point the solver at (a new version of) the graph; the arrays must stay valid. */
void tdm__ssp_set_graph(tdm__ssp *s, const size_t *row, const uint32_t *col, const int64_t *wp);
/* Cold solve: initialisation then one augmentation per unrouted mentee. */
tdm_assign_status tdm__ssp_solve(tdm__ssp *s);
/* Warm re-solve after edges were added: mentees with a violated new edge are re-routed. */
tdm_assign_status tdm__ssp_resolve(tdm__ssp *s, const uint8_t *touched_mentee);
const int32_t *tdm__ssp_mate(const tdm__ssp *s);
/* LP duals (see assign.h) into u (n_mentees) and v (n_mentors). */
void tdm__ssp_duals(const tdm__ssp *s, int64_t *u, int64_t *v);
uint64_t tdm__ssp_iterations(const tdm__ssp *s);
/* Called every few searches of a solve with the mentees still to route and those to
 * route when the searches began (NULL: none). */
typedef void (*tdm__ssp_tick_fn)(void *ctx, uint32_t left, uint32_t start);
void tdm__ssp_set_tick(tdm__ssp *s, tdm__ssp_tick_fn fn, void *ctx);
/* Raised by another thread, the flag ends a solve between two searches with
 * TDM_ASSIGN_E_CANCELLED (NULL: never). */
void tdm__ssp_set_cancel(tdm__ssp *s, const atomic_bool *cancel);
uint64_t tdm__ssp_init_matched(const tdm__ssp *s);

/* ---- augmenting row reduction, shared by ssp.c and dense.c ---- */

/* ARR's step at a full mentor whose seats seat[0..n) are all taken (dense.c's comment
 * gives the argument): the occupant with the least slack (its potential pe[k] minus its
 * cached best alternative alt[k]) is the one to leave. The mentor's price *pm drops by
 * delta = min(gap, the second smallest slack), gap being the arriving mentee's a1 - a2,
 * and the occupants that stay drop with it, so they stay tight. pe is indexed by mentee.
 * Returns the leaving mentee; *delta_out is the drop. Inline: ARR runs it once per
 * displacement, in the loop that seats every mentee. */
static inline uint32_t tdm__arr_displace(const uint32_t *seat, uint32_t n, int64_t *pe,
                                         const int64_t *alt, int64_t *pm, int64_t gap,
                                         int64_t *delta_out)
{
    uint32_t kmin = UINT32_MAX;
    int64_t smin = INT64_MAX, s2 = INT64_MAX;
    for (uint32_t q = 0; q < n; q++) {
        uint32_t k = seat[q];
        int64_t sl = pe[k] - alt[k];
        if (sl < smin) {
            s2 = smin;
            smin = sl;
            kmin = k;
        } else if (sl < s2) {
            s2 = sl;
        }
    }
    int64_t delta = gap < s2 ? gap : s2;
    *pm -= delta;
    for (uint32_t q = 0; q < n; q++)
        if (seat[q] != kmin)
            pe[seat[q]] -= delta;
    *delta_out = delta;
    return kmin;
}

/* ---- helpers (solve.c) ---- */

double tdm__now(void);
uint64_t tdm__splitmix(uint64_t *state);
/* Weight of a matched pair, for writing results. */
typedef int64_t (*tdm__weight_of)(const void *ctx, uint32_t mentor, uint32_t mentee);
/* Write r's pairs and per-mentee arrays from mate (solver mentors, or < 0 when unmatched),
 * adding back g's pins when g is not NULL. Reasons of the unmatched are left 0 and set by
 * tdm__result_reasons(). r must be zeroed. */
tdm_assign_status tdm__result_fill(tdm_assign_result *r, uint32_t n_mentors, uint32_t n_mentees,
                                   const int32_t *mate, tdm__weight_of weight, const void *ctx,
                                   const tdm__graph *g);
tdm_assign_status tdm__result_alloc(tdm_assign_result *r, uint32_t n_mentors, uint32_t n_mentees);
/* Reasons of unmatched mentees: has_edge[j] says whether an admissible pair was left. */
void tdm__result_reasons(tdm_assign_result *r, const tdm__graph *g);
/* Weight of (mentor, mentee) in g (rows sorted by mentor), -1 when absent. */
int64_t tdm__graph_weight(const void *g, uint32_t mentor, uint32_t mentee);
/* The lexicographic weight transforms: w' = w * scale + offset, checked for overflow
 * against the number of nodes. max_pairs bounds the number of pairs in any solution. */
tdm_assign_status tdm__transform(tdm_assign_objective obj, int64_t max_w, uint64_t max_pairs,
                                 uint64_t n_nodes, int64_t *scale, int64_t *offset);
/* MAXIMIN's threshold search (solve.c's sparse path and dense.c's matrix): over n >= 1
 * distinct weights the caller keeps in increasing order, pairs_at(ctx, k, &pairs) runs
 * one exact solve with the k-th weight as threshold and counts its pairs. *best_k is the
 * largest k that keeps as many pairs as k = 0, found by binary search; on an error the
 * search stops and returns it. */
typedef tdm_assign_status (*tdm__pairs_at)(void *ctx, size_t k, uint64_t *pairs);
tdm_assign_status tdm__maximin_search(size_t n, tdm__pairs_at pairs_at, void *ctx, size_t *best_k);

#endif
