/*
 * report_fold.c - GetProgrammeReport's figures from one programme's inputs
 * (report_fold.h).
 *
 * One pass builds an id table over every id the inputs name (people, matches' sides,
 * match ids, respondents), so each join of the figures is an array lookup by slot:
 *   person_matches  per side of a match with check-ins: its check-ins, rating sums,
 *                   and how many of its matches it rated (rated_sides);
 *   single_partners per person, the raters of exactly one match whose match was with
 *                   them;
 *   live            the sides of PROPOSED, ACCEPTED and ACTIVE matches.
 * Then, per dimension, the enrolled people are grouped by key and each group's
 * figures summed from its members', with the corrections that make check-ins and
 * raters distinct: a match with both sides in the group counted once, a one-match
 * rater who is also a member counted once, a rater of several matches counted once
 * per group whatever the number of their partners in it.
 */
#include "report_fold.h"

#include <stdlib.h>
#include <string.h>

#include "google/protobuf/wrappers.pb-c.h"

static const char *const DIMENSION_NAMES[FB_REPORT_DIMENSIONS] = {
    "office",     "practice_area", "seniority_band",
    "gender",     "ethnicity",     "first_generation_professional",
    "disability",
};
static const char NOT_STATED[] = "(not stated)";

/* Participant.Status and Match.Status values the rules name. */
#define PARTICIPANT_WITHDRAWN 3
#define MATCH_PROPOSED        1
#define MATCH_ACCEPTED        2
#define MATCH_DECLINED        3
#define MATCH_ACTIVE          4
#define MATCH_ENDED           5

#define US_PER_DAY 86400000000LL

const char *fb_seniority_band(int32_t level)
{
    if (level <= 2)
        return "0-2";
    if (level <= 5)
        return "3-5";
    if (level <= 8)
        return "6-8";
    return "9-10";
}

/* ---- the id table --------------------------------------------------------------------- */

typedef struct id_table {
    int32_t *table; /* slot + 1 of each bucket, 0 when empty */
    size_t mask;
    uint8_t (*ids)[16];
    size_t n;
} id_table;

static uint64_t id_hash(const uint8_t *id)
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 31);
}

static int id_table_init(id_table *t, size_t most, tdm_arena *a)
{
    size_t buckets = 16;
    while (buckets < 2 * most)
        buckets *= 2;
    t->table = tdm_arena_calloc(a, buckets, sizeof(*t->table));
    t->ids = tdm_arena_calloc(a, most + 1, sizeof(*t->ids));
    t->mask = buckets - 1;
    t->n = 0;
    return t->table == NULL || t->ids == NULL ? -1 : 0;
}

/* The slot of id, -1 when absent. */
static int32_t id_find(const id_table *t, const uint8_t *id)
{
    for (size_t i = id_hash(id) & t->mask;; i = (i + 1) & t->mask) {
        int32_t s = t->table[i] - 1;
        if (s < 0 || memcmp(t->ids[s], id, 16) == 0)
            return s;
    }
}

/* The slot of id: added when absent (the table was sized for every id added). */
static int32_t id_slot(id_table *t, const uint8_t *id)
{
    for (size_t i = id_hash(id) & t->mask;; i = (i + 1) & t->mask) {
        int32_t s = t->table[i] - 1;
        if (s < 0) {
            s = (int32_t)t->n++;
            memcpy(t->ids[s], id, 16);
            t->table[i] = s + 1;
            return s;
        }
        if (memcmp(t->ids[s], id, 16) == 0)
            return s;
    }
}

/* ---- groups ----------------------------------------------------------------------------- */

typedef struct group {
    const char *key;
    size_t len;
    int64_t n, matched, nps_people, nps_n, promoters, detractors;
    int64_t side_n, side_rs, own_raters, single_partners; /* summed over members */
    int64_t same_n, same_rs, same_single;                 /* matches with both sides in the group */
    int64_t multi_raters; /* raters of several matches, made distinct */
    bool visible;
} group;

typedef struct dimension {
    group *groups; /* grown by doubling: a dimension has few keys, not one a person */
    size_t n_groups, cap;
    int32_t *table; /* group + 1 by key hash, at most half full */
    size_t mask;
    int32_t *of; /* each enrolled person's group */
} dimension;

static int key_cmp(const char *a, size_t la, const char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    return c != 0 ? c : (la > lb) - (la < lb);
}

