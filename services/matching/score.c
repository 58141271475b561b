/*
 * score.c - the documented, weighted, explainable score of a mentor-mentee pair.
 *
 * A pair first meets the hard constraints (mt_hard_check): roles, neither withdrawn,
 * seniority in the programme's direction (REVERSE: the mentor is never more senior)
 * and within the policy's gap range, not the same department when forbidden,
 * neither in the other's reporting chain when forbidden (the default), a shared
 * language when required. Exclusions and min_score are the run's business (plan.c).
 *
 * The score is 0-100: each criterion c gives a similarity s_c in [0, 1] and
 * contributes 100 * w_c * s_c / W points, where w_c is the policy's weight and W
 * the sum of the weights that apply to the pair. The criteria:
 *
 *   skills        each mentee goal is met by the mentor's best skill sharing a word
 *                 with it (a goal naming an objective also uses the objective's
 *                 title), worth level/5; s = mean over the mentee's goals
 *   interests     Jaccard overlap of the interests (case-insensitive)
 *   objectives    Jaccard overlap of the programme objectives both sides' goals name
 *   availability  0.7 * min/max of the monthly hours + 0.3 * time-zone proximity
 *                 (same zone 1, same region such as "Europe/" 0.75, else 0.25;
 *                 unknown 0.5)
 *   language      1 when they share a language
 *   seniority     closeness of the gap (in the programme's direction) to the middle
 *                 of the allowed range: 1 - |gap - mid| / (half-width + 1)
 *   perspective   0.5 for a different office, 0.5 for a different practice area
 *   background    the share of declared diversity dimensions (gender, ethnicity,
 *                 first-generation professional, disability) on which the two
 *                 differ - only when both consented and the data reached us (the
 *                 run's caller had the admin scope). When it does not apply, its
 *                 weight leaves W for that pair, so not consenting never lowers a
 *                 score. Explanations say only how many dimensions differ, never
 *                 the values.
 *
 * Each contribution is rounded to 0.01 points and the score is their sum, so the
 * explanation adds up exactly. Everything here is pure and thread-safe once the
 * policy and people are prepared: the run scores every pair on several threads.
 */
#include "matching.h"

#include <ctype.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const MT_CRITERION_NAMES[MT_N_CRITERIA] = {
    "skills",   "interests", "objectives",  "availability",
    "language", "seniority", "perspective", "background",
};

/* Default weights when the policy gives none (enrolment.proto, CriterionWeights). */
static const double DEFAULT_WEIGHTS[MT_N_CRITERIA] = {3, 2, 3, 1, 1, 1, 1, 1};

/* Words that say nothing about a skill or goal. */
static const char *const STOPWORDS[] = {"and", "the", "for", "with", "of", "in", "to",
                                        "on",  "an",  "or",  "at",   "by", "my", "our"};

/* ---- hashing ---------------------------------------------------------------------- */

/* FNV-1a over the ASCII-lower-cased bytes, trimmed; 0 is kept for "not given". */
static uint64_t hash_lower(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint64_t)(unsigned char)tolower((unsigned char)s[i]);
        h *= 1099511628211ULL;
    }
    return h == 0 ? 1 : h;
}

static uint64_t hash_str(const char *s)
{
    return s == NULL ? 0 : hash_lower(s, strlen(s));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort and deduplicate h[0..n) in place; the new count. */
static uint32_t sort_unique(uint64_t *h, size_t n)
{
    if (n == 0)
        return 0;
    qsort(h, n, sizeof(*h), cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (h[i] != h[k - 1])
            h[k++] = h[i];
    }
    return (uint32_t)k;
}

static bool set_has(const mt_hashset *s, uint64_t h)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->h[mid] == h)
            return true;
        if (s->h[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static uint32_t set_intersection(const mt_hashset *a, const mt_hashset *b)
{
    uint32_t i = 0, j = 0, n = 0;
    while (i < a->n && j < b->n) {
        if (a->h[i] == b->h[j]) {
            n++;
            i++;
            j++;
        } else if (a->h[i] < b->h[j]) {
            i++;
        } else {
            j++;
        }
    }
    return n;
}

static tdm_status *oom(void)
{
    return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
}

/* A set of the hashes of whole strings. */
static tdm_status *strings_set(mt_hashset *out, char **items, size_t n, tdm_arena *a)
{
    out->n = 0;
    out->h = tdm_arena_alloc(a, (n > 0 ? n : 1) * sizeof(uint64_t));
    if (out->h == NULL)
        return oom();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hash_str(items[i]);
        if (h != 0)
            out->h[k++] = h;
    }
    out->n = sort_unique(out->h, k);
    return NULL;
}

static bool is_stopword(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(STOPWORDS) / sizeof(STOPWORDS[0]); i++) {
        if (strlen(STOPWORDS[i]) == n && strncasecmp(STOPWORDS[i], s, n) == 0)
            return true;
    }
    return false;
}

/* Append the word hashes of s to h (capacity cap); returns the new count. Words are
 * runs of ASCII letters and digits or non-ASCII bytes (so UTF-8 words stay whole);
 * one-letter words and stopwords are dropped. */
