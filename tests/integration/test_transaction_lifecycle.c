/* test_transaction_lifecycle.c - transaction-service over its life: run-time
 * settings that survive a restart, the anomaly fraction, paging cursors,
 * kill -9, replay from a seed, API events, start-up time and the command
 * line (SPEC §2, §3, §5, §6). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "harness.h"

#define TXN_BIN "transaction-service"
#define SHIPPED_CONFIG BM_SOURCE_DIR "/config/anomaly_config.json"
#define PAGE 1000

/* Anomaly rate 3 % at a base of 100 events/s; the rest as shipped. */
static const char rate_config[] =
    "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.03}},"
    "\"generation_settings\":{\"events_per_second\":100}}";

/* The slots' teardown, and BACKFILL unset: an assertion may end
 * test_command_line_exit_codes_help_and_version while it is set. */
static int txn_teardown(void **state)
{
    h_procs_teardown(state);
    unsetenv("BACKFILL");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Run-time settings                                                    */

/* events_per_second.expected of /health, once it is within 0.01 of want
 * (the loop publishes it after its next batch); the last value seen. */
static double wait_expected(int port, double want)
{
    double got = -1.0;

    for (int i = 0; i < 50; i++) {
        cJSON *h = h_get_json(port, "/health");
        cJSON *eps = cJSON_GetObjectItemCaseSensitive(h, "events_per_second");

        got = h_jdbl(eps, "expected");
        assert_true(h_jdbl(eps, "configured") == 100.0);
        assert_true(h_jdbl(eps, "realised") >= 0.0);
        cJSON_Delete(h);
        if (fabs(got - want) < 0.01)
            break;
        h_sleep_ms(100);
    }
    return got;
}

/* At 23:53 on a Sunday the shaped rate is 100 x 0.3 (quiet hours) x 0.3
 * (weekend) = 9 events/s: /health says so beside configured and
 * realised; time_shaping false (a runtime key, kept across a restart)
 * makes it the flat 100. */
static void test_health_shows_expected_rate_and_time_shaping_flattens_it(void **state)
{
    static const char *const args[] = { "--seed", "3", "--start-time", "2026-01-04T23:53:00Z",
                                        NULL };
    struct proc *p = &h_procs[0];
    struct resp r;
    cJSON *j;

    (void)state;
    h_proc_init(p, "shaping");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    assert_true(fabs(wait_expected(p->port, 9.0) - 9.0) < 0.01);
    assert_int_equal(
        h_http_req(p->port, "POST", "/config", "{\"time_shaping\":false}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"time_shaping\":false"));
    h_resp_free(&r);
    assert_true(fabs(wait_expected(p->port, 100.0) - 100.0) < 0.01);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    assert_int_equal(h_proc_restart(p, TXN_BIN, args), 0);
    j = h_get_json(p->port, "/config");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "time_shaping")));
    cJSON_Delete(j);
    assert_true(fabs(wait_expected(p->port, 100.0) - 100.0) < 0.01);
    assert_int_equal(
        h_http_req(p->port, "POST", "/config", "{\"time_shaping\":\"no\"}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 422);
    h_resp_free(&r);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* The ids of a page of events under id_field into ids[] (strdup'ed). */
static size_t page_ids(int port, const char *path, const char *id_field, char **ids, size_t max)
{
    struct resp r;
    cJSON *page = h_get_page(port, path, &r), *e;
    size_t n = 0;

    cJSON_ArrayForEach(e, h_events_of(page))
    {
        const char *id = h_jstr(e, id_field);

        assert_non_null(id);
        if (n < max)
            ids[n++] = strdup(id);
    }
    cJSON_Delete(page);
    h_resp_free(&r);
    return n;
}

/* Compose passes one SEED to every service: their streams still differ
 * (the service's name is mixed into its stream seeds), and each one is
 * still its own replay (test_same_seed_and_start_replay_byte_identical_events). */
static void test_one_seed_gives_each_service_its_own_ids(void **state)
{
    static const char *const args[] = { "--seed", "42", "--start-time", "2026-01-05T10:00:00Z",
                                        "--backfill", "60s", NULL };
    struct proc *t = &h_procs[0], *a = &h_procs[1];
    char *ids[2 * PAGE];
    size_t nt, na;

    (void)state;
    h_proc_start_backfilled(t, "seedtxn", TXN_BIN, NULL, args, 60000);
    h_proc_start_backfilled(a, "seedauth", "auth-service", NULL, args, 60000);
    nt = page_ids(t->port, "/transactions/events?since=0&limit=1000", "transaction_id", ids,
                  PAGE);
    na = page_ids(a->port, "/auth/events?since=0&limit=1000", "event_id", ids + nt, PAGE);
    assert_true(nt == PAGE && na == PAGE);
    qsort(ids, nt + na, sizeof ids[0], h_cmp_str);
    for (size_t i = 1; i < nt + na; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("transaction-service and auth-service both gave id %s", ids[i]);
    for (size_t i = 0; i < nt + na; i++)
        free(ids[i]);
    assert_int_equal(h_proc_stop(t, NULL), 0);
    assert_int_equal(h_proc_stop(a, NULL), 0);
    h_proc_finish(t);
    h_proc_finish(a);
}

static void test_posted_config_survives_restart_until_reset_config(void **state)
{
    static const char *const keys[] = { "anomaly_rate", "events_per_second", "paused",
                                        "retention_events", "time_shaping",
                                        "suspicious_high_amount_rate",
                                        "fraud_pattern_rate", "money_laundering_rate",
                                        "suspicious_transaction_rate" };
    static const char *const args[] = { "--seed", "12", NULL };
    static const char *const reset_args[] = { "--seed", "12", "--reset-config", NULL };
    struct proc *p = &h_procs[0];
    struct resp r, g;
    cJSON *j;
    char *config0, *posted;

    (void)state;
    h_proc_init(p, "cfgkeep");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_int_equal(g.status, 200);
    config0 = g.body;

    /* curl -X POST -H 'Content-Type: application/json' -d '{"anomaly_rate": 0.03}' */
    assert_int_equal(
        h_http_req(p->port, "POST", "/config", "{\"anomaly_rate\": 0.03}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "application/json"));
    j = cJSON_Parse(r.body);
    assert_true(cJSON_IsObject(j));
    /* the full flat object: every runtime key of this service, nothing else */
    assert_int_equal(cJSON_GetArraySize(j), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!cJSON_GetObjectItemCaseSensitive(j, keys[i]))
            fail_msg("POST /config answer lacks \"%s\": %s", keys[i], r.body);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "anomaly_rate")->valuedouble == 0.03);
    cJSON_Delete(j);
    posted = r.body;

    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, posted);
    h_resp_free(&g);

    /* restart on the same database: the change is still there */
    assert_int_equal(h_proc_stop(p, NULL), 0);
    assert_int_equal(h_proc_restart(p, TXN_BIN, args), 0);
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, posted);
    h_resp_free(&g);

    /* --reset-config: back to the file's value, and it stays dropped */
    assert_int_equal(h_proc_stop(p, NULL), 0);
    assert_int_equal(h_proc_restart(p, TXN_BIN, reset_args), 0);
    j = h_http_get_json(p->port, "/config", NULL);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "anomaly_rate")->valuedouble == 0.015);
    cJSON_Delete(j);
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, config0);
    h_resp_free(&g);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    assert_int_equal(h_proc_restart(p, TXN_BIN, args), 0);
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, config0);
    h_resp_free(&g);

    free(posted);
    free(config0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* A digit followed by an exponent marker: "1e+02", "5E3". */
static bool has_exponent(const char *s)
{
    for (; s[0] && s[1]; s++)
        if (s[0] >= '0' && s[0] <= '9' && (s[1] == 'e' || s[1] == 'E'))
            return true;
    return false;
}

/* One client changing one key again and again; every answer must show
 * its own newest value, whatever the other client changed meanwhile. */
struct key_poster {
    int port;
    const char *key;
    int n;
    double (*value)(int i);
    int posted;     /* acknowledged changes */
    int lost;       /* answers that showed another value of our key */
    char why[160];
};

/* Above the shipped suspicious_transaction_rate (0.008), which an
 * anomaly_rate may not go below. */
static double rate_value(int i)
{
    return 0.01 + (i + 1) / 1000.0;
}

static double retention_value(int i)
{
    return 100000.0 + i;
}

static void *post_key_main(void *arg)
{
    struct key_poster *k = arg;

    for (int i = 0; i < k->n; i++) {
        char body[96];
        struct resp r;
        cJSON *j = NULL, *v;

        snprintf(body, sizeof body, "{\"%s\":%.17g}", k->key, k->value(i));
        if (h_http_req(k->port, "POST", "/config", body, h_json_ct, &r) != 0 || r.status != 200) {
            snprintf(k->why, sizeof k->why, "POST %s: status %ld", body, r.status);
            h_resp_free(&r);
            return NULL;
        }
        k->posted++;
        j = cJSON_Parse(r.body);
        v = cJSON_GetObjectItemCaseSensitive(j, k->key);
        if (!cJSON_IsNumber(v) || v->valuedouble != k->value(i)) {
            if (!k->lost++)
                snprintf(k->why, sizeof k->why, "posted %s, answer has %.17g", body,
                         cJSON_IsNumber(v) ? v->valuedouble : -1.0);
        }
        cJSON_Delete(j);
        h_resp_free(&r);
    }
    return NULL;
}

/* Two clients posting different keys at once: each change is applied on
 * top of the other's, never on a stale copy that would undo it. */
static void test_concurrent_config_posts_of_different_keys_both_hold(void **state)
{
    static const char *const args[] = { "--seed", "13", NULL };
    struct proc *p = &h_procs[0];
    int n = h_test_scale_small() ? 40 : 150;
    struct key_poster k[2] = {
        { .key = "anomaly_rate", .n = n, .value = rate_value },
        { .key = "retention_events", .n = n, .value = retention_value },
    };
    pthread_t t[2];
    cJSON *j;

    (void)state;
    h_proc_init(p, "cfgboth");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    for (int i = 0; i < 2; i++) {
        k[i].port = p->port;
        assert_int_equal(pthread_create(&t[i], NULL, post_key_main, &k[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        print_message("  %s: %d changes acknowledged, %d answers lost it%s%s\n", k[i].key,
                      k[i].posted, k[i].lost, k[i].why[0] ? ": " : "", k[i].why);
        assert_int_equal(k[i].posted, n);
        assert_int_equal(k[i].lost, 0);
    }
    j = h_http_get_json(p->port, "/config", NULL);
    assert_non_null(j);
    assert_true(h_jdbl(j, "anomaly_rate") == rate_value(n - 1));
    assert_int_equal(h_jnum(j, "retention_events"), (long long)retention_value(n - 1));
    cJSON_Delete(j);
    assert_int_equal(h_proc_stop(p, NULL), 0);
}

/* 100 reads back as 100, not 1e+02: the values a user set, as written. */
static void test_config_numbers_print_without_exponent(void **state)
{
    static const char *const args[] = { "--seed", "13", NULL };
    struct proc *p = &h_procs[0];
    struct resp r;

    (void)state;
    h_proc_init(p, "cfgnum");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &r), 0);
    if (!strstr(r.body, "\"events_per_second\":100,") || has_exponent(r.body))
        fail_msg("GET /config: %s; want \"events_per_second\":100 and no exponents", r.body);
    h_resp_free(&r);
    assert_int_equal(h_http_req(p->port, "POST", "/config",
                                "{\"events_per_second\":5000,\"fraud_pattern_rate\":0.004}", h_json_ct,
                                &r), 0);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, "\"events_per_second\":5000,") ||
        !strstr(r.body, "\"fraud_pattern_rate\":0.004,") || has_exponent(r.body))
        fail_msg("POST /config answered %s; want 5000 and 0.004 as written", r.body);
    h_resp_free(&r);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Anomaly fraction                                                     */

static const char *const type_names[] = { "suspicious_high_amount", "fraud_pattern",
                                          "money_laundering" };
#define N_TYPES 3

/* What a backfill labelled. */
struct tally {
    long long n, anomalies;
    double rate;                  /* the configured anomaly_rate */
    double max_drift;             /* max over prefixes of |anomalies - rate * n| */
    long long drift_at;           /* the prefix length where it was largest */
    long long events[N_TYPES];    /* anomalous events by type */
    long long incidents[N_TYPES]; /* distinct incidents (a single event is one) */
};

static int type_index(const char *t)
{
    for (int i = 0; i < N_TYPES; i++)
        if (strcmp(t, type_names[i]) == 0)
            return i;
    fail_msg("unknown anomaly_type \"%s\"", t);
    return -1;
}

/* Runs a backfill from Monday 2026-01-05 12:00 (shaping factor 1.0) with
 * config, waits for its end and pages through every event before end_ts,
 * checking density and labels on the way. */
static void sample_backfill(struct proc *p, const char *tag, const char *config, double rate,
                            const char *backfill, const char *end_ts, struct tally *t)
{
    const char *const args[] = { "--seed", "11", "--start-time", "2026-01-05T12:00:00Z",
                                 "--backfill", backfill, NULL };
    const bool small = h_test_scale_small();
    long long since = 0;
    bool done = false;
    char **ids = NULL;
    size_t nids = 0, cap = 0;

    memset(t, 0, sizeof(*t));
    t->rate = rate;
    h_proc_start_backfilled(p, tag, TXN_BIN, config, args, small ? 120000 : 60000);
    while (!done) {
        char path[128];
        struct resp r;
        cJSON *pg, *e;

        snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", since, PAGE);
        pg = h_get_page(p->port, path, &r);
        cJSON_ArrayForEach(e, h_events_of(pg))
        {
            const cJSON *anom = cJSON_GetObjectItemCaseSensitive(e, "is_anomaly");
            const char *type = h_jstr(e, "anomaly_type"), *inc = h_jstr(e, "incident_id");
            long long seq = h_jnum(e, "sequence");
            int ti;

            if (seq != since + 1)
                fail_msg("sequence %lld after %lld: not dense", seq, since);
            since = seq;
            if (strcmp(h_jstr(e, "timestamp"), end_ts) >= 0) {
                done = true; /* live events from here */
                break;
            }
            assert_string_equal(h_jstr(e, "origin"), "generated");
            assert_true(cJSON_IsBool(anom));
            assert_int_equal(cJSON_IsTrue(anom), type != NULL);
            t->n++;
            t->anomalies += type ? 1 : 0;
            if (fabs((double)t->anomalies - rate * (double)t->n) > t->max_drift)
            {
                t->max_drift = fabs((double)t->anomalies - rate * (double)t->n);
                t->drift_at = t->n;
            }
            if (!type)
                continue;
            ti = type_index(type);
            t->events[ti]++;
            if (!inc) {
                t->incidents[ti]++;
                continue;
            }
            if (nids == cap) {
                cap = cap ? 2 * cap : 1024;
                ids = realloc(ids, cap * sizeof(*ids));
                assert_non_null(ids);
            }
            /* type index first, so one sort groups and dedupes */
            ids[nids] = malloc(strlen(inc) + 2);
            assert_non_null(ids[nids]);
            ids[nids][0] = (char)('0' + ti);
            memcpy(ids[nids] + 1, inc, strlen(inc) + 1);
            nids++;
        }
        if (cJSON_GetArraySize(h_events_of(pg)) < PAGE)
            done = true;
        cJSON_Delete(pg);
        h_resp_free(&r);
    }
    if (nids)
        qsort(ids, nids, sizeof(*ids), h_cmp_str);
    for (size_t i = 0; i < nids; i++) {
        if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
            t->incidents[ids[i][0] - '0']++;
    }
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    printf("  %lld events, %lld anomalous (%.5f; drift at most %.1f, after %lld); by type "
           "events/incidents:",
           t->n, t->anomalies, (double)t->anomalies / (double)(t->n ? t->n : 1), t->max_drift,
           t->drift_at);
    for (int i = 0; i < N_TYPES; i++)
        printf(" %s %lld/%lld", type_names[i], t->events[i], t->incidents[i]);
    printf("\n");
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* SPEC §5: within 4 sigma over the whole sample, and at every prefix
 * within one maximum incident (8 events) of the target count. */
static void assert_fraction(const struct tally *t, double rate, long long min_n)
{
    double frac = (double)t->anomalies / (double)t->n;
    double tol = 4.0 * sqrt(rate * (1.0 - rate) / (double)t->n);

    assert_true(t->n >= min_n);
    if (fabs(frac - rate) > tol)
        fail_msg("anomaly fraction %.5f over %lld events is outside %.3f +- %.5f", frac, t->n,
                 rate, tol);
    if (t->max_drift > 8.0)
        fail_msg("after %lld events the labelled count was %.1f events off rate x events "
                 "(SPEC: within one maximum incident, 8)",
                 t->drift_at, t->max_drift);
}

static void test_anomaly_fraction_within_four_sigma_of_rate(void **state)
{
    const bool small = h_test_scale_small();
    struct tally t;

    (void)state;
    /* 100 events/s: 1100 s is ~110,000 events, 220 s ~22,000 */
    sample_backfill(&h_procs[0], "frac", rate_config, 0.03, small ? "220s" : "1100s",
                    small ? "2026-01-05T12:03:40.000Z" : "2026-01-05T12:18:20.000Z", &t);
    assert_fraction(&t, 0.03, small ? 20000 : 100000);
}

/* The top of the documented range (0..0.5) is reachable too. */
static void test_anomaly_fraction_holds_at_rate_one_half(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.5}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = h_test_scale_small();
    struct tally t;

    (void)state;
    sample_backfill(&h_procs[0], "frachalf", cfg, 0.5, small ? "220s" : "1100s",
                    small ? "2026-01-05T12:03:40.000Z" : "2026-01-05T12:18:20.000Z", &t);
    assert_fraction(&t, 0.5, small ? 20000 : 100000);
}

/* No type rate set: the types share anomaly_rate equally, and none may
 * starve. Whether shares count events or incidents, each type then gets
 * well over 5 % of both. */
static void test_anomaly_types_follow_equal_weights(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.1,"
        "\"fraud_pattern_rate\":0.0333333}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = h_test_scale_small();
    long long incidents = 0;
    struct tally t;

    (void)state;
    sample_backfill(&h_procs[0], "weights", cfg, 0.1, small ? "200s" : "600s",
                    small ? "2026-01-05T12:03:20.000Z" : "2026-01-05T12:10:00.000Z", &t);
    for (int i = 0; i < N_TYPES; i++)
        incidents += t.incidents[i];
    for (int i = 0; i < N_TYPES; i++) {
        double ev = (double)t.events[i] / (double)t.anomalies;
        double inc = (double)t.incidents[i] / (double)incidents;
        if (ev < 0.05 || inc < 0.05)
            fail_msg("%s: %.1f %% of anomalous events, %.1f %% of incidents under equal "
                     "weights",
                     type_names[i], 100 * ev, 100 * inc);
    }
}

/* ------------------------------------------------------------------ */
/* Paging                                                               */

/* Walks since=0..head with limit=1000: every sequence once, in order.
 * Returns the sequences of money_laundering events up to head. */
static size_t dense_walk(int port, long long head, long long *ml, size_t ml_max)
{
    long long since = 0;
    size_t nml = 0;

    while (since < head) {
        char path[128];
        struct resp r;
        cJSON *pg, *e;
        long long count, next, last = since;

        snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", since, PAGE);
        pg = h_get_page(port, path, &r);
        count = h_jnum(pg, "count");
        cJSON_ArrayForEach(e, h_events_of(pg))
        {
            long long seq = h_jnum(e, "sequence");
            const char *type = h_jstr(e, "anomaly_type");
            if (seq != last + 1)
                fail_msg("since=%lld: sequence %lld follows %lld", since, seq, last);
            last = seq;
            if (seq <= head && type && strcmp(type, "money_laundering") == 0) {
                assert_true(nml < ml_max);
                ml[nml++] = seq;
            }
        }
        next = h_jnum(pg, "next_since");
        /* a full page resumes after its last event; a short one has seen
         * everything up to the head */
        if (count == PAGE)
            assert_int_equal(next, last);
        else
            assert_true(next >= last);
        assert_true(count > 0);
        since = last;
        cJSON_Delete(pg);
        h_resp_free(&r);
    }
    return nml;
}

static void test_event_lists_follow_the_cursor_rules(void **state)
{
    const bool small = h_test_scale_small();
    const char *const args[] = { "--seed", "21", "--start-time", "2026-01-05T12:00:00Z",
                                 "--backfill", small ? "120s" : "300s", NULL };
    struct proc *p = &h_procs[0];
    static long long ml[4096];
    size_t nml, nfilt = 0;
    long long head, since, prev;
    struct resp r;
    cJSON *pg, *e;

    (void)state;
    h_proc_start_backfilled(p, "paging", TXN_BIN, rate_config, args, small ? 120000 : 30000);
    head = h_health_head(p->port);
    assert_true(head > 5000);

    /* without since: the newest, newest first; next_since is the head */
    pg = h_get_page(p->port, "/transactions/events", &r);
    assert_int_equal(h_jnum(pg, "count"), 100);
    assert_int_equal(h_jnum(pg, "oldest_sequence"), 1);
    prev = h_jnum(pg, "next_since");
    assert_true(prev >= head);
    assert_int_equal(h_jnum(cJSON_GetArrayItem(h_events_of(pg), 0), "sequence"), prev);
    cJSON_ArrayForEach(e, h_events_of(pg))
    {
        assert_int_equal(h_jnum(e, "sequence"), prev);
        prev--;
    }
    cJSON_Delete(pg);
    h_resp_free(&r);
    pg = h_get_page(p->port, "/transactions/events?limit=7", &r);
    assert_int_equal(h_jnum(pg, "count"), 7);
    cJSON_Delete(pg);
    h_resp_free(&r);

    /* with since: above it, oldest first; a full page ends the cursor at
     * its last event */
    pg = h_get_page(p->port, "/transactions/events?since=1000&limit=200", &r);
    assert_int_equal(h_jnum(pg, "count"), 200);
    prev = 1000;
    cJSON_ArrayForEach(e, h_events_of(pg))
    {
        assert_int_equal(h_jnum(e, "sequence"), prev + 1);
        prev++;
    }
    assert_int_equal(h_jnum(pg, "next_since"), 1200);
    cJSON_Delete(pg);
    h_resp_free(&r);

    /* every sequence exactly once from 0 to the head */
    nml = dense_walk(p->port, head, ml, sizeof(ml) / sizeof(ml[0]));
    assert_true(nml > 0);

    /* a filtered poll advances next_since past what it skipped, and
     * returns exactly the matches */
    since = 0;
    for (;;) {
        char path[160];
        long long next, count;

        snprintf(path, sizeof(path),
                 "/transactions/events?anomaly_type=money_laundering&since=%lld&limit=5", since);
        pg = h_get_page(p->port, path, &r);
        count = h_jnum(pg, "count");
        assert_true(count <= 5);
        prev = since;
        cJSON_ArrayForEach(e, h_events_of(pg))
        {
            long long seq = h_jnum(e, "sequence");
            assert_string_equal(h_jstr(e, "anomaly_type"), "money_laundering");
            assert_true(seq > prev);
            prev = seq;
            if (seq <= head) {
                if (nfilt >= nml || ml[nfilt] != seq)
                    fail_msg("filtered poll returned %lld, the walk saw %lld", seq,
                             nfilt < nml ? ml[nfilt] : -1);
                nfilt++;
            }
        }
        next = h_jnum(pg, "next_since");
        assert_true(next >= prev);
        if (since == 0)
            assert_true(next > 0);
        cJSON_Delete(pg);
        h_resp_free(&r);
        if (count < 5) {
            /* examined everything: the cursor is at the head */
            assert_true(next >= head);
            break;
        }
        assert_true(next > since);
        since = next;
    }
    assert_int_equal(nfilt, nml);

    /* no match above since: the cursor still moves to the head */
    {
        char path[160];
        snprintf(path, sizeof(path),
                 "/transactions/events?anomaly_type=money_laundering&since=%lld&limit=5",
                 ml[nml - 1]);
        pg = h_get_page(p->port, path, &r);
        cJSON_ArrayForEach(e, h_events_of(pg)) assert_true(h_jnum(e, "sequence") > head);
        assert_true(h_jnum(pg, "next_since") >= head);
        cJSON_Delete(pg);
        h_resp_free(&r);
    }

    /* anomalies only, both directions */
    pg = h_get_page(p->port, "/transactions/events?anomalies_only=true&since=0&limit=1000", &r);
    assert_true(h_jnum(pg, "count") > 0);
    prev = 0;
    cJSON_ArrayForEach(e, h_events_of(pg))
    {
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly")));
        assert_true(h_jnum(e, "sequence") > prev);
        prev = h_jnum(e, "sequence");
    }
    cJSON_Delete(pg);
    h_resp_free(&r);
    pg = h_get_page(p->port, "/transactions/events?anomaly_type=fraud_pattern&limit=10", &r);
    assert_true(h_jnum(pg, "next_since") >= head);
    prev = h_jnum(pg, "next_since") + 1;
    cJSON_ArrayForEach(e, h_events_of(pg))
    {
        assert_string_equal(h_jstr(e, "anomaly_type"), "fraud_pattern");
        assert_true(h_jnum(e, "sequence") < prev);
        prev = h_jnum(e, "sequence");
    }
    cJSON_Delete(pg);
    h_resp_free(&r);

    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* kill -9                                                              */

/* Integrity, and no gaps in what was committed. */
static void check_db_sound(const char *path, long long *max_seq)
{
    sqlite3 *db = h_db_open_checked(path);

    *max_seq = h_db_dense_max(db);
    h_db_close(db);
}

static void test_kill9_during_backfill_keeps_database_and_stream_intact(void **state)
{
    const bool small = h_test_scale_small();
    /* nothing is pruned while the test looks at it */
    static const char cfg[] = "{\"generation_settings\":{\"retention_events\":100000000}}";
    static const char *const args[] = { "--seed", "31", "--start-time", "2025-06-02T00:00:00Z",
                                        "--backfill", "30d", NULL };
    static struct span old[PAGE];
    const long long before = small ? 3000 : 20000, after = 2000;
    struct proc *p = &h_procs[0], *q = &h_procs[1];
    struct resp r_old, r;
    cJSON *pg;
    long long head_page, first, max_seq, h1, h2;

    (void)state;
    h_proc_init(p, "kill9");
    h_proc_write_config(p, cfg);
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    assert_true(h_wait_head(p->port, before, 60000));

    /* the newest page, as a client saw it just before the crash */
    head_page = h_newest_page(p->port, "/transactions/events", &r_old, old);
    first = head_page - PAGE + 1;
    h_proc_kill9(p);

    check_db_sound(p->db, &max_seq);
    assert_true(max_seq >= head_page);

    /* what a client saw is still there, byte for byte */
    assert_int_equal(h_proc_restart(p, TXN_BIN, args), 0);
    h_assert_page_kept(p->port, "/transactions/events", head_page, old);
    h_resp_free(&r_old);

    /* it goes on from where it was */
    h1 = h_health_head(p->port);
    assert_true(h1 >= max_seq);
    assert_true(h_wait_head(p->port, (h1 > max_seq + after ? h1 : max_seq + after) + 1000, 60000));
    h2 = h_health_head(p->port);
    printf("  killed at %lld (page head %lld); after restart %lld, then %lld\n", max_seq,
           head_page, h1, h2);
    assert_true(h2 > h1);

    /* dense across the crash, no transaction id twice */
    {
        long long since = first - 1;
        size_t nid = 0, cap = (size_t)(max_seq + after - first + 2 * PAGE);
        const char **ids = calloc(cap, sizeof(*ids));
        cJSON **pages = calloc(cap / PAGE + 2, sizeof(*pages));
        size_t npages = 0;

        assert_non_null(ids);
        assert_non_null(pages);
        while (since < max_seq + after) {
            char path[128];
            cJSON *e;
            snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", since, PAGE);
            pg = h_get_page(p->port, path, &r);
            h_resp_free(&r);
            assert_true(npages < cap / PAGE + 2);
            pages[npages++] = pg;
            assert_true(cJSON_GetArraySize(h_events_of(pg)) > 0);
            cJSON_ArrayForEach(e, h_events_of(pg))
            {
                long long seq = h_jnum(e, "sequence");
                if (seq != since + 1)
                    fail_msg("sequence %lld follows %lld across kill -9", seq, since);
                since = seq;
                assert_true(nid < cap);
                ids[nid++] = h_jstr(e, "transaction_id");
            }
        }
        qsort(ids, nid, sizeof(*ids), h_cmp_str);
        for (size_t i = 1; i < nid; i++)
            if (strcmp(ids[i - 1], ids[i]) == 0)
                fail_msg("transaction_id %s appears twice", ids[i]);
        for (size_t i = 0; i < npages; i++)
            cJSON_Delete(pages[i]);
        free(pages);
        free(ids);
    }

    /* and it is the same stream an uninterrupted run writes */
    h_proc_init(q, "kill9ref");
    h_proc_write_config(q, cfg);
    assert_int_equal(h_proc_start(q, TXN_BIN, args), 0);
    assert_true(h_wait_head(q->port, max_seq + after, 60000));
    h_assert_same_stream(p->port, q->port, "/transactions/events", max_seq - PAGE,
                         max_seq + after, NULL, max_seq);
    assert_int_equal(h_proc_stop(q, NULL), 0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(q);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */

static void test_same_seed_and_start_replay_byte_identical_events(void **state)
{
    const bool small = h_test_scale_small();
    static const char cfg[] = "{\"generation_settings\":{\"events_per_second\":20}}";
    const char *backfill = small ? "15m" : "1h";
    const char *end_ts = small ? "2026-03-02T08:15:00.000Z" : "2026-03-02T09:00:00.000Z";
    const char *const args[] = { "--seed", "99", "--start-time", "2026-03-02T08:00:00Z",
                                 "--backfill", backfill, NULL };
    const char *const other[] = { "--seed", "100", "--start-time", "2026-03-02T08:00:00Z",
                                  "--backfill", backfill, NULL };
    struct proc *a = &h_procs[0], *b = &h_procs[1], *c = &h_procs[2];
    long long n;

    (void)state;
    h_proc_init(a, "replay-a");
    h_proc_init(b, "replay-b");
    h_proc_init(c, "replay-c");
    h_proc_write_config(a, cfg);
    h_proc_write_config(b, cfg);
    h_proc_write_config(c, cfg);
    assert_int_equal(h_proc_start(a, TXN_BIN, args), 0);
    assert_int_equal(h_proc_start(b, TXN_BIN, args), 0);
    assert_int_equal(h_proc_start(c, TXN_BIN, other), 0);
    assert_true(h_wait_backfilled(a->port, small ? 120000 : 60000));
    assert_true(h_wait_backfilled(b->port, small ? 120000 : 60000));
    assert_true(h_wait_backfilled(c->port, small ? 120000 : 60000));

    n = h_compare_backfill(a->port, b->port, "/transactions/events", end_ts);
    printf("  %lld events identical in both runs\n", n);
    /* 20/s over the span, Monday 08:00 (factor 1.0) */
    assert_true(n > (small ? 15 * 60 * 20 : 3600 * 20) * 9 / 10);

    /* another seed, another stream */
    h_assert_first_events_differ(a->port, c->port, "/transactions/events", 100);

    assert_int_equal(h_proc_stop(a, NULL), 0);
    assert_int_equal(h_proc_stop(b, NULL), 0);
    assert_int_equal(h_proc_stop(c, NULL), 0);
    h_proc_finish(a);
    h_proc_finish(b);
    h_proc_finish(c);
}

/* ------------------------------------------------------------------ */
/* POST /transactions                                                   */

/* Posts body; expects 201 and returns the parsed event (raw in r). */
static cJSON *post_txn(int port, const char *body, struct resp *r)
{
    cJSON *e;

    assert_int_equal(h_http_req(port, "POST", "/transactions", body, h_json_ct, r), 0);
    if (r->status != 201)
        fail_msg("POST /transactions %s: %ld %s", body, r->status, r->body);
    assert_non_null(strstr(r->ctype, "application/json"));
    e = cJSON_ParseWithLength(r->body, r->len);
    assert_true(cJSON_IsObject(e));
    return e;
}

static void assert_api_event(const cJSON *e, const char *cust, long long after_seq,
                             const char *after_ts)
{
    const cJSON *risk = cJSON_GetObjectItemCaseSensitive(e, "risk_score");
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "location");

    assert_string_equal(h_jstr(e, "origin"), "api");
    assert_true(h_is_uuid_v4(h_jstr(e, "transaction_id")));
    assert_non_null(h_jstr(e, "timestamp"));
    assert_int_equal(strlen(h_jstr(e, "timestamp")), 24);
    assert_true(strcmp(h_jstr(e, "timestamp"), after_ts) >= 0);
    assert_true(h_jnum(e, "sequence") > after_seq);
    assert_string_equal(h_jstr(e, "customer_id"), cust);
    assert_string_equal(h_jstr(e, "customer_segment"), "retail");
    assert_string_equal(h_jstr(e, "currency"), "USD");
    assert_string_equal(h_jstr(e, "transaction_type"), "purchase");
    assert_non_null(h_jstr(e, "channel"));
    assert_non_null(h_jstr(e, "status"));
    assert_true(cJSON_IsObject(loc));
    assert_int_equal(strlen(h_jstr(loc, "country")), 2);
    assert_true(cJSON_IsNumber(risk) && risk->valuedouble >= 0 && risk->valuedouble <= 1);
    h_jnum(e, "processing_time_ms");
    /* every field present: null where it does not apply */
    assert_non_null(cJSON_GetObjectItemCaseSensitive(e, "counterparty_account"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(e, "merchant_id"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(e, "incident_id"));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "incident_id")));
}

/* The event at sequence seq in the list is exactly the 201 body. */
static void assert_listed(int port, const char *query, long long seq, const struct resp *posted)
{
    char path[192];
    struct resp r;
    struct span s[1];
    cJSON *pg;

    snprintf(path, sizeof(path), "/transactions/events?%ssince=%lld&limit=1", query, seq - 1);
    pg = h_get_page(port, path, &r);
    assert_int_equal(h_jnum(pg, "count"), 1);
    assert_int_equal(h_split_events(r.body, r.len, s, 1), 1);
    if (s[0].n != posted->len || memcmp(s[0].p, posted->body, posted->len) != 0)
        fail_msg("listed %.*s\nposted %s", (int)s[0].n, s[0].p, posted->body);
    cJSON_Delete(pg);
    h_resp_free(&r);
}

static void test_posted_transaction_is_stored_labelled_and_listed(void **state)
{
    static const char *const args[] = { "--seed", "41", "--backfill", "60s", NULL };
    struct proc *p = &h_procs[0];
    struct resp r, small_r, big_r;
    cJSON *pg, *e, *small_e, *big_e;
    char cust[16] = "", newest_ts[32], body[160];
    long long head;

    (void)state;
    h_proc_start_backfilled(p, "post", TXN_BIN, NULL, args, 30000);

    /* a known retail customer: usual amounts far below $50,000 */
    pg = h_get_page(p->port, "/transactions/events?limit=1000", &r);
    head = h_jnum(pg, "next_since");
    snprintf(newest_ts, sizeof(newest_ts), "%s",
             h_jstr(cJSON_GetArrayItem(h_events_of(pg), 0), "timestamp"));
    cJSON_ArrayForEach(e, h_events_of(pg))
    {
        const char *seg = h_jstr(e, "customer_segment");
        if (seg && strcmp(seg, "retail") == 0 && !cust[0])
            snprintf(cust, sizeof(cust), "%s", h_jstr(e, "customer_id"));
    }
    cJSON_Delete(pg);
    h_resp_free(&r);
    assert_true(cust[0] != '\0');

    snprintf(body, sizeof(body),
             "{\"customer_id\":\"%s\",\"amount\":12.34,\"transaction_type\":\"purchase\"}", cust);
    small_e = post_txn(p->port, body, &small_r);
    assert_api_event(small_e, cust, head, newest_ts);
    assert_true(cJSON_GetObjectItemCaseSensitive(small_e, "amount")->valuedouble == 12.34);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(small_e, "is_anomaly")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(small_e, "anomaly_type")));

    snprintf(body, sizeof(body),
             "{\"customer_id\":\"%s\",\"amount\":50000.00,\"transaction_type\":\"purchase\"}",
             cust);
    big_e = post_txn(p->port, body, &big_r);
    assert_api_event(big_e, cust, h_jnum(small_e, "sequence"), h_jstr(small_e, "timestamp"));
    assert_true(cJSON_GetObjectItemCaseSensitive(big_e, "amount")->valuedouble == 50000.0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(big_e, "is_anomaly")));
    assert_string_equal(h_jstr(big_e, "anomaly_type"), "suspicious_high_amount");
    assert_string_not_equal(h_jstr(big_e, "transaction_id"), h_jstr(small_e, "transaction_id"));

    /* stored as answered */
    assert_listed(p->port, "", h_jnum(small_e, "sequence"), &small_r);
    assert_listed(p->port, "", h_jnum(big_e, "sequence"), &big_r);
    assert_listed(p->port, "anomaly_type=suspicious_high_amount&", h_jnum(big_e, "sequence"),
                  &big_r);
    assert_listed(p->port, "anomalies_only=true&", h_jnum(big_e, "sequence"), &big_r);
    {
        long st = 0;
        cJSON *m = h_http_get_json(p->port, "/metrics", &st);
        assert_int_equal(st, 200);
        assert_int_equal(h_jnum(cJSON_GetObjectItemCaseSensitive(m, "events"), "api"), 2);
        cJSON_Delete(m);
    }

    cJSON_Delete(small_e);
    cJSON_Delete(big_e);
    h_resp_free(&small_r);
    h_resp_free(&big_r);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Start-up and command line                                            */

