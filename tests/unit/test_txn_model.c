/* test_txn_model.c - the transaction population, POST body validation and
 * events built from API input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "txn.h"
#include "txn_internal.h"

#define T_US 1767225600000000LL /* 2026-01-01T00:00:00Z */

static const double default_segments[3] = { 0.70, 0.25, 0.05 };

/* ---- population ---- */

static void test_model_population_is_deterministic_in_seed(void **state)
{
    struct txn_model *a = txn_model_new(7, default_segments);
    struct txn_model *b = txn_model_new(7, default_segments);
    struct txn_model *c = txn_model_new(8, default_segments);

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(txn_model_customers(a), 10000);
    assert_memory_equal(a->cust, b->cust, a->n_cust * sizeof *a->cust);
    assert_memory_equal(a->act_cum, b->act_cum, a->n_cust * sizeof *a->act_cum);
    assert_memory_equal(a->merch, b->merch, a->n_merch * sizeof *a->merch);
    assert_true(a->salt == b->salt);
    assert_memory_not_equal(a->cust, c->cust, a->n_cust * sizeof *a->cust);
    txn_model_free(a);
    txn_model_free(b);
    txn_model_free(c);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

    return (a > b) - (a < b);
}

static void test_model_ids_and_accounts_are_unique_and_well_formed(void **state)
{
    struct txn_model *m = txn_model_new(1, default_segments);
    uint64_t *acc = malloc(2 * 10000 * sizeof *acc), *mer = malloc(2000 * sizeof *mer);
    size_t n_acc = 0;

    (void)state;
    assert_non_null(m);
    assert_non_null(acc);
    assert_non_null(mer);
    for (uint32_t i = 0; i < m->n_cust; i++) {
        const struct txn_customer *cu = &m->cust[i];

        assert_in_range(cu->num, 100000, 999999);
        if (i > 0)
            assert_true(cu->num > m->cust[i - 1].num); /* sorted, so unique */
        for (int k = 0; k < 2; k++) {
            if (k == 1 && cu->account[1] == 0)
                continue;
            assert_true(cu->account[k] >= 1000000000ull && cu->account[k] <= 9999999999ull);
            acc[n_acc++] = cu->account[k];
        }
        assert_true(cu->hour_lo < cu->hour_hi && cu->hour_hi <= 24);
        assert_true(cu->city < TXN_N_CITIES);
    }
    qsort(acc, n_acc, sizeof *acc, cmp_u64);
    for (size_t i = 1; i < n_acc; i++)
        assert_true(acc[i] != acc[i - 1]);
    for (uint32_t i = 0; i < m->n_merch; i++) {
        assert_in_range(m->merch[i].num, 100000, 999999);
        assert_true(m->merch[i].category < TXN_CAT_COUNT);
        mer[i] = m->merch[i].num;
    }
    qsort(mer, m->n_merch, sizeof *mer, cmp_u64);
    for (uint32_t i = 1; i < m->n_merch; i++)
        assert_true(mer[i] != mer[i - 1]);
    free(acc);
    free(mer);
    txn_model_free(m);
}

static void test_model_every_city_has_shops_and_online_merchants_exist(void **state)
{
    struct txn_model *m = txn_model_new(2, default_segments);

    (void)state;
    assert_non_null(m);
    for (int c = 0; c < TXN_N_CITIES; c++) {
        assert_true(m->city_first[c + 1] > m->city_first[c]);
        for (uint32_t k = m->city_first[c]; k < m->city_first[c + 1]; k++)
            assert_int_equal(m->merch[k].city, c);
    }
    assert_int_equal(m->city_first[TXN_N_CITIES], m->online_first);
    assert_true(m->n_merch - m->online_first >= 100);
    txn_model_free(m);
}

