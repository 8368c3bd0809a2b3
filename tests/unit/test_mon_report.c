/* test_mon_report.c - the bodies of GET /system/health, /system/metrics
 * and /dashboard rendered from a store snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "mon.h"

/* Every series present at a calm value; host 0 (db-01) hot, both cache
 * hosts down. */
static void snapshot_fill(struct mon_snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->head = 1000;
    s->oldest = 1;
    for (int i = 0; i < MON_N_SERIES; i++) {
        int m = MON_SERIES_METRIC(i);

        s->cur[i].present = true;
        s->cur[i].seq = 900 + (uint64_t)i;
        s->cur[i].ts_ms = 1709542800000LL + i * 10;
        s->cur[i].value = m == MON_M_ERROR ? 20 : m == MON_M_RESPONSE ? 5000 : 4000;
        s->cur[i].severity = MON_SEV_INFO;
        s->cur[i].anomaly = -1;
    }
    s->cur[MON_SERIES(MON_M_CPU, 0)].value = 9500;
    s->cur[MON_SERIES(MON_M_CPU, 0)].severity = MON_SEV_CRITICAL;
    s->cur[MON_SERIES(MON_M_CPU, 0)].anomaly = MON_A_HIGH_CPU;
    s->cur[MON_SERIES(MON_M_RESPONSE, 2)].value = 700000;
    s->cur[MON_SERIES(MON_M_ERROR, 3)].value = 4000;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    if (!v)
        fail_msg("no \"%s\"", k);
    return v;
}

static const cJSON *service_named(const cJSON *services, const char *name)
{
    const cJSON *s;

    cJSON_ArrayForEach(s, services)
    {
        if (strcmp(get(s, "service")->valuestring, name) == 0)
            return s;
    }
    fail_msg("no service %s", name);
    return NULL;
}

static void test_health_report_rates_services_with_its_thresholds(void **state)
{
    static struct mon_snapshot s;
    const cJSON *services, *db, *cache, *th;
    struct buf b;
    cJSON *j;

    (void)state;
    snapshot_fill(&s);
    buf_init(&b, 1 << 20);
    assert_int_equal(mon_report_health(&s, &b), BM_OK);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_string_equal(get(j, "status")->valuestring, "down");
    assert_string_equal(get(j, "as_of")->valuestring, "2024-03-04T09:00:00.970Z");
    services = get(j, "services");
    assert_int_equal(cJSON_GetArraySize(services), MON_N_SERVICES);
    db = service_named(services, "core-database");
    assert_string_equal(get(db, "status")->valuestring, "degraded");
    assert_string_equal(
        get(cJSON_GetArrayItem(get(db, "hosts"), 0), "status")->valuestring, "degraded");
    assert_string_equal(get(cJSON_GetArrayItem(get(cJSON_GetArrayItem(get(db, "hosts"), 0),
                                                   "reasons"),
                                               0),
                            "metric_name")
                            ->valuestring,
                        "cpu_utilization");
    cache = service_named(services, "redis-cache");
    assert_string_equal(get(cache, "status")->valuestring, "down");
    assert_string_equal(get(service_named(services, "api-gateway"), "status")->valuestring,
                        "healthy");
    assert_int_equal(get(get(j, "summary"), "healthy")->valueint, MON_N_SERVICES - 2);
    th = get(j, "thresholds");
    assert_true(get(get(th, "degraded_above"), "cpu_utilization")->valuedouble == 90.0);
    assert_true(get(get(th, "down_above"), "error_rate")->valuedouble == 25.0);
    assert_true(get(get(get(th, "severity"), "error_rate"), "warning_above")->valuedouble == 2.0);
    cJSON_Delete(j);
    buf_free(&b);
}

