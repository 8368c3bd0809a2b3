/* test_gw_aggregate.c - the gateway's merged buffer: parsing pages,
 * dense gateway_sequence, duplicates, eviction by bytes, list rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "aggregate.h"
#include "report.h"
#include "timefmt.h"

/* A transaction-service page with sequences lo..hi; id-<seq> ids (or
 * id-<seq + id_shift>); every 5th an anomaly. */
static char *page(enum bm_svc src, uint64_t lo, uint64_t hi, uint64_t id_shift)
{
    /* events of varied length, so the text ring wraps at odd places */
    static const char pad[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    struct buf b;
    char *out;

    buf_init(&b, 16u * 1024 * 1024);
    assert_int_equal(buf_puts(&b, "{\"events\":["), BM_OK);
    for (uint64_t s = lo; s <= hi; s++)
        assert_int_equal(buf_printf(&b,
                                    "%s{\"%s\":\"id-%llu\",\"sequence\":%llu,"
                                    "\"is_anomaly\":%s,\"anomaly_type\":%s,\"amount\":1.5,"
                                    "\"note\":\"%.*s\"}",
                                    s == lo ? "" : ",",
                                    src == SVC_TRANSACTION ? "transaction_id" : "event_id",
                                    (unsigned long long)(s + id_shift),
                                    (unsigned long long)s, s % 5 == 0 ? "true" : "false",
                                    s % 5 == 0 ? "\"fraud_pattern\"" : "null", (int)(s % 97),
                                    pad),
                         BM_OK);
    assert_int_equal(buf_printf(&b, "],\"count\":%llu,\"next_since\":%llu,\"oldest_sequence\":1}",
                                (unsigned long long)(hi - lo + 1), (unsigned long long)hi),
                     BM_OK);
    out = buf_take(&b, NULL);
    buf_free(&b);
    return out;
}

static void feed_rep(struct gw_agg *a, enum bm_svc src, int rep, uint64_t lo, uint64_t hi,
                     uint64_t shift)
{
    char *text = page(src, lo, hi, shift);
    struct gw_event *ev;
    size_t n;
    uint64_t next;

    assert_int_equal(gw_parse_page(src, text, strlen(text), &ev, &n, &next), BM_OK);
    assert_int_equal(n, hi - lo + 1);
    assert_int_equal(next, hi);
    assert_int_equal(gw_agg_append(a, src, rep, ev, n), BM_OK);
    gw_events_free(ev, n);
    free(text);
}

static void feed(struct gw_agg *a, enum bm_svc src, uint64_t lo, uint64_t hi, uint64_t shift)
{
    feed_rep(a, src, 0, lo, hi, shift);
}

static cJSON *list(struct gw_agg *a, const struct db_list_query *q)
{
    struct buf b;
    cJSON *j;

    buf_init(&b, 64u * 1024 * 1024);
    assert_int_equal(gw_agg_list(a, q, &b), BM_OK);
    j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    buf_free(&b);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k)->valuedouble;
}

static void test_gw_parse_page_rejects_bodies_that_are_not_event_lists(void **state)
{
    static const char *const bad[] = {
        "", "[]", "{\"events\":{}}", "{\"events\":[],\"count\":0}",
        "{\"events\":[{\"sequence\":1}],\"next_since\":1}",             /* no id */
        "{\"events\":[{\"transaction_id\":\"x\"}],\"next_since\":1}",  /* no sequence */
        "{\"events\":[{\"transaction_id\":\"x\",\"sequence\":1.5}],\"next_since\":1}",
        "{\"events\":[1],\"next_since\":1}",
    };
    struct gw_event *ev;
    size_t n;
    uint64_t next;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(gw_parse_page(SVC_TRANSACTION, bad[i], strlen(bad[i]), &ev, &n, &next), BM_OK);
}

