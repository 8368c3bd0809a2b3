/* test_config.c - the configuration table: defaults, file, env, flags,
 * runtime changes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "config.h"
#include "json.h"

static const char *shipped = BM_SOURCE_DIR "/config/anomaly_config.json";

static enum bm_rc load(struct bm_config *c, enum bm_svc svc, int argc, const char **argv,
                       const char **env, char *err)
{
    return cfg_load(c, svc, argc, (char **)argv, (char *const *)env, err, 256);
}

static enum bm_rc file_text(struct bm_config *c, enum bm_svc svc, const char *text, char *err)
{
    cfg_defaults(c, svc);
    return cfg_apply_file_text(c, svc, text, strlen(text), err, 256);
}

static void test_config_defaults_match_spec(void **state)
{
    struct bm_config c;

    (void)state;
    cfg_defaults(&c, SVC_TRANSACTION);
    assert_int_equal(c.port, 8081);
    assert_string_equal(c.bind, "0.0.0.0");
    assert_string_equal(c.db_path, "data/transaction-service.db");
    assert_true(c.anomaly_rate == 0.02);
    assert_true(c.events_per_second == 100);
    assert_int_equal(c.retention_events, 500000);
    assert_int_equal(c.batch_size, 500);
    assert_false(c.paused);
    assert_true(c.segments[0] == 0.70 && c.segments[1] == 0.25 && c.segments[2] == 0.05);
    assert_true(c.time_shaping);
    /* no <type>_rate set: each type gets an equal share of anomaly_rate */
    assert_true(c.weights[0] == CFG_RATE_UNSET && c.weights[1] == CFG_RATE_UNSET &&
                c.weights[2] == CFG_RATE_UNSET);
    cfg_defaults(&c, SVC_GATEWAY);
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.poll_interval_ms, 1000);
    assert_int_equal(c.upstream_timeout_ms, 800);
}

static void test_config_shipped_file_is_valid_for_every_process(void **state)
{
    const char *argv[] = { "x", "--config", shipped, NULL };
    const char *env[] = { NULL };
    char err[256] = "";
    struct bm_config c;

    (void)state;
    for (int s = 0; s < SVC_COUNT; s++) {
        assert_int_equal(load(&c, (enum bm_svc)s, 3, argv, env, err), BM_OK);
        assert_string_equal(err, "");
    }
}

static void test_config_rejects_unknown_file_key_naming_it(void **state)
{
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_not_equal(file_text(&c, SVC_TRANSACTION,
                                   "{\"generation_settings\":{\"events_per_sekond\":5}}", err),
                         BM_OK);
    assert_non_null(strstr(err, "generation_settings.events_per_sekond"));
}

static void test_config_rejects_ill_typed_key_in_another_section(void **state)
{
    char err[256] = "";
    struct bm_config c;

    (void)state;
    /* transaction-service validates the auth section too */
    assert_int_not_equal(
        file_text(&c, SVC_TRANSACTION,
                  "{\"anomaly_settings\":{\"auth_service\":{\"brute_force_rate\":\"x\"}}}", err),
        BM_OK);
    assert_non_null(strstr(err, "brute_force_rate"));
}

static void test_config_section_rate_overrides_global(void **state)
{
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_equal(file_text(&c, SVC_TRANSACTION,
                               "{\"anomaly_settings\":{\"global_anomaly_rate\":0.1,"
                               "\"transaction_service\":{\"anomaly_rate\":0.2},"
                               "\"auth_service\":{\"anomaly_rate\":0.3}}}",
                               err),
                     BM_OK);
    assert_true(c.anomaly_rate == 0.2);
    assert_int_equal(file_text(&c, SVC_MONITORING,
                               "{\"anomaly_settings\":{\"global_anomaly_rate\":0.1,"
                               "\"transaction_service\":{\"anomaly_rate\":0.2}}}",
                               err),
                     BM_OK);
    assert_true(c.anomaly_rate == 0.1);
}

