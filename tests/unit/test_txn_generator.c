/* test_txn_generator.c - the transaction generator: replay, event shape,
 * anomaly rate and the shape of each anomaly scenario. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "config.h"
#include "gen_check.h"
#include "parse.h"
#include "txn.h"
#include "txn_internal.h"

#define START_US 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define SEC_US 1000000LL
#define SEC_MS 1000LL /* a second in ms: gaps are in ms */

static struct txn_model *model;

/* Gaps between the steps of incidents, per type, in ms. */
struct gaps {
    int64_t *v;
    int n, cap;
};
static struct gaps gaps[TXN_A_COUNT];

static void record_gap(int type, int64_t ms)
{
    struct gaps *g = &gaps[type];

    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 1024;
        g->v = realloc(g->v, (size_t)g->cap * sizeof *g->v);
        assert_non_null(g->v);
    }
    g->v[g->n++] = ms;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* A generator with its own arrival clock, as the common loop drives it. */
struct stream {
    struct txn_state st;
    struct rng r;
    struct rng clock;
    struct gen_params p;
    int64_t t_us;
    uint64_t seq;
    int64_t mean_dt_us;
    struct buf b;
    struct gen_event ev;
};

static void stream_init(struct stream *s, uint64_t seed, double rate, double w_high,
                        double w_fraud, double w_laundering, int64_t mean_dt_us)
{
    memset(s, 0, sizeof *s);
    rng_seed(&s->r, seed);
    rng_seed(&s->clock, seed ^ 0xc10c);
    txn_state_init(&s->st, &s->r);
    s->p.anomaly_rate = rate;
    s->p.weights[TXN_A_HIGH_AMOUNT] = w_high;
    s->p.weights[TXN_A_FRAUD] = w_fraud;
    s->p.weights[TXN_A_LAUNDERING] = w_laundering;
    s->p.segments[0] = 0.70;
    s->p.segments[1] = 0.25;
    s->p.segments[2] = 0.05;
    s->t_us = START_US;
    s->mean_dt_us = mean_dt_us;
    buf_init(&s->b, 64 * 1024);
}

/* The next event's JSON (valid until the next call). */
static const char *stream_next(struct stream *s)
{
    s->t_us += 1 + (int64_t)rng_exp(&s->clock, (double)s->mean_dt_us);
    buf_reset(&s->b);
    memset(&s->ev, 0, sizeof s->ev);
    s->ev.json = &s->b;
    assert_int_equal(txn_generate(model, &s->st, &s->p, &s->r, s->t_us, ++s->seq, &s->ev),
                     BM_OK);
    return s->b.data;
}

static void stream_free(struct stream *s)
{
    buf_free(&s->b);
}

static int setup(void **state)
{
    const double seg[3] = { 0.70, 0.25, 0.05 };

    (void)state;
    model = txn_model_new(42, seg);
    return model ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    txn_model_free(model);
    for (int i = 0; i < TXN_A_COUNT; i++)
        free(gaps[i].v);
    return 0;
}

static const struct txn_customer *customer_of(const char *id)
{
    int64_t v;
    uint32_t num;

    if (parse_i64(id + 5, 0, UINT32_MAX, &v) != BM_OK)
        fail_msg("customer id %s has no number", id);
    num = (uint32_t)v;
    for (uint32_t i = 0; i < model->n_cust; i++)
        if (model->cust[i].num == num)
            return &model->cust[i];
    fail_msg("unknown customer %s", id);
    return NULL;
}

static int64_t cents_of(const cJSON *ev)
{
    return llround(cJSON_GetObjectItemCaseSensitive(ev, "amount")->valuedouble * 100.0);
}

/* ---- replay ---- */

static void test_generator_same_seed_gives_identical_bytes(void **state)
{
    struct stream a, b, c;
    int differ = 0;

    (void)state;
    stream_init(&a, 1234, 0.05, 1, 1, 1, 100 * 1000);
    stream_init(&b, 1234, 0.05, 1, 1, 1, 100 * 1000);
    stream_init(&c, 1235, 0.05, 1, 1, 1, 100 * 1000);
    for (int i = 0; i < 10000; i++) {
        const char *x = stream_next(&a);
        const char *y = stream_next(&b);

        assert_int_equal(a.b.len, b.b.len);
        assert_memory_equal(x, y, a.b.len);
        differ += strcmp(x, stream_next(&c)) != 0;
    }
    assert_memory_equal(&a.st, &b.st, sizeof a.st);
    assert_int_equal(differ, 10000);
    stream_free(&a);
    stream_free(&b);
    stream_free(&c);
}

/* ---- event shape ---- */

static const char *const field_order[] = {
    "transaction_id", "timestamp", "sequence", "customer_id", "customer_segment",
    "account_id", "counterparty_account", "merchant_id", "merchant_category", "amount",
    "currency", "transaction_type", "channel", "location", "status", "processing_time_ms",
    "risk_score", "is_anomaly", "anomaly_type", "incident_id", "origin",
};

