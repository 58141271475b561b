/*
 * suggest.c - SuggestMentors' selection: the k best mentors with a free seat for one
 * mentee, on matching's event loop, so its cost must stay small.
 *
 * It used to compare every mentor with every live match and every exclusion of the
 * programme (mentors x (live + exclusions) string compares: 10,000 mentors and
 * 20,000 live matches were 2e8 compares per call). Now the live matches and this
 * mentee's exclusions are first indexed by mentor (a glibc hash table of the
 * mentors' ids, hsearch_r: one pass over each list), then each mentor is looked at
 * once, the best k are selected (quickselect) and only they are sorted:
 * O(mentors + k log k + live + exclusions), k <= MT_MAX_SUGGESTIONS.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "matching.h"

/* Per mentor: live matches, and whether the pair with this mentee is excluded. */
typedef struct mentor_tally {
    int live;
    bool excluded;
} mentor_tally;

/* Better first: higher score, then the lower mentor index (the programme's order). */
static bool better(const mt_suggestion *a, const mt_suggestion *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return a->mentor < b->mentor;
}

static void swap(mt_suggestion *a, mt_suggestion *b)
{
    mt_suggestion t = *a;
    *a = *b;
    *b = t;
}

/* Quickselect: afterwards c[0..k) hold the k best of c[0..n), in no order. Expected
 * O(n) (the middle element as pivot; candidates come in the programme's order). */
static void select_best(mt_suggestion *c, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (k < hi && lo + 1 < hi) {
        swap(&c[lo + (hi - lo) / 2], &c[hi - 1]);
        size_t rank = lo;
        for (size_t i = lo; i + 1 < hi; i++) {
            if (better(&c[i], &c[hi - 1]))
                swap(&c[i], &c[rank++]);
        }
        swap(&c[rank], &c[hi - 1]); /* the pivot at its final rank */
        if (k <= rank)
            hi = rank;
        else
            lo = rank + 1;
    }
}

static int cmp_better_first(const void *x, const void *y)
{
    const mt_suggestion *a = x, *b = y;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

/* The tally of a mentor id, NULL when it is not a mentor of the list. */
static mentor_tally *tally_of(struct hsearch_data *index, const char *id)
{
    ENTRY key = {.key = (char *)id}, *found = NULL;
    if (hsearch_r(key, FIND, &found, index) == 0 || found == NULL)
        return NULL;
    return found->data;
}

tdm_status *mt_suggest(const mt_policy *pol, const mt_person *mentee,
                       Tandem__V1__Participant *const *mentors, size_t n_mentors,
                       const mt_state *state, size_t k, tdm_arena *a, mt_suggestion *out,
                       size_t *n_out)
{
    *n_out = 0;
    if (k == 0 || n_mentors == 0)
        return NULL;
    mentor_tally *tally = tdm_arena_calloc(a, n_mentors, sizeof(*tally));
    struct hsearch_data index;
    memset(&index, 0, sizeof(index));
    if (tally == NULL || hcreate_r(n_mentors * 2, &index) == 0)
        return tdm_store_oom();
    tdm_status *st = NULL;
    for (size_t i = 0; i < n_mentors && st == NULL; i++) {
        ENTRY e = {.key = mentors[i]->id, .data = &tally[i]}, *entered = NULL;
        if (hsearch_r(e, ENTER, &entered, &index) == 0)
            st = tdm_store_oom();
    }
    for (size_t q = 0; q < state->n_live && st == NULL; q++) {
        mentor_tally *t = tally_of(&index, state->live_mentor[q]);
        if (t != NULL)
            t->live++;
    }
    for (size_t q = 0; q < state->n_exclusions && st == NULL; q++) {
        if (strcasecmp(state->excl_mentee[q], mentee->src->id) != 0)
            continue;
        mentor_tally *t = tally_of(&index, state->excl_mentor[q]);
        if (t != NULL)
            t->excluded = true;
    }
    hdestroy_r(&index);
    mt_suggestion *cand = st == NULL ? tdm_arena_calloc(a, n_mentors, sizeof(*cand)) : NULL;
    if (st == NULL && cand == NULL)
        st = tdm_store_oom();
    size_t n = 0;
    for (size_t i = 0; i < n_mentors && st == NULL; i++) {
        mt_person m;
        if ((st = mt_person_init(&m, mentors[i], pol, a)) != NULL)
            break;
        int free_seats = m.capacity - tally[i].live;
        if (free_seats <= 0 || tally[i].excluded || mt_hard_check(pol, &m, mentee) != 0)
            continue;
        int64_t score = mt_score(pol, &m, mentee);
        if (score >= pol->min_score)
            cand[n++] = (mt_suggestion){i, score, free_seats};
    }
    if (st != NULL)
        return st;
    select_best(cand, n, k);
    *n_out = n < k ? n : k;
    memcpy(out, cand, *n_out * sizeof(*out));
    qsort(out, *n_out, sizeof(*out), cmp_better_first);
    return NULL;
}
