/* test_shutdown.c - every daemon stops cleanly on SIGTERM, every time.
 *
 * libmicrohttpd 0.9's MHD_quiesce_daemon raced its own epoll workers: now
 * and then a daemon aborted on SIGTERM with "Failed to remove listen FD
 * from epoll set" (a panic). A race shows only over many stops, so each
 * daemon is started, asked once, and stopped many times in a row: quiet,
 * and with clients hammering it while the signal lands. Each stop must
 * exit 0 within 2 s and log "stopped". */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define STOP_BUDGET_MS 2000
#define LOADERS        3

struct daemon_kind {
    const char *binary;  /* NULL: the gateway */
    const char *probe;   /* a request that must answer 200 */
    const char *load[LOADERS]; /* what the loaders ask while the signal lands */
};

static const struct daemon_kind kinds[] = {
    { "transaction-service", "/health",
      { "/transactions/events?limit=1000", "/health", "/metrics" } },
    { "auth-service", "/health", { "/auth/events?limit=1000", "/health", "/config" } },
    { "monitoring-service", "/health", { "/metrics/events?limit=1000", "/dashboard", "/health" } },
    /* the gateway's transaction upstream hangs: its proxied requests are
     * in flight when the signal comes */
    { NULL, "/health", { "/events", "/services/transaction-service/health", "/system/health" } },
};

static int iterations(void)
{
    return h_test_scale_small() ? 20 : 200;
}

/* ------------------------------------------------------------------ */
/* Clients that keep asking until told to stop                          */

struct loader {
    pthread_t tid;
    int port;
    const char *path;
    atomic_bool *stop;
    atomic_int answered;    /* any HTTP answer */
    atomic_int bad;         /* an answer other than 200, 502, 503 or 504 */
    atomic_long bad_status;
};

static void *load_run(void *arg)
{
    struct loader *l = arg;

    while (!atomic_load(l->stop)) {
        struct resp r;
        if (h_http_req(l->port, "GET", l->path, NULL, NULL, &r) == 0) {
            atomic_fetch_add(&l->answered, 1);
            /* 502/504: the gateway's hung or stopping upstream; 503:
             * "shutting down" */
            if (r.status != 200 && r.status != 502 && r.status != 503 && r.status != 504) {
                atomic_fetch_add(&l->bad, 1);
                atomic_store(&l->bad_status, r.status);
            }
        }
        h_resp_free(&r);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */

static bool log_has_stopped(const struct proc *p)
{
    char buf[1 << 16];
    FILE *f = fopen(p->log, "r");
    size_t n;

    if (!f)
        return false;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf) - 1)
        (void)fseek(f, -(long)sizeof(buf) + 1, SEEK_END);
    else
        rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "\"msg\":\"stopped\"") != NULL;
}

/* For the gateway: a listener that never answers, as its auth-service
 * upstream (url gets its address); -1 and "" for a service. */
static int hung_upstream(const struct daemon_kind *k, char *url, size_t len)
{
    int port, fd;

    url[0] = '\0';
    if (k->binary)
        return -1;
    fd = h_listen_loopback(&port);
    assert_true(fd >= 0);
    snprintf(url, len, "http://127.0.0.1:%d", port);
    return fd;
}

static void start(struct proc *p, const struct daemon_kind *k, const char *hung_url)
{
    static const char *const svc_args[] = { "--seed", "3", NULL };

    h_proc_init(p, "shutdown");
    if (k->binary) {
        assert_int_equal(h_proc_start(p, k->binary, svc_args), 0);
    } else {
        assert_int_equal(h_proc_start_gateway_urls(p, hung_url[0] ? hung_url : NULL, NULL, NULL,
                                                   "100", "800"),
                         0);
    }
}

static void stop_and_check(struct proc *p, int iter, const char *what)
{
    long ms = 0;
    int rc = h_proc_stop(p, &ms);

    if (rc != 0 || ms > STOP_BUDGET_MS || !log_has_stopped(p))
        fail_msg("%s, iteration %d: exit %d after %ld ms, \"stopped\" %s", what, iter, rc, ms,
                 log_has_stopped(p) ? "logged" : "not logged");
    h_proc_finish(p);
}

