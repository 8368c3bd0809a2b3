/* test_timefmt.c - civil calendar arithmetic, ISO 8601 text and clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "timefmt.h"

#define DAY_MS INT64_C(86400000)

static void check_iso(int64_t ms, const char *want)
{
    char out[TIMEFMT_ISO_LEN + 1];

    memset(out, 'x', sizeof(out));
    timefmt_iso(ms, out);
    assert_string_equal(out, want);
    assert_int_equal(strlen(out), TIMEFMT_ISO_LEN);
}

static void test_timefmt_floor_div_rounds_towards_minus_infinity(void **state)
{
    (void)state;
    assert_int_equal(timefmt_floor_div(7, 2), 3);
    assert_int_equal(timefmt_floor_div(-7, 2), -4);
    assert_int_equal(timefmt_floor_div(-8, 2), -4);
    assert_int_equal(timefmt_floor_div(7, -2), -4);
    assert_int_equal(timefmt_ms_of_us(1999), 1);
    assert_int_equal(timefmt_ms_of_us(0), 0);
    assert_int_equal(timefmt_ms_of_us(-1), -1);
    assert_int_equal(timefmt_ms_of_us(-1000), -1);
    assert_int_equal(timefmt_ms_of_us(-1001), -2);
}

static void test_timefmt_local_hour_floors_also_before_1970(void **state)
{
    (void)state;
    assert_int_equal(timefmt_local_hour(0, 0), 0);
    assert_int_equal(timefmt_local_hour(3600000 - 1, 0), 0);
    assert_int_equal(timefmt_local_hour(3600000, 0), 1);
    assert_int_equal(timefmt_local_hour(-1, 0), 23);   /* 1969-12-31T23:59:59.999 */
    assert_int_equal(timefmt_local_hour(-500, 0), 23); /* not 0: seconds are floored */
    assert_int_equal(timefmt_local_hour(-3600000, 0), 23);
    assert_int_equal(timefmt_local_hour(-3600001, 0), 22);
    assert_int_equal(timefmt_local_hour(0, 330), 5);    /* 05:30 at +05:30 */
    assert_int_equal(timefmt_local_hour(0, -300), 19);  /* 19:00 the day before */
    assert_int_equal(timefmt_local_hour(-1, 60), 0);
}

static void test_timefmt_iso_formats_epoch(void **state)
{
    (void)state;
    check_iso(0, "1970-01-01T00:00:00.000Z");
}

static void test_timefmt_iso_formats_known_instants(void **state)
{
    (void)state;
    check_iso(951782400000, "2000-02-29T00:00:00.000Z");
    check_iso(1709210096789, "2024-02-29T12:34:56.789Z");
    check_iso(951782400000 + DAY_MS, "2000-03-01T00:00:00.000Z");
    check_iso(-1, "1969-12-31T23:59:59.999Z");
    check_iso(-62135596800000, "0001-01-01T00:00:00.000Z");
}

static void test_timefmt_iso_formats_year_range_ends(void **state)
{
    (void)state;
    check_iso(INT64_C(2932897) * DAY_MS - 1, "9999-12-31T23:59:59.999Z");
    check_iso(INT64_C(-719528) * DAY_MS, "0000-01-01T00:00:00.000Z");
}

static void test_timefmt_iso_clamps_outside_years_0_to_9999(void **state)
{
    (void)state;
    check_iso(INT64_MAX, "9999-12-31T23:59:59.999Z");
    check_iso(INT64_C(2932897) * DAY_MS, "9999-12-31T23:59:59.999Z");
    check_iso(INT64_MIN, "0000-01-01T00:00:00.000Z");
}