static void test_metrics_report_lists_each_present_series_once(void **state)
{
    static struct mon_snapshot s;
    const cJSON *list, *e;
    struct buf b;
    cJSON *j;
    int n = 0;

    (void)state;
    snapshot_fill(&s);
    s.cur[5].present = false;
    buf_init(&b, 1 << 20);
    assert_int_equal(mon_report_metrics(&s, &b), BM_OK);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    list = get(j, "metrics");
    assert_int_equal(cJSON_GetArraySize(list), MON_N_SERIES - 1);
    assert_int_equal(get(j, "count")->valueint, MON_N_SERIES - 1);
    cJSON_ArrayForEach(e, list)
    {
        assert_true(cJSON_IsString(get(e, "service")));
        assert_true(cJSON_IsString(get(e, "host")));
        assert_true(cJSON_IsString(get(e, "metric_name")));
        assert_true(cJSON_IsNumber(get(e, "metric_value")));
        assert_true(cJSON_IsString(get(e, "unit")));
        assert_true(cJSON_IsString(get(e, "severity")));
        assert_true(cJSON_IsString(get(e, "timestamp")));
        assert_true(cJSON_IsNumber(get(e, "sequence")));
        assert_true(cJSON_IsBool(get(e, "is_anomaly")));
        if (strcmp(get(e, "host")->valuestring, "db-01") == 0 &&
            strcmp(get(e, "metric_name")->valuestring, "cpu_utilization") == 0) {
            assert_true(get(e, "metric_value")->valuedouble == 95.0);
            assert_string_equal(get(e, "anomaly_type")->valuestring, "high_cpu");
        }
        n++;
    }
    assert_int_equal(n, MON_N_SERIES - 1);
    cJSON_Delete(j);
    buf_free(&b);
    /* an empty store: nothing listed, no time */
    memset(&s, 0, sizeof s);
    buf_init(&b, 1 << 20);
    assert_int_equal(mon_report_metrics(&s, &b), BM_OK);
    j = cJSON_Parse(b.data);
    assert_true(cJSON_IsNull(get(j, "as_of")));
    assert_int_equal(get(j, "count")->valueint, 0);
    cJSON_Delete(j);
    buf_free(&b);
}

static void test_dashboard_counts_add_up(void **state)
{
    static struct mon_snapshot s;
    struct mon_counts c;
    const char recent[] = "{\"event_id\":\"a\"},{\"event_id\":\"b\"}";
    const cJSON *ev, *by_type;
    struct buf b;
    cJSON *j;
    int64_t sum = 0;

    (void)state;
    snapshot_fill(&s);
    memset(&c, 0, sizeof c);
    c.total = 1000;
    c.by[MON_A_COUNT][MON_SEV_INFO] = 950;
    c.by[MON_A_COUNT][MON_SEV_WARNING] = 20;
    c.by[MON_A_HIGH_CPU][MON_SEV_CRITICAL] = 20;
    c.by[MON_A_DEGRADATION][MON_SEV_INFO] = 10;
    c.incidents[MON_A_HIGH_CPU] = 3;
    c.incidents[MON_A_DEGRADATION] = 1;
    buf_init(&b, 1 << 20);
    assert_int_equal(mon_report_dashboard(&s, &c, recent, strlen(recent), &b), BM_OK);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    ev = get(j, "events");
    assert_int_equal(get(ev, "total")->valueint, 1000);
    assert_int_equal(get(ev, "anomalous")->valueint, 30);
    assert_int_equal(get(get(ev, "by_severity"), "info")->valueint, 960);
    assert_int_equal(get(get(ev, "by_severity"), "critical")->valueint, 20);
    by_type = get(ev, "by_type");
    for (int a = 0; a < MON_A_COUNT; a++)
        sum += (int64_t)get(get(by_type, mon_anomaly_names[a]), "total")->valuedouble;
    sum += (int64_t)get(get(by_type, "normal"), "total")->valuedouble;
    assert_int_equal(sum, 1000);
    assert_int_equal(get(get(by_type, "high_cpu"), "incidents")->valueint, 3);
    assert_int_equal(cJSON_GetArraySize(get(j, "recent_anomalies")), 2);
    assert_string_equal(get(get(j, "health"), "status")->valuestring, "down");
    assert_int_equal(cJSON_GetArraySize(get(get(j, "health"), "services")), MON_N_SERVICES);
    cJSON_Delete(j);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_report_rates_services_with_its_thresholds),
        cmocka_unit_test(test_metrics_report_lists_each_present_series_once),
        cmocka_unit_test(test_dashboard_counts_add_up),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