static void test_config_rejects_rate_above_half(void **state)
{
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_not_equal(
        file_text(&c, SVC_TRANSACTION,
                  "{\"anomaly_settings\":{\"transaction_service\":{\"anomaly_rate\":0.7}}}", err),
        BM_OK);
    assert_non_null(strstr(err, "anomaly_rate"));
}

static void test_config_segments_must_sum_to_one(void **state)
{
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_not_equal(file_text(&c, SVC_TRANSACTION,
                                   "{\"generation_settings\":{\"customer_segments\":"
                                   "{\"retail\":0.5,\"business\":0.2,\"premium\":0.1}}}",
                                   err),
                         BM_OK);
    assert_non_null(strstr(err, "customer_segments"));
}

static void test_config_alias_conflict_in_file_is_an_error(void **state)
{
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_not_equal(file_text(&c, SVC_TRANSACTION,
                                   "{\"anomaly_settings\":{\"transaction_service\":"
                                   "{\"suspicious_high_amount_rate\":0.001,"
                                   "\"suspicious_transaction_rate\":0.002}}}",
                                   err),
                         BM_OK);
    assert_int_equal(file_text(&c, SVC_TRANSACTION,
                               "{\"anomaly_settings\":{\"transaction_service\":"
                               "{\"suspicious_transaction_rate\":0.003}}}",
                               err),
                     BM_OK);
    assert_true(c.weights[0] == 0.003);
}

static void test_config_precedence_file_env_flag(void **state)
{
    char path[] = "/tmp/bmcfg-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    const char *env[] = { "PORT=9001", "LOG_LEVEL=warn", NULL };
    const char *argv[] = { "x", "--config", path, "--port", "9002", NULL };
    char err[256] = "";
    struct bm_config c;

    (void)state;
    fputs("{\"generation_settings\":{\"events_per_second\":7}}", f);
    fclose(f);
    assert_int_equal(load(&c, SVC_TRANSACTION, 5, argv, env, err), BM_OK);
    assert_true(c.events_per_second == 7); /* file over default */
    assert_int_equal(c.port, 9002);        /* flag over env */
    assert_int_equal(c.log_level, 2);      /* env over default */
    remove(path);
}

static void test_config_missing_explicit_file_fails(void **state)
{
    const char *argv[] = { "x", "--config", "/nonexistent/bm.json", NULL };
    const char *env[] = { NULL };
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_not_equal(load(&c, SVC_TRANSACTION, 3, argv, env, err), BM_OK);
    assert_non_null(strstr(err, "/nonexistent/bm.json"));
}

static void test_config_rejects_service_flag_on_gateway(void **state)
{
    const char *argv[] = { "x", "--seed", "5", NULL };
    const char *env[] = { "CONFIG_PATH=" BM_SOURCE_DIR "/config/anomaly_config.json", NULL };
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_not_equal(load(&c, SVC_GATEWAY, 3, argv, env, err), BM_OK);
    assert_non_null(strstr(err, "--seed"));
    assert_int_equal(load(&c, SVC_TRANSACTION, 3, argv, env, err), BM_OK);
    assert_true(c.seed_set && c.seed == 5);
}

/* The server keys (the front door's timeouts and cap) are every
 * daemon's, the gateway's included. */
static void test_config_server_keys_apply_to_the_gateway(void **state)
{
    const char *argv[] = { "x", "--header-timeout-s", "3", "--idle-timeout-s", "7",
                           "--max-connections", "500", NULL };
    const char *env[] = { "CONFIG_PATH=" BM_SOURCE_DIR "/config/anomaly_config.json", NULL };
    char err[256] = "";
    struct bm_config c;

    (void)state;
    assert_int_equal(load(&c, SVC_GATEWAY, 7, argv, env, err), BM_OK);
    assert_int_equal(c.header_timeout_s, 3);
    assert_int_equal(c.idle_timeout_s, 7);
    assert_int_equal(c.max_connections, 500);
    assert_int_equal(file_text(&c, SVC_GATEWAY,
                               "{\"server\":{\"header_timeout_s\":4,\"max_connections\":9}}",
                               err),
                     BM_OK);
    assert_int_equal(c.header_timeout_s, 4);
    assert_int_equal(c.max_connections, 9);
}

