/* test_shaping.c - the traffic shaping factor of SPEC §5, one factor at a
 * time: hour, weekend, month end, quarter end, holiday, the largest
 * calendar factor, and the bank's time-zone offset. The instants are
 * built from calendar dates so each reads as what it tests; 2026-01-05 is
 * a Monday. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "shaping.h"
#include "timefmt.h"

#define EPS 1e-12
#define UTC 0

/* ms of a UTC wall time */
static int64_t at(int year, int month, int day, int hour, int minute)
{
    return timefmt_days_from_civil(year, month, day) * INT64_C(86400000) +
           (int64_t)hour * 3600000 + (int64_t)minute * 60000;
}

static void check(int64_t ms, int tz, double want)
{
    assert_float_equal(shaping_factor(ms, tz), want, EPS);
}

static void test_shaping_peak_hours_are_1_5(void **state)
{
    (void)state;
    check(at(2026, 1, 5, 9, 0), UTC, 1.5);
    check(at(2026, 1, 5, 10, 59), UTC, 1.5);
    check(at(2026, 1, 5, 14, 0), UTC, 1.5);
    check(at(2026, 1, 5, 16, 0) - 1, UTC, 1.5);
    check(at(2026, 1, 5, 11, 0), UTC, 1.0);
    check(at(2026, 1, 5, 16, 0), UTC, 1.0);
}

static void test_shaping_quiet_hours_are_0_3(void **state)
{
    (void)state;
    check(at(2026, 1, 5, 22, 0), UTC, 0.3);
    check(at(2026, 1, 6, 0, 0), UTC, 0.3);
    check(at(2026, 1, 6, 5, 0) - 1, UTC, 0.3);
    check(at(2026, 1, 5, 21, 59), UTC, 1.0);
    check(at(2026, 1, 6, 5, 0), UTC, 1.0);
}

static void test_shaping_other_hours_are_1_0(void **state)
{
    (void)state;
    check(at(2026, 1, 5, 5, 0), UTC, 1.0);
    check(at(2026, 1, 5, 8, 59), UTC, 1.0);
    check(at(2026, 1, 5, 12, 30), UTC, 1.0);
    check(at(2026, 1, 5, 16, 0), UTC, 1.0);
}

static void test_shaping_weekend_multiplies_by_0_3(void **state)
{
    (void)state;
    check(at(2026, 1, 9, 12, 0), UTC, 1.0);        /* Friday */
    check(at(2026, 1, 10, 12, 0), UTC, 0.3);       /* Saturday */
    check(at(2026, 1, 11, 12, 0), UTC, 0.3);       /* Sunday */
    check(at(2026, 1, 11, 10, 0), UTC, 1.5 * 0.3); /* a Sunday's peak */
    check(at(2026, 1, 10, 23, 0), UTC, 0.3 * 0.3); /* a Saturday's night */
    check(at(2026, 1, 12, 0, 0), UTC, 0.3);        /* Monday night: quiet only */
}

static void test_shaping_last_day_of_month_is_1_3(void **state)
{
    (void)state;
    check(at(2026, 4, 30, 12, 0), UTC, 1.3);    /* Thursday */
    check(at(2026, 4, 29, 12, 0), UTC, 1.0);
    check(at(2026, 5, 1, 12, 0), UTC, 1.0);
    check(at(2028, 2, 29, 12, 0), UTC, 1.3);    /* a leap year's February */
    check(at(2028, 2, 28, 12, 0), UTC, 1.0);
    check(at(2026, 4, 30, 10, 0), UTC, 1.5 * 1.3);
}

static void test_shaping_last_day_of_quarter_is_1_8(void **state)
{
    (void)state;
    check(at(2026, 3, 31, 12, 0), UTC, 1.8); /* Tuesday */
    check(at(2026, 6, 30, 12, 0), UTC, 1.8);
    check(at(2026, 9, 30, 12, 0), UTC, 1.8);
    check(at(2026, 12, 31, 12, 0), UTC, 1.8);
    check(at(2026, 3, 30, 12, 0), UTC, 1.0);
}

