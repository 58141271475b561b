/*
 * status.h - the one error type of Tandem.
 *
 * Every operation that can fail reports a tdm_status: a gRPC status code, a message
 * fit for the API user, optional field violations (which field, and why), and an
 * optional operator detail that is logged but never sent to a caller. The codes are
 * gRPC's, so a status travels unchanged through gRPC trailers and maps onto HTTP at
 * the gateway (tdm_code_http_status). A NULL tdm_status pointer means success.
 *
 * Ownership: a function returning tdm_status * hands the status to its caller, who
 * frees it with tdm_status_free() or passes it on to a function documented to take it.
 */
#ifndef TANDEM_STATUS_H
#define TANDEM_STATUS_H

#include <stdarg.h>
#include <stddef.h>

typedef enum tdm_code {
    TDM_OK = 0,
    TDM_CANCELLED = 1,
    TDM_UNKNOWN = 2,
    TDM_INVALID_ARGUMENT = 3,
    TDM_DEADLINE_EXCEEDED = 4,
    TDM_NOT_FOUND = 5,
    TDM_ALREADY_EXISTS = 6,
    TDM_PERMISSION_DENIED = 7,
    TDM_RESOURCE_EXHAUSTED = 8,
    TDM_FAILED_PRECONDITION = 9,
    TDM_ABORTED = 10,
    TDM_OUT_OF_RANGE = 11,
    TDM_UNIMPLEMENTED = 12,
    TDM_INTERNAL = 13,
    TDM_UNAVAILABLE = 14,
    TDM_DATA_LOSS = 15,
    TDM_UNAUTHENTICATED = 16,
} tdm_code;

#define TDM_CODE_MAX 16

typedef struct tdm_field_violation {
    char *field;       /* path of the offending field, proto names: "participants[3].email" */
    char *description; /* why it was refused, fit for the API user */
} tdm_field_violation;

typedef struct tdm_status {
    tdm_code code;
    char *message; /* for the API user; never SQL text, never internals */
    char *detail;  /* for the operator (logged, not sent); may be NULL */
    size_t n_violations;
    tdm_field_violation *violations;
} tdm_status;

/* A new status with a printf-style user message. Never returns NULL for code != OK
 * (allocation failure yields a static out-of-memory status that free ignores). */
tdm_status *tdm_status_new(tdm_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
tdm_status *tdm_status_newv(tdm_code code, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Attach operator detail (replacing any earlier detail). Returns st. */
tdm_status *tdm_status_set_detail(tdm_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Add a field violation. Returns st. */
tdm_status *tdm_status_add_violation(tdm_status *st, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix every violation's field with "prefix." (or "prefix" + "[i]" style when the
 * caller builds it) - used when validating a nested message or a batch row. */
void tdm_status_prefix_fields(tdm_status *st, const char *prefix);

/* A deep copy (NULL stays NULL). */
tdm_status *tdm_status_copy(const tdm_status *st);

void tdm_status_free(tdm_status *st);

/* "INVALID_ARGUMENT", ... ; "UNKNOWN" for out-of-range values. */
const char *tdm_code_name(tdm_code code);
/* Parse "NOT_FOUND" into its code; returns -1 when unknown. */
int tdm_code_from_name(const char *name);
/* The HTTP status API.md maps each code to (INVALID_ARGUMENT 400, ..., CANCELLED 499). */
int tdm_code_http_status(tdm_code code);

/* A validation collector: handlers add violations while checking a request, then
 * take the INVALID_ARGUMENT status (or NULL when nothing was wrong). */
typedef struct tdm_violations {
    tdm_status *st;
} tdm_violations;

void tdm_violations_add(tdm_violations *v, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* NULL when no violation was added; otherwise INVALID_ARGUMENT with `message`
 * (or a summary naming the first field when message is NULL). Resets v. */
tdm_status *tdm_violations_take(tdm_violations *v, const char *message);

#endif
