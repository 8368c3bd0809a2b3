/* test_anomaly.c - the deficit scheduler keeps the labelled count within
 * about one event of p * n, and each type's share of the anomalous events
 * on its weight, whatever the incident sizes, durations and rates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "anomaly.h"
#include "rng.h"

#define TICKS 100000
#define N_TYPES 3
#define MAX_INC 8
#define PENDING_MAX 4096

/* A toy generator: type 0 is one event; types 1 and 2 are incidents of
 * 3..MAX_INC events whose later steps come `delay` ticks apart (random up
 * to delay when jitter), emitted whatever the deficit, as the real
 * generator does. */
struct sim {
    struct anom_sched s;
    struct rng r, sizes;
    long due[PENDING_MAX]; /* tick a pending step is due */
    int type[PENDING_MAX];
    int left[PENDING_MAX]; /* steps after this one */
    int n_pending;
    long events[N_TYPES];
    long anomalies;
    double sum_p;
    double worst_behind, worst_ahead;
};

static void sim_init(struct sim *m, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    rng_seed(&m->r, seed);
    rng_seed(&m->sizes, seed + 1000);
    anom_init(&m->s, &m->r, N_TYPES);
}

static void emit(struct sim *m, int t)
{
    anom_emitted(&m->s, t);
    m->events[t]++;
    m->anomalies++;
}

static void schedule(struct sim *m, long now, int t, int left, long delay)
{
    int i = m->n_pending++;

    assert_true(m->n_pending <= PENDING_MAX);
    m->due[i] = now + 1 + (long)rng_below(&m->sizes, (uint64_t)delay);
    m->type[i] = t;
    m->left[i] = left;
}

/* One tick at rate p with weights w: a due step, else maybe a start. */
static void sim_tick(struct sim *m, long now, double p, const double *w, long delay)
{
    bool due;

    anom_weights(&m->s, w);
    due = anom_tick(&m->s, p);
    m->sum_p += p > 0.0 ? p : 0.0;
    for (int i = 0; i < m->n_pending; i++) {
        if (m->due[i] > now)
            continue;
        emit(m, m->type[i]);
        if (m->left[i] > 0) {
            m->left[i]--;
            m->due[i] = now + 1 + (long)rng_below(&m->sizes, (uint64_t)delay);
        } else {
            m->n_pending--;
            m->due[i] = m->due[m->n_pending];
            m->type[i] = m->type[m->n_pending];
            m->left[i] = m->left[m->n_pending];
        }
        goto out;
    }
    if (due) {
        int t = anom_pick(&m->s, &m->r);

        if (t >= 0) {
            anom_started(&m->s, &m->r);
            emit(m, t);
            if (t > 0)
                schedule(m, now, t, (int)rng_range(&m->sizes, 2, MAX_INC - 1), delay);
        }
    }
out:
    m->worst_behind = fmax(m->worst_behind, m->sum_p - (double)m->anomalies);
    m->worst_ahead = fmax(m->worst_ahead, (double)m->anomalies - m->sum_p);
}

static void test_anomaly_count_stays_within_one_event_of_target(void **state)
{
    static const double rates[] = { 0.001, 0.01, 0.03, 0.1, 0.25, 0.5 };
    static const double w[N_TYPES] = { 1, 0, 0 };

    (void)state;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        struct sim m;

        sim_init(&m, 42 + i);
        for (long k = 0; k < TICKS; k++)
            sim_tick(&m, k, rates[i], w, 1);
        assert_true(m.worst_behind <= 1.0 + 1e-9);
        assert_true(m.worst_ahead <= 1.0 + 1e-9);
        assert_true(m.anomalies > 0);
    }
}

/* Long incidents (later steps hundreds of ticks away) do not pull the
 * labelled count behind: running incidents stand in for new starts. */
static void test_anomaly_long_incidents_keep_the_count_on_target(void **state)
{
    static const double w[N_TYPES] = { 1, 1, 1 };
    struct sim m;

    (void)state;
    sim_init(&m, 5);
    for (long k = 0; k < TICKS; k++)
        sim_tick(&m, k, 0.03, w, 2000);
    assert_true(m.worst_behind <= 1.0 + 1e-9);
    assert_true(fabs((double)m.anomalies - m.sum_p) <= 4.0 * sqrt(0.03 * 0.97 * TICKS));
}