static void check_shares(const double want[3])
{
    struct txn_model *m = txn_model_new(3, want);
    double n[3] = { 0, 0, 0 }, sum = want[0] + want[1] + want[2];

    assert_non_null(m);
    for (uint32_t i = 0; i < m->n_cust; i++)
        n[m->cust[i].segment]++;
    for (int s = 0; s < 3; s++)
        assert_true(fabs(n[s] / m->n_cust - want[s] / sum) < 0.015);
    txn_model_free(m);
}

static void test_model_segment_shares_follow_the_given_ones(void **state)
{
    static const double cases[][3] = {
        { 0.70, 0.25, 0.05 }, { 0.2, 0.3, 0.5 }, { 1, 0, 0 }, { 0, 0, 2 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_shares(cases[i]);
}

static void test_model_rejects_bad_segment_shares(void **state)
{
    static const double bad[][3] = { { 0, 0, 0 }, { -0.1, 0.6, 0.5 }, { NAN, 0.5, 0.5 },
                                     { INFINITY, 0, 0 } };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(txn_model_new(1, bad[i]));
}

static void test_model_usual_amounts_follow_segment(void **state)
{
    struct txn_model *m = txn_model_new(4, default_segments);
    unsigned big[TXN_SEG_COUNT] = { 0 }, seg_n[TXN_SEG_COUNT] = { 0 };

    (void)state;
    assert_non_null(m);
    for (uint32_t i = 0; i < m->n_cust; i++) {
        const struct txn_customer *cu = &m->cust[i];
        double median = exp(cu->mu);

        switch (cu->segment) {
        case TXN_SEG_RETAIL:
            assert_true(median >= 10 && median <= 300);
            break;
        case TXN_SEG_BUSINESS:
            assert_true(median >= 100 && median <= 5000);
            break;
        default:
            assert_true(median >= 50 && median <= 3000);
            break;
        }
        assert_true(cu->usual_hi > 100 * median);
        /* payroll and suppliers: the only usual amounts over $10,000 */
        if (cu->big) {
            assert_int_not_equal(cu->segment, TXN_SEG_RETAIL);
            assert_in_range(cu->usual_hi, 1500000, TXN_BIG_TOP_MAX);
            big[cu->segment]++;
        } else {
            assert_true(cu->usual_hi < 1000000);
        }
        seg_n[cu->segment]++;
        if (cu->rent) {
            assert_in_range(cu->rent, 900, 6000);
            assert_in_range(cu->rent_day, 1, 28);
        }
    }
    assert_in_range(big[TXN_SEG_BUSINESS] * 100 / seg_n[TXN_SEG_BUSINESS], 34, 46);
    assert_in_range(big[TXN_SEG_PREMIUM] * 100 / seg_n[TXN_SEG_PREMIUM], 14, 26);
    txn_model_free(m);
}

static void test_model_stays_small(void **state)
{
    struct txn_model *m = txn_model_new(5, default_segments);
    size_t bytes;

    (void)state;
    assert_non_null(m);
    bytes = sizeof *m + m->n_cust * (sizeof *m->cust + sizeof *m->act_cum) +
            m->n_merch * sizeof *m->merch;
    assert_true(bytes < 2u * 1024 * 1024);
    txn_model_free(m);
}

/* ---- POST body validation ---- */

struct bad_body {
    const char *json;
    enum api_err err;
    const char *field;
};

#define OK_REST "\"amount\":12.5,\"transaction_type\":\"purchase\""
#define CUST "\"customer_id\":\"CUST_123456\""

static const struct bad_body bad_bodies[] = {
    { "[]", API_BAD_TYPE, "" },
    { "\"x\"", API_BAD_TYPE, "" },
    { "{}", API_BAD_VALUE, "customer_id" },
    { "{" OK_REST "}", API_BAD_VALUE, "customer_id" },
    { "{" CUST ",\"transaction_type\":\"purchase\"}", API_BAD_VALUE, "amount" },
    { "{" CUST ",\"amount\":1}", API_BAD_VALUE, "transaction_type" },
    { "{\"customer_id\":123456," OK_REST "}", API_BAD_TYPE, "customer_id" },
    { "{\"customer_id\":null," OK_REST "}", API_BAD_TYPE, "customer_id" },
    { "{\"customer_id\":\"CUST_12345\"," OK_REST "}", API_BAD_VALUE, "customer_id" },
    { "{\"customer_id\":\"CUST_1234567\"," OK_REST "}", API_BAD_VALUE, "customer_id" },
    { "{\"customer_id\":\"cust_123456\"," OK_REST "}", API_BAD_VALUE, "customer_id" },
    { "{\"customer_id\":\"CUST_12a456\"," OK_REST "}", API_BAD_VALUE, "customer_id" },
    { "{" CUST ",\"amount\":\"10\",\"transaction_type\":\"purchase\"}", API_BAD_TYPE, "amount" },
    { "{" CUST ",\"amount\":0,\"transaction_type\":\"purchase\"}", API_BAD_VALUE, "amount" },
    { "{" CUST ",\"amount\":-5,\"transaction_type\":\"purchase\"}", API_BAD_VALUE, "amount" },
    { "{" CUST ",\"amount\":1000000.01,\"transaction_type\":\"purchase\"}", API_BAD_VALUE,
      "amount" },
    { "{" CUST ",\"amount\":10.001,\"transaction_type\":\"purchase\"}", API_BAD_VALUE, "amount" },
    { "{" CUST ",\"amount\":0.001,\"transaction_type\":\"purchase\"}", API_BAD_VALUE, "amount" },
    { "{" CUST ",\"amount\":1e999,\"transaction_type\":\"purchase\"}", API_BAD_VALUE, "amount" },
    { "{" CUST ",\"amount\":1,\"transaction_type\":\"refund\"}", API_BAD_VALUE,
      "transaction_type" },
    { "{" CUST ",\"amount\":1,\"transaction_type\":1}", API_BAD_TYPE, "transaction_type" },
    { "{" CUST ",\"amount\":1,\"transaction_type\":null}", API_BAD_TYPE, "transaction_type" },
    { "{" CUST "," OK_REST ",\"channel\":\"fax\"}", API_BAD_VALUE, "channel" },
    { "{" CUST "," OK_REST ",\"channel\":true}", API_BAD_TYPE, "channel" },
    { "{" CUST "," OK_REST ",\"channel\":\"atm\"}", API_BAD_VALUE, "channel" },
    { "{" CUST ",\"amount\":1,\"transaction_type\":\"transfer\",\"channel\":\"atm\"}",
      API_BAD_VALUE, "channel" },
    { "{" CUST ",\"amount\":1,\"transaction_type\":\"withdrawal\",\"channel\":\"online\"}",
      API_BAD_VALUE, "channel" },
    { "{" CUST "," OK_REST ",\"merchant_id\":\"MER 1\"}", API_BAD_VALUE, "merchant_id" },
    { "{" CUST "," OK_REST ",\"merchant_id\":\"\"}", API_BAD_VALUE, "merchant_id" },
    { "{" CUST "," OK_REST ",\"merchant_id\":\"M1234567890123456789012345678901\"}",
      API_BAD_VALUE, "merchant_id" },
    { "{" CUST "," OK_REST ",\"merchant_id\":5}", API_BAD_TYPE, "merchant_id" },
    { "{" CUST "," OK_REST ",\"merchant_category\":\"caf\\u00e9\"}", API_BAD_VALUE,
      "merchant_category" },
    { "{" CUST ",\"amount\":1,\"transaction_type\":\"transfer\",\"merchant_id\":\"MER_1\"}",
      API_BAD_VALUE, "merchant_id" },
    { "{" CUST "," OK_REST ",\"counterparty_account\":\"ACC1\"}", API_BAD_VALUE,
      "counterparty_account" },
    { "{" CUST "," OK_REST ",\"account_id\":\"ACC;1\"}", API_BAD_VALUE, "account_id" },
    { "{" CUST "," OK_REST ",\"account_id\":[]}", API_BAD_TYPE, "account_id" },
    { "{" CUST "," OK_REST ",\"location\":\"US\"}", API_BAD_TYPE, "location" },
    { "{" CUST "," OK_REST ",\"location\":{\"country\":\"us\"}}", API_BAD_VALUE,
      "location.country" },
    { "{" CUST "," OK_REST ",\"location\":{\"country\":\"USA\"}}", API_BAD_VALUE,
      "location.country" },
    { "{" CUST "," OK_REST ",\"location\":{\"country\":1}}", API_BAD_TYPE, "location.country" },
    { "{" CUST "," OK_REST ",\"location\":{\"city\":\"Boston\"}}", API_BAD_VALUE,
      "location.country" },
    { "{" CUST "," OK_REST ",\"location\":{\"country\":\"US\",\"zip\":\"02110\"}}",
      API_UNKNOWN_FIELD, "location.zip" },
    { "{" CUST "," OK_REST ",\"location\":{\"country\":\"US\",\"city\":7}}", API_BAD_TYPE,
      "location.city" },
    { "{" CUST "," OK_REST ",\"location\":{\"country\":\"US\",\"city\":\"a\\u0001b\"}}",
      API_BAD_VALUE, "location.city" },
    { "{" CUST "," OK_REST
      ",\"location\":{\"country\":\"US\",\"city\":\"123456789012345678901234567890123456789012345678\"}}",
      API_BAD_VALUE, "location.city" },
    { "{" CUST "," OK_REST ",\"currency\":\"EUR\"}", API_BAD_VALUE, "currency" },
    { "{" CUST "," OK_REST ",\"currency\":1}", API_BAD_TYPE, "currency" },
    { "{" CUST "," OK_REST ",\"is_anomaly\":true}", API_READONLY, "is_anomaly" },
    { "{\"is_anomaly\":false," CUST "," OK_REST "}", API_READONLY, "is_anomaly" },
    { "{" CUST "," OK_REST ",\"anomaly_type\":null}", API_READONLY, "anomaly_type" },
    { "{" CUST "," OK_REST ",\"incident_id\":\"x\"}", API_READONLY, "incident_id" },
    { "{" CUST "," OK_REST ",\"transaction_id\":\"x\"}", API_READONLY, "transaction_id" },
    { "{" CUST "," OK_REST ",\"timestamp\":\"x\"}", API_READONLY, "timestamp" },
    { "{" CUST "," OK_REST ",\"sequence\":1}", API_READONLY, "sequence" },
    { "{" CUST "," OK_REST ",\"origin\":\"api\"}", API_READONLY, "origin" },
    { "{" CUST "," OK_REST ",\"risk_score\":0.1}", API_READONLY, "risk_score" },
    { "{" CUST "," OK_REST ",\"status\":\"approved\"}", API_READONLY, "status" },
    { "{" CUST "," OK_REST ",\"processing_time_ms\":1}", API_READONLY, "processing_time_ms" },
    { "{" CUST "," OK_REST ",\"customer_segment\":\"retail\"}", API_READONLY,
      "customer_segment" },
    { "{" CUST "," OK_REST ",\"foo\":1}", API_UNKNOWN_FIELD, "foo" },
    { "{" CUST "," OK_REST ",\"Amount\":1}", API_UNKNOWN_FIELD, "Amount" },
    { "{" CUST "," OK_REST ",\"amount\":3}", API_BAD_VALUE, "amount" },
};

static void test_input_rejects_each_bad_body_naming_the_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        const struct bad_body *b = &bad_bodies[i];
        cJSON *body = cJSON_Parse(b->json);
        struct txn_input in;
        struct api_fail fail;

        if (!body)
            fail_msg("case %zu does not parse: %s", i, b->json);
        memset(&fail, 0, sizeof fail);
        if (txn_input_from_json(body, &in, &fail) != BM_EINVAL)
            fail_msg("case %zu accepted: %s", i, b->json);
        if (fail.err != b->err || strcmp(fail.field, b->field) != 0)
            fail_msg("case %zu: got %d/%s, want %d/%s (%s)", i, (int)fail.err, fail.field,
                     (int)b->err, b->field, b->json);
        assert_true(fail.msg[0] != '\0');
        cJSON_Delete(body);
    }
}

