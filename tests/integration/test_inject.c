/* test_inject.c - POST /inject, end to end: an injected incident is
 * generated events with origin "injected" that meet the type's rule and
 * are not counted toward anomaly_rate; live, its first event is listed
 * within a second; a scheduled one survives a stop and kill -9; the same
 * seed, start and injection give the same bytes; bad input is a 422
 * naming the field with nothing stored; ADMIN_TOKEN applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "harness.h"

#define START    "2026-01-05T09:00:00Z"
#define AT       "2026-01-05T09:20:00Z"
#define BACKFILL "1h"
#define END_TS   "2026-01-05T10:00:00.000Z"
/* 20 events/s: an hour stays under retention_events, so a whole backfill
 * can be compared from sequence 1 */
#define PAUSED   "{\"generation_settings\":{\"paused\":true,\"events_per_second\":20}}"

static const char *const backfill_args[] = { "--seed", "21", "--start-time", START,
                                              "--backfill", BACKFILL, NULL };

/* A service at START, paused before its first event, so an injection can
 * be placed in the backfill still to come. */
static void start_paused(struct proc *p, const char *tag, const char *binary)
{
    h_proc_init(p, tag);
    h_proc_write_config(p, PAUSED);
    assert_int_equal(h_proc_start(p, binary, backfill_args), 0);
}

static void unpause_and_backfill(struct proc *p)
{
    struct resp r;

    assert_int_equal(h_http_req(p->port, "POST", "/config", "{\"paused\":false}", h_json_ct, &r),
                     0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    assert_true(h_wait_backfilled(p->port, 120000));
}

/* POSTs body to /inject; 201 expected; the incident id into id. */
static cJSON *inject(int port, const char *body, char id[40])
{
    struct resp r;
    cJSON *j;

    assert_int_equal(h_http_req(port, "POST", "/inject", body, h_json_ct, &r), 0);
    if (r.status != 201)
        fail_msg("POST /inject %s: %ld %s", body, r.status, r.body);
    j = cJSON_Parse(r.body);
    h_resp_free(&r);
    assert_non_null(j);
    assert_true(h_is_uuid_v4(h_jstr(j, "incident_id")));
    assert_string_equal(h_jstr(j, "state"), "scheduled");
    assert_string_equal(h_jstr(j, "origin"), "injected");
    snprintf(id, 40, "%s", h_jstr(j, "incident_id"));
    return j;
}

static cJSON *incident(int port, const char *id)
{
    char path[96];

    snprintf(path, sizeof path, "/incidents/%s", id);
    return h_get_json(port, path);
}

/* Milliseconds into the day of an event time: every time here is on the
 * backfill's one day. */
static long long ms_of(const char *iso)
{
    int y, mo, d, h, mi, sec, ms;

    assert_int_equal(sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &sec, &ms), 7);
    assert_int_equal(d, 5);
    return ((h * 60LL + mi) * 60 + sec) * 1000 + ms;
}

/* The incident is closed with n events, all origin injected, labelled
 * type, begun from AT on, within late_ms. */
static cJSON *check_injected_within(int port, const char *id, const char *type, int n,
                                    long long late_ms)
{
    cJSON *inc = incident(port, id), *evs = cJSON_GetObjectItemCaseSensitive(inc, "events"), *e;

    assert_string_equal(h_jstr(inc, "origin"), "injected");
    assert_string_equal(h_jstr(inc, "type"), type);
    assert_string_equal(h_jstr(inc, "state"), "closed");
    assert_int_equal(h_jnum(inc, "event_count"), n);
    assert_int_equal(cJSON_GetArraySize(evs), n);
    assert_true(ms_of(h_jstr(inc, "started_at")) >= ms_of("2026-01-05T09:20:00.000Z"));
    assert_true(ms_of(h_jstr(inc, "started_at")) < ms_of("2026-01-05T09:20:00.000Z") + late_ms);
    cJSON_ArrayForEach(e, evs) {
        assert_string_equal(h_jstr(e, "origin"), "injected");
        assert_string_equal(h_jstr(e, "anomaly_type"), type);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly")));
    }
    return inc;
}

