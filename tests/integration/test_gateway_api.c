/* test_gateway_api.c - api-gateway end to end: the real services and the
 * real gateway on free loopback ports. */
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "harness.h"

/* True if the file mentions needle within about 2 s (the whole file is
 * read each time; test logs are small). */
static bool log_mentions(const char *path, const char *needle)
{
    for (int attempt = 0; attempt < 40; attempt++) {
        FILE *f = fopen(path, "r");
        bool found = false;

        if (f) {
            char *text = NULL;
            long size;
            if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
                fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1)) != NULL) {
                size_t n = fread(text, 1, (size_t)size, f);
                text[n] = '\0';
                found = strstr(text, needle) != NULL;
            }
            free(text);
            fclose(f);
        }
        if (found)
            return true;
        h_sleep_ms(50);
    }
    return false;
}

#define POLL_MS "200"
#define TIMEOUT_MS "300"

struct env {
    struct proc txn, auth, mon, gw;
    bool has_auth, has_mon;
    int hung_fd; /* listening socket that never accepts, or -1 */
};

static bool bin_exists(const char *name)
{
    /* tests are built to <build>/tests, daemons to <build>/bin */
    char self[512], path[700];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0)
        return false;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(path, sizeof(path), "%s/../bin/%s", self, name);
    return access(path, X_OK) == 0;
}

static void start_service(struct proc *p, const char *bin, const char *tag)
{
    static const char *const args[] = { "--seed", "7", NULL };
    h_proc_init(p, tag);
    assert_int_equal(h_proc_start(p, bin, args), 0);
}

/* Starts the services that exist, then the gateway; with hung_auth the
 * gateway's auth URL is a socket that never answers. */
static void env_start(struct env *e, bool hung_auth)
{
    char turl[64], aurl[64], murl[64];
    int hport = 0;

    memset(e, 0, sizeof(*e));
    e->hung_fd = -1;
    start_service(&e->txn, "transaction-service", "gwtxn");
    snprintf(turl, sizeof(turl), "http://127.0.0.1:%d", e->txn.port);
    e->has_auth = !hung_auth && bin_exists("auth-service");
    e->has_mon = bin_exists("monitoring-service");
    /* an unused port stands in for a service that is not built */
    snprintf(aurl, sizeof(aurl), "%s", NO_UPSTREAM_URL);
    snprintf(murl, sizeof(murl), "%s", NO_UPSTREAM_URL);
    if (hung_auth) {
        e->hung_fd = h_listen_loopback(&hport);
        snprintf(aurl, sizeof(aurl), "http://127.0.0.1:%d", hport);
    } else if (e->has_auth) {
        start_service(&e->auth, "auth-service", "gwauth");
        snprintf(aurl, sizeof(aurl), "http://127.0.0.1:%d", e->auth.port);
    }
    if (e->has_mon) {
        start_service(&e->mon, "monitoring-service", "gwmon");
        snprintf(murl, sizeof(murl), "http://127.0.0.1:%d", e->mon.port);
    }
    /* the shipped config file: the harness passes it when none is written */
    h_proc_init(&e->gw, "gw");
    assert_int_equal(h_proc_start_gateway_urls(&e->gw, turl, aurl, murl, POLL_MS, TIMEOUT_MS), 0);
}

static void stop_one(struct proc *p)
{
    if (p->pid > 0)
        h_proc_stop(p, NULL);
    h_proc_cleanup(p);
}

static void env_stop(struct env *e)
{
    long ms = 0;

    /* SIGTERM: a clean exit 0 within 2 s (also what a sanitizer would break) */
    assert_int_equal(h_proc_stop(&e->gw, &ms), 0);
    assert_true(ms < 2000);
    h_proc_cleanup(&e->gw);
    stop_one(&e->txn);
    if (e->has_auth)
        stop_one(&e->auth);
    if (e->has_mon)
        stop_one(&e->mon);
    if (e->hung_fd >= 0)
        close(e->hung_fd);
}

