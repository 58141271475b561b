/*
 * client.h - tandemctl's REST client: one blocking libcurl call per request.
 *
 * Every call carries `Authorization: Bearer <key>` and, when set, `X-Tandem-Tenant`;
 * bodies are JSON. A call's outcome is one of the exit codes below, so a command can
 * return it as is; ctl_call_error() prints the reason (method, path, HTTP status,
 * gRPC code name, message and field violations) on stderr.
 *
 * Calls that are safe to repeat (GET, or with an Idempotency-Key) are retried on a
 * connection failure, 503, or 429 (after Retry-After, bounded).
 */
#ifndef TANDEMCTL_CLIENT_H
#define TANDEMCTL_CLIENT_H

#include <jansson.h>

/* Exit codes scripts can rely on (documented in `tandemctl --help`). */
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_API = 1,        /* the server answered with an error */
    CTL_EXIT_USAGE = 2,      /* bad arguments or an unusable input file */
    CTL_EXIT_CONNECTION = 3, /* no answer: refused, timed out, not HTTP */
    CTL_EXIT_PARTIAL = 4,    /* some rows (or steps) refused, the rest done */
};

#define CTL_MAX_RESPONSE_BYTES (64u * 1024u * 1024u)
#define CTL_MAX_RETRIES        5
#define CTL_MAX_RETRY_AFTER_S  30

typedef struct ctl_client {
    const char *base_url; /* e.g. http://127.0.0.1:8080, no trailing slash */
    const char *key;
    const char *tenant; /* X-Tandem-Tenant, or NULL */
    long timeout_s;
    void *curl;
} ctl_client;

typedef struct ctl_response {
    long http_status; /* 0 when there was no answer */
    json_t *body;     /* the parsed body (owned), or NULL */
    char error[512];  /* transport error, or why the body is not JSON */
} ctl_response;

/* Returns 0, or -1 if libcurl cannot be initialised. */
int ctl_client_init(ctl_client *c);
void ctl_client_free(ctl_client *c);

/* One call. body may be NULL; idempotency_key may be NULL. Returns CTL_EXIT_OK with a
 * JSON body, CTL_EXIT_API for an HTTP error status, CTL_EXIT_CONNECTION when there
 * was no (usable) answer. The caller frees resp with ctl_response_free. */
int ctl_call(ctl_client *c, const char *method, const char *path, json_t *body,
             const char *idempotency_key, ctl_response *resp);

void ctl_response_free(ctl_response *resp);

/* Prints "tandemctl: <what>: METHOD PATH: HTTP 404 NOT_FOUND: message" (and one line
 * per field violation) on stderr. */
void ctl_call_error(const char *what, const char *method, const char *path,
                    const ctl_response *resp);

/* The same as one line, in buf (for reports). */
void ctl_describe_error(const ctl_response *resp, char *buf, size_t size);

/* Every page of a list: GET path (which may have a query) with pageSize=500 and
 * pageToken, appending the array named field of each page to *items (a new
 * array, owned by the caller). Returns like ctl_call; on error resp holds the
 * failing answer. */
int ctl_list_all(ctl_client *c, const char *path, const char *field, json_t **items,
                 ctl_response *resp);

/* Percent-encodes s for a path segment or query value; the caller frees. */
char *ctl_escape(const char *s);

/* The name of a gRPC status code ("NOT_FOUND"), or "UNKNOWN". */
const char *ctl_code_name(long code);

/* A fresh random token (hex, 32 characters) for Idempotency-Key prefixes. */
void ctl_random_token(char out[33]);

#endif
