/* test_incident.c - the table of incidents in flight (a min-heap of the
 * services' own slots on their due time) and the pacing of their steps:
 * the arrival average, the squeeze and the gaps. What each service makes
 * of them (its gap ranges, its load) is tested with its generator. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "incident.h"
#include "rng.h"

/* A slot as the services have them: the due time first, then the rest. */
struct slot {
    int64_t next_us;
    uint8_t id[16];
    uint32_t tag;
    uint8_t type, size, done, squeeze;
};

#define CAP 512

static void assert_heap(const struct slot *s, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        assert_true(s[(i - 1) / 2].next_us <= s[i].next_us);
}

static void assert_zero_past(const struct slot *s, uint32_t n)
{
    static const struct slot zero;

    for (uint32_t i = n; i < CAP; i++)
        assert_memory_equal(&s[i], &zero, sizeof zero);
}

/* ---- the heap ---- */

static void test_incident_pop_gives_slots_in_due_order_whole(void **state)
{
    static struct slot s[CAP];
    uint32_t n = 0;
    struct rng r;
    int64_t last = INT64_MIN;

    (void)state;
    rng_seed(&r, 1);
    for (uint32_t i = 0; i < 300; i++) {
        struct slot in = { .next_us = (int64_t)rng_below(&r, 1000), .tag = i };

        in.id[0] = (uint8_t)i;
        inc_apply(s, sizeof s[0], &n, INC_PUSH, &in);
        assert_heap(s, n);
    }
    assert_int_equal(n, 300);
    while (n > 0) {
        assert_true(s[0].next_us >= last);
        assert_int_equal(s[0].id[0], (uint8_t)s[0].tag); /* moved whole */
        last = s[0].next_us;
        inc_apply(s, sizeof s[0], &n, INC_POP_TOP, NULL);
        assert_heap(s, n);
        assert_zero_past(s, n);
    }
}

static void test_incident_replace_top_refiles_the_stepped_incident(void **state)
{
    static struct slot s[CAP];
    uint32_t n = 0;

    (void)state;
    for (int64_t t = 10; t <= 50; t += 10) {
        struct slot in = { .next_us = t, .tag = (uint32_t)t };

        inc_apply(s, sizeof s[0], &n, INC_PUSH, &in);
    }
    for (int step = 0; step < 5; step++) {
        struct slot in = s[0];

        in.next_us += 45; /* due after all the others */
        in.done++;
        inc_apply(s, sizeof s[0], &n, INC_REPLACE_TOP, &in);
        assert_int_equal(n, 5);
        assert_heap(s, n);
    }
    /* each of the five moved on once, in due order */
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(s[i].done, 1);
    assert_int_equal(s[0].next_us, 55);
    assert_int_equal(s[0].tag, 10);
}

static void test_incident_none_and_empty_pop_change_nothing(void **state)
{
    static struct slot s[CAP], before[CAP];
    struct slot in = { .next_us = 7 };
    uint32_t n = 0;

    (void)state;
    inc_apply(s, sizeof s[0], &n, INC_POP_TOP, NULL);
    assert_int_equal(n, 0);
    inc_apply(s, sizeof s[0], &n, INC_PUSH, &in);
    memcpy(before, s, sizeof s);
    inc_apply(s, sizeof s[0], &n, INC_NONE, &in);
    assert_int_equal(n, 1);
    assert_memory_equal(before, s, sizeof s);
    inc_apply(s, sizeof s[0], &n, INC_POP_TOP, NULL);
    assert_int_equal(n, 0);
    assert_zero_past(s, 0);
}

/* Equal due times: the order of the table is a function of the calls
 * alone (the persisted state replays byte for byte). */
static void test_incident_same_calls_give_the_same_bytes(void **state)
{
    static struct slot a[CAP], b[CAP];
    uint32_t na = 0, nb = 0;
    struct rng r1, r2;

    (void)state;
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    for (int i = 0; i < 5000; i++) {
        struct rng *rs[2] = { &r1, &r2 };
        struct slot *ss[2] = { a, b };
        uint32_t *ns[2] = { &na, &nb };

        for (int k = 0; k < 2; k++) {
            uint64_t op = rng_below(rs[k], 3);
            struct slot in = { .next_us = (int64_t)rng_below(rs[k], 8), .tag = (uint32_t)i };

            if (op == 0 && *ns[k] < CAP)
                inc_apply(ss[k], sizeof a[0], ns[k], INC_PUSH, &in);
            else if (op == 1 && *ns[k] > 0)
                inc_apply(ss[k], sizeof a[0], ns[k], INC_REPLACE_TOP, &in);
            else
                inc_apply(ss[k], sizeof a[0], ns[k], INC_POP_TOP, NULL);
        }
    }
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, sizeof a);
}

/* ---- the arrival average ---- */

static void test_incident_mean_dt_starts_at_the_first_spacing(void **state)
{
    uint32_t seen = 0;
    double m;

    (void)state;
    m = inc_mean_dt(0, 0.0, &seen, 1000000); /* the first arrival */
    assert_true(m == 0.0);
    assert_int_equal(seen, 0);
    m = inc_mean_dt(1000000, m, &seen, 1000500);
    assert_true(m == 500.0);
    assert_int_equal(seen, 1);
    m = inc_mean_dt(1000500, m, &seen, 1000500); /* no time passed: unchanged */
    assert_true(m == 500.0);
    assert_int_equal(seen, 1);
}