static double num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_gateway_events_carry_source_and_dense_gateway_sequence(void **state)
{
    struct env e;
    cJSON *j = NULL;
    const cJSON *ev, *it;
    double prev = 0;
    bool seen_auth = false, seen_mon = false;
    int count = 0;

    (void)state;
    env_start(&e, false);
    assert_true(h_gw_wait_state(e.gw.port, "transaction-service", "ok", 5000));
    if (e.has_auth)
        assert_true(h_gw_wait_state(e.gw.port, "auth-service", "ok", 5000));
    if (e.has_mon)
        assert_true(h_gw_wait_state(e.gw.port, "monitoring-service", "ok", 5000));
    h_sleep_ms(500);
    j = h_http_get_json(e.gw.port, "/events?since=0&limit=1000", NULL);
    ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    assert_true(cJSON_IsArray(ev));
    assert_true(cJSON_GetArraySize(ev) > 0);
    assert_int_equal((int)num_of(j, "count"), cJSON_GetArraySize(ev));
    cJSON_ArrayForEach(it, ev) {
        const char *src = h_jstr(it, "source");
        double g = num_of(it, "gateway_sequence");
        assert_non_null(src);
        assert_true(strcmp(src, "transaction-service") == 0 || strcmp(src, "auth-service") == 0 ||
                    strcmp(src, "monitoring-service") == 0);
        seen_auth |= strcmp(src, "auth-service") == 0;
        seen_mon |= strcmp(src, "monitoring-service") == 0;
        assert_true(num_of(it, "sequence") >= 1);
        if (count++ == 0)
            assert_true(g == 1); /* nothing evicted yet: dense from 1 */
        else
            assert_true(g == prev + 1);
        prev = g;
    }
    if (e.has_auth)
        assert_true(seen_auth);
    if (e.has_mon)
        assert_true(seen_mon);
    cJSON_Delete(j);

    /* filters: any service's anomaly types; bad parameters are 400 */
    {
        long st = 0;
        j = h_http_get_json(e.gw.port, "/events?anomalies_only=true&limit=1000", &st);
        assert_int_equal(st, 200);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events"))
            assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "is_anomaly")));
        cJSON_Delete(j);
        j = h_http_get_json(e.gw.port, "/events?anomaly_type=money_laundering", &st);
        assert_int_equal(st, 200);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events"))
            assert_string_equal(h_jstr(it, "anomaly_type"), "money_laundering");
        cJSON_Delete(j);
        /* the seed's name for high_cpu, high_memory and high_disk */
        j = h_http_get_json(e.gw.port, "/events?anomaly_type=resource_exhaustion&limit=1000",
                            &st);
        assert_int_equal(st, 200);
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events")) {
            const char *t = h_jstr(it, "anomaly_type");

            assert_string_equal(h_jstr(it, "source"), "monitoring-service");
            assert_true(strcmp(t, "high_cpu") == 0 || strcmp(t, "high_memory") == 0 ||
                        strcmp(t, "high_disk") == 0);
        }
        cJSON_Delete(j);
        j = h_http_get_json(e.gw.port, "/events?anomaly_type=nope", &st);
        assert_int_equal(st, 400);
        cJSON_Delete(j);
        /* source: one service's events only, the short or the full name */
        {
            static const char *const src[][2] = { { "transaction", "transaction-service" },
                                                  { "auth", "auth-service" },
                                                  { "monitoring-service", "monitoring-service" } };
            char path[96];
            for (size_t k = 0; k < 3; k++) {
                int n = 0;
                snprintf(path, sizeof(path), "/events?source=%s&limit=1000", src[k][0]);
                j = h_http_get_json(e.gw.port, path, &st);
                assert_int_equal(st, 200);
                cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events")) {
                    assert_string_equal(h_jstr(it, "source"), src[k][1]);
                    n++;
                }
                assert_true(n > 0);
                cJSON_Delete(j);
            }
        }
        j = h_http_get_json(e.gw.port, "/events?source=nope", &st);
        assert_int_equal(st, 400);
        assert_string_equal(h_jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "field"),
                            "source");
        cJSON_Delete(j);
        j = h_http_get_json(e.gw.port, "/events?limit=0", &st);
        assert_int_equal(st, 400);
        cJSON_Delete(j);
        j = h_http_get_json(e.gw.port, "/events?bogus=1", &st);
        assert_int_equal(st, 400);
        cJSON_Delete(j);
    }

    /* /metrics: the gateway's own and each service's last-known figures */
    j = h_http_get_json(e.gw.port, "/metrics", NULL);
    assert_non_null(j);
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "gateway")));
    assert_true(cJSON_IsObject(
        cJSON_GetObjectItemCaseSensitive(h_gw_service(j, "transaction-service"), "metrics")));
    cJSON_Delete(j);
    {
        struct resp r;
        assert_int_equal(h_http_req(e.gw.port, "GET", "/metrics?format=prometheus", NULL, NULL, &r),
                         0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.ctype, "text/plain"));
        assert_non_null(strstr(r.body,
                               "bankmock_gateway_upstream_up{service=\"transaction-service\"} 1"));
        /* each service's own figures under its label, each family declared once */
        assert_non_null(strstr(r.body, "bankmock_events_generated_total{service=\"api-gateway\"}"));
        assert_non_null(
            strstr(r.body, "bankmock_events_generated_total{service=\"transaction-service\"}"));
        {
            const char *t = strstr(r.body, "# TYPE bankmock_events_generated_total ");
            assert_non_null(t);
            assert_null(strstr(t + 1, "# TYPE bankmock_events_generated_total "));
        }
        h_resp_free(&r);
    }
    /* /dashboard: totals and per-service state */
    j = h_http_get_json(e.gw.port, "/dashboard", NULL);
    assert_true(num_of(cJSON_GetObjectItemCaseSensitive(j, "totals"), "events") > 0);
    assert_string_equal(h_jstr(h_gw_service(j, "transaction-service"), "state"), "ok");
    cJSON_Delete(j);

    /* newest first without since, next_since = head */
    j = h_http_get_json(e.gw.port, "/events?limit=5", NULL);
    ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    assert_int_equal(cJSON_GetArraySize(ev), 5);
    assert_true(num_of(cJSON_GetArrayItem(ev, 0), "gateway_sequence") >
                num_of(cJSON_GetArrayItem(ev, 1), "gateway_sequence"));
    assert_true(num_of(j, "next_since") >= num_of(cJSON_GetArrayItem(ev, 0), "gateway_sequence"));
    cJSON_Delete(j);
    env_stop(&e);
}