static void test_health_answers_within_200ms_of_exec(void **state)
{
    static const char *const args[] = { "--seed", "8", NULL };
    const long limit = h_test_scale_small() ? 2000 : 200;
    struct proc *p = &h_procs[0];
    long best = 1000000;

    (void)state;
    /* best of three: the target is the daemon's, not a busy machine's */
    for (int attempt = 0; attempt < 3 && best > limit; attempt++) {
        long t0, took = -1;

        h_proc_init(p, "startup");
        t0 = h_now_ms();
        assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
        while (h_now_ms() - t0 < 5000) {
            struct resp r;
            int rc = h_http_req(p->port, "GET", "/health", NULL, NULL, &r);
            long st = r.status;
            h_resp_free(&r);
            if (rc == 0 && st == 200) {
                took = h_now_ms() - t0;
                break;
            }
            h_sleep_ms(1);
        }
        printf("  attempt %d: /health 200 after %ld ms\n", attempt + 1, took);
        assert_true(took >= 0);
        if (took < best)
            best = took;
        assert_int_equal(h_proc_stop(p, NULL), 0);
        h_proc_finish(p);
    }
    if (best > limit)
        fail_msg("/health first answered %ld ms after exec; want <= %ld", best, limit);
}

/* A backfill ends with one log line saying what it wrote and how fast
 * (bench/run.sh's shards row reads it): its count is the head. */
