/* test_faults_flood.c - connection floods (issue 21): 10,000 idle
 * connections (connected, nothing sent) and 200 slowloris clients must not
 * delay /health past 100 ms; over the cap a new connection gets a quick
 * 503 or a refusal, never a wait; a connection that sends no whole request
 * is ended after the header timeout while a kept-alive one lives to its
 * idle timeout; a 100 KiB query string gets a JSON 414. Loopback only.
 *
 * This process needs a socket per idle connection: it raises its own
 * RLIMIT_NOFILE soft limit to the hard one, and floods with fewer
 * connections (and says so) where the hard limit is under FLOOD_NOFILE.
 * BM_TEST_SCALE=small (sanitizers) floods with FLOOD_SMALL. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "harness.h"

#define TXN_BIN "transaction-service"
#define FLOOD_CONNS 10000  /* idle connections held */
#define FLOOD_SMALL 2000   /* at BM_TEST_SCALE=small */
#define FLOOD_NOFILE 10500 /* descriptors this process needs for FLOOD_CONNS */
#define PROBES 20          /* /health probes under each flood */
#define PROBE_MAX_MS 100   /* the slowest of them, connect to last byte */
#define LORIS 200          /* slowloris clients */
#define SMALL_CAP 50       /* --max-connections of the cap test */
#define OVER_CAP 20        /* connections tried past it */

static int *held;
static int n_held;

static void close_held(void)
{
    for (int i = 0; i < n_held; i++)
        if (held[i] >= 0)
            close(held[i]);
    n_held = 0;
}

static int flood_setup(void **state)
{
    n_held = 0;
    return h_procs_setup(state);
}

static int flood_teardown(void **state)
{
    close_held();
    return h_procs_teardown(state);
}

/* How many idle connections this process can hold (see the top). */
static int flood_size(char *why, size_t whylen)
{
    struct rlimit rl;
    int want = h_test_scale_small() ? FLOOD_SMALL : FLOOD_CONNS;

    snprintf(why, whylen, "%s", h_test_scale_small() ? " (BM_TEST_SCALE=small)" : "");
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want + 500) {
        want = (int)rl.rlim_max - 500;
        snprintf(why, whylen, " (scaled down: RLIMIT_NOFILE hard limit %llu < %d)",
                 (unsigned long long)rl.rlim_max, FLOOD_NOFILE);
    }
    return want;
}

/* Opens n connections to port without sending a byte, OPEN_BATCH at a
 * time (a burst of 10,000 SYNs overflows the listen backlog, and each
 * dropped one costs a second); waits until every handshake is done
 * (fails the test if one is refused or not done within 20 s). */
#define OPEN_BATCH 256
static void open_idle(int port, int n)
{
    struct sockaddr_in a;
    long deadline = h_now_ms() + 20000;
    int done = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (done < n) {
        int first = n_held, batch = n - done < OPEN_BATCH ? n - done : OPEN_BATCH;
        for (int i = 0; i < batch; i++) {
            static const struct linger rst = { 1, 0 };
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0)
                fail_msg("socket %d of %d: %s", done + i, n, strerror(errno));
            held[n_held++] = fd;
            /* closed with a reset: 10,000 in TIME_WAIT would crowd the
             * kernel's connection tracking for two minutes */
            (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
            if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)
                fail_msg("connect %d of %d: %s", done + i, n, strerror(errno));
        }
        /* each handshake is done once its socket is writable */
        for (int i = first; i < n_held; i++) {
            struct pollfd pfd = { held[i], POLLOUT, 0 };
            int err = 0;
            socklen_t el = sizeof(err);
            long left = deadline - h_now_ms();
            if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
                fail_msg("%d of %d connections done after 20 s", done, n);
            if (getsockopt(held[i], SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
                fail_msg("connection %d of %d failed: %s", done, n, strerror(err));
            done++;
        }
    }
}

/* One /health on a new connection (Connection: close): its status, and
 * the time from connect to the whole answer in *ms. */
static int probe_health(int port, long *ms)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char out[4096];
    long t0 = h_now_ms();
    int st = h_raw_http(port, req, out, sizeof(out), 5000);

    *ms = h_now_ms() - t0;
    return st;
}