/* ... within a second (the next events: transactions, logins, and a
 * monitoring injection due first, whose series comes within a cycle). */
static cJSON *check_injected(int port, const char *id, const char *type, int n)
{
    return check_injected_within(port, id, type, n, 98 * 1000 / 20 + 1000);
}

/* A monitoring injection queued behind others: they take a few cycles
 * (5 s at 20 samples a second) each. */
static cJSON *check_injected_from(int port, const char *id, const char *type, int n)
{
    return check_injected_within(port, id, type, n, 10 * 60 * 1000);
}

/* The service's count of anomalies (what anomaly_rate is held to) is
 * every labelled event but the n injected ones (of ninj injections). */
static void check_not_counted_of(struct proc *p, long long n, int ninj)
{
    struct resp r;
    struct sqlite3 *db;
    cJSON *m;
    long long counted;

    assert_int_equal(h_http_req(p->port, "POST", "/config", "{\"paused\":true}", h_json_ct, &r),
                     0);
    h_resp_free(&r);
    h_sleep_ms(300);
    m = h_get_json(p->port, "/metrics");
    counted = h_jnum(cJSON_GetObjectItemCaseSensitive(m, "events"), "anomalies");
    cJSON_Delete(m);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    db = h_db_open_checked(p->db);
    assert_int_equal(h_db_int(db, "SELECT count(*) FROM events WHERE anomaly_type IS NOT NULL"),
                     counted + n);
    assert_int_equal(h_db_int(db, "SELECT count(*) FROM injections WHERE taken_seq IS NOT NULL"),
                     ninj);
    assert_int_equal(h_db_int(db, "SELECT count(*) FROM events WHERE body LIKE "
                                  "'%\"origin\":\"injected\"%'"),
                     n);
    h_db_close(db);
}

static void check_not_counted(struct proc *p, long long n)
{
    check_not_counted_of(p, n, 1);
}

/* ---- monitoring ---- */

static bool is_metric(const cJSON *e, const char *name)
{
    return strcmp(h_jstr(e, "metric_name"), name) == 0;
}

static void check_high_cpu(const cJSON *inc)
{
    const cJSON *e;
    long long prev = -1;

    /* over 90 % for several samples in a row of one host's cpu */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
        long long t = ms_of(h_jstr(e, "timestamp"));
        assert_string_equal(h_jstr(e, "host"), "db-02");
        assert_string_equal(h_jstr(e, "service"), "core-database");
        assert_true(is_metric(e, "cpu_utilization"));
        assert_true(h_jdbl(e, "metric_value") > 90.0);
        if (prev >= 0) /* consecutive samples of the series: one cycle apart */
            assert_true(t - prev <= 98 * 1000 / 20 + 50);
        prev = t;
    }
}

static void check_timeout(const cJSON *inc, int n)
{
    const cJSON *e;
    const char *host = NULL;
    int slow = 0, errs = 0;

    /* latency over 5,000 ms with an error-rate jump, one host */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
        if (!host)
            host = h_jstr(e, "host");
        assert_string_equal(h_jstr(e, "host"), host);
        if (is_metric(e, "response_time_ms")) {
            assert_true(h_jdbl(e, "metric_value") > 5000.0);
            slow++;
        } else {
            assert_true(is_metric(e, "error_rate"));
            assert_true(h_jdbl(e, "metric_value") >= 10.0);
            errs++;
        }
    }
    assert_int_equal(slow, (n - 1) / 2);
    assert_int_equal(errs, n - (n - 1) / 2);
}