static void test_gateway_proxies_get_and_post_to_the_service(void **state)
{
    static const char *const hdrs[] = { "Content-Type: application/json",
                                        "X-Request-ID: gwtest-proxy-42", NULL };
    struct env e;
    struct resp r;
    cJSON *j;
    long st = 0;

    (void)state;
    env_start(&e, false);
    j = h_http_get_json(e.gw.port, "/services/transaction-service/health", &st);
    assert_int_equal(st, 200);
    assert_string_equal(h_jstr(j, "service"), "transaction-service");
    assert_non_null(h_jstr(j, "stream_id"));
    cJSON_Delete(j);

    assert_int_equal(h_http_req(e.gw.port, "POST", "/services/transaction-service/transactions",
                                "{\"customer_id\":\"CUST_123456\",\"amount\":10,"
                                "\"transaction_type\":\"purchase\"}",
                                hdrs, &r),
                     0);
    assert_true(r.status == 200 || r.status == 201);
    j = cJSON_ParseWithLength(r.body, r.len);
    assert_string_equal(h_jstr(j, "origin"), "api");
    assert_string_equal(r.request_id, "gwtest-proxy-42");
    cJSON_Delete(j);
    h_resp_free(&r);

    /* the service saw the client's request id: its access log line is
     * written after the response went out, and the log grows with the
     * gateway's polls, so scan the whole file a few times */
    assert_true(log_mentions(e.txn.log, "gwtest-proxy-42"));

    /* service errors come back unchanged, query included */
    assert_int_equal(h_http_req(e.gw.port, "GET",
                                "/services/transaction-service/transactions/events?limit=0", NULL,
                                NULL, &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"limit\""));
    h_resp_free(&r);

    assert_int_equal(h_http_req(e.gw.port, "GET", "/services/no-such-service/health", NULL, NULL,
                                &r),
                     0);
    assert_int_equal(r.status, 404);
    h_resp_free(&r);
    env_stop(&e);
}

static void test_gateway_stopped_service_is_unreachable_and_reads_stay_fast(void **state)
{
    static const char *const paths[] = { "/events", "/dashboard", "/system/health", NULL };
    struct env e;
    struct resp r;

    (void)state;
    env_start(&e, false);
    assert_true(h_gw_wait_state(e.gw.port, "transaction-service", "ok", 5000));
    assert_int_equal(h_proc_stop(&e.txn, NULL), 0);
    assert_true(h_gw_wait_state(e.gw.port, "transaction-service", "unreachable", 3000));
    h_prism_bypass(true); /* timed: Prism's own milliseconds are not the gateway's */
    for (int i = 0; paths[i]; i++) {
        long t0 = h_now_ms();
        assert_int_equal(h_http_req(e.gw.port, "GET", paths[i], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_true(h_now_ms() - t0 < 100);
        h_resp_free(&r);
    }
    h_prism_bypass(false);
    /* the proxy to a dead service: 502 with the error body */
    assert_int_equal(h_http_req(e.gw.port, "GET", "/services/transaction-service/health", NULL,
                                NULL, &r),
                     0);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body, "bad_gateway"));
    h_resp_free(&r);
    {
        cJSON *j = h_http_get_json(e.gw.port, "/system/health", NULL);
        const cJSON *s = h_gw_service(j, "transaction-service");
        assert_non_null(h_jstr(s, "last_error"));
        assert_non_null(h_jstr(s, "last_success"));
        assert_string_not_equal(h_jstr(j, "status"), "ok");
        cJSON_Delete(j);
    }
    env_stop(&e);
}

static void test_gateway_answers_within_timeout_with_a_hung_upstream(void **state)
{
    static const char *const paths[] = { "/health", "/events", "/dashboard", "/metrics",
                                         "/metrics?format=prometheus", "/system/health",
                                         "/services/transaction-service/health", NULL };
    struct env e;
    struct resp r;
    long t0, dt;

    (void)state;
    env_start(&e, true);
    assert_true(h_gw_wait_state(e.gw.port, "auth-service", "unreachable", 3000));
    h_prism_bypass(true); /* timed: Prism's own milliseconds are not the gateway's */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; paths[i]; i++) {
            t0 = h_now_ms();
            assert_int_equal(h_http_req(e.gw.port, "GET", paths[i], NULL, NULL, &r), 0);
            dt = h_now_ms() - t0;
            assert_int_equal(r.status, 200);
            if (dt >= 350)
                fail_msg("%s took %ld ms", paths[i], dt);
            h_resp_free(&r);
        }
        /* proxied to the hung service: 504 within the timeout */
        t0 = h_now_ms();
        assert_int_equal(h_http_req(e.gw.port, "GET", "/services/auth-service/health", NULL, NULL,
                                    &r),
                         0);
        dt = h_now_ms() - t0;
        assert_int_equal(r.status, 504);
        assert_non_null(strstr(r.body, "gateway_timeout"));
        if (dt >= 350)
            fail_msg("proxy to hung upstream took %ld ms", dt);
        h_resp_free(&r);
    }
    h_prism_bypass(false);
    env_stop(&e);
}

