/*
 * demo.h - the story of `tandemctl demo` (demo.c), told for one firm, and the
 * consultancy view that tells it at six firms from one template (demo_consultancy.c).
 */
#ifndef TANDEMCTL_DEMO_H
#define TANDEMCTL_DEMO_H

#include "ctl.h"
#include "gen.h"

#include <stddef.h>
#include <stdint.h>

typedef struct demo {
    ctl *c;
    gen_rng rng;
    size_t count;
    uint64_t seed;
    int step;
    int partial; /* something was refused on the way: exit 4 at the end */
    char step_title[160];
    char tenant_id[128];
    char programme_id[128];
    char *tenant_key; /* the demo key's secret, used from step 3 on */
    json_t *programme;
    json_t *run;
    json_t *matches;
    json_t *summary; /* --json output */
    /* The firm, and for a consultancy firm its programme's template and overrides. */
    const char *firm_name, *slug_prefix, *email_domain;
    int quiet; /* tell nothing on stdout but failures (a consultancy firm) */
    const char *template_id;
    json_t *overrides; /* borrowed */
    const char *mask;
    size_t active, declined, check_ins, responses;
} demo;

/* The whole story for d's firm (tenant, key, programme, enrolment, matching,
 * answers, check-ins, survey, report); stops at the first failing step, naming it.
 * d->c, count, seed and the firm's fields must be set. Returns an exit code. */
int demo_run_story(demo *d);
/* What the story left in d. */
void demo_free(demo *d);

/* `tandemctl demo consultancy`: one template at six firms, then the firms side by
 * side (demo_consultancy.c). */
int demo_consultancy(ctl *c);

#endif