static void check_cascade(const cJSON *inc, const char *origin)
{
    const cJSON *e;
    const char *svc[8];
    unsigned metrics[8] = { 0 };
    int nsvc = 0, both = 0;
    long long t0 = -1;

    /* error rate and latency of three dependent services or more, every
     * onset within a minute of the first event */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
        const char *sv = h_jstr(e, "service");
        long long t = ms_of(h_jstr(e, "timestamp"));
        int i;
        if (t0 < 0) {
            t0 = t;
            assert_string_equal(sv, origin);
        }
        for (i = 0; i < nsvc && strcmp(svc[i], sv) != 0; i++)
            ;
        if (i == nsvc) {
            assert_true(nsvc < 8);
            svc[nsvc++] = sv;
        }
        if (is_metric(e, "error_rate")) {
            assert_true(h_jdbl(e, "metric_value") >= 6.0);
            if (!(metrics[i] & 2u))
                assert_true(t - t0 <= 60000);
            metrics[i] |= 2u;
        } else {
            assert_true(is_metric(e, "response_time_ms"));
            if (!(metrics[i] & 1u))
                assert_true(t - t0 <= 60000);
            metrics[i] |= 1u;
        }
    }
    for (int i = 0; i < nsvc; i++)
        both += metrics[i] == 3u;
    assert_true(both >= 3);
}

static void check_degradation(const cJSON *inc)
{
    const cJSON *e;
    double prev = -1.0;

    /* one host's latency rising strictly, never over 5,000 ms */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
        assert_true(is_metric(e, "response_time_ms"));
        assert_true(h_jdbl(e, "metric_value") > prev);
        assert_true(h_jdbl(e, "metric_value") < 5000.0);
        prev = h_jdbl(e, "metric_value");
    }
}

static void test_inject_monitoring_in_backfill_meets_its_rules(void **state)
{
    struct proc *p = &h_procs[0];
    char id[4][40];
    cJSON *j, *inc;

    (void)state;
    start_paused(p, "injmon", "monitoring-service");
    j = inject(p->port,
               "{\"type\":\"high_cpu\",\"target\":{\"host\":\"db-02\"},\"at\":\"" AT
               "\",\"size\":8}",
               id[0]);
    assert_int_equal(h_jnum(j, "planned_event_count"), 8);
    cJSON_Delete(j);
    cJSON_Delete(inject(p->port, "{\"type\":\"network_timeout\",\"at\":\"" AT "\"}", id[1]));
    j = inject(p->port,
               "{\"type\":\"cascade_failure\",\"target\":{\"service\":\"core-database\"},"
               "\"at\":\"" AT "\",\"size\":20}",
               id[2]);
    assert_int_equal(h_jnum(j, "planned_event_count"), 20);
    cJSON_Delete(j);
    cJSON_Delete(inject(p->port,
                        "{\"type\":\"performance_degradation\",\"at\":\"" AT "\",\"size\":10}",
                        id[3]));
    unpause_and_backfill(p);

    inc = check_injected(p->port, id[0], "high_cpu", 8);
    check_high_cpu(inc);
    cJSON_Delete(inc);
    inc = check_injected(p->port, id[1], "network_timeout", 7); /* the usual size */
    check_timeout(inc, 7);
    cJSON_Delete(inc);
    inc = check_injected_from(p->port, id[2], "cascade_failure", 20);
    check_cascade(inc, "core-database");
    cJSON_Delete(inc);
    inc = check_injected_from(p->port, id[3], "performance_degradation", 10);
    check_degradation(inc);
    cJSON_Delete(inc);
    check_not_counted_of(p, 8 + 7 + 20 + 10, 4);
}

static void test_inject_fraud_in_backfill_meets_its_rule(void **state)
{
    struct proc *p = &h_procs[0];
    char id[40];
    cJSON *j, *inc, *e;
    const char *cust = NULL, *merch = NULL;

    (void)state;
    start_paused(p, "injfraud", "transaction-service");
    j = inject(p->port, "{\"type\":\"fraud_pattern\",\"at\":\"" AT "\",\"size\":6}", id);
    assert_int_equal(h_jnum(j, "planned_event_count"), 6);
    assert_true(ms_of(h_jstr(j, "planned_start")) >= ms_of("2026-01-05T09:20:00.000Z"));
    cJSON_Delete(j);
    unpause_and_backfill(p);
    inc = check_injected(p->port, id, "fraud_pattern", 6);
    /* several small purchases, same customer, same merchant, minutes apart */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
        assert_string_equal(h_jstr(e, "transaction_type"), "purchase");
        assert_true(h_jdbl(e, "amount") <= 60.0);
        assert_string_equal(h_jstr(e, "incident_id"), id);
        if (!cust) {
            cust = h_jstr(e, "customer_id");
            merch = h_jstr(e, "merchant_id");
        }
        assert_string_equal(h_jstr(e, "customer_id"), cust);
        assert_string_equal(h_jstr(e, "merchant_id"), merch);
    }
    cJSON_Delete(inc);
    check_not_counted(p, 6);
}

