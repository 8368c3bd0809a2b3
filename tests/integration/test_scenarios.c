/* test_scenarios.c - scenario timelines end to end: a backfill of a
 * scenario replays byte for byte, also across kill -9; each step takes
 * effect at its time (a set, an injection, a ramp); POST /scenarios on a
 * live service skips the steps already past and applies the rest; a bad
 * scenario is a 422 (or exit 2 at start) naming the step's field; every
 * shipped example loads on every service. */
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

#define START  "2026-01-05T09:00:00Z"
#define END_TS "2026-01-05T10:00:00.000Z"
#define T0_MS  1767603600000LL /* START */
#define MIN_MS 60000LL

/* 20 events/s (about 30 at 09:00 on a Monday), 2% anomalies; at +10m
 * 10%; a fraud_pattern at +20m; a ramp to 100/s over +30m..+40m. */
static const char scenario[] =
    "{\"name\":\"test\",\"steps\":["
    "{\"at\":\"+10m\",\"set\":{\"anomaly_rate\":0.1,\"suspicious_high_amount_rate\":0.05}},"
    "{\"at\":\"+20m\",\"inject\":{\"type\":\"fraud_pattern\",\"size\":5}},"
    "{\"from\":\"+30m\",\"to\":\"+40m\",\"ramp\":{\"events_per_second\":[20,100]}},"
    "{\"at\":\"+5m\",\"service\":\"auth\",\"set\":{\"failed_login_rate\":0.3}}]}";
#define CONFIG "{\"generation_settings\":{\"events_per_second\":20}}"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Starts the transaction service on the test scenario (a file in its
 * directory) without waiting. */
static void start_scenario(struct proc *p, const char *tag, char *file, size_t size)
{
    h_proc_init(p, tag);
    h_proc_write_config(p, CONFIG);
    snprintf(file, size, "%s/scenario.json", p->dir);
    write_file(file, scenario);
    {
        const char *const args[] = { "--seed", "31", "--start-time", START, "--backfill", "1h",
                                     "--scenario", file, NULL };
        assert_int_equal(h_proc_start(p, "transaction-service", args), 0);
    }
}

static long long db_count(struct proc *p, const char *sql)
{
    struct sqlite3 *db = h_db_open_checked(p->db);
    long long n = h_db_int(db, sql);

    h_db_close(db);
    return n;
}