static void test_gw_append_gives_dense_sequence_and_tags_source(void **state)
{
    struct gw_agg a;
    struct db_list_query q = { .limit = 1000, .has_since = true, .since = 0 };
    const cJSON *it;
    cJSON *j;
    double prev = 0;

    (void)state;
    assert_int_equal(gw_agg_init(&a, 8u * 1024 * 1024, 1000), BM_OK);
    feed(&a, SVC_TRANSACTION, 1, 10, 0);
    feed(&a, SVC_AUTH, 1, 5, 0); /* same ids, other source: not duplicates */
    j = list(&a, &q);
    assert_int_equal((int)num(j, "count"), 15);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events")) {
        assert_true(num(it, "gateway_sequence") == prev + 1);
        prev = num(it, "gateway_sequence");
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(it, "source")->valuestring,
                            prev <= 10 ? "transaction-service" : "auth-service");
        assert_true(num(it, "amount") == 1.5); /* the service's members are kept */
    }
    assert_int_equal((int)num(j, "next_since"), 15);
    assert_int_equal((int)num(j, "oldest_sequence"), 1);
    cJSON_Delete(j);
    gw_agg_free(&a);
}

static void test_gw_append_drops_events_at_or_below_cursor_and_known_ids(void **state)
{
    struct gw_agg a;
    struct db_list_query q = { .limit = 1000 };
    cJSON *j;

    (void)state;
    assert_int_equal(gw_agg_init(&a, 8u * 1024 * 1024, 1000), BM_OK);
    feed(&a, SVC_TRANSACTION, 1, 10, 0);
    feed(&a, SVC_TRANSACTION, 5, 12, 0);   /* 5..10 again: only 11, 12 are new */
    /* a second replica with its own cursor: same ids under new numbers */
    feed_rep(&a, SVC_TRANSACTION, 1, 1, 3, 9);    /* ids id-10..id-12: all known */
    feed_rep(&a, SVC_TRANSACTION, 1, 4, 4, 9);    /* id-13: new */
    assert_int_equal(a.svc[SVC_TRANSACTION].rep[0].events, 12);
    assert_int_equal(a.svc[SVC_TRANSACTION].rep[1].events, 1);
    assert_int_equal(a.svc[SVC_TRANSACTION].rep[1].cursor, 4);
    j = list(&a, &q);
    assert_int_equal((int)num(j, "count"), 13);
    assert_int_equal((int)num(j, "next_since"), 13);
    assert_int_equal(a.duplicates, 9);
    cJSON_Delete(j);
    gw_agg_free(&a);
}

static void test_gw_buffer_stays_within_bytes_keeping_the_newest(void **state)
{
    struct gw_agg a;
    struct db_list_query q = { .limit = 5 };
    cJSON *j;
    const cJSON *ev;

    (void)state;
    assert_int_equal(gw_agg_init(&a, 64 * 1024, 1000), BM_OK);
    for (uint64_t s = 1; s <= 20000; s += 500)
        feed(&a, SVC_TRANSACTION, s, s + 499, 0);
    assert_true(a.buf.bytes <= 64 * 1024);
    assert_true(a.buf.n > 100 && a.buf.n < 20000);
    j = list(&a, &q);
    ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    assert_int_equal(cJSON_GetArraySize(ev), 5);
    assert_int_equal((int)num(cJSON_GetArrayItem(ev, 0), "gateway_sequence"), 20000);
    assert_int_equal((int)num(cJSON_GetArrayItem(ev, 4), "gateway_sequence"), 19996);
    assert_int_equal((int)num(j, "oldest_sequence"), (int)(20000 - a.buf.n + 1));
    assert_int_equal((int)num(j, "next_since"), 20000);
    cJSON_Delete(j);
    /* the text ring wrapped many times: every buffered event still reads
     * back whole, its own sequence beside its gateway_sequence */
    {
        struct db_list_query all = { .limit = 1000, .has_since = true };
        uint64_t seen = 0;
        all.since = 20000 - a.buf.n;
        for (;;) {
            const cJSON *it;
            j = list(&a, &all);
            assert_non_null(j);
            if (num(j, "count") == 0) {
                cJSON_Delete(j);
                break;
            }
            cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events")) {
                assert_int_equal((int)num(it, "sequence"), (int)num(it, "gateway_sequence"));
                seen++;
            }
            all.since = (uint64_t)num(j, "next_since");
            cJSON_Delete(j);
        }
        assert_int_equal(seen, a.buf.n);
    }
    /* every buffered id is still known after thousands of evictions */
    {
        uint64_t first = 20000 - a.buf.n + 1, n0 = a.buf.n;
        feed_rep(&a, SVC_TRANSACTION, 1, first, 20000, 0);
        assert_int_equal(a.buf.n, n0);
        assert_int_equal(a.buf.last_gseq, 20000);
    }
    gw_agg_free(&a);
}

