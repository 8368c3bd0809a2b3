/* test_buf.c - capped growable buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_buf_init_starts_empty_without_allocation(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 100);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 100);
    buf_free(&b);
}

static void test_buf_append_keeps_nul_terminator(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(buf_append(&b, "abc", 3), BM_OK);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.data[3], '\0');
    assert_int_equal(buf_puts(&b, "de"), BM_OK);
    assert_int_equal(buf_putc(&b, 'f'), BM_OK);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(b.len, 6);
    buf_free(&b);
}

static void test_buf_append_up_to_cap_succeeds(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 5);
    assert_int_equal(buf_append(&b, "12345", 5), BM_OK);
    assert_string_equal(b.data, "12345");
    assert_true(b.cap <= 6);
    buf_free(&b);
}

static void test_buf_append_past_cap_fails_and_leaves_content(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 5);
    assert_int_equal(buf_puts(&b, "abc"), BM_OK);
    assert_int_equal(buf_puts(&b, "def"), BM_ETOOBIG);
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.len, 3);
    assert_int_equal(buf_putc(&b, 'd'), BM_OK);
    assert_int_equal(buf_putc(&b, 'e'), BM_OK);
    assert_int_equal(buf_putc(&b, 'f'), BM_ETOOBIG);
    assert_string_equal(b.data, "abcde");
    buf_free(&b);
}

static void test_buf_append_huge_length_fails_without_overflow(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_puts(&b, "x"), BM_OK);
    assert_int_equal(buf_append(&b, "y", SIZE_MAX), BM_ETOOBIG);
    assert_string_equal(b.data, "x");
    buf_free(&b);
}

static void test_buf_grows_geometrically(void **state)
{
    struct buf b;
    size_t reallocs = 0, last_cap = 0;

    (void)state;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(buf_putc(&b, 'x'), BM_OK);
        if (b.cap != last_cap) {
            assert_true(b.cap >= 2 * last_cap);
            last_cap = b.cap;
            reallocs++;
        }
    }
    assert_int_equal(b.len, 100000);
    /* 64 doubling up to 100001 takes 12 steps. */
    assert_true(reallocs <= 13);
    buf_free(&b);
}

static void test_buf_never_allocates_more_than_cap_plus_nul(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(buf_putc(&b, 'x'), BM_OK);
    assert_int_equal(b.cap, 101);
    assert_int_equal(buf_putc(&b, 'x'), BM_ETOOBIG);
    buf_free(&b);
}

static void test_buf_printf_appends_formatted_text(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1000);
    assert_int_equal(buf_puts(&b, "n="), BM_OK);
    assert_int_equal(buf_printf(&b, "%d,%s,%.2f", 42, "x", 1.5), BM_OK);
    assert_string_equal(b.data, "n=42,x,1.50");
    assert_int_equal(b.len, strlen("n=42,x,1.50"));
    buf_free(&b);
}

static void test_buf_printf_grows_for_long_output(void **state)
{
    struct buf b;
    char big[3000];

    (void)state;
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_init(&b, 10000);
    assert_int_equal(buf_puts(&b, "<"), BM_OK);
    assert_int_equal(buf_printf(&b, "%s>", big), BM_OK);
    assert_int_equal(b.len, 3001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[3000], '>');
    assert_int_equal(b.data[3001], '\0');
    buf_free(&b);
}

static void test_buf_printf_past_cap_fails_and_leaves_content(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "abcdef"), BM_OK);
    /* Fits the allocation (64 bytes) but not the cap. */
    assert_int_equal(buf_printf(&b, "%s", "ghijk"), BM_ETOOBIG);
    assert_string_equal(b.data, "abcdef");
    assert_int_equal(b.len, 6);
    assert_int_equal(buf_printf(&b, "%d", 1234), BM_OK);
    assert_string_equal(b.data, "abcdef1234");
    buf_free(&b);
}