static void test_timefmt_civil_matches_gmtime_r(void **state)
{
    /* gmtime_r as an independent oracle over 1900..2100, every ~7.3 days
     * plus an odd offset so all times of day and weekdays are hit. */
    int64_t start = INT64_C(-2208988800), end = INT64_C(4102444800);

    (void)state;
    for (int64_t s = start; s < end; s += 633607) {
        time_t t = (time_t)s;
        struct tm tm;
        struct civil c;

        assert_non_null(gmtime_r(&t, &tm));
        timefmt_civil(s * 1000 + 123, 0, &c);
        assert_int_equal(c.year, tm.tm_year + 1900);
        assert_int_equal(c.month, tm.tm_mon + 1);
        assert_int_equal(c.day, tm.tm_mday);
        assert_int_equal(c.hour, tm.tm_hour);
        assert_int_equal(c.minute, tm.tm_min);
        assert_int_equal(c.second, tm.tm_sec);
        assert_int_equal(c.ms, 123);
        assert_int_equal(c.weekday, tm.tm_wday);
    }
}

static void test_timefmt_civil_applies_offset_and_weekday(void **state)
{
    struct civil c;

    (void)state;
    timefmt_civil(0, 0, &c);
    assert_int_equal(c.weekday, 4); /* Thursday */
    timefmt_civil(0, 330, &c);
    assert_int_equal(c.year, 1970);
    assert_int_equal(c.day, 1);
    assert_int_equal(c.hour, 5);
    assert_int_equal(c.minute, 30);
    timefmt_civil(0, -60, &c);
    assert_int_equal(c.year, 1969);
    assert_int_equal(c.month, 12);
    assert_int_equal(c.day, 31);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.weekday, 3); /* Wednesday */
    timefmt_civil(-3 * DAY_MS - 1, 0, &c); /* 1969-12-28T23:59:59.999 */
    assert_int_equal(c.day, 28);
    assert_int_equal(c.ms, 999);
    assert_int_equal(c.weekday, 0); /* Sunday */
}

static void test_timefmt_days_from_civil_known_dates(void **state)
{
    (void)state;
    assert_true(timefmt_days_from_civil(1970, 1, 1) == 0);
    assert_true(timefmt_days_from_civil(1969, 12, 31) == -1);
    assert_true(timefmt_days_from_civil(2000, 3, 1) == 11017);
    assert_true(timefmt_days_from_civil(0, 1, 1) == -719528);
    assert_true(timefmt_days_from_civil(10000, 1, 1) == 2932897);
}

static void test_timefmt_days_in_month_handles_leap_years(void **state)
{
    (void)state;
    assert_int_equal(timefmt_days_in_month(2000, 2), 29); /* div by 400 */
    assert_int_equal(timefmt_days_in_month(1900, 2), 28); /* div by 100 */
    assert_int_equal(timefmt_days_in_month(2024, 2), 29);
    assert_int_equal(timefmt_days_in_month(2023, 2), 28);
    assert_int_equal(timefmt_days_in_month(2023, 4), 30);
    assert_int_equal(timefmt_days_in_month(2023, 12), 31);
    assert_int_equal(timefmt_days_in_month(2023, 0), 0);
    assert_int_equal(timefmt_days_in_month(2023, 13), 0);
}

static void check_parse(const char *s, int64_t want)
{
    int64_t ms = -12345;

    assert_int_equal(timefmt_parse_iso(s, &ms), BM_OK);
    assert_true(ms == want);
}

static void check_parse_fails(const char *s)
{
    int64_t ms = -12345;

    assert_int_not_equal(timefmt_parse_iso(s, &ms), BM_OK);
    assert_true(ms == -12345);
}

static void test_timefmt_parse_iso_accepts_date_only_as_midnight_utc(void **state)
{
    (void)state;
    check_parse("1970-01-01", 0);
    check_parse("2000-02-29", 951782400000);
    check_parse("9999-12-31", INT64_C(2932896) * DAY_MS);
}