/* PROBES probes, a few ms apart; fails the test unless each is a 200,
 * and (if timed) within PROBE_MAX_MS. Returns the slowest, in ms. */
static long probes_within(int port, const char *beside, bool timed)
{
    long worst = 0, ms;

    for (int i = 0; i < PROBES; i++) {
        int st = probe_health(port, &ms);
        if (st != 200)
            fail_msg("/health beside %s: %d after %ld ms", beside, st, ms);
        if (ms > worst)
            worst = ms;
        h_sleep_ms(5);
    }
    if (timed && worst > PROBE_MAX_MS)
        fail_msg("/health beside %s: slowest of %d probes %ld ms, want <= %d ms", beside, PROBES,
                 worst, PROBE_MAX_MS);
    return worst;
}

/* VmRSS of pid in KiB, -1 if gone or not found. */
static long rss_kib(pid_t pid)
{
    long kib = -1;

    return h_proc_mem_kib(pid, &kib, NULL) == 0 ? kib : -1;
}

/* The "connections" member of GET /metrics (caller deletes the tree in
 * *root). */
static const cJSON *conn_metrics(int port, cJSON **root)
{
    const cJSON *c;

    *root = h_get_json(port, "/metrics");
    c = cJSON_GetObjectItemCaseSensitive(*root, "connections");
    if (!cJSON_IsObject(c))
        fail_msg("/metrics has no connections object");
    return c;
}

/* ------------------------------------------------------------------ */

/* Idle connections are held (nothing sent, each still open), and /health
 * on a new connection answers within PROBE_MAX_MS all the while. The
 * header timeout is set past the test so that none is cut meanwhile. */
