/*
 * csv.h - a small, strict RFC 4180 reader over a buffer in memory.
 *
 * Fields are separated by commas; a field may be quoted ("..."), and inside quotes
 * a doubled quote is a quote and commas and line breaks are content. Records end
 * with CRLF or LF (a bare CR outside quotes is an error). A UTF-8 byte order mark at
 * the start is skipped, blank lines are skipped, the last record may lack a line
 * ending. Every size is bounded by the constants below.
 *
 * On a malformed record the reader still consumes it to its end (so the next call
 * starts on the next record) and reports the first problem with its line number:
 * one bad row never hides the rows after it. The only exception is a quote that is
 * never closed, which by definition swallows the rest of the input.
 */
#ifndef TANDEMCTL_CSV_H
#define TANDEMCTL_CSV_H

#include <stddef.h>

#define CSV_MAX_FIELDS       64
#define CSV_MAX_FIELD_BYTES  8192
#define CSV_MAX_RECORD_BYTES 65536
#define CSV_MAX_ERROR_BYTES  160

typedef enum csv_result {
    CSV_RECORD, /* a record is in fields[0..n_fields) */
    CSV_END,    /* no more input */
    CSV_ERROR,  /* a malformed record was consumed; see error, error_line */
} csv_result;

typedef struct csv_reader {
    const char *data;
    size_t len;
    size_t pos;
    unsigned long line;        /* physical line at pos, 1-based */
    unsigned long record_line; /* first line of the record last read */
    unsigned long error_line;  /* line of the problem, for CSV_ERROR */
    char error[CSV_MAX_ERROR_BYTES];
    char *fields[CSV_MAX_FIELDS]; /* NUL-terminated, valid until the next read */
    size_t n_fields;
    char *buf; /* CSV_MAX_RECORD_BYTES + CSV_MAX_FIELDS bytes: the fields' storage */
} csv_reader;

/* Returns 0, or -1 if out of memory. The reader borrows data until csv_reader_free. */
int csv_reader_init(csv_reader *r, const char *data, size_t len);

/* Reads the next record. */
csv_result csv_read_record(csv_reader *r);

void csv_reader_free(csv_reader *r);

#endif
