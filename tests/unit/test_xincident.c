/* test_xincident.c - the cross-service incident schedule: a pure function
 * of seed and time (the same for every caller, whatever window it asks
 * for), one incident an hour at most, with the documented chance, mix,
 * start span and lag, and distinct UUID v4 ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xincident.h"

#define HOUR  3600000LL
#define T2026 1767225600000LL /* 2026-01-01T00:00:00Z */
#define HOURS 4000

static struct xinc all[HOURS];

static void test_xinc_same_seed_same_schedule_any_window(void **state)
{
    static struct xinc a[HOURS], b[HOURS];
    int n = xincident_schedule(7, T2026, T2026 + HOURS * HOUR, a, HOURS), m = 0;

    (void)state;
    assert_true(n > 0 && n <= HOURS);
    /* the same, asked in windows cut at odd places (services started apart) */
    for (int64_t t = T2026; t < T2026 + HOURS * HOUR; t += 7 * HOUR + 12345) {
        int64_t to = t + 7 * HOUR + 12345;
        m += xincident_schedule(7, t, to < T2026 + HOURS * HOUR ? to : T2026 + HOURS * HOUR, b + m,
                           HOURS - m);
    }
    assert_int_equal(m, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(a[i].id, b[i].id);
        assert_int_equal(a[i].kind, b[i].kind);
        assert_int_equal(a[i].slot, b[i].slot);
        assert_int_equal(a[i].start_ms, b[i].start_ms);
        assert_int_equal(a[i].lag_ms, b[i].lag_ms);
        assert_int_equal(a[i].entity, b[i].entity);
    }
    /* another seed, another schedule */
    m = xincident_schedule(8, T2026, T2026 + HOURS * HOUR, b, HOURS);
    assert_true(m > 0);
    assert_true(strcmp(a[0].id, b[0].id) != 0);
}

static void test_xinc_rules_hold(void **state)
{
    int n = xincident_schedule(11, T2026, T2026 + HOURS * HOUR, all, HOURS), takeovers = 0;

    (void)state;
    /* chance 0.5 an hour: 2000 +- 5 sigma (sigma ~ 32) */
    assert_true(n > 2000 - 160 && n < 2000 + 160);
    for (int i = 0; i < n; i++) {
        const struct xinc *x = &all[i];
        int64_t into = x->start_ms - x->slot * XINC_SLOT_MS;

        assert_int_equal(xincident_slot_of(x->start_ms), x->slot);
        assert_true(into >= 0 && into < XINC_START_SPAN_MS);
        if (i)
            assert_true(x->slot > all[i - 1].slot); /* one an hour at most, in order */
        assert_int_equal(strlen(x->id), RNG_UUID_LEN);
        assert_int_equal(x->id[14], '4');
        if (i)
            assert_true(strcmp(x->id, all[i - 1].id) != 0);
        if (x->kind == XINC_TAKEOVER) {
            takeovers++;
            assert_true(x->lag_ms >= XINC_LAG_MIN_MS && x->lag_ms <= XINC_LAG_MAX_MS);
        } else {
            assert_int_equal(x->kind, XINC_CASCADE);
            assert_int_equal(x->lag_ms, 0);
        }
    }
    /* two thirds takeovers: +- 5 sigma (sigma ~ 0.0105) */
    assert_true((double)takeovers / n > 2.0 / 3.0 - 0.053);
    assert_true((double)takeovers / n < 2.0 / 3.0 + 0.053);
}

static void test_xinc_window_bounds_and_slots(void **state)
{
    struct xinc x, one;
    int n;

    (void)state;
    assert_int_equal(xincident_slot_of(0), 0);
    assert_int_equal(xincident_slot_of(HOUR - 1), 0);
    assert_int_equal(xincident_slot_of(HOUR), 1);
    assert_int_equal(xincident_slot_of(-1), -1);
    assert_int_equal(xincident_schedule(3, T2026, T2026, &x, 1), 0);
    assert_int_equal(xincident_schedule(3, T2026 + HOUR, T2026, &x, 1), 0);
    /* the first slot that has one: a window of just its start holds it,
     * one ending at its start does not */
    for (int64_t k = xincident_slot_of(T2026);; k++)
        if (xincident_of_slot(3, k, &x))
            break;
    n = xincident_schedule(3, x.start_ms, x.start_ms + 1, &one, 1);
    assert_int_equal(n, 1);
    assert_string_equal(one.id, x.id);
    assert_int_equal(xincident_schedule(3, x.slot * XINC_SLOT_MS, x.start_ms, &one, 1), 0);
    /* more than max: counted, max kept */
    n = xincident_schedule(3, T2026, T2026 + 100 * HOUR, &one, 1);
    assert_true(n > 1);
}

/* Events at uneven spacing: each takeover's owner login, start and
 * follow-up are each due at exactly one event, the first at or after its
 * time; nothing at the stream's first event. */
