/* test_sink.c - the sink's configuration check, its settings in the
 * config table, and what /health and /metrics show without a sink. The
 * delivery itself runs against kinesalite in
 * tests/integration/test_kinesis_sink.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "sink.h"

static enum bm_rc check(const char *target, char *err, size_t errlen)
{
    struct bm_config c;

    cfg_defaults(&c, SVC_TRANSACTION);
    snprintf(c.sink, sizeof(c.sink), "%s", target);
    return sink_check_config(&c, err, errlen);
}

static void test_sink_check_accepts_none_and_kinesis_streams(void **state)
{
    char err[256] = "";
    char longest[8 + SINK_STREAM_MAX + 1];

    (void)state;
    assert_int_equal(check("", err, sizeof(err)), BM_OK);
    assert_int_equal(check("kinesis:bankmock-events", err, sizeof(err)), BM_OK);
    assert_int_equal(check("kinesis:a.b_C-9", err, sizeof(err)), BM_OK);
    memcpy(longest, "kinesis:", 8);
    memset(longest + 8, 'x', SINK_STREAM_MAX);
    longest[8 + SINK_STREAM_MAX] = '\0';
    assert_int_equal(check(longest, err, sizeof(err)), BM_OK);
}

static void test_sink_check_rejects_other_sinks_and_bad_stream_names(void **state)
{
    char err[256] = "";
    char too_long[8 + SINK_STREAM_MAX + 2];

    (void)state;
    assert_int_equal(check("kafka:events", err, sizeof(err)), BM_EINVAL);
    assert_non_null(strstr(err, "kinesis:STREAM"));
    assert_non_null(strstr(err, "kafka:events"));
    assert_int_equal(check("kinesis:", err, sizeof(err)), BM_EINVAL);
    assert_int_equal(check("kinesis:has space", err, sizeof(err)), BM_EINVAL);
    assert_int_equal(check("kinesis:a/b", err, sizeof(err)), BM_EINVAL);
    assert_int_equal(check("Kinesis:events", err, sizeof(err)), BM_EINVAL);
    memcpy(too_long, "kinesis:", 8);
    memset(too_long + 8, 'x', SINK_STREAM_MAX + 1);
    too_long[8 + SINK_STREAM_MAX + 1] = '\0';
    assert_int_equal(check(too_long, err, sizeof(err)), BM_EINVAL);
}

static void test_sink_settings_come_from_file_env_and_flags(void **state)
{
    struct bm_config c;
    char err[256] = "";
    char *argv[] = { "transaction-service", "--sink", "kinesis:from-flag",
                     "--sink-max-lag-events", "2000", NULL };
    char *argv_none[] = { "transaction-service", NULL };
    char *envp[] = { "BANKMOCK_SINK=kinesis:from-env", "BANKMOCK_SINK_MAX_LAG_EVENTS=3000", NULL };
    const char *file = "{\"sink\":{\"target\":\"kinesis:from-file\",\"max_lag_events\":5000}}";

    (void)state;
    cfg_defaults(&c, SVC_TRANSACTION);
    assert_string_equal(c.sink, "");
    assert_int_equal(c.sink_max_lag_events, 1000000);
    assert_int_equal(cfg_apply_file_text(&c, SVC_TRANSACTION, file, strlen(file), err,
                                         sizeof(err)),
                     BM_OK);
    assert_string_equal(c.sink, "kinesis:from-file");
    assert_int_equal(c.sink_max_lag_events, 5000);
    assert_int_equal(cfg_load(&c, SVC_TRANSACTION, 1, argv_none, envp, err, sizeof(err)), BM_OK);
    assert_string_equal(c.sink, "kinesis:from-env");
    assert_int_equal(c.sink_max_lag_events, 3000);
    assert_int_equal(cfg_load(&c, SVC_TRANSACTION, 5, argv, envp, err, sizeof(err)), BM_OK);
    assert_string_equal(c.sink, "kinesis:from-flag");
    assert_int_equal(c.sink_max_lag_events, 2000);
}

static void test_sink_off_shows_state_off_in_health_json(void **state)
{
    struct buf b;
    struct sink_status st;

    (void)state;
    sink_status(NULL, &st);
    assert_string_equal(st.state, "off");
    buf_init(&b, 1024);
    assert_int_equal(sink_json(NULL, true, &b), BM_OK);
    assert_int_equal(buf_putc(&b, '\0'), BM_OK);
    assert_string_equal(b.data, ",\"sink\":{\"state\":\"off\",\"stream\":null,\"error\":null,"
                                "\"lag_events\":0,\"lag_seconds\":0.000,\"delivered\":0,"
                                "\"dropped\":0}");
    buf_reset(&b);
    assert_int_equal(sink_prometheus(NULL, "transaction-service", &b), BM_OK);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_check_accepts_none_and_kinesis_streams),
        cmocka_unit_test(test_sink_check_rejects_other_sinks_and_bad_stream_names),
        cmocka_unit_test(test_sink_settings_come_from_file_env_and_flags),
        cmocka_unit_test(test_sink_off_shows_state_off_in_health_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
