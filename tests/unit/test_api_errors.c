/* test_api_errors.c - the API error table and api_fail_set. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api_errors.h"

static void test_api_errors_table_has_an_entry_per_enum_value(void **state)
{
    (void)state;
    assert_int_equal(sizeof(api_error_table) / sizeof(api_error_table[0]), API_ERR_COUNT);
    for (int i = 0; i < API_ERR_COUNT; i++)
        assert_non_null(api_error_table[i].code);
}

static void test_api_errors_statuses_are_4xx_or_5xx(void **state)
{
    (void)state;
    for (int i = 0; i < API_ERR_COUNT; i++) {
        int st = api_error_table[i].status;

        assert_true(st >= 400 && st <= 599);
    }
}

static void test_api_errors_codes_are_unique_non_empty_snake_case(void **state)
{
    (void)state;
    for (int i = 0; i < API_ERR_COUNT; i++) {
        const char *c = api_error_table[i].code;

        assert_true(strlen(c) > 0);
        for (const char *p = c; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int k = 0; k < i; k++)
            assert_string_not_equal(c, api_error_table[k].code);
    }
}

static void test_api_errors_rows_match_their_enum_names(void **state)
{
    (void)state;
    assert_int_equal(api_error_table[API_BAD_PARAM].status, 400);
    assert_string_equal(api_error_table[API_BAD_PARAM].code, "invalid_parameter");
    assert_int_equal(api_error_table[API_UNAUTHORIZED].status, 401);
    assert_int_equal(api_error_table[API_BAD_METHOD].status, 405);
    assert_int_equal(api_error_table[API_TOO_LARGE].status, 413);
    assert_int_equal(api_error_table[API_UNKNOWN_FIELD].status, 422);
    assert_string_equal(api_error_table[API_UNKNOWN_FIELD].code, "unknown_field");
    assert_int_equal(api_error_table[API_UNAVAIL].status, 503);
    assert_string_equal(api_error_table[API_UNAVAIL].code, "service_unavailable");
    assert_int_equal(api_error_table[API_GW_TIMEOUT].status, 504);
}

static void test_api_fail_set_fills_error_field_and_message(void **state)
{
    struct api_fail f;

    (void)state;
    memset(&f, 'x', sizeof(f));
    api_fail_set(&f, API_BAD_VALUE, "anomaly_rate", "must be in [%g, %g], got %g", 0.0,
                 0.5, 0.9);
    assert_int_equal(f.err, API_BAD_VALUE);
    assert_string_equal(f.field, "anomaly_rate");
    assert_string_equal(f.msg, "must be in [0, 0.5], got 0.9");
}

static void test_api_fail_set_uses_empty_field_for_null(void **state)
{
    struct api_fail f;

    (void)state;
    memset(&f, 'x', sizeof(f));
    api_fail_set(&f, API_BAD_JSON, NULL, "unparseable body");
    assert_string_equal(f.field, "");
    assert_string_equal(f.msg, "unparseable body");
}

static void test_api_fail_set_truncates_long_text_with_marker(void **state)
{
    struct api_fail f;
    char big[400];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    api_fail_set(&f, API_BAD_PARAM, big, "%s", big);
    assert_int_equal(strlen(f.field), sizeof(f.field) - 1);
    assert_int_equal(strlen(f.msg), sizeof(f.msg) - 1);
    assert_string_equal(f.msg + sizeof(f.msg) - 4, "...");
    assert_string_equal(f.field + sizeof(f.field) - 4, "...");
}

static void test_api_fail_set_truncation_does_not_split_utf8(void **state)
{
    struct api_fail f;
    char big[400];
    size_t n;

    (void)state;
    /* 'a' then two-byte characters: the cut falls inside one of them. */
    big[0] = 'a';
    for (size_t i = 1; i + 2 < sizeof(big); i += 2) {
        big[i] = '\xc3';
        big[i + 1] = '\xa9';
    }
    big[sizeof(big) - 2] = '\0';
    api_fail_set(&f, API_BAD_VALUE, "f", "%s", big);
    n = strlen(f.msg);
    assert_string_equal(f.msg + n - 3, "...");
    /* Before the marker: a whole character, never a lone lead byte. */
    assert_int_equal((unsigned char)f.msg[n - 4], 0xa9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_errors_table_has_an_entry_per_enum_value),
        cmocka_unit_test(test_api_errors_statuses_are_4xx_or_5xx),
        cmocka_unit_test(test_api_errors_codes_are_unique_non_empty_snake_case),
        cmocka_unit_test(test_api_errors_rows_match_their_enum_names),
        cmocka_unit_test(test_api_fail_set_fills_error_field_and_message),
        cmocka_unit_test(test_api_fail_set_uses_empty_field_for_null),
        cmocka_unit_test(test_api_fail_set_truncates_long_text_with_marker),
        cmocka_unit_test(test_api_fail_set_truncation_does_not_split_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
