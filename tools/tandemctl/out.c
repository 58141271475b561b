/*
 * out.c - text tables, progress bars and JSON output (out.h).
 *
 * Column widths count UTF-8 code points, not bytes, so names such as "Zoë" or
 * "Łukasz" line up.
 */
#include "out.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static size_t utf8_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

/* A copy of s cut to OUT_MAX_CELL_CHARS code points, with "..." when cut. */
static char *cell_copy(const char *s)
{
    if (s == NULL) {
        s = "";
    }
    size_t chars = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && ++chars > OUT_MAX_CELL_CHARS - 3) {
            break;
        }
    }
    if (s[i] == '\0' || utf8_width(s) <= OUT_MAX_CELL_CHARS) {
        return strdup(s);
    }
    char *out = malloc(i + 4);
    if (out != NULL) {
        memcpy(out, s, i);
        memcpy(out + i, "...", 4);
    }
    return out;
}

void out_table_init(out_table *t, const char *headers)
{
    memset(t, 0, sizeof *t);
    snprintf(t->header_text, sizeof t->header_text, "%s", headers);
    char *copy = t->header_text;
    char *save = NULL;
    for (char *h = strtok_r(copy, "|", &save); h != NULL && t->n_cols < OUT_MAX_COLUMNS;
         h = strtok_r(NULL, "|", &save)) {
        t->right[t->n_cols] = h[0] == '>';
        t->headers[t->n_cols++] = h[0] == '>' ? h + 1 : h;
    }
}

void out_table_row(out_table *t, const char *const *cells)
{
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 32;
        char **c = realloc(t->cells, cap * t->n_cols * sizeof *c);
        if (c == NULL) {
            return;
        }
        t->cells = c;
        t->cap_rows = cap;
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        t->cells[t->n_rows * t->n_cols + i] = cell_copy(cells[i]);
    }
    t->n_rows++;
}

void out_table_rowf(out_table *t, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *cells[OUT_MAX_COLUMNS] = {0};
    char *p = line;
    for (size_t i = 0; i < t->n_cols; i++) {
        cells[i] = p;
        char *bar = p != NULL ? strchr(p, '|') : NULL;
        if (bar != NULL) {
            *bar = '\0';
            p = bar + 1;
        } else {
            p = NULL;
        }
    }
    out_table_row(t, cells);
}

static void pad(FILE *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fputc(' ', f);
    }
}

static void print_cells(const out_table *t, FILE *f, const char *const *cells, const size_t *w)
{
    for (size_t c = 0; c < t->n_cols; c++) {
        const char *s = cells[c] != NULL ? cells[c] : "";
        size_t sw = utf8_width(s);
        if (t->right[c]) {
            pad(f, w[c] - sw);
        }
        fputs(s, f);
        if (c + 1 < t->n_cols) {
            if (!t->right[c]) {
                pad(f, w[c] - sw);
            }
            fputs("  ", f);
        }
    }
    fputc('\n', f);
}

void out_table_print(const out_table *t, FILE *f)
{
    size_t w[OUT_MAX_COLUMNS] = {0};
    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = utf8_width(t->headers[c]);
        for (size_t r = 0; r < t->n_rows; r++) {
            const char *s = t->cells[r * t->n_cols + c];
            size_t sw = s != NULL ? utf8_width(s) : 0;
            if (sw > w[c]) {
                w[c] = sw;
            }
        }
    }
    print_cells(t, f, t->headers, w);
    for (size_t c = 0; c < t->n_cols; c++) {
        for (size_t i = 0; i < w[c]; i++) {
            fputc('-', f);
        }
        fputs(c + 1 < t->n_cols ? "  " : "\n", f);
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        print_cells(t, f, (const char *const *)&t->cells[r * t->n_cols], w);
    }
}

void out_table_free(out_table *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
    t->cells = NULL;
    t->n_rows = t->cap_rows = 0;
}

void out_heading(FILE *f, const char *title)
{
    fprintf(f, "\n%s\n", title);
    for (size_t i = utf8_width(title); i > 0; i--) {
        fputc('=', f);
    }
    fputc('\n', f);
}

void out_json(const json_t *value)
{
    json_dumpf(value, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    fflush(stdout);
}

#define PROGRESS_BAR_WIDTH 30

void out_progress(int enabled, const char *label, double fraction, const char *detail)
{
    if (!enabled) {
        return;
    }
    if (!(fraction >= 0)) {
        fraction = 0;
    }
    if (fraction > 1) {
        fraction = 1;
    }
    int filled = (int)(fraction * PROGRESS_BAR_WIDTH + 0.5);
    char bar[PROGRESS_BAR_WIDTH + 1];
    for (int i = 0; i < PROGRESS_BAR_WIDTH; i++) {
        bar[i] = i < filled ? '#' : '.';
    }
    bar[PROGRESS_BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %3d%%  %s", label, bar, (int)(fraction * 100 + 0.5),
            detail != NULL ? detail : "");
    fflush(stderr);
}

void out_progress_done(int enabled)
{
    if (enabled) {
        fputc('\n', stderr);
    }
}

const char *out_number(char *buf, size_t size, double v, int decimals)
{
    if (isnan(v)) {
        snprintf(buf, size, "-");
    } else {
        snprintf(buf, size, "%.*f", decimals, v);
    }
    return buf;
}
