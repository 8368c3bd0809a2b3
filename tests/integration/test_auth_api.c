/* test_auth_api.c - auth-service end to end: the real binary on a free
 * loopback port with a temporary database. The ground truth of a
 * backfilled stream is checked against the data alone (SPEC §5): impossible
 * travel, brute force and stuffing shapes, normal traffic that shows none
 * of them, the labelled fraction and the type weights; the failed-attempts
 * view against the event list; POST /auth labelling and bad input; replay
 * from a seed; kill -9 and restart. */
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

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"
#include "timefmt.h"

#define BIN  "auth-service"
#define PAGE 1000
#define DEG  0.017453292519943295
#define AUTH_USERS_MAX 64 /* usernames of one stuffing list, at most */

/* Stops p, which must exit 0, and removes it. */
static void finish(struct proc *p)
{
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int64_t jms(const cJSON *o, const char *k)
{
    int64_t ms = 0;
    const char *s = h_jstr(o, k);

    if (!s || timefmt_parse_iso(s, &ms) != BM_OK)
        fail_msg("\"%s\" is not a timestamp", k);
    return ms;
}

static cJSON *post_json(int port, const char *path, const char *body, long want)
{
    struct resp r;
    cJSON *j;

    assert_int_equal(h_http_req(port, "POST", path, body, h_json_ct, &r), 0);
    if (r.status != want)
        fail_msg("POST %s %s: %ld %s", path, body, r.status, r.body);
    j = cJSON_ParseWithLength(r.body, r.len);
    assert_non_null(j);
    h_resp_free(&r);
    return j;
}

static void pause_generation(int port)
{
    cJSON_Delete(post_json(port, "/config", "{\"paused\":true}", 200));
    assert_true(h_wait_health_status(port, "paused", 5000));
}

/* Every event with sequence in (since, upto], oldest first, as one array. */
static cJSON *all_events(int port, long long since, long long upto)
{
    cJSON *all = cJSON_CreateArray();

    while (since < upto) {
        char path[128];
        cJSON *pg, *ev;
        int n;

        snprintf(path, sizeof(path), "/auth/events?since=%lld&limit=%d", since, PAGE);
        pg = h_get_json(port, path);
        ev = cJSON_DetachItemFromObjectCaseSensitive(pg, "events");
        n = cJSON_GetArraySize(ev);
        assert_true(n > 0);
        for (cJSON *e = ev->child, *next; e && since < upto; e = next) {
            long long seq = h_jnum(e, "sequence");

            next = e->next;
            if (seq != since + 1)
                fail_msg("sequence %lld after %lld: not dense", seq, since);
            since = seq;
            if (seq <= upto)
                cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(ev, e));
        }
        cJSON_Delete(ev);
        cJSON_Delete(pg);
    }
    return all;
}

/* An independent great-circle distance (not the service's). */
static double km_between(double lat1, double lon1, double lat2, double lon2)
{
    double a = pow(sin((lat2 - lat1) * DEG / 2), 2) +
               cos(lat1 * DEG) * cos(lat2 * DEG) * pow(sin((lon2 - lon1) * DEG / 2), 2);

    return 2 * 6371.0088 * asin(sqrt(a < 1 ? a : 1));
}

static bool impossible(double km, int64_t dt_ms)
{
    return km >= 500.0 && (dt_ms <= 0 || km / ((double)dt_ms / 3600000.0) > 1000.0);
}

/* ------------------------------------------------------------------ */
/* Event shape                                                          */

/* Every SPEC §5 field, present and typed. */
static void assert_auth_shape(const cJSON *e)
{
    const cJSON *loc = jget(e, "location"), *dev = jget(e, "device");
    const char *result = h_jstr(e, "result"), *cust = h_jstr(e, "customer_id");
    double risk;

    assert_true(h_jstr(e, "event_id") && strlen(h_jstr(e, "event_id")) == 36);
    assert_true(h_jstr(e, "timestamp") && strlen(h_jstr(e, "timestamp")) == 24);
    jms(e, "timestamp");
    assert_true(cJSON_IsNumber(jget(e, "sequence")));
    assert_true(h_is_str_or_null(e, "customer_id"));
    if (cust)
        assert_true(strlen(cust) == 11 && strncmp(cust, "CUST_", 5) == 0);
    assert_true(h_jstr(e, "username") != NULL);
    assert_true(result && (!strcmp(result, "success") || !strcmp(result, "failure")));
    assert_true(h_is_str_or_null(e, "failure_reason"));
    assert_int_equal(strcmp(result, "failure") == 0, h_jstr(e, "failure_reason") != NULL);
    assert_true(h_jstr(e, "auth_method") != NULL);
    assert_true(h_jstr(e, "ip_address") != NULL);
    assert_true(cJSON_IsObject(loc));
    assert_true(h_is_str_or_null(loc, "country") && h_is_str_or_null(loc, "city"));
    if (h_jstr(loc, "country"))
        assert_int_equal(strlen(h_jstr(loc, "country")), 2);
    assert_true(h_is_num_or_null(loc, "latitude") && h_is_num_or_null(loc, "longitude"));
    assert_true(cJSON_IsObject(dev));
    assert_true(h_is_str_or_null(dev, "fingerprint") && h_is_str_or_null(dev, "type") &&
                h_is_str_or_null(dev, "os"));
    risk = h_jdbl(e, "risk_score");
    assert_true(risk >= 0 && risk <= 1);
    assert_true(cJSON_IsBool(jget(e, "is_anomaly")));
    assert_true(h_is_str_or_null(e, "anomaly_type") && h_is_str_or_null(e, "incident_id"));
    assert_int_equal(cJSON_IsTrue(jget(e, "is_anomaly")), h_jstr(e, "anomaly_type") != NULL);
    assert_true(h_jstr(e, "origin") != NULL);
}

