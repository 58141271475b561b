/*
 * usage.c - UsageService.GetUsageCounts, once for every service that counts part of
 * a tenant's monthly usage (tandem/usage.h): scope, month, the service's statement in
 * the caller's tenant, the rows as UsageCounts.
 */
#include "tandem/usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/check.h"
#include "tandem/handler.h"
#include "tandem/internal/v1/usage.pb-c.h"

#define MONTH_START_CHARS 32 /* "YYYY-MM-01 00:00:00+00" */
#define MAX_METRICS       16

bool tdm_usage_month_parse(const char *s, int *year, int *month)
{
    if (s == NULL || strlen(s) != 7 || s[4] != '-')
        return false;
    for (int i = 0; i < 7; i++) {
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return false;
    }
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0');
    if (y < 2000 || m < 1 || m > 12)
        return false;
    *year = y;
    *month = m;
    return true;
}

tdm_status *tdm_usage_check_month(const char *s, const char *field, int *year, int *month)
{
    if (tdm_usage_month_parse(s, year, month))
        return NULL;
    return tdm_invalid_field(field,
                             "must be a month \"YYYY-MM\" (e.g. \"2027-01\", year 2000 or later)");
}

typedef struct usage_op {
    tdm_store_op base; /* first */
    char month_start[MONTH_START_CHARS];
} usage_op;

static void counted(tdm_store_op *base, PGresult *res)
{
    tdm_arena *a = base->req.arena;
    int n = PQntuples(res);
    if (PQnfields(res) != 2 || n > MAX_METRICS) {
        tdm_store_op_end(base, tdm_status_new(TDM_INTERNAL, "usage counts of an unexpected shape"));
        return;
    }
    Tandem__Internal__V1__UsageCounts *out = tdm_arena_alloc(a, sizeof(*out));
    Tandem__Internal__V1__UsageCount **items = tdm_arena_calloc(a, (size_t)n + 1, sizeof(*items));
    if (out == NULL || items == NULL) {
        tdm_store_op_end(base, tdm_store_oom());
        return;
    }
    tandem__internal__v1__usage_counts__init(out);
    for (int i = 0; i < n; i++) {
        Tandem__Internal__V1__UsageCount *c = tdm_arena_alloc(a, sizeof(*c));
        if (!tdm_store_op_allocated(base, c))
            return;
        tandem__internal__v1__usage_count__init(c);
        c->metric = tdm_arena_strdup(a, PQgetvalue(res, i, 0));
        c->count = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        items[i] = c;
    }
    out->counts = items;
    out->n_counts = (size_t)n;
    base->response = &out->base;
    tdm_store_op_end(base, NULL);
}

static void handle_get_usage_counts(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__GetUsageCountsRequest *q = (const void *)msg;
    tdm_usage_service *svc = data;
    tdm_store_req r;
    int year = 0, month = 0;
    tdm_status *st = tdm_handler_init(&r, svc->rt, call, svc->scope);
    if (st == NULL)
        st = tdm_usage_check_month(q->month, "month", &year, &month);
    if (tdm_handler_fail(call, st))
        return;
    usage_op *op = tdm_store_op_new(sizeof(*op), &r, svc->owner, tdm_handler_reply, call);
    if (op == NULL)
        return;
    snprintf(op->month_start, sizeof(op->month_start), "%04d-%02d-01 00:00:00+00", year, month);
    const char *values[] = {op->month_start};
    tdm_store_op_read_once(&op->base, svc->sql, 1, values, counted);
}

static const tdm_rpc_method_def USAGE_METHODS[] = {
    {"GetUsageCounts", handle_get_usage_counts, 0},
};

tdm_status *tdm_usage_register(tdm_runtime *rt, tdm_usage_service *svc)
{
    svc->rt = rt;
    return TDM_RUNTIME_SERVE(rt, &tandem__internal__v1__usage_service__descriptor, USAGE_METHODS,
                             svc);
}
