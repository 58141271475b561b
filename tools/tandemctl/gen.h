/*
 * gen.h - seeded generator of the people of a fictional law firm, as BatchEnrol
 * participant rows, for the demo and for benchmarks.
 *
 * The output depends only on (count, seed): the same arguments give byte-identical
 * JSON on every machine (a splitmix64 generator, no floating point in choices, no
 * clock). The firm is a pyramid from trainees (level 0) to senior partners (10) across
 * offices and practice areas; departments are practice area and office; reporting
 * lines run from each person up through more senior people of the same department;
 * skills, interests, goals (the demo programme's objective keys), languages and
 * timezones follow the person's level and office; about 60% consent to diversity
 * data and only they carry it.
 *
 * In a REVERSE programme the juniors (levels 0-4, and some 5s) are the mentors and
 * the seniors (levels 6-10, and the other 5s) the mentees.
 */
#ifndef TANDEMCTL_GEN_H
#define TANDEMCTL_GEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_MAX_COUNT 1000000

/* The objective keys the generated goals refer to (the demo programme's). */
#define GEN_OBJECTIVE_DIGITAL    "digital-literacy"
#define GEN_OBJECTIVE_AI         "ai-legal-tech"
#define GEN_OBJECTIVE_INCLUSION  "inclusion"
#define GEN_OBJECTIVE_LEADERSHIP "junior-leadership"

typedef struct gen_rng {
    uint64_t state;
} gen_rng;

void gen_rng_seed(gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(gen_rng *r);
/* Uniform in [0, n), n > 0. */
uint32_t gen_rng_below(gen_rng *r, uint32_t n);

/* count people (1..GEN_MAX_COUNT) as a new JSON array of Participant objects, with
 * emails at email_domain; NULL if count is out of range or memory runs out. */
json_t *gen_people(size_t count, uint64_t seed, const char *email_domain);

#endif
