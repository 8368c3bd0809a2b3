/* test_rng.c - xoshiro256** stream, derived distributions, UUID v4. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Reference values from an independent implementation of splitmix64 and
 * xoshiro256** 1.0 (prng.di.unimi.it); splitmix64(0) = 0xe220a8397b1dcdaf
 * is the published first output. A change here breaks replay of every
 * stored stream. */
static void test_rng_seed_uses_splitmix64(void **state)
{
    struct rng r;

    (void)state;
    rng_seed(&r, 0);
    assert_true(r.s[0] == UINT64_C(0xe220a8397b1dcdaf));
    assert_true(r.s[1] == UINT64_C(0x6e789e6aa1b965f4));
    assert_true(r.s[2] == UINT64_C(0x06c45d188009454f));
    assert_true(r.s[3] == UINT64_C(0xf88bb8a8724c81ec));
}

static void test_rng_next_matches_reference_stream(void **state)
{
    static const uint64_t want0[] = {
        UINT64_C(0x99ec5f36cb75f2b4), UINT64_C(0xbf6e1f784956452a),
        UINT64_C(0x1a5f849d4933e6e0), UINT64_C(0x6aa594f1262d2d2c),
        UINT64_C(0xbba5ad4a1f842e59),
    };
    static const uint64_t want42[] = {
        UINT64_C(0x15780b2e0c2ec716), UINT64_C(0x6104d9866d113a7e),
        UINT64_C(0xae17533239e499a1), UINT64_C(0xecb8ad4703b360a1),
        UINT64_C(0xfde6dc7fe2ec5e64),
    };
    struct rng a, b;

    (void)state;
    rng_seed(&a, 0);
    rng_seed(&b, 42);
    for (size_t i = 0; i < 5; i++) {
        assert_true(rng_next(&a) == want0[i]);
        assert_true(rng_next(&b) == want42[i]);
    }
}

static void test_rng_same_seed_gives_same_sequence(void **state)
{
    struct rng a, b;

    (void)state;
    rng_seed(&a, 123456789);
    rng_seed(&b, 123456789);
    for (int i = 0; i < 10000; i++)
        assert_true(rng_next(&a) == rng_next(&b));
}

static void test_rng_different_seeds_give_different_sequences(void **state)
{
    struct rng a, b;
    int same = 0;

    (void)state;
    rng_seed(&a, 1);
    rng_seed(&b, 2);
    for (int i = 0; i < 1000; i++)
        same += rng_next(&a) == rng_next(&b);
    assert_int_equal(same, 0);
}

static void test_rng_below_is_uniform_over_small_range(void **state)
{
    enum { N = 10, DRAWS = 100000 };
    long count[N] = { 0 };
    double chi2 = 0, expect = (double)DRAWS / N;
    struct rng r;

    (void)state;
    rng_seed(&r, 7);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = rng_below(&r, N);

        assert_true(v < N);
        count[v]++;
    }
    for (int i = 0; i < N; i++)
        chi2 += ((double)count[i] - expect) * ((double)count[i] - expect) / expect;
    /* 9 degrees of freedom: 27.88 is the 0.999 quantile. */
    assert_true(chi2 < 27.88);
}

static void test_rng_below_has_no_modulo_bias_for_large_n(void **state)
{
    /* With n = 3 * 2^62, plain x % n would put half the draws in the
     * lowest third; unbiased draws put a third there. */
    const uint64_t n = UINT64_C(3) << 62, third = UINT64_C(1) << 62;
    long low = 0;
    struct rng r;

    (void)state;
    rng_seed(&r, 99);
    for (int i = 0; i < 60000; i++) {
        uint64_t v = rng_below(&r, n);

        assert_true(v < n);
        low += v < third;
    }
    assert_true(fabs((double)low / 60000.0 - 1.0 / 3.0) < 0.01);
}

static void test_rng_below_one_is_always_zero(void **state)
{
    struct rng r;

    (void)state;
    rng_seed(&r, 5);
    for (int i = 0; i < 100; i++)
        assert_true(rng_below(&r, 1) == 0);
}

static void test_rng_range_is_inclusive_and_bounded(void **state)
{
    struct rng r;
    bool seen_lo = false, seen_hi = false;

    (void)state;
    rng_seed(&r, 11);
    for (int i = 0; i < 10000; i++) {
        int64_t v = rng_range(&r, -3, 3);

        assert_true(v >= -3 && v <= 3);
        seen_lo |= v == -3;
        seen_hi |= v == 3;
    }
    assert_true(seen_lo && seen_hi);
    assert_true(rng_range(&r, 5, 5) == 5);
    /* Full span must not overflow. */
    for (int i = 0; i < 100; i++)
        (void)rng_range(&r, INT64_MIN, INT64_MAX);
    for (int i = 0; i < 1000; i++) {
        int64_t v = rng_range(&r, INT64_MIN, INT64_MIN + 1);

        assert_true(v == INT64_MIN || v == INT64_MIN + 1);
    }
}

