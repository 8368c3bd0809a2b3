/* test_monitoring_api.c - monitoring-service end to end: every endpoint's
 * fields and types, the reports agreeing with the newest events, bad input
 * answered as documented, and the command line (SPEC §2, §4, §5, §6). */
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

#include "harness.h"

#define MON_BIN "monitoring-service"
#define N_METRICS 7

static const char *const metric_names[N_METRICS] = {
    "cpu_utilization", "memory_utilization", "disk_utilization", "network_in_mbps",
    "network_out_mbps", "response_time_ms", "error_rate",
};
static const char *const type_names[] = {
    "high_cpu", "high_memory", "high_disk", "cascade_failure", "performance_degradation",
    "network_timeout",
};
static const char *const severities[] = { "info", "warning", "critical" };
static const char *const statuses[] = { "healthy", "degraded", "down" };

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* Strict getters: the member must be there (and be a string). */
static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        fail_msg("no \"%s\" member", k);
    return v;
}

static const char *need_str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    if (!cJSON_IsString(v))
        fail_msg("\"%s\" is not a string", k);
    return v->valuestring;
}

static bool one_of(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}
#define ONE_OF(s, arr) one_of((s), (arr), sizeof(arr) / sizeof((arr)[0]))

/* Pauses generation and waits until the head stands still. */
static long long pause_and_settle(int port)
{
    struct resp r;
    long long a, b;

    assert_int_equal(h_http_req(port, "POST", "/config", "{\"paused\":true}", h_json_ct, &r), 0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    b = h_health_head(port);
    do {
        a = b;
        h_sleep_ms(250);
        b = h_health_head(port);
    } while (a != b);
    return b;
}

static void start_backfilled(struct proc *p, const char *tag, const char *seed,
                             const char *backfill)
{
    const char *const args[] = { "--seed", seed, "--start-time", "2026-01-05T09:00:00Z",
                                 "--backfill", backfill, NULL };

    h_proc_start_backfilled(p, tag, MON_BIN, NULL, args, 60000);
}

/* ------------------------------------------------------------------ */
/* Shapes                                                               */

/* Every SPEC §5 monitoring field, present and typed. */
static void assert_event_shape(const cJSON *e)
{
    const char *metric = need_str(e, "metric_name"), *unit = need_str(e, "unit");
    const cJSON *anom = get(e, "is_anomaly"), *type = get(e, "anomaly_type");
    const cJSON *inc = get(e, "incident_id");
    double v = h_jdbl(e, "metric_value");

    assert_true(h_is_uuid_v4(need_str(e, "event_id")));
    assert_int_equal(strlen(need_str(e, "timestamp")), 24);
    assert_true(h_jnum(e, "sequence") > 0);
    assert_true(strlen(need_str(e, "service")) > 0);
    assert_true(strlen(need_str(e, "host")) > 0);
    assert_true(ONE_OF(metric, metric_names));
    if (strstr(metric, "_utilization") || strcmp(metric, "error_rate") == 0) {
        assert_string_equal(unit, "percent");
        assert_true(v >= 0 && v <= 100);
    } else {
        assert_string_equal(unit, strstr(metric, "mbps") ? "mbps" : "ms");
        assert_true(v >= 0);
    }
    assert_true(ONE_OF(need_str(e, "severity"), severities));
    assert_true(cJSON_IsBool(anom));
    if (cJSON_IsTrue(anom)) {
        assert_true(cJSON_IsString(type) && ONE_OF(type->valuestring, type_names));
        assert_true(cJSON_IsString(inc) && h_is_uuid_v4(inc->valuestring));
    } else {
        assert_true(cJSON_IsNull(type));
        assert_true(cJSON_IsNull(inc));
    }
    assert_string_equal(need_str(e, "origin"), "generated");
}


static bool is_utilisation_type(const char *t)
{
    return t && (strcmp(t, "high_cpu") == 0 || strcmp(t, "high_memory") == 0 ||
                 strcmp(t, "high_disk") == 0);
}

/* anomaly_type=resource_exhaustion (the seed's name) lists the high_cpu,
 * high_memory and high_disk events: those of anomalies_only, no others,
 * oldest first from since and newest first without. */
static void check_resource_exhaustion(int port)
{
    cJSON *all = h_get_json(port, "/metrics/events?anomalies_only=true&since=0&limit=1000");
    cJSON *grp = h_get_json(port, "/metrics/events?anomaly_type=resource_exhaustion&since=0"
                                  "&limit=1000");
    cJSON *e, *g;
    long long upto;
    int matched = 0;

    assert_true(h_jnum(grp, "count") > 0);
    upto = h_jnum(all, "next_since") < h_jnum(grp, "next_since") ? h_jnum(all, "next_since")
                                                                  : h_jnum(grp, "next_since");
    g = get(grp, "events")->child;
    cJSON_ArrayForEach(e, get(all, "events"))
    {
        if (h_jnum(e, "sequence") > upto || !is_utilisation_type(h_jstr(e, "anomaly_type")))
            continue;
        assert_non_null(g);
        assert_int_equal(h_jnum(g, "sequence"), h_jnum(e, "sequence"));
        g = g->next;
        matched++;
    }
    assert_true(matched > 0);
    cJSON_ArrayForEach(e, get(grp, "events"))
        assert_true(is_utilisation_type(h_jstr(e, "anomaly_type")));
    cJSON_Delete(all);
    cJSON_Delete(grp);
    grp = h_get_json(port, "/metrics/events?anomaly_type=resource_exhaustion&limit=50");
    assert_true(h_jnum(grp, "count") > 0);
    cJSON_ArrayForEach(e, get(grp, "events"))
        assert_true(is_utilisation_type(h_jstr(e, "anomaly_type")));
    cJSON_Delete(grp);
}

static void test_every_endpoint_answers_with_its_fields_typed(void **state)
{
    struct proc *p = &h_procs[0];
    struct resp r;
    cJSON *j, *e;
    const cJSON *list, *counts;
    long long head;
    int n = 0, services = 0;
    char seen[64][48];

    (void)state;
    start_backfilled(p, "monshape", "42", "120s");

    j = h_get_json(p->port, "/health");
    assert_string_equal(need_str(j, "service"), "monitoring-service");
    head = h_jnum(j, "head_sequence");
    assert_true(head >= 12000);
    cJSON_Delete(j);

    /* /metrics is the service's own: JSON and Prometheus, never 405 */
    j = h_get_json(p->port, "/metrics");
    assert_true(cJSON_IsObject(j));
    cJSON_Delete(j);
    assert_int_equal(h_http_req(p->port, "GET", "/metrics?format=prometheus", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/plain"));
    h_resp_free(&r);

    /* the newest 200 samples: two cycles, every service */
    j = h_get_json(p->port, "/metrics/events?limit=200");
    assert_int_equal(h_jnum(j, "count"), 200);
    assert_true(h_jnum(j, "next_since") >= head);
    cJSON_ArrayForEach(e, get(j, "events"))
    {
        const char *sv = need_str(e, "service");
        bool known = false;

        assert_event_shape(e);
        for (int i = 0; i < services && !known; i++)
            known = strcmp(seen[i], sv) == 0;
        if (!known && services < 64)
            snprintf(seen[services++], sizeof seen[0], "%s", sv);
    }
    assert_true(services >= 6);
    cJSON_Delete(j);

    j = h_get_json(p->port, "/metrics/events?anomalies_only=true&limit=50");
    assert_true(h_jnum(j, "count") > 0);
    cJSON_ArrayForEach(e, get(j, "events")) assert_true(cJSON_IsTrue(get(e, "is_anomaly")));
    cJSON_Delete(j);
    j = h_get_json(p->port, "/metrics/events?anomaly_type=network_timeout&limit=20");
    assert_true(h_jnum(j, "count") > 0);
    cJSON_ArrayForEach(e, get(j, "events"))
        assert_string_equal(need_str(e, "anomaly_type"), "network_timeout");
    cJSON_Delete(j);
    check_resource_exhaustion(p->port);

    /* /system/metrics: every metric of every host */
    j = h_get_json(p->port, "/system/metrics");
    list = get(j, "metrics");
    assert_int_equal(h_jnum(j, "count"), cJSON_GetArraySize(list));
    assert_true(cJSON_GetArraySize(list) >= 6 * N_METRICS);
    assert_int_equal(cJSON_GetArraySize(list) % N_METRICS, 0);
    cJSON_ArrayForEach(e, list)
    {
        assert_true(ONE_OF(need_str(e, "metric_name"), metric_names));
        h_jdbl(e, "metric_value");
        need_str(e, "unit");
        need_str(e, "service");
        need_str(e, "host");
        assert_true(ONE_OF(need_str(e, "severity"), severities));
        assert_int_equal(strlen(need_str(e, "timestamp")), 24);
        h_jnum(e, "sequence");
        assert_true(cJSON_IsBool(get(e, "is_anomaly")));
        n++;
    }
    assert_true(n > 0);
    cJSON_Delete(j);

    /* /system/health: a status per service, with the thresholds */
    j = h_get_json(p->port, "/system/health");
    assert_true(ONE_OF(need_str(j, "status"), statuses));
    assert_true(cJSON_GetArraySize(get(j, "services")) >= 6);
    cJSON_ArrayForEach(e, get(j, "services"))
    {
        const cJSON *h;

        assert_true(ONE_OF(need_str(e, "status"), statuses));
        assert_true(cJSON_GetArraySize(get(e, "hosts")) >= 1);
        cJSON_ArrayForEach(h, get(e, "hosts"))
        {
            assert_true(ONE_OF(need_str(h, "status"), statuses));
            assert_true(cJSON_IsArray(get(h, "reasons")));
        }
    }
    for (int m = 0; m < N_METRICS; m++)
        h_jdbl(get(get(j, "thresholds"), "degraded_above"), metric_names[m]);
    cJSON_Delete(j);

    /* /dashboard: counts by type and severity, health, recent anomalies */
    j = h_get_json(p->port, "/dashboard");
    counts = get(j, "events");
    assert_int_equal(h_jnum(counts, "total"),
                     h_jnum(j, "head_sequence") - h_jnum(j, "oldest_sequence") + 1);
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        for (int s = 0; s < 3; s++)
            h_jnum(get(get(counts, "by_type"), type_names[i]), severities[s]);
    assert_true(ONE_OF(need_str(get(j, "health"), "status"), statuses));
    assert_true(cJSON_GetArraySize(get(j, "recent_anomalies")) == 10);
    cJSON_ArrayForEach(e, get(j, "recent_anomalies"))
    {
        assert_event_shape(e);
        assert_true(cJSON_IsTrue(get(e, "is_anomaly")));
    }
    cJSON_Delete(j);

    /* /config: the weights of every type, the aliases too */
    j = h_get_json(p->port, "/config");
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        char key[64];

        snprintf(key, sizeof key, "%s_rate", type_names[i]);
        h_jdbl(j, key);
    }
    h_jdbl(j, "memory_leak_rate");
    h_jdbl(j, "disk_space_rate");
    h_jdbl(j, "anomaly_rate");
    h_jdbl(j, "events_per_second");
    cJSON_Delete(j);

    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Reports agree with the events                                        */

/* The value of the newest event of each series, from the event list. */
struct newest {
    char key[96];
    double value;
    long long seq;
    char severity[16], ts[32], type[32];
};

static int find_newest(struct newest *v, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return i;
    return -1;
}

static void series_key(const cJSON *e, char *key, size_t len)
{
    snprintf(key, len, "%s|%s|%s", need_str(e, "service"), need_str(e, "host"),
             need_str(e, "metric_name"));
}

static double threshold(const cJSON *th, const char *which, const char *metric)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(get(th, which), metric);
    return cJSON_IsNumber(v) ? v->valuedouble : INFINITY;
}

/* Tallies every retained event by type (6 = normal) and severity, and
 * the distinct incidents of each type. */
static void tally(int port, long long head, long long t[7][3], long long incidents[6])
{
    long long since = 0;
    char **ids = calloc((size_t)head + 1, sizeof(*ids));
    int nid[6] = { 0 };
    size_t n = 0;

    assert_non_null(ids);
    memset(t, 0, 7 * sizeof t[0]);
    while (since < head) {
        char path[128];
        cJSON *j, *e;

        snprintf(path, sizeof path, "/metrics/events?since=%lld&limit=1000", since);
        j = h_get_json(port, path);
        cJSON_ArrayForEach(e, get(j, "events"))
        {
            const cJSON *ty = get(e, "anomaly_type");
            int ti = 6, sv = 0;

            since = h_jnum(e, "sequence");
            for (int k = 0; k < 6 && cJSON_IsString(ty); k++)
                if (strcmp(ty->valuestring, type_names[k]) == 0)
                    ti = k;
            for (int k = 0; k < 3; k++)
                if (strcmp(need_str(e, "severity"), severities[k]) == 0)
                    sv = k;
            t[ti][sv]++;
            if (ti < 6) {
                /* type index first, so one sort groups and dedupes */
                char *id = malloc(48);
                assert_non_null(id);
                snprintf(id, 48, "%d%s", ti, need_str(e, "incident_id"));
                ids[n++] = id;
            }
        }
        assert_true(h_jnum(j, "count") > 0);
        cJSON_Delete(j);
    }
    qsort(ids, n, sizeof(*ids), h_cmp_str);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(ids[i - 1], ids[i]) != 0)
            nid[ids[i][0] - '0']++;
    for (int k = 0; k < 6; k++)
        incidents[k] = nid[k];
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

static void test_reports_agree_with_the_newest_events(void **state)
{
    static struct newest nv[256];
    struct proc *p = &h_procs[0];
    cJSON *ev, *sm, *sh, *db, *e;
    const cJSON *th, *sv;
    long long head, t[7][3], incidents[6];
    int n = 0, matched = 0;

    (void)state;
    start_backfilled(p, "monagree", "8", "60s");
    head = pause_and_settle(p->port);

    /* the newest sample of each series, from the event list */
    ev = h_get_json(p->port, "/metrics/events?limit=1000");
    assert_int_equal(h_jnum(ev, "next_since"), head);
    cJSON_ArrayForEach(e, get(ev, "events"))
    {
        char key[96];

        series_key(e, key, sizeof key);
        if (find_newest(nv, n, key) >= 0)
            continue;
        assert_true(n < 256);
        snprintf(nv[n].key, sizeof nv[n].key, "%s", key);
        nv[n].value = h_jdbl(e, "metric_value");
        nv[n].seq = h_jnum(e, "sequence");
        snprintf(nv[n].severity, sizeof nv[n].severity, "%s", need_str(e, "severity"));
        snprintf(nv[n].ts, sizeof nv[n].ts, "%s", need_str(e, "timestamp"));
        snprintf(nv[n].type, sizeof nv[n].type, "%s",
                 cJSON_IsString(get(e, "anomaly_type")) ? need_str(e, "anomaly_type") : "");
        n++;
    }
    cJSON_Delete(ev);

    /* /system/metrics is exactly those */
    sm = h_get_json(p->port, "/system/metrics");
    assert_int_equal(h_jnum(sm, "count"), n);
    assert_int_equal(h_jnum(sm, "head_sequence"), head);
    cJSON_ArrayForEach(e, get(sm, "metrics"))
    {
        char key[96];
        int i;

        series_key(e, key, sizeof key);
        i = find_newest(nv, n, key);
        if (i < 0)
            fail_msg("/system/metrics lists %s, which has no event", key);
        assert_true(h_jdbl(e, "metric_value") == nv[i].value);
        assert_int_equal(h_jnum(e, "sequence"), nv[i].seq);
        assert_string_equal(need_str(e, "severity"), nv[i].severity);
        assert_string_equal(need_str(e, "timestamp"), nv[i].ts);
        assert_int_equal(cJSON_IsTrue(get(e, "is_anomaly")), nv[i].type[0] != '\0');
        matched++;
    }
    assert_int_equal(matched, n);

    /* /system/health follows from those values and its own thresholds */
    sh = h_get_json(p->port, "/system/health");
    th = get(sh, "thresholds");
    cJSON_ArrayForEach(sv, get(sh, "services"))
    {
        const cJSON *h;
        bool all_down = true, any_bad = false;

        cJSON_ArrayForEach(h, get(sv, "hosts"))
        {
            const char *want = "healthy";

            cJSON_ArrayForEach(e, get(sm, "metrics"))
            {
                const char *m = need_str(e, "metric_name");
                double v = h_jdbl(e, "metric_value");

                if (strcmp(need_str(e, "host"), need_str(h, "host")) != 0)
                    continue;
                if (v > threshold(th, "down_above", m))
                    want = "down";
                else if (v > threshold(th, "degraded_above", m) && strcmp(want, "down") != 0)
                    want = "degraded";
            }
            assert_string_equal(need_str(h, "status"), want);
            all_down = all_down && strcmp(want, "down") == 0;
            any_bad = any_bad || strcmp(want, "healthy") != 0;
        }
        assert_string_equal(need_str(sv, "status"),
                            all_down ? "down" : any_bad ? "degraded" : "healthy");
    }
    cJSON_Delete(sh);
    cJSON_Delete(sm);

    /* /dashboard counts are the retained events' */
    tally(p->port, head, t, incidents);
    db = h_get_json(p->port, "/dashboard?recent=20");
    for (int k = 0; k < 7; k++) {
        const cJSON *bt = get(get(get(db, "events"), "by_type"), k < 6 ? type_names[k] : "normal");

        for (int s = 0; s < 3; s++)
            if (h_jnum(bt, severities[s]) != t[k][s])
                fail_msg("/dashboard: %s %s %lld, the events say %lld",
                         k < 6 ? type_names[k] : "normal", severities[s], h_jnum(bt, severities[s]),
                         t[k][s]);
        if (k < 6)
            assert_int_equal(h_jnum(bt, "incidents"), incidents[k]);
    }
    /* recent anomalies are the newest anomalous events */
    ev = h_get_json(p->port, "/metrics/events?anomalies_only=true&limit=20");
    {
        const cJSON *a = get(ev, "events"), *b = get(db, "recent_anomalies");

        assert_int_equal(cJSON_GetArraySize(a), cJSON_GetArraySize(b));
        for (int i = 0; i < cJSON_GetArraySize(a); i++)
            assert_int_equal(h_jnum(cJSON_GetArrayItem(a, i), "sequence"),
                             h_jnum(cJSON_GetArrayItem(b, i), "sequence"));
    }
    cJSON_Delete(ev);
    cJSON_Delete(db);

    /* going on, the reports move with the stream */
    {
        struct resp r;
        long long newest = 0;
        long deadline;

        assert_int_equal(
            h_http_req(p->port, "POST", "/config", "{\"paused\":false}", h_json_ct, &r), 0);
        assert_int_equal(r.status, 200);
        h_resp_free(&r);
        deadline = h_now_ms() + 30000;
        while (h_health_head(p->port) < head + 300 && h_now_ms() < deadline)
            h_sleep_ms(50);
        sm = h_get_json(p->port, "/system/metrics");
        cJSON_ArrayForEach(e, get(sm, "metrics"))
        {
            if (h_jnum(e, "sequence") > newest)
                newest = h_jnum(e, "sequence");
        }
        assert_true(newest > head + 200);
        cJSON_Delete(sm);
    }
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* ------------------------------------------------------------------ */
/* Bad input                                                            */

static void expect_error(int port, const char *method, const char *path, const char *body,
                         long status, const char *field)
{
    struct resp r;
    cJSON *j;
    const cJSON *err;

    assert_int_equal(h_http_req(port, method, path, body, body ? h_json_ct : NULL, &r), 0);
    if (r.status != status)
        fail_msg("%s %s: %ld %s, want %ld", method, path, r.status, r.body, status);
    assert_true(strlen(r.request_id) > 0);
    j = cJSON_ParseWithLength(r.body, r.len);
    assert_non_null(j);
    err = get(j, "error");
    need_str(err, "code");
    need_str(err, "message");
    if (field)
        assert_string_equal(need_str(err, "field"), field);
    if (status == 405)
        assert_non_null(strstr(r.allow, "GET"));
    cJSON_Delete(j);
    h_resp_free(&r);
}

static void test_bad_input_is_answered_as_documented_and_changes_nothing(void **state)
{
    struct proc *p = &h_procs[0];
    struct resp before, after, r;
    cJSON *j;

    (void)state;
    start_backfilled(p, "monbad", "9", "10s");
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &before), 0);

    expect_error(p->port, "GET", "/system/health?verbose=1", NULL, 400, NULL);
    expect_error(p->port, "GET", "/system/metrics?host=db-01", NULL, 400, NULL);
    expect_error(p->port, "GET", "/dashboard?recent=abc", NULL, 400, "recent");
    expect_error(p->port, "GET", "/dashboard?recent=101", NULL, 400, "recent");
    expect_error(p->port, "GET", "/dashboard?recent=-1", NULL, 400, "recent");
    expect_error(p->port, "POST", "/system/health", "{}", 405, NULL);
    expect_error(p->port, "POST", "/system/metrics", "{}", 405, NULL);
    expect_error(p->port, "POST", "/dashboard", "{}", 405, NULL);
    expect_error(p->port, "DELETE", "/metrics/events", NULL, 405, NULL);
    expect_error(p->port, "POST", "/metrics", "{}", 405, NULL);
    expect_error(p->port, "GET", "/metrics/events?limit=0", NULL, 400, "limit");
    expect_error(p->port, "GET", "/metrics/events?limit=1001", NULL, 400, "limit");
    expect_error(p->port, "GET", "/metrics/events?since=-1", NULL, 400, "since");
    expect_error(p->port, "GET", "/metrics/events?anomaly_type=fraud_pattern", NULL, 400,
                 "anomaly_type");
    expect_error(p->port, "GET", "/system/nope", NULL, 404, NULL);
    expect_error(p->port, "POST", "/config", "{\"high_cpu_rate\":-1}", 422, "high_cpu_rate");
    expect_error(p->port, "POST", "/config", "{\"cascade_failure_rate\":\"x\"}", 422,
                 "cascade_failure_rate");
    expect_error(p->port, "POST", "/config", "{\"network_timeout_rate\":0.001,\"bogus_rate\":1}", 422,
                 "bogus_rate");
    expect_error(p->port, "POST", "/config", "{\"fraud_pattern_rate\":1}", 422,
                 "fraud_pattern_rate");
    expect_error(p->port, "POST", "/config", "{\"anomaly_rate\":0.9}", 422, "anomaly_rate");
    expect_error(p->port, "POST", "/config", "{not json", 400, NULL);
    assert_int_equal(h_http_req(p->port, "GET", "/config", NULL, NULL, &after), 0);
    assert_string_equal(before.body, after.body);
    h_resp_free(&after);

    /* GET /metrics is the service's own counters (the original said 405) */
    assert_int_equal(h_http_req(p->port, "GET", "/metrics", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    /* recent=0 is no recent anomalies, not an error */
    j = h_get_json(p->port, "/dashboard?recent=0");
    assert_int_equal(cJSON_GetArraySize(get(j, "recent_anomalies")), 0);
    cJSON_Delete(j);

    /* the aliases set the types they name */
    assert_int_equal(h_http_req(p->port, "POST", "/config",
                                "{\"memory_leak_rate\":0.003,\"disk_space_rate\":0}", h_json_ct, &r),
                     0);
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    j = h_get_json(p->port, "/config");
    assert_true(h_jdbl(j, "high_memory_rate") == 0.003);
    assert_true(h_jdbl(j, "memory_leak_rate") == 0.003);
    assert_true(h_jdbl(j, "high_disk_rate") == 0.0);
    cJSON_Delete(j);

    /* and the daemon is still well */
    j = h_get_json(p->port, "/health");
    assert_string_equal(need_str(j, "status"), "ok");
    cJSON_Delete(j);
    h_resp_free(&before);
    assert_int_equal(h_proc_stop(p, NULL), 0);
    h_proc_finish(p);
}

/* POST /inject and the incidents it makes, as documented (with Prism:
 * each answer checked against openapi.yaml). */
static void test_inject_and_incidents_are_answered_as_documented(void **state)
{
    struct proc *p = &h_procs[0];
    struct resp r;
    cJSON *j = NULL, *e;
    char id[40], path[96];
    long t0;

    (void)state;
    start_backfilled(p, "moninj", "13", "30s");
    assert_int_equal(h_http_req(p->port, "POST", "/inject",
                                "{\"type\":\"high_cpu\",\"target\":{\"service\":\"kafka\","
                                "\"host\":\"mq-02\"},\"size\":6}",
                                h_json_ct, &r),
                     0);
    assert_int_equal(r.status, 201);
    j = cJSON_Parse(r.body);
    h_resp_free(&r);
    assert_string_equal(need_str(j, "type"), "high_cpu");
    assert_string_equal(need_str(j, "service"), "monitoring-service");
    assert_int_equal(h_jnum(j, "planned_event_count"), 6);
    assert_string_equal(need_str(get(j, "target"), "host"), "mq-02");
    snprintf(id, sizeof id, "%s", need_str(j, "incident_id"));
    cJSON_Delete(j);
    expect_error(p->port, "POST", "/inject", "{\"type\":\"high_cpu\",\"target\":{\"host\":\"mq-9\"}}",
                 422, "target.host");
    expect_error(p->port, "POST", "/inject", "{\"type\":\"high_disk\",\"size\":100}", 422,
                 "size");

    /* its six samples, one a cycle (98 samples, about 1 s at 100 a second) */
    snprintf(path, sizeof path, "/incidents/%s", id);
    for (t0 = h_now_ms(); h_now_ms() - t0 < 15000; h_sleep_ms(200)) {
        long status = 0;
        j = h_http_get_json(p->port, path, &status);
        if (status == 200 && strcmp(need_str(j, "state"), "closed") == 0)
            break;
        cJSON_Delete(j);
        j = NULL;
    }
    assert_non_null(j);
    assert_string_equal(need_str(j, "origin"), "injected");
    assert_int_equal(h_jnum(j, "event_count"), 6);
    cJSON_ArrayForEach(e, get(j, "events")) {
        assert_string_equal(need_str(e, "host"), "mq-02");
        assert_string_equal(need_str(e, "origin"), "injected");
        assert_true(h_jdbl(e, "metric_value") > 90.0);
    }
    cJSON_Delete(j);
    j = h_get_json(p->port, "/incidents?type=resource_exhaustion&limit=20");
    assert_true(h_jnum(j, "count") >= 1);
    cJSON_ArrayForEach(e, get(j, "incidents"))
        assert_true(strncmp(need_str(e, "type"), "high_", 5) == 0);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------------ */
/* Command line                                                         */

static void test_command_line_exit_codes_help_and_version(void **state)
{
    static const char *const help[] = { "--help", NULL };
    static const char *const version[] = { "--version", NULL };
    static const char *const check[] = { "--check-config", "--config",
                                         BM_SOURCE_DIR "/config/anomaly_config.json", NULL };
    static const char *const bad_flag[] = { "--bogus", NULL };
    static const char *const bad_backfill[] = { "--backfill", "400d", NULL };
    static const char *const gateway_flag[] = { "--poll-interval-ms", "100", NULL };
    char out[8192];

    (void)state;
    assert_int_equal(h_proc_run(MON_BIN, help, out, sizeof out), 0);
    assert_non_null(strstr(out, "--backfill"));
    assert_non_null(strstr(out, "monitoring-service"));
    assert_int_equal(h_proc_run(MON_BIN, version, out, sizeof out), 0);
    assert_non_null(strstr(out, "monitoring-service"));
    assert_int_equal(h_proc_run(MON_BIN, check, out, sizeof out), 0);
    assert_int_equal(h_proc_run(MON_BIN, bad_flag, out, sizeof out), 2);
    assert_int_equal(h_proc_run(MON_BIN, bad_backfill, out, sizeof out), 2);
    assert_int_equal(h_proc_run(MON_BIN, gateway_flag, out, sizeof out), 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, h_procs_setup, h_procs_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_endpoint_answers_with_its_fields_typed),
        T(test_reports_agree_with_the_newest_events),
        T(test_bad_input_is_answered_as_documented_and_changes_nothing),
        T(test_inject_and_incidents_are_answered_as_documented),
        T(test_command_line_exit_codes_help_and_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