/* Proxied requests to the hung service, repeated until told to stop: so
 * that HUNG_CLIENTS of them (more than the gateway's 2 workers) wait on
 * the upstream at every moment. */
#define HUNG_CLIENTS 12

struct hung_client {
    pthread_t thread;
    int port;
    atomic_bool *stop;
    int answered, not_504;
    long fastest_ms;
};

static void *hung_client_main(void *arg)
{
    struct hung_client *c = arg;

    c->fastest_ms = 1000000;
    while (!atomic_load(c->stop)) {
        struct resp r;
        long t0 = h_now_ms(), ms;
        int rc = h_http_req(c->port, "GET", "/services/auth-service/health", NULL, NULL, &r);
        ms = h_now_ms() - t0;
        if (rc == 0) {
            c->answered++;
            c->not_504 += r.status != 504;
            if (ms < c->fastest_ms)
                c->fastest_ms = ms;
        }
        h_resp_free(&r);
    }
    return NULL;
}

/* One GET that must answer 200; its time in ms. */
static long timed_get(int port, const char *path)
{
    struct resp r;
    long t0 = h_now_ms(), ms;

    assert_int_equal(h_http_req(port, "GET", path, NULL, NULL, &r), 0);
    ms = h_now_ms() - t0;
    if (r.status != 200)
        fail_msg("%s answered %ld beside the hung proxied requests", path, r.status);
    h_resp_free(&r);
    return ms;
}

static void test_gateway_hung_upstream_delays_only_its_own_proxied_requests(void **state)
{
    static const char *const paths[] = { "/events", "/health", "/system/health",
                                         "/services/transaction-service/health", NULL };
    /* a worker blocked by a hung request would hold these for the whole
     * upstream timeout (300 ms); free, they take a few ms (more under a
     * sanitizer) */
    const long bound_ms = h_test_scale_small() ? 200 : 100;
    struct hung_client cl[HUNG_CLIENTS];
    atomic_bool stop;
    long worst[4] = { 0, 0, 0, 0 }, t_end;
    int n = 0, answered = 0, not_504 = 0;
    long fastest = 1000000;

    struct env e;

    (void)state;
    env_start(&e, true);
    assert_true(h_gw_wait_state(e.gw.port, "auth-service", "unreachable", 3000));
    assert_true(h_gw_wait_state(e.gw.port, "transaction-service", "ok", 3000));
    atomic_init(&stop, false);
    for (int i = 0; i < HUNG_CLIENTS; i++) {
        memset(&cl[i], 0, sizeof(cl[i]));
        cl[i].port = e.gw.port;
        cl[i].stop = &stop;
        assert_int_equal(pthread_create(&cl[i].thread, NULL, hung_client_main, &cl[i]), 0);
    }
    h_sleep_ms(100); /* all of them in flight */
    t_end = h_now_ms() + 1500;
    while (h_now_ms() < t_end) {
        for (int i = 0; paths[i]; i++) {
            long ms = timed_get(e.gw.port, paths[i]);
            if (ms > worst[i])
                worst[i] = ms;
        }
        n++;
    }
    atomic_store(&stop, true);
    for (int i = 0; i < HUNG_CLIENTS; i++) {
        pthread_join(cl[i].thread, NULL);
        answered += cl[i].answered;
        not_504 += cl[i].not_504;
        if (cl[i].fastest_ms < fastest)
            fastest = cl[i].fastest_ms;
    }
    printf("  %d hung proxied requests at a time: %d answered, fastest %ld ms; %d rounds of "
           "reads: slowest /events %ld ms, /health %ld ms, /system/health %ld ms, proxied "
           "transaction-service /health %ld ms\n",
           HUNG_CLIENTS, answered, fastest, n, worst[0], worst[1], worst[2], worst[3]);
    /* the hung ones waited for their timeout, and got their 504 */
    assert_true(answered >= HUNG_CLIENTS);
    assert_int_equal(not_504, 0);
    assert_true(fastest >= 250);
    for (int i = 0; paths[i]; i++)
        if (worst[i] > bound_ms)
            fail_msg("%s took %ld ms with %d proxied requests waiting on a hung upstream; "
                     "want <= %ld ms",
                     paths[i], worst[i], HUNG_CLIENTS, bound_ms);
    assert_true(n >= 10);
    env_stop(&e);
}


/* Pages the gateway's merged list and keeps one source's events. */
static cJSON *gateway_events_of(int port, const char *source)
{
    cJSON *out = cJSON_CreateArray();
    double since = 0;

    for (;;) {
        char path[128];
        cJSON *j, *ev, *it;
        snprintf(path, sizeof(path), "/events?since=%.0f&limit=1000", since);
        j = h_http_get_json(port, path, NULL);
        assert_non_null(j);
        ev = cJSON_GetObjectItemCaseSensitive(j, "events");
        if (cJSON_GetArraySize(ev) == 0) {
            cJSON_Delete(j);
            return out;
        }
        cJSON_ArrayForEach(it, ev) {
            if (strcmp(h_jstr(it, "source"), source) == 0)
                cJSON_AddItemToArray(out, cJSON_Duplicate(it, 1));
        }
        since = num_of(j, "next_since");
        cJSON_Delete(j);
    }
}

