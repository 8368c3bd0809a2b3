/* test_risk.c - the risk engine's noise and misfires: in [0, 1], centred
 * on the features' score, a few far too high, replayed from the seed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "risk.h"

#define N 100000

static void test_risk_score_is_clamped_to_the_unit_interval(void **state)
{
    struct rng r;

    (void)state;
    rng_seed(&r, 1);
    for (int i = 0; i < N; i++) {
        double lo = risk_score(-5.0, &r), hi = risk_score(5.0, &r), mid = risk_score(0.5, &r);

        assert_true(lo >= 0.0 && lo <= 0.6);
        assert_true(hi == 1.0);
        assert_true(mid >= 0.0 && mid <= 1.0);
    }
}

static void test_risk_score_is_noisy_around_the_features_with_few_misfires(void **state)
{
    struct rng r;
    double sum = 0.0;
    int far = 0;

    (void)state;
    rng_seed(&r, 2);
    for (int i = 0; i < N; i++) {
        double s = risk_score(0.3, &r);

        sum += s;
        far += s > 0.3 + 0.25; /* beyond four sd of noise: a misfire */
    }
    assert_true(fabs(sum / N - (0.3 + 0.03 * 0.425)) < 0.005);
    assert_in_range(far, N * 25 / 1000, N * 35 / 1000);
}

static void test_risk_score_replays_from_the_seed(void **state)
{
    struct rng a, b;

    (void)state;
    rng_seed(&a, 3);
    rng_seed(&b, 3);
    for (int i = 0; i < 1000; i++)
        assert_true(risk_score(0.1 * (i % 10), &a) == risk_score(0.1 * (i % 10), &b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_risk_score_is_clamped_to_the_unit_interval),
        cmocka_unit_test(test_risk_score_is_noisy_around_the_features_with_few_misfires),
        cmocka_unit_test(test_risk_score_replays_from_the_seed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
