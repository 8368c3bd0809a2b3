/* test_monitoring_lifecycle.c - monitoring-service over its life, through
 * its HTTP API: the anomaly fraction over 100,000 samples and labels that
 * agree with the data, per-type weights, replay from a seed, and kill -9
 * (SPEC §3, §5, §6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
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

#define MON_BIN "monitoring-service"
#define PAGE 1000
#define N_TYPES 6
#define N_SERVICES_MAX 16

static const char *const type_names[N_TYPES] = {
    "high_cpu", "high_memory", "high_disk", "cascade_failure", "performance_degradation",
    "network_timeout",
};
static const char *const util_metric_of[3] = { "cpu_utilization", "memory_utilization",
                                               "disk_utilization" };

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* What a client reads: the stream as records, incidents by id          */

struct rec {
    long long seq;
    long long ts_ms; /* from the start of the month */
    double value;
    int host, service, metric, type, inc;
};

struct incident {
    char id[40];
    int type, n, series, first_rec;
    long long t_first;
    unsigned services;              /* bit per service */
    unsigned both[N_SERVICES_MAX];  /* bit 0 latency seen, bit 1 errors seen */
    long long onset_max;            /* latest first sample of a service's metric */
    long long onset_seen[N_SERVICES_MAX][2];
    double last;
    bool rising, one_series;
};

/* Names seen, numbered in order of appearance. */
struct names {
    char v[64][48];
    int n;
};

static int name_id(struct names *ns, const char *s)
{
    assert_non_null(s);
    for (int i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], s) == 0)
            return i;
    assert_true(ns->n < 64);
    snprintf(ns->v[ns->n], sizeof ns->v[0], "%s", s);
    return ns->n++;
}

struct stream {
    struct rec *r;
    long n, cap;
    long analysed; /* records before the end of the analysed window */
    struct incident *inc;
    int n_inc, cap_inc;
    struct names hosts, services, metrics;
    char **ids; /* sorted incident ids, for lookup */
};

static int metric_id(struct stream *s, const char *name)
{
    return name_id(&s->metrics, name);
}

static int find_incident(struct stream *s, const char *id)
{
    for (int i = s->n_inc - 1; i >= 0 && i >= s->n_inc - 4096; i--)
        if (strcmp(s->inc[i].id, id) == 0)
            return i;
    return -1;
}

static void add_event(struct stream *s, const cJSON *e)
{
    const char *type = h_jstr(e, "anomaly_type"), *inc = h_jstr(e, "incident_id");
    struct rec *r;
    int sv;

    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 65536;
        s->r = realloc(s->r, (size_t)s->cap * sizeof *s->r);
        assert_non_null(s->r);
    }
    r = &s->r[s->n++];
    r->seq = h_jnum(e, "sequence");
    r->value = h_jdbl(e, "metric_value");
    r->host = name_id(&s->hosts, h_jstr(e, "host"));
    r->service = sv = name_id(&s->services, h_jstr(e, "service"));
    assert_true(sv < N_SERVICES_MAX);
    r->metric = metric_id(s, h_jstr(e, "metric_name"));
    r->type = index_of(type_names, N_TYPES, type);
    r->inc = -1;
    {
        struct tm tm;
        int ms = 0;
        const char *ts = h_jstr(e, "timestamp");

        memset(&tm, 0, sizeof tm);
        assert_int_equal(sscanf(ts, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon,
                                &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                         7);
        /* the streams here stay within a month: day, time suffice */
        r->ts_ms = ((((long long)tm.tm_mday * 24 + tm.tm_hour) * 60 + tm.tm_min) * 60 +
                    tm.tm_sec) * 1000 + ms;
    }
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "is_anomaly")),
                     type != NULL);
    assert_int_equal(inc != NULL, type != NULL); /* every monitoring anomaly is an incident */
    if (type)
        assert_true(r->type >= 0);
    if (!inc)
        return;
    r->inc = find_incident(s, inc);
    if (r->inc < 0) {
        struct incident *in;

        if (s->n_inc == s->cap_inc) {
            s->cap_inc = s->cap_inc ? 2 * s->cap_inc : 4096;
            s->inc = realloc(s->inc, (size_t)s->cap_inc * sizeof *s->inc);
            assert_non_null(s->inc);
        }
        in = &s->inc[s->n_inc];
        memset(in, 0, sizeof *in);
        snprintf(in->id, sizeof in->id, "%s", inc);
        in->type = r->type;
        in->series = r->host * 16 + r->metric;
        in->first_rec = (int)(s->n - 1);
        in->t_first = in->onset_max = r->ts_ms;
        in->rising = in->one_series = true;
        for (int k = 0; k < N_SERVICES_MAX; k++)
            in->onset_seen[k][0] = in->onset_seen[k][1] = -1;
        r->inc = s->n_inc++;
    } else {
        struct incident *in = &s->inc[r->inc];

        if (r->value <= in->last)
            in->rising = false;
        if (r->host * 16 + r->metric != in->series)
            in->one_series = false;
    }
    {
        struct incident *in = &s->inc[r->inc];
        int k = strcmp(s->metrics.v[r->metric], "response_time_ms") == 0 ? 0
                : strcmp(s->metrics.v[r->metric], "error_rate") == 0    ? 1
                                                                         : -1;

        assert_int_equal(in->type, r->type);
        in->n++;
        in->last = r->value;
        in->services |= 1u << sv;
        if (k >= 0) {
            in->both[sv] |= 1u << k;
            if (in->onset_seen[sv][k] < 0) {
                in->onset_seen[sv][k] = r->ts_ms;
                if (r->ts_ms > in->onset_max)
                    in->onset_max = r->ts_ms;
            }
        }
    }
}