static void run_quiet(const struct daemon_kind *k, const char *what)
{
    struct proc *p = &h_procs[0];
    char hung[64] = "";
    int hung_fd = hung_upstream(k, hung, sizeof(hung)), n = iterations();

    for (int i = 0; i < n; i++) {
        struct resp r;

        start(p, k, hung);
        assert_int_equal(h_http_req(p->port, "GET", k->probe, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        h_resp_free(&r);
        stop_and_check(p, i, what);
    }
    if (hung_fd >= 0)
        close(hung_fd);
}

static void run_loaded(const struct daemon_kind *k, const char *what)
{
    struct proc *p = &h_procs[0];
    char hung[64] = "";
    int hung_fd = hung_upstream(k, hung, sizeof(hung)), n = iterations();

    for (int i = 0; i < n; i++) {
        struct loader ld[LOADERS];
        atomic_bool stop;
        long t0;

        start(p, k, hung);
        atomic_init(&stop, false);
        for (int j = 0; j < LOADERS; j++) {
            memset(&ld[j], 0, sizeof(ld[j]));
            ld[j].port = p->port;
            ld[j].path = k->load[j];
            ld[j].stop = &stop;
            atomic_init(&ld[j].answered, 0);
            atomic_init(&ld[j].bad, 0);
            atomic_init(&ld[j].bad_status, 0);
            assert_int_equal(pthread_create(&ld[j].tid, NULL, load_run, &ld[j]), 0);
        }
        /* every loader has been answered once: the next ones are in flight
         * (the gateway's proxied one hangs on its upstream) */
        t0 = h_now_ms();
        for (int j = 0; j < LOADERS; j++)
            while (atomic_load(&ld[j].answered) == 0 && h_now_ms() - t0 < 5000 &&
                   (k->binary || j != 1))
                h_sleep_ms(2);
        stop_and_check(p, i, what);
        atomic_store(&stop, true);
        for (int j = 0; j < LOADERS; j++) {
            pthread_join(ld[j].tid, NULL);
            if (atomic_load(&ld[j].bad))
                fail_msg("%s, iteration %d: %s answered %ld while stopping", what, i,
                         ld[j].path, atomic_load(&ld[j].bad_status));
            if (k->binary || j != 1)
                assert_true(atomic_load(&ld[j].answered) > 0);
        }
    }
    if (hung_fd >= 0)
        close(hung_fd);
}

static void test_transaction_service_stops_cleanly_every_time(void **state)
{
    (void)state;
    run_quiet(&kinds[0], "transaction-service");
}

static void test_auth_service_stops_cleanly_every_time(void **state)
{
    (void)state;
    run_quiet(&kinds[1], "auth-service");
}

static void test_monitoring_service_stops_cleanly_every_time(void **state)
{
    (void)state;
    run_quiet(&kinds[2], "monitoring-service");
}

static void test_gateway_stops_cleanly_every_time(void **state)
{
    (void)state;
    run_quiet(&kinds[3], "api-gateway");
}

static void test_transaction_service_stops_cleanly_under_load(void **state)
{
    (void)state;
    run_loaded(&kinds[0], "transaction-service under load");
}

static void test_auth_service_stops_cleanly_under_load(void **state)
{
    (void)state;
    run_loaded(&kinds[1], "auth-service under load");
}

static void test_monitoring_service_stops_cleanly_under_load(void **state)
{
    (void)state;
    run_loaded(&kinds[2], "monitoring-service under load");
}

static void test_gateway_stops_cleanly_with_proxied_requests_in_flight(void **state)
{
    (void)state;
    run_loaded(&kinds[3], "api-gateway under load");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, h_procs_setup, h_procs_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_transaction_service_stops_cleanly_every_time),
        T(test_auth_service_stops_cleanly_every_time),
        T(test_monitoring_service_stops_cleanly_every_time),
        T(test_gateway_stops_cleanly_every_time),
        T(test_transaction_service_stops_cleanly_under_load),
        T(test_auth_service_stops_cleanly_under_load),
        T(test_monitoring_service_stops_cleanly_under_load),
        T(test_gateway_stops_cleanly_with_proxied_requests_in_flight),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
