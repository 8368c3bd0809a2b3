/* test_metrics.c - the JSON and Prometheus renderings of a snapshot and
 * reading the JSON back (the gateway re-publishes the services'). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static struct metrics_snapshot sample(const char *service)
{
    struct metrics_snapshot m;

    memset(&m, 0, sizeof(m));
    m.service = service;
    m.uptime_s = 3600;
    m.requests = 123456789012ull;
    m.requests_4xx = 17;
    m.requests_5xx = 2;
    m.latency_p50_ms = 0.125;
    m.latency_p99_ms = 2.5;
    m.generated = 9000000;
    m.anomalies = 270000;
    m.api_events = 5;
    m.head_sequence = 9000005;
    m.rate_configured = 100;
    m.rate_expected = 99.5;
    m.rate_realised = 98.25;
    m.anomaly_rate_configured = 0.03;
    m.anomaly_rate_realised = 0.030125;
    m.db_bytes = 52428800;
    m.db_write_errors = 1;
    m.db_ok = true;
    m.backfilling = false;
    m.rss_bytes = 12000000;
    return m;
}

static void test_metrics_json_reads_back_to_the_same_snapshot(void **state)
{
    struct metrics_snapshot a = sample("auth-service"), b;
    struct buf out;

    (void)state;
    buf_init(&out, 1 << 16);
    assert_int_equal(metrics_json(&a, &out), BM_OK);
    assert_int_equal(metrics_from_json(out.data, out.len, "auth-service", &b), BM_OK);
    assert_string_equal(b.service, "auth-service");
    assert_int_equal(b.uptime_s, a.uptime_s);
    assert_int_equal(b.requests, a.requests);
    assert_int_equal(b.requests_4xx, a.requests_4xx);
    assert_int_equal(b.requests_5xx, a.requests_5xx);
    assert_true(b.latency_p99_ms == a.latency_p99_ms);
    assert_int_equal(b.generated, a.generated);
    assert_int_equal(b.anomalies, a.anomalies);
    assert_int_equal(b.api_events, a.api_events);
    assert_int_equal(b.head_sequence, a.head_sequence);
    assert_true(b.rate_realised == a.rate_realised);
    assert_true(b.anomaly_rate_realised == a.anomaly_rate_realised);
    assert_int_equal(b.db_bytes, a.db_bytes);
    assert_int_equal(b.db_write_errors, a.db_write_errors);
    assert_true(b.db_ok);
    assert_false(b.backfilling);
    assert_int_equal(b.rss_bytes, a.rss_bytes);
    buf_free(&out);
}

static void test_metrics_from_json_rejects_non_objects_and_ignores_bad_members(void **state)
{
    static const char partial[] = "{\"uptime_s\":\"x\",\"requests\":{\"total\":-5},"
                                  "\"events\":[1,2],\"rss_bytes\":1e300}";
    struct metrics_snapshot m;

    (void)state;
    assert_int_equal(metrics_from_json("[1]", 3, "x", &m), BM_EINVAL);
    assert_int_equal(metrics_from_json("{", 1, "x", &m), BM_EINVAL);
    assert_int_equal(metrics_from_json(partial, sizeof(partial) - 1, "x", &m), BM_OK);
    assert_int_equal(m.uptime_s, 0);
    assert_int_equal(m.requests, 0);
    assert_int_equal(m.generated, 0);
    assert_int_equal(m.rss_bytes, 0);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_metrics_prometheus_declares_each_family_once_for_many_processes(void **state)
{
    struct metrics_snapshot a = sample("api-gateway"), b = sample("transaction-service");
    const struct metrics_snapshot *all[] = { &a, &b };
    struct buf out;

    (void)state;
    buf_init(&out, 1 << 16);
    assert_int_equal(metrics_prometheus_n(all, 2, &out), BM_OK);
    assert_int_equal(buf_putc(&out, '\0'), BM_OK);
    assert_int_equal(count_of(out.data, "# TYPE bankmock_requests_total counter\n"), 1);
    assert_int_equal(count_of(out.data, "# HELP bankmock_requests_total "), 1);
    assert_int_equal(count_of(out.data, "bankmock_requests_total{"), 6);
    /* counters exactly, fractions as they are */
    assert_non_null(strstr(out.data, "bankmock_requests_total{service=\"transaction-service\","
                                     "class=\"all\"} 123456789012\n"));
    assert_non_null(strstr(out.data, "bankmock_anomaly_rate{service=\"api-gateway\","
                                     "kind=\"realised\"} 0.030125\n"));
    /* no latency gauge with a quantile label: durations are a histogram */
    assert_null(strstr(out.data, "quantile"));
    assert_null(strstr(out.data, "_ms"));
    buf_free(&out);
}

