/* test_arrival.c - the generated stream's clock shared by genloop.c and
 * bankmock-generate: stream seeds, the shaping factor and its cache, and
 * the gap to the next arrival (one draw, or none at a constant rate;
 * clamped; its mean 1 / (rate x factor)). 2026-01-05 is a Monday. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arrival.h"
#include "shaping.h"
#include "timefmt.h"

/* 2026-01-05 10:00 UTC (a peak hour, 1.5) and 03:00 (quiet, 0.3), in us */
static int64_t at_hour(int hour)
{
    return (timefmt_days_from_civil(2026, 1, 5) * INT64_C(86400) + (int64_t)hour * 3600) *
           INT64_C(1000000);
}

static void test_arrival_stream_seeds_differ_by_service_and_stream(void **state)
{
    (void)state;
    assert_int_equal(arrival_stream_seed(7, "auth-service", ARRIVAL_GENERATED),
                     arrival_stream_seed(7, "auth-service", ARRIVAL_GENERATED));
    assert_int_not_equal(arrival_stream_seed(7, "auth-service", ARRIVAL_GENERATED),
                         arrival_stream_seed(7, "transaction-service", ARRIVAL_GENERATED));
    assert_int_not_equal(arrival_stream_seed(7, "auth-service", ARRIVAL_GENERATED),
                         arrival_stream_seed(7, "auth-service", ARRIVAL_API));
    assert_int_not_equal(arrival_stream_seed(7, "auth-service", ARRIVAL_GENERATED),
                         arrival_stream_seed(8, "auth-service", ARRIVAL_GENERATED));
}

static void test_arrival_factor_is_shaping_factor_or_one_when_off(void **state)
{
    struct arrival_rate on = { .events_per_second = 100, .time_shaping = true };
    struct arrival_rate off = on;
    struct arrival_cache c;

    (void)state;
    off.time_shaping = false;
    arrival_cache_init(&c);
    assert_float_equal(arrival_factor(&c, &on, at_hour(10)), 1.5, 1e-12);
    assert_float_equal(arrival_factor(&c, &on, at_hour(3)), 0.3, 1e-12);
    assert_float_equal(arrival_factor(&c, &off, at_hour(10)), 1.0, 1e-12);
    /* the cache is keyed by the local hour: a zone 7 h east moves 03:00 to 10:00 */
    on.tz_offset_min = 7 * 60;
    assert_float_equal(arrival_factor(&c, &on, at_hour(3)),
                       shaping_factor(at_hour(3) / 1000, 7 * 60), 1e-12);
    assert_float_equal(arrival_factor(&c, &on, at_hour(3)), 1.5, 1e-12);
}

static void test_arrival_constant_rate_spaces_evenly_without_a_draw(void **state)
{
    struct arrival_rate r = { .events_per_second = 100, .constant_rate = true,
                              .time_shaping = true };
    struct arrival_cache c;
    struct rng g, before;

    (void)state;
    arrival_cache_init(&c);
    rng_seed(&g, 1);
    before = g;
    assert_int_equal(arrival_gap_us(&c, &r, &g, at_hour(3)), 10000);
    assert_memory_equal(&g, &before, sizeof(g));
}

static void test_arrival_gap_is_one_exponential_draw(void **state)
{
    struct arrival_rate r = { .events_per_second = 50, .time_shaping = true };
    struct arrival_cache c;
    struct rng g, h;
    double want;

    (void)state;
    arrival_cache_init(&c);
    rng_seed(&g, 9);
    h = g;
    want = rng_exp(&h, 1e6 / (50 * 1.5));
    assert_int_equal(arrival_gap_us(&c, &r, &g, at_hour(10)), (int64_t)want);
    assert_memory_equal(&g, &h, sizeof(g)); /* one draw, no more */
}

static void test_arrival_gap_mean_follows_rate_and_factor(void **state)
{
    struct arrival_rate r = { .events_per_second = 200, .time_shaping = true };
    struct arrival_cache c;
    struct rng g;
    double sum = 0;
    const int n = 200000;

    (void)state;
    arrival_cache_init(&c);
    rng_seed(&g, 3);
    for (int i = 0; i < n; i++)
        sum += (double)arrival_gap_us(&c, &r, &g, at_hour(3));
    /* 200/s x 0.3 = 60/s: a mean of 16,667 us, within 1 % over 200,000 draws */
    assert_true(sum / n > 16667 * 0.99 && sum / n < 16667 * 1.01);
}

static void test_arrival_gap_is_clamped_to_1us_and_an_hour(void **state)
{
    struct arrival_rate fast = { .events_per_second = 1e9, .constant_rate = true };
    struct arrival_rate slow = { .events_per_second = 1e-9, .constant_rate = true };
    struct arrival_cache c;
    struct rng g;

    (void)state;
    arrival_cache_init(&c);
    rng_seed(&g, 1);
    assert_int_equal(arrival_gap_us(&c, &fast, &g, 0), 1);
    assert_int_equal(arrival_gap_us(&c, &slow, &g, 0), INT64_C(3600000000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrival_stream_seeds_differ_by_service_and_stream),
        cmocka_unit_test(test_arrival_factor_is_shaping_factor_or_one_when_off),
        cmocka_unit_test(test_arrival_constant_rate_spaces_evenly_without_a_draw),
        cmocka_unit_test(test_arrival_gap_is_one_exponential_draw),
        cmocka_unit_test(test_arrival_gap_mean_follows_rate_and_factor),
        cmocka_unit_test(test_arrival_gap_is_clamped_to_1us_and_an_hour),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
