/* test_transaction_lifecycle.c - transaction-service over its life: run-time
 * settings that survive a restart, the anomaly fraction, paging cursors,
 * kill -9, replay from a seed, API events, start-up time and the command
 * line (SPEC §2, §3, §5, §6). */
#include <math.h>
#include <setjmp.h>
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

static const char *const json_ct[] = { "Content-Type: application/json", NULL };

/* Anomaly rate 3 % at a base of 100 events/s; the rest as shipped. */
static const char rate_config[] =
    "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.03}},"
    "\"generation_settings\":{\"events_per_second\":100}}";

/* Daemons live here, not on a test's stack, so the teardown can stop and
 * remove them when an assertion ends a test early. */
#define MAX_PROCS 3
static struct proc procs[MAX_PROCS];

static int procs_setup(void **state)
{
    (void)state;
    memset(procs, 0, sizeof(procs));
    for (int i = 0; i < MAX_PROCS; i++)
        procs[i].pid = -1;
    return 0;
}

static int procs_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].dir[0])
            proc_cleanup(&procs[i]);
    memset(procs, 0, sizeof(procs));
    unsetenv("BACKFILL");
    return 0;
}

/* Removes the daemon (killed if still running) and its files; the slot
 * is free again for the teardown. */
static void finish(struct proc *p)
{
    proc_cleanup(p);
    p->dir[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The harness finds the port in the first "listening" line of the log, so
 * a restart starts a fresh log. */
static int restart(struct proc *p, const char *const *args)
{
    unlink(p->log);
    return proc_start(p, TXN_BIN, args);
}

static long long jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("\"%s\" is not a number", k);
    return (long long)v->valuedouble;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long health_head(int port)
{
    long st = 0;
    cJSON *h = http_get_json(port, "/health", &st);
    long long head;

    assert_int_equal(st, 200);
    head = jnum(h, "head_sequence");
    cJSON_Delete(h);
    return head;
}

static bool wait_head(int port, long long min, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;

    while (now_ms() < deadline) {
        if (health_head(port) >= min)
            return true;
        sleep_ms(20);
    }
    return false;
}

/* Polls /health until the backfill is over: status "ok" and every
 * simulated second of it written. (Status alone once said "ok" before the
 * generator's first batch: test_health_says_backfilling_from_the_first_answer.) */
static bool wait_backfilled(int port, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms, moved = now_ms();
    long long last_head = -1;

    while (now_ms() < deadline) {
        long code = 0;
        cJSON *h = http_get_json(port, "/health", &code);
        const cJSON *bf = cJSON_GetObjectItemCaseSensitive(h, "backfill");
        const char *st = jstr(h, "status");
        bool ok;

        /* a dead or broken daemon fails now, not at the deadline */
        if (!st || !cJSON_IsObject(bf))
            fail_msg("/health answered %ld without a status: daemon broken or gone", code);
        ok = strcmp(st, "ok") == 0 && jnum(bf, "total") > 0 &&
             jnum(bf, "done") == jnum(bf, "total");
        if (jnum(h, "head_sequence") != last_head) {
            last_head = jnum(h, "head_sequence");
            moved = now_ms();
        }
        cJSON_Delete(h);
        if (ok)
            return true;
        if (now_ms() - moved > 15000)
            fail_msg("backfill stalled at sequence %lld for 15 s", last_head);
        sleep_ms(20);
    }
    return false;
}

/* GET a list page: 200, JSON, count = length of events. The raw body
 * stays in r for byte comparisons. */
static cJSON *get_page(int port, const char *path, struct resp *r)
{
    cJSON *j, *ev;

    assert_int_equal(http_req(port, "GET", path, NULL, NULL, r), 0);
    if (r->status != 200)
        fail_msg("GET %s: %ld %s", path, r->status, r->body);
    j = cJSON_ParseWithLength(r->body, r->len);
    assert_non_null(j);
    ev = cJSON_GetObjectItemCaseSensitive(j, "events");
    assert_true(cJSON_IsArray(ev));
    assert_int_equal(jnum(j, "count"), cJSON_GetArraySize(ev));
    jnum(j, "next_since");
    jnum(j, "oldest_sequence");
    return j;
}

static cJSON *events_of(const cJSON *page)
{
    return cJSON_GetObjectItemCaseSensitive(page, "events");
}

/* One event's bytes inside a list body. */
struct span {
    const char *p;
    size_t n;
};

/* Splits the raw "events" array of a list body into its elements, so
 * events can be compared byte for byte rather than re-printed by cJSON.
 * Returns the number of events. */
static size_t split_events(const char *body, size_t len, struct span *out, size_t max)
{
    static const char head[] = "{\"events\":[";
    size_t i = sizeof(head) - 1, start = 0, n = 0;
    int depth = 0;
    bool in_str = false;

    if (len < i || memcmp(body, head, i) != 0)
        fail_msg("list body does not start with %s: %.80s", head, body);
    for (; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (depth++ == 0)
                start = i;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                break; /* the end of the events array */
            if (--depth == 0) {
                assert_true(n < max);
                out[n].p = body + start;
                out[n].n = i + 1 - start;
                n++;
            }
        }
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool span_eq(struct span a, struct span b)
{
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* ------------------------------------------------------------------ */
/* Run-time settings                                                    */

static void test_posted_config_survives_restart_until_reset_config(void **state)
{
    static const char *const keys[] = { "anomaly_rate", "events_per_second", "paused",
                                        "retention_events", "suspicious_high_amount_rate",
                                        "fraud_pattern_rate", "money_laundering_rate",
                                        "suspicious_transaction_rate" };
    static const char *const args[] = { "--seed", "12", NULL };
    static const char *const reset_args[] = { "--seed", "12", "--reset-config", NULL };
    struct proc *p = &procs[0];
    struct resp r, g;
    cJSON *j;
    char *config0, *posted;

    (void)state;
    proc_init(p, "cfgkeep");
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    assert_int_equal(http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_int_equal(g.status, 200);
    config0 = g.body;

    /* curl -X POST -H 'Content-Type: application/json' -d '{"anomaly_rate": 0.03}' */
    assert_int_equal(http_req(p->port, "POST", "/config", "{\"anomaly_rate\": 0.03}", json_ct, &r),
                     0);
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

    assert_int_equal(http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, posted);
    resp_free(&g);

    /* restart on the same database: the change is still there */
    assert_int_equal(proc_stop(p, NULL), 0);
    assert_int_equal(restart(p, args), 0);
    assert_int_equal(http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, posted);
    resp_free(&g);

    /* --reset-config: back to the file's value, and it stays dropped */
    assert_int_equal(proc_stop(p, NULL), 0);
    assert_int_equal(restart(p, reset_args), 0);
    j = http_get_json(p->port, "/config", NULL);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "anomaly_rate")->valuedouble == 0.02);
    cJSON_Delete(j);
    assert_int_equal(http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, config0);
    resp_free(&g);
    assert_int_equal(proc_stop(p, NULL), 0);
    assert_int_equal(restart(p, args), 0);
    assert_int_equal(http_req(p->port, "GET", "/config", NULL, NULL, &g), 0);
    assert_string_equal(g.body, config0);
    resp_free(&g);

    free(posted);
    free(config0);
    assert_int_equal(proc_stop(p, NULL), 0);
    finish(p);
}

/* A digit followed by an exponent marker: "1e+02", "5E3". */
static bool has_exponent(const char *s)
{
    for (; s[0] && s[1]; s++)
        if (s[0] >= '0' && s[0] <= '9' && (s[1] == 'e' || s[1] == 'E'))
            return true;
    return false;
}

/* 100 reads back as 100, not 1e+02: the values a user set, as written. */
static void test_config_numbers_print_without_exponent(void **state)
{
    static const char *const args[] = { "--seed", "13", NULL };
    struct proc *p = &procs[0];
    struct resp r;

    (void)state;
    proc_init(p, "cfgnum");
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    assert_int_equal(http_req(p->port, "GET", "/config", NULL, NULL, &r), 0);
    if (!strstr(r.body, "\"events_per_second\":100,") || has_exponent(r.body))
        fail_msg("GET /config: %s; want \"events_per_second\":100 and no exponents", r.body);
    resp_free(&r);
    assert_int_equal(http_req(p->port, "POST", "/config",
                              "{\"events_per_second\":5000,\"fraud_pattern_rate\":20}", json_ct,
                              &r), 0);
    assert_int_equal(r.status, 200);
    if (!strstr(r.body, "\"events_per_second\":5000,") ||
        !strstr(r.body, "\"fraud_pattern_rate\":20,") || has_exponent(r.body))
        fail_msg("POST /config answered %s; want 5000 and 20 as written", r.body);
    resp_free(&r);
    assert_int_equal(proc_stop(p, NULL), 0);
    finish(p);
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
    const bool small = test_scale_small();
    long long since = 0;
    bool done = false;
    char **ids = NULL;
    size_t nids = 0, cap = 0;

    memset(t, 0, sizeof(*t));
    t->rate = rate;
    proc_init(p, tag);
    proc_write_config(p, config);
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    assert_true(wait_backfilled(p->port, small ? 120000 : 60000));
    while (!done) {
        char path[128];
        struct resp r;
        cJSON *pg, *e;

        snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", since, PAGE);
        pg = get_page(p->port, path, &r);
        cJSON_ArrayForEach(e, events_of(pg))
        {
            const cJSON *anom = cJSON_GetObjectItemCaseSensitive(e, "is_anomaly");
            const char *type = jstr(e, "anomaly_type"), *inc = jstr(e, "incident_id");
            long long seq = jnum(e, "sequence");
            int ti;

            if (seq != since + 1)
                fail_msg("sequence %lld after %lld: not dense", seq, since);
            since = seq;
            if (strcmp(jstr(e, "timestamp"), end_ts) >= 0) {
                done = true; /* live events from here */
                break;
            }
            assert_string_equal(jstr(e, "origin"), "generated");
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
        if (cJSON_GetArraySize(events_of(pg)) < PAGE)
            done = true;
        cJSON_Delete(pg);
        resp_free(&r);
    }
    if (nids)
        qsort(ids, nids, sizeof(*ids), cmp_str);
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
    assert_int_equal(proc_stop(p, NULL), 0);
    finish(p);
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
    const bool small = test_scale_small();
    struct tally t;

    (void)state;
    /* 100 events/s: 1100 s is ~110,000 events, 220 s ~22,000 */
    sample_backfill(&procs[0], "frac", rate_config, 0.03, small ? "220s" : "1100s",
                    small ? "2026-01-05T12:03:40.000Z" : "2026-01-05T12:18:20.000Z", &t);
    assert_fraction(&t, 0.03, small ? 20000 : 100000);
}

/* The top of the documented range (0..0.5) is reachable too. */
static void test_anomaly_fraction_holds_at_rate_one_half(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.5}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = test_scale_small();
    struct tally t;

    (void)state;
    sample_backfill(&procs[0], "frachalf", cfg, 0.5, small ? "220s" : "1100s",
                    small ? "2026-01-05T12:03:40.000Z" : "2026-01-05T12:18:20.000Z", &t);
    assert_fraction(&t, 0.5, small ? 20000 : 100000);
}

/* Equal weights: no type may starve. Whether weights share out events or
 * incidents, each type then gets well over 5 % of both. */
static void test_anomaly_types_follow_equal_weights(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.1,"
        "\"suspicious_high_amount_rate\":1,\"suspicious_transaction_rate\":1,"
        "\"fraud_pattern_rate\":1,\"money_laundering_rate\":1}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = test_scale_small();
    long long incidents = 0;
    struct tally t;

    (void)state;
    sample_backfill(&procs[0], "weights", cfg, 0.1, small ? "200s" : "600s",
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
        pg = get_page(port, path, &r);
        count = jnum(pg, "count");
        cJSON_ArrayForEach(e, events_of(pg))
        {
            long long seq = jnum(e, "sequence");
            const char *type = jstr(e, "anomaly_type");
            if (seq != last + 1)
                fail_msg("since=%lld: sequence %lld follows %lld", since, seq, last);
            last = seq;
            if (seq <= head && type && strcmp(type, "money_laundering") == 0) {
                assert_true(nml < ml_max);
                ml[nml++] = seq;
            }
        }
        next = jnum(pg, "next_since");
        /* a full page resumes after its last event; a short one has seen
         * everything up to the head */
        if (count == PAGE)
            assert_int_equal(next, last);
        else
            assert_true(next >= last);
        assert_true(count > 0);
        since = last;
        cJSON_Delete(pg);
        resp_free(&r);
    }
    return nml;
}

static void test_event_lists_follow_the_cursor_rules(void **state)
{
    const bool small = test_scale_small();
    const char *const args[] = { "--seed", "21", "--start-time", "2026-01-05T12:00:00Z",
                                 "--backfill", small ? "120s" : "300s", NULL };
    struct proc *p = &procs[0];
    static long long ml[4096];
    size_t nml, nfilt = 0;
    long long head, since, prev;
    struct resp r;
    cJSON *pg, *e;

    (void)state;
    proc_init(p, "paging");
    proc_write_config(p, rate_config);
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    assert_true(wait_backfilled(p->port, small ? 120000 : 30000));
    head = health_head(p->port);
    assert_true(head > 5000);

    /* without since: the newest, newest first; next_since is the head */
    pg = get_page(p->port, "/transactions/events", &r);
    assert_int_equal(jnum(pg, "count"), 100);
    assert_int_equal(jnum(pg, "oldest_sequence"), 1);
    prev = jnum(pg, "next_since");
    assert_true(prev >= head);
    assert_int_equal(jnum(cJSON_GetArrayItem(events_of(pg), 0), "sequence"), prev);
    cJSON_ArrayForEach(e, events_of(pg))
    {
        assert_int_equal(jnum(e, "sequence"), prev);
        prev--;
    }
    cJSON_Delete(pg);
    resp_free(&r);
    pg = get_page(p->port, "/transactions/events?limit=7", &r);
    assert_int_equal(jnum(pg, "count"), 7);
    cJSON_Delete(pg);
    resp_free(&r);

    /* with since: above it, oldest first; a full page ends the cursor at
     * its last event */
    pg = get_page(p->port, "/transactions/events?since=1000&limit=200", &r);
    assert_int_equal(jnum(pg, "count"), 200);
    prev = 1000;
    cJSON_ArrayForEach(e, events_of(pg))
    {
        assert_int_equal(jnum(e, "sequence"), prev + 1);
        prev++;
    }
    assert_int_equal(jnum(pg, "next_since"), 1200);
    cJSON_Delete(pg);
    resp_free(&r);

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
        pg = get_page(p->port, path, &r);
        count = jnum(pg, "count");
        assert_true(count <= 5);
        prev = since;
        cJSON_ArrayForEach(e, events_of(pg))
        {
            long long seq = jnum(e, "sequence");
            assert_string_equal(jstr(e, "anomaly_type"), "money_laundering");
            assert_true(seq > prev);
            prev = seq;
            if (seq <= head) {
                if (nfilt >= nml || ml[nfilt] != seq)
                    fail_msg("filtered poll returned %lld, the walk saw %lld", seq,
                             nfilt < nml ? ml[nfilt] : -1);
                nfilt++;
            }
        }
        next = jnum(pg, "next_since");
        assert_true(next >= prev);
        if (since == 0)
            assert_true(next > 0);
        cJSON_Delete(pg);
        resp_free(&r);
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
        pg = get_page(p->port, path, &r);
        cJSON_ArrayForEach(e, events_of(pg)) assert_true(jnum(e, "sequence") > head);
        assert_true(jnum(pg, "next_since") >= head);
        cJSON_Delete(pg);
        resp_free(&r);
    }

    /* anomalies only, both directions */
    pg = get_page(p->port, "/transactions/events?anomalies_only=true&since=0&limit=1000", &r);
    assert_true(jnum(pg, "count") > 0);
    prev = 0;
    cJSON_ArrayForEach(e, events_of(pg))
    {
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly")));
        assert_true(jnum(e, "sequence") > prev);
        prev = jnum(e, "sequence");
    }
    cJSON_Delete(pg);
    resp_free(&r);
    pg = get_page(p->port, "/transactions/events?anomaly_type=fraud_pattern&limit=10", &r);
    assert_true(jnum(pg, "next_since") >= head);
    prev = jnum(pg, "next_since") + 1;
    cJSON_ArrayForEach(e, events_of(pg))
    {
        assert_string_equal(jstr(e, "anomaly_type"), "fraud_pattern");
        assert_true(jnum(e, "sequence") < prev);
        prev = jnum(e, "sequence");
    }
    cJSON_Delete(pg);
    resp_free(&r);

    assert_int_equal(proc_stop(p, NULL), 0);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* kill -9                                                              */

static void check_db_sound(const char *path, long long *max_seq)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long count, min;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0)
        fail_msg("integrity_check: %s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), min(seq), max(seq) FROM events", -1,
                                        &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    count = sqlite3_column_int64(s, 0);
    min = sqlite3_column_int64(s, 1);
    *max_seq = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    /* no gaps in what was committed */
    assert_int_equal(min, 1);
    assert_int_equal(count, *max_seq);
}

static void test_kill9_during_backfill_keeps_database_and_stream_intact(void **state)
{
    const bool small = test_scale_small();
    /* nothing is pruned while the test looks at it */
    static const char cfg[] = "{\"generation_settings\":{\"retention_events\":100000000}}";
    static const char *const args[] = { "--seed", "31", "--start-time", "2025-06-02T00:00:00Z",
                                        "--backfill", "30d", NULL };
    static struct span old[PAGE], now[PAGE], ref[PAGE];
    const long long before = small ? 3000 : 20000, after = 2000;
    struct proc *p = &procs[0], *q = &procs[1];
    struct resp r_old, r;
    cJSON *pg;
    long long head_page, first, max_seq, h1, h2;
    size_t n_old, n;

    (void)state;
    proc_init(p, "kill9");
    proc_write_config(p, cfg);
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    assert_true(wait_head(p->port, before, 60000));

    /* the newest page, as a client saw it just before the crash */
    pg = get_page(p->port, "/transactions/events?limit=1000", &r_old);
    head_page = jnum(pg, "next_since");
    assert_int_equal(jnum(pg, "count"), PAGE);
    cJSON_Delete(pg);
    n_old = split_events(r_old.body, r_old.len, old, PAGE);
    assert_int_equal(n_old, PAGE);
    first = head_page - PAGE + 1;
    proc_kill9(p);

    check_db_sound(p->db, &max_seq);
    assert_true(max_seq >= head_page);

    /* what a client saw is still there, byte for byte */
    assert_int_equal(restart(p, args), 0);
    {
        char path[128];
        snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", first - 1,
                 PAGE);
        pg = get_page(p->port, path, &r);
    }
    cJSON_Delete(pg);
    n = split_events(r.body, r.len, now, PAGE);
    assert_int_equal(n, PAGE);
    for (size_t i = 0; i < PAGE; i++)
        if (!span_eq(now[i], old[PAGE - 1 - i]))
            fail_msg("sequence %lld changed across kill -9:\n%.*s\n%.*s", first + (long long)i,
                     (int)old[PAGE - 1 - i].n, old[PAGE - 1 - i].p, (int)now[i].n, now[i].p);
    resp_free(&r);
    resp_free(&r_old);

    /* it goes on from where it was */
    h1 = health_head(p->port);
    assert_true(h1 >= max_seq);
    assert_true(wait_head(p->port, (h1 > max_seq + after ? h1 : max_seq + after) + 1000, 60000));
    h2 = health_head(p->port);
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
            pg = get_page(p->port, path, &r);
            resp_free(&r);
            assert_true(npages < cap / PAGE + 2);
            pages[npages++] = pg;
            assert_true(cJSON_GetArraySize(events_of(pg)) > 0);
            cJSON_ArrayForEach(e, events_of(pg))
            {
                long long seq = jnum(e, "sequence");
                if (seq != since + 1)
                    fail_msg("sequence %lld follows %lld across kill -9", seq, since);
                since = seq;
                assert_true(nid < cap);
                ids[nid++] = jstr(e, "transaction_id");
            }
        }
        qsort(ids, nid, sizeof(*ids), cmp_str);
        for (size_t i = 1; i < nid; i++)
            if (strcmp(ids[i - 1], ids[i]) == 0)
                fail_msg("transaction_id %s appears twice", ids[i]);
        for (size_t i = 0; i < npages; i++)
            cJSON_Delete(pages[i]);
        free(pages);
        free(ids);
    }

    /* and it is the same stream an uninterrupted run writes */
    proc_init(q, "kill9ref");
    proc_write_config(q, cfg);
    assert_int_equal(proc_start(q, TXN_BIN, args), 0);
    assert_true(wait_head(q->port, max_seq + after, 60000));
    for (long long since = max_seq - PAGE; since < max_seq + after; since += PAGE) {
        char path[128];
        struct resp rr;
        size_t na, nb;

        snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", since, PAGE);
        cJSON_Delete(get_page(p->port, path, &r));
        cJSON_Delete(get_page(q->port, path, &rr));
        na = split_events(r.body, r.len, now, PAGE);
        nb = split_events(rr.body, rr.len, ref, PAGE);
        assert_int_equal(na, PAGE);
        assert_int_equal(nb, PAGE);
        for (size_t i = 0; i < PAGE; i++)
            if (!span_eq(now[i], ref[i]))
                fail_msg("sequence %lld differs from an uninterrupted run (killed at %lld)",
                         since + 1 + (long long)i, max_seq);
        resp_free(&r);
        resp_free(&rr);
    }
    assert_int_equal(proc_stop(q, NULL), 0);
    assert_int_equal(proc_stop(p, NULL), 0);
    finish(q);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */

/* Compares two daemons' events page by page up to the end of the
 * backfill; returns how many were compared. */
static long long compare_backfill(int pa, int pb, const char *end_ts)
{
    static struct span sa[PAGE], sb[PAGE];
    long long since = 0, n = 0;
    bool done = false;

    while (!done) {
        char path[128];
        struct resp ra, rb;
        cJSON *ja, *jb;
        size_t na, nb;

        snprintf(path, sizeof(path), "/transactions/events?since=%lld&limit=%d", since, PAGE);
        ja = get_page(pa, path, &ra);
        jb = get_page(pb, path, &rb);
        na = split_events(ra.body, ra.len, sa, PAGE);
        nb = split_events(rb.body, rb.len, sb, PAGE);
        for (size_t i = 0; i < na; i++) {
            const cJSON *e = cJSON_GetArrayItem(events_of(ja), (int)i);
            if (strcmp(jstr(e, "timestamp"), end_ts) >= 0) {
                done = true; /* live from here: wall-clock timing differs */
                break;
            }
            if (i >= nb || !span_eq(sa[i], sb[i]))
                fail_msg("sequence %lld differs between two runs with the same seed:\n%.*s\n%.*s",
                         jnum(e, "sequence"), (int)sa[i].n, sa[i].p, i < nb ? (int)sb[i].n : 0,
                         i < nb ? sb[i].p : "");
            since = jnum(e, "sequence");
            n++;
        }
        if (na < PAGE)
            done = true;
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        resp_free(&ra);
        resp_free(&rb);
    }
    return n;
}

