/* test_anomaly.c - the deficit scheduler keeps the labelled count within
 * one maximum incident of p * n, whatever the incident sizes and rates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "anomaly.h"
#include "rng.h"

#define MAX_INC 8
#define TICKS 100000

/* Runs n ticks at rate p (or a changing rate when p < 0), committing an
 * incident of 1..MAX_INC events whenever told to; returns the largest
 * |committed - sum of p| seen after any tick. */
static double run(uint64_t seed, double p, int n, int *starts)
{
    struct anom_sched s;
    struct rng r, sizes;
    double sum = 0.0, worst = 0.0, rate = p;
    long committed = 0;

    rng_seed(&r, seed);
    rng_seed(&sizes, seed + 1000);
    anom_init(&s, &r, MAX_INC);
    *starts = 0;
    for (int i = 0; i < n; i++) {
        if (p < 0.0 && i % 1000 == 0) /* a new rate every 1,000 events */
            rate = rng_double(&sizes) * 0.5;
        sum += rate;
        if (anom_tick(&s, rate)) {
            int k = (int)rng_range(&sizes, 1, MAX_INC);

            anom_commit(&s, &r, k);
            committed += k;
            (*starts)++;
        }
        worst = fmax(worst, fabs((double)committed - sum));
    }
    return worst;
}

static void test_anomaly_fraction_stays_within_max_incident_of_target(void **state)
{
    static const double rates[] = { 0.001, 0.01, 0.03, 0.1, 0.25, 0.5 };
    int starts;

    (void)state;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        double worst = run(42 + i, rates[i], TICKS, &starts);

        assert_true(worst <= MAX_INC + 1e-9);
        assert_true(starts > 0);
    }
}

static void test_anomaly_rate_zero_never_starts(void **state)
{
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 7);
    anom_init(&s, &r, MAX_INC);
    s.threshold = 0.0; /* the edge a draw of exactly 0 would give */
    for (int i = 0; i < TICKS; i++)
        assert_false(anom_tick(&s, 0.0));
    assert_true(s.expected == 0.0);
    assert_false(anom_tick(&s, NAN));
    assert_false(anom_tick(&s, -0.5));
}

static void test_anomaly_rate_zero_holds_back_a_pending_deficit(void **state)
{
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 8);
    anom_init(&s, &r, MAX_INC);
    while (!anom_tick(&s, 0.2))
        ;
    /* Due, but not committed (e.g. the generator was full); then the rate
     * drops to 0: nothing may start any more. */
    for (int i = 0; i < 1000; i++)
        assert_false(anom_tick(&s, 0.0));
}

static void test_anomaly_bound_holds_when_rate_changes_mid_stream(void **state)
{
    int starts;

    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++)
        assert_true(run(seed, -1.0, TICKS, &starts) <= MAX_INC + 1e-9);
}

static void test_anomaly_uncommitted_deficit_waits_for_next_tick(void **state)
{
    struct anom_sched s;
    struct rng r;
    double sched_before;

    (void)state;
    rng_seed(&r, 9);
    anom_init(&s, &r, MAX_INC);
    while (!anom_tick(&s, 0.05))
        ;
    sched_before = s.scheduled;
    assert_true(anom_tick(&s, 0.05)); /* still due: nothing was committed */
    assert_true(s.scheduled == sched_before);
    anom_commit(&s, &r, 3);
    assert_true(s.scheduled == sched_before + 3.0);
}

static void test_anomaly_threshold_is_drawn_in_range(void **state)
{
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 10);
    anom_init(&s, &r, MAX_INC);
    assert_int_equal(s.max_incident, MAX_INC);
    for (int i = 0; i < 10000; i++) {
        assert_true(s.threshold >= 0.0 && s.threshold < MAX_INC);
        anom_commit(&s, &r, 1);
    }
}

static void test_anomaly_incident_spacing_is_irregular(void **state)
{
    struct anom_sched s;
    struct rng r;
    int last = -1, gap0 = -1;
    int different = 0;

    (void)state;
    rng_seed(&r, 11);
    anom_init(&s, &r, MAX_INC);
    for (int i = 0; i < 20000; i++) {
        if (!anom_tick(&s, 0.02))
            continue;
        anom_commit(&s, &r, 4);
        if (last >= 0) {
            if (gap0 < 0)
                gap0 = i - last;
            else if (i - last != gap0)
                different++;
        }
        last = i;
    }
    assert_true(different > 10);
}

static void test_anomaly_same_seed_gives_same_schedule(void **state)
{
    int a, b;

    (void)state;
    assert_true(run(77, 0.03, TICKS, &a) == run(77, 0.03, TICKS, &b));
    assert_int_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_fraction_stays_within_max_incident_of_target),
        cmocka_unit_test(test_anomaly_rate_zero_never_starts),
        cmocka_unit_test(test_anomaly_rate_zero_holds_back_a_pending_deficit),
        cmocka_unit_test(test_anomaly_bound_holds_when_rate_changes_mid_stream),
        cmocka_unit_test(test_anomaly_uncommitted_deficit_waits_for_next_tick),
        cmocka_unit_test(test_anomaly_threshold_is_drawn_in_range),
        cmocka_unit_test(test_anomaly_incident_spacing_is_irregular),
        cmocka_unit_test(test_anomaly_same_seed_gives_same_schedule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