static void test_inject_brute_force_in_backfill_meets_its_rule(void **state)
{
    struct proc *p = &h_procs[0];
    char id[40];
    cJSON *inc, *evs, *e;
    const char *user, *ip;

    (void)state;
    start_paused(p, "injbrute", "auth-service");
    cJSON_Delete(inject(p->port, "{\"type\":\"brute_force\",\"at\":\"" AT "\",\"size\":12}", id));
    unpause_and_backfill(p);
    inc = check_injected(p->port, id, "brute_force", 12);
    evs = cJSON_GetObjectItemCaseSensitive(inc, "events");
    user = h_jstr(cJSON_GetArrayItem(evs, 0), "username");
    ip = h_jstr(cJSON_GetArrayItem(evs, 0), "ip_address");
    /* >= 10 failures for one username from one IP within 5 minutes; never in */
    cJSON_ArrayForEach(e, evs) {
        assert_string_equal(h_jstr(e, "username"), user);
        assert_string_equal(h_jstr(e, "ip_address"), ip);
        assert_string_equal(h_jstr(e, "result"), "failure");
    }
    assert_true(ms_of(h_jstr(cJSON_GetArrayItem(evs, 11), "timestamp")) -
                    ms_of(h_jstr(cJSON_GetArrayItem(evs, 0), "timestamp")) <=
                5 * 60 * 1000);
    cJSON_Delete(inc);
}

/* The newest page of list holds an event of incident id within 1 s of
 * the 201; returns it (caller deletes the page in *page). A miss keeps
 * looking for 5 s more to say how late the event was. */
static cJSON *first_event_within_1s(int port, const char *list, const char *id, cJSON **page)
{
    long t0 = h_now_ms(), polls = 0;
    char path[96];

    snprintf(path, sizeof path, "%s?limit=200", list);
    while (h_now_ms() - t0 < 6000) {
        cJSON *e;
        *page = h_get_json(port, path);
        polls++;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(*page, "events")) {
            const char *inc = h_jstr(e, "incident_id");
            if (inc && strcmp(inc, id) == 0) {
                long took = h_now_ms() - t0;
                print_message("first injected event listed after %ld ms (%ld polls)\n", took,
                              polls);
                if (took > 1000)
                    fail_msg("injected incident %s: first event listed after %ld ms, not "
                             "within 1 s",
                             id, took);
                return e;
            }
        }
        cJSON_Delete(*page);
        *page = NULL;
        h_sleep_ms(20);
    }
    fail_msg("no event of injected incident %s listed within 6 s (%ld polls)", id, polls);
    return NULL;
}