static void test_shaping_fixed_holidays_are_1_5(void **state)
{
    static const int days[][2] = {
        { 1, 1 }, { 7, 4 }, { 11, 11 }, { 12, 24 }, { 12, 25 }, { 12, 26 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
        int64_t ms = at(2026, days[i][0], days[i][1], 12, 0);
        struct civil c;

        timefmt_civil(ms, UTC, &c);
        check(ms, UTC, c.weekday == 0 || c.weekday == 6 ? 0.3 * 1.5 : 1.5);
    }
    check(at(2026, 11, 11, 12, 0), UTC, 1.5);       /* Wednesday */
    check(at(2026, 11, 12, 12, 0), UTC, 1.0);
    check(at(2026, 12, 26, 10, 0), UTC, 1.5 * 0.3 * 1.5); /* Saturday's peak */
    check(at(2027, 11, 11, 12, 0), UTC, 1.5);       /* every year */
}

static void test_shaping_largest_calendar_factor_applies_alone(void **state)
{
    (void)state;
    /* The last day of a quarter is also the last day of a month: 1.8, not
     * 1.3 x 1.8; the calendar factors never multiply. */
    check(at(2026, 3, 31, 12, 0), UTC, 1.8);
    check(at(2026, 12, 31, 10, 0), UTC, 1.5 * 1.8);
    /* the calendar still multiplies the hour and the weekend */
    check(at(2026, 1, 31, 23, 0), UTC, 0.3 * 0.3 * 1.3); /* Saturday night */
}

static void test_shaping_positive_offset_shifts_hours_and_dates(void **state)
{
    const int ist = 5 * 60 + 30; /* +05:30 */

    (void)state;
    /* the peak starts at 09:00 local, 03:30 UTC */
    check(at(2026, 1, 5, 3, 30), ist, 1.5);
    check(at(2026, 1, 5, 3, 29), ist, 1.0);
    /* across midnight: Friday 20:00 UTC is Saturday 01:30 local */
    check(at(2026, 1, 9, 20, 0), ist, 0.3 * 0.3);
    check(at(2026, 1, 9, 20, 0), UTC, 1.0);
    /* across a month end: the last of April 20:00 UTC is the first of May */
    check(at(2026, 4, 30, 20, 0), ist, 0.3);
    check(at(2026, 4, 30, 20, 0), UTC, 1.3);
    /* and into one: the 29th 19:00 UTC is the 30th 00:30 local */
    check(at(2026, 4, 29, 19, 0), ist, 0.3 * 1.3);
}

static void test_shaping_negative_offset_shifts_hours_and_dates(void **state)
{
    const int est = -5 * 60; /* -05:00 */

    (void)state;
    check(at(2026, 1, 5, 14, 0), est, 1.5); /* 09:00 local */
    check(at(2026, 1, 5, 9, 0), est, 0.3);  /* 04:00 local */
    /* across midnight: Saturday 03:00 UTC is Friday 22:00 local */
    check(at(2026, 1, 10, 3, 0), est, 0.3);
    check(at(2026, 1, 10, 3, 0), UTC, 0.3 * 0.3);
    /* across a month end: 1 May 02:00 UTC is 30 April 21:00 local */
    check(at(2026, 5, 1, 2, 0), est, 1.3);
    check(at(2026, 5, 1, 2, 0), UTC, 0.3);
    /* across a year end: 1 January 04:00 UTC is 31 December 23:00 local */
    check(at(2027, 1, 1, 4, 0), est, 0.3 * 1.8);
    check(at(2027, 1, 1, 4, 0), UTC, 0.3 * 1.5);
}

static void test_shaping_hour_is_the_local_hour_floored(void **state)
{
    const int64_t h = 3600000;

    (void)state;
    assert_int_equal(shaping_hour(0, UTC), 0);
    assert_int_equal(shaping_hour(h - 1, UTC), 0);
    assert_int_equal(shaping_hour(h, UTC), 1);
    assert_int_equal(shaping_hour(-1, UTC), -1);
    assert_int_equal(shaping_hour(-h, UTC), -1);
    assert_int_equal(shaping_hour(-h - 1, UTC), -2);
    /* +05:30: local hours begin on UTC half hours */
    assert_int_equal(shaping_hour(h / 2 - 1, 330), 5);
    assert_int_equal(shaping_hour(h / 2, 330), 6);
    assert_int_equal(shaping_hour(0, -300), -5);
}

static void test_shaping_factor_is_constant_within_a_local_hour(void **state)
{
    (void)state;
    for (int tz = -600; tz <= 600; tz += 150)
        for (int64_t ms = at(2026, 3, 29, 0, 0); ms < at(2026, 4, 3, 0, 0);
             ms += 7 * 60000) {
            int64_t start = shaping_hour(ms, tz) * 3600000 - (int64_t)tz * 60000;

            assert_true(start <= ms && ms < start + 3600000);
            check(ms, tz, shaping_factor(start, tz));
            check(start + 3600000 - 1, tz, shaping_factor(start, tz));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shaping_peak_hours_are_1_5),
        cmocka_unit_test(test_shaping_quiet_hours_are_0_3),
        cmocka_unit_test(test_shaping_other_hours_are_1_0),
        cmocka_unit_test(test_shaping_weekend_multiplies_by_0_3),
        cmocka_unit_test(test_shaping_last_day_of_month_is_1_3),
        cmocka_unit_test(test_shaping_last_day_of_quarter_is_1_8),
        cmocka_unit_test(test_shaping_fixed_holidays_are_1_5),
        cmocka_unit_test(test_shaping_largest_calendar_factor_applies_alone),
        cmocka_unit_test(test_shaping_positive_offset_shifts_hours_and_dates),
        cmocka_unit_test(test_shaping_negative_offset_shifts_hours_and_dates),
        cmocka_unit_test(test_shaping_hour_is_the_local_hour_floored),
        cmocka_unit_test(test_shaping_factor_is_constant_within_a_local_hour),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
