/*
 * metrics.c - the Prometheus registry of include/tandem/metrics.h.
 *
 * A family holds its series in an open-addressing hash keyed by the label values
 * joined with a 0x1f separator. Families are few (tens) and registered at start-up;
 * series are created on first use and never removed, so label values must come
 * from bounded sets (method names, status codes, routes - never ids).
 */
#include "tandem/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS           8
#define INITIAL_SERIES_SLOTS 16
#define MAX_BUCKETS          32

const double TDM_METRIC_LATENCY_BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t TDM_METRIC_LATENCY_BUCKETS_COUNT =
    sizeof(TDM_METRIC_LATENCY_BUCKETS) / sizeof(TDM_METRIC_LATENCY_BUCKETS[0]);

typedef enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind;

typedef struct series {
    char *key;               /* label values joined by 0x1f; "" when no labels */
    char **values;           /* n_labels strings */
    double value;            /* counter/gauge; histogram sum */
    uint64_t count;          /* histogram observations */
    uint64_t *bucket_counts; /* histogram: n_bounds (non-cumulative) */
} series;

struct tdm_metric {
    struct tdm_metric *next;
    char *name;
    char *help;
    metric_kind kind;
    size_t n_labels;
    char *label_names[MAX_LABELS];
    double bounds[MAX_BUCKETS];
    size_t n_bounds;
    series **slots; /* open addressing, power-of-two size */
    size_t n_slots;
    size_t n_series;
};

struct tdm_metrics {
    tdm_metric *families; /* registration order reversed; rendered in name order */
};

static tdm_metrics *global_registry;

tdm_metrics *tdm_metrics_new(void)
{
    return calloc(1, sizeof(tdm_metrics));
}

tdm_metrics *tdm_metrics_global(void)
{
    if (global_registry == NULL)
        global_registry = tdm_metrics_new();
    return global_registry;
}

static void series_free(series *s, size_t n_labels)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n_labels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->bucket_counts);
    free(s->key);
    free(s);
}

void tdm_metrics_free(tdm_metrics *reg)
{
    if (reg == NULL)
        return;
    tdm_metric *m = reg->families;
    while (m != NULL) {
        tdm_metric *next = m->next;
        for (size_t i = 0; i < m->n_slots; i++)
            series_free(m->slots[i], m->n_labels);
        free(m->slots);
        for (size_t i = 0; i < m->n_labels; i++)
            free(m->label_names[i]);
        free(m->name);
        free(m->help);
        free(m);
        m = next;
    }
    if (reg == global_registry)
        global_registry = NULL;
    free(reg);
}