static uint64_t key_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* Room for one group more: the array and the table doubled when full. */
static int dimension_grow(dimension *d, tdm_arena *a)
{
    if (d->n_groups < d->cap)
        return 0;
    size_t cap = d->cap == 0 ? 32 : 2 * d->cap;
    group *groups = tdm_arena_calloc(a, cap, sizeof(*groups));
    int32_t *table = tdm_arena_calloc(a, 2 * cap, sizeof(*table));
    if (groups == NULL || table == NULL)
        return -1;
    if (d->n_groups > 0)
        memcpy(groups, d->groups, d->n_groups * sizeof(*groups));
    d->groups = groups;
    d->table = table;
    d->cap = cap;
    d->mask = 2 * cap - 1;
    for (size_t g = 0; g < d->n_groups; g++) {
        size_t i = key_hash(groups[g].key, groups[g].len) & d->mask;
        while (table[i] != 0)
            i = (i + 1) & d->mask;
        table[i] = (int32_t)g + 1;
    }
    return 0;
}

/* The group of a value, added when new; -1 when out of memory. */
static int32_t group_of(dimension *d, fb_text v, tdm_arena *a)
{
    const char *s = v.s != NULL && v.len > 0 ? v.s : NOT_STATED;
    size_t len = v.s != NULL && v.len > 0 ? v.len : sizeof(NOT_STATED) - 1;
    uint64_t h = key_hash(s, len);
    for (size_t i = h & d->mask; d->table != NULL; i = (i + 1) & d->mask) {
        int32_t g = d->table[i] - 1;
        if (g < 0)
            break;
        if (key_cmp(d->groups[g].key, d->groups[g].len, s, len) == 0)
            return g;
    }
    if (dimension_grow(d, a) != 0)
        return -1;
    size_t i = h & d->mask;
    while (d->table[i] != 0)
        i = (i + 1) & d->mask;
    int32_t g = (int32_t)d->n_groups++;
    d->groups[g].key = s;
    d->groups[g].len = len;
    d->table[i] = g + 1;
    return g;
}

/* Smallest first (the order of complementary suppression). */
static int group_ascending(const group *a, const group *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return key_cmp(a->key, a->len, b->key, b->len);
}

/* Largest first, then by key (the order shown). */
static int group_shown_order(const void *pa, const void *pb)
{
    const group *a = *(const group *const *)pa, *b = *(const group *const *)pb;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return key_cmp(a->key, a->len, b->key, b->len);
}

