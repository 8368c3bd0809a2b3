/* test_incident.c - the table of incidents in flight (a min-heap of the
 * services' own slots on their due time) and the pacing of their steps:
 * the arrival average, the squeeze and the gaps. What each service makes
 * of them (its gap ranges, its load) is tested with its generator. */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "anomaly.h"
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

/* ---- the driver ---- */

/* A toy service: type 0 is an incident of 3 steps 1 ms apart, type 1 a
 * single event. */
struct toy {
    int pick;          /* the type the service picks */
    bool ready;        /* whether a single event can be placed */
    double at_least;   /* its lower bound on the squeeze */
    struct anom_sched sched;
    int64_t last_us;
    double mean_dt_us;
    uint32_t dt_seen;
    uint32_t n;
    struct slot slots[CAP];
    struct inc_state view;
    struct rng r;
};

static int toy_pick(void *svc, struct inc_call *c)
{
    (void)c;
    return ((struct toy *)svc)->pick;
}

static bool toy_is_multi(int type)
{
    return type == 0;
}

static bool toy_ready(void *svc, struct inc_call *c, int type)
{
    (void)c;
    (void)type;
    return ((struct toy *)svc)->ready;
}

static void toy_single(void *svc, struct inc_call *c, int type)
{
    (void)svc;
    c->anomaly = type;
}

static double toy_init(void *svc, struct inc_call *c, int type)
{
    struct slot *in = c->in;

    in->type = (uint8_t)type;
    in->size = 3;
    return ((struct toy *)svc)->at_least;
}

static double toy_load(const struct anom_sched *s, double rate, double mean_dt_us)
{
    (void)s;
    (void)rate;
    (void)mean_dt_us;
    return 0.0;
}

static void toy_set_squeeze(void *slot, uint8_t squeeze)
{
    ((struct slot *)slot)->squeeze = squeeze;
}

static bool toy_valid(const void *svc, const void *slot)
{
    const struct slot *in = slot;

    (void)svc;
    return in->type == 0 && in->done >= 1 && in->done < in->size;
}

static bool toy_step(void *svc, struct inc_call *c)
{
    struct slot *in = c->in;

    (void)svc;
    c->anomaly = in->type;
    if (++in->done < in->size)
        in->next_us = c->ts_us + 1000;
    return in->done < in->size;
}

/* Injection: tag 1 marks an injected slot. */
static bool toy_injected(const void *slot)
{
    return ((const struct slot *)slot)->tag == 1;
}

static double toy_inject_init(void *svc, struct inc_call *c, const struct gen_inject *inj)
{
    struct slot *in = c->in;

    (void)svc;
    in->type = (uint8_t)inj->type;
    in->size = (uint8_t)inj->size;
    in->tag = 1;
    memcpy(in->id, inj->id, sizeof in->id);
    return 0.0;
}

static bool toy_inject_single(void *svc, struct inc_call *c, const struct gen_inject *inj)
{
    if (!((struct toy *)svc)->ready)
        return false;
    c->anomaly = inj->type;
    return true;
}

static const struct inc_ops toy_ops = {
    .slot_size = sizeof(struct slot),
    .max_active = 4,
    .pick = toy_pick,
    .is_multi = toy_is_multi,
    .single_ready = toy_ready,
    .single = toy_single,
    .init = toy_init,
    .load = toy_load,
    .set_squeeze = toy_set_squeeze,
    .valid = toy_valid,
    .step = toy_step,
    .injected = toy_injected,
    .inject_init = toy_inject_init,
    .inject_single = toy_inject_single,
};

static void toy_init_state(struct toy *t)
{
    memset(t, 0, sizeof *t);
    rng_seed(&t->r, 5);
    anom_init(&t->sched, &t->r, 2);
    t->view = (struct inc_state){ .sched = &t->sched, .last_us = &t->last_us,
                                  .mean_dt_us = &t->mean_dt_us, .dt_seen = &t->dt_seen,
                                  .slots = t->slots, .n_active = &t->n };
}

/* One call at t_us with `due` forced and rate; commits. Returns the call. */
static struct inc_call toy_call(const struct inc_ops *ops, struct toy *t, double rate, bool due,
                                int64_t t_us)
{
    static const double w[2] = { 1.0, 1.0 };
    double wo[2];
    struct slot in;
    struct inc_call c;

    (void)inc_begin(&c, &t->view, &in, &t->r, rate, w, 2, wo, t_us);
    assert_int_equal(inc_drive(ops, t, &t->view, &c, due, t_us), BM_OK);
    inc_commit(ops, &t->view, &c, t_us, &t->r);
    assert_int_equal(t->last_us, t_us);
    return c;
}