static void test_scenario_backfill_replays_and_each_step_takes_effect(void **state)
{
    struct proc *a = &h_procs[0], *b = &h_procs[1];
    char fa[400], fb[400], sql[256];
    cJSON *list, *sc;
    long long n, before, after, inj_start;

    (void)state;
    start_scenario(a, "scena", fa, sizeof fa);
    start_scenario(b, "scenb", fb, sizeof fb);
    /* b is killed mid-backfill, just past the injection, and restarted */
    assert_true(h_wait_head(b->port, 40000, 60000));
    h_proc_kill9(b);
    {
        const char *const args[] = { "--seed", "31", "--scenario", fb, NULL };
        assert_int_equal(h_proc_restart(b, "transaction-service", args), 0);
    }
    assert_true(h_wait_backfilled(a->port, 120000));
    assert_true(h_wait_backfilled(b->port, 120000));
    n = h_compare_backfill(a->port, b->port, "/transactions/events", END_TS);
    print_message("%lld events identical, one run killed at 40,000 and restarted\n", n);

    list = h_get_json(a->port, "/scenarios");
    sc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "scenarios"), 0);
    assert_non_null(sc);
    assert_int_equal(h_jnum(sc, "steps_total"), 3); /* auth's step is not this service's */
    assert_int_equal(h_jnum(sc, "steps_done"), 3);
    assert_int_equal(h_jnum(sc, "steps_skipped"), 0);
    assert_string_equal(h_jstr(sc, "state"), "done");
    assert_string_equal(h_jstr(cJSON_GetObjectItemCaseSensitive(sc, "scenario"), "name"), "test");
    cJSON_Delete(list);
    assert_int_equal(h_proc_stop(a, NULL), 0);

    /* the set: about 2% before +10m, 10% after */
    snprintf(sql, sizeof sql,
             "SELECT 1000 * sum(anomaly_type IS NOT NULL) / count(*) FROM events WHERE ts < %lld",
             T0_MS + 10 * MIN_MS);
    before = db_count(a, sql);
    snprintf(sql, sizeof sql,
             "SELECT 1000 * sum(anomaly_type IS NOT NULL) / count(*) FROM events"
             " WHERE ts >= %lld AND ts < %lld",
             T0_MS + 40 * MIN_MS, T0_MS + 60 * MIN_MS);
    after = db_count(a, sql);
    print_message("anomalies per mille: %lld before +10m, %lld after\n", before, after);
    assert_true(before >= 15 && before <= 25);
    assert_true(after >= 90 && after <= 110);
    /* the injection: started at +20m, 5 events, not counted */
    inj_start = db_count(a, "SELECT started_ms FROM incidents WHERE origin = 2");
    assert_true(inj_start >= T0_MS + 20 * MIN_MS && inj_start < T0_MS + 20 * MIN_MS + 1000);
    assert_int_equal(db_count(a, "SELECT event_count FROM incidents WHERE origin = 2"), 5);
    /* the ramp: five times the rate after it as before it */
    snprintf(sql, sizeof sql,
             "SELECT 10 * (SELECT count(*) FROM events WHERE ts >= %lld AND ts < %lld)"
             " / (SELECT count(*) FROM events WHERE ts >= %lld AND ts < %lld)",
             T0_MS + 45 * MIN_MS, T0_MS + 50 * MIN_MS, T0_MS + 20 * MIN_MS, T0_MS + 25 * MIN_MS);
    n = db_count(a, sql);
    print_message("events per minute after the ramp / before: %lld tenths\n", n);
    assert_true(n >= 45 && n <= 55);
}

static void test_scenario_posted_live_skips_the_past_and_applies_the_rest(void **state)
{
    struct proc *p = &h_procs[0];
    const char *const args[] = { "--seed", "32", "--backfill", "1m", NULL };
    struct resp r;
    cJSON *list, *sc, *cfg = NULL;
    long t0;

    (void)state;
    h_proc_start_backfilled(p, "scenlive", "transaction-service", NULL, args, 60000);
    /* the stream started a minute ago: +0s is past, +1m5s a few seconds ahead */
    assert_int_equal(h_http_req(p->port, "POST", "/scenarios",
                                "{\"name\":\"live\",\"steps\":["
                                "{\"at\":\"+0s\",\"set\":{\"anomaly_rate\":0.3}},"
                                "{\"at\":\"+1m5s\",\"set\":{\"anomaly_rate\":0.2}}]}",
                                h_json_ct, &r),
                     0);
    assert_int_equal(r.status, 201);
    list = cJSON_Parse(r.body);
    h_resp_free(&r);
    sc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "scenarios"), 0);
    assert_int_equal(h_jnum(sc, "steps_skipped"), 1);
    assert_int_equal(h_jnum(sc, "steps_done"), 1);
    assert_string_equal(h_jstr(sc, "state"), "running");
    assert_non_null(h_jstr(sc, "next_step_at"));
    cJSON_Delete(list);
    for (t0 = h_now_ms(); h_now_ms() - t0 < 15000; h_sleep_ms(200)) {
        cfg = h_get_json(p->port, "/config");
        if (h_jdbl(cfg, "anomaly_rate") == 0.2)
            break;
        cJSON_Delete(cfg);
        cfg = NULL;
    }
    assert_non_null(cfg); /* the future step applied; the past one never did */
    cJSON_Delete(cfg);
    list = h_get_json(p->port, "/scenarios");
    sc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "scenarios"), 0);
    assert_string_equal(h_jstr(sc, "state"), "done");
    cJSON_Delete(list);
}