static cJSON *gateway_txn_events(int port)
{
    return gateway_events_of(port, "transaction-service");
}

/* A service's events with after < sequence <= upto, oldest first. */
static cJSON *service_events(int port, const char *list, double after, double upto)
{
    cJSON *out = cJSON_CreateArray();

    for (double since = after; since < upto;) {
        char path[160];
        cJSON *j;
        const cJSON *it;
        snprintf(path, sizeof(path), "%s?since=%.0f&limit=1000", list, since);
        j = h_http_get_json(port, path, NULL);
        assert_non_null(j);
        if (num_of(j, "count") <= 0) {
            cJSON_Delete(j);
            break;
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "events"))
            if (num_of(it, "sequence") <= upto)
                cJSON_AddItemToArray(out, cJSON_Duplicate(it, 1));
        since = num_of(j, "next_since");
        cJSON_Delete(j);
    }
    return out;
}

static void test_gateway_has_no_duplicates_and_no_gaps(void **state)
{
    static const struct {
        const char *name, *path, *id;
    } svcs[] = {
        { "transaction-service", "/transactions/events", "transaction_id" },
        { "auth-service", "/auth/events", "event_id" },
        { "monitoring-service", "/metrics/events", "event_id" },
    };
    struct env e;
    struct proc *svc_proc[3];

    (void)state;
    env_start(&e, false);
    svc_proc[0] = &e.txn;
    svc_proc[1] = e.has_auth ? &e.auth : NULL;
    svc_proc[2] = e.has_mon ? &e.mon : NULL;
    assert_true(h_gw_wait_state(e.gw.port, "transaction-service", "ok", 5000));
    /* a minute of polling (a few seconds at the sanitizers' scale) */
    h_sleep_ms(h_test_scale_small() ? 5000 : 60000);
    for (int s = 0; s < 3; s++) {
        cJSON *gw, *own;
        double lo, hi;
        int n;
        if (!svc_proc[s])
            continue;
        gw = gateway_events_of(e.gw.port, svcs[s].name);
        n = cJSON_GetArraySize(gw);
        assert_true(n > 10);
        lo = num_of(cJSON_GetArrayItem(gw, 0), "sequence");
        hi = num_of(cJSON_GetArrayItem(gw, n - 1), "sequence");
        if (hi - lo + 1 != n) /* dense: no gap, no duplicate */
            fail_msg("%s: %d events for sequences %.0f..%.0f", svcs[s].name, n, lo, hi);
        own = service_events(svc_proc[s]->port, svcs[s].path, lo - 1, hi);
        assert_int_equal(cJSON_GetArraySize(own), n);
        for (int i = 0; i < n; i++) {
            const cJSON *a = cJSON_GetArrayItem(gw, i), *b = cJSON_GetArrayItem(own, i);
            assert_true(num_of(a, "sequence") == num_of(b, "sequence"));
            assert_string_equal(h_jstr(a, svcs[s].id), h_jstr(b, svcs[s].id));
            assert_string_equal(h_jstr(a, "timestamp"), h_jstr(b, "timestamp"));
        }
        cJSON_Delete(gw);
        cJSON_Delete(own);
    }
    env_stop(&e);
}

