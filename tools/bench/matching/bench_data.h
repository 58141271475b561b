/*
 * bench_data.h - the synthetic programme shared by the matching benchmarks: a third
 * mentors with 1-3 seats, REVERSE seniority, skills, interests, goals, languages,
 * offices, time zones, reporting chains (as bench_run.py), from rand()'s sequence
 * (seed it with srand for a fixed programme).
 */
#ifndef TANDEM_BENCH_DATA_H
#define TANDEM_BENCH_DATA_H

#include "matching.h"

/* BENCH_SHAPE=national (issue 23): a quarter mentors with 3 seats each, seniority and
 * reporting chains such that every pair is admissible, min_score 0. */
bool bench_national(void);
/* Monotonic seconds. */
double bench_now(void);
/* Person i of n: a mentor when i % 3 == 0, else a mentee. In the arena. */
Tandem__V1__Participant *bench_person(tdm_arena *a, int i, int n);
/* A REVERSE programme with three objectives, min_score 10, default capacity 2 and the
 * objective given (0 the default). In the arena; NULL when out of memory. */
Tandem__V1__Programme *bench_programme(tdm_arena *a, int objective);

#endif
