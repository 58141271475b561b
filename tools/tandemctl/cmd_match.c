/*
 * cmd_match.c - `tandemctl match run|approve` and `tandemctl report`.
 *
 * `match run` starts a run (StartMatchingRun), polls GetMatchingRun with a progress
 * bar until the run SUCCEEDED or FAILED, then prints the run's statistics and its
 * pairs (ListProposals) with names (ListParticipants), scores and the strongest
 * reasons. `report` prints GetProgrammeReport as tables, with objective titles from
 * GetProgramme.
 */
#include "ctl.h"
#include "out.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_INTERVAL_MS   300
#define DEFAULT_WAIT_S     600
#define DEFAULT_SHOW_PAIRS 25
#define TOP_REASONS        2

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

/* A number that JSON may carry as a number or (int64) a string; NaN if absent. */
static double num(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_number(v)) {
        return json_number_value(v);
    }
    if (json_is_string(v)) {
        return strtod(json_string_value(v), NULL);
    }
    return NAN;
}

static double num0(const json_t *obj, const char *key)
{
    double v = num(obj, key);
    return isnan(v) ? 0 : v;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctl_run_matching(ctl *c, const char *programme_id, json_t *request, long wait_s, json_t **run)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/matchingRuns", programme_id);
    char idem[64], token[33];
    ctl_random_token(token);
    snprintf(idem, sizeof idem, "tandemctl-match-%s", token);
    ctl_response resp;
    int rc = ctl_call(&c->client, "POST", path, request, idem, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("start matching run", "POST", path, &resp);
        ctl_response_free(&resp);
        return rc;
    }
    *run = json_incref(resp.body);
    ctl_response_free(&resp);
    char run_path[CTL_MAX_PATH];
    ctl_path(run_path, "/v1/matchingRuns/%s", str(*run, "id"));
    double deadline = now_s() + (double)wait_s;
    for (;;) {
        const char *status = str(*run, "status");
        char detail[96];
        snprintf(detail, sizeof detail, "%s", status);
        out_progress(c->progress, "Matching", num0(*run, "progress"), detail);
        if (strcmp(status, "SUCCEEDED") == 0 || strcmp(status, "FAILED") == 0) {
            break;
        }
        if (now_s() > deadline) {
            out_progress_done(c->progress);
            fprintf(stderr, "tandemctl: matching run %s still %s after %ld s (see GET %s)\n",
                    str(*run, "id"), status, wait_s, run_path);
            return CTL_EXIT_API;
        }
        sleep_ms(POLL_INTERVAL_MS);
        rc = ctl_call(&c->client, "GET", run_path, NULL, NULL, &resp);
        if (rc != CTL_EXIT_OK) {
            out_progress_done(c->progress);
            ctl_call_error("follow matching run", "GET", run_path, &resp);
            ctl_response_free(&resp);
            return rc;
        }
        json_decref(*run);
        *run = json_incref(resp.body);
        ctl_response_free(&resp);
    }
    out_progress_done(c->progress);
    if (strcmp(str(*run, "status"), "FAILED") == 0) {
        fprintf(stderr, "tandemctl: matching run %s FAILED: %s\n", str(*run, "id"),
                str(*run, "errorMessage"));
        return CTL_EXIT_API;
    }
    return CTL_EXIT_OK;
}

/* id -> display name of every participant of the programme (an object). */
static json_t *participant_names(ctl *c, const char *programme_id)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/participants", programme_id);
    json_t *items = NULL;
    ctl_response resp;
    json_t *names = json_object();
    if (ctl_list_all(&c->client, path, "participants", &items, &resp) == CTL_EXIT_OK) {
        size_t i;
        json_t *p;
        json_array_foreach(items, i, p)
        {
            json_object_set_new(
                names, str(p, "id"),
                json_sprintf("%s (%lld)", str(p, "displayName"),
                             json_integer_value(json_object_get(p, "seniorityLevel"))));
        }
    }
    ctl_response_free(&resp);
    json_decref(items);
    return names;
}