static void test_incident_driver_runs_an_incident_from_start_to_end(void **state)
{
    static struct toy t;
    struct inc_call c;

    (void)state;
    toy_init_state(&t);
    t.at_least = 16.0;
    c = toy_call(&toy_ops, &t, 0.0, true, 1000000);
    assert_int_equal(c.op, INC_PUSH);
    assert_int_equal(c.anomaly, 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.slots[0].done, 1);
    assert_int_equal(t.slots[0].squeeze, 16); /* the service's lower bound */
    assert_int_equal(t.slots[0].next_us, 1001000);
    c = toy_call(&toy_ops, &t, 0.0, false, 1000500); /* not due yet */
    assert_int_equal(c.op, INC_NONE);
    assert_int_equal(c.anomaly, -1);
    c = toy_call(&toy_ops, &t, 0.0, false, 1001000);
    assert_int_equal(c.op, INC_REPLACE_TOP);
    assert_int_equal(t.slots[0].done, 2);
    c = toy_call(&toy_ops, &t, 0.0, false, 1002500);
    assert_int_equal(c.op, INC_POP_TOP);
    assert_int_equal(c.anomaly, 0);
    assert_int_equal(t.n, 0);
    assert_true(t.sched.emitted == 3.0);
}

static void test_incident_driver_full_table_steps_early_only_when_flagged(void **state)
{
    static struct toy t;
    struct inc_ops early = toy_ops;
    struct inc_call c;

    (void)state;
    early.flags = INC_F_FULL_STEPS_EARLY;
    toy_init_state(&t);
    for (int i = 0; i < 4; i++)
        (void)toy_call(&toy_ops, &t, 0.0, true, 1000000 + i);
    assert_int_equal(t.n, 4);
    c = toy_call(&toy_ops, &t, 0.0, true, 1000010); /* full: the start waits */
    assert_int_equal(c.op, INC_NONE);
    assert_int_equal(c.anomaly, -1);
    assert_int_equal(t.n, 4);
    c = toy_call(&early, &t, 0.0, true, 1000020); /* the top, due at 1001000, steps now */
    assert_int_equal(c.op, INC_REPLACE_TOP);
    assert_int_equal(c.anomaly, 0);
    assert_int_equal(c.ts_us, 1000020);
    assert_int_equal(t.n, 4);
    c = toy_call(&early, &t, 0.0, false, 1000030); /* only when an anomaly is due */
    assert_int_equal(c.op, INC_NONE);
}

static void test_incident_driver_due_step_waits_while_ahead_only_when_flagged(void **state)
{
    static struct toy t;
    struct inc_ops wait = toy_ops;
    struct inc_call c;

    (void)state;
    wait.flags = INC_F_WAIT_AHEAD;
    toy_init_state(&t);
    (void)toy_call(&toy_ops, &t, 0.0, true, 1000000);
    t.sched.emitted = t.sched.expected + ANOM_AHEAD_MAX + 1.0; /* ahead of the target */
    c = toy_call(&wait, &t, 0.5, false, 1001000);
    assert_int_equal(c.op, INC_NONE);
    assert_int_equal(c.anomaly, -1);
    c = toy_call(&toy_ops, &t, 0.5, false, 1001000);
    assert_int_equal(c.op, INC_REPLACE_TOP);
}

static void test_incident_driver_single_event_needs_its_service_ready(void **state)
{
    static struct toy t;
    struct inc_call c;
    double threshold;

    (void)state;
    toy_init_state(&t);
    t.pick = 1;
    threshold = t.sched.threshold;
    c = toy_call(&toy_ops, &t, 0.0, true, 1000000);
    assert_int_equal(c.anomaly, -1); /* not ready: nothing, still owed */
    assert_true(t.sched.threshold == threshold);
    t.ready = true;
    c = toy_call(&toy_ops, &t, 0.0, true, 1000001);
    assert_int_equal(c.anomaly, 1);
    assert_int_equal(c.op, INC_NONE); /* no slot taken */
    assert_int_equal(t.n, 0);
    t.pick = -1; /* no type has weight */
    c = toy_call(&toy_ops, &t, 0.0, true, 1000002);
    assert_int_equal(c.anomaly, -1);
}

