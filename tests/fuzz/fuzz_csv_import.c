/*
 * fuzz_csv_import.c - tandemctl's strict RFC 4180 reader (tools/tandemctl/csv.c),
 * which turns an HR export into participant rows for BatchEnrol. csv.c is compiled
 * into this target (pure code; the fuzz framework links only tandem_common).
 *
 * Asserts: reading always ends (every call consumes input or reports the end); every
 * record has 1..CSV_MAX_FIELDS NUL-terminated fields within CSV_MAX_FIELD_BYTES and
 * the record within CSV_MAX_RECORD_BYTES; line numbers never go backwards and errors
 * carry a message and a line; and when a document reads without error, writing its
 * records back out (every field quoted, quotes doubled, CRLF) and reading that gives
 * the same records - except for records whose only field is empty, which a reader
 * that skips blank lines cannot tell from a blank line, so they are left out.
 *
 * The same bytes then go through rows.c as an import file: every data row ends up
 * either sent or refused (never lost, never both), every refusal names a line of the
 * file and says why, and every row sent is a participant object with the three
 * required fields, which the server's JSON codec decodes as a tandem.v1.Participant
 * (a row it refused would fail the whole BatchEnrol, not just that row). rows.c needs
 * jansson, which tandem_common brings.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/tandemctl/csv.c"
#include "../../tools/tandemctl/rows.c"
#include "tandem/json.h"
#include "tandem/v1/enrolment.pb-c.h"

#define CSV_FUZZ_MAX_INPUT_BYTES (256u * 1024u)

static void die(const char *what)
{
    fprintf(stderr, "csv_import: %s\n", what);
    abort();
}

typedef struct out_text {
    char *data;
    size_t len, cap;
} out_text;

static void put(out_text *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        size_t cap = o->cap == 0 ? 1024 : o->cap;
        while (cap < o->len + n)
            cap *= 2;
        char *grown = realloc(o->data, cap);
        if (grown == NULL)
            abort();
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
}

static void put_record(out_text *o, const csv_reader *r)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        if (i > 0)
            put(o, ",", 1);
        put(o, "\"", 1);
        for (const char *p = r->fields[i]; *p != '\0'; p++)
            put(o, *p == '"' ? "\"\"" : p, 1 + (*p == '"'));
        put(o, "\"", 1);
    }
    put(o, "\r\n", 2);
}

static bool empty_record(const csv_reader *r)
{
    return r->n_fields == 1 && r->fields[0][0] == '\0';
}

/* Read everything; write clean records out; return the number of errors. */
static size_t read_all(const char *data, size_t len, out_text *out)
{
    csv_reader r;
    if (csv_reader_init(&r, data, len) != 0)
        abort();
    size_t errors = 0, guard = 0;
    unsigned long last_line = 0;
    for (;;) {
        size_t before = r.pos;
        csv_result res = csv_read_record(&r);
        if (res == CSV_END)
            break;
        if (r.pos <= before || ++guard > len + 1)
            die("a read consumed nothing");
        if (r.record_line < last_line)
            die("line numbers went backwards");
        last_line = r.record_line;
        if (res == CSV_ERROR) {
            if (r.error[0] == '\0' || r.error_line == 0)
                die("an error without a message or a line");
            errors++;
            continue;
        }
        if (r.n_fields == 0 || r.n_fields > CSV_MAX_FIELDS)
            die("record with a field count out of bounds");
        size_t total = 0;
        for (size_t i = 0; i < r.n_fields; i++) {
            size_t n = strlen(r.fields[i]);
            if (n > CSV_MAX_FIELD_BYTES)
                die("field longer than CSV_MAX_FIELD_BYTES");
            total += n;
        }
        if (total > CSV_MAX_RECORD_BYTES)
            die("record longer than CSV_MAX_RECORD_BYTES");
        if (out != NULL && !empty_record(&r))
            put_record(out, &r);
    }
    csv_reader_free(&r);
    return errors;
}

static unsigned long count_lines(const char *data, size_t len)
{
    unsigned long lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    return lines;
}

/* A row about to be sent must be a Participant the server's JSON codec accepts: one it
 * refused would fail the whole BatchEnrol instead of being reported alone. */
static void check_codec_accepts(const json_t *participant, unsigned long origin)
{
    char *json = json_dumps(participant, JSON_COMPACT);
    if (json == NULL)
        die("a row does not serialise");
    tdm_arena *a = tdm_arena_new(0);
    if (a == NULL)
        abort();
    ProtobufCMessage *m = NULL;
    tdm_status *st =
        tdm_json_decode(&tandem__v1__participant__descriptor, json, strlen(json), a, &m);
    if (st != NULL) {
        fprintf(stderr, "csv_import: line %lu refused by the codec: %s (%s: %s)\n%s\n", origin,
                st->message, st->n_violations > 0 ? st->violations[0].field : "",
                st->n_violations > 0 ? st->violations[0].description : "", json);
        abort();
    }
    tdm_arena_free(a);
    free(json);
}

/* The file as an import: each data row is sent or refused, exactly once. */
static void check_rows(const char *data, size_t len)
{
    rows_set set;
    char err[1024];
    if (rows_load_csv(&set, data, len, err, sizeof err) != 0) {
        if (err[0] == '\0')
            die("an unusable file without a reason");
        rows_free(&set);
        return;
    }
    unsigned long lines = count_lines(data, len);
    if (set.n_rows + set.n_errors != set.seen)
        die("a row was lost or counted twice");
    for (size_t i = 0; i < set.n_rows; i++) {
        json_t *p = set.rows[i].participant;
        if (!json_is_object(p) || json_string_length(json_object_get(p, "externalId")) == 0 ||
            json_string_length(json_object_get(p, "displayName")) == 0 ||
            !json_is_string(json_object_get(p, "role")))
            die("a row sent without its required fields");
        check_codec_accepts(set.rows[i].participant, set.rows[i].origin);
        if (set.rows[i].origin < 2 || set.rows[i].origin > lines)
            die("a row from outside the file");
    }
    for (size_t i = 0; i < set.n_errors; i++) {
        if (set.errors[i].origin < 2 || set.errors[i].origin > lines)
            die("a row error naming a line outside the file");
        if (set.errors[i].message == NULL || set.errors[i].message[0] == '\0')
            die("a row error without a reason");
    }
    rows_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CSV_FUZZ_MAX_INPUT_BYTES)
        return 0;
    char *text = malloc(size > 0 ? size : 1);
    if (text == NULL)
        abort();
    if (size > 0)
        memcpy(text, data, size);
    out_text first = {0}, second = {0};
    size_t errors = read_all(text, size, &first);
    if (errors == 0) {
        if (read_all(first.data != NULL ? first.data : "", first.len, &second) != 0)
            die("records written back out do not read");
        if (first.len != second.len ||
            (first.len > 0 && memcmp(first.data, second.data, first.len) != 0))
            die("records changed through write and read");
    }
    free(first.data);
    free(second.data);
    check_rows(text, size);
    free(text);
    return 0;
}