static size_t add_tokens(const char *s, uint64_t *h, size_t k, size_t cap)
{
    size_t i = 0, len = strlen(s);
    while (i < len && k < cap) {
        while (i < len && !(isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        size_t start = i;
        while (i < len && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        size_t n = i - start;
        if (n >= 2 && !is_stopword(s + start, n))
            h[k++] = hash_lower(s + start, n);
    }
    return k;
}

#define MAX_TOKENS_PER_STRING 64u

static tdm_status *tokens_set(mt_hashset *out, const char *s, const mt_hashset *extra, tdm_arena *a)
{
    size_t cap = MAX_TOKENS_PER_STRING + (extra != NULL ? extra->n : 0);
    out->h = tdm_arena_alloc(a, cap * sizeof(uint64_t));
    if (out->h == NULL)
        return oom();
    size_t k = add_tokens(s, out->h, 0, MAX_TOKENS_PER_STRING);
    for (uint32_t i = 0; extra != NULL && i < extra->n; i++)
        out->h[k++] = extra->h[i];
    out->n = sort_unique(out->h, k);
    return NULL;
}

/* ---- policy and people ---------------------------------------------------------------- */

tdm_status *mt_policy_init(mt_policy *pol, const Tandem__V1__Programme *prog, tdm_arena *a)
{
    memset(pol, 0, sizeof(*pol));
    pol->src = prog;
    pol->kind = prog->kind;
    const Tandem__V1__MatchingPolicy *mp = prog->matching_policy;
    const Tandem__V1__CriterionWeights *w = mp != NULL ? mp->weights : NULL;
    if (w == NULL) {
        memcpy(pol->weight, DEFAULT_WEIGHTS, sizeof(pol->weight));
    } else {
        double given[MT_N_CRITERIA] = {w->skills,   w->interests, w->objectives,  w->availability,
                                       w->language, w->seniority, w->perspective, w->background};
        for (int c = 0; c < MT_N_CRITERIA; c++)
            pol->weight[c] = isfinite(given[c]) && given[c] > 0 ? given[c] : 0;
    }
    double min_score = mp != NULL ? mp->min_score : 0;
    if (!isfinite(min_score) || min_score < 0)
        min_score = 0;
    if (min_score > 100)
        min_score = 100;
    pol->min_score = (int64_t)ceil(min_score * MT_SCORE_SCALE - 1e-9);
    pol->default_capacity =
        mp != NULL && mp->default_mentor_capacity > 0 ? mp->default_mentor_capacity : 1;
    pol->gap_min = mp != NULL && mp->seniority_gap && mp->seniority_gap->min
                       ? mp->seniority_gap->min->value
                       : -1;
    pol->gap_max = mp != NULL && mp->seniority_gap && mp->seniority_gap->max
                       ? mp->seniority_gap->max->value
                       : -1;
    pol->forbid_same_department = mp != NULL && mp->forbid_same_department;
    pol->forbid_reporting_line =
        mp == NULL || mp->forbid_reporting_line == NULL || mp->forbid_reporting_line->value;
    pol->require_shared_language = mp != NULL && mp->require_shared_language;
    pol->objective = mp != NULL && mp->objective >= 1 && mp->objective <= 3
                         ? (int)mp->objective
                         : TANDEM__V1__MATCHING_OBJECTIVE__MAX_PARTICIPATION;
    for (int bg = 0; bg < 2; bg++) {
        double total = 0;
        for (int c = 0; c < MT_N_CRITERIA; c++)
            total += c != MT_C_BACKGROUND || bg ? pol->weight[c] : 0;
        for (int c = 0; c < MT_N_CRITERIA; c++)
            pol->factor[bg][c] = total > 0 && (c != MT_C_BACKGROUND || bg)
                                     ? 100.0 * MT_SCORE_SCALE * pol->weight[c] / total
                                     : 0;
    }
    pol->n_objectives = prog->n_objectives < 32 ? prog->n_objectives : 32;
    for (size_t i = 0; i < pol->n_objectives; i++) {
        const Tandem__V1__Objective *o = prog->objectives[i];
        pol->objective_key[i] = hash_str(o->key);
        pol->objective_title[i] = hash_str(o->title);
        char *both = tdm_arena_printf(a, "%s %s", o->key, o->title);
        if (both == NULL)
            return oom();
        tdm_status *st = tokens_set(&pol->objective_tokens[i], both, NULL, a);
        if (st != NULL)
            return st;
    }
    if (pol->kind < TANDEM__V1__PROGRAMME_KIND__REVERSE ||
        pol->kind > TANDEM__V1__PROGRAMME_KIND__PEER) {
        return tdm_status_add_violation(
            tdm_status_new(TDM_FAILED_PRECONDITION, "the programme has no kind"), "kind",
            "must be REVERSE, TRADITIONAL or PEER");
    }
    return NULL;
}

typedef struct skill_token {
    uint64_t h;
    uint8_t level;
} skill_token;

static int cmp_skill_token(const void *a, const void *b)
{
    const skill_token *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (int)y->level - (int)x->level; /* best level first */
}

static int skill_level(const Tandem__V1__Skill *s)
{
    int l = s->level == 0 ? 3 : s->level;
    return l < 1 ? 1 : (l > 5 ? 5 : l);
}

static tdm_status *skills_init(mt_person *out, const Tandem__V1__Participant *p, tdm_arena *a)
{
    size_t cap = p->n_skills * MAX_TOKENS_PER_STRING + 1;
    skill_token *t = tdm_arena_alloc(a, cap * sizeof(*t));
    uint64_t *tmp = tdm_arena_alloc(a, MAX_TOKENS_PER_STRING * sizeof(uint64_t));
    if (t == NULL || tmp == NULL)
        return oom();
    size_t k = 0;
    for (size_t i = 0; i < p->n_skills; i++) {
        size_t n = add_tokens(p->skills[i]->name, tmp, 0, MAX_TOKENS_PER_STRING);
        for (size_t j = 0; j < n; j++)
            t[k++] = (skill_token){tmp[j], (uint8_t)skill_level(p->skills[i])};
    }
    qsort(t, k, sizeof(*t), cmp_skill_token);
    out->skill_tokens.h = tdm_arena_alloc(a, (k > 0 ? k : 1) * sizeof(uint64_t));
    out->skill_token_level = tdm_arena_alloc(a, k > 0 ? k : 1);
    if (out->skill_tokens.h == NULL || out->skill_token_level == NULL)
        return oom();
    uint32_t n = 0;
    for (size_t i = 0; i < k; i++) {
        if (n > 0 && out->skill_tokens.h[n - 1] == t[i].h)
            continue; /* sorted best first: the first of a hash is its best level */
        out->skill_tokens.h[n] = t[i].h;
        out->skill_token_level[n] = t[i].level;
        n++;
    }
    out->skill_tokens.n = n;
    return NULL;
}

/* The objective a goal names (its key or title), or -1. */
static int goal_objective(const mt_policy *pol, uint64_t goal)
{
    for (size_t i = 0; goal != 0 && i < pol->n_objectives; i++) {
        if (pol->objective_key[i] == goal || pol->objective_title[i] == goal)
            return (int)i;
    }
    return -1;
}

static int tri_bool(const Google__Protobuf__BoolValue *b)
{
    return b == NULL ? -1 : (b->value ? 1 : 0);
}

tdm_status *mt_person_init(mt_person *out, const Tandem__V1__Participant *p, const mt_policy *pol,
                           tdm_arena *a)
{
    memset(out, 0, sizeof(*out));
    out->src = p;
    out->id = p->id;
    out->external_hash = hash_str(p->external_id);
    out->role = p->role;
    out->withdrawn = p->status == TANDEM__V1__PARTICIPANT__STATUS__WITHDRAWN;
    out->seniority = p->seniority_level;
    out->hours = p->availability_hours_per_month;
    out->capacity = p->capacity > 0 ? p->capacity : pol->default_capacity;
    out->department = hash_str(p->department);
    out->office = hash_str(p->office);
    out->practice = hash_str(p->practice_area);
    out->timezone = hash_str(p->timezone);
    const char *slash = p->timezone != NULL ? strchr(p->timezone, '/') : NULL;
    out->tz_region = slash != NULL ? hash_lower(p->timezone, (size_t)(slash - p->timezone)) : 0;
    tdm_status *st = strings_set(&out->chain, p->reporting_chain, p->n_reporting_chain, a);
    if (st == NULL)
        st = strings_set(&out->interests, p->interests, p->n_interests, a);
    if (st == NULL)
        st = strings_set(&out->languages, p->languages, p->n_languages, a);
    if (st == NULL)
        st = skills_init(out, p, a);
    if (st != NULL)
        return st;
    out->n_goals = p->n_goals;
    out->goal_tokens = tdm_arena_calloc(a, p->n_goals > 0 ? p->n_goals : 1, sizeof(mt_hashset));
    if (out->goal_tokens == NULL)
        return oom();
    for (size_t i = 0; i < p->n_goals; i++) {
        int o = goal_objective(pol, hash_str(p->goals[i]));
        if (o >= 0)
            out->objectives |= 1u << o;
        st = tokens_set(&out->goal_tokens[i], p->goals[i],
                        o >= 0 ? &pol->objective_tokens[o] : NULL, a);
        if (st != NULL)
            return st;
    }
    const Tandem__V1__Diversity *d = p->diversity;
    if (d != NULL && p->consent != NULL && p->consent->diversity_data) {
        out->has_background = true;
        out->gender = hash_str(d->gender);
        out->ethnicity = hash_str(d->ethnicity);
        out->first_generation = tri_bool(d->first_generation_professional);
        out->disability = tri_bool(d->disability);
    }
    return NULL;
}

static uint32_t bits_common(const uint64_t a[4], const uint64_t b[4])
{
    return (uint32_t)(__builtin_popcountll(a[0] & b[0]) + __builtin_popcountll(a[1] & b[1]) +
                      __builtin_popcountll(a[2] & b[2]) + __builtin_popcountll(a[3] & b[3]));
}

static bool languages_shared(const mt_person *m, const mt_person *e)
{
    if (m->fast & e->fast & MT_FAST_LANGUAGES)
        return ((m->language_bits[0] & e->language_bits[0]) |
                (m->language_bits[1] & e->language_bits[1]) |
                (m->language_bits[2] & e->language_bits[2]) |
                (m->language_bits[3] & e->language_bits[3])) != 0;
    return set_intersection(&m->languages, &e->languages) > 0;
}

/* ---- hard constraints --------------------------------------------------------------- */

/* The seniority gap in the programme's direction (negative: the wrong way). */
static int seniority_gap(const mt_policy *pol, const mt_person *m, const mt_person *e)
{
    switch (pol->kind) {
    case TANDEM__V1__PROGRAMME_KIND__REVERSE:
        return e->seniority - m->seniority;
    case TANDEM__V1__PROGRAMME_KIND__TRADITIONAL:
        return m->seniority - e->seniority;
    default:
        return abs(m->seniority - e->seniority);
    }
}

uint32_t mt_hard_check(const mt_policy *pol, const mt_person *m, const mt_person *e)
{
    uint32_t bits = 0;
    if (m->role != TANDEM__V1__ROLE__MENTOR || e->role != TANDEM__V1__ROLE__MENTEE)
        bits |= MT_HARD_ROLE;
    if (m->withdrawn || e->withdrawn)
        bits |= MT_HARD_WITHDRAWN;
    int gap = seniority_gap(pol, m, e);
    if (gap < 0)
        bits |= MT_HARD_DIRECTION;
    else if ((pol->gap_min >= 0 && gap < pol->gap_min) || (pol->gap_max >= 0 && gap > pol->gap_max))
        bits |= MT_HARD_GAP;
    if (pol->forbid_same_department && m->department != 0 && m->department == e->department)
        bits |= MT_HARD_DEPARTMENT;
    if (pol->forbid_reporting_line && !(m->fast & e->fast & MT_FAST_UNCHAINED) &&
        (set_has(&e->chain, m->external_hash) || set_has(&m->chain, e->external_hash)))
        bits |= MT_HARD_REPORTING;
    if (pol->require_shared_language && !languages_shared(m, e))
        bits |= MT_HARD_LANGUAGE;
    return bits;
}

/* ---- similarities ------------------------------------------------------------------- */

/* The best level (0: none) the mentor offers for one goal. */
static int goal_best_level(const mt_person *m, const mt_hashset *goal, size_t *token_index)
{
    int best = 0;
    for (uint32_t t = 0; t < goal->n; t++) {
        size_t lo = 0, hi = m->skill_tokens.n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (m->skill_tokens.h[mid] < goal->h[t])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < m->skill_tokens.n && m->skill_tokens.h[lo] == goal->h[t] &&
            m->skill_token_level[lo] > best) {
            best = m->skill_token_level[lo];
            if (token_index != NULL)
                *token_index = lo;
        }
    }
    return best;
}

static double jaccard(uint32_t inter, uint32_t a, uint32_t b)
{
    uint32_t uni = a + b - inter;
    return uni == 0 ? 0.0 : (double)inter / (double)uni;
}

static double tz_proximity(const mt_person *m, const mt_person *e)
{
    if (m->timezone == 0 || e->timezone == 0)
        return 0.5;
    if (m->timezone == e->timezone)
        return 1.0;
    if (m->tz_region != 0 && m->tz_region == e->tz_region)
        return 0.75;
    return 0.25;
}

/* Fills s[] and says whether background applies. */
static bool similarities(const mt_policy *pol, const mt_person *m, const mt_person *e,
                         double s[MT_N_CRITERIA], int *bg_compared, int *bg_differ)
{
    int sum = 0;
    if (m->fast & e->fast & MT_FAST_GOALS) {
        for (size_t g = 0; g < e->n_goals; g++) {
            int best = 0;
            for (uint16_t t = e->goal_token_start[g]; t < e->goal_token_start[g + 1]; t++) {
                int l = m->goal_level[e->goal_token_ids[t]];
                best = l > best ? l : best;
            }
            sum += best;
        }
    } else {
        for (size_t g = 0; g < e->n_goals; g++)
            sum += goal_best_level(m, &e->goal_tokens[g], NULL);
    }
    s[MT_C_SKILLS] = e->n_goals > 0 ? sum / (5.0 * (double)e->n_goals) : 0.0;
    uint32_t shared_interests = m->fast & e->fast & MT_FAST_INTERESTS
                                    ? bits_common(m->interest_bits, e->interest_bits)
                                    : set_intersection(&m->interests, &e->interests);
    s[MT_C_INTERESTS] = jaccard(shared_interests, m->interests.n, e->interests.n);
    s[MT_C_OBJECTIVES] = jaccard((uint32_t)__builtin_popcount(m->objectives & e->objectives),
                                 (uint32_t)__builtin_popcount(m->objectives),
                                 (uint32_t)__builtin_popcount(e->objectives));
    double hours = 0;
    if (m->hours > 0 && e->hours > 0)
        hours = (double)(m->hours < e->hours ? m->hours : e->hours) /
                (double)(m->hours > e->hours ? m->hours : e->hours);
    s[MT_C_AVAILABILITY] = 0.7 * hours + 0.3 * tz_proximity(m, e);
    s[MT_C_LANGUAGE] = languages_shared(m, e) ? 1.0 : 0.0;
    int gap = seniority_gap(pol, m, e);
    int lo = pol->gap_min >= 0 ? pol->gap_min : 0;
    int hi = pol->gap_max >= 0 ? pol->gap_max : 10;
    double mid = (lo + hi) / 2.0, half = (hi - lo) / 2.0;
    double sen = gap < 0 ? 0.0 : 1.0 - fabs(gap - mid) / (half + 1.0);
    s[MT_C_SENIORITY] = sen < 0 ? 0 : (sen > 1 ? 1 : sen);
    double persp = 0;
    if (m->office != 0 && e->office != 0 && m->office != e->office)
        persp += 0.5;
    if (m->practice != 0 && e->practice != 0 && m->practice != e->practice)
        persp += 0.5;
    s[MT_C_PERSPECTIVE] = persp;
    int compared = 0, differ = 0;
    if (m->has_background && e->has_background) {
        if (m->gender != 0 && e->gender != 0) {
            compared++;
            differ += m->gender != e->gender;
        }
        if (m->ethnicity != 0 && e->ethnicity != 0) {
            compared++;
            differ += m->ethnicity != e->ethnicity;
        }
        if (m->first_generation >= 0 && e->first_generation >= 0) {
            compared++;
            differ += m->first_generation != e->first_generation;
        }
        if (m->disability >= 0 && e->disability >= 0) {
            compared++;
            differ += m->disability != e->disability;
        }
    }
    s[MT_C_BACKGROUND] = compared > 0 ? (double)differ / compared : 0.0;
    if (bg_compared != NULL)
        *bg_compared = compared;
    if (bg_differ != NULL)
        *bg_differ = differ;
    return compared > 0;
}

/* Contributions in fixed point; returns the score (their sum, at most 100). */
static int64_t contributions(const mt_policy *pol, const double s[MT_N_CRITERIA], bool bg_applies,
                             int64_t fixed[MT_N_CRITERIA])
{
    const double *f = pol->factor[bg_applies ? 1 : 0];
    int64_t sum = 0;
    int largest = 0;
    for (int c = 0; c < MT_N_CRITERIA; c++) {
        fixed[c] = (int64_t)(f[c] * s[c] + 0.5); /* rounding; both factors are >= 0 */
        sum += fixed[c];
        if (fixed[c] > fixed[largest])
            largest = c;
    }
    /* Rounding each part may overshoot 100 by a few hundredths: take it off the
     * largest part, so the parts still add up to the score. */
    if (sum > MT_SCORE_MAX) {
        fixed[largest] -= sum - MT_SCORE_MAX;
        sum = MT_SCORE_MAX;
    }
    return sum;
}

int64_t mt_score(const mt_policy *pol, const mt_person *m, const mt_person *e)
{
    double s[MT_N_CRITERIA];
    int64_t fixed[MT_N_CRITERIA];
    bool bg = similarities(pol, m, e, s, NULL, NULL);
    return contributions(pol, s, bg, fixed);
}

/* ---- explanations ------------------------------------------------------------------- */

/* A detail text, cut to MT_MAX_DETAIL_BYTES on a UTF-8 boundary. */
typedef struct detail {
    char buf[MT_MAX_DETAIL_BYTES + 1];
    size_t len;
} detail;

static void d_add(detail *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void d_add(detail *d, const char *fmt, ...)
{
    if (d->len >= MT_MAX_DETAIL_BYTES)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    d->len += (size_t)n;
    if (d->len > MT_MAX_DETAIL_BYTES) {
        d->len = MT_MAX_DETAIL_BYTES;
        while (d->len > 0 && ((unsigned char)d->buf[d->len] & 0xC0) == 0x80)
            d->len--;
        d->buf[d->len] = '\0';
    }
}

/* The mentor's skill that gives `level` for the goal (the first with that level
 * sharing a word with the goal). */
static const Tandem__V1__Skill *skill_for_goal(const mt_person *m, const mt_hashset *goal,
                                               int level)
{
    uint64_t tmp[MAX_TOKENS_PER_STRING];
    for (size_t i = 0; i < m->src->n_skills; i++) {
        const Tandem__V1__Skill *s = m->src->skills[i];
        if (skill_level(s) != level)
            continue;
        size_t n = add_tokens(s->name, tmp, 0, MAX_TOKENS_PER_STRING);
        for (size_t j = 0; j < n; j++) {
            if (set_has(goal, tmp[j]))
                return s;
        }
    }
    return NULL;
}

static void explain_skills(const mt_person *m, const mt_person *e, detail *d)
{
    if (e->n_goals == 0) {
        d_add(d, "the mentee states no goals");
        return;
    }
    size_t met = 0, listed = 0;
    for (size_t g = 0; g < e->n_goals; g++) {
        int level = goal_best_level(m, &e->goal_tokens[g], NULL);
        if (level == 0)
            continue;
        met++;
        const Tandem__V1__Skill *s = skill_for_goal(m, &e->goal_tokens[g], level);
        if (s != NULL && listed < 3) {
            d_add(d, "%soffers %s (level %d) for goal '%s'", listed > 0 ? "; " : "", s->name, level,
                  e->src->goals[g]);
            listed++;
        }
    }
    if (met == 0)
        d_add(d, "no offered skill meets the mentee's %zu goal%s", e->n_goals,
              e->n_goals == 1 ? "" : "s");
    else
        d_add(d, "; %zu of %zu goal%s met", met, e->n_goals, e->n_goals == 1 ? "" : "s");
}

/* "a, b, c" of the items of `from` whose hash is in `other`; returns the count. */
static size_t shared_names(char **from, size_t n, const mt_hashset *other, detail *d)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hash_str(from[i]);
        if (h == 0 || !set_has(other, h))
            continue;
        d_add(d, "%s%s", k > 0 ? ", " : "", from[i]);
        k++;
    }
    return k;
}

static void explain_interests(const mt_person *m, const mt_person *e, detail *d)
{
    uint32_t n = set_intersection(&m->interests, &e->interests);
    if (n == 0) {
        d_add(d, "no shared interests");
        return;
    }
    d_add(d, "shares %u interest%s: ", n, n == 1 ? "" : "s");
    shared_names(e->src->interests, e->src->n_interests, &m->interests, d);
}

static void explain_objectives(const mt_policy *pol, const mt_person *m, const mt_person *e,
                               detail *d)
{
    uint32_t both = m->objectives & e->objectives;
    if (both == 0) {
        d_add(d, "no programme objective named by both");
        return;
    }
    d_add(d, "both aim at ");
    size_t k = 0;
    for (size_t i = 0; i < pol->n_objectives; i++) {
        if (both & (1u << i))
            d_add(d, "%s'%s'", k++ > 0 ? ", " : "", pol->src->objectives[i]->title);
    }
}

static void explain_availability(const mt_person *m, const mt_person *e, detail *d)
{
    d_add(d, "mentor %d h/month, mentee %d h/month", m->hours, e->hours);
    if (m->timezone == 0 || e->timezone == 0)
        d_add(d, "; time zone not given");
    else if (m->timezone == e->timezone)
        d_add(d, "; same time zone (%s)", e->src->timezone);
    else if (m->tz_region != 0 && m->tz_region == e->tz_region)
        d_add(d, "; time zones in the same region (%s, %s)", m->src->timezone, e->src->timezone);
    else
        d_add(d, "; distant time zones (%s, %s)", m->src->timezone, e->src->timezone);
}

static void explain_language(const mt_person *m, const mt_person *e, detail *d)
{
    if (set_intersection(&m->languages, &e->languages) == 0) {
        d_add(d, "no language in common");
        return;
    }
    d_add(d, "both speak ");
    shared_names(e->src->languages, e->src->n_languages, &m->languages, d);
}

static const char *kind_name(int kind)
{
    return kind == TANDEM__V1__PROGRAMME_KIND__REVERSE       ? "REVERSE"
           : kind == TANDEM__V1__PROGRAMME_KIND__TRADITIONAL ? "TRADITIONAL"
                                                             : "PEER";
}

static void explain_seniority(const mt_policy *pol, const mt_person *m, const mt_person *e,
                              detail *d)
{
    d_add(d, "gap of %d level%s (mentor %d, mentee %d) in a %s programme", seniority_gap(pol, m, e),
          abs(seniority_gap(pol, m, e)) == 1 ? "" : "s", m->seniority, e->seniority,
          kind_name(pol->kind));
    if (pol->gap_min >= 0 || pol->gap_max >= 0) {
        d_add(d, "; allowed ");
        if (pol->gap_min >= 0)
            d_add(d, "%d", pol->gap_min);
        else
            d_add(d, "0");
        if (pol->gap_max >= 0)
            d_add(d, "-%d", pol->gap_max);
        else
            d_add(d, " or more");
    }
}

static void explain_perspective(const mt_person *m, const mt_person *e, detail *d)
{
    bool office = m->office != 0 && e->office != 0 && m->office != e->office;
    bool practice = m->practice != 0 && e->practice != 0 && m->practice != e->practice;
    if (office)
        d_add(d, "different offices (%s, %s)", m->src->office, e->src->office);
    if (practice)
        d_add(d, "%sdifferent practice areas (%s, %s)", office ? "; " : "", m->src->practice_area,
              e->src->practice_area);
    if (!office && !practice)
        d_add(d, "same office and practice area, or not given");
}

static void explain_background(int compared, int differ, detail *d)
{
    if (compared == 0)
        d_add(d, "not used: needs consented diversity data of both, seen by an admin caller");
    else
        d_add(d, "different backgrounds on %d of %d declared dimension%s", differ, compared,
              compared == 1 ? "" : "s");
}

int64_t mt_explain(const mt_policy *pol, const mt_person *m, const mt_person *e, tdm_arena *a,
                   Tandem__V1__ExplanationItem ***items, size_t *n_items)
{
    double s[MT_N_CRITERIA];
    int64_t fixed[MT_N_CRITERIA];
    int compared = 0, differ = 0;
    bool bg = similarities(pol, m, e, s, &compared, &differ);
    int64_t score = contributions(pol, s, bg, fixed);
    *n_items = 0;
    *items = tdm_arena_calloc(a, MT_N_CRITERIA, sizeof(**items));
    if (*items == NULL)
        return score;
    for (int c = 0; c < MT_N_CRITERIA; c++) {
        if (pol->weight[c] <= 0)
            continue;
        detail d = {.len = 0};
        d.buf[0] = '\0';
        switch (c) {
        case MT_C_SKILLS:
            explain_skills(m, e, &d);
            break;
        case MT_C_INTERESTS:
            explain_interests(m, e, &d);
            break;
        case MT_C_OBJECTIVES:
            explain_objectives(pol, m, e, &d);
            break;
        case MT_C_AVAILABILITY:
            explain_availability(m, e, &d);
            break;
        case MT_C_LANGUAGE:
            explain_language(m, e, &d);
            break;
        case MT_C_SENIORITY:
            explain_seniority(pol, m, e, &d);
            break;
        case MT_C_PERSPECTIVE:
            explain_perspective(m, e, &d);
            break;
        default:
            explain_background(compared, differ, &d);
            break;
        }
        Tandem__V1__ExplanationItem *it = tdm_arena_alloc(a, sizeof(*it));
        if (it == NULL)
            return score;
        tandem__v1__explanation_item__init(it);
        it->criterion = (char *)MT_CRITERION_NAMES[c];
        it->contribution = (double)fixed[c] / MT_SCORE_SCALE;
        it->detail = tdm_arena_strndup(a, d.buf, d.len);
        (*items)[(*n_items)++] = it;
    }
    return score;
}

size_t mt_hard_reasons(const mt_policy *pol, const mt_person *m, const mt_person *e, uint32_t bits,
                       tdm_arena *a, char **out, size_t cap)
{
    size_t n = 0;
#define REASON(...)                                                                                \
    do {                                                                                           \
        if (n < cap)                                                                               \
            out[n++] = tdm_arena_printf(a, __VA_ARGS__);                                           \
    } while (0)
    if (bits & MT_HARD_ROLE) {
        if (m->role != TANDEM__V1__ROLE__MENTOR)
            REASON("mentor_id does not name a mentor of the programme");
        if (e->role != TANDEM__V1__ROLE__MENTEE)
            REASON("mentee_id does not name a mentee of the programme");
    }
    if (bits & MT_HARD_WITHDRAWN) {
        if (m->withdrawn)
            REASON("the mentor has withdrawn");
        if (e->withdrawn)
            REASON("the mentee has withdrawn");
    }
    if (bits & MT_HARD_DIRECTION)
        REASON("mentor is more %s than mentee in a %s programme",
               pol->kind == TANDEM__V1__PROGRAMME_KIND__REVERSE ? "senior" : "junior",
               kind_name(pol->kind));
    if (bits & MT_HARD_GAP)
        REASON("seniority gap %d is outside the allowed range", seniority_gap(pol, m, e));
    if (bits & MT_HARD_DEPARTMENT)
        REASON("same department");
    if (bits & MT_HARD_REPORTING)
        REASON("one is in the other's reporting line");
    if (bits & MT_HARD_LANGUAGE)
        REASON("no shared language, and the programme requires one");
#undef REASON
    return n;
}

/* ---- the run's fast path ---------------------------------------------------------- */

/* Interest and language vocabularies beyond this fall back to sorted sets. */
#define MAX_BIT_VOCAB 256u
/* Goal words beyond this fall back to binary search (a table per mentor). */
#define MAX_GOAL_VOCAB 8192u

typedef struct vocab {
    uint64_t *h;
    size_t n;
} vocab;

static uint32_t vocab_id(const vocab *v, uint64_t h)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->h[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint32_t)lo; /* every hash looked up is in the vocabulary */
}

