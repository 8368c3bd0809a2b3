/* test_mon_model.c - the monitoring estate, normal value ranges, severity
 * and health rules, and the event's bytes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mon.h"
#include "rng.h"
#include "xincident.h"

/* ---- the estate ---- */

static void test_estate_has_the_banks_services_on_named_hosts(void **state)
{
    static const char *const roles[] = { "database", "cache", "message_queue",
                                         "authentication", "transactions", "gateway" };
    int hosts_of[MON_N_SERVICES] = { 0 };

    (void)state;
    assert_true(MON_N_SERVICES >= 6);
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        bool found = false;
        for (int s = 0; s < MON_N_SERVICES; s++)
            found = found || strcmp(mon_services[s].role, roles[i]) == 0;
        if (!found)
            fail_msg("no %s service in the estate", roles[i]);
    }
    for (int h = 0; h < MON_N_HOSTS; h++) {
        assert_true(mon_hosts[h].service < MON_N_SERVICES);
        assert_true(strlen(mon_hosts[h].name) > 0);
        hosts_of[mon_hosts[h].service]++;
        for (int k = 0; k < h; k++)
            assert_string_not_equal(mon_hosts[h].name, mon_hosts[k].name);
        /* backends first: a host's service never depends on a later host's */
        for (int k = h + 1; k < MON_N_HOSTS; k++)
            assert_false(mon_services[mon_hosts[k].service].dependents &
                         (1u << mon_hosts[h].service) &&
                         mon_hosts[k].service != mon_hosts[h].service);
    }
    for (int s = 0; s < MON_N_SERVICES; s++) {
        assert_true(hosts_of[s] >= 1);
        /* a service's dependents come after it, never itself */
        assert_int_equal(mon_services[s].dependents & ((2u << s) - 1), 0);
    }
}

/* The schedule's cascade origins are the estate's backends, and the
 * services each reaches (xincident_cascade_hits) are its callers here. */
static void test_cascade_origins_reach_their_callers(void **state)
{
    (void)state;
    for (int o = 0; o < XINC_N_ORIGINS; o++) {
        int s = 0, auth = 0, txn = 0;

        while (s < MON_N_SERVICES && strcmp(mon_services[s].name, xincident_origins[o]) != 0)
            s++;
        assert_true(s < MON_N_SERVICES);
        for (int d = 0; d < MON_N_SERVICES; d++) {
            if (!(mon_services[s].dependents & (1u << d)))
                continue;
            auth += strcmp(mon_services[d].name, "auth-service") == 0;
            txn += strcmp(mon_services[d].name, "transaction-service") == 0;
        }
        assert_int_equal(auth, (xincident_cascade_hits[o] & XINC_HIT_AUTH) != 0);
        assert_int_equal(txn, (xincident_cascade_hits[o] & XINC_HIT_TXN) != 0);
    }
}

/* ---- normal values ---- */

static void test_normal_values_stay_inside_their_normal_ranges(void **state)
{
    struct mon_model *m = mon_model_new(3);
    struct rng r;

    (void)state;
    rng_seed(&r, 4);
    for (int i = 0; i < 200000; i++) {
        int s = (int)rng_below(&r, MON_N_SERIES), metric = MON_SERIES_METRIC(s);
        double z = (rng_double(&r) - 0.5) * 20.0, zc = (rng_double(&r) - 0.5) * 20.0;
        double load = rng_double(&r) * 3.0, days = 19000.0 + rng_double(&r) * 3000.0;
        int32_t v = mon_normal_value(m, s, days, load, z, zc, (rng_double(&r) - 0.5) * 20.0);

        assert_true(v >= 0);
        switch (metric) {
        case MON_M_CPU:
        case MON_M_MEMORY:
        case MON_M_DISK:
            assert_true(v <= MON_UTIL_NORMAL_MAX);
            break;
        case MON_M_ERROR:
            assert_true(v <= MON_ERR_NORMAL_MAX);
            break;
        case MON_M_RESPONSE:
            assert_true(v <= MON_RT_NORMAL_MAX && v > 0);
            break;
        default:
            assert_true(v < mon_metrics[metric].critical);
            break;
        }
    }
    for (int metric = 0; metric < MON_M_COUNT; metric++) {
        assert_true(mon_clamp_normal(metric, NAN) >= 0);
        assert_true(mon_clamp_normal(metric, 1e9) <= mon_metrics[metric].critical);
        assert_true(mon_clamp_normal(metric, -5.0) >= 0);
    }
    mon_model_free(m);
}

static void test_model_is_a_function_of_the_seed(void **state)
{
    struct mon_model *a = mon_model_new(11), *b = mon_model_new(11), *c = mon_model_new(12);

    (void)state;
    assert_memory_equal(a, b, sizeof *a);
    assert_memory_not_equal(a, c, sizeof *a);
    mon_model_free(a);
    mon_model_free(b);
    mon_model_free(c);
}

/* ---- severity and health ---- */