/* "criterion: detail; criterion: detail" of the TOP_REASONS largest contributions. */
static void top_reasons(const json_t *explanation, char *buf, size_t size)
{
    size_t taken[TOP_REASONS] = {0}, n_taken = 0, n = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < TOP_REASONS; k++) {
        double best = -INFINITY;
        size_t best_i = (size_t)-1, i;
        json_t *e;
        json_array_foreach(explanation, i, e)
        {
            int used = 0;
            for (size_t t = 0; t < n_taken; t++) {
                used |= taken[t] == i;
            }
            double v = num0(e, "contribution");
            if (!used && v > best) {
                best = v;
                best_i = i;
            }
        }
        if (best_i == (size_t)-1) {
            break;
        }
        taken[n_taken++] = best_i;
        json_t *e2 = json_array_get(explanation, best_i);
        const char *detail = str(e2, "detail");
        if (n < size) {
            n += (size_t)snprintf(buf + n, size - n, "%s%s%s%s", k ? "; " : "",
                                  str(e2, "criterion"), detail[0] ? ": " : "", detail);
        }
    }
}

static int compare_score_desc(const void *a, const void *b)
{
    double x = num0(*(json_t *const *)a, "score"), y = num0(*(json_t *const *)b, "score");
    return (x < y) - (x > y);
}

static void print_stats(const json_t *run)
{
    const json_t *s = json_object_get(run, "stats");
    char b1[32], b2[32], b3[32];
    printf("Matching run %s: %s (%s%s)\n", str(run, "id"), str(run, "status"),
           str(run, "algorithm"), json_is_true(json_object_get(run, "dryRun")) ? ", dry run" : "");
    printf("  %.0f mentors, %.0f mentees, %.0f admissible pairs\n", num0(s, "mentors"),
           num0(s, "mentees"), num0(s, "admissiblePairs"));
    printf("  %.0f pairs; score mean %s, min %s, total %s; %.0f ms\n", num0(s, "pairs"),
           out_number(b1, sizeof b1, num(s, "meanScore"), 1),
           out_number(b2, sizeof b2, num(s, "minScore"), 1),
           out_number(b3, sizeof b3, num(s, "totalScore"), 1), num0(s, "elapsedMs"));
    json_t *unmatched = json_object_get(s, "unmatchedMentees");
    double n_unmatched = num0(s, "unmatchedMenteeCount");
    if (n_unmatched < (double)json_array_size(unmatched)) {
        n_unmatched = (double)json_array_size(unmatched);
    }
    printf("  %.0f mentees unmatched\n", n_unmatched);
}

int ctl_print_run_summary(ctl *c, const char *programme_id, const json_t *run, size_t max_pairs)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/matchingRuns/%s/proposals", str(run, "id"));
    json_t *proposals = NULL;
    ctl_response resp;
    int rc = ctl_list_all(&c->client, path, "proposals", &proposals, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("list proposals", "GET", path, &resp);
        ctl_response_free(&resp);
        json_decref(proposals);
        return rc;
    }
    if (c->json) {
        json_t *doc = json_pack("{sOsO}", "run", run, "proposals", proposals);
        out_json(doc);
        json_decref(doc);
        json_decref(proposals);
        return CTL_EXIT_OK;
    }
    json_t *names = participant_names(c, programme_id);
    size_t n = json_array_size(proposals);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    for (size_t i = 0; sorted != NULL && i < n; i++) {
        sorted[i] = json_array_get(proposals, i);
    }
    if (sorted != NULL) {
        qsort(sorted, n, sizeof *sorted, compare_score_desc);
    }
    print_stats(run);
    out_table t;
    out_table_init(&t, "Mentor (level)|Mentee (level)|>Score|Top reasons");
    for (size_t i = 0; sorted != NULL && i < n && i < max_pairs; i++) {
        const json_t *p = sorted[i];
        const char *mentor = json_string_value(json_object_get(names, str(p, "mentorId")));
        const char *mentee = json_string_value(json_object_get(names, str(p, "menteeId")));
        char reasons[512], score[32];
        top_reasons(json_object_get(p, "explanation"), reasons, sizeof reasons);
        const char *cells[] = {mentor != NULL ? mentor : str(p, "mentorId"),
                               mentee != NULL ? mentee : str(p, "menteeId"),
                               out_number(score, sizeof score, num(p, "score"), 1), reasons};
        out_table_row(&t, cells);
    }
    printf("\n");
    out_table_print(&t, stdout);
    if (n > max_pairs) {
        printf("... and %zu more pairs (--pairs N shows more, --json shows all)\n", n - max_pairs);
    }
    json_t *unmatched = json_object_get(json_object_get(run, "stats"), "unmatchedMentees");
    if (json_array_size(unmatched) > 0) {
        out_table u;
        out_table_init(&u, "Unmatched mentee|Reason|Detail");
        size_t i;
        json_t *m;
        json_array_foreach(unmatched, i, m)
        {
            const char *name = json_string_value(json_object_get(names, str(m, "menteeId")));
            const char *cells[] = {name != NULL ? name : str(m, "menteeId"), str(m, "reason"),
                                   str(m, "detail")};
            out_table_row(&u, cells);
        }
        printf("\n");
        out_table_print(&u, stdout);
        out_table_free(&u);
    }
    out_table_free(&t);
    free(sorted);
    json_decref(names);
    json_decref(proposals);
    return CTL_EXIT_OK;
}