static void test_timefmt_parse_iso_accepts_time_fraction_and_zone(void **state)
{
    (void)state;
    check_parse("2024-02-29T12:34:56", 1709210096000);
    check_parse("2024-02-29T12:34:56Z", 1709210096000);
    check_parse("2024-02-29T12:34:56.789Z", 1709210096789);
    check_parse("2024-02-29T12:34:56.7Z", 1709210096700);
    check_parse("2024-02-29T12:34:56.78", 1709210096780);
    check_parse("2024-02-29T12:34:56.789999Z", 1709210096789); /* truncated */
    check_parse("2024-02-29T14:34:56.789+02:00", 1709210096789);
    check_parse("2024-02-29T07:04:56.789-05:30", 1709210096789);
    check_parse("1970-01-01T00:00:00-00:00", 0);
}

static void test_timefmt_parse_iso_round_trips_formatted_text(void **state)
{
    char out[TIMEFMT_ISO_LEN + 1];

    (void)state;
    for (int64_t ms = INT64_C(-62167219200000); ms < INT64_C(253402300799999);
         ms += INT64_C(98765432101)) {
        int64_t back = 0;

        timefmt_iso(ms, out);
        assert_int_equal(timefmt_parse_iso(out, &back), BM_OK);
        assert_true(back == ms);
    }
}

static void test_timefmt_parse_iso_rejects_impossible_dates(void **state)
{
    (void)state;
    check_parse_fails("2023-02-29");
    check_parse_fails("1900-02-29");
    check_parse_fails("2024-04-31");
    check_parse_fails("2024-13-01");
    check_parse_fails("2024-00-10");
    check_parse_fails("2024-01-00");
    check_parse_fails("2024-01-32");
}

static void test_timefmt_parse_iso_rejects_bad_time_fields(void **state)
{
    (void)state;
    check_parse_fails("2024-01-01T24:00:00Z");
    check_parse_fails("2024-01-01T23:60:00Z");
    check_parse_fails("2024-01-01T23:59:60Z");
    check_parse_fails("2024-01-01T10:20Z");
    check_parse_fails("2024-01-01T10:20:3Z");
    check_parse_fails("2024-01-01T");
    check_parse_fails("2024-01-01T10:20:30.Z");
    check_parse_fails("2024-01-01T10:20:30.1234567Z");
}

static void test_timefmt_parse_iso_rejects_bad_offsets(void **state)
{
    (void)state;
    check_parse_fails("2024-01-01T10:20:30+2:00");
    check_parse_fails("2024-01-01T10:20:30+02");
    check_parse_fails("2024-01-01T10:20:30+0200");
    check_parse_fails("2024-01-01T10:20:30+02:60");
    check_parse_fails("2024-01-01T10:20:30+14:01");
    check_parse_fails("2024-01-01T10:20:30+15:00");
    check_parse_fails("2024-01-01T10:20:30ZZ");
    check_parse_fails("2024-01-01T10:20:30Z+01:00");
}

static void test_timefmt_parse_iso_rejects_malformed_text(void **state)
{
    int64_t ms;

    (void)state;
    check_parse_fails("");
    check_parse_fails("2024");
    check_parse_fails("2024-1-01");
    check_parse_fails("24-01-01");
    check_parse_fails(" 2024-01-01");
    check_parse_fails("2024-01-01 ");
    check_parse_fails("2024-01-01Z");
    check_parse_fails("2024-01-01t10:20:30Z");
    check_parse_fails("2024-01-01 10:20:30");
    check_parse_fails("2024/01/01");
    check_parse_fails("+2024-01-01");
    assert_int_equal(timefmt_parse_iso(NULL, &ms), BM_EINVAL);
}