/* Digits after the point in the raw text of a member's number. */
static int decimals_in(const char *json, const char *key)
{
    const char *p = strstr(json, key), *dot;

    assert_non_null(p);
    p += strlen(key);
    dot = p + strspn(p, "0123456789");
    if (*dot != '.')
        return 0;
    return (int)strspn(dot + 1, "0123456789");
}

static void check_event_shape(const char *json, uint64_t seq)
{
    static const char *const statuses[] = { "approved", "declined", "pending" };
    cJSON *ev = cJSON_Parse(json), *it, *loc;
    const char *type, *channel;
    double risk;

    check_envelope_head(ev, field_order, (int)(sizeof field_order / sizeof field_order[0]),
                        "transaction_id", seq);
    assert_true(matches(str_of(ev, "customer_id"), "CUST_dddddd"));
    assert_true(one_of(str_of(ev, "customer_segment"), txn_segment_names, TXN_SEG_COUNT));
    assert_true(matches(str_of(ev, "account_id"), "ACCdddddddddd"));
    type = str_of(ev, "transaction_type");
    channel = str_of(ev, "channel");
    assert_true(one_of(type, txn_type_names, TXN_T_COUNT));
    assert_true(one_of(channel, txn_channel_names, TXN_C_COUNT));
    if (strcmp(channel, "atm") == 0)
        assert_true(strcmp(type, "withdrawal") == 0 || strcmp(type, "deposit") == 0);
    if (strcmp(type, "transfer") == 0)
        assert_true(matches(str_of(ev, "counterparty_account"), "ACCdddddddddd"));
    else
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(ev, "counterparty_account")));
    if (strcmp(type, "purchase") == 0) {
        assert_true(matches(str_of(ev, "merchant_id"), "MER_dddddd"));
        assert_non_null(str_of(ev, "merchant_category"));
    } else {
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(ev, "merchant_id")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(ev, "merchant_category")));
    }
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(ev, "amount")));
    assert_true(cents_of(ev) > 0);
    assert_int_equal(decimals_in(json, "\"amount\":"), 2);
    assert_string_equal(str_of(ev, "currency"), "USD");
    loc = cJSON_GetObjectItem(ev, "location");
    assert_true(cJSON_IsObject(loc));
    assert_true(matches(str_of(loc, "country"), "UU"));
    assert_non_null(str_of(loc, "city"));
    assert_true(one_of(str_of(ev, "status"), statuses, 3));
    it = cJSON_GetObjectItem(ev, "processing_time_ms");
    assert_true(cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) &&
                it->valuedouble > 0);
    /* the core's time-out: only a cascade's part waits longer */
    if (str_of(ev, "anomaly_type") && strcmp(str_of(ev, "anomaly_type"), "cascade_failure") == 0)
        assert_true(it->valuedouble >= TXN_CASCADE_MIN_MS);
    else
        assert_true(it->valuedouble <= TXN_PROC_MAX_MS);
    risk = cJSON_GetObjectItem(ev, "risk_score")->valuedouble;
    assert_true(risk >= 0.0 && risk <= 1.0);
    assert_int_equal(decimals_in(json, "\"risk_score\":"), 3);
    check_envelope_tail(ev, txn_anomaly_names, TXN_A_LABELS, "suspicious_high_amount");
    cJSON_Delete(ev);
}

static void test_generator_events_have_every_field_in_order_with_right_types(void **state)
{
    struct stream s;

    (void)state;
    stream_init(&s, 99, 0.1, 1, 1, 1, 2 * SEC_US);
    for (int i = 0; i < scaled(20000); i++) {
        const char *json = stream_next(&s);

        check_event_shape(json, s.seq);
        assert_int_equal(s.ev.seq, s.seq);
        assert_true(s.ev.ts_ms == s.t_us / 1000);
        if (s.ev.anomaly_type)
            assert_non_null(strstr(json, "\"is_anomaly\":true"));
        else
            assert_non_null(strstr(json, "\"is_anomaly\":false"));
    }
    stream_free(&s);
}

/* ---- rates ---- */

/* Runs n events at eps events/s, rate p, weights w; checks the labelled
 * count at every prefix (within one maximum incident, 8 events, of p x
 * events: SPEC 5), the fraction over all n (four sigma) and each type's
 * share of the anomalous events (within 0.03 of its weight). */
static void check_rates(uint64_t seed, double eps, double p, const double *w, int n)
{
    const double sum = w[0] + w[1] + w[2], tol = 4.0 * sqrt(p * (1.0 - p) / n);
    int count[TXN_A_COUNT] = { 0 }, anomalies = 0;
    double drift = 0.0;
    struct stream s;

    stream_init(&s, seed, p, w[0], w[1], w[2], llround(1e6 / eps));
    for (int j = 1; j <= n; j++) {
        stream_next(&s);
        /* a cascade's part comes on top of the rate (test_xincidents) */
        if (s.ev.anomaly_type && strcmp(s.ev.anomaly_type, "cascade_failure") != 0) {
            anomalies++;
            for (int t = 0; t < TXN_A_COUNT; t++)
                count[t] += strcmp(s.ev.anomaly_type, txn_anomaly_names[t]) == 0;
        }
        drift = fmax(drift, fabs(anomalies - p * j));
    }
    if (drift > TXN_MAX_INCIDENT || fabs((double)anomalies / n - p) > tol)
        fail_msg("%g events/s, rate %g, weights {%g,%g,%g}: fraction %.5f (want %g +- %.5f), "
                 "count up to %.1f events off",
                 eps, p, w[0], w[1], w[2], (double)anomalies / n, p, tol, drift);
    for (int t = 0; t < TXN_A_COUNT; t++) {
        double share = (double)count[t] / anomalies;

        if (fabs(share - w[t] / sum) > 0.03)
            fail_msg("%g events/s, rate %g, weights {%g,%g,%g}: %s is %.3f of anomalies", eps,
                     p, w[0], w[1], w[2], txn_anomaly_names[t], share);
    }
    assert_true(s.st.n_active < TXN_MAX_ACTIVE);
    stream_free(&s);
}

