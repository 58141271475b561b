/*
 * cmd_benchmark.c - `tandemctl benchmark TEMPLATE|PROGRAMME`: a template's
 * cross-tenant benchmark (GET /v1/templates/{id}/benchmark, platform keys), or a
 * programme's own figures beside its template's benchmark
 * (GET /v1/programmes/{id}/benchmark, the tenant acted for). The id says which:
 * templates and programmes never share one, so the template is asked first and the
 * programme when there is no such template (or the key may not read templates).
 * The figures are the benchmark job's (docs/benchmarks.md), shown with their asOf.
 */
#include "ctl.h"
#include "out.h"

#include <stdio.h>
#include <string.h>

/* The figures of BenchmarkFigures, their labels and decimals. */
static const struct {
    const char *field, *label;
    int decimals;
    int percent; /* a 0-1 share shown as a percentage */
} FIGURES[] = {
    {"participants", "Participants (per programme)", 1, 0},
    {"matchRate", "Match rate", 1, 1},
    {"acceptanceRate", "Acceptance rate", 1, 1},
    {"checkInsPerActiveMatchPerMonth", "Check-ins per active match per month", 2, 0},
    {"meanRating", "Mean rating (1-5)", 2, 0},
    {"nps", "NPS", 1, 0},
};
#define N_FIGURES (sizeof FIGURES / sizeof FIGURES[0])

static int withheld(const json_t *figures, const char *field)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(figures, "withheld"), i, x)
    {
        if (json_is_string(x) && strcmp(json_string_value(x), field) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One figure as text: the value, "withheld" (anonymity rules) or "-" (none). */
static const char *figure_text(char *buf, size_t size, const json_t *figures, size_t i)
{
    json_t *v = json_object_get(figures, FIGURES[i].field);
    if (json_is_number(v)) {
        double x = json_number_value(v) * (FIGURES[i].percent ? 100.0 : 1.0);
        out_number(buf, size, x, FIGURES[i].decimals);
        if (FIGURES[i].percent) {
            strncat(buf, " %", size - strlen(buf) - 1);
        }
    } else if (figures != NULL && withheld(figures, FIGURES[i].field)) {
        snprintf(buf, size, "withheld");
    } else {
        snprintf(buf, size, "-");
    }
    return buf;
}

/* The benchmark's state line: published, or withheld and why. */
static void print_state(const json_t *b)
{
    long long tenants = json_integer_value(json_object_get(b, "contributingTenants"));
    long long min = json_integer_value(json_object_get(b, "minTenants"));
    long long programmes = json_integer_value(json_object_get(b, "programmes"));
    const char *as_of = ctl_str(b, "asOf");
    if (json_is_true(json_object_get(b, "published"))) {
        printf("Published: %lld tenants, %lld programmes (at least %lld tenants needed)\n", tenants,
               programmes, min);
    } else {
        printf("Withheld: %lld of the %lld tenants needed contribute (%lld programmes); no "
               "figures are shown until %lld do\n",
               tenants, min, programmes, min);
    }
    printf("As of %s\n", as_of[0] ? as_of : "(the benchmark job has not run yet)");
}

void ctl_print_template_benchmark(const json_t *b)
{
    printf("Benchmark of template %s\n", ctl_str(b, "templateId"));
    print_state(b);
    const json_t *figures = json_object_get(b, "figures");
    if (figures == NULL) {
        return;
    }
    out_table t;
    out_table_init(&t, "Figure|>Benchmark");
    for (size_t i = 0; i < N_FIGURES; i++) {
        char v[48];
        out_table_rowf(&t, "%s|%s", FIGURES[i].label, figure_text(v, sizeof v, figures, i));
    }
    printf("\n");
    out_table_print(&t, stdout);
    out_table_free(&t);
    if (json_array_size(json_object_get(figures, "withheld")) > 0) {
        printf("(withheld: fewer than %lld tenants have that figure)\n",
               json_integer_value(json_object_get(b, "minTenants")));
    }
}

static void print_programme_benchmark(const json_t *pb)
{
    const json_t *tpl = json_object_get(pb, "template");
    const json_t *b = json_object_get(pb, "benchmark");
    printf("Programme %s beside the benchmark of template %s (version %lld)\n",
           ctl_str(pb, "programmeId"), ctl_str(tpl, "id"),
           json_integer_value(json_object_get(tpl, "version")));
    print_state(b);
    const json_t *own = json_object_get(pb, "programme");
    const json_t *bench = json_object_get(b, "figures");
    out_table t;
    out_table_init(&t, "Figure|>This programme|>Benchmark");
    for (size_t i = 0; i < N_FIGURES; i++) {
        char mine[48], theirs[48];
        if (own == NULL) {
            snprintf(mine, sizeof mine, "(not yet computed)");
        } else {
            figure_text(mine, sizeof mine, own, i);
        }
        if (bench == NULL) {
            snprintf(theirs, sizeof theirs, "withheld");
        } else {
            figure_text(theirs, sizeof theirs, bench, i);
        }
        out_table_rowf(&t, "%s|%s|%s", FIGURES[i].label, mine, theirs);
    }
    printf("\n");
    out_table_print(&t, stdout);
    out_table_free(&t);
}

int cmd_benchmark(ctl *c)
{
    int rc = ctl_done_args(c, 2, 2, "benchmark TEMPLATE_ID|PROGRAMME_ID");
    if (rc != 0) {
        return rc;
    }
    const char *id = c->words[1];
    char path[CTL_MAX_PATH];
    ctl_response resp;
    ctl_path(path, "/v1/templates/%s/benchmark", id);
    /* A tenant acted for makes it a programme; a platform key acting for no tenant
     * asks for the template first. */
    int as_template = c->client.tenant == NULL;
    if (as_template) {
        rc = ctl_call(&c->client, "GET", path, NULL, NULL, &resp);
        if (rc == CTL_EXIT_OK) {
            if (c->json) {
                out_json(resp.body);
            } else {
                ctl_print_template_benchmark(resp.body);
            }
            ctl_response_free(&resp);
            return rc;
        }
        if (resp.http_status != 404 && resp.http_status != 403) {
            ctl_call_error("benchmark", "GET", path, &resp);
            ctl_response_free(&resp);
            return rc;
        }
        ctl_response_free(&resp);
    }
    ctl_path(path, "/v1/programmes/%s/benchmark", id);
    rc = ctl_call(&c->client, "GET", path, NULL, NULL, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error(as_template ? "benchmark (no template or programme with this id)"
                                   : "benchmark",
                       "GET", path, &resp);
    } else if (c->json) {
        out_json(resp.body);
    } else {
        print_programme_benchmark(resp.body);
    }
    ctl_response_free(&resp);
    return rc;
}
