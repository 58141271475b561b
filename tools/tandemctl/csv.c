/*
 * csv.c - the strict RFC 4180 reader of csv.h.
 *
 * One pass over the bytes of a record with an explicit state; the first problem is
 * remembered and the record is still consumed to its end (respecting quotes), so the
 * caller can report it and go on with the next record.
 */
#include "csv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum field_state {
    FIELD_START,  /* nothing read in this field yet */
    FIELD_PLAIN,  /* inside an unquoted field */
    FIELD_QUOTED, /* inside quotes */
    FIELD_CLOSED, /* just after a quote inside a quoted field: "" or the end */
} field_state;

typedef struct record_parse {
    csv_reader *r;
    size_t used;  /* bytes of r->buf in use */
    size_t start; /* start of the current field in r->buf */
    int failed;   /* a problem was recorded; keep consuming, store nothing */
    unsigned long quote_line;
} record_parse;

int csv_reader_init(csv_reader *r, const char *data, size_t len)
{
    memset(r, 0, sizeof *r);
    r->buf = malloc(CSV_MAX_RECORD_BYTES + CSV_MAX_FIELDS);
    if (r->buf == NULL) {
        return -1;
    }
    r->data = data;
    r->len = len;
    r->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        r->pos = 3;
    }
    return 0;
}

void csv_reader_free(csv_reader *r)
{
    free(r->buf);
    r->buf = NULL;
}

static void fail(record_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(record_parse *p, const char *fmt, ...)
{
    if (p->failed) {
        return;
    }
    p->failed = 1;
    p->r->error_line = p->r->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->r->error, sizeof p->r->error, fmt, ap);
    va_end(ap);
}

static void store_byte(record_parse *p, char c)
{
    if (p->failed) {
        return;
    }
    if (p->used - p->start >= CSV_MAX_FIELD_BYTES) {
        fail(p, "field %zu is longer than %d bytes", p->r->n_fields + 1, CSV_MAX_FIELD_BYTES);
        return;
    }
    if (p->used >= CSV_MAX_RECORD_BYTES) {
        fail(p, "record is longer than %d bytes", CSV_MAX_RECORD_BYTES);
        return;
    }
    p->r->buf[p->used++] = c;
}

static void end_field(record_parse *p)
{
    if (p->failed) {
        return;
    }
    csv_reader *r = p->r;
    if (r->n_fields >= CSV_MAX_FIELDS) {
        fail(p, "more than %d fields", CSV_MAX_FIELDS);
        return;
    }
    r->buf[p->used++] = '\0'; /* room reserved: CSV_MAX_FIELDS extra bytes */
    r->fields[r->n_fields++] = r->buf + p->start;
    p->start = p->used;
}

/* Is the byte at pos a line ending outside quotes? Returns its length (1 or 2), or 0. */
static size_t line_ending_at(const csv_reader *r, size_t pos)
{
    if (r->data[pos] == '\n') {
        return 1;
    }
    if (r->data[pos] == '\r' && pos + 1 < r->len && r->data[pos + 1] == '\n') {
        return 2;
    }
    return 0;
}

static void skip_blank_lines(csv_reader *r)
{
    while (r->pos < r->len) {
        size_t eol = line_ending_at(r, r->pos);
        if (eol == 0) {
            return;
        }
        r->pos += eol;
        r->line++;
    }
}

csv_result csv_read_record(csv_reader *r)
{
    skip_blank_lines(r);
    r->n_fields = 0;
    r->error[0] = '\0';
    if (r->pos >= r->len) {
        return CSV_END;
    }
    record_parse p = {.r = r};
    field_state state = FIELD_START;
    r->record_line = r->line;
    while (r->pos < r->len) {
        char c = r->data[r->pos];
        if (c == '\0') {
            fail(&p, "NUL byte in the input");
        }
        if (state == FIELD_QUOTED) {
            r->pos++;
            if (c == '"') {
                state = FIELD_CLOSED;
            } else {
                if (c == '\n') {
                    r->line++;
                }
                store_byte(&p, c);
            }
            continue;
        }
        size_t eol = line_ending_at(r, r->pos);
        if (eol > 0) {
            r->pos += eol;
            end_field(&p);
            r->line++;
            return p.failed ? CSV_ERROR : CSV_RECORD;
        }
        r->pos++;
        if (c == ',') {
            end_field(&p);
            state = FIELD_START;
        } else if (c == '"' && state == FIELD_START) {
            state = FIELD_QUOTED;
            p.quote_line = r->line;
        } else if (c == '"' && state == FIELD_CLOSED) {
            store_byte(&p, '"'); /* "" inside quotes */
            state = FIELD_QUOTED;
        } else if (c == '"') {
            fail(&p,
                 "field %zu: a quote inside an unquoted field (quote the whole field "
                 "and double the quote)",
                 r->n_fields + 1);
        } else if (c == '\r') {
            fail(&p, "field %zu: a carriage return not followed by a line feed", r->n_fields + 1);
        } else if (state == FIELD_CLOSED) {
            fail(&p, "field %zu: text after the closing quote", r->n_fields + 1);
            state = FIELD_PLAIN;
        } else {
            store_byte(&p, c);
            state = FIELD_PLAIN;
        }
    }
    if (state == FIELD_QUOTED) {
        if (!p.failed) {
            fail(&p, "a quoted field opened on line %lu is never closed", p.quote_line);
            r->error_line = p.quote_line;
        }
        return CSV_ERROR;
    }
    end_field(&p);
    return p.failed ? CSV_ERROR : CSV_RECORD;
}
