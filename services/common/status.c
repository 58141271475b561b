/*
 * status.c - tdm_status: gRPC codes with a user message, field violations and
 * operator detail. See include/tandem/status.h.
 */
#include "tandem/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returned when even the status cannot be allocated; tdm_status_free ignores it. */
static tdm_status oom_status = {.code = TDM_RESOURCE_EXHAUSTED, .message = (char *)"out of memory"};

static const char *const code_names[TDM_CODE_MAX + 1] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

/* API.md's mapping; UNKNOWN and DATA_LOSS follow grpc-gateway (500). */
static const int code_http[TDM_CODE_MAX + 1] = {
    200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
};

const char *tdm_code_name(tdm_code code)
{
    if ((int)code < 0 || code > TDM_CODE_MAX)
        return "UNKNOWN";
    return code_names[code];
}

int tdm_code_from_name(const char *name)
{
    for (int i = 0; i <= TDM_CODE_MAX; i++) {
        if (strcmp(code_names[i], name) == 0)
            return i;
    }
    return -1;
}

int tdm_code_http_status(tdm_code code)
{
    if ((int)code < 0 || code > TDM_CODE_MAX)
        return 500;
    return code_http[code];
}

tdm_status *tdm_status_newv(tdm_code code, const char *fmt, va_list ap)
{
    tdm_status *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return &oom_status;
    st->code = code;
    if (vasprintf(&st->message, fmt, ap) < 0) {
        free(st);
        return &oom_status;
    }
    return st;
}

tdm_status *tdm_status_new(tdm_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tdm_status *st = tdm_status_newv(code, fmt, ap);
    va_end(ap);
    return st;
}

tdm_status *tdm_status_set_detail(tdm_status *st, const char *fmt, ...)
{
    if (st == NULL || st == &oom_status)
        return st;
    char *detail = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&detail, fmt, ap);
    va_end(ap);
    if (n < 0)
        return st;
    free(st->detail);
    st->detail = detail;
    return st;
}

static int add_violation_v(tdm_status *st, const char *field, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int add_violation_v(tdm_status *st, const char *field, const char *fmt, va_list ap)
{
    tdm_field_violation *grown =
        realloc(st->violations, (st->n_violations + 1) * sizeof(*st->violations));
    if (grown == NULL)
        return -1;
    st->violations = grown;
    tdm_field_violation *v = &st->violations[st->n_violations];
    v->field = strdup(field != NULL ? field : "");
    if (v->field == NULL)
        return -1;
    if (vasprintf(&v->description, fmt, ap) < 0) {
        free(v->field);
        return -1;
    }
    st->n_violations++;
    return 0;
}

tdm_status *tdm_status_add_violation(tdm_status *st, const char *field, const char *fmt, ...)
{
    if (st == NULL || st == &oom_status)
        return st;
    va_list ap;
    va_start(ap, fmt);
    add_violation_v(st, field, fmt, ap);
    va_end(ap);
    return st;
}

void tdm_status_prefix_fields(tdm_status *st, const char *prefix)
{
    if (st == NULL || st == &oom_status || prefix == NULL || prefix[0] == '\0')
        return;
    for (size_t i = 0; i < st->n_violations; i++) {
        char *joined = NULL;
        const char *field = st->violations[i].field;
        int n = field[0] == '\0'  ? asprintf(&joined, "%s", prefix)
                : field[0] == '[' ? asprintf(&joined, "%s%s", prefix, field)
                                  : asprintf(&joined, "%s.%s", prefix, field);
        if (n < 0)
            continue;
        free(st->violations[i].field);
        st->violations[i].field = joined;
    }
}

tdm_status *tdm_status_copy(const tdm_status *st)
{
    if (st == NULL)
        return NULL;
    tdm_status *c = tdm_status_new(st->code, "%s", st->message != NULL ? st->message : "");
    if (st->detail != NULL)
        tdm_status_set_detail(c, "%s", st->detail);
    for (size_t i = 0; i < st->n_violations; i++)
        tdm_status_add_violation(c, st->violations[i].field, "%s", st->violations[i].description);
    return c;
}

void tdm_status_free(tdm_status *st)
{
    if (st == NULL || st == &oom_status)
        return;
    for (size_t i = 0; i < st->n_violations; i++) {
        free(st->violations[i].field);
        free(st->violations[i].description);
    }
    free(st->violations);
    free(st->message);
    free(st->detail);
    free(st);
}

void tdm_violations_add(tdm_violations *v, const char *field, const char *fmt, ...)
{
    if (v->st == NULL)
        v->st = tdm_status_new(TDM_INVALID_ARGUMENT, "invalid request");
    if (v->st == &oom_status)
        return;
    va_list ap;
    va_start(ap, fmt);
    add_violation_v(v->st, field, fmt, ap);
    va_end(ap);
}

tdm_status *tdm_violations_take(tdm_violations *v, const char *message)
{
    tdm_status *st = v->st;
    v->st = NULL;
    if (st == NULL || st == &oom_status)
        return st;
    char *msg = NULL;
    int n;
    if (message != NULL)
        n = asprintf(&msg, "%s", message);
    else if (st->n_violations == 1)
        n = asprintf(&msg, "invalid %s: %s", st->violations[0].field,
                     st->violations[0].description);
    else
        n = asprintf(&msg, "invalid %s: %s (and %zu more)", st->violations[0].field,
                     st->violations[0].description, st->n_violations - 1);
    if (n >= 0) {
        free(st->message);
        st->message = msg;
    }
    return st;
}