static void test_inject_live_first_event_within_a_second(void **state)
{
    struct proc *t = &h_procs[0], *a = &h_procs[1];
    const char *const args[] = { "--seed", "22", "--backfill", "2m", NULL };
    char body[256], id[40], cust[16], user[80];
    cJSON *page, *e;

    (void)state;
    h_proc_start_backfilled(t, "injlivet", "transaction-service", NULL, args, 60000);
    h_proc_start_backfilled(a, "injlivea", "auth-service", NULL, args, 60000);

    page = h_get_json(t->port, "/transactions/events?limit=1");
    snprintf(cust, sizeof cust, "%s",
             h_jstr(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(page, "events"), 0),
                    "customer_id"));
    cJSON_Delete(page);
    snprintf(body, sizeof body,
             "{\"type\":\"money_laundering\",\"target\":{\"customer_id\":\"%s\"},\"at\":\"now\"}",
             cust);
    cJSON_Delete(inject(t->port, body, id));
    e = first_event_within_1s(t->port, "/transactions/events", id, &page);
    assert_string_equal(h_jstr(e, "origin"), "injected");
    assert_string_equal(h_jstr(e, "customer_id"), cust);
    assert_string_equal(h_jstr(e, "transaction_type"), "transfer");
    cJSON_Delete(page);

    /* a user who logged in (an attempt may name no one: stuffing lists) */
    page = h_get_json(a->port, "/auth/events?limit=200");
    user[0] = '\0';
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(page, "events")) {
        if (strcmp(h_jstr(e, "result"), "success") == 0) {
            snprintf(user, sizeof user, "%s", h_jstr(e, "username"));
            break;
        }
    }
    cJSON_Delete(page);
    assert_true(user[0] != '\0');
    snprintf(body, sizeof body, "{\"type\":\"brute_force\",\"target\":{\"username\":\"%s\"}}",
             user);
    cJSON_Delete(inject(a->port, body, id));
    e = first_event_within_1s(a->port, "/auth/events", id, &page);
    assert_string_equal(h_jstr(e, "origin"), "injected");
    assert_string_equal(h_jstr(e, "username"), user);
    assert_string_equal(h_jstr(e, "result"), "failure");
    cJSON_Delete(page);
}

/* Monitoring samples its 98 series in turn, so a host's series comes
 * round once a cycle (0.98 s at the default 100 a second). An injection
 * takes its series out of turn at the next sample: within 1 s at the
 * default rate. Without a target, so that some host is free for it (a
 * named host busy with a look-alike or an incident makes it wait; the
 * unit test covers targets). */
static void test_inject_monitoring_live_first_event_within_a_second(void **state)
{
    struct proc *m = &h_procs[0];
    const char *const args[] = { "--seed", "22", "--backfill", "2m", NULL };
    char id[40];
    cJSON *page, *e, *inc;

    (void)state;
    h_proc_start_backfilled(m, "injlivem", "monitoring-service", NULL, args, 60000);
    cJSON_Delete(inject(m->port, "{\"type\":\"high_memory\"}", id));
    e = first_event_within_1s(m->port, "/metrics/events", id, &page);
    assert_string_equal(h_jstr(e, "origin"), "injected");
    assert_string_equal(h_jstr(e, "metric_name"), "memory_utilization");
    assert_true(h_jdbl(e, "metric_value") > 90.0);
    cJSON_Delete(page);

    cJSON_Delete(inject(m->port, "{\"type\":\"cascade_failure\"}", id));
    e = first_event_within_1s(m->port, "/metrics/events", id, &page);
    assert_string_equal(h_jstr(e, "origin"), "injected");
    assert_string_equal(h_jstr(e, "anomaly_type"), "cascade_failure");
    cJSON_Delete(page);
    /* it goes on at its series' later turns */
    h_sleep_ms(1500);
    inc = incident(m->port, id);
    assert_true(h_jnum(inc, "event_count") >= 2);
    cJSON_Delete(inc);
}

static void test_inject_single_event_is_named_by_its_event(void **state)
{
    struct proc *t = &h_procs[0];
    const char *const args[] = { "--seed", "23", "--backfill", "2m", NULL };
    char id[40];
    long t0;
    cJSON *inc = NULL;

    (void)state;
    h_proc_start_backfilled(t, "injsingle", "transaction-service", NULL, args, 60000);
    cJSON_Delete(inject(t->port, "{\"type\":\"suspicious_high_amount\"}", id));
    for (t0 = h_now_ms(); h_now_ms() - t0 < 1000; h_sleep_ms(20)) {
        long status = 0;
        char path[96];
        snprintf(path, sizeof path, "/incidents/%s", id);
        inc = h_http_get_json(t->port, path, &status);
        if (status == 200)
            break;
        cJSON_Delete(inc);
        inc = NULL;
    }
    assert_non_null(inc);
    {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(inc, "events"), 0);
        assert_int_equal(h_jnum(inc, "event_count"), 1);
        assert_string_equal(h_jstr(e, "transaction_id"), id);
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "incident_id")));
        assert_string_equal(h_jstr(e, "origin"), "injected");
        assert_true(h_jdbl(e, "amount") > 10000.0);
    }
    cJSON_Delete(inc);
}

