/*
 * bench_priced.c - the large-programme benchmark: tdm_assign_solve_priced() on a
 * generated programme with score-like weights, scored on the fly by a callback.
 *
 * The score model matches scores.py: a latent interest overlap (cosine of random unit
 * vectors in 8 dimensions), a mentor popularity that makes everyone's top choices the
 * same few mentors, and per-pair noise (a hash of the pair, so the callback is a pure,
 * thread-safe function), as an integer 0..100.
 *
 * usage: bench_priced [--mentors N] [--mentees N] [--capacity K] [--k K] [--k2 K]
 *                     [--threads T] [--seed S] [--objective max-participation|max-score]
 * Prints one line of key=value figures.
 */
#include "tandem/assign.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define DIMS 8

typedef struct programme {
    uint32_t n_mentors, n_mentees;
    float *mentor_f, *mentee_f, *pop;
    uint64_t seed;
} programme;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    return (double)(mix(*s) >> 11) * 0x1.0p-53;
}

static double normal(uint64_t *s)
{
    double u = uniform(s), v = uniform(s);
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void unit_vectors(float *f, uint32_t n, uint64_t *s)
{
    for (uint32_t k = 0; k < n; k++) {
        double norm = 0, x[DIMS];
        for (int d = 0; d < DIMS; d++) {
            x[d] = normal(s);
            norm += x[d] * x[d];
        }
        norm = sqrt(norm);
        for (int d = 0; d < DIMS; d++)
            f[(size_t)k * DIMS + d] = (float)(x[d] / norm);
    }
}

static int64_t score(void *ctx, uint32_t mentor, uint32_t mentee, bool *admissible)
{
    const programme *p = ctx;
    const float *a = p->mentor_f + (size_t)mentor * DIMS, *b = p->mentee_f + (size_t)mentee * DIMS;
    /* a pairwise sum: four independent products chains instead of one long one */
    float dot = ((a[0] * b[0] + a[1] * b[1]) + (a[2] * b[2] + a[3] * b[3])) +
                ((a[4] * b[4] + a[5] * b[5]) + (a[6] * b[6] + a[7] * b[7]));
    /* noise ~ N(0, 0.06): Irwin-Hall of four 16-bit uniforms from a hash of the pair */
    uint64_t h = ((uint64_t)mentor * 0x9e3779b97f4a7c15ULL) ^
                 ((uint64_t)mentee * 0xc2b2ae3d27d4eb4fULL) ^ p->seed;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
    int32_t h4 = (int32_t)((h & 0xffff) + (h >> 16 & 0xffff) + (h >> 32 & 0xffff) + (h >> 48));
    float sum = (float)h4 * (1.0f / 65536.0f);
    float noise = (sum - 2.0f) * 1.7320508f * 0.06f;
    float s = 0.55f * (1.0f + dot) * 0.5f + 0.45f * p->pop[mentor] + noise;
    float x = 100.0f * s + 0.5f;
    *admissible = true;
    return x < 0.5f ? 0 : x >= 100.0f ? 100 : (int64_t)x;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    programme p = {25000, 75000, NULL, NULL, NULL, 1};
    uint32_t capacity = 3, k = 8, k2 = 8;
    unsigned threads = 0;
    tdm_assign_options o;
    tdm_assign_options_init(&o);
    for (int a = 1; a + 1 < argc; a += 2) {
        const char *opt = argv[a], *val = argv[a + 1];
        unsigned long long x = strtoull(val, NULL, 10);
        if (strcmp(opt, "--mentors") == 0)
            p.n_mentors = (uint32_t)x;
        else if (strcmp(opt, "--mentees") == 0)
            p.n_mentees = (uint32_t)x;
        else if (strcmp(opt, "--capacity") == 0)
            capacity = (uint32_t)x;
        else if (strcmp(opt, "--k") == 0)
            k = (uint32_t)x;
        else if (strcmp(opt, "--k2") == 0)
            k2 = (uint32_t)x;
        else if (strcmp(opt, "--threads") == 0)
            threads = (unsigned)x;
        else if (strcmp(opt, "--seed") == 0)
            p.seed = x;
        else if (strcmp(opt, "--objective") == 0)
            o.objective =
                strcmp(val, "max-score") == 0 ? TDM_ASSIGN_MAX_SCORE : TDM_ASSIGN_MAX_PARTICIPATION;
        else {
            fprintf(stderr, "bench_priced: unknown option %s\n", opt);
            return 1;
        }
    }
    uint64_t s = p.seed;
    p.mentor_f = malloc(sizeof *p.mentor_f * (size_t)p.n_mentors * DIMS);
    p.mentee_f = malloc(sizeof *p.mentee_f * (size_t)p.n_mentees * DIMS);
    p.pop = malloc(sizeof *p.pop * p.n_mentors);
    uint32_t *cap = malloc(sizeof *cap * p.n_mentors);
    if (!p.mentor_f || !p.mentee_f || !p.pop || !cap)
        return 2;
    unit_vectors(p.mentor_f, p.n_mentors, &s);
    unit_vectors(p.mentee_f, p.n_mentees, &s);
    for (uint32_t i = 0; i < p.n_mentors; i++) {
        double x = 0.286 + 0.16 * normal(&s); /* about Beta(2, 5) */
        p.pop[i] = (float)(x < 0 ? 0 : x > 1 ? 1 : x);
        cap[i] = capacity;
    }
    tdm_assign_pricing pr = {.n_mentors = p.n_mentors,
                             .n_mentees = p.n_mentees,
                             .capacity = cap,
                             .score = score,
                             .ctx = &p,
                             .mentee_top_k = k,
                             .mentor_top_k = k2,
                             .threads = threads};
    tdm_assign_result r;
    double t0 = now();
    tdm_assign_status st = tdm_assign_solve_priced(&pr, &o, &r);
    double t = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    if (st != TDM_ASSIGN_OK) {
        fprintf(stderr, "bench_priced: %s\n", tdm_assign_strerror(st));
        return 2;
    }
    printf("participants=%" PRIu64 " mentors=%" PRIu32 " mentees=%" PRIu32 " capacity=%" PRIu32
           " k=%" PRIu32 " k2=%" PRIu32 " seconds=%.2f cpu_s=%.2f pairs=%zu total=%" PRId64
           " candidates=%" PRIu64 " rounds=%" PRIu64 " pairs_added=%" PRIu64 " scored=%" PRIu64
           " searches=%" PRIu64 " scan_s=%.2f solve_s=%.2f certified=%s\n",
           (uint64_t)p.n_mentors + p.n_mentees, p.n_mentors, p.n_mentees, capacity, k, k2, t, cpu,
           r.n_pairs, r.total_weight, r.stats.candidate_pairs, r.stats.pricing_rounds,
           r.stats.pairs_added, r.stats.pairs_scored, r.stats.iterations, r.stats.scan_seconds,
           r.stats.solve_seconds, r.stats.certified ? "yes" : "no");
    tdm_assign_result_free(&r);
    free(p.mentor_f);
    free(p.mentee_f);
    free(p.pop);
    free(cap);
    return 0;
}
