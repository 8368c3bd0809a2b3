/* test_txn_generator.c - the transaction generator: replay, event shape,
 * anomaly rate and the shape of each anomaly scenario. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "txn.h"
#include "txn_internal.h"

#define START_US 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define SEC_US 1000000LL

static struct txn_model *model;

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
    return 0;
}

static const struct txn_customer *customer_of(const char *id)
{
    uint32_t num = (uint32_t)strtoul(id + 5, NULL, 10);

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

static const char *str_of(const cJSON *ev, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(ev, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
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

static bool one_of(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return true;
    return false;
}

/* d: digit, h: lower-case hex, U: upper-case letter, else itself. */
static bool matches(const char *s, const char *pattern)
{
    if (!s)
        return false;
    for (; *pattern; s++, pattern++) {
        bool ok = *pattern == 'd'   ? *s >= '0' && *s <= '9'
                  : *pattern == 'h' ? (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')
                  : *pattern == 'U' ? *s >= 'A' && *s <= 'Z'
                                    : *s == *pattern;

        if (!ok)
            return false;
    }
    return *s == '\0';
}

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
    const char *type, *channel, *atype;
    int i = 0;
    double risk;

    assert_non_null(ev);
    for (it = ev->child; it; it = it->next, i++) {
        assert_true(i < (int)(sizeof field_order / sizeof field_order[0]));
        assert_string_equal(it->string, field_order[i]);
    }
    assert_int_equal(i, sizeof field_order / sizeof field_order[0]);
    assert_true(matches(str_of(ev, "transaction_id"), "hhhhhhhh-hhhh-4hhh-hhhh-hhhhhhhhhhhh"));
    assert_true(matches(str_of(ev, "timestamp"), "dddd-dd-ddTdd:dd:dd.dddZ"));
    assert_true(cJSON_GetObjectItem(ev, "sequence")->valuedouble == (double)seq);
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
    risk = cJSON_GetObjectItem(ev, "risk_score")->valuedouble;
    assert_true(risk >= 0.0 && risk <= 1.0);
    assert_int_equal(decimals_in(json, "\"risk_score\":"), 3);
    it = cJSON_GetObjectItem(ev, "is_anomaly");
    assert_true(cJSON_IsBool(it));
    atype = str_of(ev, "anomaly_type");
    if (cJSON_IsTrue(it)) {
        assert_true(one_of(atype, txn_anomaly_names, TXN_A_COUNT));
        if (strcmp(atype, "suspicious_high_amount") == 0)
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(ev, "incident_id")));
        else
            assert_true(matches(str_of(ev, "incident_id"),
                                "hhhhhhhh-hhhh-4hhh-hhhh-hhhhhhhhhhhh"));
    } else {
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(ev, "anomaly_type")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(ev, "incident_id")));
    }
    assert_string_equal(str_of(ev, "origin"), "generated");
    cJSON_Delete(ev);
}