static void test_backfill_logs_its_count_and_rate_when_done(void **state)
{
    static const char *const args[] = { "--seed", "9", "--backfill", "1h", NULL };
    struct proc *p = &h_procs[0];
    char line[2048];
    long long head, count = -1, lines = 0;
    double secs = -1, rate = -1;
    cJSON *h;
    FILE *f;

    (void)state;
    h_proc_init(p, "done-line");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    assert_true(h_wait_backfilled(p->port, 60000));
    h = h_http_get_json(p->port, "/health", NULL);
    head = h_jnum(h, "head_sequence");
    cJSON_Delete(h);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    f = fopen(p->log, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "\"backfill: done, ");

        if (at) {
            assert_int_equal(sscanf(at, "\"backfill: done, %lld events in %lf s (%lf events/s)",
                                    &count, &secs, &rate),
                             3);
            lines++;
        }
    }
    fclose(f);
    h_proc_finish(p);
    assert_int_equal(lines, 1);
    /* live events may follow the backfill before /health was read */
    assert_true(count > 1000 && count <= head);
    assert_true(secs > 0 && rate > 0);
    assert_true(rate > (double)count / secs * 0.99 && rate < (double)count / secs * 1.01);
}

/* /health is built from memory and answers from the start; it must not
 * call a daemon "ok" before its generator has said what it is doing. */