static void test_events_appear_within_seconds_with_every_field_typed(void **state)
{
    static const char *const args[] = { "--seed", "42", NULL };
    struct proc *p = &h_procs[0];
    cJSON *j, *events, *e;

    (void)state;
    h_proc_init(p, "authshape");
    assert_int_equal(h_proc_start(p, BIN, args), 0);
    j = h_wait_first_events(p->port, "/auth/events");
    events = h_events_of(j);
    assert_true(cJSON_GetArraySize(events) > 0);
    cJSON_ArrayForEach(e, events)
    {
        const cJSON *loc = jget(e, "location"), *dev = jget(e, "device");

        assert_auth_shape(e);
        /* generated logins always have a place and a device */
        assert_true(cJSON_IsNumber(jget(loc, "latitude")) && h_jstr(loc, "city"));
        assert_true(h_jstr(dev, "fingerprint") && h_jstr(dev, "type") && h_jstr(dev, "os"));
        assert_string_equal(h_jstr(e, "origin"), "generated");
    }
    assert_true(cJSON_IsNumber(jget(j, "count")) && cJSON_IsNumber(jget(j, "next_since")) &&
                cJSON_IsNumber(jget(j, "oldest_sequence")));
    cJSON_Delete(j);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* Ground truth                                                         */

/* username -> previous non-anomalous login */
#define MAP_SIZE 65536u
struct base {
    char name[72];
    int64_t ts;
    double lat, lon;
};

struct failure {
    const char *user, *ip;
    int64_t ts;
};

struct step {
    const char *id, *user, *ip;
    int type; /* 0 brute force, 1 stuffing */
    long long seq;
    int64_t ts;
    bool failure;
};

struct truth {
    struct base *map;
    struct failure *fails;
    size_t nfails;
    struct step *steps;
    size_t nsteps;
    long long n, anomalies, by_type[3];
    int64_t first_ms, last_ms;
};

static const char *const type_names[3] = { "brute_force", "credential_stuffing",
                                           "unusual_location" };

static int type_index(const char *t)
{
    for (int i = 0; t && i < 3; i++)
        if (strcmp(t, type_names[i]) == 0)
            return i;
    if (t)
        fail_msg("unknown anomaly_type %s", t);
    return -1;
}

static struct base *slot_of(struct truth *t, const char *name)
{
    uint64_t h = 1469598103934665603ull;

    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    for (uint32_t i = (uint32_t)(h % MAP_SIZE);; i = (i + 1) % MAP_SIZE) {
        struct base *b = &t->map[i];

        if (!b->name[0] || strcmp(b->name, name) == 0) {
            if (!b->name[0])
                snprintf(b->name, sizeof(b->name), "%s", name);
            return b;
        }
    }
}

/* One event, in sequence order. */
static void observe(struct truth *t, const cJSON *e, size_t cap)
{
    const cJSON *loc = jget(e, "location");
    const char *user = h_jstr(e, "username"), *ip = h_jstr(e, "ip_address");
    int type = type_index(h_jstr(e, "anomaly_type"));
    int64_t ms = jms(e, "timestamp");
    bool failure = strcmp(h_jstr(e, "result"), "failure") == 0;
    double lat = h_jdbl(loc, "latitude"), lon = h_jdbl(loc, "longitude");
    struct base *b = slot_of(t, user);

    if (t->n == 0)
        t->first_ms = ms;
    t->last_ms = ms;
    t->n++;
    if (type == 2) { /* unusual_location: from the previous normal login */
        if (b->ts == 0)
            fail_msg("unusual_location of %s without a previous login", user);
        if (!impossible(km_between(b->lat, b->lon, lat, lon), ms - b->ts))
            fail_msg("unusual_location of %s: %.0f km in %lld ms", user,
                     km_between(b->lat, b->lon, lat, lon), (long long)(ms - b->ts));
    } else if (type < 0) {
        if (b->ts && impossible(km_between(b->lat, b->lon, lat, lon), ms - b->ts))
            fail_msg("normal login of %s: %.0f km in %lld ms", user,
                     km_between(b->lat, b->lon, lat, lon), (long long)(ms - b->ts));
        b->ts = ms;
        b->lat = lat;
        b->lon = lon;
        if (failure) {
            assert_true(t->nfails < cap);
            t->fails[t->nfails++] = (struct failure){ user, ip, ms };
        }
    }
    if (type >= 0) {
        t->anomalies++;
        t->by_type[type]++;
    }
    if (type == 0 || type == 1) {
        assert_true(t->nsteps < cap);
        t->steps[t->nsteps++] = (struct step){ h_jstr(e, "incident_id"), user, ip, type,
                                               h_jnum(e, "sequence"), ms, failure };
        assert_non_null(t->steps[t->nsteps - 1].id);
    } else {
        assert_true(cJSON_IsNull(jget(e, "incident_id")));
    }
}

static int cmp_failure(const void *a, const void *b)
{
    const struct failure *x = a, *y = b;
    int c = strcmp(x->user, y->user);

    if (!c)
        c = strcmp(x->ip, y->ip);
    return c ? c : (x->ts > y->ts) - (x->ts < y->ts);
}

static int cmp_step(const void *a, const void *b)
{
    const struct step *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Normal traffic never shows ten failures of one username from one
 * address within five minutes. */
static void check_normal_failures(struct truth *t)
{
    qsort(t->fails, t->nfails, sizeof(*t->fails), cmp_failure);
    for (size_t i = 9; i < t->nfails; i++) {
        const struct failure *a = &t->fails[i - 9], *b = &t->fails[i];

        if (!strcmp(a->user, b->user) && !strcmp(a->ip, b->ip) && b->ts - a->ts <= 300000)
            fail_msg("normal traffic: ten failures of %s from %s in 5 minutes", b->user, b->ip);
    }
}

static void check_brute_force(const struct step *v, size_t n)
{
    size_t fails = 0;

    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i].user, v[0].user);
        assert_string_equal(v[i].ip, v[0].ip);
        fails += v[i].failure;
    }
    /* >= 10 failures for one username from one address within 5 minutes */
    for (size_t i = 0; i + 9 < n; i++) {
        size_t k = 0, j = i;

        if (!v[i].failure)
            continue;
        for (; j < n && v[j].ts - v[i].ts <= 300000; j++)
            k += v[j].failure;
        if (k >= 10)
            return;
    }
    fail_msg("brute force %s: %zu events, %zu failures, none ten within 5 minutes", v[0].id, n,
             fails);
}

static void check_stuffing(const struct step *v, size_t n)
{
    const char *names[64];
    size_t ok = 0, distinct = 1;

    assert_true(n >= 20 && n <= 64);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(v[i].ip, v[0].ip);
        names[i] = v[i].user;
        ok += !v[i].failure;
    }
    if ((double)ok / (double)n >= 0.05)
        fail_msg("stuffing %s: %zu successes in %zu", v[0].id, ok, n);
    qsort(names, n, sizeof(names[0]), h_cmp_str);
    for (size_t i = 1; i < n; i++)
        distinct += strcmp(names[i - 1], names[i]) != 0;
    assert_int_equal(distinct, n);
}

/* Incidents that may still have been under way at the end (brute force
 * lasts up to 4 minutes, a stuffing list up to 5) are left out. */
static void check_incidents(struct truth *t, int *brute, int *stuffing)
{
    size_t i = 0;

    *brute = *stuffing = 0;
    qsort(t->steps, t->nsteps, sizeof(*t->steps), cmp_step);
    while (i < t->nsteps) {
        size_t j = i;

        while (j < t->nsteps && !strcmp(t->steps[j].id, t->steps[i].id)) {
            assert_int_equal(t->steps[j].type, t->steps[i].type);
            j++;
        }
        if (t->steps[i].ts < t->last_ms - 6 * 60 * 1000) {
            if (t->steps[i].type == 0) {
                check_brute_force(&t->steps[i], j - i);
                ++*brute;
            } else {
                check_stuffing(&t->steps[i], j - i);
                ++*stuffing;
            }
        }
        i = j;
    }
}