static void test_timefmt_parse_tz_accepts_utc_and_offsets(void **state)
{
    int off = 99;

    (void)state;
    assert_int_equal(timefmt_parse_tz("UTC", &off), BM_OK);
    assert_int_equal(off, 0);
    off = 99;
    assert_int_equal(timefmt_parse_tz("Z", &off), BM_OK);
    assert_int_equal(off, 0);
    assert_int_equal(timefmt_parse_tz("+05:30", &off), BM_OK);
    assert_int_equal(off, 330);
    assert_int_equal(timefmt_parse_tz("-03:00", &off), BM_OK);
    assert_int_equal(off, -180);
    assert_int_equal(timefmt_parse_tz("+14:00", &off), BM_OK);
    assert_int_equal(off, 840);
    assert_int_equal(timefmt_parse_tz("-14:00", &off), BM_OK);
    assert_int_equal(off, -840);
    assert_int_equal(timefmt_parse_tz("+00:00", &off), BM_OK);
    assert_int_equal(off, 0);
}

static void test_timefmt_parse_tz_rejects_beyond_14_hours(void **state)
{
    int off = 7;

    (void)state;
    assert_int_equal(timefmt_parse_tz("+14:01", &off), BM_ERANGE);
    assert_int_equal(timefmt_parse_tz("-15:00", &off), BM_ERANGE);
    assert_int_equal(timefmt_parse_tz("+99:00", &off), BM_ERANGE);
    assert_int_equal(off, 7);
}

static void test_timefmt_parse_tz_rejects_malformed_text(void **state)
{
    int off = 7;

    (void)state;
    assert_int_equal(timefmt_parse_tz("", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("utc", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("UTC+1", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("Europe/Berlin", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("+5:30", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("05:30", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("+05:60", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("+05:30 ", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz("+0530", &off), BM_EINVAL);
    assert_int_equal(timefmt_parse_tz(NULL, &off), BM_EINVAL);
    assert_int_equal(off, 7);
}

static void test_time_now_ms_agrees_with_time(void **state)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = time_now_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;

    (void)state;
    assert_true(now >= before && now < after);
}

static void test_time_mono_us_advances_across_sleep(void **state)
{
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    int64_t a, b;

    (void)state;
    a = time_mono_us();
    nanosleep(&ts, NULL);
    b = time_mono_us();
    assert_true(b - a >= 10000);
    assert_true(b - a < 5000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timefmt_floor_div_rounds_towards_minus_infinity),
        cmocka_unit_test(test_timefmt_local_hour_floors_also_before_1970),
        cmocka_unit_test(test_timefmt_iso_formats_epoch),
        cmocka_unit_test(test_timefmt_iso_formats_known_instants),
        cmocka_unit_test(test_timefmt_iso_formats_year_range_ends),
        cmocka_unit_test(test_timefmt_iso_clamps_outside_years_0_to_9999),
        cmocka_unit_test(test_timefmt_civil_matches_gmtime_r),
        cmocka_unit_test(test_timefmt_civil_applies_offset_and_weekday),
        cmocka_unit_test(test_timefmt_days_from_civil_known_dates),
        cmocka_unit_test(test_timefmt_days_in_month_handles_leap_years),
        cmocka_unit_test(test_timefmt_parse_iso_accepts_date_only_as_midnight_utc),
        cmocka_unit_test(test_timefmt_parse_iso_accepts_time_fraction_and_zone),
        cmocka_unit_test(test_timefmt_parse_iso_round_trips_formatted_text),
        cmocka_unit_test(test_timefmt_parse_iso_rejects_impossible_dates),
        cmocka_unit_test(test_timefmt_parse_iso_rejects_bad_time_fields),
        cmocka_unit_test(test_timefmt_parse_iso_rejects_bad_offsets),
        cmocka_unit_test(test_timefmt_parse_iso_rejects_malformed_text),
        cmocka_unit_test(test_timefmt_parse_tz_accepts_utc_and_offsets),
        cmocka_unit_test(test_timefmt_parse_tz_rejects_beyond_14_hours),
        cmocka_unit_test(test_timefmt_parse_tz_rejects_malformed_text),
        cmocka_unit_test(test_time_now_ms_agrees_with_time),
        cmocka_unit_test(test_time_mono_us_advances_across_sleep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
