/* test_xincidents.c - cross-service incidents end to end: auth-service and
 * transaction-service, started apart with the same seed and start time,
 * each emit their part of every account takeover of the shared schedule
 * (common/xincident.c) with its id, at its time, on the same customer;
 * each part meets its rule; the gateway lists each takeover once with
 * both sources and answers its id with the events of both. Infrastructure
 * cascades likewise: monitoring's cascade_failure, and in its window the
 * transactions slowed or declined by it and, when it hits auth's
 * backends, logins failing with service_unavailable, under one id. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "harness.h"
#include "timefmt.h"
#include "xincident.h"

#define START "2026-01-05T00:00:00Z"
#define SEED  "7"
#define MAX_X 64
/* Few events a second, so a day of history is quick (parts still start
 * within a second or so of their planned time), and few anomalies, so one
 * page of the gateway's list holds every incident. */
#define CONFIG                                                                     \
    "{\"generation_settings\": {\"events_per_second\": 5, \"retention_events\": 5000000}, \"anomaly_settings\": {" \
    "\"transaction_service\": {\"anomaly_rate\": 0.001}, "                         \
    "\"auth_service\": {\"anomaly_rate\": 0.001}}}"
#define LATE_MS 30000 /* a part's first event after its planned time, at most */

static const char *backfill(void)
{
    return h_test_scale_small() ? "24h" : "72h";
}

static struct proc *start(const char *binary, int slot)
{
    const char *args[] = { "--seed", SEED, "--start-time", START, "--backfill", backfill(),
                           NULL };
    struct proc *p = &h_procs[slot];
    struct resp r;

    h_proc_start_backfilled(p, binary, binary, CONFIG, args, 120000);
    assert_int_equal(h_http_req(p->port, "POST", "/config", "{\"paused\":true}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    h_sleep_ms(300); /* a batch under way commits */
    return p;
}

static int64_t ms_of(const cJSON *o, const char *k)
{
    int64_t ms = 0;

    assert_int_equal(timefmt_parse_iso(h_jstr(o, k), &ms), 0);
    return ms;
}

/* The takeovers whose whole schedule (login to the last transaction a
 * fraud run or laundering could take) lies in the backfill. */
static int takeovers(struct xinc *x)
{
    struct xinc all[MAX_X * 2];
    int64_t from = 0, hours = h_test_scale_small() ? 24 : 72, to;
    int n, k = 0;

    assert_int_equal(timefmt_parse_iso(START, &from), 0);
    to = from + hours * XINC_SLOT_MS - 2 * XINC_SLOT_MS; /* laundering runs take long */
    n = xincident_schedule(7, from + XINC_OWNER_MAX_MS, to, all, MAX_X * 2);
    assert_true(n <= MAX_X * 2);
    for (int i = 0; i < n; i++)
        if (all[i].kind == XINC_TAKEOVER && k < MAX_X)
            x[k++] = all[i];
    return k;
}

static cJSON *incident_at(int port, const char *id, long *status)
{
    char path[96];

    snprintf(path, sizeof path, "/incidents/%.36s", id);
    return h_http_get_json(port, path, status);
}

static void test_services_apart_agree_on_takeovers_and_the_gateway_lists_each_once(void **state)
{
    struct xinc x[MAX_X];
    struct proc *tx, *au, gw;
    char url[2][64];
    int n = takeovers(x), in_auth = 0;
    bool both[MAX_X] = { false };
    cJSON *list;

    (void)state;
    assert_true(n >= 2);
    tx = start("transaction-service", 0);
    au = start("auth-service", 1);
    for (int i = 0; i < n; i++) {
        long sa = 0, st = 0;
        cJSON *a = incident_at(au->port, x[i].id, &sa), *t = incident_at(tx->port, x[i].id, &st);
        const cJSON *ev, *e;
        const char *cust = NULL;
        int64_t login = 0, prev = 0;
        int k = 0;

        /* the transaction part always; auth's unless the owner was flying */
        assert_int_equal(st, 200);
        if (sa == 200) {
            in_auth++;
            assert_int_equal(h_jnum(a, "event_count"), 1);
            assert_string_equal(h_jstr(a, "type"), "unusual_location");
            assert_string_equal(h_jstr(a, "origin"), "generated");
            e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "events"), 0);
            assert_string_equal(h_jstr(e, "result"), "success");
            assert_string_equal(h_jstr(e, "incident_id"), x[i].id);
            login = ms_of(e, "timestamp");
            assert_true(login >= x[i].start_ms && login < x[i].start_ms + LATE_MS);
            cust = h_jstr(e, "customer_id");
        }
        assert_string_equal(h_jstr(t, "origin"), "generated");
        ev = cJSON_GetObjectItemCaseSensitive(t, "events");
        assert_true(cJSON_GetArraySize(ev) >= 3 && cJSON_GetArraySize(ev) <= 6);
        cJSON_ArrayForEach(e, ev) {
            int64_t ts = ms_of(e, "timestamp");

            assert_string_equal(h_jstr(e, "incident_id"), x[i].id);
            if (k++ == 0) {
                int64_t due = xincident_followup_ms(&x[i]);

                assert_true(ts >= due && ts < due + LATE_MS);
                if (login) { /* 2-10 minutes after the login */
                    assert_true(ts - login >= XINC_LAG_MIN_MS - LATE_MS);
                    assert_true(ts - login <= XINC_LAG_MAX_MS);
                }
            }
            assert_true(ts >= prev);
            prev = ts;
            /* one customer: the auth user's */
            if (cust)
                assert_string_equal(h_jstr(e, "customer_id"), cust);
            cust = h_jstr(e, "customer_id");
        }
        both[i] = sa == 200;
        cJSON_Delete(a);
        cJSON_Delete(t);
    }
    print_message("%d takeovers scheduled; %d in both services\n", n, in_auth);
    assert_true(in_auth * 10 >= n * 8); /* owners are rarely in the air */