static struct truth *truth_of(const cJSON *events)
{
    size_t n = (size_t)cJSON_GetArraySize(events);
    struct truth *t = calloc(1, sizeof(*t));
    const cJSON *e;

    assert_non_null(t);
    t->map = calloc(MAP_SIZE, sizeof(*t->map));
    t->fails = calloc(n + 1, sizeof(*t->fails));
    t->steps = calloc(n + 1, sizeof(*t->steps));
    assert_true(t->map && t->fails && t->steps);
    cJSON_ArrayForEach(e, events) observe(t, e, n + 1);
    return t;
}

static void truth_free(struct truth *t)
{
    free(t->map);
    free(t->fails);
    free(t->steps);
    free(t);
}

/* The failed-attempts view against the event list: the failures with
 * from < ts <= to, grouped by username and by address. */
struct group {
    const char *key;
    long long n;
};

static int cmp_group(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static long long count_of(struct group *g, size_t n, const char *key)
{
    struct group k = { key, 0 }, *hit = bsearch(&k, g, n, sizeof(*g), cmp_group);

    return hit ? hit->n : 0;
}

/* Sorted (key, count) groups of the failures' user (by_ip false) or ip. */
static size_t groups_of(const cJSON *events, int64_t from, int64_t to, bool by_ip,
                        struct group *g, long long *total)
{
    const char **keys = calloc((size_t)cJSON_GetArraySize(events) + 1, sizeof(*keys));
    size_t nk = 0, ng = 0;
    const cJSON *e;

    assert_non_null(keys);
    cJSON_ArrayForEach(e, events)
    {
        int64_t ms = jms(e, "timestamp");

        if (ms > from && ms <= to && !strcmp(h_jstr(e, "result"), "failure"))
            keys[nk++] = h_jstr(e, by_ip ? "ip_address" : "username");
    }
    qsort(keys, nk, sizeof(*keys), h_cmp_str);
    for (size_t i = 0; i < nk; i++) {
        if (ng == 0 || strcmp(g[ng - 1].key, keys[i]) != 0)
            g[ng++] = (struct group){ keys[i], 0 };
        g[ng - 1].n++;
    }
    *total = (long long)nk;
    free(keys);
    return ng;
}

static void check_failed_attempts(int port, const cJSON *events, int window_s)
{
    size_t cap = (size_t)cJSON_GetArraySize(events) + 1;
    struct group *gu = calloc(cap, sizeof(*gu)), *gi = calloc(cap, sizeof(*gi));
    char path[96];
    cJSON *fa;
    const cJSON *row;
    long long total = 0, total_ip = 0, max_user = 0;
    int64_t from, to;
    size_t nu, ni;

    assert_true(gu && gi);
    snprintf(path, sizeof(path), "/security/failed-attempts?window=%d&limit=1000", window_s);
    fa = h_get_json(port, path);
    from = jms(fa, "from");
    to = jms(fa, "to");
    assert_int_equal(to - from, (int64_t)window_s * 1000);
    assert_int_equal(h_jnum(fa, "window_s"), window_s);
    nu = groups_of(events, from, to, false, gu, &total);
    ni = groups_of(events, from, to, true, gi, &total_ip);
    for (size_t i = 0; i < nu; i++)
        max_user = gu[i].n > max_user ? gu[i].n : max_user;
    print_message("failed attempts in %d s: %lld by %zu users from %zu addresses\n", window_s,
                  total, nu, ni);
    assert_true(total > 0);
    assert_int_equal(h_jnum(fa, "total_failures"), total);
    assert_int_equal(h_jnum(fa, "distinct_usernames"), (long long)nu);
    assert_int_equal(h_jnum(fa, "distinct_ips"), (long long)ni);
    assert_int_equal(cJSON_GetArraySize(jget(fa, "by_username")), nu < 1000 ? nu : 1000);
    cJSON_ArrayForEach(row, jget(fa, "by_username"))
        assert_int_equal(h_jnum(row, "failures"),
                         count_of(gu, nu, h_jstr(row, "username")));
    cJSON_ArrayForEach(row, jget(fa, "by_ip"))
        assert_int_equal(h_jnum(row, "failures"),
                         count_of(gi, ni, h_jstr(row, "ip_address")));
    /* most first */
    assert_int_equal(h_jnum(cJSON_GetArrayItem(jget(fa, "by_username"), 0), "failures"),
                     max_user);
    cJSON_Delete(fa);
    free(gu);
    free(gi);
}

/* 100,000 backfilled events (20,000 small) from a weekday noon: the
 * labelled fraction within four sigma, every label what the data says,
 * and the failed-attempts view what the events say. */
static void test_backfill_ground_truth_follows_from_the_data(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"auth_service\":{\"anomaly_rate\":0.03}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = h_test_scale_small();
    const char *const args[] = { "--seed", "11", "--start-time", "2026-01-05T12:00:00Z",
                                 "--backfill", small ? "480s" : "1050s", NULL };
    const int64_t end_ms = 1767614400000LL + (small ? 480 : 1050) * 1000LL;
    struct proc *p = &h_procs[0];
    cJSON *all, *gen;
    struct truth *t;
    long long head, n = 0, anomalies = 0;
    double frac, tol;
    int brute, stuffing;

    (void)state;
    h_proc_start_backfilled(p, "authtruth", BIN, cfg, args, small ? 240000 : 90000);
    pause_generation(p->port); /* the view's window stays put */
    head = h_health_head(p->port);
    all = all_events(p->port, 0, head);
    check_failed_attempts(p->port, all, 300);
    check_failed_attempts(p->port, all, 1);
    /* the backfill alone for the fraction */
    gen = cJSON_CreateArray();
    for (cJSON *e = all->child, *next; e; e = next) {
        next = e->next;
        if (jms(e, "timestamp") >= end_ms)
            continue;
        n++;
        anomalies += cJSON_IsTrue(jget(e, "is_anomaly"));
        assert_string_equal(h_jstr(e, "origin"), "generated");
        cJSON_AddItemToArray(gen, cJSON_DetachItemViaPointer(all, e));
    }
    cJSON_Delete(all);
    frac = (double)anomalies / (double)n;
    tol = 4.0 * sqrt(0.03 * 0.97 / (double)n);
    print_message("%lld events, %lld anomalous (%.5f)\n", n, anomalies, frac);
    assert_true(n >= (small ? 20000 : 100000));
    if (fabs(frac - 0.03) > tol)
        fail_msg("anomaly fraction %.5f over %lld events is outside 0.03 +- %.5f", frac, n, tol);
    t = truth_of(gen);
    check_normal_failures(t);
    check_incidents(t, &brute, &stuffing);
    print_message("by type %lld/%lld/%lld; incidents checked: %d brute force, %d stuffing\n",
                  t->by_type[0], t->by_type[1], t->by_type[2], brute, stuffing);
    assert_true(brute >= (small ? 3 : 20) && stuffing >= (small ? 2 : 10));
    assert_true(t->by_type[2] >= (small ? 50 : 300));
    truth_free(t);
    cJSON_Delete(gen);
    finish(p);
}

/* Rates 0.075, 0 and unset of 0.1: a type at 0 never appears, the one
 * without a rate gets what is left (0.025). */
static void test_anomaly_types_follow_their_rates(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"auth_service\":{\"anomaly_rate\":0.1,"
        "\"brute_force_rate\":0.075,\"credential_stuffing_rate\":0}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = h_test_scale_small();
    const char *const args[] = { "--seed", "12", "--start-time", "2026-01-06T10:00:00Z",
                                 "--backfill", small ? "150s" : "400s", NULL };
    struct proc *p = &h_procs[0];
    long long head, count[3] = { 0 }, anomalies = 0;
    cJSON *all, *e;

    (void)state;
    h_proc_start_backfilled(p, "authweights", BIN, cfg, args, small ? 240000 : 90000);
    pause_generation(p->port);
    head = h_health_head(p->port);
    all = all_events(p->port, 0, head);
    cJSON_ArrayForEach(e, all)
    {
        int ty = type_index(h_jstr(e, "anomaly_type"));

        if (ty >= 0) {
            count[ty]++;
            anomalies++;
        }
    }
    print_message("%lld anomalies: %lld brute force, %lld stuffing, %lld unusual location\n",
                  anomalies, count[0], count[1], count[2]);
    assert_true(anomalies > (small ? 1000 : 4000));
    assert_int_equal(count[1], 0);
    assert_true(fabs((double)count[0] / (double)anomalies - 0.75) < 0.05);
    assert_true(fabs((double)count[2] / (double)anomalies - 0.25) < 0.05);
    /* and the rates are runtime settings, the unset one shown as in effect */
    {
        cJSON *c = h_get_json(p->port, "/config");

        assert_true(h_jdbl(c, "brute_force_rate") == 0.075 &&
                    h_jdbl(c, "credential_stuffing_rate") == 0);
        assert_true(fabs(h_jdbl(c, "unusual_location_rate") - 0.025) < 1e-9);
        cJSON_Delete(c);
    }
    cJSON_Delete(all);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* Every complete incident meets its rule                              */

/* Checks every closed incident of the incidents table in the database of
 * a stopped daemon against its rule (SPEC §5): all its events are there,
 * brute force is >= 10 failures of one username from one address within
 * five minutes, stuffing is many usernames (each once) from one address
 * with under 5 % successes. Returns how many were checked. */
static int check_db_incidents(const char *path, int *n_brute, int *n_stuff)
{
    sqlite3 *db = h_db_open_checked(path);
    sqlite3_stmt *inc, *ev;
    int checked = 0;

    *n_brute = *n_stuff = 0;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT incident_id, anomaly_type, event_count,"
                                        " first_seq FROM incidents WHERE NOT open AND"
                                        " anomaly_type IN ('brute_force',"
                                        " 'credential_stuffing')", /* the multi-event ones */
                                        -1, &inc, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT ev.body, ev.ts FROM incident_events ie"
                                        " JOIN events ev USING(seq) WHERE ie.incident_id = ?1"
                                        " ORDER BY ev.seq",
                                        -1, &ev, NULL),
                     SQLITE_OK);
    while (sqlite3_step(inc) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(inc, 0);
        const char *type = (const char *)sqlite3_column_text(inc, 1);
        bool brute = strcmp(type, "brute_force") == 0;
        int count = sqlite3_column_int(inc, 2), n = 0, fails = 0, ok = 0;
        char user[128] = "", ip[64] = "";
        long long first_ts = 0, last_ts = 0;
        char *users[AUTH_USERS_MAX];

        sqlite3_bind_text(ev, 1, id, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(ev) == SQLITE_ROW) {
            cJSON *e = cJSON_Parse((const char *)sqlite3_column_text(ev, 0));
            const char *u = h_jstr(e, "username"), *a = h_jstr(e, "ip_address");

            assert_non_null(u);
            assert_non_null(a);
            assert_string_equal(h_jstr(e, "incident_id"), id);
            assert_string_equal(h_jstr(e, "anomaly_type"), type);
            if (n == 0) {
                snprintf(user, sizeof user, "%s", u);
                snprintf(ip, sizeof ip, "%s", a);
                first_ts = sqlite3_column_int64(ev, 1);
            }
            last_ts = sqlite3_column_int64(ev, 1);
            if (strcmp(a, ip) != 0)
                fail_msg("%s %s: addresses %s and %s", type, id, ip, a);
            if (brute && strcmp(u, user) != 0)
                fail_msg("brute force %s: usernames %s and %s", id, user, u);
            if (!brute && n < AUTH_USERS_MAX)
                users[n] = strdup(u);
            fails += strcmp(h_jstr(e, "result"), "failure") == 0;
            ok += strcmp(h_jstr(e, "result"), "success") == 0;
            n++;
            cJSON_Delete(e);
        }
        sqlite3_reset(ev);
        if (n != count)
            fail_msg("%s %s (from sequence %lld): %d of its %d events kept", type, id,
                     (long long)sqlite3_column_int64(inc, 3), n, count);
        if (brute) {
            if (fails < 10 || last_ts - first_ts > 5 * 60 * 1000)
                fail_msg("brute force %s: %d failures in %lld ms", id, fails,
                         last_ts - first_ts);
            ++*n_brute;
        } else {
            assert_true(n >= 20 && n <= AUTH_USERS_MAX);
            assert_true((double)ok / n < 0.05);
            qsort(users, (size_t)n, sizeof users[0], h_cmp_str);
            for (int i = 0; i < n; i++) {
                if (i > 0 && strcmp(users[i - 1], users[i]) == 0)
                    fail_msg("stuffing %s tries %s twice", id, users[i]);
            }
            for (int i = 0; i < n; i++)
                free(users[i]);
            ++*n_stuff;
        }
        checked++;
    }
    sqlite3_finalize(inc);
    sqlite3_finalize(ev);
    h_db_close(db);
    return checked;
}