static void test_gw_list_with_since_pages_oldest_first_and_filters(void **state)
{
    struct gw_agg a;
    struct db_list_query q = { .limit = 3, .has_since = true, .since = 4 };
    struct db_list_query an = { .limit = 1000, .has_since = true, .since = 0,
                                .anomalies_only = true };
    struct db_list_query ty = { .limit = 2, .anomaly_type = "fraud_pattern" };
    const cJSON *ev, *it;
    cJSON *j;

    (void)state;
    assert_int_equal(gw_agg_init(&a, 8u * 1024 * 1024, 1000), BM_OK);
    feed(&a, SVC_TRANSACTION, 1, 20, 0);
    j = list(&a, &q);
    ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    assert_int_equal(cJSON_GetArraySize(ev), 3);
    assert_int_equal((int)num(cJSON_GetArrayItem(ev, 0), "gateway_sequence"), 5);
    assert_int_equal((int)num(j, "next_since"), 7);
    cJSON_Delete(j);

    j = list(&a, &an);
    assert_int_equal((int)num(j, "count"), 4);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events"))
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "is_anomaly")));
    assert_int_equal((int)num(j, "next_since"), 20); /* a filtered poll still advances */
    cJSON_Delete(j);

    j = list(&a, &ty);
    ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    assert_int_equal(cJSON_GetArraySize(ev), 2);
    assert_int_equal((int)num(cJSON_GetArrayItem(ev, 0), "sequence"), 20);
    assert_int_equal((int)num(cJSON_GetArrayItem(ev, 1), "sequence"), 15);
    cJSON_Delete(j);

    assert_int_equal(a.svc[SVC_TRANSACTION].anomalies, 4);
    assert_int_equal(a.svc[SVC_TRANSACTION].by_type[1], 4); /* fraud_pattern is the second type */
    gw_agg_free(&a);
}

static void test_gw_state_is_degraded_when_data_is_older_than_three_intervals(void **state)
{
    struct gw_replica s;

    (void)state;
    memset(&s, 0, sizeof(s));
    s.state = GW_OK;
    s.last_success_mono_us = 1000000;
    assert_int_equal(gw_effective_state(&s, 1000000 + 2999000, 1000), GW_OK);
    assert_int_equal(gw_effective_state(&s, 1000000 + 3001000, 1000), GW_DEGRADED);
    s.state = GW_UNREACHABLE;
    assert_int_equal(gw_effective_state(&s, 1000000, 1000), GW_UNREACHABLE);
}