static void expect_422(int port, const char *body, const char *field)
{
    struct resp r;
    cJSON *j;

    assert_int_equal(h_http_req(port, "POST", "/scenarios", body, h_json_ct, &r), 0);
    if (r.status != 422)
        fail_msg("POST /scenarios %s: %ld %s", body, r.status, r.body);
    j = cJSON_Parse(r.body);
    assert_string_equal(h_jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "field"), field);
    cJSON_Delete(j);
    h_resp_free(&r);
}

static void test_scenario_bad_ones_are_refused_naming_the_field(void **state)
{
    struct proc *p = &h_procs[0], *a = &h_procs[1];
    const char *const args[] = { "--seed", "33", "--backfill", "1m", NULL };
    char out[4096], file[400];
    cJSON *list;

    (void)state;
    h_proc_start_backfilled(p, "scenbad", "transaction-service", NULL, args, 60000);
    h_proc_start_backfilled(a, "scenbada", "auth-service", NULL, args, 60000);
    expect_422(p->port, "{\"steps\":[{\"at\":\"+1h\",\"set\":{\"anomaly_rate\":2}}]}",
               "steps[0].set.anomaly_rate");
    expect_422(p->port, "{\"steps\":[{\"at\":\"soon\",\"set\":{}}]}", "steps[0].at");
    expect_422(p->port, "{\"steps\":[{\"at\":\"+1h\",\"inject\":{\"type\":\"brute_force\"}}]}",
               "steps[0].inject.type");
    expect_422(a->port, "{\"steps\":[{\"at\":\"+1h\",\"inject\":{\"type\":\"brute_force\","
                        "\"target\":{\"username\":\"nobody-at-all\"}}}]}",
               "steps[0].inject.target.username");
    expect_422(p->port, "{\"steps\":{}}", "steps");
    list = h_get_json(p->port, "/scenarios");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "scenarios")), 0);
    cJSON_Delete(list);

    snprintf(file, sizeof file, "%s/bad.json", p->dir);
    write_file(file, "{\"steps\":[{\"from\":\"+2h\",\"to\":\"+1h\","
                     "\"ramp\":{\"events_per_second\":[1,2]}}]}");
    {
        char db[480];
        snprintf(db, sizeof db, "%s/other.db", p->dir);
        const char *const bad[] = { "--port", "0", "--bind", "127.0.0.1", "--db", db,
                                    "--scenario", file, NULL };
        assert_int_equal(h_proc_run("transaction-service", bad, out, sizeof out), 2);
        assert_non_null(strstr(out, "steps[0].to"));
    }
}

/* Every shipped example loads on every service. */
static void test_scenario_examples_load_everywhere(void **state)
{
    static const char *const files[] = { "quiet-day", "payday-spike",
                                         "credential-stuffing-campaign", "cascading-outage" };
    static const char *const bins[] = { "transaction-service", "auth-service",
                                        "monitoring-service" };

    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        for (size_t k = 0; k < sizeof bins / sizeof bins[0]; k++) {
            struct proc *p = &h_procs[0];
            char file[512];
            cJSON *list, *sc;

            snprintf(file, sizeof file, "%s/config/scenarios/%s.json", BM_SOURCE_DIR, files[i]);
            {
                const char *const args[] = { "--seed", "34", "--start-time", START,
                                             "--backfill", "1m", "--scenario", file, NULL };
                h_proc_init(p, "scenex");
                assert_int_equal(h_proc_start(p, bins[k], args), 0);
            }
            list = h_get_json(p->port, "/scenarios");
            sc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "scenarios"), 0);
            assert_non_null(sc);
            print_message("%s on %s: %lld steps\n", files[i], bins[k], h_jnum(sc, "steps_total"));
            cJSON_Delete(list);
            h_proc_finish(p);
        }
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, h_procs_setup, h_procs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_scenario_backfill_replays_and_each_step_takes_effect),
        T(test_scenario_posted_live_skips_the_past_and_applies_the_rest),
        T(test_scenario_bad_ones_are_refused_naming_the_field),
        T(test_scenario_examples_load_everywhere),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