static enum bm_rc parse_input(const char *json, struct txn_input *in)
{
    cJSON *body = cJSON_Parse(json);
    struct api_fail fail;
    enum bm_rc rc;

    assert_non_null(body);
    memset(&fail, 0, sizeof fail);
    rc = txn_input_from_json(body, in, &fail);
    if (rc != BM_OK)
        print_message("rejected %s: %s %s\n", json, fail.field, fail.msg);
    cJSON_Delete(body);
    return rc;
}

static void test_input_accepts_good_bodies_and_fills_defaults(void **state)
{
    struct txn_input in;

    (void)state;
    assert_int_equal(parse_input("{" CUST "," OK_REST "}", &in), BM_OK);
    assert_string_equal(in.customer_id, "CUST_123456");
    assert_true(in.amount_cents == 1250);
    assert_int_equal(in.type, TXN_T_PURCHASE);
    assert_int_equal(in.channel, TXN_C_ONLINE);
    assert_string_equal(in.merchant_id, "");
    assert_string_equal(in.country, "");

    assert_int_equal(parse_input("{" CUST ",\"amount\":40,\"transaction_type\":\"withdrawal\"}",
                                 &in),
                     BM_OK);
    assert_int_equal(in.channel, TXN_C_ATM);
    assert_int_equal(parse_input("{" CUST ",\"amount\":40,\"transaction_type\":\"deposit\"}", &in),
                     BM_OK);
    assert_int_equal(in.channel, TXN_C_BRANCH);

    assert_int_equal(parse_input("{\"customer_id\":\"CUST_000001\",\"amount\":1000000,"
                                 "\"transaction_type\":\"transfer\",\"channel\":\"branch\","
                                 "\"counterparty_account\":\"ACC9876543210\","
                                 "\"account_id\":\"ACC1234567890\",\"currency\":\"USD\","
                                 "\"location\":{\"country\":\"GB\",\"city\":\"London\"}}",
                                 &in),
                     BM_OK);
    assert_true(in.amount_cents == 100000000);
    assert_int_equal(in.type, TXN_T_TRANSFER);
    assert_int_equal(in.channel, TXN_C_BRANCH);
    assert_string_equal(in.counterparty_account, "ACC9876543210");
    assert_string_equal(in.account_id, "ACC1234567890");
    assert_string_equal(in.country, "GB");
    assert_string_equal(in.city, "London");

    assert_int_equal(parse_input("{" CUST ",\"amount\":19.99,\"transaction_type\":\"purchase\","
                                 "\"merchant_id\":\"MER_42\",\"merchant_category\":\"grocery\","
                                 "\"channel\":\"pos\",\"currency\":null,\"account_id\":null,"
                                 "\"location\":{\"country\":\"FR\",\"city\":\"Saint-\\u00c9tienne\"}}",
                                 &in),
                     BM_OK);
    assert_true(in.amount_cents == 1999);
    assert_string_equal(in.merchant_id, "MER_42");
    assert_string_equal(in.city, "Saint-\xc3\x89tienne");
    assert_int_equal(parse_input("{" CUST ",\"amount\":0.01,\"transaction_type\":\"purchase\"}",
                                 &in),
                     BM_OK);
    assert_true(in.amount_cents == 1);
}