/* ... on monitoring too (its generator keeps the flag in its incident
 * table, which is stored with its state). */
static void test_inject_monitoring_scheduled_survives_kill9(void **state)
{
    struct proc *p = &h_procs[0];
    char id[40];
    cJSON *inc;

    (void)state;
    start_paused(p, "injkillm", "monitoring-service");
    cJSON_Delete(inject(p->port,
                        "{\"type\":\"high_disk\",\"target\":{\"service\":\"kafka\"},\"at\":\"" AT
                        "\",\"size\":6}",
                        id));
    h_proc_kill9(p);
    assert_int_equal(h_proc_restart(p, "monitoring-service", backfill_args), 0);
    unpause_and_backfill(p);
    inc = check_injected(p->port, id, "high_disk", 6);
    {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(inc, "events")) {
            assert_string_equal(h_jstr(e, "service"), "kafka");
            assert_true(h_jdbl(e, "metric_value") > 90.0);
        }
    }
    cJSON_Delete(inc);
    check_not_counted(p, 6);
}

/* A scheduled injection survives SIGTERM and kill -9 before its time. */
static void test_inject_scheduled_survives_restart_and_kill9(void **state)
{
    (void)state;
    for (int kill9 = 0; kill9 < 2; kill9++) {
        struct proc *p = &h_procs[0];
        char id[40];
        cJSON *inc;

        start_paused(p, kill9 ? "injkill" : "injstop", "transaction-service");
        cJSON_Delete(
            inject(p->port, "{\"type\":\"fraud_pattern\",\"at\":\"" AT "\",\"size\":4}", id));
        if (kill9)
            h_proc_kill9(p);
        else
            assert_int_equal(h_proc_stop(p, NULL), 0);
        assert_int_equal(h_proc_restart(p, "transaction-service", backfill_args), 0);
        unpause_and_backfill(p);
        inc = check_injected(p->port, id, "fraud_pattern", 4);
        cJSON_Delete(inc);
        h_proc_finish(p);
    }
}

/* Injections are inputs: the same seed, start and injection give the
 * same bytes. */
static void test_inject_replays_byte_for_byte(void **state)
{
    struct proc *a = &h_procs[0], *b = &h_procs[1];
    char ida[40], idb[40];
    long long n;

    (void)state;
    start_paused(a, "injrepa", "auth-service");
    start_paused(b, "injrepb", "auth-service");
    cJSON_Delete(inject(a->port, "{\"type\":\"credential_stuffing\",\"at\":\"" AT "\"}", ida));
    cJSON_Delete(inject(b->port, "{\"type\":\"credential_stuffing\",\"at\":\"" AT "\"}", idb));
    assert_string_equal(ida, idb);
    unpause_and_backfill(a);
    unpause_and_backfill(b);
    n = h_compare_backfill(a->port, b->port, "/auth/events", END_TS);
    print_message("%lld events identical in both runs\n", n);
    cJSON_Delete(check_injected(a->port, ida, "credential_stuffing", 40));
}

static void test_inject_monitoring_replays_byte_for_byte(void **state)
{
    struct proc *a = &h_procs[0], *b = &h_procs[1];
    const char *body = "{\"type\":\"cascade_failure\",\"at\":\"" AT "\"}";
    char ida[40], idb[40];
    long long n;

    (void)state;
    start_paused(a, "injrepma", "monitoring-service");
    start_paused(b, "injrepmb", "monitoring-service");
    cJSON_Delete(inject(a->port, body, ida));
    cJSON_Delete(inject(b->port, body, idb));
    assert_string_equal(ida, idb);
    unpause_and_backfill(a);
    unpause_and_backfill(b);
    n = h_compare_backfill(a->port, b->port, "/metrics/events", END_TS);
    print_message("%lld events identical in both runs\n", n);
    cJSON_Delete(check_injected(a->port, ida, "cascade_failure", 26));
}