static int approve(ctl *c, const char *run_id, json_t **approved)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/matchingRuns/%s:approve", run_id);
    json_t *body = json_object();
    ctl_response resp;
    int rc = ctl_call(&c->client, "POST", path, body, NULL, &resp);
    json_decref(body);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("approve matching run", "POST", path, &resp);
    } else {
        *approved = json_incref(resp.body);
    }
    ctl_response_free(&resp);
    return rc;
}

static int match_run(ctl *c)
{
    const char *algorithm = ctl_opt(c, "algorithm");
    const char *scope = ctl_opt(c, "scope");
    int dry_run = ctl_flag(c, "dry-run");
    int do_approve = ctl_flag(c, "approve");
    long wait_s = DEFAULT_WAIT_S, pairs = DEFAULT_SHOW_PAIRS;
    int rc = ctl_opt_long(c, "wait", 1, 86400, &wait_s);
    if (rc == 0) {
        rc = ctl_opt_long(c, "pairs", 0, 1000000, &pairs);
    }
    if (rc == 0) {
        rc = ctl_done_args(c, 3, 3,
                           "match run PROGRAMME [--algorithm OPTIMAL|STABLE|GREEDY] "
                           "[--scope ALL|UNMATCHED] [--dry-run] [--approve]");
    }
    if (rc != 0) {
        return rc;
    }
    if (dry_run && do_approve) {
        return ctl_usage_error("--dry-run and --approve exclude each other");
    }
    json_t *request = json_pack("{ss}", "algorithm", algorithm != NULL ? algorithm : "OPTIMAL");
    if (scope != NULL) {
        json_object_set_new(request, "scope", json_string(scope));
    }
    if (dry_run) {
        json_object_set_new(request, "dryRun", json_true());
    }
    json_t *run = NULL;
    rc = ctl_run_matching(c, c->words[2], request, wait_s, &run);
    json_decref(request);
    if (rc == CTL_EXIT_OK && do_approve) {
        json_t *approved = NULL;
        rc = approve(c, str(run, "id"), &approved);
        if (rc == CTL_EXIT_OK) {
            /* The finished run keeps its statistics; the answer adds approveTime. */
            json_object_update(run, approved);
            json_decref(approved);
            if (!c->json) {
                printf("Approved: the proposals are now matches.\n");
            }
        }
    }
    if (rc == CTL_EXIT_OK) {
        rc = ctl_print_run_summary(c, c->words[2], run, (size_t)pairs);
    }
    json_decref(run);
    return rc;
}

static int match_approve(ctl *c)
{
    int rc = ctl_done_args(c, 3, 3, "match approve RUN_ID");
    json_t *run = NULL;
    if (rc == 0) {
        rc = approve(c, c->words[2], &run);
    }
    if (rc == CTL_EXIT_OK) {
        if (c->json) {
            out_json(run);
        } else {
            printf("Approved matching run %s: its proposals are now matches.\n", str(run, "id"));
        }
    }
    json_decref(run);
    return rc;
}

int cmd_match(ctl *c)
{
    const char *verb = c->n_words > 1 ? c->words[1] : "";
    if (strcmp(verb, "run") == 0) {
        return match_run(c);
    }
    if (strcmp(verb, "approve") == 0) {
        return match_approve(c);
    }
    return ctl_usage_error("usage: tandemctl match run PROGRAMME | match approve RUN_ID");
}

/* ---- report ---------------------------------------------------------------------- */

static const char *objective_title(const json_t *programme, const char *key)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(programme, "objectives"), i, o)
    {
        if (strcmp(str(o, "key"), key) == 0) {
            return str(o, "title");
        }
    }
    return key;
}