/* ---- events from API input ---- */

struct api_event {
    cJSON *json;
    char text[2048];
    const char *anomaly_type;
};

static void from_input(const struct txn_model *m, const char *body, uint64_t seed,
                       struct api_event *out)
{
    struct txn_input in;
    struct rng r;
    struct buf b;
    struct gen_event ev;

    assert_int_equal(parse_input(body, &in), BM_OK);
    rng_seed(&r, seed);
    buf_init(&b, 64 * 1024);
    memset(&ev, 0, sizeof ev);
    ev.json = &b;
    assert_int_equal(txn_from_input(m, &in, NULL, &r, T_US + 1500, 77, &ev), BM_OK);
    assert_int_equal(ev.seq, 77);
    assert_true(ev.ts_ms == T_US / 1000 + 1);
    assert_true(b.len < sizeof out->text);
    memcpy(out->text, b.data, b.len + 1);
    out->json = cJSON_Parse(b.data);
    assert_non_null(out->json);
    out->anomaly_type = ev.anomaly_type;
    buf_free(&b);
}

static const char *field(const struct api_event *e, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(e->json, key);

    assert_non_null(it);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void body_for(char *out, size_t size, uint32_t num, const char *amount)
{
    char id[16];

    txn_fmt_id(id, sizeof id, "CUST_", num);
    assert_true((size_t)snprintf(out, size,
                                 "{\"customer_id\":\"%s\",\"amount\":%s,"
                                 "\"transaction_type\":\"transfer\"}",
                                 id, amount) < size);
}

static void test_from_input_labels_high_amount_by_customer_profile(void **state)
{
    struct txn_model *m = txn_model_new(6, default_segments);
    const struct txn_customer *small = NULL, *big = NULL;
    struct api_event e;
    char body[256];

    (void)state;
    assert_non_null(m);
    for (uint32_t i = 0; i < m->n_cust; i++) {
        if (!small && m->cust[i].usual_hi < 50000)
            small = &m->cust[i];
        if (!big && m->cust[i].usual_hi > 200000)
            big = &m->cust[i];
    }
    assert_non_null(small);
    assert_non_null(big);

    body_for(body, sizeof body, small->num, "10000.01");
    from_input(m, body, 1, &e);
    assert_string_equal(e.anomaly_type, "suspicious_high_amount");
    assert_string_equal(field(&e, "anomaly_type"), "suspicious_high_amount");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e.json, "is_anomaly")));
    assert_null(field(&e, "incident_id"));
    assert_string_equal(field(&e, "origin"), "api");
    cJSON_Delete(e.json);

    body_for(body, sizeof body, small->num, "10000");
    from_input(m, body, 1, &e);
    assert_null(e.anomaly_type);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(e.json, "is_anomaly")));
    cJSON_Delete(e.json);

    /* Over $10,000 but under 10x what this customer usually moves. */
    body_for(body, sizeof body, big->num, "10500");
    from_input(m, body, 1, &e);
    assert_null(e.anomaly_type);
    cJSON_Delete(e.json);

    /* Unknown customers have a neutral profile: over $10,000 is enough. */
    from_input(m, "{\"customer_id\":\"CUST_000001\",\"amount\":10000.01,"
                  "\"transaction_type\":\"purchase\"}",
               1, &e);
    assert_string_equal(e.anomaly_type, "suspicious_high_amount");
    cJSON_Delete(e.json);
    from_input(m, "{\"customer_id\":\"CUST_000001\",\"amount\":10000,"
                  "\"transaction_type\":\"purchase\"}",
               1, &e);
    assert_null(e.anomaly_type);
    cJSON_Delete(e.json);
    txn_model_free(m);
}