static void test_gateway_fails_over_to_a_healthy_replica(void **state)
{
    struct proc txn, gw;
    char urls[128];
    struct resp r;
    cJSON *j;
    long st = 0, ms = 0;

    (void)state;
    start_service(&txn, "transaction-service", "gwrep");
    /* the first replica refuses connections */
    snprintf(urls, sizeof(urls), NO_UPSTREAM_URL ",http://127.0.0.1:%d/", txn.port);
    h_proc_init(&gw, "gwrep");
    assert_int_equal(h_proc_start_gateway_urls(&gw, urls, NULL, NULL, POLL_MS, TIMEOUT_MS), 0);
    assert_true(h_gw_wait_state(gw.port, "transaction-service", "ok", 5000));
    j = h_http_get_json(gw.port, "/events?limit=1", &st);
    assert_int_equal(st, 200);
    assert_int_equal((int)num_of(j, "count"), 1);
    cJSON_Delete(j);
    assert_int_equal(h_http_req(gw.port, "GET", "/services/transaction-service/health", NULL, NULL,
                                &r),
                     0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_int_equal(h_proc_stop(&gw, &ms), 0);
    h_proc_cleanup(&gw);
    stop_one(&txn);
}

static char *txn_stream_id(int port)
{
    cJSON *j = h_http_get_json(port, "/system/health", NULL);
    const char *id = h_jstr(h_gw_service(j, "transaction-service"), "stream_id");
    char *out = id ? strdup(id) : NULL;
    cJSON_Delete(j);
    return out;
}

static void test_gateway_restarts_cursor_when_stream_id_changes(void **state)
{
    struct env e;
    struct proc fresh;
    char port_s[16], *old_id, *new_id = NULL, path[128];
    const char *args[] = { "--port", port_s, "--seed", "99", NULL };
    cJSON *svc, *gw;
    const cJSON *first;
    long end;
    bool found = false;

    (void)state;
    env_start(&e, false);
    assert_true(h_gw_wait_state(e.gw.port, "transaction-service", "ok", 5000));
    old_id = txn_stream_id(e.gw.port);
    assert_non_null(old_id);
    h_sleep_ms(600); /* the old stream gets ahead of the new one */
    /* a new database behind the same URL */
    snprintf(port_s, sizeof(port_s), "%d", e.txn.port);
    assert_int_equal(h_proc_stop(&e.txn, NULL), 0);
    h_proc_init(&fresh, "gwfresh");
    assert_int_equal(h_proc_start(&fresh, "transaction-service", args), 0);
    assert_int_equal(fresh.port, e.txn.port);
    end = h_now_ms() + 5000;
    while (h_now_ms() < end) {
        free(new_id);
        new_id = txn_stream_id(e.gw.port);
        if (new_id && strcmp(new_id, old_id) != 0)
            break;
        h_sleep_ms(50);
    }
    assert_non_null(new_id);
    assert_string_not_equal(new_id, old_id);
    h_sleep_ms(600);
    /* the new stream's first event reached the gateway */
    svc = h_http_get_json(fresh.port, "/transactions/events?since=0&limit=1", NULL);
    first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(svc, "events"), 0);
    assert_non_null(first);
    for (double since = 0;;) {
        const cJSON *it;
        snprintf(path, sizeof(path), "/events?since=%.0f&limit=1000", since);
        gw = h_http_get_json(e.gw.port, path, NULL);
        if (num_of(gw, "count") <= 0) {
            cJSON_Delete(gw);
            break;
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(gw, "events")) {
            const char *id = h_jstr(it, "transaction_id");
            if (id && strcmp(id, h_jstr(first, "transaction_id")) == 0)
                found = true;
        }
        since = num_of(gw, "next_since");
        cJSON_Delete(gw);
    }
    assert_true(found);
    cJSON_Delete(svc);
    free(old_id);
    free(new_id);
    h_proc_cleanup(&e.txn);
    e.txn = fresh; /* env_stop stops the running one */
    env_stop(&e);
}

static void test_gateway_rejects_service_only_flags_with_exit_2(void **state)
{
    static const char *const seed[] = { "--seed", "1", NULL };
    static const char *const db[] = { "--db", "/tmp/x.db", NULL };
    static const char *const check[] = { "--check-config", "--config",
                                         BM_SOURCE_DIR "/config/anomaly_config.json", NULL };
    static const char *const bad_url[] = { "--transaction-url", ",", NULL };

    (void)state;
    assert_int_equal(h_proc_run("api-gateway", seed, NULL, 0), 2);
    assert_int_equal(h_proc_run("api-gateway", db, NULL, 0), 2);
    assert_int_equal(h_proc_run("api-gateway", bad_url, NULL, 0), 2);
    assert_int_equal(h_proc_run("api-gateway", check, NULL, 0), 0);
}

/* The replicas /system/health lists for a service. */
static cJSON *replicas_of(int port, const char *svc)
{
    cJSON *j = h_http_get_json(port, "/system/health", NULL);
    cJSON *reps = cJSON_DetachItemFromObjectCaseSensitive(h_gw_service(j, svc), "replicas");
    cJSON_Delete(j);
    return reps;
}

static bool all_replicas_ok(int port, const char *svc, int want)
{
    cJSON *reps = replicas_of(port, svc);
    const cJSON *it;
    int ok = 0;

    cJSON_ArrayForEach(it, reps) {
        const char *st = h_jstr(it, "state");
        ok += st && strcmp(st, "ok") == 0 && num_of(it, "cursor") > 0;
    }
    cJSON_Delete(reps);
    return ok == want;
}

/* Does arr hold an event whose transaction_id is id? */
static bool has_txn_id(const cJSON *arr, const char *id)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr) {
        const char *x = h_jstr(it, "transaction_id");
        if (x && strcmp(x, id) == 0)
            return true;
    }
    return false;
}