static void print_breakdown(const json_t *b, double threshold)
{
    char title[256];
    snprintf(title, sizeof title, "By %s", str(b, "dimension"));
    out_heading(stdout, title);
    out_table t;
    out_table_init(&t, "Group|>People|>Matched|>Check-ins|>Mean rating|>NPS");
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(b, "groups"), i, g)
    {
        char r[32], nps[32];
        out_table_rowf(&t, "%s|%.0f|%.0f|%.0f|%s|%s", str(g, "key"), num0(g, "count"),
                       num0(g, "matched"), num0(g, "checkIns"),
                       out_number(r, sizeof r, num(g, "meanRating"), 2),
                       out_number(nps, sizeof nps, num(g, "nps"), 0));
    }
    out_table_print(&t, stdout);
    out_table_free(&t);
    double suppressed = num0(b, "suppressedGroups");
    if (suppressed > 0) {
        printf("(%.0f group%s of fewer than %.0f people not shown)\n", suppressed,
               suppressed == 1 ? "" : "s", threshold);
    }
}

void ctl_print_report(const json_t *programme, const json_t *report)
{
    char b1[32], b2[32], b3[32];
    double threshold = num0(report, "anonymityThreshold");
    if (threshold == 0) {
        threshold = num0(programme, "anonymityThreshold");
    }
    char title[300];
    snprintf(title, sizeof title, "Programme report: %s", str(programme, "name"));
    out_heading(stdout, title);
    out_table t;
    out_table_init(&t, "Measure|>Value");
    out_table_rowf(&t, "Enrolled mentors|%.0f", num0(report, "enrolledMentors"));
    out_table_rowf(&t, "Enrolled mentees|%.0f", num0(report, "enrolledMentees"));
    out_table_rowf(&t, "Matched|%.0f", num0(report, "matched"));
    out_table_rowf(&t, "Active matches|%.0f", num0(report, "activeMatches"));
    out_table_rowf(&t, "Check-ins|%.0f", num0(report, "checkIns"));
    out_table_rowf(&t, "Mean rating (1-5)|%s",
                   out_number(b1, sizeof b1, num(report, "meanRating"), 2));
    out_table_rowf(&t, "NPS (-100..100)|%s", out_number(b2, sizeof b2, num(report, "nps"), 1));
    out_table_rowf(&t, "Surveys|%.0f", num0(report, "surveys"));
    out_table_rowf(&t, "Survey responses|%.0f", num0(report, "surveyResponses"));
    out_table_rowf(&t, "Survey response rate|%s%%",
                   out_number(b3, sizeof b3, num0(report, "surveyResponseRate") * 100, 0));
    out_table_rowf(&t, "Matches at risk|%.0f", num0(report, "atRiskCount"));
    out_table_print(&t, stdout);
    out_table_free(&t);

    json_t *progress = json_object_get(report, "objectiveProgress");
    if (json_array_size(progress) > 0) {
        out_heading(stdout, "Progress per objective");
        out_table_init(&t, "Objective|>Mean progress|>Matches reporting");
        size_t i;
        json_t *o;
        json_array_foreach(progress, i, o)
        {
            out_table_rowf(&t, "%s|%s%%|%.0f", objective_title(programme, str(o, "objectiveKey")),
                           out_number(b1, sizeof b1, num(o, "meanPercent"), 0),
                           num0(o, "matchesReporting"));
        }
        out_table_print(&t, stdout);
        out_table_free(&t);
    }
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(report, "breakdowns"), i, b)
    {
        print_breakdown(b, threshold);
    }
    printf("\nGroups smaller than the anonymity threshold (%.0f) are never shown.\n", threshold);
}

int cmd_report(ctl *c)
{
    int rc = ctl_done_args(c, 2, 2, "report PROGRAMME");
    if (rc != 0) {
        return rc;
    }
    const char *id = c->words[1];
    char path[CTL_MAX_PATH];
    ctl_response resp;
    json_t *programme = NULL;
    if (!c->json) {
        ctl_path(path, "/v1/programmes/%s", id);
        rc = ctl_call(&c->client, "GET", path, NULL, NULL, &resp);
        if (rc != CTL_EXIT_OK) {
            ctl_call_error("report", "GET", path, &resp);
            ctl_response_free(&resp);
            return rc;
        }
        programme = json_incref(resp.body);
        ctl_response_free(&resp);
    }
    ctl_path(path, "/v1/programmes/%s/report", id);
    rc = ctl_call(&c->client, "GET", path, NULL, NULL, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("report", "GET", path, &resp);
    } else if (c->json) {
        out_json(resp.body);
    } else {
        ctl_print_report(programme, resp.body);
    }
    ctl_response_free(&resp);
    json_decref(programme);
    return rc;
}
