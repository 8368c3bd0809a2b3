/* test_parse.c - strict number, bool and duration parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "parse.h"

static void test_parse_i64_accepts_plain_decimal(void **state)
{
    int64_t v = 0;

    (void)state;
    assert_int_equal(parse_i64("0", INT64_MIN, INT64_MAX, &v), BM_OK);
    assert_true(v == 0);
    assert_int_equal(parse_i64("8081", 0, 65535, &v), BM_OK);
    assert_true(v == 8081);
    assert_int_equal(parse_i64("-42", -100, 100, &v), BM_OK);
    assert_true(v == -42);
    assert_int_equal(parse_i64("007", 0, 10, &v), BM_OK);
    assert_true(v == 7);
}

static void test_parse_i64_accepts_int64_limits(void **state)
{
    int64_t v = 0;

    (void)state;
    assert_int_equal(parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), BM_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), BM_OK);
    assert_true(v == INT64_MIN);
}

static void test_parse_i64_rejects_trailing_garbage(void **state)
{
    int64_t v = 5;

    (void)state;
    assert_int_equal(parse_i64("12abc", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("12 ", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("1.5", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("0x10", 0, 100, &v), BM_EINVAL);
    assert_true(v == 5); /* untouched on failure */
}

static void test_parse_i64_rejects_leading_space_sign_and_empty(void **state)
{
    int64_t v;

    (void)state;
    assert_int_equal(parse_i64("", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64(" 12", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("\t12", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("+12", 0, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("-", -100, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64("--1", -100, 100, &v), BM_EINVAL);
    assert_int_equal(parse_i64(NULL, 0, 100, &v), BM_EINVAL);
}

static void test_parse_i64_rejects_out_of_range(void **state)
{
    int64_t v;

    (void)state;
    assert_int_equal(parse_i64("101", 0, 100, &v), BM_ERANGE);
    assert_int_equal(parse_i64("-1", 0, 100, &v), BM_ERANGE);
    assert_int_equal(parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), BM_ERANGE);
    assert_int_equal(parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v),
                     BM_ERANGE);
    assert_int_equal(parse_i64("99999999999999999999999", 0, 100, &v), BM_ERANGE);
}

static void test_parse_u64_accepts_full_range(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(parse_u64("0", &v), BM_OK);
    assert_true(v == 0);
    assert_int_equal(parse_u64("18446744073709551615", &v), BM_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(parse_u64("12345", &v), BM_OK);
    assert_true(v == 12345);
}

static void test_parse_u64_rejects_negative_that_strtoull_would_wrap(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(parse_u64("-1", &v), BM_EINVAL);
    assert_int_equal(parse_u64("+1", &v), BM_EINVAL);
    assert_int_equal(parse_u64(" 1", &v), BM_EINVAL);
    assert_int_equal(parse_u64("1x", &v), BM_EINVAL);
    assert_int_equal(parse_u64("", &v), BM_EINVAL);
    assert_true(v == 7);
}

static void test_parse_u64_rejects_overflow(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(parse_u64("18446744073709551616", &v), BM_ERANGE);
}

static void test_parse_double_accepts_decimal_forms(void **state)
{
    double v = 0;

    (void)state;
    assert_int_equal(parse_double("0.05", 0, 1, &v), BM_OK);
    assert_true(v == 0.05);
    assert_int_equal(parse_double("-2.5", -10, 10, &v), BM_OK);
    assert_true(v == -2.5);
    assert_int_equal(parse_double("100", 0, 5000, &v), BM_OK);
    assert_true(v == 100);
    assert_int_equal(parse_double("1e-2", 0, 1, &v), BM_OK);
    assert_true(v == 0.01);
    assert_int_equal(parse_double("2.5E+1", 0, 100, &v), BM_OK);
    assert_true(v == 25);
    assert_int_equal(parse_double(".5", 0, 1, &v), BM_OK);
    assert_true(v == 0.5);
}

static void test_parse_double_rejects_nan_inf_and_hex(void **state)
{
    double v = 3;

    (void)state;
    assert_int_equal(parse_double("nan", -1e308, 1e308, &v), BM_EINVAL);
    assert_int_equal(parse_double("NaN", -1e308, 1e308, &v), BM_EINVAL);
    assert_int_equal(parse_double("inf", -1e308, 1e308, &v), BM_EINVAL);
    assert_int_equal(parse_double("-Infinity", -1e308, 1e308, &v), BM_EINVAL);
    assert_int_equal(parse_double("0x1p3", -1e308, 1e308, &v), BM_EINVAL);
    assert_int_equal(parse_double("0x10", -1e308, 1e308, &v), BM_EINVAL);
    assert_true(v == 3);
}

static void test_parse_double_rejects_empty_space_and_garbage(void **state)
{
    double v;

    (void)state;
    assert_int_equal(parse_double("", 0, 1, &v), BM_EINVAL);
    assert_int_equal(parse_double(" 0.5", 0, 1, &v), BM_EINVAL);
    assert_int_equal(parse_double("0.5 ", 0, 1, &v), BM_EINVAL);
    assert_int_equal(parse_double("0.5x", 0, 1, &v), BM_EINVAL);
    assert_int_equal(parse_double(".", 0, 1, &v), BM_EINVAL);
    assert_int_equal(parse_double("-", 0, 1, &v), BM_EINVAL);
    assert_int_equal(parse_double("1e", 0, 10, &v), BM_EINVAL);
    assert_int_equal(parse_double("1e+", 0, 10, &v), BM_EINVAL);
    assert_int_equal(parse_double("+1", 0, 10, &v), BM_EINVAL);
    assert_int_equal(parse_double("1,5", 0, 10, &v), BM_EINVAL);
    assert_int_equal(parse_double(NULL, 0, 10, &v), BM_EINVAL);
}

static void test_parse_double_rejects_out_of_range(void **state)
{
    double v;

    (void)state;
    assert_int_equal(parse_double("0.51", 0, 0.5, &v), BM_ERANGE);
    assert_int_equal(parse_double("-0.01", 0, 0.5, &v), BM_ERANGE);
    assert_int_equal(parse_double("1e999", -1e308, 1e308, &v), BM_ERANGE);
    assert_int_equal(parse_double("0.5", 0, 0.5, &v), BM_OK);
}

static void test_parse_bool_accepts_words_and_digits(void **state)
{
    bool b = false;

    (void)state;
    assert_int_equal(parse_bool("true", &b), BM_OK);
    assert_true(b);
    assert_int_equal(parse_bool("false", &b), BM_OK);
    assert_false(b);
    assert_int_equal(parse_bool("1", &b), BM_OK);
    assert_true(b);
    assert_int_equal(parse_bool("0", &b), BM_OK);
    assert_false(b);
}

static void test_parse_bool_rejects_anything_else(void **state)
{
    bool b;

    (void)state;
    assert_int_equal(parse_bool("yes", &b), BM_EINVAL);
    assert_int_equal(parse_bool("True", &b), BM_EINVAL);
    assert_int_equal(parse_bool("true ", &b), BM_EINVAL);
    assert_int_equal(parse_bool("", &b), BM_EINVAL);
    assert_int_equal(parse_bool("2", &b), BM_EINVAL);
    assert_int_equal(parse_bool(NULL, &b), BM_EINVAL);
}

static void test_parse_duration_applies_units(void **state)
{
    int64_t s = -1;

    (void)state;
    assert_int_equal(parse_duration("0s", &s), BM_OK);
    assert_true(s == 0);
    assert_int_equal(parse_duration("90s", &s), BM_OK);
    assert_true(s == 90);
    assert_int_equal(parse_duration("15m", &s), BM_OK);
    assert_true(s == 900);
    assert_int_equal(parse_duration("2h", &s), BM_OK);
    assert_true(s == 7200);
    assert_int_equal(parse_duration("7d", &s), BM_OK);
    assert_true(s == 604800);
}

static void test_parse_duration_accepts_exactly_365_days(void **state)
{
    int64_t s = 0;

    (void)state;
    assert_int_equal(parse_duration("365d", &s), BM_OK);
    assert_true(s == 31536000);
    assert_int_equal(parse_duration("8760h", &s), BM_OK);
    assert_true(s == 31536000);
    assert_int_equal(parse_duration("31536000s", &s), BM_OK);
    assert_true(s == 31536000);
}

static void test_parse_duration_rejects_more_than_365_days(void **state)
{
    int64_t s = 3;

    (void)state;
    assert_int_equal(parse_duration("366d", &s), BM_ERANGE);
    assert_int_equal(parse_duration("8761h", &s), BM_ERANGE);
    assert_int_equal(parse_duration("31536001s", &s), BM_ERANGE);
    assert_int_equal(parse_duration("99999999999999999999999999d", &s), BM_ERANGE);
    assert_true(s == 3);
}

static void test_parse_duration_rejects_bad_syntax(void **state)
{
    int64_t s;

    (void)state;
    assert_int_equal(parse_duration("", &s), BM_EINVAL);
    assert_int_equal(parse_duration("10", &s), BM_EINVAL);
    assert_int_equal(parse_duration("d", &s), BM_EINVAL);
    assert_int_equal(parse_duration("-1d", &s), BM_EINVAL);
    assert_int_equal(parse_duration("+1d", &s), BM_EINVAL);
    assert_int_equal(parse_duration(" 1d", &s), BM_EINVAL);
    assert_int_equal(parse_duration("1d ", &s), BM_EINVAL);
    assert_int_equal(parse_duration("1.5h", &s), BM_EINVAL);
    assert_int_equal(parse_duration("1w", &s), BM_EINVAL);
    assert_int_equal(parse_duration("1D", &s), BM_EINVAL);
    assert_int_equal(parse_duration("1dd", &s), BM_EINVAL);
    assert_int_equal(parse_duration(NULL, &s), BM_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_i64_accepts_plain_decimal),
        cmocka_unit_test(test_parse_i64_accepts_int64_limits),
        cmocka_unit_test(test_parse_i64_rejects_trailing_garbage),
        cmocka_unit_test(test_parse_i64_rejects_leading_space_sign_and_empty),
        cmocka_unit_test(test_parse_i64_rejects_out_of_range),
        cmocka_unit_test(test_parse_u64_accepts_full_range),
        cmocka_unit_test(test_parse_u64_rejects_negative_that_strtoull_would_wrap),
        cmocka_unit_test(test_parse_u64_rejects_overflow),
        cmocka_unit_test(test_parse_double_accepts_decimal_forms),
        cmocka_unit_test(test_parse_double_rejects_nan_inf_and_hex),
        cmocka_unit_test(test_parse_double_rejects_empty_space_and_garbage),
        cmocka_unit_test(test_parse_double_rejects_out_of_range),
        cmocka_unit_test(test_parse_bool_accepts_words_and_digits),
        cmocka_unit_test(test_parse_bool_rejects_anything_else),
        cmocka_unit_test(test_parse_duration_applies_units),
        cmocka_unit_test(test_parse_duration_accepts_exactly_365_days),
        cmocka_unit_test(test_parse_duration_rejects_more_than_365_days),
        cmocka_unit_test(test_parse_duration_rejects_bad_syntax),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
