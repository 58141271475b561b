/*
 * out.h - what tandemctl prints: aligned text tables, a progress bar on a terminal,
 * and JSON for --json.
 */
#ifndef TANDEMCTL_OUT_H
#define TANDEMCTL_OUT_H

#include <jansson.h>
#include <stdio.h>

#define OUT_MAX_COLUMNS    12
#define OUT_MAX_CELL_CHARS 72 /* longer cells are cut with "..." */

typedef struct out_table {
    size_t n_cols;
    char header_text[512]; /* the headers, split in place */
    const char *headers[OUT_MAX_COLUMNS];
    int right[OUT_MAX_COLUMNS]; /* right-aligned (numbers) */
    char **cells;               /* n_rows * n_cols, owned */
    size_t n_rows, cap_rows;
} out_table;

/* headers is "Name|Score|..." ; a header starting with '>' is right-aligned. */
void out_table_init(out_table *t, const char *headers);
/* Adds a row of n_cols strings (NULL prints as empty); they are copied. */
void out_table_row(out_table *t, const char *const *cells);
/* Adds a row from printf-style cells separated by '|' in the formatted text. */
void out_table_rowf(out_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void out_table_print(const out_table *t, FILE *f);
void out_table_free(out_table *t);

/* A section title. */
void out_heading(FILE *f, const char *title);

/* JSON on stdout, indented, with a final newline. */
void out_json(const json_t *value);

/* Progress on stderr when enabled: "label [#####.....]  42%  detail". */
void out_progress(int enabled, const char *label, double fraction, const char *detail);
/* Ends the progress line (when enabled). */
void out_progress_done(int enabled);

/* Formats a double with the given decimals into buf, or "-" for NaN. */
const char *out_number(char *buf, size_t size, double v, int decimals);

#endif