static void test_generator_events_have_every_field_in_order_with_right_types(void **state)
{
    struct stream s;

    (void)state;
    stream_init(&s, 99, 0.1, 1, 1, 1, 2 * SEC_US);
    for (int i = 0; i < 20000; i++) {
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

static void test_generator_anomaly_fraction_within_four_sigma(void **state)
{
    const int n = 100000;
    const double p = 0.03;
    struct stream s;
    int anomalies = 0;

    (void)state;
    stream_init(&s, 5, p, 1, 1, 1, 10 * 1000); /* 100 events/s */
    for (int i = 0; i < n; i++) {
        stream_next(&s);
        anomalies += s.ev.anomaly_type != NULL;
    }
    assert_true(fabs((double)anomalies / n - p) <= 4.0 * sqrt(p * (1.0 - p) / n));
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
    int highs = 0;

    (void)state;
    stream_init(&s, 7, 0.05, 1, 1, 1, 10 * 1000);
    for (int i = 0; i < 100000; i++) {
        cJSON *ev = cJSON_Parse(stream_next(&s));
        const struct txn_customer *cu = customer_of(str_of(ev, "customer_id"));
        int64_t cents = cents_of(ev);

        if (s.ev.anomaly_type && strcmp(s.ev.anomaly_type, "suspicious_high_amount") == 0) {
            highs++;
            assert_true(cents > 1000000);
            assert_true(cents >= 10 * (int64_t)cu->usual_hi);
        } else if (!s.ev.anomaly_type) {
            assert_true(cents <= 1000000);
            assert_true(cents <= 5 * (int64_t)cu->usual_hi);
        }
        cJSON_Delete(ev);
    }
    assert_true(highs > 100);
    stream_free(&s);
}

static void test_generator_normal_transfers_are_never_round_hundreds(void **state)
{
    struct stream s;
    int transfers = 0;

    (void)state;
    stream_init(&s, 8, 0.0, 1, 1, 1, SEC_US);
    for (int i = 0; i < 50000; i++) {
        cJSON *ev = cJSON_Parse(stream_next(&s));

        if (strcmp(str_of(ev, "transaction_type"), "transfer") == 0) {
            transfers++;
            assert_true(cents_of(ev) % 10000 != 0);
        }
        cJSON_Delete(ev);
    }
    assert_true(transfers > 3000);
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
    for (int i = 0; i < TXN_MAX_ACTIVE; i++)
        if (st->active[i].type >= 0 && strcmp(st->active[i].incident_id, id) == 0)
            return true;
    return false;
}

/* Runs one scenario alone and checks each event against its incident. */
static int run_incidents(int type, struct incidents *all, struct stream *s)
{
    int events = 0;

    for (int i = 0; i < 100000; i++) {
        cJSON *ev = cJSON_Parse(stream_next(s));
        const char *id;
        struct incident *in;

        if (!s->ev.anomaly_type) {
            cJSON_Delete(ev);
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
            int64_t gap_s = (s->ev.ts_ms - in->last_ms) / 1000;

            assert_string_equal(in->customer, str_of(ev, "customer_id"));
            if (type == TXN_A_FRAUD) {
                assert_true(gap_s >= 60 && gap_s <= 5 * 60 + 60);
            } else {
                assert_true(gap_s >= 120 && gap_s <= 30 * 60 + 60);
            }
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
    assert_true(run_incidents(TXN_A_FRAUD, &all, &s) > 500);
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
    assert_true(run_incidents(TXN_A_LAUNDERING, &all, &s) > 500);
    check_sizes(&all, &s.st);
    free(all.v);
    stream_free(&s);
}

static void test_generator_full_incident_table_defers_without_commit(void **state)
{
    struct stream s;
    double scheduled;

    (void)state;
    stream_init(&s, 13, 0.5, 0, 1, 0, SEC_US);
    for (int i = 0; i < TXN_MAX_ACTIVE; i++) {
        struct txn_incident *in = &s.st.active[i];

        in->type = TXN_A_FRAUD;
        in->customer = (uint32_t)i;
        in->merchant = (uint32_t)i;
        in->total = 8;
        in->remaining = 7;
        in->next_us = START_US + 1000 * 3600 * SEC_US; /* far away */
        memcpy(in->incident_id, "00000000-0000-4000-8000-000000000000", RNG_UUID_LEN + 1);
    }
    scheduled = s.st.sched.scheduled;
    for (int i = 0; i < 1000; i++) {
        stream_next(&s);
        assert_null(s.ev.anomaly_type);
    }
    assert_true(s.st.sched.scheduled == scheduled);
    assert_true(s.st.sched.expected - s.st.sched.scheduled > 400.0); /* the deficit waits */
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
    for (int i = 0; i < 100000; i++) {
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

static void test_generator_failed_append_changes_nothing(void **state)
{
    struct stream s;
    struct txn_state st_before;
    struct rng r_before;
    enum bm_rc rc;

    (void)state;
    stream_init(&s, 15, 0.2, 1, 1, 1, SEC_US);
    for (int i = 0; i < 100; i++)
        stream_next(&s);
    buf_free(&s.b);
    buf_init(&s.b, 100); /* too small for any event */
    st_before = s.st;
    r_before = s.r;
    s.ev.json = &s.b;
    rc = txn_generate(model, &s.st, &s.p, &s.r, s.t_us + SEC_US, 101, &s.ev);
    assert_int_not_equal(rc, BM_OK);
    assert_memory_equal(&st_before, &s.st, sizeof st_before);
    assert_memory_equal(&r_before, &s.r, sizeof r_before);
    assert_int_equal(s.b.len, 0);
    stream_free(&s);
}

static void test_generator_rejects_corrupt_state(void **state)
{
    struct stream s;
    struct txn_state good;

    (void)state;
    stream_init(&s, 16, 0.2, 1, 1, 1, SEC_US);
    good = s.st;
    s.ev.json = &s.b;
    s.st.version = TXN_STATE_VERSION + 1;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, START_US, 1, &s.ev), BM_ESTATE);
    s.st = good;
    s.st.active[3].type = TXN_A_FRAUD;
    s.st.active[3].customer = 1000000; /* beyond the population */
    s.st.active[3].total = 5;
    s.st.active[3].remaining = 2;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, START_US, 1, &s.ev), BM_ESTATE);
    s.st = good;
    assert_int_equal(txn_generate(model, &s.st, &s.p, &s.r, START_US, 1, &s.ev), BM_OK);
    stream_free(&s);
}

/* ---- cost ---- */

static void test_generator_costs_a_few_microseconds_per_event(void **state)
{
    struct stream s;
    struct timespec a, b;
    double us;
    const int n = 200000;

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_same_seed_gives_identical_bytes),
        cmocka_unit_test(test_generator_events_have_every_field_in_order_with_right_types),
        cmocka_unit_test(test_generator_anomaly_fraction_within_four_sigma),
        cmocka_unit_test(test_generator_zero_rate_or_zero_weights_give_no_anomalies),
        cmocka_unit_test(test_generator_high_amounts_exceed_10000_and_10x_usual),
        cmocka_unit_test(test_generator_normal_transfers_are_never_round_hundreds),
        cmocka_unit_test(test_generator_fraud_incidents_share_customer_and_merchant),
        cmocka_unit_test(test_generator_laundering_is_round_transfers_to_distinct_accounts),
        cmocka_unit_test(test_generator_full_incident_table_defers_without_commit),
        cmocka_unit_test(test_generator_status_and_risk_do_not_reveal_the_label),
        cmocka_unit_test(test_generator_failed_append_changes_nothing),
        cmocka_unit_test(test_generator_rejects_corrupt_state),
        cmocka_unit_test(test_generator_costs_a_few_microseconds_per_event),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