    /* the gateway: each takeover once, both sources, all its events */
    snprintf(url[0], sizeof url[0], "http://127.0.0.1:%d", tx->port);
    snprintf(url[1], sizeof url[1], "http://127.0.0.1:%d", au->port);
    h_proc_init(&gw, "gw");
    assert_int_equal(h_proc_start_gateway_urls(&gw, url[0], url[1], NO_UPSTREAM_URL, NULL, NULL),
                     0);
    list = h_get_json(gw.port, "/incidents?limit=1000");
    assert_true(h_jnum(list, "count") < 1000); /* all of them */
    for (int i = 0; i < n; i++) {
        const cJSON *it, *src;
        int seen = 0;
        long status = 0;
        cJSON *one;

        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "incidents")) {
            if (strcmp(h_jstr(it, "incident_id"), x[i].id) != 0)
                continue;
            seen++;
            src = cJSON_GetObjectItemCaseSensitive(it, "sources");
            assert_int_equal(cJSON_GetArraySize(src), both[i] ? 2 : 1);
            if (both[i]) {
                assert_string_equal(cJSON_GetArrayItem(src, 0)->valuestring, "auth-service");
                assert_string_equal(cJSON_GetArrayItem(src, 1)->valuestring,
                                    "transaction-service");
                assert_string_equal(h_jstr(it, "type"), "unusual_location");
            }
        }
        assert_int_equal(seen, 1);
        one = incident_at(gw.port, x[i].id, &status);
        assert_int_equal(status, 200);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "sources")),
                         both[i] ? 2 : 1);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(one, "events")),
                         h_jnum(one, "event_count"));
        cJSON_Delete(one);
    }
    cJSON_Delete(list);
    h_proc_stop(&gw, NULL);
    h_proc_cleanup(&gw);
}

/* The cascades whose window lies in the first `hours` of the backfill. */
static int cascades(struct xinc *x, int hours)
{
    struct xinc all[MAX_X * 2];
    int64_t from = 0;
    int n, k = 0;

    assert_int_equal(timefmt_parse_iso(START, &from), 0);
    n = xincident_schedule(7, from, from + (hours - 1) * XINC_SLOT_MS, all, MAX_X * 2);
    assert_true(n <= MAX_X * 2);
    for (int i = 0; i < n; i++)
        if (all[i].kind == XINC_CASCADE && k < MAX_X)
            x[k++] = all[i];
    return k;
}

/* A service's part of cascade x: its incident closed, every event in the
 * window under the shared id and meeting the part's rule (the check). */
static int check_part(int port, const struct xinc *x, int max_events,
                      void (*check)(const cJSON *e))
{
    long status = 0;
    cJSON *inc = incident_at(port, x->id, &status);
    const cJSON *e;
    int n;

    assert_int_equal(status, 200);
    assert_string_equal(h_jstr(inc, "type"), "cascade_failure");
    assert_string_equal(h_jstr(inc, "state"), "closed");
    assert_string_equal(h_jstr(inc, "origin"), "generated");
    n = (int)h_jnum(inc, "event_count");
    assert_true(n >= 1 && n <= max_events);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(inc, "events")), n);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
        int64_t ts = ms_of(e, "timestamp");

        assert_string_equal(h_jstr(e, "incident_id"), x->id);
        assert_string_equal(h_jstr(e, "anomaly_type"), "cascade_failure");
        /* in the window, the last a free event or so late */
        assert_true(ts >= x->start_ms + XINC_PART_DELAY_MS);
        assert_true(ts < xincident_cascade_end_ms(x) + LATE_MS);
        check(e);
    }
    cJSON_Delete(inc);
    return n;
}

static void check_txn_part(const cJSON *e)
{
    const char *st = h_jstr(e, "status");

    assert_true(h_jnum(e, "processing_time_ms") >= 8000); /* a normal one: 6000 at most */
    assert_true(strcmp(st, "declined") == 0 || strcmp(st, "approved") == 0);
}

static void check_auth_part(const cJSON *e)
{
    assert_string_equal(h_jstr(e, "result"), "failure");
    assert_string_equal(h_jstr(e, "failure_reason"), "service_unavailable");
}