static void test_gw_replicas_with_different_data_are_all_kept(void **state)
{
    struct gw_agg a;
    struct db_list_query q = { .limit = 1000 };
    struct buf b;
    cJSON *j, *h;
    const cJSON *reps;

    (void)state;
    assert_int_equal(gw_agg_init(&a, 8u * 1024 * 1024, 1000), BM_OK);
    {
        const char *urls[] = { "http://a:1", "http://b:2" };
        assert_int_equal(gw_agg_set_replicas(&a, SVC_TRANSACTION, urls, 2), BM_OK);
    }
    feed_rep(&a, SVC_TRANSACTION, 0, 1, 10, 0);
    feed_rep(&a, SVC_TRANSACTION, 1, 1, 10, 1000); /* same numbers, other ids */
    feed_rep(&a, SVC_TRANSACTION, 0, 5, 11, 0);    /* replica 0 moves on: only 11 is new */
    j = list(&a, &q);
    assert_int_equal((int)num(j, "count"), 21);
    assert_int_equal(a.duplicates, 6);
    assert_int_equal(a.svc[SVC_TRANSACTION].events, 21);
    assert_int_equal(a.svc[SVC_TRANSACTION].rep[0].events, 11);
    assert_int_equal(a.svc[SVC_TRANSACTION].rep[1].events, 10);
    cJSON_Delete(j);

    buf_init(&b, 1 << 20);
    assert_int_equal(gw_agg_system_health(&a, &b), BM_OK);
    h = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(h);
    reps = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(h, "services"),
                                         "transaction-service"),
        "replicas");
    assert_int_equal(cJSON_GetArraySize(reps), 2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(reps, 1), "url")
                            ->valuestring,
                        "http://b:2");
    assert_int_equal((int)num(cJSON_GetArrayItem(reps, 1), "events_received"), 10);
    cJSON_Delete(h);
    buf_free(&b);
    gw_agg_free(&a);
}

static void test_gw_service_state_is_its_best_replica_and_routes_prefer_ok(void **state)
{
    struct gw_agg a;
    int order[GW_REPLICAS_MAX], best = -1;
    int64_t now = 10 * 1000000;
    const char *urls[] = { "http://a:1", "http://b:2", "http://c:3" };

    (void)state;
    assert_int_equal(gw_agg_init(&a, 1 << 20, 1000), BM_OK);
    assert_int_equal(gw_agg_set_replicas(&a, SVC_AUTH, urls, 3), BM_OK);
    (void)gw_agg_mark_failed(&a, SVC_AUTH, 0, GW_UNREACHABLE, "connect: refused");
    (void)gw_agg_mark_failed(&a, SVC_AUTH, 1, GW_DEGRADED, "HTTP status 500");
    (void)gw_agg_mark_failed(&a, SVC_AUTH, 2, GW_UNREACHABLE, "connect: refused");
    assert_int_equal(gw_svc_state(&a.svc[SVC_AUTH], now, 1000, &best), GW_DEGRADED);
    assert_int_equal(best, 1);
    (void)gw_agg_mark_ok(&a, SVC_AUTH, 2, 1, time_mono_us());
    assert_int_equal(gw_svc_state(&a.svc[SVC_AUTH], time_mono_us(), 1000, &best), GW_OK);
    assert_int_equal(best, 2);
    assert_int_equal(gw_route_order(&a, SVC_AUTH, order), 3);
    assert_int_equal(order[0], 2);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 1);
    /* all down: the service is unreachable; every replica is still tried */
    for (int r = 0; r < 3; r++)
        (void)gw_agg_mark_failed(&a, SVC_AUTH, r, GW_UNREACHABLE, "connect: refused");
    assert_int_equal(gw_svc_state(&a.svc[SVC_AUTH], now, 1000, NULL), GW_UNREACHABLE);
    assert_int_equal(gw_route_order(&a, SVC_AUTH, order), 3);
    assert_int_equal(gw_agg_set_replicas(&a, SVC_AUTH, urls, 0), BM_EINVAL);
    gw_agg_free(&a);
}

/* The poller's updates say when there is something to log (it logs after
 * the lock is released): a state or reason that changed, a replica that
 * became ok, a stream that replaced one seen before. */
