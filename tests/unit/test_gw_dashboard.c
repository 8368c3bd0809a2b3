/* test_gw_dashboard.c - the dashboard page: served for text/html only,
 * every marker of the template filled, what comes from a polled service
 * escaped, the inline data valid JSON, the whole under 150 KB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "dashboard.h"
#include "timefmt.h"

static void test_gw_dash_wants_html_only_when_accept_names_it(void **st)
{
    (void)st;
    assert_true(gw_dash_wants_html("text/html,application/xhtml+xml,*/*;q=0.8"));
    assert_true(gw_dash_wants_html("application/json;q=0.5, TEXT/HTML"));
    assert_false(gw_dash_wants_html(NULL));
    assert_false(gw_dash_wants_html(""));
    assert_false(gw_dash_wants_html("*/*"));
    assert_false(gw_dash_wants_html("application/json"));
    assert_false(gw_dash_wants_html("text/htm"));
}

static void test_gw_html_escape_escapes_the_five(void **st)
{
    struct buf b;

    (void)st;
    buf_init(&b, 1024);
    assert_int_equal(gw_html_escape(&b, "a<b>&\"c'd"), BM_OK);
    assert_int_equal(buf_putc(&b, '\0'), BM_OK);
    assert_string_equal(b.data, "a&lt;b&gt;&amp;&quot;c&#39;d");
    buf_free(&b);
}

/* Appends n transaction events stamped now, every other an anomaly. */
static void feed_now(struct gw_agg *a, int n)
{
    char ts[TIMEFMT_ISO_LEN + 1];
    struct buf b;
    struct gw_event *ev;
    size_t cnt;
    uint64_t next;

    timefmt_iso(time_now_ms(), ts);
    buf_init(&b, 1024 * 1024);
    assert_int_equal(buf_puts(&b, "{\"events\":["), BM_OK);
    for (int i = 1; i <= n; i++)
        assert_int_equal(buf_printf(&b, "%s{\"transaction_id\":\"t%d\",\"sequence\":%d,"
                                        "\"timestamp\":\"%s\",\"is_anomaly\":%s,"
                                        "\"anomaly_type\":%s}",
                                    i > 1 ? "," : "", i, i, ts, i % 2 ? "true" : "false",
                                    i % 2 ? "\"fraud_pattern\"" : "null"),
                         BM_OK);
    assert_int_equal(buf_printf(&b, "],\"count\":%d,\"next_since\":%d}", n, n), BM_OK);
    assert_int_equal(gw_parse_page(SVC_TRANSACTION, b.data, b.len, &ev, &cnt, &next), BM_OK);
    assert_int_equal(gw_agg_append(a, SVC_TRANSACTION, 0, ev, cnt), BM_OK);
    gw_events_free(ev, cnt);
    buf_free(&b);
}

/* The text between the inline data's script tags, parsed. */
static cJSON *inline_data(const char *page)
{
    static const char open[] = "<script type=\"application/json\" id=\"initial\">";
    const char *s = strstr(page, open), *e;

    assert_non_null(s);
    s += sizeof(open) - 1;
    e = strstr(s, "</script>");
    assert_non_null(e);
    return cJSON_ParseWithLength(s, (size_t)(e - s));
}

static void test_gw_dash_page_fills_every_marker_and_escapes_service_text(void **st)
{
    static struct gw_agg a;
    const char *urls[] = { "http://127.0.0.1:1" };
    struct buf b;
    cJSON *data, *ev;
    double sum = 0;

    (void)st;
    assert_int_equal(gw_agg_init(&a, 1024 * 1024, 1000), BM_OK);
    for (int s = 0; s < SVC_NSOURCES; s++)
        assert_int_equal(gw_agg_set_replicas(&a, (enum bm_svc)s, urls, 1), BM_OK);
    (void)gw_agg_mark_failed(&a, SVC_AUTH, 0, GW_UNREACHABLE, "<script>alert(\"x\")</script>&");
    feed_now(&a, 6);
    buf_init(&b, 1024 * 1024);
    assert_int_equal(gw_dash_page(&a, &b), BM_OK);
    assert_int_equal(buf_putc(&b, '\0'), BM_OK);
    assert_true(b.len < 150 * 1024);
    assert_null(strstr(b.data, "<!--@"));
    assert_non_null(strstr(b.data, "<!DOCTYPE html>"));
    assert_non_null(strstr(b.data, "prefers-color-scheme")); /* the stylesheet */
    assert_non_null(strstr(b.data, "\"use strict\";"));       /* the script */
    /* the summary: the failed service unreachable, its reason escaped */
    assert_non_null(strstr(b.data, "<span class=\"badge\" data-state=\"unreachable\">"));
    assert_non_null(strstr(b.data, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"));
    assert_null(strstr(b.data, "<script>alert"));
    data = inline_data(b.data);
    assert_non_null(data);
    ev = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(data, "history"),
                                         "events"),
        "transaction-service");
    assert_int_equal(cJSON_GetArraySize(ev), GW_HIST_SECS);
    for (int i = GW_HIST_SECS - 3; i < GW_HIST_SECS; i++)
        sum += cJSON_GetArrayItem(ev, i)->valuedouble;
    assert_true(sum == 6);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(data, "dashboard"), "services"));
    cJSON_Delete(data);
    buf_free(&b);
    gw_agg_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_dash_wants_html_only_when_accept_names_it),
        cmocka_unit_test(test_gw_html_escape_escapes_the_five),
        cmocka_unit_test(test_gw_dash_page_fills_every_marker_and_escapes_service_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