static void test_cascades_reach_the_services_they_hit_under_one_id(void **state)
{
    struct xinc x[MAX_X];
    int hours = h_test_scale_small() ? 24 : 72, n = cascades(x, hours), in_auth = 0, in_mon = 0;
    struct proc *tx, *au, *mo, gw;
    char url[3][64];
    cJSON *list;

    (void)state;
    assert_true(n >= 2);
    tx = start("transaction-service", 0);
    au = start("auth-service", 1);
    mo = start("monitoring-service", 2);
    for (int i = 0; i < n; i++) {
        unsigned hits = xincident_cascade_hits[xincident_cascade_origin(&x[i])];
        long ms = 0, as = 0;
        cJSON *m = incident_at(mo->port, x[i].id, &ms);

        check_part(tx->port, &x[i], 16, check_txn_part); /* transactions call every origin */
        if (hits & XINC_HIT_AUTH) {
            check_part(au->port, &x[i], 12, check_auth_part);
            in_auth++;
        } else {
            cJSON *a = incident_at(au->port, x[i].id, &as);

            assert_int_equal(as, 404); /* kafka and fraud scoring: not auth's */
            cJSON_Delete(a);
        }
        if (ms == 200) {
            assert_string_equal(h_jstr(m, "type"), "cascade_failure");
            in_mon++;
        }
        cJSON_Delete(m);
    }
    print_message("%d cascades scheduled; %d reach auth, %d in monitoring\n", n, in_auth,
                  in_mon);
    assert_true(in_mon * 10 >= n * 8);

    /* the gateway: each once, with every service that has a part */
    snprintf(url[0], sizeof url[0], "http://127.0.0.1:%d", tx->port);
    snprintf(url[1], sizeof url[1], "http://127.0.0.1:%d", au->port);
    snprintf(url[2], sizeof url[2], "http://127.0.0.1:%d", mo->port);
    h_proc_init(&gw, "gw");
    assert_int_equal(h_proc_start_gateway_urls(&gw, url[0], url[1], url[2], NULL, NULL), 0);
    list = h_get_json(gw.port, "/incidents?type=cascade_failure&limit=1000");
    assert_true(h_jnum(list, "count") < 1000);
    for (int i = 0; i < n; i++) {
        unsigned hits = xincident_cascade_hits[xincident_cascade_origin(&x[i])];
        const cJSON *it;
        int seen = 0;

        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "incidents")) {
            const cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "sources"), *sv;
            int has_auth = 0, has_txn = 0;

            if (strcmp(h_jstr(it, "incident_id"), x[i].id) != 0)
                continue;
            seen++;
            cJSON_ArrayForEach(sv, src) {
                has_auth += strcmp(sv->valuestring, "auth-service") == 0;
                has_txn += strcmp(sv->valuestring, "transaction-service") == 0;
            }
            assert_int_equal(has_txn, 1);
            assert_int_equal(has_auth, (hits & XINC_HIT_AUTH) ? 1 : 0);
        }
        assert_int_equal(seen, 1);
    }
    cJSON_Delete(list);
    h_proc_stop(&gw, NULL);
    h_proc_cleanup(&gw);
}

/* The seed in a daemon's "listening" log line. */
static unsigned long long logged_seed(const struct proc *p)
{
    char line[2048];
    unsigned long long seed = 0;
    FILE *f = fopen(p->log, "r");

    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "\"seed\":");

        char *end = NULL;

        if (strstr(line, "\"listening\"") && at) {
            seed = strtoull(at + 7, &end, 10);
            assert_true(end && (*end == ',' || *end == '}'));
        }
    }
    fclose(f);
    return seed;
}

/* Without --seed, services given one --seed-file share a random seed: the
 * first writes it, the others read it (compose's shared volume). */
static void test_services_sharing_a_seed_file_share_its_seed(void **state)
{
    char path[320], text[64] = "";
    const char *args[] = { "--seed-file", path, "--backfill", "10s", NULL };
    unsigned long long a, b;
    char *end = NULL;
    FILE *f;

    (void)state;
    h_proc_init(&h_procs[2], "seedfile"); /* the shared directory, removed at teardown */
    snprintf(path, sizeof path, "%s/shared-seed", h_procs[2].dir);
    h_proc_start_backfilled(&h_procs[0], "transaction-service", "transaction-service", NULL, args,
                            60000);
    h_proc_start_backfilled(&h_procs[1], "auth-service", "auth-service", NULL, args, 60000);
    a = logged_seed(&h_procs[0]);
    b = logged_seed(&h_procs[1]);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    print_message("seed %llu from %s\n", a, path);
    assert_true(a != 0);
    assert_true(a == b);
    assert_true(strtoull(text, &end, 10) == a && *end == '\n');
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, h_procs_setup, h_procs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_services_apart_agree_on_takeovers_and_the_gateway_lists_each_once),
        T(test_cascades_reach_the_services_they_hit_under_one_id),
        T(test_services_sharing_a_seed_file_share_its_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