static void test_from_input_fills_customer_defaults_and_every_field(void **state)
{
    static const char *const order[] = {
        "transaction_id", "timestamp", "sequence", "customer_id", "customer_segment",
        "account_id", "counterparty_account", "merchant_id", "merchant_category", "amount",
        "currency", "transaction_type", "channel", "location", "status",
        "processing_time_ms", "risk_score", "is_anomaly", "anomaly_type", "incident_id",
        "origin",
    };
    struct txn_model *m = txn_model_new(6, default_segments);
    const struct txn_customer *cu;
    struct api_event e, again;
    char body[256], acc[40];
    const cJSON *it;
    int i = 0;

    (void)state;
    assert_non_null(m);
    cu = &m->cust[123];
    body_for(body, sizeof body, cu->num, "25.5");
    from_input(m, body, 2, &e);
    for (it = e.json->child; it; it = it->next, i++)
        assert_string_equal(it->string, order[i]);
    assert_int_equal(i, 21);
    assert_string_equal(field(&e, "customer_segment"), txn_segment_names[cu->segment]);
    txn_fmt_id(acc, sizeof acc, "ACC", cu->account[0]);
    assert_string_equal(field(&e, "account_id"), acc);
    assert_string_equal(field(&e, "timestamp"), "2026-01-01T00:00:00.001Z");
    assert_string_equal(field(&e, "channel"), "online");
    assert_non_null(strstr(e.text, "\"amount\":25.50,"));
    assert_non_null(strstr(e.text, "\"sequence\":77,"));
    it = cJSON_GetObjectItem(e.json, "location");
    assert_string_equal(cJSON_GetObjectItem(it, "country")->valuestring,
                        txn_cities[cu->city].country);
    assert_string_equal(cJSON_GetObjectItem(it, "city")->valuestring, txn_cities[cu->city].name);
    from_input(m, body, 2, &again); /* same rng, same bytes */
    assert_string_equal(e.text, again.text);
    cJSON_Delete(again.json);
    cJSON_Delete(e.json);

    from_input(m, "{\"customer_id\":\"CUST_000001\",\"amount\":5,"
                  "\"transaction_type\":\"purchase\"}",
               3, &e);
    assert_null(field(&e, "customer_segment"));
    assert_null(field(&e, "account_id"));
    assert_null(field(&e, "merchant_id"));
    it = cJSON_GetObjectItem(e.json, "location");
    assert_string_equal(cJSON_GetObjectItem(it, "country")->valuestring, "US");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(it, "city")));
    cJSON_Delete(e.json);
    txn_model_free(m);
}