static void test_config_rejects_bad_flag_values(void **state)
{
    const char *env[] = { "CONFIG_PATH=" BM_SOURCE_DIR "/config/anomaly_config.json", NULL };
    const char *bad[][2] = {
        { "--port", "70000" }, { "--port", "12a" },     { "--backfill", "366d" },
        { "--backfill", "5w" }, { "--start-time", "2026-13-01" }, { "--log-level", "loud" },
        { "--seed", "-1" }, { "--start-time", "1969-12-31T23:59:59Z" },
    };
    char err[256];
    struct bm_config c;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[] = { "x", bad[i][0], bad[i][1], NULL };
        err[0] = '\0';
        assert_int_not_equal(load(&c, SVC_TRANSACTION, 3, argv, env, err), BM_OK);
        assert_non_null(strstr(err, bad[i][0]));
    }
}

static enum bm_rc runtime(struct bm_config *c, enum bm_svc svc, const char *json,
                          struct api_fail *f)
{
    cJSON *o = cJSON_Parse(json);
    enum bm_rc rc = cfg_apply_runtime(c, svc, o, f);
    cJSON_Delete(o);
    return rc;
}

static void test_config_runtime_is_all_or_nothing(void **state)
{
    struct bm_config c, before;
    struct api_fail f;

    (void)state;
    cfg_defaults(&c, SVC_TRANSACTION);
    before = c;
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION,
                                 "{\"anomaly_rate\":0.1,\"events_per_second\":0}", &f),
                         BM_OK);
    assert_int_equal(f.err, API_BAD_VALUE);
    assert_string_equal(f.field, "events_per_second");
    assert_memory_equal(&c, &before, sizeof(c));
}

static void test_config_runtime_error_kinds(void **state)
{
    struct bm_config c;
    struct api_fail f;

    (void)state;
    cfg_defaults(&c, SVC_TRANSACTION);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"bogus\":1}", &f), BM_OK);
    assert_int_equal(f.err, API_UNKNOWN_FIELD);
    assert_string_equal(f.field, "bogus");
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"paused\":1}", &f), BM_OK);
    assert_int_equal(f.err, API_BAD_TYPE);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"retention_events\":1000.5}", &f),
                         BM_OK);
    assert_int_equal(f.err, API_BAD_TYPE);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"anomaly_rate\":\"0.1\"}", &f), BM_OK);
    assert_int_equal(f.err, API_BAD_TYPE);
    /* another service's key is unknown here */
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"brute_force_rate\":1}", &f), BM_OK);
    assert_int_equal(f.err, API_UNKNOWN_FIELD);
    /* static settings are not runtime */
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"batch_size\":10}", &f), BM_OK);
    assert_int_equal(f.err, API_UNKNOWN_FIELD);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "[1]", &f), BM_OK);
}

static void test_config_runtime_alias_sets_key_and_json_lists_both(void **state)
{
    struct bm_config c;
    struct api_fail f;
    struct buf b;
    cJSON *o;

    (void)state;
    cfg_defaults(&c, SVC_TRANSACTION);
    assert_int_equal(runtime(&c, SVC_TRANSACTION,
                             "{\"suspicious_transaction_rate\":0.004,\"paused\":true}", &f),
                     BM_OK);
    assert_true(c.weights[0] == 0.004 && c.paused);
    buf_init(&b, 1 << 16);
    assert_int_equal(cfg_runtime_json(&c, SVC_TRANSACTION, &b), BM_OK);
    o = cJSON_Parse(b.data);
    assert_non_null(o);
    assert_true(cJSON_GetObjectItem(o, "suspicious_high_amount_rate")->valuedouble == 0.004);
    assert_true(cJSON_GetObjectItem(o, "suspicious_transaction_rate")->valuedouble == 0.004);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "paused")));
    assert_null(cJSON_GetObjectItem(o, "brute_force_rate"));
    cJSON_Delete(o);
    buf_free(&b);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION,
                                 "{\"suspicious_transaction_rate\":1,"
                                 "\"suspicious_high_amount_rate\":2}",
                                 &f),
                         BM_OK);
}