static void check_i64(int64_t v, const char *want)
{
    struct buf b;

    buf_init(&b, 64);
    assert_int_equal(buf_put_i64(&b, v), BM_OK);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_buf_put_i64_writes_known_values(void **state)
{
    (void)state;
    check_i64(0, "0");
    check_i64(7, "7");
    check_i64(-1, "-1");
    check_i64(1234567890, "1234567890");
    check_i64(INT64_MAX, "9223372036854775807");
    check_i64(INT64_MIN, "-9223372036854775808");
}

static void test_buf_put_i64_matches_snprintf_on_many_values(void **state)
{
    uint64_t x = 88172645463325252u;
    char want[32];

    (void)state;
    for (int i = 0; i < 20000; i++) {
        int64_t v;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* Vary magnitude: shift away a random number of bits. */
        v = (int64_t)(x >> (x % 64));
        if (i & 1)
            v = -v;
        snprintf(want, sizeof(want), "%lld", (long long)v);
        check_i64(v, want);
    }
}

static void check_fixed(int64_t v, int dec, const char *want)
{
    struct buf b;

    buf_init(&b, 64);
    assert_int_equal(buf_put_fixed(&b, v, dec), BM_OK);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_buf_put_fixed_writes_cents(void **state)
{
    (void)state;
    check_fixed(12345, 2, "123.45");
    check_fixed(5, 2, "0.05");
    check_fixed(50, 2, "0.50");
    check_fixed(0, 2, "0.00");
    check_fixed(-5, 2, "-0.05");
    check_fixed(-12345, 2, "-123.45");
    check_fixed(100, 2, "1.00");
    check_fixed(1000000, 2, "10000.00");
}

static void test_buf_put_fixed_handles_extremes(void **state)
{
    (void)state;
    check_fixed(42, 0, "42");
    check_fixed(1, 18, "0.000000000000000001");
    check_fixed(INT64_MAX, 2, "92233720368547758.07");
    check_fixed(INT64_MIN, 2, "-92233720368547758.08");
    check_fixed(INT64_MIN, 18, "-9.223372036854775808");
    check_fixed(7, 3, "0.007");
}

static void test_buf_put_fixed_rejects_bad_decimals(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_put_fixed(&b, 1, -1), BM_EINVAL);
    assert_int_equal(buf_put_fixed(&b, 1, 19), BM_EINVAL);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void check_json_str(const char *in, const char *want)
{
    struct buf b;

    buf_init(&b, 1024);
    assert_int_equal(buf_put_json_str(&b, in), BM_OK);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_buf_put_json_str_escapes_quote_backslash_and_controls(void **state)
{
    (void)state;
    check_json_str("plain", "\"plain\"");
    check_json_str("", "\"\"");
    check_json_str("a\"b\\c", "\"a\\\"b\\\\c\"");
    check_json_str("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
    check_json_str("\x01\x1f", "\"\\u0001\\u001f\"");
    check_json_str("/", "\"/\"");
}

static void test_buf_put_json_str_copies_utf8_bytes(void **state)
{
    (void)state;
    check_json_str("h\xc3\xa9llo \xe2\x82\xac", "\"h\xc3\xa9llo \xe2\x82\xac\"");
}

static void test_buf_put_json_str_replaces_bytes_that_are_not_utf8(void **state)
{
    (void)state;
    /* a stray continuation byte, a cut sequence, an overlong form, a
     * surrogate, a code point past U+10FFFF: each byte becomes U+FFFD */
    check_json_str("a\x80" "b", "\"a\\ufffdb\"");
    check_json_str("fr\xdf", "\"fr\\ufffd\"");
    check_json_str("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    check_json_str("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
    check_json_str("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    /* valid sequences beside them are kept */
    check_json_str("\xc3\xa9\xff\xe2\x82\xac", "\"\xc3\xa9\\ufffd\xe2\x82\xac\"");
}

static void test_buf_put_json_str_round_trips_every_ascii_byte(void **state)
{
    char in[128];
    struct buf b;
    cJSON *j;

    (void)state;
    for (int i = 1; i < 128; i++)
        in[i - 1] = (char)i;
    in[127] = '\0';
    buf_init(&b, 4096);
    assert_int_equal(buf_put_json_str(&b, in), BM_OK);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_true(cJSON_IsString(j));
    assert_string_equal(j->valuestring, in);
    cJSON_Delete(j);
    buf_free(&b);
}

static void test_buf_put_json_str_past_cap_leaves_content(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "[1,"), BM_OK);
    /* "\"ab\\ncd\"" is 8 bytes: the escape tips it over the cap. */
    assert_int_equal(buf_put_json_str(&b, "ab\ncd"), BM_ETOOBIG);
    assert_string_equal(b.data, "[1,");
    assert_int_equal(b.len, 3);
    assert_int_equal(buf_put_json_str(&b, "ab"), BM_OK);
    assert_string_equal(b.data, "[1,\"ab\"");
    buf_free(&b);
}

static void test_buf_put_json_str_or_null_writes_null_for_null(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_put_json_str_or_null(&b, NULL), BM_OK);
    assert_int_equal(buf_putc(&b, ','), BM_OK);
    assert_int_equal(buf_put_json_str_or_null(&b, "x"), BM_OK);
    assert_string_equal(b.data, "null,\"x\"");
    assert_int_equal(buf_put_json_str(&b, NULL), BM_EINVAL);
    buf_free(&b);
}

static void test_buf_take_hands_over_data_and_empties(void **state)
{
    struct buf b;
    size_t len = 0;
    char *p;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "hello"), BM_OK);
    p = buf_take(&b, &len);
    assert_string_equal(p, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 64);
    free(p);
    /* Reusable after the handover. */
    assert_int_equal(buf_puts(&b, "again"), BM_OK);
    assert_string_equal(b.data, "again");
    buf_free(&b);
}

static void test_buf_take_of_empty_buffer_returns_empty_string(void **state)
{
    struct buf b;
    size_t len = 99;
    char *p;

    (void)state;
    buf_init(&b, 64);
    p = buf_take(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);
}

static void test_buf_reset_keeps_allocation_and_clears_text(void **state)
{
    struct buf b;
    char *before;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "abc"), BM_OK);
    before = b.data;
    buf_reset(&b);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_null(b.data);
}