/* Whole and within their rules whatever the load: retention pruning all
 * along (retention 1000), 5,000 events/s at anomaly_rate 0.5 (the
 * incident table full), several seeds, and kill -9 amid a backfill. */
static void test_every_complete_incident_meets_its_rule(void **state)
{
    static const struct {
        const char *seed, *eps, *rate, *backfill;
        bool kill9;
    } runs[] = {
        { "11", "150", "0.02", "900s", false },
        { "31", "5000", "0.5", "20s", false },
        { "32", "1000", "0.2", "120s", true },
    };
    const bool small = h_test_scale_small();
    struct proc *p = &h_procs[0];

    (void)state;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        const char *const args[] = { "--seed", runs[i].seed, "--start-time",
                                     "2026-01-06T10:00:00Z", "--backfill", runs[i].backfill,
                                     NULL };
        char cfg[512];
        int brute, stuff, n;

        snprintf(cfg, sizeof cfg,
                 "{\"anomaly_settings\":{\"auth_service\":{\"anomaly_rate\":%s}},"
                 "\"generation_settings\":{\"events_per_second\":%s,\"retention_events\":%d}}",
                 runs[i].rate, runs[i].eps, 5000);
        h_proc_init(p, "authinc");
        h_proc_write_config(p, cfg);
        assert_int_equal(h_proc_start(p, BIN, args), 0);
        if (runs[i].kill9) {
            assert_true(h_wait_head(p->port, 30000, 60000));
            h_proc_kill9(p);
            assert_int_equal(h_proc_restart(p, BIN, args), 0);
        }
        assert_true(h_wait_backfilled(p->port, small ? 240000 : 120000));
        assert_int_equal(h_proc_stop(p, NULL), 0);
        n = check_db_incidents(p->db, &brute, &stuff);
        print_message("seed %s, %s events/s, rate %s: %d complete incidents (%d brute force, "
                      "%d stuffing) meet their rules\n",
                      runs[i].seed, runs[i].eps, runs[i].rate, n, brute, stuff);
        assert_true(brute > 0 && stuff > 0);
        h_proc_finish(p);
    }
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */

/* The events of one page as raw bytes, one per line of out. */
static void page_bytes(int port, long long since, char **out, size_t *len)
{
    char path[128];
    struct resp r;

    snprintf(path, sizeof(path), "/auth/events?since=%lld&limit=%d", since, PAGE);
    assert_int_equal(h_http_req(port, "GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    /* next_since and oldest_sequence may differ with what each daemon has
     * written live since: compare the events array only */
    {
        char *end = strstr(r.body, "],\"count\":");

        assert_non_null(end);
        *len = (size_t)(end - r.body);
    }
    *out = r.body;
}

static void test_same_seed_and_start_replay_byte_identical_events(void **state)
{
    const char *const a_args[] = { "--seed", "99", "--start-time", "2026-01-07T09:00:00Z",
                                   "--backfill", "60s", NULL };
    const char *const c_args[] = { "--seed", "98", "--start-time", "2026-01-07T09:00:00Z",
                                   "--backfill", "60s", NULL };
    struct proc *a = &h_procs[0], *b = &h_procs[1];
    long long compared = 0;

    (void)state;
    h_proc_init(a, "authreplay1");
    h_proc_init(b, "authreplay2");
    assert_int_equal(h_proc_start(a, BIN, a_args), 0);
    assert_int_equal(h_proc_start(b, BIN, a_args), 0);
    assert_true(h_wait_backfilled(a->port, 60000));
    assert_true(h_wait_backfilled(b->port, 60000));
    pause_generation(a->port);
    pause_generation(b->port);
    for (long long since = 0; since < 5000; since += PAGE) {
        char *x, *y;
        size_t nx, ny;

        page_bytes(a->port, since, &x, &nx);
        page_bytes(b->port, since, &y, &ny);
        if (nx != ny || memcmp(x, y, nx) != 0)
            fail_msg("events after %lld differ between two runs with seed 99", since);
        compared += PAGE;
        free(x);
        free(y);
    }
    finish(b);
    /* another seed, another stream */
    h_proc_start_backfilled(b, "authreplay3", BIN, NULL, c_args, 60000);
    {
        char *x, *y;
        size_t nx, ny;

        page_bytes(a->port, 0, &x, &nx);
        page_bytes(b->port, 0, &y, &ny);
        assert_false(nx == ny && memcmp(x, y, nx) == 0);
        free(x);
        free(y);
    }
    print_message("%lld events identical\n", compared);
    finish(a);
    finish(b);
}

/* ------------------------------------------------------------------ */
/* POST /auth                                                           */

static const char *type_of(const cJSON *e)
{
    const char *t = h_jstr(e, "anomaly_type");
    return t ? t : "";
}

static void check_api_incident(int port, const char *id, const char *type, long long count,
                               long long first_seq);

static void test_posted_logins_are_labelled_by_the_rules_stored_and_listed(void **state)
{
    static const char *const args[] = { "--seed", "41", "--start-time", "2026-01-05T15:00:00Z",
                                        "--backfill", "120s", NULL };
    struct proc *p = &h_procs[0];
    cJSON *pg, *e, *far, *near;
    const cJSON *newest = NULL, *loc;
    char user[80], body[512];
    double lat, lon;
    long long head;

    (void)state;
    h_proc_start_backfilled(p, "authpost", BIN, NULL, args, 60000);
    pause_generation(p->port);
    /* a user who has just logged in, normally */
    pg = h_get_json(p->port, "/auth/events?limit=200");
    cJSON_ArrayForEach(e, jget(pg, "events")) if (!newest && !cJSON_IsTrue(jget(e, "is_anomaly")))
        newest = e;
    assert_non_null(newest);
    snprintf(user, sizeof(user), "%s", h_jstr(newest, "username"));
    loc = jget(newest, "location");
    lat = h_jdbl(loc, "latitude");
    lon = h_jdbl(loc, "longitude");
    /* from the far side of the world seconds later: unusual_location */
    snprintf(body, sizeof(body),
             "{\"username\":\"%s\",\"result\":\"success\",\"ip_address\":\"203.0.113.9\","
             "\"location\":{\"country\":\"AU\",\"city\":\"Perth\",\"latitude\":%.4f,"
             "\"longitude\":%.4f}}",
             user, -lat, lon > 0 ? lon - 180 : lon + 180);
    far = post_json(p->port, "/auth", body, 201);
    assert_string_equal(type_of(far), "unusual_location");
    assert_true(cJSON_IsTrue(jget(far, "is_anomaly")));
    assert_string_equal(h_jstr(far, "origin"), "api");
    assert_string_equal(h_jstr(far, "customer_id"), h_jstr(newest, "customer_id"));
    assert_auth_shape(far);
    /* an incident of one event, named by the event's own id */
    check_api_incident(p->port, h_jstr(far, "event_id"), "unusual_location", 1,
                       h_jnum(far, "sequence"));
    /* back home: the attack moved no baseline, so this is ordinary */
    snprintf(body, sizeof(body),
             "{\"username\":\"%s\",\"result\":\"success\",\"ip_address\":\"198.51.100.7\","
             "\"location\":{\"country\":\"US\",\"latitude\":%.4f,\"longitude\":%.4f},"
             "\"device\":{\"fingerprint\":\"abc123\",\"type\":\"mobile\",\"os\":\"iOS 17\"}}",
             user, lat + 0.05, lon);
    near = post_json(p->port, "/auth", body, 201);
    assert_string_equal(type_of(near), "");
    assert_true(h_jdbl(near, "sequence") == h_jdbl(far, "sequence") + 1);
    /* ten failures from one address in five minutes: the tenth is a
     * brute force */
    for (int i = 1; i <= 10; i++) {
        cJSON *f;

        snprintf(body, sizeof(body),
                 "{\"username\":\"%s\",\"result\":\"failure\",\"ip_address\":\"192.0.2.55\","
                 "\"failure_reason\":\"invalid_password\",\"location\":{\"country\":\"US\","
                 "\"latitude\":%.4f,\"longitude\":%.4f}}",
                 user, lat, lon);
        f = post_json(p->port, "/auth", body, 201);
        assert_string_equal(type_of(f), i < 10 ? "" : "brute_force");
        cJSON_Delete(f);
    }
    /* stored, listed, counted (the list, not /health: that is published
     * every 100 ms) */
    {
        cJSON *top = h_get_json(p->port, "/auth/events?limit=1");

        head = h_jnum(top, "next_since");
        cJSON_Delete(top);
    }
    assert_true(head == h_jnum(far, "sequence") + 11);
    {
        char path[96];
        cJSON *ap;

        snprintf(path, sizeof(path), "/auth/events?since=%lld", h_jnum(far, "sequence") - 1);
        ap = h_get_json(p->port, path);
        assert_int_equal(cJSON_GetArraySize(jget(ap, "events")), 12);
        cJSON_ArrayForEach(e, jget(ap, "events")) assert_string_equal(h_jstr(e, "origin"), "api");
        assert_string_equal(h_jstr(cJSON_GetArrayItem(jget(ap, "events"), 0), "event_id"),
                            h_jstr(far, "event_id"));
        cJSON_Delete(ap);
        h_sleep_ms(300); /* /health's simulated now is published every 100 ms */
        ap = h_get_json(p->port, "/security/failed-attempts?window=60");
        cJSON_ArrayForEach(e, jget(ap, "by_ip")) if (!strcmp(h_jstr(e, "ip_address"), "192.0.2.55"))
            assert_int_equal(h_jnum(e, "failures"), 10);
        cJSON_Delete(ap);
    }
    /* unknown users are stored too, without a customer */
    e = post_json(p->port, "/auth",
                  "{\"username\":\"someone@else.example\",\"result\":\"failure\","
                  "\"ip_address\":\"192.0.2.1\"}",
                  201);
    assert_true(cJSON_IsNull(jget(e, "customer_id")));
    assert_string_equal(h_jstr(e, "failure_reason"), "unknown_user");
    assert_true(cJSON_IsNull(jget(jget(e, "location"), "latitude")));
    cJSON_Delete(e);
    cJSON_Delete(far);
    cJSON_Delete(near);
    cJSON_Delete(pg);
    finish(p);
}


/* One failed (or successful) login from ip; the answer. */
static cJSON *post_login(int port, const char *user, const char *ip, bool failure)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"result\":\"%s\",\"ip_address\":\"%s\"}",
             user, failure ? "failure" : "success", ip);
    return post_json(port, "/auth", body, 201);
}