static void test_health_says_backfilling_from_the_first_answer(void **state)
{
    static const char *const args[] = { "--seed", "9", "--backfill", "30d", NULL };
    static const char paused_cfg[] = "{\"generation_settings\":{\"paused\":true}}";
    static const char *const live[] = { "--seed", "9", NULL };
    struct proc *p = &h_procs[0], *q = &h_procs[1];

    (void)state;
    h_proc_init(p, "early");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    for (int i = 0; i < 3; i++) {
        cJSON *h = h_http_get_json(p->port, "/health", NULL);
        const char *st = h_jstr(h, "status");
        if (!st || strcmp(st, "backfilling") != 0)
            fail_msg("answer %d during a 30-day backfill: status \"%s\" (head %lld)", i + 1,
                     st ? st : "?", h_jnum(h, "head_sequence"));
        cJSON_Delete(h);
    }
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);

    h_proc_init(q, "early-paused");
    h_proc_write_config(q, paused_cfg);
    assert_int_equal(h_proc_start(q, TXN_BIN, live), 0);
    for (int i = 0; i < 3; i++) {
        cJSON *h = h_http_get_json(q->port, "/health", NULL);
        const char *st = h_jstr(h, "status");
        if (!st || strcmp(st, "paused") != 0)
            fail_msg("answer %d with paused: true: status \"%s\"", i + 1, st ? st : "?");
        cJSON_Delete(h);
    }
    assert_int_equal(h_proc_stop(q, NULL), 0);
    h_proc_finish(q);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Exit 2 with one line that names what is wrong. */