static int u64_ascending(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

/* ---- the fold ---------------------------------------------------------------------------- */

/* Per id slot. */
typedef struct slots {
    int32_t *enrolled; /* index among the enrolled people, -1 */
    int32_t *match;    /* index of the match with this id, -1 */
    int32_t *stats;    /* index of its match_stats row, -1 */
    int32_t *respondent;
    bool *live;
    int64_t *side_n, *side_rs, *single_partners;
    int32_t *rated_sides;
} slots;

/* A side of a match with check-ins. */
typedef struct side {
    int32_t id, partner; /* slots, -1 for NULL */
    bool rated;
} side;

typedef struct fold {
    const fb_report_inputs *in;
    tdm_arena *a;
    id_table ids;
    slots s;
    int32_t *people_slot; /* each person's slot, -1 */
    int32_t *enrolled;    /* person index of each enrolled person */
    size_t n_enrolled;
    int32_t *match_mentor; /* each match's sides' slots, -1 */
    int32_t *match_mentee;
    int32_t *pm_stats; /* the stats row of each match with check-ins (pm_m) */
    size_t n_pm;
    side *sides;          /* two per pm_m row */
    bool null_side_rated; /* a side with a NULL id rated (one person_matches row) */
    int64_t matched;
    dimension dims[FB_REPORT_DIMENSIONS];
    size_t n_dims;
} fold;

static void *zeroed(fold *f, size_t n, size_t size)
{
    return tdm_arena_calloc(f->a, n + 1, size);
}

static int32_t *minus_ones(fold *f, size_t n)
{
    int32_t *v = zeroed(f, n, sizeof(*v));
    for (size_t i = 0; v != NULL && i < n; i++)
        v[i] = -1;
    return v;
}

/* Every id into the table, and the per-slot arrays. */
static int index_ids(fold *f)
{
    const fb_report_inputs *in = f->in;
    size_t most = in->n_people + 3 * in->n_matches + in->n_stats + in->n_respondents;
    if (id_table_init(&f->ids, most, f->a) != 0)
        return -1;
    slots *s = &f->s;
    s->enrolled = minus_ones(f, most);
    s->match = minus_ones(f, most);
    s->stats = minus_ones(f, most);
    s->respondent = minus_ones(f, most);
    s->live = zeroed(f, most, sizeof(*s->live));
    s->side_n = zeroed(f, most, sizeof(*s->side_n));
    s->side_rs = zeroed(f, most, sizeof(*s->side_rs));
    s->single_partners = zeroed(f, most, sizeof(*s->single_partners));
    s->rated_sides = zeroed(f, most, sizeof(*s->rated_sides));
    f->people_slot = minus_ones(f, in->n_people);
    f->enrolled = zeroed(f, in->n_people, sizeof(*f->enrolled));
    f->match_mentor = minus_ones(f, in->n_matches);
    f->match_mentee = minus_ones(f, in->n_matches);
    f->pm_stats = zeroed(f, in->n_stats, sizeof(*f->pm_stats));
    f->sides = zeroed(f, 2 * in->n_stats, sizeof(*f->sides));
    if (s->enrolled == NULL || s->match == NULL || s->stats == NULL || s->respondent == NULL ||
        s->live == NULL || s->side_n == NULL || s->side_rs == NULL || s->single_partners == NULL ||
        s->rated_sides == NULL || f->people_slot == NULL || f->enrolled == NULL ||
        f->match_mentor == NULL || f->match_mentee == NULL || f->pm_stats == NULL ||
        f->sides == NULL)
        return -1;
    for (size_t i = 0; i < in->n_people; i++) {
        const fb_report_person *p = &in->people[i];
        if (!p->id_null)
            f->people_slot[i] = id_slot(&f->ids, p->id);
        if (p->status_null || p->status == PARTICIPANT_WITHDRAWN)
            continue;
        if (f->people_slot[i] >= 0)
            s->enrolled[f->people_slot[i]] = (int32_t)f->n_enrolled;
        f->enrolled[f->n_enrolled++] = (int32_t)i;
    }
    for (size_t i = 0; i < in->n_matches; i++) {
        const fb_report_match *m = &in->matches[i];
        s->match[id_slot(&f->ids, m->id)] = (int32_t)i;
        if (!m->mentor_null)
            f->match_mentor[i] = id_slot(&f->ids, m->mentor);
        if (!m->mentee_null)
            f->match_mentee[i] = id_slot(&f->ids, m->mentee);
    }
    for (size_t i = 0; i < in->n_respondents; i++)
        s->respondent[id_slot(&f->ids, in->respondents[i].id)] = (int32_t)i;
    for (size_t i = 0; i < in->n_stats; i++)
        s->stats[id_slot(&f->ids, in->stats[i].match_id)] = (int32_t)i;
    return 0;
}

/* live, and each person's matches with check-ins (person_matches, single_partner). */
static void fold_matches(fold *f)
{
    const fb_report_inputs *in = f->in;
    slots *s = &f->s;
    bool live_null = false;
    for (size_t i = 0; i < in->n_matches; i++) {
        const fb_report_match *m = &in->matches[i];
        if (m->status_null || (m->status != MATCH_PROPOSED && m->status != MATCH_ACCEPTED &&
                               m->status != MATCH_ACTIVE))
            continue;
        int32_t ends[2] = {f->match_mentor[i], f->match_mentee[i]};
        for (int k = 0; k < 2; k++) {
            if (ends[k] < 0)
                live_null = true;
            else if (!s->live[ends[k]]) {
                s->live[ends[k]] = true;
                f->matched++;
            }
        }
    }
    f->matched += live_null ? 1 : 0;
    for (size_t i = 0; i < in->n_stats; i++) {
        const fb_report_stats *st = &in->stats[i];
        int32_t mi = s->match[id_find(&f->ids, st->match_id)];
        if (mi < 0)
            continue;
        size_t k = f->n_pm++;
        f->pm_stats[k] = (int32_t)i;
        f->sides[2 * k] = (side){f->match_mentor[mi], f->match_mentee[mi], st->mentor_rated};
        f->sides[2 * k + 1] = (side){f->match_mentee[mi], f->match_mentor[mi], st->mentee_rated};
        for (int j = 0; j < 2; j++) {
            const side *x = &f->sides[2 * k + j];
            if (x->id < 0) {
                f->null_side_rated = f->null_side_rated || x->rated;
                continue;
            }
            s->side_n[x->id] += st->check_ins;
            s->side_rs[x->id] += st->rating_sum;
            s->rated_sides[x->id] += x->rated ? 1 : 0;
        }
    }
    for (size_t k = 0; k < 2 * f->n_pm; k++) {
        const side *x = &f->sides[k];
        if (x->rated && x->id >= 0 && x->partner >= 0 && s->rated_sides[x->id] == 1)
            s->single_partners[x->partner]++;
    }
}

static int make_dimensions(fold *f)
{
    f->n_dims = f->in->include_diversity ? FB_REPORT_DIMENSIONS : FB_REPORT_PUBLIC_DIMENSIONS;
    for (size_t d = 0; d < f->n_dims; d++) {
        dimension *dim = &f->dims[d];
        dim->of = zeroed(f, f->n_enrolled, sizeof(*dim->of));
        if (dim->of == NULL)
            return -1;
        for (size_t e = 0; e < f->n_enrolled; e++) {
            dim->of[e] = group_of(dim, f->in->people[f->enrolled[e]].key[d], f->a);
            if (dim->of[e] < 0)
                return -1;
        }
    }
    return 0;
}

/* Each group's members' own figures. */
static void fold_members(fold *f)
{
    const slots *s = &f->s;
    for (size_t e = 0; e < f->n_enrolled; e++) {
        int32_t slot = f->people_slot[f->enrolled[e]];
        const fb_report_respondent *r =
            slot >= 0 && s->respondent[slot] >= 0 ? &f->in->respondents[s->respondent[slot]] : NULL;
        for (size_t d = 0; d < f->n_dims; d++) {
            group *g = &f->dims[d].groups[f->dims[d].of[e]];
            g->n++;
            if (r != NULL) {
                g->nps_people += r->nps_n > 0 ? 1 : 0;
                g->nps_n += r->nps_n;
                g->promoters += r->promoters;
                g->detractors += r->detractors;
            }
            if (slot < 0)
                continue;
            g->matched += s->live[slot] ? 1 : 0;
            g->side_n += s->side_n[slot];
            g->side_rs += s->side_rs[slot];
            g->own_raters += s->rated_sides[slot] > 0 ? 1 : 0;
            g->single_partners += s->single_partners[slot];
        }
    }
}

/* Matches with both sides in one group: their check-ins were added for each side, and
 * a one-match rater of theirs both as a member and as a partner. */
static void fold_same_group_matches(fold *f)
{
    const slots *s = &f->s;
    for (size_t k = 0; k < f->n_pm; k++) {
        int32_t mentor = f->sides[2 * k].id, mentee = f->sides[2 * k + 1].id;
        if (mentor < 0 || mentee < 0 || s->enrolled[mentor] < 0 || s->enrolled[mentee] < 0)
            continue;
        const fb_report_stats *st = &f->in->stats[f->pm_stats[k]];
        int64_t single = (st->mentor_rated && s->rated_sides[mentor] == 1 ? 1 : 0) +
                         (st->mentee_rated && s->rated_sides[mentee] == 1 ? 1 : 0);
        for (size_t d = 0; d < f->n_dims; d++) {
            int32_t ga = f->dims[d].of[s->enrolled[mentor]],
                    gb = f->dims[d].of[s->enrolled[mentee]];
            if (ga != gb)
                continue;
            group *g = &f->dims[d].groups[ga];
            g->same_n += st->check_ins;
            g->same_rs += st->rating_sum;
            g->same_single += single;
        }
    }
}

/* Raters of several matches: each partner's group, unless it is the rater's own,
 * counted once per (rater, group). */
static int fold_multi_raters(fold *f)
{
    const slots *s = &f->s;
    uint64_t *seen = zeroed(f, 2 * f->n_pm * f->n_dims, sizeof(*seen));
    size_t n = 0;
    if (seen == NULL)
        return -1;
    for (size_t k = 0; k < 2 * f->n_pm; k++) {
        const side *x = &f->sides[k];
        if (!x->rated || x->id < 0 || s->rated_sides[x->id] <= 1 || x->partner < 0 ||
            s->enrolled[x->partner] < 0)
            continue;
        int32_t own = s->enrolled[x->id];
        for (size_t d = 0; d < f->n_dims; d++) {
            int32_t g = f->dims[d].of[s->enrolled[x->partner]];
            if (own >= 0 && f->dims[d].of[own] == g)
                continue;
            seen[n++] = (uint64_t)x->id << 32 | (uint64_t)d << 28 | (uint64_t)g;
        }
    }
    qsort(seen, n, sizeof(*seen), u64_ascending);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || seen[i] != seen[i - 1])
            f->dims[(seen[i] >> 28) & 0xF].groups[seen[i] & 0xFFFFFFF].multi_raters++;
    return 0;
}