/* The incident of a posted anomaly: origin api, the events expected. */
static void check_api_incident(int port, const char *id, const char *type, long long count,
                               long long first_seq)
{
    char path[96];
    cJSON *inc;

    snprintf(path, sizeof(path), "/incidents/%s", id);
    inc = h_get_json(port, path);
    assert_string_equal(h_jstr(inc, "type"), type);
    assert_string_equal(h_jstr(inc, "origin"), "api");
    assert_int_equal(h_jnum(inc, "event_count"), count);
    assert_int_equal(h_jnum(inc, "first_sequence"), first_seq);
    assert_int_equal(cJSON_GetArraySize(jget(inc, "events")), count);
    cJSON_Delete(inc);
}

/* Posts n logins and checks each label: "" (normal) before the
 * (first_hit)th, type from it on, all of those under one incident id,
 * returned in id. */
static void post_run(int port, const char *type, int n, int first_hit, const char *prefix,
                     const char *ip, char *id, long long *first_seq)
{
    id[0] = '\0';
    for (int i = 1; i <= n; i++) {
        char user[64];
        cJSON *e;

        /* one username (prefix ends in '!') or a numbered list */
        if (prefix[strlen(prefix) - 1] == '!')
            snprintf(user, sizeof(user), "%.*s", (int)strlen(prefix) - 1, prefix);
        else
            snprintf(user, sizeof(user), "%s%02d", prefix, i);
        e = post_login(port, user, ip, true);
        if (i < first_hit) {
            assert_string_equal(type_of(e), "");
            assert_true(cJSON_IsNull(jget(e, "incident_id")));
        } else {
            assert_string_equal(type_of(e), type);
            assert_non_null(h_jstr(e, "incident_id"));
            if (i == first_hit) {
                snprintf(id, 40, "%s", h_jstr(e, "incident_id"));
                *first_seq = h_jnum(e, "sequence");
            }
            assert_string_equal(h_jstr(e, "incident_id"), id);
        }
        cJSON_Delete(e);
    }
}

/* brute_force and credential_stuffing through the API, each against its
 * rule (a posted event is judged with every stored one): the event that
 * completes the pattern and every later one in the window carry the type
 * and one incident id (origin api); those before it stay normal, and so
 * does a run one short of the rule. */
static void test_posted_attacks_make_api_incidents_by_the_rules(void **state)
{
    static const char *const args[] = { "--seed", "43", "--start-time", "2026-01-05T15:00:00Z",
                                        "--backfill", "60s", NULL };
    struct proc *p = &h_procs[0];
    char id[40], id2[40];
    long long first = 0, first2 = 0;
    cJSON *e;

    (void)state;
    h_proc_start_backfilled(p, "authrules", BIN, NULL, args, 60000);
    pause_generation(p->port);
    /* brute force: nine failures of one username from one address are
     * not one (a near miss), the tenth is; the eleventh and twelfth join
     * it */
    post_run(p->port, "brute_force", 9, 99, "guessed.user!", "192.0.2.60", id, &first);
    e = post_login(p->port, "guessed.user", "192.0.2.61", true); /* another address */
    assert_string_equal(type_of(e), "");
    cJSON_Delete(e);
    e = post_login(p->port, "guessed.user", "192.0.2.60", false); /* the owner gets in */
    assert_string_equal(type_of(e), "");
    cJSON_Delete(e);
    post_run(p->port, "brute_force", 3, 1, "guessed.user!", "192.0.2.60", id, &first);
    check_api_incident(p->port, id, "brute_force", 3, first);
    /* credential stuffing: 19 usernames failing from one address are a
     * near miss; from another, the 20th is one and the 21st joins it */
    post_run(p->port, "credential_stuffing", 19, 99, "list.a", "198.51.100.20", id, &first);
    post_run(p->port, "credential_stuffing", 21, 20, "list.b", "198.51.100.21", id, &first);
    check_api_incident(p->port, id, "credential_stuffing", 2, first);
    /* a success in the list keeps it one while under 5 % (1 in 21)... */
    post_run(p->port, "credential_stuffing", 19, 99, "list.c", "198.51.100.22", id2, &first2);
    e = post_login(p->port, "list.c19", "198.51.100.22", false);
    assert_string_equal(type_of(e), "");
    cJSON_Delete(e);
    e = post_login(p->port, "list.c20", "198.51.100.22", true);
    assert_string_equal(type_of(e), "credential_stuffing");
    cJSON_Delete(e);
    /* ... and an address where many get in is no stuffing: 2 successes
     * in 22 logins (9 %) */
    e = post_login(p->port, "office.1", "198.51.100.23", false);
    cJSON_Delete(e);
    e = post_login(p->port, "office.2", "198.51.100.23", false);
    cJSON_Delete(e);
    post_run(p->port, "credential_stuffing", 20, 99, "office.f", "198.51.100.23", id2,
             &first2);
    /* listed with the generated ones */
    {
        cJSON *pg = h_get_json(p->port, "/incidents?limit=1000");
        const cJSON *it;
        int api = 0;

        cJSON_ArrayForEach(it, jget(pg, "incidents")) api += strcmp(h_jstr(it, "origin"), "api") == 0;
        assert_int_equal(api, 3); /* brute_force, two stuffing runs */
        cJSON_Delete(pg);
    }
    finish(p);
}

