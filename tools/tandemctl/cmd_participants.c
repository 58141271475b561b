/*
 * cmd_participants.c - `tandemctl participants import|list`.
 *
 * An import reads the whole file first (rows.c), so every malformed row is known
 * before anything is sent; then it sends the good rows in BatchEnrol chunks of at
 * most IMPORT_MAX_CHUNK_ROWS rows and IMPORT_MAX_CHUNK_BYTES bytes, each with its own
 * Idempotency-Key (a random prefix per invocation plus the chunk number), so a chunk
 * retried after a lost answer is applied once. The report lists every refused row,
 * whether refused here or by the server, by its line (CSV) or row (JSON).
 */
#include "ctl.h"
#include "out.h"
#include "rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMPORT_MAX_CHUNK_ROWS  10000
#define IMPORT_MAX_CHUNK_BYTES (30u * 1024u * 1024u) /* BatchEnrol allows 32 MiB */
#define IMPORT_MAX_FILE_BYTES  (1024u * 1024u * 1024u)

static const char *str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

static const char *row_external_id(const json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "externalId"));
    return id != NULL ? id : json_string_value(json_object_get(p, "external_id"));
}

/* Adds the server's refusal of one row (one error per field violation). */
static int add_server_error(rows_set *set, const rows_row *row, const json_t *error)
{
    int code = (int)json_integer_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    json_t *details = json_object_get(error, "details");
    const char *id = row_external_id(row->participant);
    if (json_array_size(details) == 0) {
        return rows_add_error(set, row->origin, id, NULL, code, 0, message);
    }
    size_t i;
    json_t *d;
    json_array_foreach(details, i, d)
    {
        const char *desc = json_string_value(json_object_get(d, "description"));
        if (rows_add_error(set, row->origin, id, json_string_value(json_object_get(d, "field")),
                           code, 0, desc != NULL ? desc : message) != 0) {
            return -1;
        }
    }
    return 0;
}

/* How many rows from first fit in one chunk (at least one). */
static size_t chunk_extent(const rows_set *set, size_t first, size_t max_rows)
{
    size_t bytes = 32, n = 0;
    while (first + n < set->n_rows && n < max_rows) {
        size_t row_bytes = json_dumpb(set->rows[first + n].participant, NULL, 0, JSON_COMPACT);
        if (n > 0 && bytes + row_bytes + 1 > IMPORT_MAX_CHUNK_BYTES) {
            break;
        }
        bytes += row_bytes + 1;
        n++;
    }
    return n;
}

int ctl_enrol_rows(ctl *c, const char *programme_id, rows_set *set, size_t chunk_rows,
                   size_t *enrolled)
{
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/programmes/%s/participants:batchEnrol", programme_id);
    char prefix[33];
    ctl_random_token(prefix);
    *enrolled = 0;
    size_t chunk_no = 0;
    char detail[128];
    snprintf(detail, sizeof detail, "0/%zu rows", set->n_rows);
    out_progress(c->progress, "Enrolling", 0, detail);
    for (size_t first = 0; first < set->n_rows; chunk_no++) {
        size_t n = chunk_extent(set, first, chunk_rows);
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append(list, set->rows[first + i].participant);
        }
        json_t *body = json_pack("{so}", "participants", list);
        char idem[64];
        snprintf(idem, sizeof idem, "tandemctl-import-%s-%zu", prefix, chunk_no);
        ctl_response resp;
        int rc = ctl_call(&c->client, "POST", path, body, idem, &resp);
        json_decref(body);
        if (rc != CTL_EXIT_OK) {
            out_progress_done(c->progress);
            char what[160];
            snprintf(what, sizeof what,
                     "enrol rows %zu-%zu (chunk %zu; %zu rows enrolled before it)", first + 1,
                     first + n, chunk_no + 1, *enrolled);
            ctl_call_error(what, "POST", path, &resp);
            ctl_response_free(&resp);
            return rc;
        }
        json_t *results = json_object_get(resp.body, "results");
        if (json_array_size(results) != n) {
            out_progress_done(c->progress);
            fprintf(stderr,
                    "tandemctl: enrol: the server answered %zu results for %zu rows (chunk %zu)\n",
                    json_array_size(results), n, chunk_no + 1);
            ctl_response_free(&resp);
            return CTL_EXIT_API;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *r = json_array_get(results, i);
            json_t *error = json_object_get(r, "error");
            if (error != NULL) {
                add_server_error(set, &set->rows[first + i], error);
            } else {
                (*enrolled)++;
            }
        }
        ctl_response_free(&resp);
        first += n;
        snprintf(detail, sizeof detail, "%zu/%zu rows", first, set->n_rows);
        out_progress(c->progress, "Enrolling", (double)first / (double)set->n_rows, detail);
    }
    out_progress_done(c->progress);
    return CTL_EXIT_OK;
}