static void test_config_runtime_diff_round_trips(void **state)
{
    struct bm_config base, c, again;
    struct api_fail f;
    struct buf b;
    cJSON *o;

    (void)state;
    cfg_defaults(&base, SVC_TRANSACTION);
    c = base;
    assert_int_equal(runtime(&c, SVC_TRANSACTION, "{\"anomaly_rate\":0.03,\"paused\":true}", &f),
                     BM_OK);
    buf_init(&b, 1 << 16);
    assert_int_equal(cfg_runtime_diff_json(&c, &base, SVC_TRANSACTION, &b), BM_OK);
    o = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetArraySize(o), 2);
    again = base;
    assert_int_equal(cfg_apply_runtime(&again, SVC_TRANSACTION, o, &f), BM_OK);
    assert_true(again.anomaly_rate == 0.03 && again.paused);
    cJSON_Delete(o);
    buf_free(&b);
}


/* The seed's file means 0.8% suspicious high amounts of 1.5% anomalies:
 * the other two types share the 0.7% left; editing only the alias in
 * the shipped file works. */
static void test_config_type_rates_are_absolute_and_share_what_is_left(void **state)
{
    const char *argv[] = { "x", "--config", shipped, NULL };
    const char *env[] = { NULL };
    char err[256] = "";
    double r[GEN_MAX_TYPES];
    struct gen_params p;
    struct bm_config c;

    (void)state;
    assert_int_equal(load(&c, SVC_TRANSACTION, 3, argv, env, err), BM_OK);
    assert_int_equal(cfg_type_rates(&c, SVC_TRANSACTION, r), 3);
    assert_true(fabs(r[0] - 0.008) < 1e-12);
    assert_true(fabs(r[1] - 0.0035) < 1e-12 && fabs(r[2] - 0.0035) < 1e-12);
    cfg_gen_params(&c, SVC_TRANSACTION, &p);
    assert_true(fabs(p.anomaly_rate - 0.015) < 1e-12);
    /* the shipped text with only the alias's value edited */
    assert_int_equal(file_text(&c, SVC_TRANSACTION,
                               "{\"anomaly_settings\":{\"transaction_service\":"
                               "{\"anomaly_rate\":0.015,\"suspicious_transaction_rate\":0.01}}}",
                               err),
                     BM_OK);
    cfg_type_rates(&c, SVC_TRANSACTION, r);
    assert_true(fabs(r[0] - 0.01) < 1e-12 && fabs(r[1] - 0.0025) < 1e-12);
    /* every type set below anomaly_rate: each keeps its own rate */
    cfg_defaults(&c, SVC_AUTH);
    assert_int_equal(file_text(&c, SVC_AUTH,
                               "{\"anomaly_settings\":{\"auth_service\":{\"anomaly_rate\":0.05,"
                               "\"brute_force_rate\":0.01,\"credential_stuffing_rate\":0,"
                               "\"unusual_location_rate\":0.002}}}",
                               err),
                     BM_OK);
    cfg_gen_params(&c, SVC_AUTH, &p);
    assert_true(p.weights[0] == 0.01 && p.weights[1] == 0 && p.weights[2] == 0.002);
    assert_true(fabs(p.anomaly_rate - 0.012) < 1e-12);
}