static void test_rng_double_is_in_unit_interval_with_mean_half(void **state)
{
    struct rng r;
    double sum = 0;

    (void)state;
    rng_seed(&r, 3);
    for (int i = 0; i < 100000; i++) {
        double d = rng_double(&r);

        assert_true(d >= 0.0 && d < 1.0);
        sum += d;
    }
    /* sd of the mean: sqrt(1/12 / 1e5) ~ 0.0009 */
    assert_true(fabs(sum / 100000 - 0.5) < 0.005);
}

static void test_rng_chance_matches_probability(void **state)
{
    struct rng r;
    long hits = 0;

    (void)state;
    rng_seed(&r, 4);
    for (int i = 0; i < 100000; i++)
        hits += rng_chance(&r, 0.3);
    assert_true(fabs((double)hits / 100000 - 0.3) < 0.006);
    for (int i = 0; i < 1000; i++) {
        assert_false(rng_chance(&r, 0.0));
        assert_true(rng_chance(&r, 1.0));
    }
}

static void test_rng_normal_has_zero_mean_and_unit_variance(void **state)
{
    enum { N = 200000 };
    struct rng r;
    double sum = 0, sq = 0, mean, var;

    (void)state;
    rng_seed(&r, 8);
    for (int i = 0; i < N; i++) {
        double x = rng_normal(&r);

        assert_true(isfinite(x));
        sum += x;
        sq += x * x;
    }
    mean = sum / N;
    var = sq / N - mean * mean;
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(var - 1.0) < 0.02);
}

static void test_rng_normal_consumes_two_draws_and_caches_nothing(void **state)
{
    struct rng a, b;

    (void)state;
    rng_seed(&a, 21);
    rng_seed(&b, 21);
    (void)rng_normal(&a);
    (void)rng_next(&b);
    (void)rng_next(&b);
    assert_memory_equal(a.s, b.s, sizeof(a.s));
}

static void test_rng_exp_has_requested_mean(void **state)
{
    struct rng r;
    double sum = 0;

    (void)state;
    rng_seed(&r, 9);
    for (int i = 0; i < 100000; i++) {
        double x = rng_exp(&r, 2.5);

        assert_true(x >= 0 && isfinite(x));
        sum += x;
    }
    assert_true(fabs(sum / 100000 - 2.5) < 0.05);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void test_rng_lognormal_has_median_exp_mu(void **state)
{
    enum { N = 20001 };
    static double v[N];
    struct rng r;

    (void)state;
    rng_seed(&r, 10);
    for (int i = 0; i < N; i++) {
        v[i] = rng_lognormal(&r, 3.0, 0.5);
        assert_true(v[i] > 0);
    }
    qsort(v, N, sizeof(v[0]), cmp_double);
    assert_true(fabs(v[N / 2] / exp(3.0) - 1.0) < 0.03);
}

static void test_rng_weighted_follows_weights_and_skips_zero(void **state)
{
    const double w[] = { 1.0, 0.0, 3.0, -2.0 };
    long count[4] = { 0 };
    struct rng r;

    (void)state;
    rng_seed(&r, 12);
    for (int i = 0; i < 40000; i++) {
        int k = rng_weighted(&r, w, 4);

        assert_true(k >= 0 && k < 4);
        count[k]++;
    }
    assert_int_equal(count[1], 0);
    assert_int_equal(count[3], 0);
    assert_true(fabs((double)count[2] / 40000 - 0.75) < 0.015);
}

static void test_rng_weighted_returns_minus_one_when_all_zero(void **state)
{
    const double w[] = { 0.0, 0.0, -1.0 };
    struct rng r;

    (void)state;
    rng_seed(&r, 13);
    assert_int_equal(rng_weighted(&r, w, 3), -1);
    assert_int_equal(rng_weighted(&r, w, 0), -1);
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, RNG_UUID_LEN);
}

static void test_rng_uuid4_has_format_version_and_variant(void **state)
{
    enum { N = 10000 };
    static char ids[N][RNG_UUID_LEN + 1];
    struct rng r;

    (void)state;
    rng_seed(&r, 14);
    for (int i = 0; i < N; i++) {
        char *u = ids[i];

        rng_uuid4(&r, u);
        assert_int_equal(strlen(u), RNG_UUID_LEN);
        for (int k = 0; k < RNG_UUID_LEN; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(u[k], '-');
            else
                assert_true(is_lower_hex(u[k]));
        }
        assert_int_equal(u[14], '4');
        assert_non_null(strchr("89ab", u[19]));
    }
    qsort(ids, N, sizeof(ids[0]), cmp_uuid);
    for (int i = 1; i < N; i++)
        assert_true(memcmp(ids[i - 1], ids[i], RNG_UUID_LEN) != 0);
}