static void print_errors_text(const rows_set *set, FILE *f)
{
    for (size_t i = 0; i < set->n_errors; i++) {
        const rows_error *e = &set->errors[i];
        fprintf(f, "%s %lu", rows_origin_word(set), e->origin);
        if (e->external_id != NULL) {
            fprintf(f, " (%s)", e->external_id);
        }
        if (e->field != NULL && e->field[0]) {
            fprintf(f, ": field %s", e->field);
        }
        fprintf(f, ": %s%s\n", e->message, e->local ? "" : " [server]");
    }
}

static json_t *errors_json(const rows_set *set)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < set->n_errors; i++) {
        const rows_error *e = &set->errors[i];
        json_t *o = json_object();
        json_object_set_new(o, rows_origin_word(set), json_integer((json_int_t)e->origin));
        if (e->external_id != NULL) {
            json_object_set_new(o, "externalId", json_string(e->external_id));
        }
        if (e->field != NULL) {
            json_object_set_new(o, "field", json_string(e->field));
        }
        json_object_set_new(o, "code", json_integer(e->code));
        json_object_set_new(o, "codeName", json_string(ctl_code_name(e->code)));
        json_object_set_new(o, "message", json_string(e->message));
        json_object_set_new(o, "source", json_string(e->local ? "file" : "server"));
        json_array_append_new(arr, o);
    }
    return arr;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static int participants_import(ctl *c)
{
    const char *usage = "participants import PROGRAMME FILE.csv|FILE.json [--chunk N] "
                        "[--format csv|json]";
    long chunk = IMPORT_MAX_CHUNK_ROWS;
    int rc = ctl_opt_long(c, "chunk", 1, IMPORT_MAX_CHUNK_ROWS, &chunk);
    const char *format = ctl_opt(c, "format");
    if (rc == 0) {
        rc = ctl_done_args(c, 4, 4, usage);
    }
    if (rc != 0) {
        return rc;
    }
    const char *programme = c->words[2], *file = c->words[3];
    int csv;
    if (format != NULL) {
        if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
            return ctl_usage_error("--format: csv or json, not \"%s\"", format);
        }
        csv = strcmp(format, "csv") == 0;
    } else if (ends_with(file, ".csv")) {
        csv = 1;
    } else if (ends_with(file, ".json")) {
        csv = 0;
    } else {
        return ctl_usage_error("%s: name the format with --format csv|json (or use a .csv or "
                               ".json file name)",
                               file);
    }
    size_t len = 0;
    char *data = ctl_read_file(file, IMPORT_MAX_FILE_BYTES, &len);
    if (data == NULL) {
        return CTL_EXIT_USAGE;
    }
    rows_set set;
    char err[1024];
    rc = csv ? rows_load_csv(&set, data, len, err, sizeof err)
             : rows_load_json(&set, data, len, err, sizeof err);
    free(data);
    if (rc != 0) {
        fprintf(stderr, "tandemctl: %s: %s\n", file, err);
        rows_free(&set);
        return CTL_EXIT_USAGE;
    }
    size_t enrolled = 0;
    rc = CTL_EXIT_OK;
    if (set.n_rows > 0) {
        rc = ctl_enrol_rows(c, programme, &set, (size_t)chunk, &enrolled);
    }
    if (rc == CTL_EXIT_OK) {
        rows_sort_errors(&set);
        size_t refused = set.seen - enrolled;
        if (c->json) {
            json_t *doc = json_pack("{sssIsIsIso}", "programmeId", programme, "rows",
                                    (json_int_t)set.seen, "enrolled", (json_int_t)enrolled,
                                    "refused", (json_int_t)refused, "errors", errors_json(&set));
            out_json(doc);
            json_decref(doc);
        } else {
            printf("Enrolled %zu of %zu rows from %s into programme %s.\n", enrolled, set.seen,
                   file, programme);
        }
        if (set.n_errors > 0) {
            fprintf(stderr, "%zu row%s refused:\n", refused, refused == 1 ? "" : "s");
            print_errors_text(&set, stderr);
        }
        if (refused > 0 || set.n_errors > 0) {
            rc = CTL_EXIT_PARTIAL;
        }
    } else if (set.n_errors > 0) {
        fprintf(stderr, "Rows refused before the failure:\n");
        rows_sort_errors(&set);
        print_errors_text(&set, stderr);
    }
    rows_free(&set);
    return rc;
}