/* Pages through the whole stream up to last_ts (exclusive) and records
 * it; events before end_ts count as analysed. */
static void read_stream(int port, struct stream *s, const char *end_ts, const char *last_ts)
{
    long long since = 0;
    bool done = false;

    memset(s, 0, sizeof *s);
    while (!done) {
        char path[128];
        struct resp r;
        cJSON *pg, *e;

        snprintf(path, sizeof(path), "/metrics/events?since=%lld&limit=%d", since, PAGE);
        pg = h_get_page(port, path, &r);
        cJSON_ArrayForEach(e, h_events_of(pg))
        {
            long long seq = h_jnum(e, "sequence");
            const char *ts = h_jstr(e, "timestamp");

            if (seq != since + 1)
                fail_msg("sequence %lld after %lld: not dense", seq, since);
            since = seq;
            if (strcmp(ts, last_ts) >= 0) {
                done = true;
                break;
            }
            assert_string_equal(h_jstr(e, "origin"), "generated");
            add_event(s, e);
            if (strcmp(ts, end_ts) < 0)
                s->analysed = s->n;
        }
        if (cJSON_GetArraySize(h_events_of(pg)) < PAGE && !done)
            fail_msg("the stream ended at %lld before %s", since, last_ts);
        cJSON_Delete(pg);
        h_resp_free(&r);
    }
}

static void stream_free(struct stream *s)
{
    free(s->r);
    free(s->inc);
}

/* Every SPEC §5 shape, from the data alone; with all_types, every type
 * must turn up. */