static void test_anomaly_type_shares_follow_weights_whatever_the_sizes(void **state)
{
    static const double ws[][N_TYPES] = { { 1, 1, 1 }, { 0, 2, 1 }, { 3, 0, 1 }, { 0, 0, 1 } };

    (void)state;
    for (size_t c = 0; c < sizeof ws / sizeof ws[0]; c++) {
        double sum = ws[c][0] + ws[c][1] + ws[c][2];
        struct sim m;

        sim_init(&m, 60 + c);
        for (long k = 0; k < TICKS; k++)
            sim_tick(&m, k, 0.05, ws[c], 300);
        for (int t = 0; t < N_TYPES; t++) {
            double share = (double)m.events[t] / (double)m.anomalies;

            if (ws[c][t] == 0.0)
                assert_int_equal(m.events[t], 0);
            else
                assert_true(fabs(share - ws[c][t] / sum) <= 0.01);
        }
    }
}

static void test_anomaly_pick_never_returns_a_type_without_weight(void **state)
{
    static const double w[N_TYPES] = { 0, 1, 0 };
    static const double none[N_TYPES] = { 0, 0, 0 };
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 3);
    anom_init(&s, &r, N_TYPES);
    anom_weights(&s, w);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(anom_pick(&s, &r), 1);
        anom_emitted(&s, i % 7 == 0 ? 0 : 1); /* old incidents may still emit */
    }
    anom_weights(&s, none);
    assert_int_equal(anom_pick(&s, &r), -1);
}

/* A weight change starts a fresh balance: debts from before do not starve
 * a type afterwards. */
static void test_anomaly_weight_change_resets_the_balance(void **state)
{
    static const double a[N_TYPES] = { 0, 0, 1 }, b[N_TYPES] = { 1, 1, 0 };
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 4);
    anom_init(&s, &r, N_TYPES);
    anom_weights(&s, a);
    for (int i = 0; i < 5000; i++)
        anom_emitted(&s, 2);
    anom_weights(&s, b);
    for (int i = 0; i < N_TYPES; i++)
        assert_true(s.owed[i] == 0.0);
    assert_true(s.weights[0] == 0.5 && s.weights[1] == 0.5 && s.weights[2] == 0.0);
    anom_weights(&s, (const double[N_TYPES]){ 2, 2, 0 }); /* same, normalised */
    anom_emitted(&s, 0);
    anom_weights(&s, (const double[N_TYPES]){ 2, 2, 0 });
    assert_true(s.owed[0] == -0.5 && s.owed[1] == 0.5);
}

static void test_anomaly_rate_zero_never_starts(void **state)
{
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 7);
    anom_init(&s, &r, N_TYPES);
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
    anom_init(&s, &r, N_TYPES);
    while (!anom_tick(&s, 0.2))
        ;
    /* Due, but not started (e.g. the generator was full); then the rate
     * drops to 0: nothing may start any more. */
    for (int i = 0; i < 1000; i++)
        assert_false(anom_tick(&s, 0.0));
}

static void test_anomaly_unstarted_deficit_waits_for_next_tick(void **state)
{
    struct anom_sched s;
    struct rng r;
    double emitted_before;

    (void)state;
    rng_seed(&r, 9);
    anom_init(&s, &r, N_TYPES);
    while (!anom_tick(&s, 0.05))
        ;
    emitted_before = s.emitted;
    assert_true(anom_tick(&s, 0.05)); /* still due: nothing was started */
    assert_true(s.emitted == emitted_before);
    anom_started(&s, &r);
    anom_emitted(&s, 0);
    assert_true(s.emitted == emitted_before + 1.0);
}