/* The labelled fraction and each type's share of the anomalous events are
 * what was asked for at any rate, whatever the incident sizes (1 to 8
 * events) and lengths (up to hours at full-length gaps). */
static void test_generator_fraction_and_type_shares_hold_at_every_rate(void **state)
{
    static const double eps[] = { 1, 100, 1000, 5000 };
    static const double ws[][TXN_A_COUNT] = {
        { 1, 1, 1 }, { 0, 1, 0 }, { 0, 0, 1 }, { 1, 0, 0 }, { 0, 2, 1 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
            check_rates(100 + 10 * i + k, eps[i], 0.03, ws[k], scaled(100000));
        check_rates(200 + i, eps[i], 0.5, ws[0], scaled(100000)); /* the top of the range */
    }
}

/* The seed's own file (anomaly_rate 0.015, suspicious_transaction_rate
 * 0.008) means 0.8% suspicious high amounts and 0.35% of each other type:
 * each type's fraction of 100k events within four sigma of that. */
static void test_generator_seed_file_rates_are_each_types_fraction(void **state)
{
    const char *argv[] = { "x", "--config", BM_SOURCE_DIR "/config/anomaly_config.json", NULL };
    char *const env[] = { NULL };
    const int n = scaled(100000);
    int count[TXN_A_COUNT] = { 0 };
    double want[GEN_MAX_TYPES];
    struct bm_config c;
    char err[256] = "";
    struct stream s;

    (void)state;
    assert_int_equal(cfg_load(&c, SVC_TRANSACTION, 3, (char **)argv, env, err, sizeof err),
                     BM_OK);
    assert_int_equal(cfg_type_rates(&c, SVC_TRANSACTION, want), TXN_A_COUNT);
    assert_true(fabs(want[TXN_A_HIGH_AMOUNT] - 0.008) < 1e-12);
    stream_init(&s, 15, 0, 0, 0, 0, 10 * 1000);
    cfg_gen_params(&c, SVC_TRANSACTION, &s.p);
    for (int j = 0; j < n; j++) {
        stream_next(&s);
        for (int t = 0; s.ev.anomaly_type && t < TXN_A_COUNT; t++)
            count[t] += strcmp(s.ev.anomaly_type, txn_anomaly_names[t]) == 0;
    }
    for (int t = 0; t < TXN_A_COUNT; t++) {
        double got = (double)count[t] / n, tol = 4.0 * sqrt(want[t] * (1.0 - want[t]) / n);

        print_message("%s: %.5f of events (want %.5f +- %.5f)\n", txn_anomaly_names[t], got,
                      want[t], tol);
        assert_true(fabs(got - want[t]) <= tol);
    }
    stream_free(&s);
}

static void test_generator_zero_rate_or_zero_weights_give_no_anomalies(void **state)
{
    struct stream a, b;

    (void)state;
    stream_init(&a, 6, 0.0, 1, 1, 1, SEC_US);
    stream_init(&b, 6, 0.3, 0, 0, 0, SEC_US);
    for (int i = 0; i < 20000; i++) {
        stream_next(&a);
        assert_null(a.ev.anomaly_type);
        stream_next(&b);
        assert_null(b.ev.anomaly_type);
    }
    assert_true(b.st.sched.expected == 0.0); /* no deficit piles up */
    stream_free(&a);
    stream_free(&b);
}

/* ---- amounts ---- */

static void test_generator_high_amounts_exceed_10000_and_10x_usual(void **state)
{
    struct stream s;
    int highs = 0, normal_big = 0;

    (void)state;
    stream_init(&s, 7, 0.05, 1, 1, 1, 10 * 1000);
    for (int i = 0; i < scaled(100000); i++) {
        cJSON *ev = cJSON_Parse(stream_next(&s));
        const struct txn_customer *cu = customer_of(str_of(ev, "customer_id"));
        int64_t cents = cents_of(ev);

        if (s.ev.anomaly_type && strcmp(s.ev.anomaly_type, "suspicious_high_amount") == 0) {
            highs++;
            assert_true(cents > 1000000);
            assert_true(cents >= 10 * (int64_t)cu->usual_hi);
        } else if (!s.ev.anomaly_type) {
            /* the near miss: payroll and suppliers of big customers */
            assert_true(cents <= 1000000 || cu->big);
            assert_true(cents <= (int64_t)cu->usual_hi || cents <= 1000000);
            assert_true(cents <= 5 * (int64_t)cu->usual_hi);
            normal_big += cents > 1000000;
        }
        cJSON_Delete(ev);
    }
    assert_true(highs > 100);
    assert_true(normal_big > scaled(100));
    stream_free(&s);
}

/* The counterparty account of customer c's regular payee k. */
static void payee_account(uint32_t c, int k, char *out, size_t size)
{
    txn_fmt_id(out, size, "ACC", model->cust[txn_payee(model, c, k)].account[0]);
}

/* Round hundreds are laundering's; a normal one is rent, to the landlord. */
static void test_generator_normal_round_transfers_are_only_rent_to_one_payee(void **state)
{
    struct stream s;
    int transfers = 0, rents = 0;

    (void)state;
    /* 30 s apart: 50,000 events span 17 days, every rent day comes */
    stream_init(&s, 8, 0.0, 1, 1, 1, 30 * SEC_US);
    for (int i = 0; i < scaled(50000); i++) {
        cJSON *ev = cJSON_Parse(stream_next(&s));
        const struct txn_customer *cu = customer_of(str_of(ev, "customer_id"));
        char landlord[40];

        if (strcmp(str_of(ev, "transaction_type"), "transfer") == 0) {
            transfers++;
            if (cents_of(ev) % 10000 == 0) {
                rents++;
                assert_int_equal(cents_of(ev), (int64_t)cu->rent * 100);
                payee_account((uint32_t)(cu - model->cust), 0, landlord, sizeof landlord);
                assert_string_equal(str_of(ev, "counterparty_account"), landlord);
            }
        }
        cJSON_Delete(ev);
    }
    assert_true(transfers > scaled(3000));
    assert_true(rents > scaled(50));
    stream_free(&s);
}

/* ---- incidents ---- */

struct incident {
    char id[RNG_UUID_LEN + 1];
    char customer[16];
    char merchant[32];
    int n;
    int64_t last_ms;
    char counterparties[TXN_MAX_INCIDENT][40];
};

struct incidents {
    struct incident *v;
    int n, cap;
};

static struct incident *incident_of(struct incidents *all, const char *id)
{
    for (int i = all->n - 1; i >= 0; i--)
        if (strcmp(all->v[i].id, id) == 0)
            return &all->v[i];
    if (all->n == all->cap) {
        all->cap = all->cap ? 2 * all->cap : 256;
        all->v = realloc(all->v, (size_t)all->cap * sizeof *all->v);
        assert_non_null(all->v);
    }
    memset(&all->v[all->n], 0, sizeof all->v[0]);
    memcpy(all->v[all->n].id, id, RNG_UUID_LEN + 1);
    return &all->v[all->n++];
}

static bool still_active(const struct txn_state *st, const char *id)
{
    char text[RNG_UUID_LEN + 1];

    for (uint32_t i = 0; i < st->n_active; i++) {
        rng_uuid_text(st->active[i].id, text);
        if (strcmp(text, id) == 0)
            return true;
    }
    return false;
}

/* Runs one scenario alone for n events and checks each event against its
 * incident. Gaps between its steps must lie in [gap_lo_ms, gap_hi_ms]. */
static int run_incidents(int type, struct incidents *all, struct stream *s, int n,
                         int64_t gap_lo_ms, int64_t gap_hi_ms)
{
    /* A due step may wait while the labelled count is ahead (anomaly.h),
     * which at 1 event/s stretches a gap now and then by a minute or two. */
    gap_hi_ms += 10 * 60 * SEC_MS;
    int events = 0;

    for (int i = 0; i < n; i++) {
        cJSON *ev = cJSON_Parse(stream_next(s));
        const char *id;
        struct incident *in;

        if (!s->ev.anomaly_type || strcmp(s->ev.anomaly_type, "cascade_failure") == 0) {
            cJSON_Delete(ev); /* a cascade's part: test_xincidents */
            continue;
        }
        assert_string_equal(s->ev.anomaly_type, txn_anomaly_names[type]);
        id = str_of(ev, "incident_id");
        assert_non_null(id);
        in = incident_of(all, id);
        if (in->n == 0) {
            memcpy(in->customer, str_of(ev, "customer_id"), 12);
            if (type == TXN_A_FRAUD)
                memcpy(in->merchant, str_of(ev, "merchant_id"), 11);
        } else {
            int64_t gap_ms = s->ev.ts_ms - in->last_ms;

            assert_string_equal(in->customer, str_of(ev, "customer_id"));
            assert_in_range(gap_ms, gap_lo_ms, gap_hi_ms);
            record_gap(type, gap_ms);
        }
        assert_true(in->n < TXN_MAX_INCIDENT);
        if (type == TXN_A_FRAUD) {
            assert_string_equal(str_of(ev, "transaction_type"), "purchase");
            assert_string_equal(in->merchant, str_of(ev, "merchant_id"));
            assert_true(strcmp(str_of(ev, "channel"), "online") == 0 ||
                        strcmp(str_of(ev, "channel"), "pos") == 0);
            assert_true(cents_of(ev) >= 100 && cents_of(ev) <= 6000);
        } else {
            const char *cp = str_of(ev, "counterparty_account");

            assert_string_equal(str_of(ev, "transaction_type"), "transfer");
            assert_true(cents_of(ev) % 50000 == 0 && cents_of(ev) < 1000000);
            assert_non_null(cp);
            for (int k = 0; k < in->n; k++)
                assert_string_not_equal(in->counterparties[k], cp);
            memcpy(in->counterparties[in->n], cp, strlen(cp) + 1);
        }
        in->last_ms = s->ev.ts_ms;
        in->n++;
        events++;
        cJSON_Delete(ev);
    }
    return events;
}

static void check_sizes(const struct incidents *all, const struct txn_state *st)
{
    int complete = 0;

    for (int i = 0; i < all->n; i++) {
        if (still_active(st, all->v[i].id))
            continue;
        complete++;
        assert_in_range(all->v[i].n, 3, TXN_MAX_INCIDENT);
    }
    assert_true(complete > 50);
}

static void test_generator_fraud_incidents_share_customer_and_merchant(void **state)
{
    struct incidents all = { NULL, 0, 0 };
    struct stream s;

    (void)state;
    stream_init(&s, 11, 0.03, 0, 1, 0, SEC_US);
    /* 1 event/s: steps 1-5 minutes apart, plus the wait for an arrival */
    assert_true(run_incidents(TXN_A_FRAUD, &all, &s, scaled(100000), 60 * SEC_MS,
                              6 * 60 * SEC_MS) > scaled(500));
    check_sizes(&all, &s.st);
    free(all.v);
    stream_free(&s);
}

static void test_generator_laundering_is_round_transfers_to_distinct_accounts(void **state)
{
    struct incidents all = { NULL, 0, 0 };
    struct stream s;

    (void)state;
    /* Weights {0,0,1}: only money_laundering may appear. */
    stream_init(&s, 12, 0.03, 0, 0, 1, SEC_US);
    assert_true(run_incidents(TXN_A_LAUNDERING, &all, &s, scaled(100000), 2 * 60 * SEC_MS,
                              31 * 60 * SEC_MS) > scaled(500));
    check_sizes(&all, &s.st);
    free(all.v);
    stream_free(&s);
}

static int64_t gap_quantile(int type, int per_mille)
{
    qsort(gaps[type].v, (size_t)gaps[type].n, sizeof gaps[type].v[0], cmp_i64);
    return gaps[type].v[(int64_t)gaps[type].n * per_mille / 1000];
}

static int64_t median_gap(int type)
{
    return gap_quantile(type, 500);
}

/* At 1 event/s the table is nearly empty: nothing is squeezed, and the
 * steps keep their minutes (fraud 1-5, laundering 2-30, medians 3 and 16). */
static void test_generator_incident_gaps_are_minutes_at_one_event_per_second(void **state)
{
    struct incidents all = { NULL, 0, 0 };
    struct stream s;

    (void)state;
    for (int type = TXN_A_FRAUD; type <= TXN_A_LAUNDERING; type++) {
        stream_init(&s, 20 + (uint64_t)type, 0.05, 0, type == TXN_A_FRAUD,
                    type == TXN_A_LAUNDERING, SEC_US);
        gaps[type].n = 0;
        /* not scaled: the 99th percentile of a fifth of the gaps is too
         * few samples to hold the bound */
        run_incidents(type, &all, &s, 60000, 60 * SEC_MS, 31 * 60 * SEC_MS);
        assert_true(gaps[type].n > 300);
        if (type == TXN_A_FRAUD) {
            assert_in_range(median_gap(type), 150 * SEC_MS, 210 * SEC_MS);
            assert_true(gap_quantile(type, 990) <= 5 * 60 * SEC_MS + 10 * SEC_MS);
        } else {
            assert_in_range(median_gap(type), 13 * 60 * SEC_MS, 19 * 60 * SEC_MS);
            assert_true(gap_quantile(type, 990) <= 30 * 60 * SEC_MS + 10 * SEC_MS);
        }
        for (uint32_t i = 0; i < s.st.n_active; i++)
            assert_int_equal(s.st.active[i].squeeze, 0);
        free(all.v);
        all.v = NULL;
        all.n = all.cap = 0;
        stream_free(&s);
    }
}

/* At 5,000 events/s incidents still have their shape (one customer and
 * merchant; distinct counterparties), but their gaps shrink to seconds so
 * that the incidents in flight fit the table, which never fills. */
static void test_generator_incidents_squeeze_to_seconds_at_5000_per_second(void **state)
{
    struct incidents all = { NULL, 0, 0 };
    struct stream s;

    (void)state;
    for (int type = TXN_A_FRAUD; type <= TXN_A_LAUNDERING; type++) {
        uint32_t most = 0;

        stream_init(&s, 30 + (uint64_t)type, 0.05, 0, type == TXN_A_FRAUD,
                    type == TXN_A_LAUNDERING, 200);
        gaps[type].n = 0;
        for (int round = 0; round < 10; round++) {
            run_incidents(type, &all, &s, scaled(10000), 10, 31 * 60 * SEC_MS);
            most = s.st.n_active > most ? s.st.n_active : most;
        }
        assert_true(most < TXN_MAX_ACTIVE);
        assert_true(gaps[type].n > scaled(500));
        assert_in_range(median_gap(type), 1 * SEC_MS, 60 * SEC_MS);
        free(all.v);
        all.v = NULL;
        all.n = all.cap = 0;
        stream_free(&s);
    }
}

/* An incident under way keeps the schedule it started with when the rate
 * then jumps: only new incidents are squeezed. */
static void test_generator_running_incidents_keep_their_schedule(void **state)
{
    struct stream s;
    struct txn_incident first;
    char id[RNG_UUID_LEN + 1];
    int64_t due_ms;
    bool stepped = false;

    (void)state;
    stream_init(&s, 40, 0.05, 0, 1, 0, SEC_US);
    while (s.st.n_active == 0)
        stream_next(&s);
    first = s.st.active[0]; /* the only one: all others start after the jump */
    assert_int_equal(first.squeeze, 0);
    rng_uuid_text(first.id, id);
    due_ms = first.next_us / 1000;
    assert_true(due_ms - s.ev.ts_ms >= 60 * SEC_MS);
    s.mean_dt_us = 1000; /* 1,000 events/s from here: new incidents squeeze */
    while (!stepped) {
        const char *json = stream_next(&s);

        assert_true(s.ev.ts_ms <= due_ms + SEC_MS);
        stepped = s.ev.anomaly_type && strstr(json, id);
    }
    assert_true(s.ev.ts_ms >= due_ms);
    for (uint32_t i = 0; i < s.st.n_active; i++)
        if (memcmp(s.st.active[i].id, first.id, sizeof first.id) != 0)
            assert_int_not_equal(s.st.active[i].squeeze, 0);
    stream_free(&s);
}

/* Should the table ever be full (only at the extreme corner of the
 * settings), the incident due next steps early: the labelled count stays
 * on target and the table never overflows. */
static void test_generator_full_incident_table_steps_the_next_incident_early(void **state)
{
    struct stream s;
    int anomalies = 0, waiting = 0;

    (void)state;
    stream_init(&s, 13, 0.5, 0, 1, 0, SEC_US);
    for (int i = 0; i < TXN_MAX_ACTIVE; i++) {
        struct txn_incident *in = &s.st.active[i];

        in->type = TXN_A_FRAUD;
        in->customer = (uint16_t)i;
        in->merchant = (uint16_t)i;
        in->size = 8;
        in->done = 1;
        in->next_us = START_US + 1000 * 3600 * SEC_US; /* far away */
        in->id[6] = 0x40;
        in->id[8] = 0x80;
    }
    s.st.n_active = TXN_MAX_ACTIVE;
    for (int i = 0; i < 1000; i++) {
        stream_next(&s);
        anomalies += s.ev.anomaly_type != NULL;
        assert_true(s.st.sched.expected - s.st.sched.emitted < 1.0 + 0.5);
        assert_true(s.st.sched.emitted - s.st.sched.expected <= ANOM_AHEAD_MAX);
        assert_true(s.st.n_active <= TXN_MAX_ACTIVE);
    }
    assert_in_range(anomalies, 499, 508);
    for (uint32_t i = 0; i < s.st.n_active; i++)
        waiting += s.st.active[i].next_us == START_US + 1000 * 3600 * SEC_US;
    /* the one stepping early is on top, or has just ended and left its
     * slot free for the next new incident */
    assert_true(s.st.n_active < TXN_MAX_ACTIVE ||
                s.st.active[0].next_us < START_US + 1000 * 3600 * SEC_US);
    assert_true(waiting < TXN_MAX_ACTIVE);
    stream_free(&s);
}

/* ---- no label leak ---- */

static void test_generator_status_and_risk_do_not_reveal_the_label(void **state)
{
    struct stream s;
    int normal = 0, normal_declined = 0, normal_risky = 0;
    int anomalous = 0, anomalous_approved = 0, anomalous_declined = 0;

    (void)state;
    stream_init(&s, 14, 0.05, 1, 1, 1, SEC_US);
    for (int i = 0; i < scaled(100000); i++) {
        cJSON *ev = cJSON_Parse(stream_next(&s));
        const char *st = str_of(ev, "status");
        double risk = cJSON_GetObjectItem(ev, "risk_score")->valuedouble;

        if (s.ev.anomaly_type) {
            anomalous++;
            anomalous_approved += strcmp(st, "approved") == 0;
            anomalous_declined += strcmp(st, "declined") == 0;
        } else {
            normal++;
            normal_declined += strcmp(st, "declined") == 0;
            normal_risky += risk >= 0.6;
        }
        cJSON_Delete(ev);
    }
    /* About 2% of normal events are declined; anomalies often, not always. */
    assert_true(normal_declined > normal / 100 && normal_declined < normal * 4 / 100);
    assert_true(normal_risky > normal / 200);
    assert_true(anomalous_approved > anomalous / 4);
    assert_true(anomalous_declined > anomalous / 20);
    stream_free(&s);
}

/* ---- failure and corrupt state ---- */

/* A call that cannot append its event leaves state and rng as they were,
 * whether it would have stepped an incident, started one or made a normal
 * event. */
static void test_generator_failed_append_changes_nothing(void **state)
{
    static struct txn_state st_before;
    struct stream s;
    struct rng r_before;

    (void)state;
    stream_init(&s, 15, 0.2, 0, 1, 1, SEC_US);
    while (s.st.n_active < 5)
        stream_next(&s);
    buf_free(&s.b);
    buf_init(&s.b, 100); /* too small for any event */
    s.ev.json = &s.b;
    for (int kind = 0; kind < 3; kind++) {
        int64_t t = s.st.active[0].next_us; /* a step is due */

        st_before = s.st;
        if (kind == 1) { /* a start is due, the top is not yet */
            t = s.t_us + 1;
            s.st.sched.expected = s.st.sched.emitted + 0.999;
        } else if (kind == 2) { /* nothing is due */
            t = s.t_us + 1;
            s.st.sched.expected = s.st.sched.emitted - 100.0;
        }
        st_before = s.st;
        r_before = s.r;
        assert_true(t < s.st.active[0].next_us || kind == 0);
        assert_int_not_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 101, &s.ev), BM_OK);
        assert_memory_equal(&st_before, &s.st, sizeof st_before);
        assert_memory_equal(&r_before, &s.r, sizeof r_before);
        assert_int_equal(s.b.len, 0);
    }
    stream_free(&s);
}