static tdm_metric *family_find(tdm_metrics *reg, const char *name)
{
    for (tdm_metric *m = reg->families; m != NULL; m = m->next) {
        if (strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

static tdm_metric *family_new(tdm_metrics *reg, metric_kind kind, const char *name,
                              const char *help, const char *labels)
{
    tdm_metric *existing = family_find(reg, name);
    if (existing != NULL)
        return existing;
    tdm_metric *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->kind = kind;
    m->name = strdup(name);
    m->help = strdup(help != NULL ? help : "");
    m->n_slots = INITIAL_SERIES_SLOTS;
    m->slots = calloc(m->n_slots, sizeof(*m->slots));
    if (labels != NULL && labels[0] != '\0') {
        char *copy = strdup(labels);
        char *save = NULL;
        for (char *tok = copy != NULL ? strtok_r(copy, ",", &save) : NULL;
             tok != NULL && m->n_labels < MAX_LABELS; tok = strtok_r(NULL, ",", &save))
            m->label_names[m->n_labels++] = strdup(tok);
        free(copy);
    }
    m->next = reg->families;
    reg->families = m;
    return m;
}

tdm_metric *tdm_metric_counter(tdm_metrics *reg, const char *name, const char *help,
                               const char *labels)
{
    return family_new(reg, KIND_COUNTER, name, help, labels);
}

tdm_metric *tdm_metric_gauge(tdm_metrics *reg, const char *name, const char *help,
                             const char *labels)
{
    return family_new(reg, KIND_GAUGE, name, help, labels);
}

tdm_metric *tdm_metric_histogram(tdm_metrics *reg, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t n_bounds)
{
    tdm_metric *m = family_new(reg, KIND_HISTOGRAM, name, help, labels);
    if (m != NULL && m->n_bounds == 0) {
        m->n_bounds = n_bounds < MAX_BUCKETS ? n_bounds : MAX_BUCKETS;
        memcpy(m->bounds, bounds, m->n_bounds * sizeof(double));
    }
    return m;
}

/* FNV-1a over the joined key. */
static uint64_t hash_key(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static char *join_values(const tdm_metric *m, const char *const *values)
{
    size_t len = 1;
    for (size_t i = 0; i < m->n_labels; i++)
        len += strlen(values[i] != NULL ? values[i] : "") + 1;
    char *key = malloc(len);
    if (key == NULL)
        return NULL;
    char *p = key;
    for (size_t i = 0; i < m->n_labels; i++) {
        const char *v = values[i] != NULL ? values[i] : "";
        size_t n = strlen(v);
        memcpy(p, v, n);
        p += n;
        *p++ = '\x1f';
    }
    *p = '\0';
    return key;
}

static int grow_slots(tdm_metric *m)
{
    size_t n = m->n_slots * 2;
    series **slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < m->n_slots; i++) {
        series *s = m->slots[i];
        if (s == NULL)
            continue;
        size_t j = hash_key(s->key) & (n - 1);
        while (slots[j] != NULL)
            j = (j + 1) & (n - 1);
        slots[j] = s;
    }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n;
    return 0;
}

static series *series_get(tdm_metric *m, const char *const *values)
{
    if (m == NULL || m->slots == NULL)
        return NULL;
    char stack_key[512];
    char *key = NULL;
    size_t need = 1;
    for (size_t i = 0; i < m->n_labels; i++)
        need += strlen(values[i] != NULL ? values[i] : "") + 1;
    if (need <= sizeof(stack_key)) {
        char *p = stack_key;
        for (size_t i = 0; i < m->n_labels; i++) {
            const char *v = values[i] != NULL ? values[i] : "";
            size_t n = strlen(v);
            memcpy(p, v, n);
            p += n;
            *p++ = '\x1f';
        }
        *p = '\0';
        key = stack_key;
    } else if ((key = join_values(m, values)) == NULL) {
        return NULL;
    }
    size_t i = hash_key(key) & (m->n_slots - 1);
    while (m->slots[i] != NULL) {
        if (strcmp(m->slots[i]->key, key) == 0) {
            if (key != stack_key)
                free(key);
            return m->slots[i];
        }
        i = (i + 1) & (m->n_slots - 1);
    }
    series *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    s->key = key == stack_key ? strdup(key) : key;
    key = NULL;
    s->values = calloc(m->n_labels + 1, sizeof(char *));
    if (m->kind == KIND_HISTOGRAM)
        s->bucket_counts = calloc(m->n_bounds + 1, sizeof(uint64_t));
    if (s->key == NULL || s->values == NULL ||
        (m->kind == KIND_HISTOGRAM && s->bucket_counts == NULL)) {
        series_free(s, 0);
        return NULL;
    }
    for (size_t l = 0; l < m->n_labels; l++)
        s->values[l] = strdup(values[l] != NULL ? values[l] : "");
    m->slots[i] = s;
    m->n_series++;
    if (m->n_series * 2 > m->n_slots)
        grow_slots(m);
    return s;
fail:
    if (key != NULL && key != stack_key)
        free(key);
    return NULL;
}

void tdm_metric_add(tdm_metric *m, const char *const *values, double delta)
{
    series *s = series_get(m, values);
    if (s != NULL)
        s->value += delta;
}

void tdm_metric_inc(tdm_metric *m, const char *const *values)
{
    tdm_metric_add(m, values, 1.0);
}

void tdm_metric_set(tdm_metric *m, const char *const *values, double value)
{
    series *s = series_get(m, values);
    if (s != NULL)
        s->value = value;
}

void tdm_metric_observe(tdm_metric *m, const char *const *values, double value)
{
    series *s = series_get(m, values);
    if (s == NULL || m->kind != KIND_HISTOGRAM)
        return;
    size_t b = 0;
    while (b < m->n_bounds && value > m->bounds[b])
        b++;
    s->bucket_counts[b]++;
    s->count++;
    s->value += value;
}

/* ---- rendering ---------------------------------------------------------------- */

typedef struct out_buf {
    char *data;
    size_t len, cap;
    int failed;
} out_buf;

static void out_append(out_buf *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap == 0 ? 4096 : o->cap;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *grown = realloc(o->data, cap);
        if (grown == NULL) {
            o->failed = 1;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_str(out_buf *o, const char *s)
{
    out_append(o, s, strlen(s));
}

static void out_fmt(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(out_buf *o, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_append(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Label values escape backslash, double quote and newline (exposition format). */
static void out_label_value(out_buf *o, const char *v)
{
    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '\\')
            out_str(o, "\\\\");
        else if (*p == '"')
            out_str(o, "\\\"");
        else if (*p == '\n')
            out_str(o, "\\n");
        else
            out_append(o, p, 1);
    }
}

static void out_number(out_buf *o, double v)
{
    if (isnan(v))
        out_str(o, "NaN");
    else if (isinf(v))
        out_str(o, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 1e15)
        out_fmt(o, "%lld", (long long)v);
    else
        out_fmt(o, "%.17g", v);
}

/* {a="x",b="y"[,le="0.5"]} */
static void out_labels(out_buf *o, const tdm_metric *m, const series *s, const char *le)
{
    if (m->n_labels == 0 && le == NULL)
        return;
    out_str(o, "{");
    for (size_t i = 0; i < m->n_labels; i++) {
        if (i > 0)
            out_str(o, ",");
        out_str(o, m->label_names[i]);
        out_str(o, "=\"");
        out_label_value(o, s->values[i]);
        out_str(o, "\"");
    }
    if (le != NULL) {
        if (m->n_labels > 0)
            out_str(o, ",");
        out_str(o, "le=\"");
        out_str(o, le);
        out_str(o, "\"");
    }
    out_str(o, "}");
}

static int family_cmp(const void *a, const void *b)
{
    const tdm_metric *x = *(const tdm_metric *const *)a;
    const tdm_metric *y = *(const tdm_metric *const *)b;
    return strcmp(x->name, y->name);
}

static void render_family(out_buf *o, const tdm_metric *m)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    out_fmt(o, "# HELP %s ", m->name);
    out_str(o, m->help);
    out_fmt(o, "\n# TYPE %s %s\n", m->name, kinds[m->kind]);
    for (size_t i = 0; i < m->n_slots; i++) {
        const series *s = m->slots[i];
        if (s == NULL)
            continue;
        if (m->kind != KIND_HISTOGRAM) {
            out_str(o, m->name);
            out_labels(o, m, s, NULL);
            out_str(o, " ");
            out_number(o, s->value);
            out_str(o, "\n");
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= m->n_bounds; b++) {
            char le[32];
            if (b < m->n_bounds)
                snprintf(le, sizeof(le), "%g", m->bounds[b]);
            else
                snprintf(le, sizeof(le), "+Inf");
            cumulative += s->bucket_counts[b];
            out_fmt(o, "%s_bucket", m->name);
            out_labels(o, m, s, le);
            out_fmt(o, " %llu\n", (unsigned long long)cumulative);
        }
        out_fmt(o, "%s_sum", m->name);
        out_labels(o, m, s, NULL);
        out_str(o, " ");
        out_number(o, s->value);
        out_fmt(o, "\n%s_count", m->name);
        out_labels(o, m, s, NULL);
        out_fmt(o, " %llu\n", (unsigned long long)s->count);
    }
}

char *tdm_metrics_render(tdm_metrics *reg, size_t *len)
{
    out_buf o = {0};
    size_t n = 0;
    for (tdm_metric *m = reg->families; m != NULL; m = m->next)
        n++;
    tdm_metric **sorted = calloc(n > 0 ? n : 1, sizeof(*sorted));
    if (sorted == NULL)
        return NULL;
    n = 0;
    for (tdm_metric *m = reg->families; m != NULL; m = m->next)
        sorted[n++] = m;
    qsort(sorted, n, sizeof(*sorted), family_cmp);
    out_str(&o, "");
    for (size_t i = 0; i < n; i++)
        render_family(&o, sorted[i]);
    free(sorted);
    if (o.failed) {
        free(o.data);
        return NULL;
    }
    if (len != NULL)
        *len = o.len;
    return o.data;
}