static void expect_exit2(const char *const *args, const char *names)
{
    char out[4096];
    int rc = h_proc_run(TXN_BIN, args, out, sizeof(out));

    if (rc != 2 || count_lines(out) != 1 || out[strlen(out) - 1] != '\n' || !strstr(out, names))
        fail_msg("%s %s: exit %d, output \"%s\"; want exit 2 and one line naming %s", args[0],
                 args[1] ? args[1] : "", rc, out, names);
}

static void test_command_line_exit_codes_help_and_version(void **state)
{
    static const char *const flags[] = { "--port",         "--bind",       "--db",
                                         "--config",       "--seed",       "--start-time",
                                         "--backfill",     "--reset-config", "--check-config",
                                         "--log-level",    "--help",       "--version" };
    static const char *const envs[] = { "PORT", "BIND_ADDRESS", "DB_PATH", "CONFIG_PATH",
                                        "SEED", "START_TIME",   "BACKFILL", "LOG_LEVEL",
                                        "ADMIN_TOKEN" };
    struct proc *p = &h_procs[0];
    char out[8192];

    (void)state;
    h_proc_init(p, "cli");
    {
        const char *const a[] = { "--config", SHIPPED_CONFIG, "--check-config", NULL };
        assert_int_equal(h_proc_run(TXN_BIN, a, out, sizeof(out)), 0);
    }

    /* a broken file: refused by --check-config and by a real start,
     * which creates nothing */
    h_proc_write_config(p, "{\"generation_settings\":{\"events_per_second\":100,"
                         "\"bogus_key\":1}}");
    {
        const char *const a[] = { "--config", p->config, "--check-config", NULL };
        const char *const b[] = { "--config", p->config, "--db", p->db, "--port", "0",
                                  "--bind", "127.0.0.1", NULL };
        expect_exit2(a, "bogus_key");
        expect_exit2(b, "bogus_key");
        assert_int_not_equal(access(p->db, F_OK), 0);
    }
    /* every section is validated, not only this service's; an alias
     * must agree with its key; types are strict */
    {
        static const struct {
            const char *text, *names;
        } bad[] = {
            { "{\"anomaly_settings\":{\"auth_service\":{\"brute_force_rate\":-1}}}",
              "brute_force_rate" },
            { "{\"anomaly_settings\":{\"monitoring_service\":{\"bogus_rate\":1}}}",
              "bogus_rate" },
            { "{\"anomaly_settings\":{\"transaction_service\":{\"suspicious_transaction_rate\":0.002,"
              "\"suspicious_high_amount_rate\":0.001}}}",
              "suspicious_transaction_rate" },
            { "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.01,"
              "\"suspicious_transaction_rate\":0.008,\"fraud_pattern_rate\":0.004}}}",
              "anomaly_rate" },
            { "{\"generation_settings\":{\"events_per_second\":\"fast\"}}", "events_per_second" },
            { "{\"generation_settings\":{\"events_per_second\":0}}", "events_per_second" },
            { "{\"gateway\":{\"poll_interval_ms\":1}}", "poll_interval_ms" },
            { "{\"anomaly_settings\":", "JSON" },
        };
        const char *const a[] = { "--config", p->config, "--check-config", NULL };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            h_proc_write_config(p, bad[i].text);
            expect_exit2(a, bad[i].names);
        }
    }
    {
        const char *const a[] = { "--config", "/nonexistent/anomaly_config.json",
                                  "--check-config", NULL };
        expect_exit2(a, "/nonexistent/anomaly_config.json");
    }

    /* bad flags */
    {
        const char *const a1[] = { "--nope", NULL };
        const char *const a2[] = { "--config", SHIPPED_CONFIG, "--backfill", "366d",
                                   "--check-config", NULL };
        const char *const a3[] = { "--poll-interval-ms", "5", NULL };
        const char *const a4[] = { "--seed", NULL };
        const char *const a5[] = { "--log-level", "loud", NULL };
        const char *const a6[] = { "--port", "70000", NULL };
        const char *const a7[] = { "--start-time", "yesterday", NULL };
        const char *const a8[] = { "stray", NULL };
        const char *const a9[] = { "--check-config=yes", NULL };
        expect_exit2(a1, "--nope");
        expect_exit2(a2, "--backfill");
        expect_exit2(a3, "--poll-interval-ms");
        expect_exit2(a4, "--seed");
        expect_exit2(a5, "--log-level");
        expect_exit2(a6, "--port");
        expect_exit2(a7, "--start-time");
        expect_exit2(a8, "stray");
        expect_exit2(a9, "--check-config");
    }
    /* a bad environment value counts as a bad flag */
    {
        const char *const a[] = { "--config", SHIPPED_CONFIG, "--check-config", NULL };
        assert_int_equal(setenv("BACKFILL", "5x", 1), 0);
        expect_exit2(a, "BACKFILL");
        assert_int_equal(unsetenv("BACKFILL"), 0);
    }

    /* --help: exit 0, every flag and variable of SPEC §2, even with a
     * broken config file */
    {
        const char *const a[] = { "--config", p->config, "--help", NULL };
        assert_int_equal(h_proc_run(TXN_BIN, a, out, sizeof(out)), 0);
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
            if (!strstr(out, flags[i]))
                fail_msg("--help does not mention %s:\n%s", flags[i], out);
        for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++)
            if (!strstr(out, envs[i]))
                fail_msg("--help does not mention %s:\n%s", envs[i], out);
    }
    {
        const char *const a[] = { "--version", NULL };
        assert_int_equal(h_proc_run(TXN_BIN, a, out, sizeof(out)), 0);
        assert_non_null(strstr(out, BM_VERSION));
        assert_non_null(strstr(out, "transaction-service"));
    }
    h_proc_finish(p);
}