static void test_same_seed_and_start_replay_byte_identical_events(void **state)
{
    const bool small = test_scale_small();
    static const char cfg[] = "{\"generation_settings\":{\"events_per_second\":20}}";
    const char *backfill = small ? "15m" : "1h";
    const char *end_ts = small ? "2026-03-02T08:15:00.000Z" : "2026-03-02T09:00:00.000Z";
    const char *const args[] = { "--seed", "99", "--start-time", "2026-03-02T08:00:00Z",
                                 "--backfill", backfill, NULL };
    const char *const other[] = { "--seed", "100", "--start-time", "2026-03-02T08:00:00Z",
                                  "--backfill", backfill, NULL };
    static struct span sa[100], sc[100];
    struct proc *a = &procs[0], *b = &procs[1], *c = &procs[2];
    struct resp ra, rc;
    long long n;
    size_t na, nc, same = 0;

    (void)state;
    proc_init(a, "replay-a");
    proc_init(b, "replay-b");
    proc_init(c, "replay-c");
    proc_write_config(a, cfg);
    proc_write_config(b, cfg);
    proc_write_config(c, cfg);
    assert_int_equal(proc_start(a, TXN_BIN, args), 0);
    assert_int_equal(proc_start(b, TXN_BIN, args), 0);
    assert_int_equal(proc_start(c, TXN_BIN, other), 0);
    assert_true(wait_backfilled(a->port, small ? 120000 : 60000));
    assert_true(wait_backfilled(b->port, small ? 120000 : 60000));
    assert_true(wait_backfilled(c->port, small ? 120000 : 60000));

    n = compare_backfill(a->port, b->port, end_ts);
    printf("  %lld events identical in both runs\n", n);
    /* 20/s over the span, Monday 08:00 (factor 1.0) */
    assert_true(n > (small ? 15 * 60 * 20 : 3600 * 20) * 9 / 10);

    /* another seed, another stream */
    cJSON_Delete(get_page(a->port, "/transactions/events?since=0&limit=100", &ra));
    cJSON_Delete(get_page(c->port, "/transactions/events?since=0&limit=100", &rc));
    na = split_events(ra.body, ra.len, sa, 100);
    nc = split_events(rc.body, rc.len, sc, 100);
    assert_int_equal(na, 100);
    assert_int_equal(nc, 100);
    for (size_t i = 0; i < 100; i++)
        same += span_eq(sa[i], sc[i]) ? 1 : 0;
    assert_int_equal(same, 0);
    resp_free(&ra);
    resp_free(&rc);

    assert_int_equal(proc_stop(a, NULL), 0);
    assert_int_equal(proc_stop(b, NULL), 0);
    assert_int_equal(proc_stop(c, NULL), 0);
    finish(a);
    finish(b);
    finish(c);
}