static void test_incident_mean_dt_follows_a_rate_change_and_clamps_pauses(void **state)
{
    uint32_t seen = 0;
    int64_t t = 1000000, last = 0;
    double m = 0.0;

    (void)state;
    for (int i = 0; i < 5000; i++, t += 200) {
        m = inc_mean_dt(last, m, &seen, t);
        last = t;
    }
    assert_true(fabs(m - 200.0) < 1e-6);
    assert_int_equal(seen, 1024); /* the window */
    m = inc_mean_dt(last, m, &seen, last + 3600000000LL); /* an hour's pause */
    assert_true(m <= 200.0 + 7.0 * 200.0 / 1024.0 + 1e-9);
    last += 3600000000LL;
    for (int i = 0; i < 20000; i++) {
        last += 10000;
        m = inc_mean_dt(last - 10000, m, &seen, last);
    }
    assert_true(fabs(m - 10000.0) < 1.0);
}

static void test_incident_mean_dt_recovers_from_bad_bytes(void **state)
{
    uint32_t seen = 7;
    double m = inc_mean_dt(1000, NAN, &seen, 1500);

    (void)state;
    assert_true(m == 500.0);
    assert_int_equal(seen, 1);
    seen = 3;
    m = inc_mean_dt(1000, -4.0, &seen, 1100);
    assert_true(m == 100.0);
}

/* ---- the squeeze ---- */

static void test_incident_no_squeeze_with_room_and_light_load(void **state)
{
    (void)state;
    assert_int_equal(inc_squeeze(0.0, 0, 1000, 0.0), 0);
    assert_int_equal(inc_squeeze(800.0, 899, 1000, 0.0), 0); /* at the fit, below 90% */
    assert_int_equal(inc_squeeze(NAN, 10, 1000, 0.0), 0);
}

static void test_incident_load_squeeze_is_eight_per_halving(void **state)
{
    (void)state;
    assert_int_equal(inc_squeeze(1600.0, 0, 1000, 0.0), 8);  /* twice the fit */
    assert_int_equal(inc_squeeze(6400.0, 0, 1000, 0.0), 24); /* 8x */
    assert_int_equal(inc_squeeze(1e300, 0, 1000, 0.0), 200); /* capped */
}

static void test_incident_room_squeeze_grows_as_the_table_fills(void **state)
{
    uint8_t prev = 0;

    (void)state;
    /* free at 90% full: 100 slots; half of that: 24 (cubed halving) */
    assert_int_equal(inc_squeeze(0.0, 950, 1000, 0.0), 24);
    for (uint32_t n = 900; n <= 1000; n++) {
        uint8_t q = inc_squeeze(0.0, n, 1000, 0.0);

        assert_true(q >= prev);
        prev = q;
    }
    assert_true(prev >= 150); /* a full table empties fast */
}

static void test_incident_squeeze_is_the_largest_of_its_parts(void **state)
{
    (void)state;
    assert_int_equal(inc_squeeze(0.0, 0, 768, 30.4), 30);
    assert_int_equal(inc_squeeze(4.0 * 0.8 * 768, 0, 768, 3.0), 16);
    /* room: 77 slots free at 90% full, 38 now */
    assert_int_equal(inc_squeeze(4.0 * 0.8 * 768, 768 - 38, 768, 3.0), 24);
    assert_int_equal(inc_squeeze(0.0, 0, 768, -5.0), 0);
}

/* ---- gaps ---- */

static void test_incident_gaps_stay_in_range_and_scale_with_the_squeeze(void **state)
{
    struct rng r;
    double sum0 = 0.0, sum8 = 0.0;

    (void)state;
    rng_seed(&r, 3);
    for (int i = 0; i < 20000; i++) {
        int64_t g = inc_gap_us(&r, 60000000, 300000000, 0);

        assert_in_range(g, 60000000, 300000000);
        sum0 += (double)g;
        g = inc_gap_us(&r, 60000000, 300000000, 8);
        assert_in_range(g, 30000000, 150000000);
        sum8 += (double)g;
    }
    assert_true(fabs(sum8 / sum0 - 0.5) < 0.02);
}

static void test_incident_gaps_never_go_below_the_floor(void **state)
{
    struct rng r;

    (void)state;
    rng_seed(&r, 4);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(inc_gap_us(&r, 1000000, 7000000, 200), INC_GAP_FLOOR_US);
    assert_int_equal(inc_gap_us(&r, 10, 20, 0), INC_GAP_FLOOR_US);
}

static void test_incident_gaps_replay_from_the_seed(void **state)
{
    struct rng a, b;

    (void)state;
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(inc_gap_us(&a, 1000000, 5000000, (uint8_t)(i % 40)),
                         inc_gap_us(&b, 1000000, 5000000, (uint8_t)(i % 40)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incident_pop_gives_slots_in_due_order_whole),
        cmocka_unit_test(test_incident_replace_top_refiles_the_stepped_incident),
        cmocka_unit_test(test_incident_none_and_empty_pop_change_nothing),
        cmocka_unit_test(test_incident_same_calls_give_the_same_bytes),
        cmocka_unit_test(test_incident_mean_dt_starts_at_the_first_spacing),
        cmocka_unit_test(test_incident_mean_dt_follows_a_rate_change_and_clamps_pauses),
        cmocka_unit_test(test_incident_mean_dt_recovers_from_bad_bytes),
        cmocka_unit_test(test_incident_no_squeeze_with_room_and_light_load),
        cmocka_unit_test(test_incident_load_squeeze_is_eight_per_halving),
        cmocka_unit_test(test_incident_room_squeeze_grows_as_the_table_fills),
        cmocka_unit_test(test_incident_squeeze_is_the_largest_of_its_parts),
        cmocka_unit_test(test_incident_gaps_stay_in_range_and_scale_with_the_squeeze),
        cmocka_unit_test(test_incident_gaps_never_go_below_the_floor),
        cmocka_unit_test(test_incident_gaps_replay_from_the_seed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
