/*
 * cmd_usage.c - `tandemctl usage`: what tenants used in a month (GetTenantUsage,
 * ListUsage; docs/operations.md "Usage"), as a table, as JSON, or as the CSV a
 * consultancy invoices from.
 *
 * The CSV (RFC 4180): a header row, then one row per tenant, oldest tenant first,
 * CRLF line ends, a field quoted when it holds a comma, a quote or a line break
 * (quotes doubled). Its columns are fixed - CSV_COLUMNS, then one api_calls_<scope>
 * column per scope of SCOPES in that order, zero when the tenant made no such call -
 * so an invoicing spreadsheet can rely on them; a new column is only ever appended.
 */
#include "ctl.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USAGE_HELP "usage [--month YYYY-MM] [--tenant TENANT_ID] [--csv]"

static const char *const CSV_COLUMNS[] = {
    "month",          "tenant_id", "tenant_slug", "tenant_name", "active_participants",
    "active_matches", "check_ins", "api_calls"};
/* The scopes of ApiCallCount.scope, as the gateway names them. */
static const char *const SCOPES[] = {"admin",          "enrolment:read", "enrolment:write",
                                     "matching:read",  "matching:write", "feedback:read",
                                     "feedback:write", "scim",           "any"};
#define N_CSV_COLUMNS (sizeof CSV_COLUMNS / sizeof CSV_COLUMNS[0])
#define N_SCOPES      (sizeof SCOPES / sizeof SCOPES[0])

/* An int64 of proto3 JSON: a string ("12"), or a number from older encoders; absent: 0. */
static long long int64_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        return strtoll(json_string_value(v), NULL, 10);
    }
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static long long scope_calls(const json_t *usage, const char *scope)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(usage, "apiCallsByScope"), i, x)
    {
        if (strcmp(ctl_str(x, "scope"), scope) == 0) {
            return int64_member(x, "count");
        }
    }
    return 0;
}

/* One CSV field, quoted when RFC 4180 requires it. */
static void csv_field(FILE *f, const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n") != NULL) {
        fputc('"', f);
        for (const char *p = s; *p != '\0'; p++) {
            if (*p == '"') {
                fputc('"', f);
            }
            fputc(*p, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}

static void csv_header(FILE *f)
{
    for (size_t i = 0; i < N_CSV_COLUMNS; i++) {
        csv_field(f, CSV_COLUMNS[i], 0);
    }
    for (size_t i = 0; i < N_SCOPES; i++) {
        char name[64];
        snprintf(name, sizeof name, "api_calls_%s", SCOPES[i]);
        for (char *p = name; *p != '\0'; p++) {
            if (*p == ':') {
                *p = '_';
            }
        }
        csv_field(f, name, i + 1 == N_SCOPES);
    }
}

static void csv_row(FILE *f, const json_t *u)
{
    char n[32];
    csv_field(f, ctl_str(u, "month"), 0);
    csv_field(f, ctl_str(u, "tenantId"), 0);
    csv_field(f, ctl_str(u, "tenantSlug"), 0);
    csv_field(f, ctl_str(u, "tenantName"), 0);
    static const char *const COUNTS[] = {"activeParticipants", "activeMatches", "checkIns",
                                         "apiCalls"};
    for (size_t i = 0; i < sizeof COUNTS / sizeof COUNTS[0]; i++) {
        snprintf(n, sizeof n, "%lld", int64_member(u, COUNTS[i]));
        csv_field(f, n, 0);
    }
    for (size_t i = 0; i < N_SCOPES; i++) {
        snprintf(n, sizeof n, "%lld", scope_calls(u, SCOPES[i]));
        csv_field(f, n, i + 1 == N_SCOPES);
    }
}

static void table_row(out_table *t, const json_t *u)
{
    out_table_rowf(t, "%s|%s|%lld|%lld|%lld|%lld", ctl_str(u, "tenantSlug"),
                   ctl_str(u, "tenantName"), int64_member(u, "activeParticipants"),
                   int64_member(u, "activeMatches"), int64_member(u, "checkIns"),
                   int64_member(u, "apiCalls"));
}

static void print_usage(ctl *c, int csv, const char *month, json_t *items)
{
    size_t i;
    json_t *u;
    if (csv) {
        csv_header(stdout);
        json_array_foreach(items, i, u)
        {
            csv_row(stdout, u);
        }
        return;
    }
    if (c->json) {
        json_t *doc = json_pack("{sO}", "usage", items);
        out_json(doc);
        json_decref(doc);
        return;
    }
    char title[64];
    snprintf(title, sizeof title, "Usage of %s (UTC)", month);
    out_heading(stdout, title);
    out_table t;
    out_table_init(&t, "Tenant|Name|>Participants|>Matches|>Check-ins|>API calls");
    json_array_foreach(items, i, u)
    {
        table_row(&t, u);
    }
    out_table_print(&t, stdout);
    out_table_free(&t);
}

int cmd_usage(ctl *c)
{
    const char *month = ctl_opt(c, "month");
    /* --tenant here names whose usage (its id); the environment's TANDEM_TENANT does not
     * narrow the invoice run. */
    const char *tenant = ctl_opt(c, "tenant");
    int csv = ctl_flag(c, "csv");
    int rc = ctl_done_args(c, 1, 1, USAGE_HELP);
    if (rc != 0) {
        return rc;
    }
    if (csv && c->json) {
        return ctl_usage_error("--csv and --json exclude each other");
    }
    char this_month[16];
    if (month == NULL) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(this_month, sizeof this_month, "%Y-%m", &tm);
        month = this_month;
    }
    char path[CTL_MAX_PATH];
    json_t *items = NULL;
    if (tenant != NULL) {
        json_t *one = NULL;
        rc = ctl_rest(c, "get usage", "GET",
                      ctl_path(path, "/v1/tenants/%s/usage?month=%s", tenant, month), NULL, NULL,
                      &one);
        if (rc != CTL_EXIT_OK) {
            return rc;
        }
        items = json_array();
        json_array_append_new(items, one);
    } else {
        ctl_response resp;
        rc = ctl_list_all(&c->client, ctl_path(path, "/v1/usage?month=%s", month), "usage", &items,
                          &resp);
        if (rc != CTL_EXIT_OK) {
            ctl_call_error("list usage", "GET", path, &resp);
        }
        ctl_response_free(&resp);
        if (rc != CTL_EXIT_OK) {
            json_decref(items);
            return rc;
        }
    }
    print_usage(c, csv, month, items);
    json_decref(items);
    return CTL_EXIT_OK;
}
