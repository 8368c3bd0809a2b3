/* test_gateway_stream.c - the gateway's GET /events/stream end to end:
 * transaction-service and auth-service generating, a gateway merging
 * them, SSE clients on raw sockets (harness_sse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "harness.h"

#define GW_STREAM "/events/stream"

/* At a Tuesday's 10:00 (the shaping's peak, whatever the hour the test
 * runs at), ~500 events/s each: ~1,000 merged events/s, ~0.8 MB/s. */
static const char svc_config[] = "{\"generation_settings\":{\"events_per_second\":300}}";

static struct proc txn, auth;
static char txn_url[64], auth_url[64];

static int services_up(void **state)
{
    static const char *const args[] = { "--seed", "7", "--start-time", "2026-01-06T10:00:00Z",
                                        NULL };

    h_procs_setup(state);
    h_proc_init(&txn, "gwsse-txn");
    h_proc_write_config(&txn, svc_config);
    h_proc_init(&auth, "gwsse-auth");
    h_proc_write_config(&auth, svc_config);
    if (h_proc_start(&txn, "transaction-service", args) != 0 ||
        h_proc_start(&auth, "auth-service", args) != 0)
        return -1;
    snprintf(txn_url, sizeof(txn_url), "http://127.0.0.1:%d", txn.port);
    snprintf(auth_url, sizeof(auth_url), "http://127.0.0.1:%d", auth.port);
    return 0;
}

static int services_down(void **state)
{
    h_proc_finish(&txn);
    h_proc_finish(&auth);
    return h_procs_teardown(state);
}

/* A gateway over the two services, polling every 100 ms; gw_config (or
 * NULL) is its configuration file, extra (or NULL) more flags. */