/* ------------------------------------------------------------------ */
/* Bad input                                                            */

struct row {
    const char *what;
    const char *method;
    const char *path;
    const char *const *hdrs;
    const char *body;
    long status;
    const char *code;
    const char *field;
};

static const char *const ct_text[] = { "Content-Type: text/plain", NULL };
static char body_over_cap[64 * 1024 + 2];

#define AUTH(what, body, code, field) { what, "POST", "/auth", h_json_ct, body, 422, code, field }
#define OKB "\"username\":\"jsmith\",\"result\":\"success\",\"ip_address\":\"1.2.3.4\""

static const struct row rows[] = {
    { "not JSON", "POST", "/auth", h_json_ct, "{\"username\":", 400, "invalid_json", NULL },
    { "empty body", "POST", "/auth", h_json_ct, "", 400, "invalid_json", NULL },
    { "text body", "POST", "/auth", ct_text, "{" OKB "}", 415, "unsupported_media_type", NULL },
    { "body over 64 KiB", "POST", "/auth", h_json_ct, body_over_cap, 413, "payload_too_large",
      NULL },
    { "query on POST", "POST", "/auth?x=1", h_json_ct, "{" OKB "}", 400, "invalid_parameter", "x" },
    AUTH("array", "[]", "invalid_type", NULL),
    AUTH("no username", "{\"result\":\"success\",\"ip_address\":\"1.2.3.4\"}", "invalid_value",
         "username"),
    AUTH("no result", "{\"username\":\"a\",\"ip_address\":\"1.2.3.4\"}", "invalid_value",
         "result"),
    AUTH("no address", "{\"username\":\"a\",\"result\":\"failure\"}", "invalid_value",
         "ip_address"),
    AUTH("bad result", "{\"username\":\"a\",\"result\":\"maybe\",\"ip_address\":\"1.2.3.4\"}",
         "invalid_value", "result"),
    AUTH("bad address", "{\"username\":\"a\",\"result\":\"success\",\"ip_address\":\"1.2.3\"}",
         "invalid_value", "ip_address"),
    AUTH("username with a space",
         "{\"username\":\"a b\",\"result\":\"success\",\"ip_address\":\"1.2.3.4\"}",
         "invalid_value", "username"),
    AUTH("username a number", "{\"username\":1,\"result\":\"success\",\"ip_address\":\"1.2.3.4\"}",
         "invalid_type", "username"),
    AUTH("reason on a success", "{" OKB ",\"failure_reason\":\"invalid_password\"}",
         "invalid_value", "failure_reason"),
    AUTH("unknown method", "{" OKB ",\"auth_method\":\"carrier_pigeon\"}", "invalid_value",
         "auth_method"),
    AUTH("latitude 91",
         "{" OKB ",\"location\":{\"country\":\"US\",\"latitude\":91,\"longitude\":0}}",
         "invalid_value", "location.latitude"),
    AUTH("country lower case",
         "{" OKB ",\"location\":{\"country\":\"us\",\"latitude\":1,\"longitude\":0}}",
         "invalid_value", "location.country"),
    AUTH("no longitude", "{" OKB ",\"location\":{\"country\":\"US\",\"latitude\":1}}",
         "invalid_value", "location.longitude"),
    AUTH("device type", "{" OKB ",\"device\":{\"type\":\"toaster\"}}", "invalid_value",
         "device.type"),
    AUTH("device member", "{" OKB ",\"device\":{\"colour\":\"red\"}}", "unknown_field",
         "device.colour"),
    AUTH("ground truth is_anomaly", "{" OKB ",\"is_anomaly\":true}", "read_only_field",
         "is_anomaly"),
    AUTH("ground truth anomaly_type", "{" OKB ",\"anomaly_type\":\"brute_force\"}",
         "read_only_field", "anomaly_type"),
    AUTH("ground truth incident_id", "{" OKB ",\"incident_id\":\"x\"}", "read_only_field",
         "incident_id"),
    AUTH("server field sequence", "{" OKB ",\"sequence\":5}", "read_only_field", "sequence"),
    AUTH("server field risk_score", "{" OKB ",\"risk_score\":0.9}", "read_only_field",
         "risk_score"),
    AUTH("unknown field", "{" OKB ",\"password\":\"hunter2\"}", "unknown_field", "password"),
    { "window 0", "GET", "/security/failed-attempts?window=0", NULL, NULL, 400,
      "invalid_parameter", "window" },
    { "window over a day", "GET", "/security/failed-attempts?window=86401", NULL, NULL, 400,
      "invalid_parameter", "window" },
    { "window not a number", "GET", "/security/failed-attempts?window=5m", NULL, NULL, 400,
      "invalid_parameter", "window" },
    { "window fraction", "GET", "/security/failed-attempts?window=1.5", NULL, NULL, 400,
      "invalid_parameter", "window" },
    { "window negative", "GET", "/security/failed-attempts?window=-300", NULL, NULL, 400,
      "invalid_parameter", "window" },
    { "limit 0", "GET", "/security/failed-attempts?limit=0", NULL, NULL, 400,
      "invalid_parameter", "limit" },
    { "unknown parameter", "GET", "/security/failed-attempts?user=x", NULL, NULL, 400,
      "invalid_parameter", "user" },
    { "another service's anomaly type", "GET", "/auth/events?anomaly_type=fraud_pattern", NULL,
      NULL, 400, "invalid_parameter", "anomaly_type" },
    { "limit 1001", "GET", "/auth/events?limit=1001", NULL, NULL, 400, "invalid_parameter",
      "limit" },
    { "PUT /auth", "PUT", "/auth", h_json_ct, "{}", 405, "method_not_allowed", NULL },
    { "POST the view", "POST", "/security/failed-attempts", h_json_ct, "{}", 405,
      "method_not_allowed", NULL },
    { "no such path", "GET", "/auth/nothing", NULL, NULL, 404, "not_found", NULL },
    { "config: not an auth key", "POST", "/config", h_json_ct, "{\"fraud_pattern_rate\":1}", 422,
      "unknown_field", "fraud_pattern_rate" },
    { "config: failed_login_rate 0.6", "POST", "/config", h_json_ct,
      "{\"failed_login_rate\":0.6}", 422, "invalid_value", "failed_login_rate" },
};