static void test_config_type_rates_above_anomaly_rate_are_refused_naming_it(void **state)
{
    char err[256] = "";
    struct bm_config c;
    struct api_fail f;

    (void)state;
    cfg_defaults(&c, SVC_TRANSACTION);
    assert_int_not_equal(file_text(&c, SVC_TRANSACTION,
                                   "{\"anomaly_settings\":{\"transaction_service\":"
                                   "{\"anomaly_rate\":0.01,\"fraud_pattern_rate\":0.006,"
                                   "\"money_laundering_rate\":0.005}}}",
                                   err),
                         BM_OK);
    assert_non_null(strstr(err, "anomaly_rate"));
    /* another service's section is checked too */
    assert_int_not_equal(file_text(&c, SVC_TRANSACTION,
                                   "{\"anomaly_settings\":{\"global_anomaly_rate\":0.01,"
                                   "\"auth_service\":{\"brute_force_rate\":0.02}}}",
                                   err),
                         BM_OK);
    assert_non_null(strstr(err, "auth_service"));
    cfg_defaults(&c, SVC_TRANSACTION);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"fraud_pattern_rate\":0.03}", &f),
                         BM_OK);
    assert_int_equal(f.err, API_BAD_VALUE);
    assert_string_equal(f.field, "anomaly_rate");
    assert_int_equal(runtime(&c, SVC_TRANSACTION,
                             "{\"fraud_pattern_rate\":0.03,\"anomaly_rate\":0.03}", &f),
                     BM_OK);
    assert_int_not_equal(runtime(&c, SVC_TRANSACTION, "{\"anomaly_rate\":0.02}", &f), BM_OK);
    assert_string_equal(f.field, "anomaly_rate");
    assert_true(c.anomaly_rate == 0.03); /* nothing changed */
}

static void test_config_json_shows_effective_type_rates_and_time_shaping(void **state)
{
    struct bm_config c, base;
    struct api_fail f;
    struct buf b;
    cJSON *o;

    (void)state;
    cfg_defaults(&c, SVC_AUTH);
    base = c;
    assert_int_equal(runtime(&c, SVC_AUTH, "{\"brute_force_rate\":0.01,\"time_shaping\":false}",
                             &f),
                     BM_OK);
    assert_false(c.time_shaping);
    buf_init(&b, 1 << 16);
    assert_int_equal(cfg_runtime_json(&c, SVC_AUTH, &b), BM_OK);
    o = cJSON_Parse(b.data);
    assert_non_null(o);
    assert_true(cJSON_GetObjectItem(o, "brute_force_rate")->valuedouble == 0.01);
    assert_true(fabs(cJSON_GetObjectItem(o, "credential_stuffing_rate")->valuedouble - 0.005) <
                1e-12);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "time_shaping")));
    cJSON_Delete(o);
    /* persisted: only what was set, not the derived shares */
    buf_reset(&b);
    assert_int_equal(cfg_runtime_diff_json(&c, &base, SVC_AUTH, &b), BM_OK);
    assert_string_equal(b.data, "{\"time_shaping\":false,\"brute_force_rate\":0.01}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_match_spec),
        cmocka_unit_test(test_config_shipped_file_is_valid_for_every_process),
        cmocka_unit_test(test_config_rejects_unknown_file_key_naming_it),
        cmocka_unit_test(test_config_rejects_ill_typed_key_in_another_section),
        cmocka_unit_test(test_config_section_rate_overrides_global),
        cmocka_unit_test(test_config_rejects_rate_above_half),
        cmocka_unit_test(test_config_segments_must_sum_to_one),
        cmocka_unit_test(test_config_alias_conflict_in_file_is_an_error),
        cmocka_unit_test(test_config_precedence_file_env_flag),
        cmocka_unit_test(test_config_missing_explicit_file_fails),
        cmocka_unit_test(test_config_rejects_service_flag_on_gateway),
        cmocka_unit_test(test_config_server_keys_apply_to_the_gateway),
        cmocka_unit_test(test_config_rejects_bad_flag_values),
        cmocka_unit_test(test_config_runtime_is_all_or_nothing),
        cmocka_unit_test(test_config_runtime_error_kinds),
        cmocka_unit_test(test_config_runtime_alias_sets_key_and_json_lists_both),
        cmocka_unit_test(test_config_runtime_diff_round_trips),
        cmocka_unit_test(test_config_type_rates_are_absolute_and_share_what_is_left),
        cmocka_unit_test(test_config_type_rates_above_anomaly_rate_are_refused_naming_it),
        cmocka_unit_test(test_config_json_shows_effective_type_rates_and_time_shaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