static void test_idle_flood_does_not_delay_health(void **state)
{
    static const char *const args[] = { "--seed", "71", "--header-timeout-s", "60", NULL };
    struct proc *p = &h_procs[0];
    char why[128];
    int n = flood_size(why, sizeof(why));
    long worst, rss0, rss1, t0;
    cJSON *m;
    const cJSON *c;

    (void)state;
    assert_true(n >= 1000);
    h_proc_init(p, "flood");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    worst = probes_within(p->port, "nothing", false); /* for comparison */
    printf("  quiet: slowest of %d /health probes %ld ms\n", PROBES, worst);
    rss0 = rss_kib(p->pid);

    t0 = h_now_ms();
    open_idle(p->port, n);
    /* the server holds every one (a handshake is done for the client
     * before the server accepts) */
    for (;;) {
        c = conn_metrics(p->port, &m);
        if (h_jnum(c, "open") >= n)
            break;
        if (h_now_ms() - t0 > 20000)
            fail_msg("/metrics connections.open %lld with %d idle connections held",
                     h_jnum(c, "open"), n);
        cJSON_Delete(m);
        h_sleep_ms(50);
    }
    cJSON_Delete(m);
    printf("  %d idle connections open and accepted in %ld ms%s\n", n, h_now_ms() - t0, why);
    worst = probes_within(p->port, "an idle flood", true);
    rss1 = rss_kib(p->pid);
    c = conn_metrics(p->port, &m);
    assert_int_equal(h_jnum(c, "header_timeouts"), 0);
    assert_int_equal(h_jnum(c, "refused_over_cap"), 0);
    printf("  %d idle connections: slowest of %d /health probes %ld ms; server RSS %ld KiB "
           "(%ld KiB quiet)\n",
           n, PROBES, worst, rss1, rss0);
    cJSON_Delete(m);
    close_held();
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* Slowloris: every connection trickles a request head a byte per tick and
 * never ends it. */
struct loris {
    int n;
    atomic_bool stop;
    int fd[LORIS];
    size_t sent[LORIS];
};

static void *loris_main(void *arg)
{
    static const char head[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    struct loris *l = arg;

    while (!atomic_load(&l->stop)) {
        for (int i = 0; i < l->n; i++) {
            char ch = l->sent[i] < sizeof(head) - 1 ? head[l->sent[i]] : 'a';
            if (l->fd[i] >= 0 && send(l->fd[i], &ch, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
                l->sent[i]++;
        }
        h_sleep_ms(50);
    }
    return NULL;
}

static void test_slowloris_does_not_delay_health(void **state)
{
    static const char *const args[] = { "--seed", "72", "--header-timeout-s", "60", NULL };
    struct proc *p = &h_procs[0];
    static struct loris l;
    pthread_t th;
    long worst;

    (void)state;
    h_proc_init(p, "floodloris");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    memset(&l, 0, sizeof(l));
    l.n = LORIS;
    atomic_init(&l.stop, false);
    for (int i = 0; i < LORIS; i++) {
        l.fd[i] = h_tcp_connect_loopback(p->port);
        if (l.fd[i] < 0)
            fail_msg("slow connection %d: %s", i, strerror(errno));
        held[n_held++] = l.fd[i]; /* the teardown closes them */
    }
    assert_int_equal(pthread_create(&th, NULL, loris_main, &l), 0);
    h_sleep_ms(500); /* every one is mid-head */
    worst = probes_within(p->port, "200 slowloris clients", true);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    printf("  %d slowloris clients: slowest of %d /health probes %ld ms\n", LORIS, PROBES, worst);
    close_held();
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* The JSON error code of a raw answer's body ("" if none). */
static void raw_error_code(const char *raw, char *code, size_t len)
{
    const char *body = strstr(raw, "\r\n\r\n");
    cJSON *j = body ? cJSON_Parse(body + 4) : NULL;
    const char *c = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"), "code"));

    snprintf(code, len, "%s", c ? c : "");
    cJSON_Delete(j);
}

/* With the cap held by idle connections, each new one is answered 503
 * (JSON, Retry-After) at once, before it sends anything, and closed; or
 * refused. Never a wait. Service resumes when the idle ones go. */
static void test_over_the_cap_a_quick_503_or_refusal(void **state)
{
    static const char *const args[] = { "--seed", "73", "--max-connections", "50", NULL };
    struct proc *p = &h_procs[0];
    char raw[4096], code[64], cap_s[16];
    long worst = 0;
    int answered = 0, refused = 0, st;
    cJSON *m;
    const cJSON *c;

    (void)state;
    h_proc_init(p, "floodcap");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    c = conn_metrics(p->port, &m);
    snprintf(cap_s, sizeof(cap_s), "%lld", h_jnum(c, "cap"));
    assert_string_equal(cap_s, "50");
    cJSON_Delete(m);
    h_sleep_ms(200); /* that request's connection is closed at the server, not counted */

    open_idle(p->port, SMALL_CAP);
    h_sleep_ms(100);
    for (int i = 0; i < OVER_CAP; i++) {
        long t0 = h_now_ms(), ms;
        int fd = h_tcp_connect_loopback(p->port);
        if (fd < 0) { /* a refusal is an answer too */
            refused++;
            continue;
        }
        st = h_raw_read(fd, raw, sizeof(raw), 2000, true);
        ms = h_now_ms() - t0;
        close(fd);
        if (st < 0)
            fail_msg("connection %d over the cap: no answer and not closed within 2 s", i);
        if (ms > PROBE_MAX_MS)
            fail_msg("connection %d over the cap: answered after %ld ms", i, ms);
        if (st == 0) {
            refused++;
        } else {
            if (st != 503)
                fail_msg("connection %d over the cap: %d\n%.300s", i, st, raw);
            raw_error_code(raw, code, sizeof(code));
            assert_string_equal(code, "service_unavailable");
            if (!strstr(raw, "\r\nRetry-After: ") || !strstr(raw, "\r\nContent-Type: application/json"))
                fail_msg("503 over the cap without Retry-After or JSON:\n%.300s", raw);
            answered++;
        }
        if (ms > worst)
            worst = ms;
    }
    printf("  %d over a cap of %d: %d answered 503, %d refused; slowest %ld ms\n", OVER_CAP,
           SMALL_CAP, answered, refused, worst);
    /* a normal client too */
    {
        long ms;
        st = probe_health(p->port, &ms);
        if (st != 503 || ms > PROBE_MAX_MS)
            fail_msg("/health over the cap: %d after %ld ms, want a quick 503", st, ms);
    }
    close_held();
    {
        long deadline = h_now_ms() + 2000, ms;
        do {
            st = probe_health(p->port, &ms);
        } while (st != 200 && h_now_ms() < deadline && (h_sleep_ms(10), 1));
        if (st != 200)
            fail_msg("after the idle connections closed: /health %d", st);
    }
    c = conn_metrics(p->port, &m);
    if (h_jnum(c, "refused_over_cap") < answered)
        fail_msg("/metrics refused_over_cap %lld, %d were answered 503",
                 h_jnum(c, "refused_over_cap"), answered);
    cJSON_Delete(m);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* Sends a request on a kept-alive connection and reads its answer (with
 * Content-Length); returns the status or -1. */
static int keepalive_request(int fd, char *out, size_t outlen)
{
    static const char req[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    long deadline = h_now_ms() + 2000;
    size_t len = 0;

    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
        return -1;
    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        long left = deadline - h_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
            return -1;
        n = recv(fd, out + len, outlen - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        out[len] = '\0';
        if (h_raw_complete(out, len))
            return h_raw_status(out, len);
        if (len + 1 >= outlen)
            return -1;
    }
}

/* A silent connection is ended after header_timeout_s (a 408, then the
 * close); a kept-alive one, idle as long, lives on and is ended after
 * idle_timeout_s of idling. */
static void test_header_timeout_apart_from_the_idle_timeout(void **state)
{
    static const char *const args[] = { "--seed", "74", "--header-timeout-s", "1",
                                        "--idle-timeout-s", "4", NULL };
    struct proc *p = &h_procs[0];
    char raw[4096], code[64];
    long t0, t_silent, t_kept;
    int silent, kept, st;
    cJSON *m;
    const cJSON *c;

    (void)state;
    h_proc_init(p, "floodhto");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    silent = h_tcp_connect_loopback(p->port);
    kept = h_tcp_connect_loopback(p->port);
    assert_true(silent >= 0 && kept >= 0);
    held[n_held++] = silent;
    held[n_held++] = kept;
    t0 = h_now_ms();
    assert_int_equal(keepalive_request(kept, raw, sizeof(raw)), 200);

    st = h_raw_read(silent, raw, sizeof(raw), 5000, true);
    t_silent = h_now_ms() - t0;
    if (st < 0)
        fail_msg("a silent connection still open after 5 s with --header-timeout-s 1");
    if (t_silent < 900 || t_silent > 2000)
        fail_msg("a silent connection ended after %ld ms, want the 1 s header timeout",
                 t_silent);
    assert_int_equal(st, 408);
    raw_error_code(raw, code, sizeof(code));
    assert_string_equal(code, "request_timeout");

    /* the kept-alive one has idled as long, and lives */
    h_sleep_ms(500);
    assert_int_equal(keepalive_request(kept, raw, sizeof(raw)), 200);
    t0 = h_now_ms();
    st = h_raw_read(kept, raw, sizeof(raw), 8000, true);
    t_kept = h_now_ms() - t0;
    if (st < 0)
        fail_msg("a kept-alive connection still open %ld ms after its answer, idle timeout 4 s",
                 t_kept);
    if (t_kept < 3500 || t_kept > 6000)
        fail_msg("a kept-alive connection ended %ld ms after its answer, want the 4 s idle "
                 "timeout",
                 t_kept);
    printf("  silent connection ended after %ld ms (header timeout 1 s); kept-alive one %ld ms "
           "after its answer (idle timeout 4 s)\n",
           t_silent, t_kept);
    c = conn_metrics(p->port, &m);
    assert_true(h_jnum(c, "header_timeouts") >= 1);
    assert_int_equal(h_jnum(c, "header_timeout_s"), 1);
    assert_int_equal(h_jnum(c, "idle_timeout_s"), 4);
    cJSON_Delete(m);
    close_held();
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

struct buf_sink {
    char data[4096];
    size_t len;
};

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
    struct buf_sink *b = ud;
    size_t take = size * n;

    if (take > sizeof(b->data) - 1 - b->len)
        take = sizeof(b->data) - 1 - b->len;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    b->data[b->len] = '\0';
    return size * n;
}

/* A 100 KiB query string: a JSON 414 (the error table's), by libcurl and
 * by a raw client that sends it all before reading; the service goes on. */
static void test_long_query_gets_a_json_414(void **state)
{
    static const char *const args[] = { "--seed", "75", NULL };
    const size_t qlen = 100 * 1024;
    struct proc *p = &h_procs[0];
    char *path = malloc(qlen + 64), *req = malloc(qlen + 256), code[64];
    static char raw[8192];
    cJSON *j;
    long ms;

    (void)state;
    assert_non_null(path);
    assert_non_null(req);
    h_proc_init(p, "flood414");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    memcpy(path, "/transactions/events?x=", 23);
    memset(path + 23, 'a', qlen);
    path[23 + qlen] = '\0';

    {
        /* libcurl, as a client would (the harness's URL buffer is shorter) */
        CURL *cu = curl_easy_init();
        char *url = malloc(qlen + 128);
        struct buf_sink sink = { 0 };
        long status = 0;
        const char *ct = NULL;
        assert_non_null(cu);
        assert_non_null(url);
        snprintf(url, qlen + 128, "http://127.0.0.1:%d%s", p->port, path);
        curl_easy_setopt(cu, CURLOPT_URL, url);
        curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, sink_write);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &sink);
        assert_int_equal(curl_easy_perform(cu), CURLE_OK);
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(cu, CURLINFO_CONTENT_TYPE, &ct);
        assert_int_equal(status, 414);
        if (!ct || strncmp(ct, "application/json", 16) != 0)
            fail_msg("414 with Content-Type %s:\n%.200s", ct ? ct : "(none)", sink.data);
        j = cJSON_Parse(sink.data);
        assert_non_null(j);
        assert_string_equal(h_jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "code"),
                            "uri_too_long");
        cJSON_Delete(j);
        curl_easy_cleanup(cu);
        free(url);
    }

    snprintf(req, qlen + 256, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    assert_int_equal(h_raw_http(p->port, req, raw, sizeof(raw), 5000), 414);
    raw_error_code(raw, code, sizeof(code));
    assert_string_equal(code, "uri_too_long");

    assert_int_equal(probe_health(p->port, &ms), 200);
    free(path);
    free(req);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* /metrics reports the open-file limits (the soft one raised to the
 * hard one) and a cap within them, in JSON and in Prometheus text. */
static void test_metrics_report_the_limits_and_the_cap(void **state)
{
    static const char *const args[] = { "--seed", "76", NULL };
    struct proc *p = &h_procs[0];
    struct resp r;
    cJSON *m;
    const cJSON *c;
    long long soft, hard, cap;

    (void)state;
    h_proc_init(p, "floodlim");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    c = conn_metrics(p->port, &m);
    soft = h_jnum(c, "nofile_soft");
    hard = h_jnum(c, "nofile_hard");
    cap = h_jnum(c, "cap");
    printf("  RLIMIT_NOFILE soft %lld hard %lld, cap %lld\n", soft, hard, cap);
    if (hard > 0 && soft != hard)
        fail_msg("soft limit %lld not raised to the hard limit %lld", soft, hard);
    if (cap <= 0 || (soft > 0 && cap > soft - 256))
        fail_msg("cap %lld does not leave 256 descriptors of %lld", cap, soft);
    assert_int_equal(h_jnum(c, "header_timeout_s"), 5);
    assert_int_equal(h_jnum(c, "idle_timeout_s"), 15);
    cJSON_Delete(m);
    assert_int_equal(h_http_req(p->port, "GET", "/metrics?format=prometheus", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, "bankmock_open_files_limit{service=\"transaction-service\",kind=\"soft\"}") ||
        !strstr(r.body, "bankmock_open_files_limit{service=\"transaction-service\",kind=\"hard\"}") ||
        !strstr(r.body, "bankmock_connections_cap{service=\"transaction-service\"}"))
        fail_msg("Prometheus /metrics without the limits:\n%.2000s", r.body);
    h_resp_free(&r);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, flood_setup, flood_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_idle_flood_does_not_delay_health),
        T(test_slowloris_does_not_delay_health),
        T(test_over_the_cap_a_quick_503_or_refusal),
        T(test_header_timeout_apart_from_the_idle_timeout),
        T(test_long_query_gets_a_json_414),
        T(test_metrics_report_the_limits_and_the_cap),
    };
    struct rlimit rl;
    int rc;

    /* room for the flood: the soft limit up to the hard one */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? FLOOD_NOFILE : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    held = calloc(FLOOD_CONNS + LORIS + 64, sizeof(*held));
    if (!held)
        return 1;
    curl_global_init(CURL_GLOBAL_ALL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    free(held);
    return rc;
}