static void test_bad_input_gets_the_documented_error_and_changes_nothing(void **state)
{
    static const char cfg[] = "{\"generation_settings\":{\"paused\":true}}";
    static const char *const args[] = { "--seed", "5", NULL };
    struct proc *p = &h_procs[0];
    long long head;
    cJSON *c0, *c1;

    (void)state;
    memset(body_over_cap, ' ', sizeof(body_over_cap) - 1);
    body_over_cap[0] = '{';
    body_over_cap[sizeof(body_over_cap) - 2] = '}';
    h_proc_init(p, "authbad");
    h_proc_write_config(p, cfg);
    assert_int_equal(h_proc_start(p, BIN, args), 0);
    head = h_health_head(p->port);
    c0 = h_get_json(p->port, "/config");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *w = &rows[i];
        struct resp r;
        cJSON *j, *err;

        assert_int_equal(h_http_req(p->port, w->method, w->path, w->body, w->hdrs, &r), 0);
        if (r.status != w->status)
            fail_msg("%s: status %ld, want %ld: %s", w->what, r.status, w->status, r.body);
        j = cJSON_ParseWithLength(r.body, r.len);
        err = (cJSON *)jget(j, "error");
        if (!err || strcmp(h_jstr(err, "code"), w->code) != 0)
            fail_msg("%s: %s, want code %s", w->what, r.body, w->code);
        if (w->field && (!h_jstr(err, "field") || strcmp(h_jstr(err, "field"), w->field) != 0))
            fail_msg("%s: %s, want field %s", w->what, r.body, w->field);
        if (w->status == 405)
            assert_true(strstr(r.allow, strcmp(w->path, "/auth") ? "GET" : "POST") != NULL);
        assert_true(r.request_id[0] != '\0');
        cJSON_Delete(j);
        h_resp_free(&r);
    }
    /* nothing stored, nothing changed */
    assert_int_equal(h_health_head(p->port), head);
    c1 = h_get_json(p->port, "/config");
    assert_true(cJSON_Compare(c0, c1, 1));
    cJSON_Delete(c0);
    cJSON_Delete(c1);
    finish(p);
}

/* ------------------------------------------------------------------ */
/* Crash and restart                                                    */

/* The killed daemon's database: sound, dense, and the service's tables
 * saying what the events say. */
static void check_db_sound(const char *path, long long *max_seq)
{
    sqlite3 *db = h_db_open_checked(path);
    long long fails, fail_rows, chunks;

    *max_seq = h_db_dense_max(db);
    fails = h_db_int(db, "SELECT sum(instr(body, '\"result\":\"failure\"') > 0) FROM events");
    fail_rows = h_db_int(db, "SELECT count(*) FROM auth_failures");
    chunks = h_db_int(db, "SELECT count(*) FROM auth_baselines");
    h_db_close(db);
    assert_int_equal(fail_rows, fails);           /* one row per failed login */
    assert_int_equal(chunks, (*max_seq + 1) / 256); /* every complete chunk */
}

static void test_kill9_during_backfill_keeps_database_and_stream_intact(void **state)
{
    const bool small = h_test_scale_small();
    static const char cfg[] = "{\"generation_settings\":{\"retention_events\":100000000}}";
    static const char *const args[] = { "--seed", "31", "--start-time", "2025-06-02T08:00:00Z",
                                        "--backfill", "30d", NULL };
    const long long before = small ? 3000 : 20000, after = 3000;
    struct proc *p = &h_procs[0], *q = &h_procs[1];
    long long max_seq, h1;
    char *old, *now;
    size_t nold, nnow;

    (void)state;
    h_proc_init(p, "authkill9");
    h_proc_write_config(p, cfg);
    assert_int_equal(h_proc_start(p, BIN, args), 0);
    assert_true(h_wait_head(p->port, before, 60000));
    page_bytes(p->port, before - PAGE, &old, &nold); /* what a client saw */
    h_proc_kill9(p);
    check_db_sound(p->db, &max_seq);
    assert_true(max_seq >= before);

    assert_int_equal(h_proc_restart(p, BIN, args), 0);
    page_bytes(p->port, before - PAGE, &now, &nnow);
    assert_true(nold == nnow && memcmp(old, now, nold) == 0);
    free(old);
    free(now);
    h1 = h_health_head(p->port);
    assert_true(h1 >= max_seq);
    assert_true(h_wait_head(p->port, max_seq + after + PAGE, 60000));

    /* the same stream as an uninterrupted run, across the crash */
    h_proc_init(q, "authkill9ref");
    h_proc_write_config(q, cfg);
    assert_int_equal(h_proc_start(q, BIN, args), 0);
    assert_true(h_wait_head(q->port, max_seq + after + PAGE, 60000));
    for (long long since = max_seq - PAGE; since < max_seq + after; since += PAGE) {
        page_bytes(p->port, since, &old, &nold);
        page_bytes(q->port, since, &now, &nnow);
        if (nold != nnow || memcmp(old, now, nold) != 0)
            fail_msg("events after %lld differ from an uninterrupted run (killed at %lld)",
                     since, max_seq);
        free(old);
        free(now);
    }
    print_message("killed at %lld; restarted at %lld and went on\n", max_seq, h1);
    finish(q);
    finish(p);
}

static void test_sigterm_during_backfill_exits_zero_within_two_seconds(void **state)
{
    static const char *const args[] = { "--seed", "7", "--backfill", "30d", NULL };
    struct proc *p = &h_procs[0];
    long ms = 0;

    (void)state;
    h_proc_init(p, "authterm");
    assert_int_equal(h_proc_start(p, BIN, args), 0);
    assert_true(h_wait_health_status(p->port, "backfilling", 5000));
    assert_int_equal(h_proc_stop(p, &ms), 0);
    assert_true(ms < 2000);
    h_proc_finish(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, h_procs_setup, h_procs_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_events_appear_within_seconds_with_every_field_typed),
        T(test_backfill_ground_truth_follows_from_the_data),
        T(test_anomaly_types_follow_their_rates),
        T(test_every_complete_incident_meets_its_rule),
        T(test_same_seed_and_start_replay_byte_identical_events),
        T(test_posted_logins_are_labelled_by_the_rules_stored_and_listed),
        T(test_posted_attacks_make_api_incidents_by_the_rules),
        T(test_bad_input_gets_the_documented_error_and_changes_nothing),
        T(test_kill9_during_backfill_keeps_database_and_stream_intact),
        T(test_sigterm_during_backfill_exits_zero_within_two_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