static void test_severity_follows_the_thresholds_of_each_metric(void **state)
{
    (void)state;
    assert_int_equal(mon_severity_of(MON_M_CPU, 8000), MON_SEV_INFO);
    assert_int_equal(mon_severity_of(MON_M_CPU, 8001), MON_SEV_WARNING);
    assert_int_equal(mon_severity_of(MON_M_MEMORY, 9000), MON_SEV_WARNING);
    assert_int_equal(mon_severity_of(MON_M_DISK, 9001), MON_SEV_CRITICAL);
    assert_int_equal(mon_severity_of(MON_M_ERROR, 200), MON_SEV_INFO);
    assert_int_equal(mon_severity_of(MON_M_ERROR, 201), MON_SEV_WARNING);
    assert_int_equal(mon_severity_of(MON_M_ERROR, 1001), MON_SEV_CRITICAL);
    assert_int_equal(mon_severity_of(MON_M_RESPONSE, 100000), MON_SEV_INFO);
    assert_int_equal(mon_severity_of(MON_M_RESPONSE, 100001), MON_SEV_WARNING);
    assert_int_equal(mon_severity_of(MON_M_RESPONSE, 500001), MON_SEV_CRITICAL);
    assert_int_equal(mon_severity_of(MON_M_NET_IN, 75001), MON_SEV_WARNING);
    /* the anomaly lines are the critical lines of utilisation and latency */
    assert_int_equal(mon_severity_of(MON_M_CPU, MON_UTIL_ANOMALY_MIN), MON_SEV_CRITICAL);
    assert_int_equal(mon_severity_of(MON_M_RESPONSE, MON_RT_TIMEOUT_MIN), MON_SEV_CRITICAL);
}

static void test_host_health_takes_the_worst_metric(void **state)
{
    int32_t v[MON_M_COUNT] = { 5000, 5000, 5000, 10000, 10000, 10000, 50 };
    bool present[MON_M_COUNT] = { true, true, true, true, true, true, true };

    (void)state;
    assert_int_equal(mon_host_health(v, present), MON_H_HEALTHY);
    v[MON_M_DISK] = 9001;
    assert_int_equal(mon_host_health(v, present), MON_H_DEGRADED);
    v[MON_M_DISK] = 5000;
    v[MON_M_ERROR] = 501;
    assert_int_equal(mon_host_health(v, present), MON_H_DEGRADED);
    v[MON_M_ERROR] = 2501;
    assert_int_equal(mon_host_health(v, present), MON_H_DOWN);
    v[MON_M_ERROR] = 50;
    v[MON_M_RESPONSE] = 100001;
    assert_int_equal(mon_host_health(v, present), MON_H_DEGRADED);
    v[MON_M_RESPONSE] = 500001;
    assert_int_equal(mon_host_health(v, present), MON_H_DOWN);
    present[MON_M_RESPONSE] = false; /* no sample: no evidence */
    assert_int_equal(mon_host_health(v, present), MON_H_HEALTHY);
}

/* ---- the event ---- */

static void test_sample_encodes_to_the_documented_bytes(void **state)
{
    struct mon_sample s = {
        .event_id = "0f8fad5b-d9cb-469f-a165-70867728950e",
        .ts_ms = 1709542800123LL, /* 2024-03-04T09:00:00.123Z */
        .seq = 42,
        .series = MON_SERIES(MON_M_CPU, 0),
        .value = 9345,
        .severity = MON_SEV_CRITICAL,
        .anomaly = MON_A_HIGH_CPU,
        .incident_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    };
    struct buf b;

    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(mon_sample_encode(&s, &b), BM_OK);
    assert_string_equal(
        b.data,
        "{\"event_id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\","
        "\"timestamp\":\"2024-03-04T09:00:00.123Z\",\"sequence\":42,"
        "\"service\":\"core-database\",\"host\":\"db-01\",\"metric_name\":\"cpu_utilization\","
        "\"metric_value\":93.45,\"unit\":\"percent\",\"severity\":\"critical\","
        "\"is_anomaly\":true,\"anomaly_type\":\"high_cpu\","
        "\"incident_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"origin\":\"generated\"}");
    buf_reset(&b);
    s.series = MON_SERIES(MON_M_ERROR, 12);
    s.value = 5;
    s.severity = MON_SEV_INFO;
    s.anomaly = -1;
    s.incident_id = NULL;
    assert_int_equal(mon_sample_encode(&s, &b), BM_OK);
    assert_non_null(strstr(b.data, "\"service\":\"api-gateway\",\"host\":\"gw-01\","
                                   "\"metric_name\":\"error_rate\",\"metric_value\":0.05,"
                                   "\"unit\":\"percent\",\"severity\":\"info\","
                                   "\"is_anomaly\":false,\"anomaly_type\":null,"
                                   "\"incident_id\":null,"));
    buf_free(&b);
    /* a buffer too small is left as it was */
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "x"), BM_OK);
    assert_int_not_equal(mon_sample_encode(&s, &b), BM_OK);
    assert_string_equal(b.data, "x");
    buf_free(&b);
}

static void test_incident_keys_are_never_zero_and_differ(void **state)
{
    (void)state;
    assert_int_not_equal(mon_incident_key(""), 0);
    assert_int_not_equal(mon_incident_key("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
                         mon_incident_key("7c9e6679-7425-40de-944b-e07fc1f90ae8"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estate_has_the_banks_services_on_named_hosts),
        cmocka_unit_test(test_cascade_origins_reach_their_callers),
        cmocka_unit_test(test_normal_values_stay_inside_their_normal_ranges),
        cmocka_unit_test(test_model_is_a_function_of_the_seed),
        cmocka_unit_test(test_severity_follows_the_thresholds_of_each_metric),
        cmocka_unit_test(test_host_health_takes_the_worst_metric),
        cmocka_unit_test(test_sample_encodes_to_the_documented_bytes),
        cmocka_unit_test(test_incident_keys_are_never_zero_and_differ),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