static void check_labels(struct stream *s, bool all_types)
{
    double last_normal_err[64];
    int prev_inc[64 * 16];
    int rt = metric_id(s, "response_time_ms"), err = metric_id(s, "error_rate");
    int by_type[N_TYPES] = { 0 };

    for (int i = 0; i < 64; i++)
        last_normal_err[i] = -1;
    for (int i = 0; i < 64 * 16; i++)
        prev_inc[i] = -1;
    for (long i = 0; i < s->n; i++) {
        const struct rec *r = &s->r[i];
        const char *m = s->metrics.v[r->metric];
        bool util = strstr(m, "_utilization") != NULL;
        int series = r->host * 16 + r->metric;

        if (r->type < 0) {
            if (util && r->value > 90.0)
                fail_msg("normal %s of %.2f on %s (sequence %lld)", m, r->value,
                         s->hosts.v[r->host], r->seq);
            if (r->metric == err)
                last_normal_err[r->host] = r->value;
            prev_inc[series] = -1;
            continue;
        }
        /* two incidents never touch on one series */
        if (prev_inc[series] >= 0 && prev_inc[series] != r->inc)
            fail_msg("incidents %s and %s back to back on %s %s", s->inc[prev_inc[series]].id,
                     s->inc[r->inc].id, s->hosts.v[r->host], m);
        prev_inc[series] = r->inc;
        by_type[r->type]++;
        if (r->type <= 2) { /* high_cpu, high_memory, high_disk */
            assert_string_equal(m, util_metric_of[r->type]);
            if (!(r->value > 90.0))
                fail_msg("%s event at %.2f (sequence %lld)", type_names[r->type], r->value,
                         r->seq);
        } else if (r->type == 4) { /* performance_degradation */
            assert_int_equal(r->metric, rt);
        } else if (r->type == 5 && r->metric == rt) { /* network_timeout latency */
            if (!(r->value > 5000.0))
                fail_msg("network_timeout latency %.2f ms (sequence %lld)", r->value, r->seq);
        } else { /* error samples of timeouts and cascades, cascade latency */
            assert_true(r->metric == rt || r->metric == err);
            if (r->metric == err && !(r->value > 2.0 * last_normal_err[r->host] &&
                                      r->value >= 5.0))
                fail_msg("%s error_rate %.2f after a normal %.2f is no jump (sequence %lld)",
                         type_names[r->type], r->value, last_normal_err[r->host], r->seq);
        }
    }
    for (int k = 0; k < N_TYPES && all_types; k++)
        if (by_type[k] == 0)
            fail_msg("no %s events at all", type_names[k]);
    for (int k = 0; k < s->n_inc; k++) {
        const struct incident *in = &s->inc[k];
        int both = 0;

        if (in->first_rec >= s->analysed)
            continue; /* begun after the window: may be cut short */
        if (in->n > 64)
            fail_msg("incident %s has %d events", in->id, in->n);
        switch (in->type) {
        case 0:
        case 1:
        case 2:
            if (!in->one_series || in->n < 2)
                fail_msg("%s %s: %d samples, one series %d", type_names[in->type], in->id,
                         in->n, in->one_series);
            break;
        case 4:
            if (!in->one_series || !in->rising || in->n < 5)
                fail_msg("performance_degradation %s: %d samples, rising %d, one series %d",
                         in->id, in->n, in->rising, in->one_series);
            break;
        case 5:
            if (__builtin_popcount(in->services) != 1 ||
                in->both[__builtin_ctz(in->services)] != 3)
                fail_msg("network_timeout %s: not latency and errors of one service", in->id);
            break;
        default:
            for (int sv = 0; sv < N_SERVICES_MAX; sv++)
                both += in->both[sv] == 3;
            if (both < 3)
                fail_msg("cascade_failure %s: errors and latency of %d services", in->id, both);
            if (in->onset_max - in->t_first > 60000)
                fail_msg("cascade_failure %s: onsets span %lld ms", in->id,
                         in->onset_max - in->t_first);
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Fraction and labels                                                  */

/* 100 samples a second, anomaly_rate 0.03, all types equal; the window
 * analysed is the first 1,000 s (100,000 samples; 200 s at small scale)
 * and the backfill runs 100 s longer so its incidents complete. */
static void test_fraction_and_labels_hold_over_100000_samples(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"monitoring_service\":{\"anomaly_rate\":0.03}},"
        "\"generation_settings\":{\"events_per_second\":100}}";
    const bool small = h_test_scale_small();
    const char *const args[] = { "--seed", "5", "--start-time", "2026-01-05T12:00:00Z",
                                 "--backfill", small ? "300s" : "1100s", NULL };
    struct proc *p = &h_procs[0];
    struct stream s;
    long anomalous = 0, by_type[N_TYPES] = { 0 };
    double frac, tol;

    (void)state;
    h_proc_start_backfilled(p, "monfrac", MON_BIN, cfg, args, small ? 120000 : 60000);
    read_stream(p->port, &s, small ? "2026-01-05T12:03:20.000Z" : "2026-01-05T12:16:40.000Z",
                small ? "2026-01-05T12:05:00.000Z" : "2026-01-05T12:18:20.000Z");
    for (long i = 0; i < s.analysed; i++) {
        if (s.r[i].type >= 0) {
            anomalous++;
            by_type[s.r[i].type]++;
        }
    }
    frac = (double)anomalous / (double)s.analysed;
    tol = 4.0 * sqrt(0.03 * 0.97 / (double)s.analysed);
    printf("  %ld samples, %ld anomalous (%.5f), %d incidents\n", s.analysed, anomalous, frac,
           s.n_inc);
    assert_true(s.analysed >= (small ? 20000 : 100000));
    if (fabs(frac - 0.03) > tol)
        fail_msg("anomaly fraction %.5f outside 0.03 +- %.5f", frac, tol);
    for (int k = 0; k < N_TYPES; k++) /* equal weights: a sixth each */
        if (fabs((double)by_type[k] / (double)anomalous - 1.0 / 6) > 0.05)
            fail_msg("%s: %ld of %ld anomalous samples", type_names[k], by_type[k], anomalous);
    check_labels(&s, true);
    /* the estate: at least six services on named hosts, seven metrics */
    assert_true(s.services.n >= 6);
    assert_true(s.hosts.n >= s.services.n);
    assert_int_equal(s.metrics.n, 7);
    stream_free(&s);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* Only cascades and timeouts, 2:1, through the file; then high_cpu alone
 * through POST /config, which survives a restart. */
static void test_per_type_weights_are_honoured_and_persist(void **state)
{
    static const char cfg[] =
        "{\"anomaly_settings\":{\"monitoring_service\":{\"anomaly_rate\":0.1,"
        "\"high_cpu_rate\":0,\"high_memory_rate\":0,\"high_disk_rate\":0,"
        "\"cascade_failure_rate\":0.0666667,\"performance_degradation_rate\":0,"
        "\"network_timeout_rate\":0.0333333}},\"generation_settings\":{\"events_per_second\":100}}";
    const char *const args[] = { "--seed", "6", "--start-time", "2026-01-05T12:00:00Z",
                                 "--backfill", "330s", NULL };
    struct proc *p = &h_procs[0];
    struct stream s;
    long anomalous = 0, by_type[N_TYPES] = { 0 };
    long long head;
    struct resp r;
    cJSON *j, *e;

    (void)state;
    h_proc_start_backfilled(p, "monweights", MON_BIN, cfg, args, 60000);
    read_stream(p->port, &s, "2026-01-05T12:05:00.000Z", "2026-01-05T12:05:30.000Z");
    for (long i = 0; i < s.analysed; i++) {
        if (s.r[i].type >= 0) {
            anomalous++;
            by_type[s.r[i].type]++;
        }
    }
    printf("  %ld anomalous of %ld: cascade %ld, timeout %ld\n", anomalous, s.analysed,
           by_type[3], by_type[5]);
    assert_int_equal(by_type[0] + by_type[1] + by_type[2] + by_type[4], 0);
    assert_true(fabs((double)by_type[3] / (double)anomalous - 2.0 / 3) < 0.05);
    assert_true(fabs((double)anomalous / (double)s.analysed - 0.1) <
                4.0 * sqrt(0.09 / (double)s.analysed));
    check_labels(&s, false);
    stream_free(&s);

    /* high_cpu alone, faster, from now on; and it is what GET /config says */
    assert_int_equal(h_http_req(p->port, "POST", "/config",
                                "{\"high_cpu_rate\":0.1,\"cascade_failure_rate\":0,"
                                "\"network_timeout_rate\":0,\"events_per_second\":2000}",
                                h_json_ct, &r),
                     0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    head = h_health_head(p->port);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    assert_int_equal(h_proc_restart(p, MON_BIN, args), 0);
    j = h_http_get_json(p->port, "/config", NULL);
    assert_true(h_jdbl(j, "high_cpu_rate") == 0.1);
    assert_true(h_jdbl(j, "cascade_failure_rate") == 0.0);
    assert_true(h_jdbl(j, "network_timeout_rate") == 0.0);
    assert_true(h_jdbl(j, "events_per_second") == 2000.0);
    cJSON_Delete(j);
    /* incidents already under way finish; then only high_cpu */
    assert_true(h_wait_head(p->port, head + 8000, 30000));
    {
        char path[128];

        snprintf(path, sizeof path, "/metrics/events?anomalies_only=true&since=%lld&limit=1000",
                 head + 3000);
        j = h_get_page(p->port, path, &r);
        assert_true(cJSON_GetArraySize(h_events_of(j)) > 0);
        cJSON_ArrayForEach(e, h_events_of(j))
        {
            assert_string_equal(h_jstr(e, "anomaly_type"), "high_cpu");
        }
        cJSON_Delete(j);
        h_resp_free(&r);
    }
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */

static void test_same_seed_and_start_replay_byte_identical_events(void **state)
{
    const char *const args[] = { "--seed", "99", "--start-time", "2026-03-02T08:00:00Z",
                                 "--backfill", "300s", NULL };
    const char *const other[] = { "--seed", "100", "--start-time", "2026-03-02T08:00:00Z",
                                  "--backfill", "300s", NULL };
    struct proc *a = &h_procs[0], *b = &h_procs[1], *c = &h_procs[2];
    long long n;

    (void)state;
    h_proc_init(a, "monreplay-a");
    h_proc_init(b, "monreplay-b");
    h_proc_init(c, "monreplay-c");
    assert_int_equal(h_proc_start(a, MON_BIN, args), 0);
    assert_int_equal(h_proc_start(b, MON_BIN, args), 0);
    assert_int_equal(h_proc_start(c, MON_BIN, other), 0);
    assert_true(h_wait_backfilled(a->port, 60000));
    assert_true(h_wait_backfilled(b->port, 60000));
    assert_true(h_wait_backfilled(c->port, 60000));
    /* up to the end of the backfill: live from there */
    n = h_compare_backfill(a->port, b->port, "/metrics/events", "2026-03-02T08:05:00.000Z");
    printf("  %lld samples identical in both runs\n", n);
    assert_true(n >= 300 * 100 - 1);
    h_assert_first_events_differ(a->port, c->port, "/metrics/events", 100);
    assert_int_equal(h_proc_stop(a, NULL), 0);
    assert_int_equal(h_proc_stop(b, NULL), 0);
    assert_int_equal(h_proc_stop(c, NULL), 0);
    h_proc_finish(a);
    h_proc_finish(b);
    h_proc_finish(c);
}

/* ------------------------------------------------------------------ */
/* kill -9                                                              */

/* Integrity, density, and the service's own tables consistent with the
 * events they describe. */
static void check_db_sound(const char *path, long long *max_seq)
{
#define CURRENT_JOIN " FROM mon_current c LEFT JOIN events e ON e.seq = c.seq"
    sqlite3 *db = h_db_open_checked(path);

    *max_seq = h_db_dense_max(db);
    /* every current value belongs to a stored event, and the newest
     * cycle is all there */
    assert_int_equal(h_db_int(db, "SELECT count(*)" CURRENT_JOIN), 98);
    assert_int_equal(h_db_int(db, "SELECT min(c.seq)" CURRENT_JOIN), *max_seq - 97);
    assert_int_equal(h_db_int(db, "SELECT sum(e.seq IS NULL)" CURRENT_JOIN), 0);
#undef CURRENT_JOIN
    h_db_close(db);
}

static void test_kill9_during_backfill_keeps_database_and_stream_intact(void **state)
{
    const bool small = h_test_scale_small();
    static const char cfg[] = "{\"generation_settings\":{\"retention_events\":100000000}}";
    static const char *const args[] = { "--seed", "31", "--start-time", "2025-06-02T00:00:00Z",
                                        "--backfill", "30d", NULL };
    static struct span old[PAGE];
    const long long before = small ? 3000 : 20000, after = 2000;
    struct proc *p = &h_procs[0], *q = &h_procs[1];
    struct resp r_old;
    long long head_page, max_seq, h1;

    (void)state;
    h_proc_init(p, "monkill9");
    h_proc_write_config(p, cfg);
    assert_int_equal(h_proc_start(p, MON_BIN, args), 0);
    assert_true(h_wait_head(p->port, before, 60000));
    head_page = h_newest_page(p->port, "/metrics/events", &r_old, old);
    h_proc_kill9(p);

    check_db_sound(p->db, &max_seq);
    assert_true(max_seq >= head_page);

    /* what a client saw is still there, byte for byte */
    assert_int_equal(h_proc_restart(p, MON_BIN, args), 0);
    h_assert_page_kept(p->port, "/metrics/events", head_page, old);
    h_resp_free(&r_old);
    h1 = h_health_head(p->port);
    assert_true(h1 >= max_seq);
    assert_true(h_wait_head(p->port, max_seq + after + 1000, 60000));

    /* the same stream an uninterrupted run writes, no event id twice */
    h_proc_init(q, "monkill9ref");
    h_proc_write_config(q, cfg);
    assert_int_equal(h_proc_start(q, MON_BIN, args), 0);
    assert_true(h_wait_head(q->port, max_seq + after, 60000));
    h_assert_same_stream(p->port, q->port, "/metrics/events", max_seq - PAGE, max_seq + after,
                         "event_id", max_seq);
    assert_int_equal(h_proc_stop(q, NULL), 0);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(q);
    h_proc_finish(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, h_procs_setup, h_procs_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fraction_and_labels_hold_over_100000_samples),
        T(test_per_type_weights_are_honoured_and_persist),
        T(test_same_seed_and_start_replay_byte_identical_events),
        T(test_kill9_during_backfill_keeps_database_and_stream_intact),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