static void test_gateway_polls_every_replica_and_merges_without_duplicates(void **state)
{
    /* a and b are copies (same seed and start); c has other data */
    static const char *const same[] = { "--seed", "11", "--start-time",
                                        "2024-05-06T10:00:00.000Z", NULL };
    static const char *const other[] = { "--seed", "12", "--start-time",
                                         "2024-05-06T10:00:00.000Z", NULL };
    struct proc rep[3], gw;
    char urls[192];
    cJSON *reps, *merged, *own[3], *all[3];
    double upto[3];
    long end, ms = 0;
    int n;

    (void)state;
    for (int i = 0; i < 3; i++) {
        h_proc_init(&rep[i], "gwrepl");
        assert_int_equal(h_proc_start(&rep[i], "transaction-service", i < 2 ? same : other), 0);
    }
    snprintf(urls, sizeof(urls), "http://127.0.0.1:%d,http://127.0.0.1:%d,http://127.0.0.1:%d",
             rep[0].port, rep[1].port, rep[2].port);
    h_proc_init(&gw, "gwrepl");
    assert_int_equal(h_proc_start_gateway_urls(&gw, urls, NULL, NULL, POLL_MS, TIMEOUT_MS), 0);
    end = h_now_ms() + 8000;
    while (!all_replicas_ok(gw.port, "transaction-service", 3) && h_now_ms() < end)
        h_sleep_ms(50);
    assert_true(all_replicas_ok(gw.port, "transaction-service", 3));
    h_sleep_ms(1000);

    /* what each replica had delivered when the merged list was read */
    reps = replicas_of(gw.port, "transaction-service");
    assert_int_equal(cJSON_GetArraySize(reps), 3);
    for (int i = 0; i < 3; i++)
        upto[i] = num_of(cJSON_GetArrayItem(reps, i), "cursor");
    cJSON_Delete(reps);
    merged = gateway_txn_events(gw.port);
    n = cJSON_GetArraySize(merged);

    /* no (source, id) twice */
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            assert_string_not_equal(h_jstr(cJSON_GetArrayItem(merged, i), "transaction_id"),
                                    h_jstr(cJSON_GetArrayItem(merged, k), "transaction_id"));
    /* every event of every replica up to its cursor is there, and
     * nothing else: a and b share theirs, c adds its own */
    for (int i = 0; i < 3; i++) {
        const cJSON *it;
        own[i] = service_events(rep[i].port, "/transactions/events", 0, upto[i]);
        assert_true(cJSON_GetArraySize(own[i]) > 0);
        cJSON_ArrayForEach(it, own[i])
            assert_true(has_txn_id(merged, h_jstr(it, "transaction_id")));
    }
    /* the replicas' whole lists, read after the merged one (the gateway
     * may have polled on since the cursors were read) */
    for (int i = 0; i < 3; i++)
        all[i] = service_events(rep[i].port, "/transactions/events", 0, 1e15);
    for (int i = 0; i < n; i++) {
        const char *id = h_jstr(cJSON_GetArrayItem(merged, i), "transaction_id");
        assert_true(has_txn_id(all[0], id) || has_txn_id(all[1], id) ||
                    has_txn_id(all[2], id));
        assert_false(has_txn_id(all[2], id) && has_txn_id(all[0], id));
    }
    assert_true(n >= cJSON_GetArraySize(own[0]) + cJSON_GetArraySize(own[2]));

    /* one replica down: the service is still served, the replica is not */
    assert_int_equal(h_proc_stop(&rep[1], NULL), 0);
    end = h_now_ms() + 3000;
    for (bool seen = false; !seen && h_now_ms() < end; h_sleep_ms(50)) {
        reps = replicas_of(gw.port, "transaction-service");
        seen = strcmp(h_jstr(cJSON_GetArrayItem(reps, 1), "state"), "unreachable") == 0;
        cJSON_Delete(reps);
    }
    reps = replicas_of(gw.port, "transaction-service");
    assert_string_equal(h_jstr(cJSON_GetArrayItem(reps, 1), "state"), "unreachable");
    assert_non_null(h_jstr(cJSON_GetArrayItem(reps, 1), "last_error"));
    cJSON_Delete(reps);
    assert_true(h_gw_state_is(gw.port, "transaction-service", "ok"));

    for (int i = 0; i < 3; i++) {
        cJSON_Delete(own[i]);
        cJSON_Delete(all[i]);
    }
    cJSON_Delete(merged);
    assert_int_equal(h_proc_stop(&gw, &ms), 0);
    h_proc_cleanup(&gw);
    for (int i = 0; i < 3; i++)
        stop_one(&rep[i]);
}

static void test_gateway_proxy_passes_headers_both_ways(void **state)
{
    static const char *const auth[] = { "Authorization: Bearer gw-secret-token",
                                        "Content-Type: application/json", NULL };
    static const char *const json[] = { "Content-Type: application/json", NULL };
    struct env e;
    struct resp r;

    (void)state;
    assert_int_equal(setenv("ADMIN_TOKEN", "gw-secret-token", 1), 0);
    env_start(&e, false);
    assert_int_equal(unsetenv("ADMIN_TOKEN"), 0);
    /* the service's 405 comes back with its Allow header */
    assert_int_equal(h_http_req(e.gw.port, "DELETE", "/services/transaction-service/health", NULL,
                                NULL, &r),
                     0);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.allow, "GET"));
    h_resp_free(&r);
    /* the client's Authorization reaches the service; without it, 401 */
    assert_int_equal(h_http_req(e.gw.port, "POST", "/services/transaction-service/config",
                                "{\"anomaly_rate\":0.07}", json, &r),
                     0);
    assert_int_equal(r.status, 401);
    h_resp_free(&r);
    assert_int_equal(h_http_req(e.gw.port, "POST", "/services/transaction-service/config",
                                "{\"anomaly_rate\":0.07}", auth, &r),
                     0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    {
        cJSON *c = h_http_get_json(e.txn.port, "/config", NULL);
        assert_true(num_of(c, "anomaly_rate") > 0.0699 && num_of(c, "anomaly_rate") < 0.0701);
        cJSON_Delete(c);
    }
    env_stop(&e);
}