/* ---- the answer ------------------------------------------------------------------------- */

static Google__Protobuf__DoubleValue *double_value(double v, tdm_arena *a, bool *failed)
{
    Google__Protobuf__DoubleValue *d = tdm_arena_alloc(a, sizeof(*d));
    if (d == NULL) {
        *failed = true;
        return NULL;
    }
    google__protobuf__double_value__init(d);
    d->value = v;
    return d;
}

/* The names of the withheld figures. */
static int suppressed(bool rating, bool nps, tdm_arena *a, char ***out, size_t *n)
{
    *out = tdm_arena_calloc(a, 2, sizeof(char *));
    if (*out == NULL)
        return -1;
    *n = 0;
    if (rating)
        (*out)[(*n)++] = (char *)"meanRating";
    if (nps)
        (*out)[(*n)++] = (char *)"nps";
    return 0;
}

static Tandem__V1__BreakdownGroup *group_message(const group *g, int32_t threshold, tdm_arena *a)
{
    Tandem__V1__BreakdownGroup *x = tdm_arena_alloc(a, sizeof(*x));
    char *key = tdm_arena_alloc(a, g->len + 1);
    bool failed = x == NULL || key == NULL;
    if (failed)
        return NULL;
    tandem__v1__breakdown_group__init(x);
    memcpy(key, g->key, g->len);
    key[g->len] = '\0';
    int64_t check_ins = g->side_n - g->same_n;
    int64_t rating_sum = g->side_rs - g->same_rs;
    int64_t raters = g->own_raters + g->single_partners - g->same_single + g->multi_raters;
    x->key = key;
    x->count = (int32_t)g->n;
    x->matched = (int32_t)g->matched;
    x->check_ins = (int32_t)check_ins;
    if (raters >= threshold && check_ins != 0)
        x->mean_rating = (double)rating_sum / (double)check_ins;
    if (g->nps_people >= threshold)
        x->nps = double_value(100.0 * (double)(g->promoters - g->detractors) / (double)g->nps_n, a,
                              &failed);
    if (failed || suppressed(raters < threshold, g->nps_people < threshold, a, &x->suppressed,
                             &x->n_suppressed) != 0)
        return NULL;
    return x;
}