static void test_from_input_failed_append_leaves_rng_unchanged(void **state)
{
    struct txn_model *m = txn_model_new(6, default_segments);
    struct txn_input in;
    struct rng r, before;
    struct buf b;
    struct gen_event ev;

    (void)state;
    assert_non_null(m);
    assert_int_equal(parse_input("{" CUST "," OK_REST "}", &in), BM_OK);
    rng_seed(&r, 9);
    before = r;
    buf_init(&b, 64);
    memset(&ev, 0, sizeof ev);
    ev.json = &b;
    assert_int_not_equal(txn_from_input(m, &in, NULL, &r, T_US, 1, &ev), BM_OK);
    assert_memory_equal(&r, &before, sizeof r);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    txn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_population_is_deterministic_in_seed),
        cmocka_unit_test(test_model_ids_and_accounts_are_unique_and_well_formed),
        cmocka_unit_test(test_model_every_city_has_shops_and_online_merchants_exist),
        cmocka_unit_test(test_model_segment_shares_follow_the_given_ones),
        cmocka_unit_test(test_model_rejects_bad_segment_shares),
        cmocka_unit_test(test_model_usual_amounts_follow_segment),
        cmocka_unit_test(test_model_stays_small),
        cmocka_unit_test(test_input_rejects_each_bad_body_naming_the_field),
        cmocka_unit_test(test_input_accepts_good_bodies_and_fills_defaults),
        cmocka_unit_test(test_from_input_labels_high_amount_by_customer_profile),
        cmocka_unit_test(test_from_input_fills_customer_defaults_and_every_field),
        cmocka_unit_test(test_from_input_failed_append_leaves_rng_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