static void test_buf_truncate_cuts_back_and_ignores_longer_len(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "abcdef"), BM_OK);
    buf_truncate(&b, 3);
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.len, 3);
    buf_truncate(&b, 10);
    assert_string_equal(b.data, "abc");
    assert_int_equal(b.len, 3);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_init_starts_empty_without_allocation),
        cmocka_unit_test(test_buf_append_keeps_nul_terminator),
        cmocka_unit_test(test_buf_append_up_to_cap_succeeds),
        cmocka_unit_test(test_buf_append_past_cap_fails_and_leaves_content),
        cmocka_unit_test(test_buf_append_huge_length_fails_without_overflow),
        cmocka_unit_test(test_buf_grows_geometrically),
        cmocka_unit_test(test_buf_never_allocates_more_than_cap_plus_nul),
        cmocka_unit_test(test_buf_printf_appends_formatted_text),
        cmocka_unit_test(test_buf_printf_grows_for_long_output),
        cmocka_unit_test(test_buf_printf_past_cap_fails_and_leaves_content),
        cmocka_unit_test(test_buf_put_i64_writes_known_values),
        cmocka_unit_test(test_buf_put_i64_matches_snprintf_on_many_values),
        cmocka_unit_test(test_buf_put_fixed_writes_cents),
        cmocka_unit_test(test_buf_put_fixed_handles_extremes),
        cmocka_unit_test(test_buf_put_fixed_rejects_bad_decimals),
        cmocka_unit_test(test_buf_put_json_str_escapes_quote_backslash_and_controls),
        cmocka_unit_test(test_buf_put_json_str_copies_utf8_bytes),
        cmocka_unit_test(test_buf_put_json_str_replaces_bytes_that_are_not_utf8),
        cmocka_unit_test(test_buf_put_json_str_round_trips_every_ascii_byte),
        cmocka_unit_test(test_buf_put_json_str_past_cap_leaves_content),
        cmocka_unit_test(test_buf_put_json_str_or_null_writes_null_for_null),
        cmocka_unit_test(test_buf_take_hands_over_data_and_empties),
        cmocka_unit_test(test_buf_take_of_empty_buffer_returns_empty_string),
        cmocka_unit_test(test_buf_reset_keeps_allocation_and_clears_text),
        cmocka_unit_test(test_buf_truncate_cuts_back_and_ignores_longer_len),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