struct slow_call {
    int port;
    struct resp r;
    int rc;
};

static void *proxy_call(void *arg)
{
    struct slow_call *c = arg;

    c->rc = h_http_req(c->port, "GET", "/services/auth-service/health", NULL, NULL, &c->r);
    return NULL;
}

static void test_gateway_stops_promptly_with_upstream_requests_in_flight(void **state)
{
    struct proc gw;
    struct slow_call call;
    pthread_t th;
    char aurl[64];
    long ms = 0;
    int hport = 0, hfd = h_listen_loopback(&hport);

    (void)state;
    snprintf(aurl, sizeof(aurl), "http://127.0.0.1:%d", hport);
    h_proc_init(&gw, "gwstop");
    /* a poll and a proxied request hang for a minute */
    assert_int_equal(h_proc_start_gateway_urls(&gw, NULL, aurl, NULL, NULL, "60000"), 0);
    memset(&call, 0, sizeof(call));
    call.port = gw.port;
    assert_int_equal(pthread_create(&th, NULL, proxy_call, &call), 0);
    h_sleep_ms(500);
    {
        /* the connection's thread and curl's block the stop signals too:
         * only the main thread's wait takes them */
        int n = 0;
        assert_int_equal(h_proc_threads_taking(gw.pid, SIGTERM, &n), 0);
        assert_true(n >= 2);
    }
    assert_int_equal(h_proc_stop(&gw, &ms), 0);
    if (ms >= 2000)
        fail_msg("the gateway took %ld ms to stop", ms);
    assert_int_equal(pthread_join(th, NULL), 0);
    /* the client got an answer, not a hang: a 503 while the gateway shuts
     * down, or its connection closed as the gateway went */
    if (call.rc == 0)
        assert_int_equal(call.r.status, 503);
    h_resp_free(&call.r);
    h_proc_cleanup(&gw);
    close(hfd);
}

/* The gateway's /health has the services' error rate and latency
 * percentiles, and every line it writes is a JSON object (libmicrohttpd
 * once printed a plain-text thread pool warning at start). */
static void test_gateway_health_has_error_rate_and_latency(void **state)
{
    struct proc gw;
    struct resp r;
    cJSON *j, *lat;
    FILE *f;
    char line[4096];
    int lines = 0;

    (void)state;
    h_proc_init(&gw, "gwhealth");
    assert_int_equal(h_proc_start_gateway_urls(&gw, NULL, NULL, NULL, NULL, NULL), 0);
    /* a 404 first: the error rate counts 5xx only */
    assert_int_equal(h_http_req(gw.port, "GET", "/nope", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    h_resp_free(&r);
    j = h_get_json(gw.port, "/health");
    assert_string_equal(h_jstr(j, "status"), "ok");
    assert_string_equal(h_jstr(j, "service"), "api-gateway");
    assert_true(h_jdbl(j, "error_rate") == 0.0);
    lat = cJSON_GetObjectItemCaseSensitive(j, "latency_ms");
    assert_true(cJSON_IsObject(lat));
    assert_true(h_jdbl(lat, "p50") >= 0.0);
    assert_true(h_jdbl(lat, "p99") >= h_jdbl(lat, "p50"));
    cJSON_Delete(j);
    assert_int_equal(h_proc_stop(&gw, NULL), 0);
    f = fopen(gw.log, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);

        if (!cJSON_IsObject(o))
            fail_msg("a gateway log line is not a JSON object: %s", line);
        cJSON_Delete(o);
        lines++;
    }
    fclose(f);
    assert_true(lines >= 1);
    h_proc_cleanup(&gw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_rejects_service_only_flags_with_exit_2),
        cmocka_unit_test(test_gateway_health_has_error_rate_and_latency),
        cmocka_unit_test(test_gateway_events_carry_source_and_dense_gateway_sequence),
        cmocka_unit_test(test_gateway_proxies_get_and_post_to_the_service),
        cmocka_unit_test(test_gateway_stopped_service_is_unreachable_and_reads_stay_fast),
        cmocka_unit_test(test_gateway_answers_within_timeout_with_a_hung_upstream),
        cmocka_unit_test(test_gateway_hung_upstream_delays_only_its_own_proxied_requests),
        cmocka_unit_test(test_gateway_has_no_duplicates_and_no_gaps),
        cmocka_unit_test(test_gateway_fails_over_to_a_healthy_replica),
        cmocka_unit_test(test_gateway_restarts_cursor_when_stream_id_changes),
        cmocka_unit_test(test_gateway_polls_every_replica_and_merges_without_duplicates),
        cmocka_unit_test(test_gateway_proxy_passes_headers_both_ways),
        cmocka_unit_test(test_gateway_stops_promptly_with_upstream_requests_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