static Tandem__V1__Breakdown *breakdown_message(fold *f, size_t d)
{
    dimension *dim = &f->dims[d];
    int32_t t = f->in->threshold;
    Tandem__V1__Breakdown *b = tdm_arena_alloc(f->a, sizeof(*b));
    group **shown = zeroed(f, dim->n_groups, sizeof(*shown));
    if (b == NULL || shown == NULL)
        return NULL;
    tandem__v1__breakdown__init(b);
    b->dimension = (char *)DIMENSION_NAMES[d];
    size_t n_small = 0;
    group *smallest_shown = NULL;
    for (size_t i = 0; i < dim->n_groups; i++) {
        group *g = &dim->groups[i];
        g->visible = g->n >= t;
        if (!g->visible)
            n_small++;
        else if (smallest_shown == NULL || group_ascending(g, smallest_shown) < 0)
            smallest_shown = g;
    }
    /* Complementary suppression: one suppressed group alone could be recovered by
     * subtracting the shown groups from a total, so the smallest shown group goes too. */
    if (n_small == 1 && smallest_shown != NULL)
        smallest_shown->visible = false;
    size_t n_shown = 0;
    for (size_t i = 0; i < dim->n_groups; i++)
        if (dim->groups[i].visible)
            shown[n_shown++] = &dim->groups[i];
        else
            b->suppressed_groups++;
    qsort(shown, n_shown, sizeof(*shown), group_shown_order);
    /* The largest FB_REPORT_MAX_GROUPS; the rest were large enough to show, so they
     * are not counted as suppressed, and a free-text dimension (an office typed by
     * hand) cannot make the answer grow with the programme. */
    if (n_shown > FB_REPORT_MAX_GROUPS)
        n_shown = FB_REPORT_MAX_GROUPS;
    b->groups = zeroed(f, n_shown, sizeof(*b->groups));
    if (b->groups == NULL)
        return NULL;
    for (size_t i = 0; i < n_shown; i++) {
        b->groups[i] = group_message(shown[i], t, f->a);
        if (b->groups[i] == NULL)
            return NULL;
    }
    b->n_groups = n_shown;
    return b;
}