/* Which strings a vocabulary is made of. */
typedef enum vocab_kind { V_INTERESTS, V_LANGUAGES, V_GOALS } vocab_kind;

static size_t person_items(const mt_person *p, vocab_kind k, uint64_t *out)
{
    size_t n = 0;
    if (k == V_INTERESTS) {
        for (uint32_t i = 0; i < p->interests.n; i++)
            out[n++] = p->interests.h[i];
    } else if (k == V_LANGUAGES) {
        for (uint32_t i = 0; i < p->languages.n; i++)
            out[n++] = p->languages.h[i];
    } else {
        for (size_t g = 0; g < p->n_goals; g++)
            for (uint32_t i = 0; i < p->goal_tokens[g].n; i++)
                out[n++] = p->goal_tokens[g].h[i];
    }
    return n;
}

static size_t person_item_count(const mt_person *p, vocab_kind k)
{
    if (k == V_INTERESTS)
        return p->interests.n;
    if (k == V_LANGUAGES)
        return p->languages.n;
    size_t n = 0;
    for (size_t g = 0; g < p->n_goals; g++)
        n += p->goal_tokens[g].n;
    return n;
}

static tdm_status *vocab_build(vocab *v, vocab_kind k, mt_person *a, size_t na, mt_person *b,
                               size_t nb)
{
    size_t total = 0;
    for (size_t i = 0; i < na; i++)
        total += person_item_count(&a[i], k);
    for (size_t i = 0; i < nb; i++)
        total += person_item_count(&b[i], k);
    v->h = malloc((total + 1) * sizeof(uint64_t));
    if (v->h == NULL)
        return oom();
    size_t n = 0;
    for (size_t i = 0; i < na; i++)
        n += person_items(&a[i], k, v->h + n);
    for (size_t i = 0; i < nb; i++)
        n += person_items(&b[i], k, v->h + n);
    v->n = sort_unique(v->h, n);
    return NULL;
}