static void test_metrics_prometheus_durations_are_a_cumulative_histogram(void **state)
{
    struct metrics_snapshot a = sample("api-gateway"), b = sample("transaction-service");
    const struct metrics_snapshot *all[] = { &a, &b };
    struct buf out;

    (void)state;
    a.has_durations = true;
    for (unsigned i = 0; i < HTTP_DUR_BOUNDS; i++)
        a.durations.cum[i] = i < 3 ? 0 : 10 + i;
    a.durations.count = 40;
    a.durations.sum_s = 0.25;
    buf_init(&out, 1 << 16);
    assert_int_equal(metrics_prometheus_n(all, 2, &out), BM_OK);
    assert_int_equal(buf_putc(&out, '\0'), BM_OK);
    assert_int_equal(count_of(out.data, "# TYPE bankmock_http_request_duration_seconds "
                                        "histogram\n"), 1);
    /* only the snapshot that has durations: the first bound is 16 us */
    assert_int_equal(count_of(out.data, "_bucket{"), HTTP_DUR_BOUNDS + 1);
    assert_int_equal(count_of(out.data, "duration_seconds_bucket{service=\"transaction"), 0);
    assert_non_null(strstr(out.data, "bankmock_http_request_duration_seconds_bucket{service=\""
                                     "api-gateway\",le=\"0.000016\"} 0\n"));
    assert_non_null(strstr(out.data, "_bucket{service=\"api-gateway\",le=\"0.000128\"} 13\n"));
    assert_non_null(strstr(out.data, "_bucket{service=\"api-gateway\",le=\"+Inf\"} 40\n"));
    assert_non_null(strstr(out.data, "_sum{service=\"api-gateway\"} 0.250000\n"));
    assert_non_null(strstr(out.data, "_count{service=\"api-gateway\"} 40\n"));
    buf_free(&out);
}

static void test_metrics_format_takes_the_argument_first_then_accept(void **state)
{
    bool text = true;

    (void)state;
    assert_int_equal(metrics_format("json", "text/plain", &text), BM_OK);
    assert_false(text);
    assert_int_equal(metrics_format("prometheus", NULL, &text), BM_OK);
    assert_true(text);
    assert_int_equal(metrics_format("text", "application/json", &text), BM_OK);
    assert_true(text);
    /* anything else is refused, whatever Accept says */
    assert_int_equal(metrics_format("xml", "text/plain", &text), BM_EINVAL);
    assert_int_equal(metrics_format("", NULL, &text), BM_EINVAL);
    assert_int_equal(metrics_format("JSON", NULL, &text), BM_EINVAL);
    /* no argument: Accept decides, case-insensitively, as a prefix */
    assert_int_equal(metrics_format(NULL, "Text/Plain; version=0.0.4", &text), BM_OK);
    assert_true(text);
    assert_int_equal(metrics_format(NULL, "text/plai", &text), BM_OK);
    assert_false(text);
    assert_int_equal(metrics_format(NULL, "application/json", &text), BM_OK);
    assert_false(text);
    assert_int_equal(metrics_format(NULL, NULL, &text), BM_OK);
    assert_false(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_json_reads_back_to_the_same_snapshot),
        cmocka_unit_test(test_metrics_from_json_rejects_non_objects_and_ignores_bad_members),
        cmocka_unit_test(test_metrics_prometheus_declares_each_family_once_for_many_processes),
        cmocka_unit_test(test_metrics_prometheus_durations_are_a_cumulative_histogram),
        cmocka_unit_test(test_metrics_format_takes_the_argument_first_then_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