static void expect_422(int port, const char *body, const char *field)
{
    struct resp r;
    cJSON *j;

    assert_int_equal(h_http_req(port, "POST", "/inject", body, h_json_ct, &r), 0);
    if (r.status != 422)
        fail_msg("POST /inject %s: %ld %s (expected 422 on %s)", body, r.status, r.body, field);
    j = cJSON_Parse(r.body);
    assert_string_equal(h_jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "field"), field);
    cJSON_Delete(j);
    h_resp_free(&r);
}

static void test_inject_bad_input_is_422_naming_the_field_and_stores_nothing(void **state)
{
    struct proc *t = &h_procs[0], *a = &h_procs[1], *m = &h_procs[2];
    const char *const args[] = { "--seed", "24", "--start-time", START, "--backfill", "5m",
                                 NULL };
    struct sqlite3 *db;

    (void)state;
    h_proc_start_backfilled(t, "injbadt", "transaction-service", NULL, args, 60000);
    h_proc_start_backfilled(a, "injbada", "auth-service", NULL, args, 60000);
    h_proc_start_backfilled(m, "injbadm", "monitoring-service", NULL, args, 60000);
    expect_422(t->port, "{\"type\":\"brute_force\"}", "type");
    expect_422(t->port, "{\"type\":7}", "type");
    expect_422(t->port, "{\"size\":3}", "type");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"size\":2}", "size");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"size\":9}", "size");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"size\":3.5}", "size");
    expect_422(t->port, "{\"type\":\"suspicious_high_amount\",\"size\":2}", "size");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"target\":{\"customer_id\":\"CUST_000000\"}}",
               "target.customer_id");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"target\":{\"username\":\"x\"}}",
               "target.username");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"target\":[]}", "target");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"at\":\"2026-01-05T08:00:00Z\"}", "at");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"at\":\"soon\"}", "at");
    expect_422(t->port, "{\"type\":\"fraud_pattern\",\"colour\":\"red\"}", "colour");
    expect_422(a->port, "{\"type\":\"brute_force\",\"target\":{\"username\":\"nobody-at-all\"}}",
               "target.username");
    expect_422(a->port, "{\"type\":\"brute_force\",\"size\":9}", "size");
    expect_422(a->port, "{\"type\":\"credential_stuffing\",\"target\":{\"username\":\"a\"}}",
               "target.username");
    expect_422(a->port, "{\"type\":\"unusual_location\",\"size\":2}", "size");
    expect_422(m->port, "{\"type\":\"fraud_pattern\"}", "type");
    expect_422(m->port, "{\"type\":\"resource_exhaustion\"}", "type");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"size\":4}", "size");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"size\":25}", "size");
    expect_422(m->port, "{\"type\":\"network_timeout\",\"size\":12}", "size");
    expect_422(m->port, "{\"type\":\"cascade_failure\",\"size\":14}", "size");
    expect_422(m->port, "{\"type\":\"cascade_failure\",\"size\":51}", "size");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"target\":{\"host\":\"db-99\"}}",
               "target.host");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"target\":{\"service\":\"mainframe\"}}",
               "target.service");
    expect_422(m->port,
               "{\"type\":\"high_cpu\",\"target\":{\"service\":\"kafka\",\"host\":\"db-01\"}}",
               "target.host");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"target\":{\"customer_id\":\"x\"}}",
               "target.customer_id");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"target\":{\"host\":7}}", "target.host");
    /* a cascade starts at a backend with enough dependent services */
    expect_422(m->port, "{\"type\":\"cascade_failure\",\"target\":{\"service\":\"api-gateway\"}}",
               "target.service");
    expect_422(m->port, "{\"type\":\"cascade_failure\",\"target\":{\"host\":\"auth-01\"}}",
               "target.host");
    expect_422(m->port,
               "{\"type\":\"cascade_failure\",\"target\":{\"service\":\"core-database\"},"
               "\"size\":45}",
               "target.service");
    expect_422(m->port, "{\"type\":\"high_cpu\",\"at\":\"2026-01-05T08:00:00Z\"}", "at");
    for (int i = 0; i < 3; i++) {
        struct proc *p = i == 2 ? m : i ? a : t;
        assert_int_equal(h_proc_stop(p, NULL), 0);
        db = h_db_open_checked(p->db);
        assert_int_equal(h_db_int(db, "SELECT count(*) FROM injections"), 0);
        assert_int_equal(h_db_int(db, "SELECT count(*) FROM incidents WHERE origin = 2"), 0);
        h_db_close(db);
    }
}