static void test_generator_rejects_corrupt_state(void **state)
{
    static struct txn_state good;
    struct stream s;
    struct txn_incident *top = &s.st.active[0];
    int64_t t;

    (void)state;
    stream_init(&s, 16, 0.2, 1, 1, 1, SEC_US);
    while (s.st.n_active < 3)
        stream_next(&s);
    good = s.st;
    t = s.st.active[0].next_us; /* the top is due then */
    buf_reset(&s.b);
    s.ev.json = &s.b;
    s.st.version = TXN_STATE_VERSION + 1;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_ESTATE);
    s.st = good;
    s.st.n_active = TXN_MAX_ACTIVE + 1;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_ESTATE);
    s.st = good;
    s.st.sched.n_types = ANOM_MAX_TYPES + 1;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_ESTATE);
    s.st = good;
    top->customer = (uint16_t)model->n_cust; /* beyond the population */
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_ESTATE);
    s.st = good;
    top->type = 7;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_ESTATE);
    s.st = good;
    top->done = top->size;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_ESTATE);
    assert_int_equal(s.b.len, 0);
    s.st = good;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, t, 1, &s.ev), BM_OK);
    assert_non_null(s.ev.anomaly_type); /* the top's step */
    stream_free(&s);
}

/* ---- cost ---- */

