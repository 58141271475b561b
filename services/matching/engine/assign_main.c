/*
 * assign_main.c - tandem-assign: the assignment engine on a weight matrix from stdin.
 *
 * Input: a first line "R C", then R lines of C weights; rows are mentors, columns
 * mentees, "-" marks an inadmissible pair. Weights are non-negative integers or decimals
 * with at most --decimals places (default 2); they are read as exact fixed-point
 * integers (87.25 -> 8725 at 2 places), never as floating point, so totals and the
 * optimality check are exact. Output: the total weight on the first line (printed with
 * the decimals the input used), then one "row col" line per pair, 0-based, by row.
 *
 * By default it maximises the number of pairs, then the total weight
 * (--objective max-participation); --capacity K lets each row take up to K columns.
 * --stable and --greedy run the other algorithms; --stats reports on stderr.
 * Exit status: 0 on success, 1 on bad input or usage, 2 on an internal failure.
 */
#include "tandem/assign.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_DIM      1000000U
#define MAX_CELLS    (1ULL << 31)
#define MAX_DECIMALS 6
#define READ_CHUNK   (1 << 20)

typedef struct cli {
    tdm_assign_options opt;
    uint32_t capacity;
    int decimals;
    bool stats;
} cli;

typedef struct matrix {
    uint32_t rows, cols;
    int32_t *w; /* row-major, TDM_ASSIGN_DENSE_NONE for "-" */
    bool saw_decimal;
} matrix;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(FILE *f)
{
    fputs("usage: tandem-assign [--capacity K] [--objective max-participation|max-score|maximin]\n"
          "                     [--stable | --greedy] [--seed N] [--decimals D] [--stats]\n"
          "Reads \"R C\" then R lines of C weights (rows mentors, columns mentees, '-' for an\n"
          "inadmissible pair) on stdin; prints the total weight, then \"row col\" per pair.\n",
          f);
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = READ_CHUNK * 4, n = 0;
    struct stat sb;
    /* A regular file (the usual "< matrix.txt") tells its size: one allocation, no copies. */
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size < ((uint64_t)1 << 40))
        cap = (size_t)sb.st_size + READ_CHUNK;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        return NULL;
    for (;;) {
        if (cap - n < READ_CHUNK) {
            char *b = realloc(buf, cap * 2 + 1);
            if (b == NULL) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The parser: a cursor over the whole input with a line counter for messages. */
typedef struct cursor {
    const char *p, *end;
    size_t line;
} cursor;

static void skip_blanks(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

static bool parse_dim(cursor *c, uint32_t *out)
{
    skip_blanks(c);
    uint64_t v = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && v <= MAX_DIM)
        v = v * 10 + (uint64_t)(*c->p++ - '0');
    if (c->p == start || v > MAX_DIM)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool end_of_line(cursor *c)
{
    skip_blanks(c);
    if (c->p < c->end && *c->p == '\n') {
        c->p++;
        c->line++;
        return true;
    }
    return c->p == c->end;
}

static int64_t pow10i(int d)
{
    int64_t x = 1;
    while (d-- > 0)
        x *= 10;
    return x;
}

/* One weight: "-", or digits with an optional fraction of at most `decimals` places. */
static bool parse_weight(cursor *c, int decimals, int64_t unit, int32_t *out, bool *saw_decimal,
                         char *err, size_t err_len)
{
    skip_blanks(c);
    const char *s = c->p, *e = c->end;
    /* Fast path, the common case: a short integer followed by a blank or a newline (the
     * input buffer is NUL-terminated, so reading one past the digits is safe). */
    if (s < e && (unsigned)(*s - '0') < 10) {
        uint32_t v = (uint32_t)(*s - '0');
        const char *q = s + 1;
        while ((unsigned)(*q - '0') < 10 && q - s < 9)
            v = v * 10 + (uint32_t)(*q++ - '0');
        if ((*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r' || q == e) &&
            (int64_t)v * unit <= TDM_ASSIGN_WEIGHT_MAX && (int64_t)v * unit <= INT32_MAX) {
            c->p = q;
            *out = (int32_t)((int64_t)v * unit);
            return true;
        }
    }
    if (s < e && *s == '-' &&
        (s + 1 == e || s[1] == ' ' || s[1] == '\t' || s[1] == '\n' || s[1] == '\r')) {
        c->p = s + 1;
        *out = TDM_ASSIGN_DENSE_NONE;
        return true;
    }
    int64_t v = 0;
    const char *start = s;
    while (s < e && (unsigned)(*s - '0') < 10 && v <= TDM_ASSIGN_WEIGHT_MAX)
        v = v * 10 + (*s++ - '0');
    int frac = 0;
    bool digits = s > start;
    if (s < e && *s == '.') {
        s++;
        *saw_decimal = true;
        while (s < e && (unsigned)(*s - '0') < 10) {
            if (++frac > decimals) {
                snprintf(err, err_len, "line %zu: more than %d decimal places", c->line, decimals);
                return false;
            }
            v = v * 10 + (*s++ - '0');
            digits = true;
        }
    }
    if (!digits || (s < e && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')) {
        const char *t = start;
        while (t < e && t - start < 20 && *t != ' ' && *t != '\n')
            t++;
        snprintf(err, err_len, "line %zu: \"%.*s\" is not a weight (a non-negative number or -)",
                 c->line, (int)(t - start), start);
        return false;
    }
    v *= pow10i(decimals - frac);
    if (v > TDM_ASSIGN_WEIGHT_MAX || v > INT32_MAX) {
        snprintf(err, err_len, "line %zu: weight too large (at most %" PRId64 ")", c->line,
                 (int64_t)INT32_MAX / unit);
        return false;
    }
    c->p = s;
    *out = (int32_t)v;
    return true;
}

static bool parse_matrix(const char *buf, size_t len, int decimals, matrix *m, char *err,
                         size_t err_len)
{
    cursor c = {buf, buf + len, 1};
    memset(m, 0, sizeof *m);
    if (!parse_dim(&c, &m->rows) || !parse_dim(&c, &m->cols) || !end_of_line(&c)) {
        snprintf(err, err_len, "line 1: expected \"R C\" (two counts up to %u)", MAX_DIM);
        return false;
    }
    uint64_t cells = (uint64_t)m->rows * m->cols;
    if (cells > MAX_CELLS) {
        snprintf(err, err_len, "line 1: %" PRIu32 " x %" PRIu32 " is too large", m->rows, m->cols);
        return false;
    }
    m->w = malloc(sizeof *m->w * (cells + 1));
    if (m->w == NULL) {
        snprintf(err, err_len, "out of memory for a %" PRIu32 " x %" PRIu32 " matrix", m->rows,
                 m->cols);
        return false;
    }
    int64_t unit = pow10i(decimals);
    int32_t *out = m->w;
    for (uint32_t r = 0; r < m->rows; r++) {
        for (uint32_t k = 0; k < m->cols; k++) {
            skip_blanks(&c);
            if (c.p == c.end || *c.p == '\n') {
                snprintf(err, err_len, "line %zu: expected %" PRIu32 " weights, found %" PRIu32,
                         c.line, m->cols, k);
                return false;
            }
            if (!parse_weight(&c, decimals, unit, out++, &m->saw_decimal, err, err_len))
                return false;
        }
        if (!end_of_line(&c)) {
            snprintf(err, err_len, "line %zu: more than %" PRIu32 " weights", c.line, m->cols);
            return false;
        }
    }
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\t' || *c.p == '\r' || *c.p == '\n'))
        c.p++;
    if (c.p != c.end) {
        snprintf(err, err_len, "line %zu: unexpected data after %" PRIu32 " rows", c.line, m->rows);
        return false;
    }
    return true;
}

/* Mentee-major copy of the row-major matrix, by cache-sized blocks. */
static int32_t *transpose(const matrix *m)
{
    int32_t *t = malloc(sizeof *t * ((size_t)m->rows * m->cols + 1));
    if (t == NULL)
        return NULL;
    const uint32_t B = 64;
    for (uint32_t r0 = 0; r0 < m->rows; r0 += B)
        for (uint32_t c0 = 0; c0 < m->cols; c0 += B)
            for (uint32_t r = r0; r < r0 + B && r < m->rows; r++)
                for (uint32_t c = c0; c < c0 + B && c < m->cols; c++)
                    t[(size_t)c * m->rows + r] = m->w[(size_t)r * m->cols + c];
    return t;
}

static tdm_assign_status to_problem(const matrix *m, uint32_t capacity, tdm_assign_problem **out)
{
    uint32_t *cap = malloc(sizeof *cap * ((size_t)m->rows + 1));
    if (cap == NULL)
        return TDM_ASSIGN_E_NOMEM;
    for (uint32_t r = 0; r < m->rows; r++)
        cap[r] = capacity;
    tdm_assign_status st = tdm_assign_problem_new(m->rows, m->cols, cap, out);
    free(cap);
    if (st != TDM_ASSIGN_OK)
        return st;
    tdm_assign_edge *row = malloc(sizeof *row * ((size_t)m->cols + 1));
    if (row == NULL)
        return TDM_ASSIGN_E_NOMEM;
    for (uint32_t r = 0; r < m->rows && st == TDM_ASSIGN_OK; r++) {
        size_t n = 0;
        for (uint32_t c = 0; c < m->cols; c++) {
            int32_t w = m->w[(size_t)r * m->cols + c];
            if (w != TDM_ASSIGN_DENSE_NONE)
                row[n++] = (tdm_assign_edge){r, c, w};
        }
        st = tdm_assign_problem_add_edges(*out, row, n);
    }
    free(row);
    return st;
}

static void print_weight(FILE *f, int64_t w, int decimals, bool as_decimal)
{
    int64_t unit = pow10i(decimals);
    if (!as_decimal || decimals == 0)
        fprintf(f, "%" PRId64, w / unit);
    else
        fprintf(f, "%" PRId64 ".%0*" PRId64, w / unit, decimals, w % unit);
}

/* Pairs as "row col" lines, by row then column. mentee_is_col: solver mentees are columns. */
static int print_result(const tdm_assign_result *r, const matrix *m, const cli *a,
                        bool mentee_is_col)
{
    size_t cap = r->n_pairs * 24 + 64, n = 0;
    char *out = malloc(cap);
    uint32_t *start = calloc((size_t)m->rows + 2, sizeof *start);
    uint32_t *cols = malloc(sizeof *cols * (r->n_pairs + 1));
    if (!out || !start || !cols) {
        free(out);
        free(start);
        free(cols);
        return 2;
    }
    print_weight(stdout, r->total_weight, a->decimals, m->saw_decimal);
    fputc('\n', stdout);
    for (size_t k = 0; k < r->n_pairs; k++) {
        uint32_t row = mentee_is_col ? r->pairs[k].mentor : r->pairs[k].mentee;
        start[row + 1]++;
    }
    for (uint32_t q = 0; q < m->rows; q++)
        start[q + 1] += start[q];
    for (size_t k = 0; k < r->n_pairs; k++) { /* pairs come sorted by mentee */
        uint32_t row = mentee_is_col ? r->pairs[k].mentor : r->pairs[k].mentee;
        uint32_t col = mentee_is_col ? r->pairs[k].mentee : r->pairs[k].mentor;
        cols[start[row]++] = col;
    }
    uint32_t k = 0;
    for (uint32_t row = 0; row < m->rows; row++) {
        uint32_t end = start[row];
        for (; k < end; k++)
            n += (size_t)snprintf(out + n, cap - n, "%" PRIu32 " %" PRIu32 "\n", row, cols[k]);
    }
    fwrite(out, 1, n, stdout);
    free(out);
    free(start);
    free(cols);
    return fflush(stdout) == 0 ? 0 : 2;
}

static bool parse_args(int argc, char **argv, cli *a)
{
    tdm_assign_options_init(&a->opt);
    a->capacity = 1;
    a->decimals = 2;
    for (int k = 1; k < argc; k++) {
        const char *s = argv[k];
        const char *val = k + 1 < argc ? argv[k + 1] : NULL;
        char *end;
        if (strcmp(s, "--stats") == 0) {
            a->stats = true;
        } else if (strcmp(s, "--stable") == 0) {
            a->opt.algorithm = TDM_ASSIGN_STABLE;
        } else if (strcmp(s, "--greedy") == 0) {
            a->opt.algorithm = TDM_ASSIGN_GREEDY;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (val == NULL) {
            fprintf(stderr, "tandem-assign: unknown option or missing value: %s\n", s);
            return false;
        } else if (strcmp(s, "--capacity") == 0) {
            errno = 0;
            unsigned long v = strtoul(val, &end, 10);
            if (errno || *end || v < 1 || v > TDM_ASSIGN_MAX_CAPACITY || val[0] == '-') {
                fprintf(stderr, "tandem-assign: --capacity: expected 1..%u, got \"%s\"\n",
                        TDM_ASSIGN_MAX_CAPACITY, val);
                return false;
            }
            a->capacity = (uint32_t)v;
            k++;
        } else if (strcmp(s, "--seed") == 0) {
            errno = 0;
            unsigned long long v = strtoull(val, &end, 10);
            if (errno || *end || val[0] == '-') {
                fprintf(stderr, "tandem-assign: --seed: expected an unsigned integer\n");
                return false;
            }
            a->opt.seed = v;
            k++;
        } else if (strcmp(s, "--decimals") == 0) {
            long v = strtol(val, &end, 10);
            if (*end || v < 0 || v > MAX_DECIMALS) {
                fprintf(stderr, "tandem-assign: --decimals: expected 0..%d\n", MAX_DECIMALS);
                return false;
            }
            a->decimals = (int)v;
            k++;
        } else if (strcmp(s, "--objective") == 0) {
            if (strcmp(val, "max-participation") == 0)
                a->opt.objective = TDM_ASSIGN_MAX_PARTICIPATION;
            else if (strcmp(val, "max-score") == 0)
                a->opt.objective = TDM_ASSIGN_MAX_SCORE;
            else if (strcmp(val, "maximin") == 0)
                a->opt.objective = TDM_ASSIGN_MAXIMIN;
            else {
                fprintf(stderr,
                        "tandem-assign: --objective: expected max-participation, "
                        "max-score or maximin, got \"%s\"\n",
                        val);
                return false;
            }
            k++;
        } else {
            fprintf(stderr, "tandem-assign: unknown option: %s\n", s);
            return false;
        }
    }
    return true;
}

/* --stats for OPTIMAL: verify the duals against the problem built from the matrix. */
static void report_optimal(const cli *a, const matrix *m, const tdm_assign_result *r,
                           double t_parse, double t_solve, bool swapped)
{
    fprintf(stderr,
            "parse: %.3f s\nsolve: %.3f s\nsearches: %" PRIu64 "\ninit matched: %" PRIu64
            "\npairs: %zu\nunmatched mentees: %zu\n",
            t_parse, t_solve, r->stats.iterations, r->stats.init_matched, r->n_pairs,
            r->n_unmatched);
    /* The check runs on the orientation that was solved (swapped when capacity is 1). */
    matrix mm = *m;
    int32_t *t = NULL;
    if (swapped) {
        t = transpose(m);
        if (t == NULL)
            return;
        mm.rows = m->cols;
        mm.cols = m->rows;
        mm.w = t;
    }
    tdm_assign_problem *p = NULL;
    double t0 = now();
    tdm_assign_status st = to_problem(&mm, swapped ? 1 : a->capacity, &p);
    char why[256] = "";
    if (st == TDM_ASSIGN_OK) {
        /* the problem's mentors are the solved orientation's mentors */
        tdm_assign_result rr = *r;
        st = tdm_assign_check_duals(p, &a->opt, &rr, why, sizeof why);
    }
    fprintf(stderr, "dual check: %s%s%s (%.3f s)\n",
            st == TDM_ASSIGN_OK ? "optimal (complementary slackness holds)"
                                : tdm_assign_strerror(st),
            why[0] ? ": " : "", why, now() - t0);
    tdm_assign_problem_free(p);
    free(t);
}

static int run_other(const cli *a, const matrix *m, double t_parse)
{
    tdm_assign_problem *p = NULL;
    tdm_assign_result r = {0}, opt = {0};
    int rc = 2;
    tdm_assign_status st = to_problem(m, a->capacity, &p);
    if (st != TDM_ASSIGN_OK) {
        fprintf(stderr, "tandem-assign: %s\n", tdm_assign_strerror(st));
        goto done;
    }
    double t0 = now();
    st = tdm_assign_run(p, &a->opt, &r);
    double t_solve = now() - t0;
    if (st != TDM_ASSIGN_OK) {
        fprintf(stderr, "tandem-assign: %s: %s\n", tdm_assign_strerror(st),
                tdm_assign_problem_error(p));
        goto done;
    }
    rc = print_result(&r, m, a, true);
    if (a->stats) {
        fprintf(stderr, "parse: %.3f s\nsolve: %.3f s\nseed: %" PRIu64 "\npairs: %zu\n", t_parse,
                t_solve, r.seed, r.n_pairs);
        fprintf(stderr, "blocking pairs: %zu\n", tdm_assign_blocking_pairs(p, &a->opt, &r));
        tdm_assign_options o = a->opt;
        o.algorithm = TDM_ASSIGN_OPTIMAL;
        if (tdm_assign_solve(p, &o, &opt) == TDM_ASSIGN_OK) {
            fprintf(stderr, "optimal: pairs %zu, total ", opt.n_pairs);
            print_weight(stderr, opt.total_weight, a->decimals, m->saw_decimal);
            fprintf(stderr, ", blocking pairs %zu\nscore given up vs optimal: ",
                    tdm_assign_blocking_pairs(p, &a->opt, &opt));
            print_weight(stderr, opt.total_weight - r.total_weight, a->decimals, m->saw_decimal);
            fputc('\n', stderr);
        }
    }
done:
    tdm_assign_result_free(&r);
    tdm_assign_result_free(&opt);
    tdm_assign_problem_free(p);
    return rc;
}

int main(int argc, char **argv)
{
    cli a = {0};
    if (!parse_args(argc, argv, &a)) {
        usage(stderr);
        return 1;
    }
    double t0 = now();
    size_t len;
    char *buf = read_all(stdin, &len);
    if (buf == NULL) {
        fprintf(stderr, "tandem-assign: cannot read stdin: %s\n", strerror(errno));
        return 2;
    }
    matrix m;
    char err[256];
    bool ok = parse_matrix(buf, len, a.decimals, &m, err, sizeof err);
    free(buf);
    if (!ok) {
        fprintf(stderr, "tandem-assign: %s\n", err);
        free(m.w);
        return 1;
    }
    double t_parse = now() - t0;
    if (a.opt.algorithm != TDM_ASSIGN_OPTIMAL) {
        int rc = run_other(&a, &m, t_parse);
        free(m.w);
        return rc;
    }
    /* One seat per row: rows and columns play symmetric roles, so the row-major matrix
     * is already the solver's mentee-major layout with rows as "mentees". */
    bool swapped = a.capacity == 1;
    tdm_assign_dense d = {m.cols, m.rows, m.w, NULL, NULL};
    uint32_t *cap = NULL;
    int32_t *t = NULL;
    if (!swapped) {
        t = transpose(&m);
        cap = malloc(sizeof *cap * ((size_t)m.rows + 1));
        if (t == NULL || cap == NULL) {
            fprintf(stderr, "tandem-assign: out of memory\n");
            return 2;
        }
        for (uint32_t r = 0; r < m.rows; r++)
            cap[r] = a.capacity;
        d = (tdm_assign_dense){m.rows, m.cols, t, cap, NULL};
    }
    tdm_assign_result r;
    double t1 = now();
    tdm_assign_status st = tdm_assign_solve_dense(&d, &a.opt, &r);
    double t_solve = now() - t1;
    int rc;
    if (st != TDM_ASSIGN_OK) {
        fprintf(stderr, "tandem-assign: %s\n", tdm_assign_strerror(st));
        rc = st == TDM_ASSIGN_E_NOMEM || st == TDM_ASSIGN_E_INTERNAL ? 2 : 1;
    } else {
        rc = print_result(&r, &m, &a, !swapped);
        if (a.stats)
            report_optimal(&a, &m, &r, t_parse, t_solve, swapped);
    }
    tdm_assign_result_free(&r);
    free(t);
    free(cap);
    free(m.w);
    return rc;
}