static void set_bits(const vocab *v, const mt_hashset *s, uint64_t bits[4])
{
    memset(bits, 0, 4 * sizeof(uint64_t));
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t id = vocab_id(v, s->h[i]);
        bits[id / 64] |= 1ULL << (id % 64);
    }
}

static tdm_status *compile_bits(mt_person *people, size_t n, mt_person *others, size_t n_others)
{
    vocab vi = {0}, vl = {0};
    tdm_status *st = vocab_build(&vi, V_INTERESTS, people, n, others, n_others);
    if (st == NULL)
        st = vocab_build(&vl, V_LANGUAGES, people, n, others, n_others);
    for (int side = 0; st == NULL && side < 2; side++) {
        mt_person *arr = side == 0 ? people : others;
        size_t count = side == 0 ? n : n_others;
        for (size_t i = 0; i < count; i++) {
            if (vi.n <= MAX_BIT_VOCAB) {
                set_bits(&vi, &arr[i].interests, arr[i].interest_bits);
                arr[i].fast |= MT_FAST_INTERESTS;
            }
            if (vl.n <= MAX_BIT_VOCAB) {
                set_bits(&vl, &arr[i].languages, arr[i].language_bits);
                arr[i].fast |= MT_FAST_LANGUAGES;
            }
        }
    }
    free(vi.h);
    free(vl.h);
    return st;
}

