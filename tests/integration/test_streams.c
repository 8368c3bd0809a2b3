/* test_streams.c - server-sent events, list formats, gzip, filters,
 * export and CORS on transaction-service, end to end. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <zlib.h>

#include "harness.h"
#include "http_client.h"

#define TXN "transaction-service"
#define STREAM "/transactions/events/stream"

/* A fast flat stream with a backfill to resume into. */
static const char fast_config[] =
    "{\"generation_settings\":{\"events_per_second\":2000}}";

static void start_at(struct proc *p, const char *tag, const char *config,
                     const char *const *extra);

static void start_fast(struct proc *p, const char *tag, const char *const *extra)
{
    start_at(p, tag, fast_config, extra);
}

static void start_at(struct proc *p, const char *tag, const char *config,
                     const char *const *extra)
{
    /* a Tuesday's morning peak: 3000 events/s */
    const char *args[16] = { "--seed", "11", "--start-time", "2026-01-06T10:00:00Z",
                             "--backfill", "2m" };
    int n = 6;

    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    h_proc_start_backfilled(p, tag, TXN, config, args, 60000);
}

static void test_sse_resumes_by_last_event_id_and_since_without_gap_or_duplicate(void **state)
{
    struct proc p;
    struct h_sse s;
    char path[128], hdr[64];
    long long head, id, last;

    /* a ring of ~5 s: a loaded test machine does not overflow this reader */
    const char *const extra[] = { "--stream-buffer-bytes", "16777216", NULL };

    (void)state;
    start_fast(&p, "sseresume", extra);
    head = h_health_head(p.port);
    assert_true(head > 500);
    snprintf(path, sizeof(path), STREAM "?since=%lld", head - 400);
    assert_int_equal(h_sse_open(&s, p.port, path, NULL, 0), 0);
    last = head - 400;
    /* from the database (catch-up) into the live ring */
    for (int i = 0; i < 600; i++) {
        cJSON *d = NULL;
        id = h_sse_next_event(&s, &d, 5000);
        assert_int_equal(id, last + 1);
        assert_non_null(d);
        assert_int_equal(h_jnum(d, "sequence"), id);
        cJSON_Delete(d);
        last = id;
    }
    h_sse_close(&s);
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", last);
    /* the header wins over since */
    assert_int_equal(h_sse_open(&s, p.port, STREAM "?since=1", hdr, 0), 0);
    for (int i = 0; i < 300; i++) {
        id = h_sse_next_event(&s, NULL, 5000);
        assert_int_equal(id, last + 1);
        last = id;
    }
    h_sse_close(&s);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void test_sse_applies_the_list_filters(void **state)
{
    struct proc p;
    struct h_sse s;
    char path[160];
    const char *cust;
    cJSON *page, *ev;
    int seen = 0;

    (void)state;
    start_fast(&p, "ssefilter", NULL);
    assert_true(h_sse_open(&s, p.port, STREAM "?since=0&anomalies_only=true", NULL, 0) == 0);
    for (int i = 0; i < 20; i++) {
        cJSON *d = NULL;
        assert_true(h_sse_next_event(&s, &d, 5000) > 0);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "is_anomaly")));
        cJSON_Delete(d);
    }
    h_sse_close(&s);
    page = h_get_json(p.port, "/transactions/events?limit=1");
    ev = cJSON_GetArrayItem(h_events_of(page), 0);
    cust = h_jstr(ev, "customer_id");
    assert_non_null(cust);
    snprintf(path, sizeof(path), STREAM "?since=0&customer_id=%s", cust);
    assert_true(h_sse_open(&s, p.port, path, NULL, 0) == 0);
    for (;;) {
        cJSON *d = NULL;
        if (h_sse_next_event(&s, &d, 1500) < 0)
            break;
        assert_string_equal(h_jstr(d, "customer_id"), cust);
        cJSON_Delete(d);
        seen++;
    }
    assert_true(seen >= 1);
    h_sse_close(&s);
    cJSON_Delete(page);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void test_sse_sends_a_comment_heartbeat_when_idle(void **state)
{
    /* a ring of ~5 s: a worker slow to take up its resumed stream on a
     * loaded machine does not overflow this reader */
    const char *const extra[] = { "--stream-heartbeat-ms", "300", "--stream-buffer-bytes",
                                  "16777216", NULL };
    struct proc p;
    struct h_sse s;
    char msg[512];
    long t0;

    (void)state;
    start_fast(&p, "ssehb", extra);
    assert_true(h_sse_open(&s, p.port, STREAM "?customer_id=CUST_NOBODY", NULL, 0) == 0);
    t0 = h_now_ms();
    assert_true(h_sse_next(&s, msg, sizeof(msg), 2000));
    if (msg[0] != ':')
        fail_msg("not a comment: %.200s", msg);
    assert_true(h_now_ms() - t0 < 1500);
    assert_true(h_sse_next(&s, msg, sizeof(msg), 2000));
    assert_true(msg[0] == ':');
    h_sse_close(&s);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* Also: the end reaches the client at once. Idle kept-alive connections
 * opened before the stream must not hold its socket open (libmicrohttpd
 * frees the connection the stream left from its timeout list, which it
 * scans from the oldest idle one: before the fix, EOF came ~8 s late). */
static void test_sse_reader_that_stops_reading_gets_overflow_and_the_stream_ends(void **state)
{
    enum { KEPT = 4 };
    const char *const extra[] = { "--stream-buffer-bytes", "65536", "--idle-timeout-s", "30",
                                  NULL };
    struct proc p;
    struct h_sse s;
    char msg[8192];
    long long last = -1;
    bool overflow = false, ended = false;
    int kept[KEPT];
    long t_over, t_end = -1;

    (void)state;
    /* 300 events/s, ~200 KB/s: the 64 KiB ring holds ~0.3 s of them */
    start_at(&p, "sseover", "{\"generation_settings\":{\"events_per_second\":200}}", extra);
    for (int i = 0; i < KEPT; i++) {
        static const char req[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        kept[i] = h_tcp_connect_loopback(p.port);
        assert_true(kept[i] >= 0);
        assert_int_equal(write(kept[i], req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
        assert_int_equal(h_raw_read(kept[i], msg, sizeof(msg), 5000, false), 200);
    }
    assert_true(h_sse_open(&s, p.port, STREAM, NULL, 4096) == 0);
    h_sleep_ms(6000); /* ~1.2 MB: far past the ring and the socket buffers */
    while (h_sse_next(&s, msg, sizeof(msg), 3000)) {
        if (getenv("BM_DEBUG_SSE"))
            fprintf(stderr, "msg: %.60s\n", msg);
        if (strncmp(msg, "id: ", 4) == 0) {
            long id = -1;
            assert_true(h_num_at(msg + 4, &id));
            if (last >= 0)
                assert_int_equal(id, last + 1);
            last = id;
        } else if (strncmp(msg, "event: overflow", 15) == 0) {
            const char *d = strstr(msg, "data: ");
            cJSON *j;
            assert_non_null(d);
            j = cJSON_Parse(d + 6);
            assert_true(last > 0); /* some came before the reader stalled */
            assert_int_equal(h_jnum(j, "last_sequence"), last);
            cJSON_Delete(j);
            overflow = true;
            break;
        }
    }
    assert_true(overflow);
    t_over = h_now_ms();
    /* then the server ends the stream (HTTP/1.0: it closes) */
    for (int i = 0; i < 50 && !ended; i++) {
        s.len = 0;
        ended = h_sse_fill(&s, 200) == 0;
    }
    if (ended)
        t_end = h_now_ms();
    assert_true(ended);
    print_message("EOF %ld ms after the overflow notice\n", t_end - t_over);
    assert_true(t_end - t_over < 3000);
    h_sse_close(&s);
    for (int i = 0; i < KEPT; i++)
        close(kept[i]);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static long long prom_value(int port, const char *name);

static long long rss_of(int port)
{
    cJSON *m = h_get_json(port, "/metrics");
    cJSON *proc = cJSON_GetObjectItemCaseSensitive(m, "process");
    long long v = h_jnum(proc ? proc : m, "rss_bytes");
    cJSON_Delete(m);
    return v;
}

static void test_sse_rss_stays_flat_with_many_streams(void **state)
{
    enum { N = 200 };
    struct proc p;
    static struct h_sse s[N];
    long long r1 = 0, r2;

    (void)state;
    start_fast(&p, "sserss", NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(h_sse_open(&s[i], p.port, STREAM, NULL, 0), 0);
    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < N; i++) {
            s[i].len = 0;
            (void)h_sse_fill(&s[i], 0);
        }
        h_sleep_ms(50);
        if (round == 10)
            r1 = rss_of(p.port);
    }
    r2 = rss_of(p.port);
    /* 20 rounds later (~2000 events to each of 200 streams) */
    assert_true(r1 > 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* ASan's quarantine keeps every freed block (a slow reader's carry of
     * what its full socket did not take): RSS says nothing here; the plain
     * suite holds it */
    print_message("sanitized build: RSS growth not judged (%lld KiB)\n", (r2 - r1) / 1024);
#else
    assert_true(r2 - r1 < 2 * 1024 * 1024);
#endif
    for (int i = 0; i < N; i++)
        h_sse_close(&s[i]);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* Reads every stream once (what has come, no waiting), rounds times,
 * ms apart. */
static void read_rounds(struct h_sse *s, int n, int rounds, int ms)
{
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < n; i++) {
            s[i].len = 0;
            (void)h_sse_fill(&s[i], 0);
        }
        h_sleep_ms(ms);
    }
}

/* Reads each stream until its response head is in (h_sse_open only sends
 * the request): true if all are within timeout_ms. */
static bool heads_in(struct h_sse *s, int n, long timeout_ms)
{
    long until = h_now_ms() + timeout_ms;

    for (int i = 0; i < n; i++) {
        s[i].len = 0;
        while (!memmem(s[i].buf, s[i].len, "\r\n\r\n", 4)) {
            if (h_now_ms() > until || h_sse_fill(&s[i], 100) == 0)
                return false;
        }
    }
    return true;
}

/* A stream leaves libmicrohttpd once its head is sent: what it holds then
 * is its cursor and filter (848 bytes) and its share of the senders'
 * heaps, not a connection's 16 KiB pool and state (which each stream kept
 * before: ~16.5 KiB, so the bench's 1,000 streams took 28-34 MB). Here
 * 200 streams cost 3.6-5.2 KiB each, the senders' fixed costs (catch-up
 * buffers, arena headers) included; 1,000 cost ~1.4 KiB each. The ring is
 * kept small and filled by a first stream before the baseline, so only
 * the streams' own cost is measured. */
static void test_sse_stream_costs_a_kib_not_a_connection(void **state)
{
    enum { N = 200 };
    const char *const extra[] = { "--stream-buffer-bytes", "262144", NULL };
    struct proc p;
    static struct h_sse first, s[N];
    long long r0, r1, per;

    (void)state;
    /* ~120 KB/s: the ring is full of events within 2.2 s, and holds 2 s */
    start_at(&p, "ssecost", "{\"generation_settings\":{\"events_per_second\":200}}", extra);
    assert_int_equal(h_sse_open(&first, p.port, STREAM, NULL, 0), 0);
    read_rounds(&first, 1, 60, 50);
    r0 = rss_of(p.port);
    for (int i = 0; i < N; i++)
        assert_int_equal(h_sse_open(&s[i], p.port, STREAM, NULL, 0), 0);
    assert_true(heads_in(s, N, 10000));
    /* 1.5 s: every stream live, and the heap's quiet-spell trim done */
    for (int round = 0; round < 30; round++) {
        read_rounds(&first, 1, 1, 0);
        read_rounds(s, N, 1, 50);
    }
    assert_int_equal(prom_value(p.port, "bankmock_streams_open"), N + 1);
    r1 = rss_of(p.port);
    per = (r1 - r0) / N;
    print_message("%d streams: RSS %lld -> %lld KiB, %lld bytes a stream\n", N, r0 / 1024,
                  r1 / 1024, per);
    assert_true(r0 > 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    print_message("sanitized build: the cost is not judged\n");
#else
    assert_true(per < 8192); /* half a connection's pool */
#endif
    for (int i = 0; i < N; i++)
        h_sse_close(&s[i]);
    h_sse_close(&first);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* A taken stream still holds its place under --max-connections until it
 * ends; the place comes back when the client hangs up. */
static void test_sse_streams_count_under_the_connection_cap(void **state)
{
    enum { CAP = 40 };
    const char *const extra[] = { "--max-connections", "40", NULL };
    struct proc p;
    static struct h_sse s[CAP];
    struct resp r;
    long status = 0;

    (void)state;
    /* slow enough that no stream falls behind the ring while the others open */
    start_at(&p, "ssecap", "{\"generation_settings\":{\"events_per_second\":100}}", extra);
    for (int i = 0; i < CAP; i++)
        assert_int_equal(h_sse_open(&s[i], p.port, STREAM, NULL, 0), 0);
    assert_true(heads_in(s, CAP, 10000));
    read_rounds(s, CAP, 5, 50);
    assert_int_equal(h_http_req(p.port, "GET", "/health", NULL, NULL, &r), 0);
    if (r.status != 503) {
        /* a place was free: only if a stream had ended (seen once under
         * TSan in CI, cause not known: this says how many) */
        int ended = 0;
        for (int i = 0; i < CAP; i++) {
            s[i].len = 0;
            ended += h_sse_fill(&s[i], 0) == 0;
        }
        print_message("/health got %ld with %d of %d streams ended\n", r.status, ended, CAP);
        assert_true(ended > 0);
    }
    h_resp_free(&r);
    h_sse_close(&s[0]);
    for (int i = 0; i < 50 && status != 200; i++) {
        read_rounds(s + 1, CAP - 1, 1, 100);
        if (h_http_req(p.port, "GET", "/health", NULL, NULL, &r) == 0) {
            status = r.status;
            h_resp_free(&r);
        }
    }
    assert_int_equal(status, 200);
    for (int i = 1; i < CAP; i++)
        h_sse_close(&s[i]);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* A client whose socket takes nothing for the idle timeout is closed: not
 * before (the socket is full from the first second; the timeout counts
 * from then), and not never. It never reads again, so the ring overtaking
 * it is never reported: no overflow is counted. */
static void test_sse_stalled_client_is_closed_after_the_idle_timeout(void **state)
{
    const char *const extra[] = { "--idle-timeout-s", "4", NULL };
    struct proc p;
    static struct h_sse s;
    long long open = -1;
    long t0, took;

    (void)state;
    start_at(&p, "ssestuck", "{\"generation_settings\":{\"events_per_second\":300}}", extra);
    t0 = h_now_ms();
    assert_int_equal(h_sse_open(&s, p.port, STREAM, NULL, 4096), 0);
    assert_true(heads_in(&s, 1, 3000));
    assert_int_equal(prom_value(p.port, "bankmock_streams_open"), 1);
    for (int i = 0; i < 150 && open != 0; i++) {
        h_sleep_ms(100);
        open = prom_value(p.port, "bankmock_streams_open");
    }
    took = h_now_ms() - t0;
    print_message("a reader that reads nothing: closed after %ld ms\n", took);
    assert_int_equal(open, 0);
    assert_true(took >= 3900);
    assert_int_equal(prom_value(p.port, "bankmock_stream_overflows_total"), 0);
    h_sse_close(&s);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* A sample of the service's Prometheus text, -1 if absent. */
static long long prom_value(int port, const char *name)
{
    struct resp r;
    long long v = -1;
    const char *at;

    if (h_http_req(port, "GET", "/metrics?format=prometheus", NULL, NULL, &r) != 0)
        return -1;
    at = r.body ? strstr(r.body, name) : NULL;
    while (at && at[strlen(name)] != '{')
        at = strstr(at + 1, name);
    if (at && (at = strchr(at, '}')) != NULL) {
        long n;
        if (h_num_at(at + 2, &n))
            v = n;
    }
    h_resp_free(&r);
    return v;
}

/* Reads every live stream until each has an event at or past want. */
static bool live_reach(struct h_sse *s, int n, long long want, long timeout_ms)
{
    static long long last[64];
    long until = h_now_ms() + timeout_ms;
    bool all = false;

    while (!all && h_now_ms() < until) {
        all = true;
        for (int i = 0; i < n; i++) {
            while (last[i] < want) {
                long long id = h_sse_next_event(&s[i], NULL, 50);
                if (id < 0)
                    break;
                last[i] = id;
            }
            all = all && last[i] >= want;
        }
    }
    for (int i = 0; i < n && !all; i++)
        if (last[i] < want)
            fprintf(stderr, "reader %d: at %lld, owed %lld\n", i, last[i], want);
    return all;
}

static void test_sse_stalled_reader_does_not_delay_others_and_idle_streams_sleep(void **state)
{
    enum { LIVE = 8, IDLE = 16 };
    struct proc p;
    static struct h_sse stalled, live[LIVE], idle[IDLE]; /* large: not on the stack */
    long long r1, r2;
    long worst = 0;

    (void)state;
    /* ~300 events/s, ~180 KB/s: the stalled reader's socket fills within a
     * second and stays full; slow enough that this one thread reads the
     * others on a loaded machine */
    start_at(&p, "ssestall", "{\"generation_settings\":{\"events_per_second\":300}}", NULL);
    assert_int_equal(h_sse_open(&stalled, p.port, STREAM, NULL, 4096), 0);
    for (int i = 0; i < LIVE; i++)
        assert_int_equal(h_sse_open(&live[i], p.port, STREAM, NULL, 0), 0);
    for (int i = 0; i < IDLE; i++)
        assert_int_equal(h_sse_open(&idle[i], p.port, STREAM "?customer_id=CUST_NOBODY", NULL,
                                    0), 0);
    assert_true(live_reach(live, LIVE, h_health_head(p.port), 10000));
    /* with the stalled one full: every live reader has each newest event soon */
    for (int round = 0; round < 10; round++) {
        long long head = h_health_head(p.port);
        long t0 = h_now_ms(), took;
        assert_true(head > 0);
        assert_true(live_reach(live, LIVE, head, 5000));
        took = h_now_ms() - t0;
        worst = took > worst ? took : worst;
        h_sleep_ms(100);
    }
    fprintf(stderr, "%d readers beside a stalled one: slowest round %ld ms\n", LIVE, worst);
    assert_true(worst < (h_test_scale_small() ? 3000 : 1000));
    h_sse_close(&stalled);
    for (int i = 0; i < LIVE; i++)
        h_sse_close(&live[i]);
    /* only the idle streams now (their filter takes nothing): events keep
     * coming, ~20 commits a second, and not one wakes them */
    h_sleep_ms(500);
    assert_int_equal(prom_value(p.port, "bankmock_streams_open"), IDLE);
    r1 = prom_value(p.port, "bankmock_stream_resumes_total");
    h_sleep_ms(2000);
    r2 = prom_value(p.port, "bankmock_stream_resumes_total");
    fprintf(stderr, "%d idle streams: %lld resumes in 2 s\n", IDLE, r2 - r1);
    assert_true(r1 >= 0);
    assert_true(r2 - r1 < IDLE); /* woken per tick would be thousands */
    for (int i = 0; i < IDLE; i++)
        h_sse_close(&idle[i]);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* ------------------------------------------------------------------ */

static void test_ndjson_and_csv_lists_hold_the_same_events_as_json(void **state)
{
    struct proc p;
    struct resp r, rn, rc;
    const char *const nd[] = { "Accept: application/x-ndjson", NULL };
    cJSON *j;
    size_t lines = 0;
    char *line, *save = NULL;

    (void)state;
    start_fast(&p, "formats", NULL);
    j = h_get_page(p.port, "/transactions/events?since=0&limit=50", &r);
    assert_int_equal(h_http_req(p.port, "GET", "/transactions/events?since=0&limit=50", NULL, nd,
                                &rn), 0);
    assert_int_equal(rn.status, 200);
    assert_non_null(strstr(rn.ctype, "application/x-ndjson"));
    for (line = strtok_r(rn.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *e = cJSON_Parse(line);
        assert_non_null(e);
        assert_int_equal(h_jnum(e, "sequence"),
                         h_jnum(cJSON_GetArrayItem(h_events_of(j), (int)lines), "sequence"));
        cJSON_Delete(e);
        lines++;
    }
    assert_int_equal(lines, 50);
    assert_int_equal(h_http_req(p.port, "GET", "/transactions/events?since=0&limit=50&format=csv",
                                NULL, NULL, &rc), 0);
    assert_int_equal(rc.status, 200);
    assert_non_null(strstr(rc.ctype, "text/csv"));
    assert_true(strncmp(rc.body, "transaction_id,timestamp,sequence,", 34) == 0);
    assert_non_null(strstr(rc.body, ",location.country,location.city,"));
    lines = 0;
    for (char *q = rc.body; (q = strstr(q, "\r\n")) != NULL; q += 2)
        lines++;
    assert_int_equal(lines, 51);
    h_resp_free(&rc);
    /* no events: still the header row, from the service's known columns */
    assert_int_equal(h_http_req(p.port, "GET",
                                "/transactions/events?customer_id=CUST_NOBODY&format=csv", NULL,
                                NULL, &rc), 0);
    assert_int_equal(rc.status, 200);
    assert_true(strncmp(rc.body, "transaction_id,timestamp,sequence,", 34) == 0);
    assert_string_equal(strstr(rc.body, ",origin\r\n"), ",origin\r\n"); /* and nothing after */
    cJSON_Delete(j);
    h_resp_free(&r);
    h_resp_free(&rn);
    h_resp_free(&rc);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void test_gzip_decodes_to_the_same_bytes(void **state)
{
    struct proc p;
    struct resp plain, gz;
    const char *const ae[] = { "Accept-Encoding: gzip", NULL };
    const char *paths[] = { "/transactions/events?since=0&limit=200",
                            "/transactions/events?since=0&limit=200&format=csv" };

    (void)state;
    start_fast(&p, "gzip", NULL);
    for (size_t k = 0; k < 2; k++) {
        z_stream z;
        unsigned char *out = malloc(4 << 20);
        assert_non_null(out);
        assert_int_equal(h_http_req(p.port, "GET", paths[k], NULL, NULL, &plain), 0);
        assert_int_equal(h_http_req(p.port, "GET", paths[k], NULL, ae, &gz), 0);
        assert_int_equal(gz.status, 200);
        assert_true(gz.len < plain.len / 2);
        memset(&z, 0, sizeof(z));
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (unsigned char *)gz.body;
        z.avail_in = (unsigned)gz.len;
        z.next_out = out;
        z.avail_out = 4 << 20;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.total_out, plain.len);
        assert_memory_equal(out, plain.body, plain.len);
        inflateEnd(&z);
        free(out);
        h_resp_free(&plain);
        h_resp_free(&gz);
    }
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void expect_400(int port, const char *path, const char *field)
{
    struct resp r;
    cJSON *j, *err;

    assert_int_equal(h_http_req(port, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    j = cJSON_Parse(r.body);
    err = cJSON_GetObjectItemCaseSensitive(j, "error");
    assert_string_equal(h_jstr(err, "field"), field);
    cJSON_Delete(j);
    h_resp_free(&r);
}

static void test_filters_narrow_the_list_and_bad_input_is_400(void **state)
{
    struct proc p;
    cJSON *all, *some, *e;
    char path[256], from[32], to[32];
    int n;

    (void)state;
    start_fast(&p, "filters", NULL);
    expect_400(p.port, "/transactions/events?from=yesterday", "from");
    expect_400(p.port, "/transactions/events?to=2026-13-01T00:00:00Z", "to");
    expect_400(p.port, "/transactions/events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
               "from");
    expect_400(p.port, "/transactions/events?format=xml", "format");
    expect_400(p.port, "/transactions/events?username=bob", "username");
    expect_400(p.port, STREAM "?from=x", "from");
    expect_400(p.port, "/transactions/export?format=yaml", "format");

    all = h_get_json(p.port, "/transactions/events?since=0&limit=1000");
    n = cJSON_GetArraySize(h_events_of(all));
    assert_true(n > 300);
    snprintf(from, sizeof(from), "%s", h_jstr(cJSON_GetArrayItem(h_events_of(all), 100), "timestamp"));
    snprintf(to, sizeof(to), "%s", h_jstr(cJSON_GetArrayItem(h_events_of(all), 200), "timestamp"));
    snprintf(path, sizeof(path), "/transactions/events?since=0&limit=1000&from=%s&to=%s", from, to);
    some = h_get_json(p.port, path);
    cJSON_ArrayForEach(e, h_events_of(some)) {
        assert_true(strcmp(h_jstr(e, "timestamp"), from) >= 0);
        assert_true(strcmp(h_jstr(e, "timestamp"), to) < 0);
    }
    assert_true(cJSON_GetArraySize(h_events_of(some)) >= 90);
    cJSON_Delete(some);
    snprintf(path, sizeof(path), "/transactions/events?customer_id=%s",
             h_jstr(cJSON_GetArrayItem(h_events_of(all), 0), "customer_id"));
    some = h_get_json(p.port, path);
    assert_true(cJSON_GetArraySize(h_events_of(some)) >= 1);
    cJSON_ArrayForEach(e, h_events_of(some))
        assert_string_equal(h_jstr(e, "customer_id"),
                            h_jstr(cJSON_GetArrayItem(h_events_of(all), 0), "customer_id"));
    cJSON_Delete(some);
    cJSON_Delete(all);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void test_export_of_a_time_range_equals_the_list_of_that_range(void **state)
{
    struct proc p;
    cJSON *all, *list, *exp;
    struct resp r;
    char path[256], from[32], to[32];

    (void)state;
    start_fast(&p, "export", NULL);
    all = h_get_json(p.port, "/transactions/events?since=0&limit=1000");
    snprintf(from, sizeof(from), "%s", h_jstr(cJSON_GetArrayItem(h_events_of(all), 10), "timestamp"));
    snprintf(to, sizeof(to), "%s", h_jstr(cJSON_GetArrayItem(h_events_of(all), 900), "timestamp"));
    snprintf(path, sizeof(path), "/transactions/events?since=0&limit=1000&from=%s&to=%s", from, to);
    list = h_get_json(p.port, path);
    snprintf(path, sizeof(path), "/transactions/export?from=%s&to=%s", from, to);
    assert_int_equal(h_http_req(p.port, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    exp = cJSON_Parse(r.body);
    assert_true(cJSON_IsArray(exp));
    assert_int_equal(cJSON_GetArraySize(exp), cJSON_GetArraySize(h_events_of(list)));
    for (int i = 0; i < cJSON_GetArraySize(exp); i++)
        assert_int_equal(h_jnum(cJSON_GetArrayItem(exp, i), "sequence"),
                         h_jnum(cJSON_GetArrayItem(h_events_of(list), i), "sequence"));
    cJSON_Delete(exp);
    cJSON_Delete(list);
    cJSON_Delete(all);
    h_resp_free(&r);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

static void test_cors_preflight_and_headers(void **state)
{
    const char *const extra[] = { "--cors-origins", "http://a.example, http://b.example", NULL };
    struct proc p;
    char out[8192];

    (void)state;
    start_fast(&p, "cors", extra);
    assert_int_equal(h_raw_http(p.port,
                                "OPTIONS /transactions HTTP/1.1\r\nHost: x\r\n"
                                "Origin: http://b.example\r\n"
                                "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
                                out, sizeof(out), 3000),
                     204);
    assert_non_null(strstr(out, "Access-Control-Allow-Origin: http://b.example\r\n"));
    assert_non_null(strstr(out, "Access-Control-Allow-Methods: POST, OPTIONS\r\n"));
    assert_non_null(strstr(out, "Access-Control-Allow-Headers: "));
    assert_non_null(strstr(out, "Vary: Origin\r\n"));
    assert_int_equal(h_raw_http(p.port,
                                "GET /health HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example\r\n"
                                "Connection: close\r\n\r\n",
                                out, sizeof(out), 3000),
                     200);
    assert_non_null(strstr(out, "Access-Control-Allow-Origin: http://a.example\r\n"));
    assert_int_equal(h_raw_http(p.port,
                                "GET /health HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
                                "Connection: close\r\n\r\n",
                                out, sizeof(out), 3000),
                     200);
    assert_null(strstr(out, "Access-Control-Allow-Origin"));
    assert_int_equal(h_raw_http(p.port,
                                "OPTIONS /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                out, sizeof(out), 3000),
                     404);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
}

/* The gateway poller's parallel GETs ask for gzip (hc_multi_get): the
 * page arrives compressed and decodes to exactly what a plain request
 * gets, so the merged events are unchanged. */
static void test_poller_gets_take_gzip_and_decode_to_the_same_page(void **state)
{
    struct proc p;
    struct resp plain;
    struct hc_multi *m;
    struct hc_resp r[2];
    char url[2][128];
    const char *urls[2] = { url[0], url[1] };

    (void)state;
    assert_int_equal(http_client_global_init(), BM_OK);
    start_fast(&p, "pollgz", NULL);
    snprintf(url[0], sizeof(url[0]), "http://127.0.0.1:%d/transactions/events?since=0&limit=1000",
             p.port);
    snprintf(url[1], sizeof(url[1]), "http://127.0.0.1:%d/health", p.port);
    assert_int_equal(hc_multi_new(&m), BM_OK);
    hc_multi_get(m, urls, 2, 10000, 4 << 20, r);
    assert_int_equal(h_http_req(p.port, "GET", "/transactions/events?since=0&limit=1000", NULL,
                                NULL, &plain), 0);
    assert_int_equal(plain.status, 200);
    assert_int_equal(r[0].result, HC_OK);
    assert_int_equal(r[0].status, 200);
    assert_int_equal(r[0].body.len, plain.len);
    assert_memory_equal(r[0].body.data, plain.body, plain.len);
    assert_true(r[0].wire_len > 0 && r[0].wire_len < plain.len / 4);
    print_message("poller page: %zu bytes decoded from %zu on the wire\n", r[0].body.len,
                  r[0].wire_len);
    assert_int_equal(r[1].result, HC_OK);
    assert_int_equal(r[1].status, 200);
    for (int i = 0; i < 2; i++)
        hc_resp_free(&r[i]);
    hc_multi_free(m);
    h_resp_free(&plain);
    assert_int_equal(h_proc_stop(&p, NULL), 0);
    h_proc_cleanup(&p);
    http_client_global_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_resumes_by_last_event_id_and_since_without_gap_or_duplicate),
        cmocka_unit_test(test_sse_applies_the_list_filters),
        cmocka_unit_test(test_sse_sends_a_comment_heartbeat_when_idle),
        cmocka_unit_test(test_sse_reader_that_stops_reading_gets_overflow_and_the_stream_ends),
        cmocka_unit_test(test_sse_rss_stays_flat_with_many_streams),
        cmocka_unit_test(test_sse_stream_costs_a_kib_not_a_connection),
        cmocka_unit_test(test_sse_streams_count_under_the_connection_cap),
        cmocka_unit_test(test_sse_stalled_client_is_closed_after_the_idle_timeout),
        cmocka_unit_test(test_sse_stalled_reader_does_not_delay_others_and_idle_streams_sleep),
        cmocka_unit_test(test_ndjson_and_csv_lists_hold_the_same_events_as_json),
        cmocka_unit_test(test_gzip_decodes_to_the_same_bytes),
        cmocka_unit_test(test_poller_gets_take_gzip_and_decode_to_the_same_page),
        cmocka_unit_test(test_filters_narrow_the_list_and_bad_input_is_400),
        cmocka_unit_test(test_export_of_a_time_range_equals_the_list_of_that_range),
        cmocka_unit_test(test_cors_preflight_and_headers),
    };
    return cmocka_run_group_tests(tests, h_procs_setup, h_procs_teardown);
}
