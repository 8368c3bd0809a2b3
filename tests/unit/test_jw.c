/* test_jw.c - the sticky-failure JSON writer and the event envelope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jw.h"

static void test_jw_writes_strings_null_and_fixed_point(void **state)
{
    struct buf b;
    struct jw w;

    (void)state;
    buf_init(&b, 1024);
    jw_init(&w, &b, false);
    jw_raw(&w, "[");
    jw_str(&w, "a\"b");
    jw_raw(&w, ",");
    jw_str(&w, "");
    jw_raw(&w, ",");
    jw_str(&w, NULL);
    jw_raw(&w, ",");
    jw_fixed(&w, -12345, 2);
    jw_raw(&w, ",");
    jw_fixed(&w, 42, 0);
    jw_raw(&w, "]");
    assert_int_equal(jw_finish(&w), BM_OK);
    assert_string_equal(b.data, "[\"a\\\"b\",null,null,-123.45,42]");
    buf_free(&b);
}

static void test_jw_raw_mode_copies_strings_as_they_are(void **state)
{
    struct buf b;
    struct jw w;

    (void)state;
    buf_init(&b, 1024);
    jw_init(&w, &b, true);
    jw_str(&w, "New York");
    jw_str(&w, "");
    assert_int_equal(jw_finish(&w), BM_OK);
    assert_string_equal(b.data, "\"New York\"null");
    buf_free(&b);
}

static void test_jw_envelope_has_the_shared_fields_in_order(void **state)
{
    struct buf b;
    struct jw w;

    (void)state;
    buf_init(&b, 1024);
    jw_init(&w, &b, true);
    jw_event_head(&w, "event_id", "0f0e", 1767225600123LL, 77);
    jw_raw(&w, ",\"x\":1");
    jw_event_tail(&w, "brute_force", "abcd", false);
    assert_int_equal(jw_finish(&w), BM_OK);
    assert_string_equal(b.data,
                        "{\"event_id\":\"0f0e\",\"timestamp\":\"2026-01-01T00:00:00.123Z\","
                        "\"sequence\":77,\"x\":1,\"is_anomaly\":true,\"anomaly_type\":"
                        "\"brute_force\",\"incident_id\":\"abcd\",\"origin\":\"generated\"}");
    buf_reset(&b);
    jw_init(&w, &b, false);
    jw_event_tail(&w, NULL, "", true);
    assert_int_equal(jw_finish(&w), BM_OK);
    assert_string_equal(b.data, ",\"is_anomaly\":false,\"anomaly_type\":null,"
                                "\"incident_id\":null,\"origin\":\"api\"}");
    buf_free(&b);
}

/* The first failure sticks and the buffer goes back to where the writer
 * began, not to empty: an encoder appends to a batch. */
static void test_jw_failure_sticks_and_cuts_back_to_the_start(void **state)
{
    struct buf b;
    struct jw w;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_puts(&b, "keep,"), BM_OK);
    jw_init(&w, &b, false);
    jw_raw(&w, "{\"k\":");
    jw_str(&w, "a string far too long for the cap");
    assert_int_not_equal(w.rc, BM_OK);
    jw_raw(&w, "}"); /* would fit, but the writer has failed */
    assert_int_equal(jw_finish(&w), BM_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "keep,");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jw_writes_strings_null_and_fixed_point),
        cmocka_unit_test(test_jw_raw_mode_copies_strings_as_they_are),
        cmocka_unit_test(test_jw_envelope_has_the_shared_fields_in_order),
        cmocka_unit_test(test_jw_failure_sticks_and_cuts_back_to_the_start),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