static void test_xinc_parts_are_due_once(void **state)
{
    const int64_t from = 1767571200000LL; /* 2026-01-05 */
    const int64_t to = from + 200 * XINC_SLOT_MS;
    int64_t (*const at[3])(const struct xinc *) = { xincident_owner_ms, xincident_start_ms,
                                                    xincident_followup_ms };
    struct xinc sched[200];
    int n = xincident_schedule(7, from + XINC_SLOT_MS, to - XINC_SLOT_MS, sched, 200);
    int found[200][3];
    struct xinc x;
    int64_t last = 0, t = from * 1000;
    uint64_t k = 1;

    (void)state;
    memset(found, 0, sizeof found);
    assert_false(xincident_due(7, XINC_TAKEOVER, xincident_start_ms, 0, t, &x));
    while (t < to * 1000) {
        for (int p = 0; p < 3; p++) {
            if (!xincident_due(7, XINC_TAKEOVER, at[p], last, t, &x))
                continue;
            assert_true(at[p](&x) * 1000 <= t && at[p](&x) * 1000 > last);
            for (int i = 0; i < n; i++)
                found[i][p] += strcmp(sched[i].id, x.id) == 0;
        }
        last = t;
        k = k * 6364136223846793005ull + 1442695040888963407ull;
        t += 1000 + (int64_t)(k >> 33) % 9000000; /* 1 ms to 9 s */
    }
    for (int i = 0; i < n; i++)
        for (int p = 0; p < 3; p++)
            assert_int_equal(found[i][p], sched[i].kind == XINC_TAKEOVER ? 1 : 0);
}

/* The bank's customer numbers: as many as there are, distinct,
 * increasing, six digits, a function of the seed. */
/* A cascade's part: its events in its window in increasing time; the
 * event after a gap carries the latest planned in it; the last stays owed
 * (whatever the gaps) until the service records it done, and not after;
 * a stream starting after a part's last owes nothing of it. */
static void test_xinc_cascade_parts(void **state)
{
    int parts = 0;

    (void)state;
    for (int i = 0; i < HOURS && parts < 40; i++) {
        struct xinc x;
        struct xinc_part p, q;
        int64_t last_us, t_ms;
        uint32_t done;
        int k_prev = -1, emitted = 0;

        if (!xincident_of_slot(7, xincident_slot_of(T2026) + i, &x) || x.kind != XINC_CASCADE ||
            !(xincident_cascade_hits[xincident_cascade_origin(&x)] & XINC_HIT_TXN))
            continue;
        parts++;
        /* every 250 ms through the slot: each planned event once, in order */
        done = xincident_part_start(7, XINC_HIT_TXN, 6, 16, x.slot * HOUR * 1000);
        last_us = x.slot * HOUR * 1000;
        for (t_ms = x.slot * HOUR + 250; t_ms < (x.slot + 1) * HOUR; t_ms += 250) {
            if (xincident_cascade_part(7, XINC_HIT_TXN, 6, 16, done, last_us, t_ms * 1000, &p)) {
                assert_string_equal(p.x.id, x.id);
                assert_true(p.n >= 6 && p.n <= 16);
                assert_int_equal(p.k, k_prev + 1);
                assert_true(t_ms >= x.start_ms + XINC_PART_DELAY_MS);
                assert_true(t_ms <= xincident_cascade_end_ms(&x) + 250);
                k_prev = p.k;
                emitted++;
                if (p.k == p.n - 1)
                    done = xincident_part_done(&p);
            }
            last_us = t_ms * 1000;
        }
        assert_true(emitted >= 6 && k_prev == emitted - 1);
        /* one event after a long gap: the last, owed until done */
        done = xincident_part_start(7, XINC_HIT_TXN, 6, 16, x.slot * HOUR * 1000);
        assert_true(xincident_cascade_part(7, XINC_HIT_TXN, 6, 16, done, x.slot * HOUR * 1000,
                                           (x.slot + 1) * HOUR * 1000 + 5000, &q));
        assert_int_equal(q.k, q.n - 1);
        assert_true(xincident_cascade_part(7, XINC_HIT_TXN, 6, 16, done,
                                           (x.slot + 1) * HOUR * 1000 + 5000,
                                           (x.slot + 1) * HOUR * 1000 + 6000, &q));
        assert_int_equal(q.k, q.n - 1);
        done = xincident_part_done(&q);
        assert_false(xincident_cascade_part(7, XINC_HIT_TXN, 6, 16, done,
                                            (x.slot + 1) * HOUR * 1000 + 6000,
                                            (x.slot + 1) * HOUR * 1000 + 7000, &q));
        /* a stream starting once the window is over owes nothing */
        done = xincident_part_start(7, XINC_HIT_TXN, 6, 16,
                                    (xincident_cascade_end_ms(&x) + 1000) * 1000);
        assert_false(xincident_cascade_part(7, XINC_HIT_TXN, 6, 16, done,
                                            (xincident_cascade_end_ms(&x) + 1000) * 1000,
                                            (xincident_cascade_end_ms(&x) + 2000) * 1000, &q));
    }
    assert_true(parts >= 20);
}

static void test_xinc_customer_numbers(void **state)
{
    static uint32_t a[XINC_CUSTOMERS], b[XINC_CUSTOMERS];

    (void)state;
    assert_int_equal(xincident_customer_nums(7, a), BM_OK);
    assert_int_equal(xincident_customer_nums(7, b), BM_OK);
    assert_memory_equal(a, b, sizeof a);
    for (uint32_t i = 0; i < XINC_CUSTOMERS; i++) {
        assert_true(a[i] >= XINC_CUST_MIN && a[i] < XINC_CUST_MIN + XINC_CUST_SPAN);
        assert_true(i == 0 || a[i] > a[i - 1]);
    }
    assert_int_equal(xincident_customer_nums(8, b), BM_OK);
    assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xinc_same_seed_same_schedule_any_window),
        cmocka_unit_test(test_xinc_rules_hold),
        cmocka_unit_test(test_xinc_window_bounds_and_slots),
        cmocka_unit_test(test_xinc_parts_are_due_once),
        cmocka_unit_test(test_xinc_cascade_parts),
        cmocka_unit_test(test_xinc_customer_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
