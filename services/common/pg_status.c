/*
 * pg_status.c - the one place where PostgreSQL errors become Tandem statuses
 * (include/tandem/pg.h, tdm_pg_status_from_result).
 *
 * The user message names the kind of failure in words fit for an API caller and
 * never carries SQL text or server wording (which may quote other tenants' values,
 * e.g. a unique key's "Key (slug)=(acme) already exists"); the server's words go to
 * the operator detail, prefixed by the SQLSTATE, with the constraint name when the
 * server reported one.
 */
#include <string.h>

#include "tandem/pg.h"

typedef struct sqlstate_rule {
    const char *prefix; /* a full SQLSTATE, or its two-character class */
    tdm_code code;
    const char *message;
} sqlstate_rule;

/* First match wins: full codes before their class. */
static const sqlstate_rule SQLSTATE_RULES[] = {
    {"23505", TDM_ALREADY_EXISTS, "the resource already exists"},
    {"23503", TDM_FAILED_PRECONDITION, "a resource it refers to does not exist or is in use"},
    {"23514", TDM_INVALID_ARGUMENT, "a value is outside its allowed range"},
    {"23502", TDM_INVALID_ARGUMENT, "a required value is missing"},
    {"23P01", TDM_ALREADY_EXISTS, "the resource conflicts with an existing one"},
    {"22", TDM_INVALID_ARGUMENT, "a value is malformed or out of range"},
    {"40001", TDM_ABORTED, "the operation conflicted with a concurrent one; retry it"},
    {"40P01", TDM_ABORTED, "the operation conflicted with a concurrent one; retry it"},
    {"55P03", TDM_ABORTED, "the resource is busy; retry it"},
    /* A read-only server: a standby, or a primary demoted by a failover. The pool
     * reconnects to the primary; the caller may retry. */
    {"25006", TDM_UNAVAILABLE,
     "the database is read-only (a failover may be under way); retry later"},
    {"57014", TDM_DEADLINE_EXCEEDED, "the deadline passed before the database answered"},
    {"57P01", TDM_UNAVAILABLE, "the database is unavailable; retry later"},
    {"57P02", TDM_UNAVAILABLE, "the database is unavailable; retry later"},
    {"57P03", TDM_UNAVAILABLE, "the database is unavailable; retry later"},
    {"53300", TDM_UNAVAILABLE, "the database is unavailable; retry later"},
    {"08", TDM_UNAVAILABLE, "the database is unavailable; retry later"},
    {"53", TDM_RESOURCE_EXHAUSTED, "the database is out of resources; retry later"},
};

tdm_status *tdm_pg_not_started(int rc, const char *what)
{
    tdm_status *st = rc == UV_ENOMEM ? tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory")
                                     : tdm_status_new(TDM_INTERNAL, "internal error");
    tdm_status_set_detail(st, "could not %s: %s", what, uv_strerror(rc));
    return st;
}

const char *tdm_pg_sqlstate(const PGresult *res)
{
    const char *s = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s != NULL ? s : "";
}

bool tdm_pg_peer_not_ready(const PGresult *res)
{
    const char *s = tdm_pg_sqlstate(res);
    return strcmp(s, "42P01") == 0 || strcmp(s, "3F000") == 0 || strcmp(s, "42501") == 0 ||
           strcmp(s, "42703") == 0;
}

tdm_status *tdm_pg_status_from_result(const PGresult *res)
{
    const char *sqlstate = tdm_pg_sqlstate(res);
    tdm_code code = TDM_INTERNAL;
    const char *message = "internal database error";
    if (res == NULL || sqlstate[0] == '\0') {
        /* No SQLSTATE: libpq's own failure (connection lost, out of memory). */
        code = TDM_UNAVAILABLE;
        message = "the database is unavailable; retry later";
    } else {
        for (size_t i = 0; i < sizeof(SQLSTATE_RULES) / sizeof(SQLSTATE_RULES[0]); i++) {
            const sqlstate_rule *r = &SQLSTATE_RULES[i];
            if (strncmp(sqlstate, r->prefix, strlen(r->prefix)) == 0) {
                code = r->code;
                message = r->message;
                break;
            }
        }
    }
    tdm_status *st = tdm_status_new(code, "%s", message);
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary == NULL && res != NULL)
        primary = PQresultErrorMessage(res);
    const char *constraint = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    tdm_status_set_detail(st, "SQLSTATE %s: %s%s%s%s", sqlstate[0] ? sqlstate : "none",
                          primary != NULL && primary[0] ? primary : "no server message",
                          constraint != NULL ? " (constraint " : "",
                          constraint != NULL ? constraint : "", constraint != NULL ? ")" : "");
    return st;
}