/* The at-risk rules of API.md: not ENDED, and declined, or a latest rating of 2 or
 * less, or no check-in for twice the cadence since the latest one (or the start). */
static int32_t at_risk_count(const fold *f)
{
    const fb_report_inputs *in = f->in;
    int64_t overdue_us = 2 * (int64_t)in->cadence_days * US_PER_DAY;
    int32_t n = 0;
    for (size_t i = 0; i < in->n_matches; i++) {
        const fb_report_match *m = &in->matches[i];
        if (m->status_null || m->status == MATCH_ENDED)
            continue;
        int32_t si = f->s.stats[id_find(&f->ids, m->id)];
        const fb_report_stats *st = si >= 0 ? &in->stats[si] : NULL;
        bool since_null = st == NULL && m->start_null;
        int64_t since = st != NULL ? st->last_us : m->start_us;
        if (m->declined == 1 || m->status == MATCH_DECLINED ||
            (st != NULL && st->last_rating <= 2) ||
            (!since_null && in->now_us - since > overdue_us))
            n++;
    }
    return n;
}

static int programme_figures(fold *f, Tandem__V1__ProgrammeReport *r)
{
    const fb_report_inputs *in = f->in;
    int32_t t = in->threshold;
    bool failed = false;
    for (size_t i = 0; i < in->n_people; i++) {
        const fb_report_person *p = &in->people[i];
        if (p->status_null || p->status == PARTICIPANT_WITHDRAWN)
            continue;
        r->enrolled_mentors += p->role == 1 ? 1 : 0;
        r->enrolled_mentees += p->role == 2 ? 1 : 0;
    }
    for (size_t i = 0; i < in->n_matches; i++)
        r->active_matches += !in->matches[i].status_null && in->matches[i].status == MATCH_ACTIVE;
    r->matched = (int32_t)f->matched;
    int64_t check_ins = 0, rating_sum = 0, raters = f->null_side_rated ? 1 : 0;
    for (size_t i = 0; i < in->n_stats; i++) {
        check_ins += in->stats[i].check_ins;
        rating_sum += in->stats[i].rating_sum;
    }
    for (size_t s = 0; s < f->ids.n; s++)
        raters += f->s.rated_sides[s] > 0 ? 1 : 0;
    r->check_ins = (int32_t)check_ins;
    if (raters >= t && check_ins != 0)
        r->mean_rating = (double)rating_sum / (double)check_ins;
    if (in->nps_n > 0 && in->nps_people >= t)
        r->nps = double_value(100.0 * (double)(in->promoters - in->detractors) / (double)in->nps_n,
                              f->a, &failed);
    r->surveys = in->surveys;
    r->survey_responses = (int32_t)in->responses_counted;
    r->survey_respondents = (int32_t)in->respondents_counted;
    if (in->surveys > 0 && f->n_enrolled > 0)
        r->survey_response_rate =
            (double)in->responses_counted / (double)((int64_t)in->surveys * (int64_t)f->n_enrolled);
    r->at_risk_count = at_risk_count(f);
    r->objective_progress = in->objective_progress;
    r->n_objective_progress = in->n_objective_progress;
    if (failed ||
        suppressed(raters < t, in->nps_people < t, f->a, &r->suppressed, &r->n_suppressed) != 0)
        return -1;
    return 0;
}

Tandem__V1__ProgrammeReport *fb_report_fold(const fb_report_inputs *in, tdm_arena *a)
{
    fold f = {.in = in, .a = a};
    Tandem__V1__ProgrammeReport *r = tdm_arena_alloc(a, sizeof(*r));
    if (r == NULL || index_ids(&f) != 0)
        return NULL;
    tandem__v1__programme_report__init(r);
    fold_matches(&f);
    if (make_dimensions(&f) != 0)
        return NULL;
    fold_members(&f);
    fold_same_group_matches(&f);
    if (fold_multi_raters(&f) != 0 || programme_figures(&f, r) != 0)
        return NULL;
    r->breakdowns = zeroed(&f, f.n_dims, sizeof(*r->breakdowns));
    if (r->breakdowns == NULL)
        return NULL;
    for (size_t d = 0; d < f.n_dims; d++) {
        r->breakdowns[d] = breakdown_message(&f, d);
        if (r->breakdowns[d] == NULL)
            return NULL;
    }
    r->n_breakdowns = f.n_dims;
    return r;
}