/* Mark MT_FAST_UNCHAINED each of people whose external id is in none of others'
 * reporting chains (all of others' chain entries, sorted, answer that). */
static tdm_status *mark_unchained(mt_person *people, size_t n, const mt_person *others,
                                  size_t n_others)
{
    size_t total = 0;
    for (size_t k = 0; k < n_others; k++)
        total += others[k].chain.n;
    uint64_t *h = malloc((total + 1) * sizeof(*h));
    if (h == NULL)
        return oom();
    size_t at = 0;
    for (size_t k = 0; k < n_others; k++)
        for (uint32_t t = 0; t < others[k].chain.n; t++)
            h[at++] = others[k].chain.h[t];
    mt_hashset all = {h, sort_unique(h, total)};
    for (size_t i = 0; i < n; i++)
        if (!set_has(&all, people[i].external_hash))
            people[i].fast |= MT_FAST_UNCHAINED;
    free(h);
    return NULL;
}

tdm_status *mt_compile(mt_person *mentors, size_t n_mentors, mt_person *mentees, size_t n_mentees,
                       tdm_arena *a)
{
    tdm_status *st = compile_bits(mentors, n_mentors, mentees, n_mentees);
    if (st == NULL)
        st = mark_unchained(mentors, n_mentors, mentees, n_mentees);
    if (st == NULL)
        st = mark_unchained(mentees, n_mentees, mentors, n_mentors);
    if (st != NULL)
        return st;
    vocab vg = {0};
    if ((st = vocab_build(&vg, V_GOALS, mentees, n_mentees, NULL, 0)) != NULL)
        return st;
    if (vg.n > MAX_GOAL_VOCAB) {
        free(vg.h);
        return NULL; /* the sorted sets serve */
    }
    for (size_t i = 0; i < n_mentees && st == NULL; i++) {
        mt_person *e = &mentees[i];
        size_t total = person_item_count(e, V_GOALS);
        e->goal_token_ids = tdm_arena_alloc(a, (total + 1) * sizeof(uint16_t));
        e->goal_token_start = tdm_arena_alloc(a, (e->n_goals + 1) * sizeof(uint16_t));
        if (e->goal_token_ids == NULL || e->goal_token_start == NULL) {
            st = oom();
            break;
        }
        uint16_t k = 0;
        for (size_t g = 0; g < e->n_goals; g++) {
            e->goal_token_start[g] = k;
            for (uint32_t t = 0; t < e->goal_tokens[g].n; t++)
                e->goal_token_ids[k++] = (uint16_t)vocab_id(&vg, e->goal_tokens[g].h[t]);
        }
        e->goal_token_start[e->n_goals] = k;
        e->fast |= MT_FAST_GOALS;
    }
    for (size_t i = 0; i < n_mentors && st == NULL; i++) {
        mt_person *m = &mentors[i];
        m->goal_level = tdm_arena_calloc(a, vg.n + 1, 1);
        if (m->goal_level == NULL) {
            st = oom();
            break;
        }
        for (size_t t = 0; t < vg.n; t++) {
            mt_hashset one = {&vg.h[t], 1};
            m->goal_level[t] = (uint8_t)goal_best_level(m, &one, NULL);
        }
        m->fast |= MT_FAST_GOALS;
    }
    free(vg.h);
    return st;
}