static void test_rng_uuid4_is_reproducible_from_seed(void **state)
{
    struct rng r;
    char u[RNG_UUID_LEN + 1];

    (void)state;
    rng_seed(&r, 42);
    rng_uuid4(&r, u);
    assert_string_equal(u, "15780b2e-0c2e-4716-a104-d9866d113a7e");
}

static void test_rng_os_u64_differs_between_calls(void **state)
{
    uint64_t a, b, c;

    (void)state;
    a = rng_os_u64();
    b = rng_os_u64();
    c = rng_os_u64();
    assert_false(a == b && b == c);
}

static void test_rng_distinct_gives_sorted_distinct_values_in_range(void **state)
{
    static uint32_t out[5000];
    struct rng r;

    (void)state;
    rng_seed(&r, 21);
    assert_int_equal(rng_distinct(&r, 100000, 900000, 5000, out), BM_OK);
    for (int i = 0; i < 5000; i++) {
        assert_in_range(out[i], 100000, 999999);
        if (i)
            assert_true(out[i - 1] < out[i]);
    }
    /* all of a small span: every value once */
    assert_int_equal(rng_distinct(&r, 7, 10, 10, out), BM_OK);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(out[i], 7 + i);
    assert_int_equal(rng_distinct(&r, 0, 10, 11, out), BM_EINVAL);
}

static void test_rng_distinct_is_reproducible_from_seed(void **state)
{
    static uint32_t a[1000], b[1000];
    struct rng r1, r2;

    (void)state;
    rng_seed(&r1, 22);
    rng_seed(&r2, 22);
    assert_int_equal(rng_distinct(&r1, 0, 50000, 1000, a), BM_OK);
    assert_int_equal(rng_distinct(&r2, 0, 50000, 1000, b), BM_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(&r1, &r2, sizeof r1);
}

/* Populations are built from it: a change would change every stream. */
static void test_rng_hash_is_a_fixed_function_of_its_inputs(void **state)
{
    struct rng r;

    (void)state;
    rng_seed(&r, 1);
    assert_true(rng_hash(1, 2, 3) == UINT64_C(0x4ebfe70c10481412));
    assert_true(rng_hash(0x1234, 7, 0) == UINT64_C(0x424346f3b30fe21f));
    assert_true(rng_hash(1, 2, 3) != rng_hash(1, 3, 2));
    assert_true(rng_hash(1, 2, 3) != rng_hash(2, 2, 3));
    (void)rng_next(&r); /* draws from no stream */
    assert_true(rng_hash(1, 2, 3) == UINT64_C(0x4ebfe70c10481412));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_seed_uses_splitmix64),
        cmocka_unit_test(test_rng_next_matches_reference_stream),
        cmocka_unit_test(test_rng_same_seed_gives_same_sequence),
        cmocka_unit_test(test_rng_different_seeds_give_different_sequences),
        cmocka_unit_test(test_rng_below_is_uniform_over_small_range),
        cmocka_unit_test(test_rng_below_has_no_modulo_bias_for_large_n),
        cmocka_unit_test(test_rng_below_one_is_always_zero),
        cmocka_unit_test(test_rng_range_is_inclusive_and_bounded),
        cmocka_unit_test(test_rng_double_is_in_unit_interval_with_mean_half),
        cmocka_unit_test(test_rng_chance_matches_probability),
        cmocka_unit_test(test_rng_normal_has_zero_mean_and_unit_variance),
        cmocka_unit_test(test_rng_normal_consumes_two_draws_and_caches_nothing),
        cmocka_unit_test(test_rng_exp_has_requested_mean),
        cmocka_unit_test(test_rng_lognormal_has_median_exp_mu),
        cmocka_unit_test(test_rng_weighted_follows_weights_and_skips_zero),
        cmocka_unit_test(test_rng_weighted_returns_minus_one_when_all_zero),
        cmocka_unit_test(test_rng_distinct_gives_sorted_distinct_values_in_range),
        cmocka_unit_test(test_rng_distinct_is_reproducible_from_seed),
        cmocka_unit_test(test_rng_uuid4_has_format_version_and_variant),
        cmocka_unit_test(test_rng_uuid4_is_reproducible_from_seed),
        cmocka_unit_test(test_rng_os_u64_differs_between_calls),
        cmocka_unit_test(test_rng_hash_is_a_fixed_function_of_its_inputs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