/* Live events are committed in batches, one at most every 50 ms
 * (LIVE_GATHER_US), not one commit per event: at 500 events/s, polling
 * /health every few ms for 2 s sees the head move at most ~40 times (a
 * commit per event moved it on nearly every poll), and it still moves
 * often: events become visible well within a second. */
static void test_live_events_are_committed_in_batches(void **state)
{
    static const char *const args[] = { "--seed", "12", NULL };
    const long span_ms = 2000;
    struct proc *p = &h_procs[0];
    long long head, last;
    long t0, last_change, max_gap = 0;
    int changes = 0, polls = 0;

    (void)state;
    h_proc_init(p, "gather");
    h_proc_write_config(p, "{\"generation_settings\":{\"events_per_second\":500}}");
    assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
    assert_true(h_wait_head(p->port, 1, 5000));
    last = h_health_head(p->port);
    t0 = last_change = h_now_ms();
    while (h_now_ms() - t0 < span_ms) {
        h_sleep_ms(3);
        head = h_health_head(p->port);
        polls++;
        assert_true(head >= last);
        if (head != last) {
            long now = h_now_ms();
            if (now - last_change > max_gap)
                max_gap = now - last_change;
            last_change = now;
            last = head;
            changes++;
        }
    }
    printf("  %d polls, head moved %d times, longest still %ld ms\n", polls, changes, max_gap);
    assert_true(changes <= span_ms / 50 + 8);
    assert_true(changes >= 5);
    assert_true(max_gap <= 1000);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* SIGTERM and SIGINT are for the main thread's wait alone: a handler that
 * ran on a request or generator thread raced the main thread (TSan caught
 * it once in CI). Every other thread, once all have started, blocks both,
 * and either signal still stops the daemon cleanly. */
static void test_stop_signals_are_blocked_in_every_thread(void **state)
{
    static const char *const args[] = { "--seed", "13", NULL };
    static const int sigs[] = { SIGTERM, SIGINT };
    struct proc *p = &h_procs[0];

    (void)state;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct resp r;
        int n = 0;

        h_proc_init(p, "sigmask");
        assert_int_equal(h_proc_start(p, TXN_BIN, args), 0);
        assert_true(h_wait_head(p->port, 1, 5000));
        /* a logged request starts the access-log thread too */
        assert_int_equal(h_http_req(p->port, "GET", "/events?limit=1", NULL, NULL, &r), 0);
        h_resp_free(&r);
        assert_int_equal(h_proc_threads_taking(p->pid, SIGTERM, &n), 0);
        assert_int_equal(h_proc_threads_taking(p->pid, SIGINT, &n), 0);
        assert_true(n >= 4);    /* two workers, the generator, the log */
        assert_int_equal(h_proc_stop_by(p, sigs[i], NULL), 0);
        h_proc_finish(p);
    }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, h_procs_setup, txn_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_posted_config_survives_restart_until_reset_config),
        T(test_concurrent_config_posts_of_different_keys_both_hold),
        T(test_config_numbers_print_without_exponent),
        T(test_anomaly_fraction_within_four_sigma_of_rate),
        T(test_anomaly_fraction_holds_at_rate_one_half),
        T(test_anomaly_types_follow_equal_weights),
        T(test_health_shows_expected_rate_and_time_shaping_flattens_it),
        T(test_one_seed_gives_each_service_its_own_ids),
        T(test_event_lists_follow_the_cursor_rules),
        T(test_kill9_during_backfill_keeps_database_and_stream_intact),
        T(test_same_seed_and_start_replay_byte_identical_events),
        T(test_posted_transaction_is_stored_labelled_and_listed),
        T(test_health_answers_within_200ms_of_exec),
        T(test_health_says_backfilling_from_the_first_answer),
        T(test_backfill_logs_its_count_and_rate_when_done),
        T(test_command_line_exit_codes_help_and_version),
        T(test_live_events_are_committed_in_batches),
        T(test_stop_signals_are_blocked_in_every_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