static void test_incident_driver_refuses_a_bad_slot_from_the_state(void **state)
{
    static struct toy t;
    static const double w[2] = { 1.0, 1.0 };
    double wo[2];
    struct slot in;
    struct inc_call c;

    (void)state;
    toy_init_state(&t);
    (void)toy_call(&toy_ops, &t, 0.0, true, 1000000);
    t.slots[0].done = t.slots[0].size; /* bytes that cannot be */
    (void)inc_begin(&c, &t.view, &in, &t.r, 0.0, w, 2, wo, 1001000);
    assert_int_equal(inc_drive(&toy_ops, &t, &t.view, &c, false, 1001000), BM_ESTATE);
}

/* One injection call at t_us; commits; *taken as inc_inject says. */
static struct inc_call toy_inject(struct toy *t, const struct gen_inject *inj, int64_t t_us,
                                  bool *taken)
{
    static const double w[2] = { 1.0, 1.0 };
    double wo[2];
    struct slot in;
    struct inc_call c;

    (void)inc_begin(&c, &t->view, &in, &t->r, 0.0, w, 2, wo, t_us);
    inc_inject(&toy_ops, t, &t->view, &c, inj, t_us, taken);
    inc_commit(&toy_ops, &t->view, &c, t_us, &t->r);
    return c;
}

static void test_incident_injected_runs_whole_and_is_not_counted(void **state)
{
    static struct toy t;
    const struct gen_inject inj = { .type = 0, .target = -1, .size = 4, .id = { 7 } };
    struct inc_call c;
    bool taken = false;

    (void)state;
    toy_init_state(&t);
    c = toy_inject(&t, &inj, 1000000, &taken);
    assert_true(taken);
    assert_true(c.injected);
    assert_int_equal(c.op, INC_PUSH);
    assert_int_equal(c.anomaly, 0);
    assert_int_equal(t.slots[0].size, 4);
    assert_int_equal(t.slots[0].id[0], 7);
    for (int i = 1; i < 4; i++) { /* its steps come through the driver, still marked */
        c = toy_call(&toy_ops, &t, 0.0, false, 1000000 + i * 1000);
        assert_true(c.injected);
        assert_int_equal(c.anomaly, 0);
    }
    assert_int_equal(c.op, INC_POP_TOP);
    assert_int_equal(t.n, 0);
    assert_true(t.sched.emitted == 0.0); /* the scheduler never heard of it */
    c = toy_call(&toy_ops, &t, 0.0, true, 1010000); /* a generated one is counted */
    assert_false(c.injected);
    assert_true(t.sched.emitted == 1.0);
}

static void test_incident_injected_waits_for_room_or_readiness(void **state)
{
    static struct toy t;
    const struct gen_inject multi = { .type = 0, .target = -1, .size = 3 };
    const struct gen_inject single = { .type = 1, .target = -1, .size = 1 };
    struct inc_call c;
    bool taken = true;

    (void)state;
    toy_init_state(&t);
    for (int i = 0; i < 4; i++)
        (void)toy_call(&toy_ops, &t, 0.0, true, 1000000 + i);
    c = toy_inject(&t, &multi, 1000010, &taken); /* table full */
    assert_false(taken);
    assert_int_equal(c.op, INC_NONE);
    assert_int_equal(c.anomaly, -1);
    assert_int_equal(t.n, 4);
    c = toy_inject(&t, &single, 1000020, &taken); /* not ready */
    assert_false(taken);
    t.ready = true;
    c = toy_inject(&t, &single, 1000030, &taken);
    assert_true(taken);
    assert_int_equal(c.anomaly, 1);
    assert_int_equal(c.op, INC_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incident_pop_gives_slots_in_due_order_whole),
        cmocka_unit_test(test_incident_injected_runs_whole_and_is_not_counted),
        cmocka_unit_test(test_incident_injected_waits_for_room_or_readiness),
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
        cmocka_unit_test(test_incident_driver_runs_an_incident_from_start_to_end),
        cmocka_unit_test(test_incident_driver_full_table_steps_early_only_when_flagged),
        cmocka_unit_test(test_incident_driver_due_step_waits_while_ahead_only_when_flagged),
        cmocka_unit_test(test_incident_driver_single_event_needs_its_service_ready),
        cmocka_unit_test(test_incident_driver_refuses_a_bad_slot_from_the_state),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