static void test_inject_needs_the_admin_token_when_set(void **state)
{
    struct proc *t = &h_procs[0];
    const char *const args[] = { "--seed", "25", "--backfill", "1m", NULL };
    const char *const auth[] = { "Content-Type: application/json",
                                 "Authorization: Bearer inj-secret", NULL };
    const char *body = "{\"type\":\"fraud_pattern\"}";
    struct resp r;

    (void)state;
    assert_int_equal(setenv("ADMIN_TOKEN", "inj-secret", 1), 0);
    h_proc_start_backfilled(t, "injtoken", "transaction-service", NULL, args, 60000);
    assert_int_equal(unsetenv("ADMIN_TOKEN"), 0);
    assert_int_equal(h_http_req(t->port, "POST", "/inject", body, h_json_ct, &r), 0);
    assert_int_equal(r.status, 401);
    h_resp_free(&r);
    assert_int_equal(h_http_req(t->port, "POST", "/inject", body, auth, &r), 0);
    assert_int_equal(r.status, 201);
    h_resp_free(&r);
}

/* Through the gateway's proxy, and found by the gateway's incident lookup. */
static void test_inject_through_the_gateway(void **state)
{
    struct proc *t = &h_procs[0], gw;
    const char *const args[] = { "--seed", "26", "--backfill", "1m", NULL };
    char url[64], path[96], id[40];
    cJSON *inc = NULL;
    long t0;

    (void)state;
    h_proc_start_backfilled(t, "injgwt", "transaction-service", NULL, args, 60000);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", t->port);
    h_proc_init(&gw, "injgw");
    assert_int_equal(h_proc_start_gateway_urls(&gw, url, NULL, NULL, NULL, NULL), 0);
    {
        struct resp r;
        cJSON *j;
        assert_int_equal(h_http_req(gw.port, "POST", "/services/transaction-service/inject",
                                    "{\"type\":\"fraud_pattern\",\"size\":3}", h_json_ct, &r),
                         0);
        assert_int_equal(r.status, 201);
        j = cJSON_Parse(r.body);
        snprintf(id, sizeof id, "%s", h_jstr(j, "incident_id"));
        cJSON_Delete(j);
        h_resp_free(&r);
    }
    snprintf(path, sizeof path, "/incidents/%s", id);
    for (t0 = h_now_ms(); h_now_ms() - t0 < 1500 && !inc; h_sleep_ms(50)) {
        long status = 0;
        inc = h_http_get_json(gw.port, path, &status);
        if (status != 200) {
            cJSON_Delete(inc);
            inc = NULL;
        }
    }
    assert_non_null(inc);
    assert_string_equal(h_jstr(inc, "source"), "transaction-service");
    assert_string_equal(h_jstr(inc, "origin"), "injected");
    cJSON_Delete(inc);
    h_proc_stop(&gw, NULL);
    h_proc_cleanup(&gw);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, h_procs_setup, h_procs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_inject_fraud_in_backfill_meets_its_rule),
        T(test_inject_brute_force_in_backfill_meets_its_rule),
        T(test_inject_live_first_event_within_a_second),
        T(test_inject_monitoring_in_backfill_meets_its_rules),
        T(test_inject_monitoring_live_first_event_within_a_second),
        T(test_inject_monitoring_scheduled_survives_kill9),
        T(test_inject_single_event_is_named_by_its_event),
        T(test_inject_scheduled_survives_restart_and_kill9),
        T(test_inject_replays_byte_for_byte),
        T(test_inject_monitoring_replays_byte_for_byte),
        T(test_inject_bad_input_is_422_naming_the_field_and_stores_nothing),
        T(test_inject_needs_the_admin_token_when_set),
        T(test_inject_through_the_gateway),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