static void test_anomaly_threshold_is_drawn_in_range(void **state)
{
    struct anom_sched s;
    struct rng r;

    (void)state;
    rng_seed(&r, 10);
    anom_init(&s, &r, N_TYPES);
    assert_int_equal(s.n_types, N_TYPES);
    for (int i = 0; i < 10000; i++) {
        assert_true(s.threshold >= 0.0 && s.threshold < 1.0);
        anom_started(&s, &r);
    }
}

static void test_anomaly_valid_rejects_bytes_out_of_range(void **state)
{
    struct anom_sched s, bad;
    struct rng r;

    (void)state;
    rng_seed(&r, 12);
    anom_init(&s, &r, N_TYPES);
    assert_true(anom_valid(&s, N_TYPES));
    assert_false(anom_valid(&s, N_TYPES + 1));
    bad = s;
    bad.n_types = ANOM_MAX_TYPES + 1;
    assert_false(anom_valid(&bad, ANOM_MAX_TYPES + 1));
    bad = s;
    bad.threshold = 1.0;
    assert_false(anom_valid(&bad, N_TYPES));
    bad = s;
    bad.threshold = NAN;
    assert_false(anom_valid(&bad, N_TYPES));
}

static void test_anomaly_incident_spacing_is_irregular(void **state)
{
    struct anom_sched s;
    struct rng r;
    int last = -1, gap0 = -1;
    int different = 0;

    (void)state;
    rng_seed(&r, 11);
    anom_init(&s, &r, N_TYPES);
    for (int i = 0; i < 20000; i++) {
        if (!anom_tick(&s, 0.02))
            continue;
        anom_started(&s, &r);
        anom_emitted(&s, 0);
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
    static const double w[N_TYPES] = { 1, 1, 1 };
    struct sim a, b;

    (void)state;
    sim_init(&a, 77);
    sim_init(&b, 77);
    for (long k = 0; k < TICKS; k++) {
        sim_tick(&a, k, 0.03, w, 500);
        sim_tick(&b, k, 0.03, w, 500);
    }
    assert_memory_equal(&a.s, &b.s, sizeof a.s);
    assert_memory_equal(a.events, b.events, sizeof a.events);
}

/* The rate fed to anom_tick(): capped at 1, and 0 while no type has
 * weight, so no deficit piles up to burst out when one is switched on. */
static void test_anomaly_rate_is_zero_without_weight_and_capped_at_one(void **state)
{
    const double w[4] = { 2.0, -1.0, NAN, INFINITY };
    const double none[3] = { 0.0, -3.0, NAN };
    double out[4];

    (void)state;
    assert_true(anom_rate(0.05, w, 4, out) == 0.05);
    assert_true(out[0] == 2.0 && out[1] == 0.0 && out[2] == 0.0 && out[3] == 0.0);
    assert_true(anom_rate(3.0, w, 4, out) == 1.0);
    assert_true(anom_rate(0.0, w, 4, out) == 0.0);
    assert_true(anom_rate(NAN, w, 4, out) == 0.0);
    assert_true(anom_rate(0.5, none, 3, out) == 0.0);
    assert_true(out[0] == 0.0 && out[1] == 0.0 && out[2] == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_count_stays_within_one_event_of_target),
        cmocka_unit_test(test_anomaly_long_incidents_keep_the_count_on_target),
        cmocka_unit_test(test_anomaly_type_shares_follow_weights_whatever_the_sizes),
        cmocka_unit_test(test_anomaly_pick_never_returns_a_type_without_weight),
        cmocka_unit_test(test_anomaly_weight_change_resets_the_balance),
        cmocka_unit_test(test_anomaly_rate_zero_never_starts),
        cmocka_unit_test(test_anomaly_rate_zero_holds_back_a_pending_deficit),
        cmocka_unit_test(test_anomaly_unstarted_deficit_waits_for_next_tick),
        cmocka_unit_test(test_anomaly_threshold_is_drawn_in_range),
        cmocka_unit_test(test_anomaly_valid_rejects_bytes_out_of_range),
        cmocka_unit_test(test_anomaly_incident_spacing_is_irregular),
        cmocka_unit_test(test_anomaly_same_seed_gives_same_schedule),
        cmocka_unit_test(test_anomaly_rate_is_zero_without_weight_and_capped_at_one),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
