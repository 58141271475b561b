/*
 * test_metrics.c - the Prometheus registry renders valid text exposition:
 * HELP/TYPE lines, escaped label values, cumulative histogram buckets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/metrics.h"

static void counters_and_gauges_render_with_labels(void **state)
{
    (void)state;
    tdm_metrics *reg = tdm_metrics_new();
    tdm_metric *calls = tdm_metric_counter(reg, "calls_total", "Calls served.", "method,code");
    tdm_metric *up = tdm_metric_gauge(reg, "up", "Up.", NULL);
    assert_ptr_equal(calls, tdm_metric_counter(reg, "calls_total", "again", "method,code"));
    tdm_metric_inc(calls, (const char *const[]){"Enrol", "OK"});
    tdm_metric_inc(calls, (const char *const[]){"Enrol", "OK"});
    tdm_metric_add(calls, (const char *const[]){"Get\"x\\y\n", "NOT_FOUND"}, 3);
    tdm_metric_set(up, NULL, 1);
    char *text = tdm_metrics_render(reg, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "# HELP calls_total Calls served.\n# TYPE calls_total counter\n"));
    assert_non_null(strstr(text, "calls_total{method=\"Enrol\",code=\"OK\"} 2\n"));
    assert_non_null(
        strstr(text, "calls_total{method=\"Get\\\"x\\\\y\\n\",code=\"NOT_FOUND\"} 3\n"));
    assert_non_null(strstr(text, "# TYPE up gauge\nup 1\n"));
    /* Families come out in name order. */
    assert_true(strstr(text, "calls_total") < strstr(text, "# HELP up"));
    free(text);
    tdm_metrics_free(reg);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    tdm_metrics *reg = tdm_metrics_new();
    const double bounds[] = {0.1, 1};
    tdm_metric *h = tdm_metric_histogram(reg, "lat_seconds", "Latency.", "m", bounds, 2);
    const char *const v[] = {"a"};
    tdm_metric_observe(h, v, 0.05);
    tdm_metric_observe(h, v, 0.5);
    tdm_metric_observe(h, v, 0.5);
    tdm_metric_observe(h, v, 7);
    char *text = tdm_metrics_render(reg, NULL);
    assert_non_null(strstr(text, "lat_seconds_bucket{m=\"a\",le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{m=\"a\",le=\"1\"} 3\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{m=\"a\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "lat_seconds_sum{m=\"a\"} 8.05"));
    assert_non_null(strstr(text, "lat_seconds_count{m=\"a\"} 4\n"));
    free(text);
    tdm_metrics_free(reg);
}

static void many_series_stay_distinct(void **state)
{
    (void)state;
    tdm_metrics *reg = tdm_metrics_new();
    tdm_metric *c = tdm_metric_counter(reg, "c_total", "C.", "k");
    char key[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 500; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            tdm_metric_inc(c, (const char *const[]){key});
        }
    }
    char *text = tdm_metrics_render(reg, NULL);
    assert_non_null(strstr(text, "c_total{k=\"k0\"} 3\n"));
    assert_non_null(strstr(text, "c_total{k=\"k499\"} 3\n"));
    free(text);
    tdm_metrics_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_and_gauges_render_with_labels),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(many_series_stay_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