/* ------------------------------------------------------------------ */
/* POST /transactions                                                   */

static bool uuid_v4(const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!strchr(hex, s[i]) || s[i] == '\0') {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Posts body; expects 201 and returns the parsed event (raw in r). */
static cJSON *post_txn(int port, const char *body, struct resp *r)
{
    cJSON *e;

    assert_int_equal(http_req(port, "POST", "/transactions", body, json_ct, r), 0);
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

    assert_string_equal(jstr(e, "origin"), "api");
    assert_true(uuid_v4(jstr(e, "transaction_id")));
    assert_non_null(jstr(e, "timestamp"));
    assert_int_equal(strlen(jstr(e, "timestamp")), 24);
    assert_true(strcmp(jstr(e, "timestamp"), after_ts) >= 0);
    assert_true(jnum(e, "sequence") > after_seq);
    assert_string_equal(jstr(e, "customer_id"), cust);
    assert_string_equal(jstr(e, "customer_segment"), "retail");
    assert_string_equal(jstr(e, "currency"), "USD");
    assert_string_equal(jstr(e, "transaction_type"), "purchase");
    assert_non_null(jstr(e, "channel"));
    assert_non_null(jstr(e, "status"));
    assert_true(cJSON_IsObject(loc));
    assert_int_equal(strlen(jstr(loc, "country")), 2);
    assert_true(cJSON_IsNumber(risk) && risk->valuedouble >= 0 && risk->valuedouble <= 1);
    jnum(e, "processing_time_ms");
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
    pg = get_page(port, path, &r);
    assert_int_equal(jnum(pg, "count"), 1);
    assert_int_equal(split_events(r.body, r.len, s, 1), 1);
    if (s[0].n != posted->len || memcmp(s[0].p, posted->body, posted->len) != 0)
        fail_msg("listed %.*s\nposted %s", (int)s[0].n, s[0].p, posted->body);
    cJSON_Delete(pg);
    resp_free(&r);
}

static void test_posted_transaction_is_stored_labelled_and_listed(void **state)
{
    static const char *const args[] = { "--seed", "41", "--backfill", "60s", NULL };
    struct proc *p = &procs[0];
    struct resp r, small_r, big_r;
    cJSON *pg, *e, *small_e, *big_e;
    char cust[16] = "", newest_ts[32], body[160];
    long long head;

    (void)state;
    proc_init(p, "post");
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    assert_true(wait_backfilled(p->port, 30000));

    /* a known retail customer: usual amounts far below $50,000 */
    pg = get_page(p->port, "/transactions/events?limit=1000", &r);
    head = jnum(pg, "next_since");
    snprintf(newest_ts, sizeof(newest_ts), "%s",
             jstr(cJSON_GetArrayItem(events_of(pg), 0), "timestamp"));
    cJSON_ArrayForEach(e, events_of(pg))
    {
        const char *seg = jstr(e, "customer_segment");
        if (seg && strcmp(seg, "retail") == 0 && !cust[0])
            snprintf(cust, sizeof(cust), "%s", jstr(e, "customer_id"));
    }
    cJSON_Delete(pg);
    resp_free(&r);
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
    assert_api_event(big_e, cust, jnum(small_e, "sequence"), jstr(small_e, "timestamp"));
    assert_true(cJSON_GetObjectItemCaseSensitive(big_e, "amount")->valuedouble == 50000.0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(big_e, "is_anomaly")));
    assert_string_equal(jstr(big_e, "anomaly_type"), "suspicious_high_amount");
    assert_string_not_equal(jstr(big_e, "transaction_id"), jstr(small_e, "transaction_id"));

    /* stored as answered */
    assert_listed(p->port, "", jnum(small_e, "sequence"), &small_r);
    assert_listed(p->port, "", jnum(big_e, "sequence"), &big_r);
    assert_listed(p->port, "anomaly_type=suspicious_high_amount&", jnum(big_e, "sequence"),
                  &big_r);
    assert_listed(p->port, "anomalies_only=true&", jnum(big_e, "sequence"), &big_r);
    {
        long st = 0;
        cJSON *m = http_get_json(p->port, "/metrics", &st);
        assert_int_equal(st, 200);
        assert_int_equal(jnum(cJSON_GetObjectItemCaseSensitive(m, "events"), "api"), 2);
        cJSON_Delete(m);
    }

    cJSON_Delete(small_e);
    cJSON_Delete(big_e);
    resp_free(&small_r);
    resp_free(&big_r);
    assert_int_equal(proc_stop(p, NULL), 0);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* Start-up and command line                                            */

static void test_health_answers_within_200ms_of_exec(void **state)
{
    static const char *const args[] = { "--seed", "8", NULL };
    const long limit = test_scale_small() ? 2000 : 200;
    struct proc *p = &procs[0];
    long best = 1000000;

    (void)state;
    /* best of three: the target is the daemon's, not a busy machine's */
    for (int attempt = 0; attempt < 3 && best > limit; attempt++) {
        long t0, took = -1;

        proc_init(p, "startup");
        t0 = now_ms();
        assert_int_equal(proc_start(p, TXN_BIN, args), 0);
        while (now_ms() - t0 < 5000) {
            struct resp r;
            int rc = http_req(p->port, "GET", "/health", NULL, NULL, &r);
            long st = r.status;
            resp_free(&r);
            if (rc == 0 && st == 200) {
                took = now_ms() - t0;
                break;
            }
            sleep_ms(1);
        }
        printf("  attempt %d: /health 200 after %ld ms\n", attempt + 1, took);
        assert_true(took >= 0);
        if (took < best)
            best = took;
        assert_int_equal(proc_stop(p, NULL), 0);
        finish(p);
    }
    if (best > limit)
        fail_msg("/health first answered %ld ms after exec; want <= %ld", best, limit);
}

/* /health is built from memory and answers from the start; it must not
 * call a daemon "ok" before its generator has said what it is doing. */
static void test_health_says_backfilling_from_the_first_answer(void **state)
{
    static const char *const args[] = { "--seed", "9", "--backfill", "30d", NULL };
    static const char paused_cfg[] = "{\"generation_settings\":{\"paused\":true}}";
    static const char *const live[] = { "--seed", "9", NULL };
    struct proc *p = &procs[0], *q = &procs[1];

    (void)state;
    proc_init(p, "early");
    assert_int_equal(proc_start(p, TXN_BIN, args), 0);
    for (int i = 0; i < 3; i++) {
        cJSON *h = http_get_json(p->port, "/health", NULL);
        const char *st = jstr(h, "status");
        if (!st || strcmp(st, "backfilling") != 0)
            fail_msg("answer %d during a 30-day backfill: status \"%s\" (head %lld)", i + 1,
                     st ? st : "?", jnum(h, "head_sequence"));
        cJSON_Delete(h);
    }
    assert_int_equal(proc_stop(p, NULL), 0);
    finish(p);

    proc_init(q, "early-paused");
    proc_write_config(q, paused_cfg);
    assert_int_equal(proc_start(q, TXN_BIN, live), 0);
    for (int i = 0; i < 3; i++) {
        cJSON *h = http_get_json(q->port, "/health", NULL);
        const char *st = jstr(h, "status");
        if (!st || strcmp(st, "paused") != 0)
            fail_msg("answer %d with paused: true: status \"%s\"", i + 1, st ? st : "?");
        cJSON_Delete(h);
    }
    assert_int_equal(proc_stop(q, NULL), 0);
    finish(q);
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
    int rc = proc_run(TXN_BIN, args, out, sizeof(out));

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
    struct proc *p = &procs[0];
    char out[8192];

    (void)state;
    proc_init(p, "cli");
    {
        const char *const a[] = { "--config", SHIPPED_CONFIG, "--check-config", NULL };
        assert_int_equal(proc_run(TXN_BIN, a, out, sizeof(out)), 0);
    }

    /* a broken file: refused by --check-config and by a real start,
     * which creates nothing */
    proc_write_config(p, "{\"generation_settings\":{\"events_per_second\":100,"
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
            { "{\"anomaly_settings\":{\"transaction_service\":{\"suspicious_transaction_rate\":2,"
              "\"suspicious_high_amount_rate\":1}}}",
              "suspicious_transaction_rate" },
            { "{\"generation_settings\":{\"events_per_second\":\"fast\"}}", "events_per_second" },
            { "{\"generation_settings\":{\"events_per_second\":0}}", "events_per_second" },
            { "{\"gateway\":{\"poll_interval_ms\":1}}", "poll_interval_ms" },
            { "{\"anomaly_settings\":", "JSON" },
        };
        const char *const a[] = { "--config", p->config, "--check-config", NULL };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            proc_write_config(p, bad[i].text);
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
        assert_int_equal(proc_run(TXN_BIN, a, out, sizeof(out)), 0);
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
            if (!strstr(out, flags[i]))
                fail_msg("--help does not mention %s:\n%s", flags[i], out);
        for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++)
            if (!strstr(out, envs[i]))
                fail_msg("--help does not mention %s:\n%s", envs[i], out);
    }
    {
        const char *const a[] = { "--version", NULL };
        assert_int_equal(proc_run(TXN_BIN, a, out, sizeof(out)), 0);
        assert_non_null(strstr(out, BM_VERSION));
        assert_non_null(strstr(out, "transaction-service"));
    }
    finish(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, procs_setup, procs_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_posted_config_survives_restart_until_reset_config),
        T(test_config_numbers_print_without_exponent),
        T(test_anomaly_fraction_within_four_sigma_of_rate),
        T(test_anomaly_fraction_holds_at_rate_one_half),
        T(test_anomaly_types_follow_equal_weights),
        T(test_event_lists_follow_the_cursor_rules),
        T(test_kill9_during_backfill_keeps_database_and_stream_intact),
        T(test_same_seed_and_start_replay_byte_identical_events),
        T(test_posted_transaction_is_stored_labelled_and_listed),
        T(test_health_answers_within_200ms_of_exec),
        T(test_health_says_backfilling_from_the_first_answer),
        T(test_command_line_exit_codes_help_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
