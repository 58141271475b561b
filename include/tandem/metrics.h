/*
 * metrics.h - a Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format (version 0.0.4) for GET /metrics.
 *
 * A family is registered once at start-up with its label names; a series is one
 * combination of label values, found by hashing and created on first use. Updates
 * are plain arithmetic on the loop thread: the registry is not thread-safe, and
 * work-pool threads report through the loop.
 *
 *     static tdm_metric *calls;
 *     calls = tdm_metric_counter(reg, "tandem_rpc_server_calls_total",
 *                                "gRPC calls served", "service,method,code");
 *     tdm_metric_inc(calls, (const char *[]){"enrolment", "Enrol", "OK"});
 */
#ifndef TANDEM_METRICS_H
#define TANDEM_METRICS_H

#include <stddef.h>

typedef struct tdm_metrics tdm_metrics;
typedef struct tdm_metric tdm_metric;

/* The process-wide registry (created on first use). */
tdm_metrics *tdm_metrics_global(void);
tdm_metrics *tdm_metrics_new(void);
void tdm_metrics_free(tdm_metrics *reg);

/* labels: comma-separated label names ("" or NULL for none). Registering a name
 * twice returns the existing family. NULL on allocation failure. */
tdm_metric *tdm_metric_counter(tdm_metrics *reg, const char *name, const char *help,
                               const char *labels);
tdm_metric *tdm_metric_gauge(tdm_metrics *reg, const char *name, const char *help,
                             const char *labels);
/* bounds: ascending upper bounds (seconds for durations); +Inf is implicit. */
tdm_metric *tdm_metric_histogram(tdm_metrics *reg, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t n_bounds);

/* Latency buckets for request durations in seconds (0.5 ms ... 10 s). */
extern const double TDM_METRIC_LATENCY_BUCKETS[];
extern const size_t TDM_METRIC_LATENCY_BUCKETS_COUNT;

/* values: one string per label name, in order (NULL when the family has none). */
void tdm_metric_inc(tdm_metric *m, const char *const *values);
void tdm_metric_add(tdm_metric *m, const char *const *values, double delta);
void tdm_metric_set(tdm_metric *m, const char *const *values, double value);
void tdm_metric_observe(tdm_metric *m, const char *const *values, double value);

/* Render the registry; returns a malloc'd NUL-terminated string (caller frees). */
char *tdm_metrics_render(tdm_metrics *reg, size_t *len);

#endif