static void test_gw_replica_updates_say_what_changed(void **state)
{
    struct gw_agg a;
    const char *urls[] = { "http://a:1" };
    struct gw_health h = { .stream_id = "s1", .status = "ok", .head_sequence = 25000 };
    const struct gw_replica *r;
    char *m;

    (void)state;
    assert_int_equal(gw_agg_init(&a, 1 << 20, 1000), BM_OK);
    assert_int_equal(gw_agg_set_replicas(&a, SVC_MONITORING, urls, 1), BM_OK);
    r = &a.svc[SVC_MONITORING].rep[0];
    assert_int_equal(gw_agg_nrep(&a, SVC_MONITORING), 1);
    assert_string_equal(gw_agg_url(&a, SVC_MONITORING, 0), "http://a:1");

    assert_true(gw_agg_mark_failed(&a, SVC_MONITORING, 0, GW_UNREACHABLE, "connect: x"));
    assert_false(gw_agg_mark_failed(&a, SVC_MONITORING, 0, GW_UNREACHABLE, "connect: x"));
    assert_true(gw_agg_mark_failed(&a, SVC_MONITORING, 0, GW_UNREACHABLE, "timeout: y"));
    assert_true(gw_agg_mark_failed(&a, SVC_MONITORING, 0, GW_DEGRADED, "timeout: y"));
    assert_int_equal(r->poll_errors, 4);
    assert_string_equal(r->last_error, "timeout: y");

    assert_true(gw_agg_mark_ok(&a, SVC_MONITORING, 0, 1700000000000, 5));
    assert_false(gw_agg_mark_ok(&a, SVC_MONITORING, 0, 1700000001000, 6));
    assert_int_equal(r->polls, 2);
    assert_int_equal(r->state, GW_OK);
    assert_string_equal(r->last_error, "");
    assert_int_equal(r->last_success_ms, 1700000001000);

    /* first stream: not a restart; the cursor starts a backlog behind */
    assert_false(gw_agg_apply_health(&a, SVC_MONITORING, 0, &h));
    assert_int_equal(gw_agg_cursor(&a, SVC_MONITORING, 0), 25000 - GW_INITIAL_BACKLOG);
    assert_int_equal(r->head_sequence, 25000);
    assert_string_equal(r->health_status, "ok");
    /* same stream further on: the cursor is the poller's, untouched */
    h.head_sequence = 26000;
    assert_false(gw_agg_apply_health(&a, SVC_MONITORING, 0, &h));
    assert_int_equal(gw_agg_cursor(&a, SVC_MONITORING, 0), 25000 - GW_INITIAL_BACKLOG);
    /* a new stream (the service restarted from scratch): restart at 0 */
    memcpy(h.stream_id, "s2", 3);
    h.head_sequence = 40;
    assert_true(gw_agg_apply_health(&a, SVC_MONITORING, 0, &h));
    assert_int_equal(gw_agg_cursor(&a, SVC_MONITORING, 0), 0);
    assert_false(r->cursor_set);

    m = strdup("{\"a\":1}");
    assert_non_null(m);
    gw_agg_adopt_metrics(&a, SVC_MONITORING, 0, m);
    m = strdup("{\"a\":2}");
    assert_non_null(m);
    gw_agg_adopt_metrics(&a, SVC_MONITORING, 0, m); /* the first is freed */
    assert_string_equal(r->metrics_json, "{\"a\":2}");
    gw_agg_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_parse_page_rejects_bodies_that_are_not_event_lists),
        cmocka_unit_test(test_gw_append_gives_dense_sequence_and_tags_source),
        cmocka_unit_test(test_gw_replica_updates_say_what_changed),
        cmocka_unit_test(test_gw_append_drops_events_at_or_below_cursor_and_known_ids),
        cmocka_unit_test(test_gw_buffer_stays_within_bytes_keeping_the_newest),
        cmocka_unit_test(test_gw_list_with_since_pages_oldest_first_and_filters),
        cmocka_unit_test(test_gw_state_is_degraded_when_data_is_older_than_three_intervals),
        cmocka_unit_test(test_gw_replicas_with_different_data_are_all_kept),
        cmocka_unit_test(test_gw_service_state_is_its_best_replica_and_routes_prefer_ok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