static void test_generator_costs_a_few_microseconds_per_event(void **state)
{
    struct stream s;
    struct timespec a, b;
    double us;
    const int n = scaled(200000);

    (void)state;
    stream_init(&s, 17, 0.02, 1, 1, 1, 10 * 1000);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        stream_next(&s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / n;
    print_message("txn_generate: %.2f us/event\n", us);
    assert_true(us < 1000.0); /* a sanity bound only: sanitizer builds run here too */
    stream_free(&s);
}


/* ---- near misses never meet a rule ---- */

/* A normal event that is one step of a multi-event type's pattern (the
 * rules of the API's labelling, txn.h): key groups the steps. */
struct step_row {
    char key[64];
    char account[40]; /* laundering: the counterparty */
    int64_t ts_ms;
};

static int cmp_step_row(const void *a, const void *b)
{
    const struct step_row *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c ? c : (x->ts_ms > y->ts_ms) - (x->ts_ms < y->ts_ms);
}

/* The most steps of one key within window_ms (distinct accounts when
 * by_account). rows is sorted. */
static int most_in_window(const struct step_row *rows, int n, int64_t window_ms,
                          bool by_account)
{
    int best = 0;

    for (int i = 0; i < n; i++) {
        const char *acc[TXN_LAUNDER_MIN_PAYEES + 1];
        int k = 0;

        for (int j = i; j >= 0 && !strcmp(rows[j].key, rows[i].key) &&
                        rows[i].ts_ms - rows[j].ts_ms < window_ms;
             j--) {
            bool seen = false;

            for (int q = 0; by_account && q < k; q++)
                seen = seen || !strcmp(acc[q], rows[j].account);
            if (!seen && k <= TXN_LAUNDER_MIN_PAYEES)
                acc[k++] = rows[j].account;
        }
        best = k > best ? k : best;
    }
    return best;
}

/* Over several seeds and rates, no group of normal events meets the
 * fraud_pattern rule (3 purchases of at most $60 by one customer at one
 * merchant within 15 minutes, each away from home) or the
 * money_laundering rule (round transfers of $1,000-$9,900 to 3 distinct
 * accounts within 2 hours), while their look-alikes occur: at home,
 * bursts at one shop far past the count; round transfers to one payee. */
static void test_generator_normal_groups_never_meet_a_multi_event_rule(void **state)
{
    static const struct {
        uint64_t seed;
        int64_t mean_dt_us;
    } runs[] = { { 31, 10000 }, { 32, 1000 }, { 33, 30 * SEC_US } };
    int n = scaled(200000), home_most = 0, rounds = 0;
    struct step_row *fraud = calloc((size_t)n, sizeof *fraud);
    struct step_row *launder = calloc((size_t)n, sizeof *launder);
    struct step_row *home = calloc((size_t)n, sizeof *home);

    (void)state;
    assert_true(fraud && launder && home);
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        struct stream s;
        int nf = 0, nl = 0, nh = 0, most;

        stream_init(&s, runs[r].seed, 0.02, 1, 1, 1, runs[r].mean_dt_us);
        for (int i = 0; i < n; i++) {
            cJSON *ev = cJSON_Parse(stream_next(&s));
            const cJSON *loc = cJSON_GetObjectItemCaseSensitive(ev, "location");
            const char *type = str_of(ev, "transaction_type"), *cust = str_of(ev, "customer_id");
            const struct txn_customer *cu = customer_of(cust);
            int64_t cents = cents_of(ev);
            bool away = strcmp(str_of(loc, "country"), txn_cities[cu->city].country) != 0 ||
                        strcmp(str_of(loc, "city"), txn_cities[cu->city].name) != 0;
            struct step_row *row = NULL;

            if (s.ev.anomaly_type) {
                cJSON_Delete(ev);
                continue;
            }
            if (!strcmp(type, "purchase") && cents <= TXN_FRAUD_MAX_CENTS)
                row = away ? &fraud[nf++] : &home[nh++];
            else if (!strcmp(type, "transfer") && cents >= TXN_ROUND_MIN_CENTS &&
                     cents < 1000000 && cents % 10000 == 0)
                row = &launder[nl++];
            if (row) {
                snprintf(row->key, sizeof row->key, "%s %s", cust,
                         !strcmp(type, "purchase") ? str_of(ev, "merchant_id") : "");
                snprintf(row->account, sizeof row->account, "%s",
                         !strcmp(type, "transfer") ? str_of(ev, "counterparty_account") : "");
                row->ts_ms = s.ev.ts_ms;
            }
            cJSON_Delete(ev);
        }
        qsort(fraud, (size_t)nf, sizeof *fraud, cmp_step_row);
        qsort(launder, (size_t)nl, sizeof *launder, cmp_step_row);
        qsort(home, (size_t)nh, sizeof *home, cmp_step_row);
        most = most_in_window(fraud, nf, TXN_FRAUD_WINDOW_MS, false);
        print_message("seed %llu, %lld us apart: %d small purchases away from home (at most %d "
                      "at one merchant in 15 min), %d at home (%d), %d round transfers (%d "
                      "accounts in 2 h)\n",
                      (unsigned long long)runs[r].seed, (long long)runs[r].mean_dt_us, nf, most,
                      nh, most_in_window(home, nh, TXN_FRAUD_WINDOW_MS, false), nl,
                      most_in_window(launder, nl, TXN_LAUNDER_WINDOW_MS, true));
        assert_true(most < TXN_FRAUD_MIN_EVENTS);
        home_most = most_in_window(home, nh, TXN_FRAUD_WINDOW_MS, false) > home_most
                        ? most_in_window(home, nh, TXN_FRAUD_WINDOW_MS, false)
                        : home_most;
        rounds += nl;
        assert_true(most_in_window(launder, nl, TXN_LAUNDER_WINDOW_MS, true) <
                    TXN_LAUNDER_MIN_PAYEES);
        stream_free(&s);
    }
    assert_true(home_most >= TXN_FRAUD_MIN_EVENTS); /* bursts at a usual shop */
    assert_true(rounds > 0);                         /* rent */
    free(fraud);
    free(launder);
    free(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_same_seed_gives_identical_bytes),
        cmocka_unit_test(test_generator_events_have_every_field_in_order_with_right_types),
        cmocka_unit_test(test_generator_fraction_and_type_shares_hold_at_every_rate),
        cmocka_unit_test(test_generator_seed_file_rates_are_each_types_fraction),
        cmocka_unit_test(test_generator_zero_rate_or_zero_weights_give_no_anomalies),
        cmocka_unit_test(test_generator_high_amounts_exceed_10000_and_10x_usual),
        cmocka_unit_test(test_generator_normal_round_transfers_are_only_rent_to_one_payee),
        cmocka_unit_test(test_generator_fraud_incidents_share_customer_and_merchant),
        cmocka_unit_test(test_generator_laundering_is_round_transfers_to_distinct_accounts),
        cmocka_unit_test(test_generator_incident_gaps_are_minutes_at_one_event_per_second),
        cmocka_unit_test(test_generator_incidents_squeeze_to_seconds_at_5000_per_second),
        cmocka_unit_test(test_generator_running_incidents_keep_their_schedule),
        cmocka_unit_test(test_generator_full_incident_table_steps_the_next_incident_early),
        cmocka_unit_test(test_generator_status_and_risk_do_not_reveal_the_label),
        cmocka_unit_test(test_generator_failed_append_changes_nothing),
        cmocka_unit_test(test_generator_rejects_corrupt_state),
        cmocka_unit_test(test_generator_costs_a_few_microseconds_per_event),
        cmocka_unit_test(test_generator_normal_groups_never_meet_a_multi_event_rule),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
