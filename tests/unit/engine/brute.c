/*
 * brute.c - exhaustive search over every assignment of a small instance.
 */
#include "brute.h"

#include <stdlib.h>
#include <string.h>

uint64_t brute_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t below(uint64_t *s, uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(brute_rand(s) % n);
}

void brute_random(instance *in, uint64_t *rng, uint32_t max_mentors, uint32_t max_mentees,
                  int64_t wmax, bool pins, bool exclusions)
{
    memset(in, 0, sizeof *in);
    in->nm = below(rng, max_mentors + 1);
    in->ne = below(rng, max_mentees + 1);
    uint32_t density = 20 + below(rng, 81); /* percent */
    for (uint32_t i = 0; i < in->nm; i++)
        in->cap[i] = below(rng, 4); /* 0..3, 0 included on purpose */
    for (uint32_t i = 0; i < in->nm; i++)
        for (uint32_t j = 0; j < in->ne; j++)
            in->weight[i][j] =
                below(rng, 100) < density ? (int64_t)below(rng, (uint32_t)wmax + 1) : -1;
    uint32_t load[BRUTE_MAX_MENTORS] = {0};
    for (uint32_t j = 0; j < in->ne; j++) {
        in->pin[j] = -1;
        if (pins && in->nm > 0 && below(rng, 6) == 0) {
            uint32_t i = below(rng, in->nm);
            if (load[i] < in->cap[i]) {
                load[i]++;
                in->pin[j] = (int32_t)i;
                in->pin_weight[j] = below(rng, (uint32_t)wmax + 1);
            }
        }
    }
    if (exclusions)
        for (uint32_t i = 0; i < in->nm; i++)
            for (uint32_t j = 0; j < in->ne; j++)
                in->excluded[i][j] = in->pin[j] != (int32_t)i && below(rng, 8) == 0;
    in->min_weight = below(rng, 3) == 0 ? below(rng, (uint32_t)wmax + 1) : 0;
}

tdm_assign_problem *brute_problem(const instance *in)
{
    tdm_assign_problem *p;
    if (tdm_assign_problem_new(in->nm, in->ne, in->cap, &p) != TDM_ASSIGN_OK)
        return NULL;
    for (uint32_t i = 0; i < in->nm; i++)
        for (uint32_t j = 0; j < in->ne; j++) {
            if (in->weight[i][j] >= 0) {
                tdm_assign_edge e = {i, j, in->weight[i][j]};
                if (tdm_assign_problem_add_edges(p, &e, 1) != TDM_ASSIGN_OK)
                    abort();
            }
            if (in->excluded[i][j] && tdm_assign_problem_exclude(p, i, j) != TDM_ASSIGN_OK)
                abort();
        }
    for (uint32_t j = 0; j < in->ne; j++)
        if (in->pin[j] >= 0 &&
            tdm_assign_problem_pin(p, (uint32_t)in->pin[j], j, in->pin_weight[j]) != TDM_ASSIGN_OK)
            abort();
    return p;
}

bool brute_admissible(const instance *in, uint32_t i, uint32_t j)
{
    return in->pin[j] < 0 && in->weight[i][j] >= 0 && !in->excluded[i][j] &&
           in->weight[i][j] >= in->min_weight;
}

int brute_cmp(value a, value b, tdm_assign_objective obj)
{
    int64_t x[3], y[3];
    if (obj == TDM_ASSIGN_MAX_SCORE) {
        x[0] = a.total, x[1] = a.pairs, x[2] = 0;
        y[0] = b.total, y[1] = b.pairs, y[2] = 0;
    } else if (obj == TDM_ASSIGN_MAXIMIN) {
        x[0] = a.pairs, x[1] = a.min, x[2] = a.total;
        y[0] = b.pairs, y[1] = b.min, y[2] = b.total;
    } else {
        x[0] = a.pairs, x[1] = a.total, x[2] = 0;
        y[0] = b.pairs, y[1] = b.total, y[2] = 0;
    }
    for (int k = 0; k < 3; k++)
        if (x[k] != y[k])
            return x[k] < y[k] ? -1 : 1;
    return 0;
}

typedef struct search {
    const instance *in;
    tdm_assign_objective obj;
    uint32_t load[BRUTE_MAX_MENTORS];
    value best;
    bool have;
} search;

static void dfs(search *s, uint32_t j, value cur)
{
    const instance *in = s->in;
    if (j == in->ne) {
        if (!s->have || brute_cmp(cur, s->best, s->obj) > 0) {
            s->best = cur;
            s->have = true;
        }
        return;
    }
    if (in->pin[j] >= 0) {
        value v = cur;
        v.pairs++;
        v.total += in->pin_weight[j];
        if (in->pin_weight[j] < v.min)
            v.min = in->pin_weight[j];
        dfs(s, j + 1, v);
        return;
    }
    dfs(s, j + 1, cur);
    for (uint32_t i = 0; i < in->nm; i++) {
        if (!brute_admissible(in, i, j) || s->load[i] >= in->cap[i])
            continue;
        int64_t w = in->weight[i][j];
        value v = cur;
        v.pairs++;
        v.total += w;
        if (w < v.min)
            v.min = w;
        s->load[i]++;
        dfs(s, j + 1, v);
        s->load[i]--;
    }
}

value brute_best(const instance *in, tdm_assign_objective obj)
{
    search s = {.in = in, .obj = obj};
    for (uint32_t j = 0; j < in->ne; j++)
        if (in->pin[j] >= 0)
            s.load[in->pin[j]]++;
    dfs(&s, 0, (value){0, 0, INT64_MAX});
    return s.best;
}

value brute_value(const tdm_assign_result *r)
{
    value v = {0, 0, INT64_MAX};
    for (size_t k = 0; k < r->n_pairs; k++) {
        v.pairs++;
        v.total += r->pairs[k].weight;
        if (r->pairs[k].weight < v.min)
            v.min = r->pairs[k].weight;
    }
    return v;
}