static int participants_list(ctl *c)
{
    const char *role = ctl_opt(c, "role");
    const char *status = ctl_opt(c, "status");
    int rc = ctl_done_args(c, 3, 3, "participants list PROGRAMME [--role R] [--status S]");
    if (rc != 0) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    if (role != NULL && status != NULL) {
        ctl_path(path, "/v1/programmes/%s/participants?role=%s&status=%s", c->words[2], role,
                 status);
    } else if (role != NULL || status != NULL) {
        ctl_path(path,
                 role != NULL ? "/v1/programmes/%s/participants?role=%s"
                              : "/v1/programmes/%s/participants?status=%s",
                 c->words[2], role != NULL ? role : status);
    } else {
        ctl_path(path, "/v1/programmes/%s/participants", c->words[2]);
    }
    json_t *items = NULL;
    ctl_response resp;
    rc = ctl_list_all(&c->client, path, "participants", &items, &resp);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("list participants", "GET", path, &resp);
        ctl_response_free(&resp);
        json_decref(items);
        return rc;
    }
    if (c->json) {
        json_t *doc = json_pack("{sO}", "participants", items);
        out_json(doc);
        json_decref(doc);
    } else {
        out_table t;
        out_table_init(&t, "External ID|Name|Role|>Level|Office|Practice area|Status");
        size_t i;
        json_t *x;
        json_array_foreach(items, i, x)
        {
            out_table_rowf(&t, "%s|%s|%s|%lld|%s|%s|%s", str(x, "externalId"),
                           str(x, "displayName"), str(x, "role"),
                           json_integer_value(json_object_get(x, "seniorityLevel")),
                           str(x, "office"), str(x, "practiceArea"), str(x, "status"));
        }
        out_table_print(&t, stdout);
        out_table_free(&t);
        printf("%zu participants\n", json_array_size(items));
    }
    json_decref(items);
    return CTL_EXIT_OK;
}

/* A participant token (IssueParticipantToken): the token alone on stdout, so a
 * script can take it ($(tandemctl participants token ID)); its expiry on stderr. */
static int participants_token(ctl *c)
{
    long ttl = 0;
    int rc = ctl_opt_long(c, "ttl", 1, 3600, &ttl);
    if (rc == 0)
        rc = ctl_done_args(c, 3, 3, "participants token PARTICIPANT_ID [--ttl SECONDS]");
    if (rc != 0) {
        return rc;
    }
    char path[CTL_MAX_PATH];
    ctl_path(path, "/v1/participants/%s:issueToken", c->words[2]);
    json_t *body = ttl > 0 ? json_pack("{sI}", "ttlSeconds", (json_int_t)ttl) : json_object();
    ctl_response resp;
    rc = ctl_call(&c->client, "POST", path, body, NULL, &resp);
    json_decref(body);
    if (rc != CTL_EXIT_OK) {
        ctl_call_error("issue participant token", "POST", path, &resp);
    } else if (c->json) {
        out_json(resp.body);
    } else {
        printf("%s\n", str(resp.body, "token"));
        fprintf(stderr, "expires %s\n", str(resp.body, "expireTime"));
    }
    ctl_response_free(&resp);
    return rc;
}

int cmd_participants(ctl *c)
{
    const char *verb = c->n_words > 1 ? c->words[1] : "";
    if (strcmp(verb, "import") == 0) {
        return participants_import(c);
    }
    if (strcmp(verb, "list") == 0) {
        return participants_list(c);
    }
    if (strcmp(verb, "token") == 0) {
        return participants_token(c);
    }
    return ctl_usage_error("usage: tandemctl participants import|list|token");
}
