/* fuzz_txn_post.c - a POST /transactions body, taken the way routes.c's
 * h_post_transaction() takes it (json_parse, txn_input_from_json), and
 * when accepted built into the stored event as the writer thread would
 * (txn_from_input).
 *
 * Invariants: a rejected body is a 422 whose error body is valid JSON; an
 * accepted one always builds an event (the handler has already promised
 * the client one); that event is valid JSON that says what was posted
 * (customer, amount to the cent, type, channel, place), carries the
 * server's sequence and origin "api", is labelled only by the data rule
 * (suspicious_high_amount, over $10,000), and is the same bytes when
 * built twice from the same PRNG state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "support.h"
#include "txn.h"

#define FUZZ_T_US INT64_C(1700000000123456) /* 2023-11-14T22:13:20.123Z */
#define FUZZ_SEQ 4242u

static struct txn_model *model(void)
{
    static struct txn_model *m;
    static const double segments[3] = { 0.70, 0.25, 0.05 };

    if (!m)
        m = txn_model_new(42, segments);
    FUZZ_CHECK(m != NULL);
    return m;
}

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *it = json_get(obj, key);

    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A JSON string member equal to want, or null when want is "". */
static bool member_is(const cJSON *obj, const char *key, const char *want)
{
    const cJSON *it = json_get(obj, key);

    if (!want[0])
        return cJSON_IsNull(it);
    return cJSON_IsString(it) && strcmp(it->valuestring, want) == 0;
}

static void check_input(const struct txn_input *in)
{
    FUZZ_CHECK(strlen(in->customer_id) == 11 && strncmp(in->customer_id, "CUST_", 5) == 0);
    FUZZ_CHECK(in->amount_cents >= 1 && in->amount_cents <= 100000000);
    FUZZ_CHECK(in->type >= 0 && in->type < TXN_T_COUNT);
    FUZZ_CHECK(in->channel >= 0 && in->channel < TXN_C_COUNT);
    FUZZ_CHECK(fuzz_terminated(in->merchant_id, sizeof(in->merchant_id)));
    FUZZ_CHECK(fuzz_terminated(in->merchant_category, sizeof(in->merchant_category)));
    FUZZ_CHECK(fuzz_terminated(in->counterparty_account, sizeof(in->counterparty_account)));
    FUZZ_CHECK(fuzz_terminated(in->account_id, sizeof(in->account_id)));
    FUZZ_CHECK(fuzz_terminated(in->country, sizeof(in->country)));
    FUZZ_CHECK(fuzz_terminated(in->city, sizeof(in->city)));
    FUZZ_CHECK(in->country[0] || !in->city[0]); /* a city comes with its country */
}

static void check_event(const struct txn_input *in, const char *text, size_t len)
{
    cJSON *ev = NULL;
    const cJSON *amount, *seq, *loc, *anomalous;
    const char *type;

    FUZZ_CHECK(json_parse(text, len, &ev) == BM_OK && cJSON_IsObject(ev));
    FUZZ_CHECK(member_is(ev, "customer_id", in->customer_id));
    FUZZ_CHECK(member_is(ev, "transaction_type", txn_type_names[in->type]));
    FUZZ_CHECK(member_is(ev, "channel", txn_channel_names[in->channel]));
    FUZZ_CHECK(member_is(ev, "merchant_id", in->merchant_id));
    FUZZ_CHECK(member_is(ev, "merchant_category", in->merchant_category));
    FUZZ_CHECK(member_is(ev, "counterparty_account", in->counterparty_account));
    if (in->account_id[0])
        FUZZ_CHECK(member_is(ev, "account_id", in->account_id));
    FUZZ_CHECK(member_is(ev, "currency", "USD"));
    FUZZ_CHECK(member_is(ev, "origin", "api"));
    FUZZ_CHECK(cJSON_IsNull(json_get(ev, "incident_id")));
    amount = json_get(ev, "amount");
    FUZZ_CHECK(cJSON_IsNumber(amount) && llround(amount->valuedouble * 100.0) == in->amount_cents);
    seq = json_get(ev, "sequence");
    FUZZ_CHECK(cJSON_IsNumber(seq) && seq->valuedouble == (double)FUZZ_SEQ);
    FUZZ_CHECK(str_of(ev, "transaction_id") && strlen(str_of(ev, "transaction_id")) == 36);
    loc = json_get(ev, "location");
    FUZZ_CHECK(cJSON_IsObject(loc));
    if (in->country[0]) {
        FUZZ_CHECK(member_is(loc, "country", in->country));
        FUZZ_CHECK(member_is(loc, "city", in->city));
    }
    anomalous = json_get(ev, "is_anomaly");
    type = str_of(ev, "anomaly_type");
    FUZZ_CHECK(cJSON_IsBool(anomalous));
    FUZZ_CHECK(cJSON_IsTrue(anomalous) == (type != NULL));
    if (type) {
        FUZZ_CHECK(strcmp(type, "suspicious_high_amount") == 0);
        FUZZ_CHECK(in->amount_cents > 1000000);
    } else {
        FUZZ_CHECK(cJSON_IsNull(json_get(ev, "anomaly_type")));
    }
    cJSON_Delete(ev);
}

static void build_and_check(const struct txn_input *in)
{
    struct buf b1, b2;
    struct gen_event e1, e2;
    struct rng r1, r2;

    buf_init(&b1, 64 * 1024);
    buf_init(&b2, 64 * 1024);
    memset(&e1, 0, sizeof(e1));
    memset(&e2, 0, sizeof(e2));
    e1.json = &b1;
    e2.json = &b2;
    rng_seed(&r1, 7);
    rng_seed(&r2, 7);
    FUZZ_CHECK(txn_from_input(model(), in, NULL, &r1, FUZZ_T_US, FUZZ_SEQ, &e1) == BM_OK);
    FUZZ_CHECK(e1.seq == FUZZ_SEQ);
    check_event(in, b1.data, b1.len);
    FUZZ_CHECK(txn_from_input(model(), in, NULL, &r2, FUZZ_T_US, FUZZ_SEQ, &e2) == BM_OK);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    FUZZ_CHECK((e1.anomaly_type == NULL) == (e2.anomaly_type == NULL));
    buf_free(&b1);
    buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *obj = NULL;
    struct txn_input in;
    struct api_fail f;

    if (size == 0 || json_parse((const char *)data, size, &obj) != BM_OK)
        return 0; /* 400, answered before the validator */
    memset(&in, 0, sizeof(in));
    memset(&f, 0, sizeof(f));
    if (txn_input_from_json(obj, &in, &f) != BM_OK) {
        FUZZ_CHECK(fuzz_fail_is_422(&f));
        FUZZ_CHECK(fuzz_fail_body_ok(&f));
    } else {
        check_input(&in);
        build_and_check(&in);
    }
    cJSON_Delete(obj);
    return 0;
}