static void start_gateway(struct proc *gw, const char *tag, const char *gw_config,
                          const char *const *extra)
{
    const char *args[20] = { "--transaction-url", txn_url, "--auth-url", auth_url,
                             "--monitoring-url", NO_UPSTREAM_URL, "--poll-interval-ms", "100" };
    int n = 8;

    for (int i = 0; extra && extra[i] && n < 19; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    h_proc_init(gw, tag);
    if (gw_config)
        h_proc_write_config(gw, gw_config);
    assert_int_equal(h_proc_start_gateway(gw, args), 0);
    /* caught up: the first rounds' backlog (up to 10,000 events of each
     * service) is in before a test's streams open */
    assert_true(h_gw_wait_state(gw->port, "transaction-service", "ok", 10000));
    assert_true(h_gw_wait_state(gw->port, "auth-service", "ok", 10000));
}

static void stop_gateway(struct proc *gw)
{
    assert_int_equal(h_proc_stop(gw, NULL), 0);
    h_proc_cleanup(gw);
}

/* The next message; an event's id (-1 for another message), and its data
 * line's text in data (NUL-terminated), or false on EOF/timeout. */
static bool next_msg(struct h_sse *s, char *msg, size_t cap, long long *id, const char **data,
                     int timeout_ms)
{
    char *d;
    long v = -1;

    if (!h_sse_next(s, msg, cap, timeout_ms))
        return false;
    *id = strncmp(msg, "id: ", 4) == 0 && h_num_at(msg + 4, &v) ? v : -1;
    d = strstr(msg, "data: ");
    *data = d ? d + 6 : "";
    if (d)
        d[6 + strcspn(d + 6, "\n")] = '\0';
    return true;
}

/* Waits until the gateway's /events has events up to gseq min. */
static void wait_gseq(int port, long long min)
{
    for (int i = 0; i < 200; i++) {
        cJSON *p = h_get_json(port, "/events?limit=1");
        long long next = h_jnum(p, "next_since");
        cJSON_Delete(p);
        if (next >= min)
            return;
        h_sleep_ms(50);
    }
    fail_msg("the gateway did not reach gateway_sequence %lld", min);
}

/* VmRSS of pid in KiB, -1 if gone or not found. */
static long rss_kib(pid_t pid)
{
    long kib = -1;

    return h_proc_mem_kib(pid, &kib, NULL) == 0 ? kib : -1;
}

/* Every event /events has, in order, byte for byte, with id =
 * gateway_sequence, from both sources. */
static void test_stream_carries_every_event_of_events_in_order(void **state)
{
    enum { N = 1500 };
    struct proc gw;
    struct h_sse s;
    static char msg[16384];
    static char *got[N];
    long long id, want = 1;
    const char *data;
    struct resp r;
    bool sources[2] = { false, false };
    int n = 0;

    (void)state;
    start_gateway(&gw, "gwsse-all", NULL, NULL);
    assert_int_equal(h_sse_open(&s, gw.port, GW_STREAM "?since=0", NULL, 0), 0);
    while (n < N) {
        if (!next_msg(&s, msg, sizeof(msg), &id, &data, 5000))
            fail_msg("stream ended after %d events", n);
        if (id < 0)
            continue; /* a heartbeat */
        assert_int_equal(id, want);
        got[n++] = strdup(data);
        want++;
    }
    h_sse_close(&s);
    /* the same events from the list, as it serves them */
    for (int at = 0; at < N;) {
        struct span ev[LIST_PAGE];
        char path[96];
        cJSON *page;
        size_t k;
        snprintf(path, sizeof(path), "/events?since=%d&limit=1000", at);
        page = h_get_page(gw.port, path, &r);
        k = h_split_events(r.body, r.len, ev, LIST_PAGE);
        assert_true(k > 0);
        for (size_t i = 0; i < k && at < N; i++, at++) {
            const cJSON *e = cJSON_GetArrayItem(h_events_of(page), (int)i);
            assert_int_equal(h_jnum(e, "gateway_sequence"), at + 1);
            if (strlen(got[at]) != ev[i].n || memcmp(got[at], ev[i].p, ev[i].n) != 0)
                fail_msg("event %d differs:\n stream %.200s\n list   %.200s", at + 1, got[at],
                         ev[i].p);
            sources[strcmp(h_jstr(e, "source"), "auth-service") == 0] = true;
        }
        cJSON_Delete(page);
        h_resp_free(&r);
    }
    assert_true(sources[0] && sources[1]);
    for (int i = 0; i < N; i++)
        free(got[i]);
    stop_gateway(&gw);
}

/* Last-Event-ID (which wins over since) and since resume with no gap and
 * no duplicate; from before the buffer, an event: gap says what is gone. */
static void test_stream_resumes_by_last_event_id_without_gap_or_duplicate(void **state)
{
    struct proc gw, small;
    struct h_sse s;
    char hdr[64], path[64], msg[16384];
    long long id, last = 0;
    const char *data;

    (void)state;
    start_gateway(&gw, "gwsse-resume", NULL, NULL);
    wait_gseq(gw.port, 200);
    /* from now on: the first event is a new one */
    assert_int_equal(h_sse_open(&s, gw.port, GW_STREAM, NULL, 0), 0);
    last = h_sse_next_event(&s, NULL, 5000);
    assert_true(last > 200);
    for (int i = 0; i < 300; i++) {
        id = h_sse_next_event(&s, NULL, 5000);
        assert_int_equal(id, last + 1);
        last = id;
    }
    h_sse_close(&s);
    h_sleep_ms(500); /* events the client missed meanwhile come first */
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", last);
    assert_int_equal(h_sse_open(&s, gw.port, GW_STREAM "?since=1", hdr, 0), 0);
    for (int i = 0; i < 600; i++) {
        id = h_sse_next_event(&s, NULL, 5000);
        assert_int_equal(id, last + 1);
        last = id;
    }
    h_sse_close(&s);
    snprintf(path, sizeof(path), GW_STREAM "?since=%lld", last);
    assert_int_equal(h_sse_open(&s, gw.port, path, NULL, 0), 0);
    for (int i = 0; i < 300; i++) {
        id = h_sse_next_event(&s, NULL, 5000);
        assert_int_equal(id, last + 1);
        last = id;
    }
    h_sse_close(&s);
    stop_gateway(&gw);

    /* a 64 KiB buffer holds ~90 events: 1 is long gone */
    start_gateway(&small, "gwsse-gap", "{\"gateway\":{\"buffer_bytes\":65536}}", NULL);
    wait_gseq(small.port, 1000);
    assert_int_equal(h_sse_open(&s, small.port, GW_STREAM, "Last-Event-ID: 1", 0), 0);
    assert_true(next_msg(&s, msg, sizeof(msg), &id, &data, 5000));
    if (strncmp(msg, "event: gap\n", 11) != 0)
        fail_msg("not a gap: %.200s", msg);
    {
        cJSON *j = cJSON_Parse(data);
        long long oldest = h_jnum(j, "oldest_sequence");
        assert_int_equal(h_jnum(j, "last_sequence"), 1);
        assert_true(oldest > 2);
        cJSON_Delete(j);
        /* then the stream goes on from the oldest kept, without a gap */
        last = h_sse_next_event(&s, NULL, 5000);
        assert_true(last >= oldest);
        for (int i = 0; i < 300; i++) {
            id = h_sse_next_event(&s, NULL, 5000);
            assert_int_equal(id, last + 1);
            last = id;
        }
    }
    h_sse_close(&s);
    stop_gateway(&small);
}

/* The /events filters: the stream holds exactly the events the filtered
 * list holds, and a bad filter is the list's 400. */
static void test_stream_applies_the_events_filters(void **state)
{
    static const char *const filters[] = { "anomalies_only=true", "anomaly_type=brute_force" };
    struct proc gw;
    char path[160], msg[16384];
    long long id;
    const char *data;
    struct resp r;

    (void)state;
    start_gateway(&gw, "gwsse-filter", NULL, NULL);
    wait_gseq(gw.port, 4000);
    for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
        struct h_sse s;
        long long ids[1000], from;
        int n = 0, k = 0;
        long until = h_now_ms() + 3000;
        cJSON *page = h_get_json(gw.port, "/events?limit=1");
        /* 3000 back, well inside the buffer: caught up, then live */
        from = h_jnum(page, "next_since") - 3000;
        cJSON_Delete(page);
        snprintf(path, sizeof(path), GW_STREAM "?since=%lld&%s", from, filters[f]);
        assert_int_equal(h_sse_open(&s, gw.port, path, NULL, 0), 0);
        while (n < 1000 && h_now_ms() < until &&
               next_msg(&s, msg, sizeof(msg), &id, &data, (int)(until - h_now_ms()) + 1)) {
            cJSON *e;
            if (id < 0)
                fail_msg("not an event: %.200s", msg);
            e = cJSON_Parse(data);
            assert_non_null(e);
            assert_int_equal(h_jnum(e, "gateway_sequence"), id);
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly")));
            if (f == 1)
                assert_string_equal(h_jstr(e, "anomaly_type"), "brute_force");
            cJSON_Delete(e);
            ids[n++] = id;
        }
        h_sse_close(&s);
        assert_true(n > 0);
        snprintf(path, sizeof(path), "/events?since=%lld&limit=1000&%s", from, filters[f]);
        page = h_get_page(gw.port, path, &r);
        for (const cJSON *e = h_events_of(page)->child; e && k < n; e = e->next)
            assert_int_equal(h_jnum(e, "gateway_sequence"), ids[k++]);
        assert_int_equal(k, n);
        print_message("%s: %d events, as the list has them\n", filters[f], n);
        cJSON_Delete(page);
        h_resp_free(&r);
    }
    assert_int_equal(h_http_req(gw.port, "GET", GW_STREAM "?anomaly_type=nope", NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"anomaly_type\""));
    h_resp_free(&r);
    assert_int_equal(h_http_req(gw.port, "GET", GW_STREAM "?customer_id=x", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    h_resp_free(&r);
    stop_gateway(&gw);
}

/* A reader that stops reading falls behind the 256 KiB ring: it gets
 * event: overflow naming the last id it was sent and the stream ends,
 * while another reader and the gateway's other endpoints go on. */
static void test_slow_reader_gets_overflow_while_others_are_served(void **state)
{
    /* ~300 merged events: the poller brings ~100 at a time */
    const char *const extra[] = { "--stream-buffer-bytes", "262144", NULL };
    struct proc gw;
    static struct h_sse slow, fast;
    char msg[16384];
    long long id, last = -1, fast_last = -1, first_fast;
    const char *data;
    bool overflow = false, ended = false;

    (void)state;
    start_gateway(&gw, "gwsse-over", NULL, extra);
    assert_int_equal(h_sse_open(&slow, gw.port, GW_STREAM, NULL, 4096), 0);
    assert_int_equal(h_sse_open(&fast, gw.port, GW_STREAM, NULL, 0), 0);
    first_fast = h_sse_next_event(&fast, NULL, 5000);
    assert_true(first_fast > 0);
    fast_last = first_fast;
    /* ~5 MB pass while the slow one does not read; the fast one does */
    for (long until = h_now_ms() + 6000; h_now_ms() < until;) {
        id = h_sse_next_event(&fast, NULL, 5000);
        assert_int_equal(id, fast_last + 1);
        fast_last = id;
    }
    {
        struct resp r;
        assert_int_equal(h_http_req(gw.port, "GET", "/events?limit=5", NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        h_resp_free(&r);
    }
    while (next_msg(&slow, msg, sizeof(msg), &id, &data, 3000)) {
        if (id >= 0) {
            if (last >= 0)
                assert_int_equal(id, last + 1);
            last = id;
        } else if (strncmp(msg, "event: overflow\n", 16) == 0) {
            cJSON *j = cJSON_Parse(data);
            assert_true(last > 0);
            assert_int_equal(h_jnum(j, "last_sequence"), last);
            cJSON_Delete(j);
            overflow = true;
            break;
        }
    }
    assert_true(overflow);
    for (int i = 0; i < 50 && !ended; i++) {
        slow.len = 0;
        ended = h_sse_fill(&slow, 200) == 0;
    }
    assert_true(ended);
    /* the fast reader is still served, without a gap */
    for (int i = 0; i < 200; i++) {
        id = h_sse_next_event(&fast, NULL, 5000);
        assert_int_equal(id, fast_last + 1);
        fast_last = id;
    }
    print_message("slow reader: overflow after id %lld; fast reader: %lld events\n", last,
                  fast_last - first_fast + 1);
    h_sse_close(&slow);
    h_sse_close(&fast);
    stop_gateway(&gw);
}

/* Readers that do not read cost no memory per event: the gateway's RSS
 * stays flat while ~6 MB of events pass them by. */
static void test_rss_stays_flat_with_slow_readers(void **state)
{
    enum { N = 50 };
    /* a full 1 MiB buffer and 256 KiB ring before the first measure */
    const char *const extra[] = { "--stream-buffer-bytes", "262144", NULL };
    struct proc gw;
    static struct h_sse s[N];
    long r1, r2;

    (void)state;
    start_gateway(&gw, "gwsse-rss", "{\"gateway\":{\"buffer_bytes\":1048576}}", extra);
    for (int i = 0; i < N; i++)
        assert_int_equal(h_sse_open(&s[i], gw.port, GW_STREAM, NULL, 4096), 0);
    h_sleep_ms(3000);
    r1 = rss_kib(gw.pid);
    h_sleep_ms(7000);
    r2 = rss_kib(gw.pid);
    print_message("%d readers not reading: RSS %ld KiB, 7 s later %ld KiB\n", N, r1, r2);
    assert_true(r1 > 0 && r2 > 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* shadow memory and ASan's quarantine of freed blocks: RSS says
     * nothing here (90 MB in 7 s under ASan); the plain suite holds it */
    print_message("sanitized build: RSS growth not judged\n");
#else
    assert_true(r2 - r1 < 2048);
#endif
    for (int i = 0; i < N; i++)
        h_sse_close(&s[i]);
    stop_gateway(&gw);
}

/* SIGTERM ends the open streams (reading and stalled ones) and the
 * gateway exits 0 within 2 s (6 s in the sanitizer suites). */
static void test_sigterm_with_streams_open_exits_0_promptly(void **state)
{
    enum { N = 20 };
    struct proc gw;
    static struct h_sse s[N];
    long ms = 0;
    int status;

    (void)state;
    start_gateway(&gw, "gwsse-term", NULL, NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(h_sse_open(&s[i], gw.port, i % 2 ? GW_STREAM : GW_STREAM "?since=0",
                                    NULL, i % 4 == 3 ? 4096 : 0),
                         0);
    for (int i = 0; i < N; i += 2)
        assert_true(h_sse_next_event(&s[i], NULL, 5000) > 0);
    h_sleep_ms(1000);
    status = h_proc_stop(&gw, &ms);
    print_message("stopped with %d streams open in %ld ms\n", N, ms);
    assert_int_equal(status, 0);
    /* the drain's 1 s for the stalled ones, and the rest; a sanitized
     * gateway beside another sanitized suite gets more (2068 ms seen
     * under TSan) */
    if (ms >= (h_test_scale_small() ? 6000 : 2000))
        fail_msg("stopped after %ld ms with %d streams open", ms, N);
    for (int i = 0; i < N; i++)
        h_sse_close(&s[i]);
    h_proc_cleanup(&gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_carries_every_event_of_events_in_order),
        cmocka_unit_test(test_stream_resumes_by_last_event_id_without_gap_or_duplicate),
        cmocka_unit_test(test_stream_applies_the_events_filters),
        cmocka_unit_test(test_slow_reader_gets_overflow_while_others_are_served),
        cmocka_unit_test(test_rss_stays_flat_with_slow_readers),
        cmocka_unit_test(test_sigterm_with_streams_open_exits_0_promptly),
    };
    return cmocka_run_group_tests(tests, services_up, services_down);
}
