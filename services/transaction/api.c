/* api.c - transaction service: an event from a POST /transactions
 * input: its customer, features, record and label. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "str.h"
#include "txn_internal.h"

static int city_index(const char *country, const char *city)
{
    for (int i = 0; i < TXN_N_CITIES; i++)
        if (strcmp(txn_cities[i].country, country) == 0 && strcmp(txn_cities[i].name, city) == 0)
            return i;
    return -1;
}

static bool is_regular_payee(const struct txn_model *m, uint32_t c, const char *account)
{
    char acc[40];

    for (int k = 0; k < TXN_N_PAYEES; k++) {
        txn_fmt_id(acc, sizeof acc, "ACC", m->cust[txn_payee(m, c, k)].account[0]);
        if (strcmp(acc, account) == 0)
            return true;
    }
    return false;
}

/* What the risk engine knows about an API event; c < 0: unknown customer. */
static void input_features(const struct txn_model *m, int64_t c, const struct txn_rec *e,
                           struct txn_features *f)
{
    const struct txn_customer *cu = c >= 0 ? &m->cust[c] : NULL;
    const char *home_country = cu ? txn_cities[cu->city].country : "US";
    int at = city_index(e->country, e->city);
    int offset = at >= 0 ? txn_cities[at].utc_offset_min
                 : cu   ? txn_cities[cu->city].utc_offset_min
                        : 0;

    f->usual_hi = cu ? (int64_t)cu->usual_hi : TXN_NEUTRAL_USUAL_HI;
    f->foreign = strcmp(e->country, home_country) != 0;
    f->away = f->foreign || (cu && e->city[0] && strcmp(e->city, txn_cities[cu->city].name));
    f->local_hour = timefmt_local_hour(e->ts_ms, offset);
    f->cat_risk = 0.0;
    for (int i = 0; i < TXN_CAT_COUNT; i++)
        if (strcmp(e->category, txn_categories[i].name) == 0)
            f->cat_risk = txn_categories[i].risk;
    f->new_payee = e->counterparty[0] &&
                   !(cu && is_regular_payee(m, (uint32_t)c, e->counterparty));
}

static void input_rec(const struct txn_model *m, int64_t c, const struct txn_input *in,
                      struct txn_rec *e)
{
    if (c >= 0) {
        txn_rec_customer(m, (uint32_t)c, e);
    } else {
        str_copy(e->customer_id, sizeof e->customer_id, in->customer_id);
        e->segment = -1;
    }
    if (in->account_id[0])
        str_copy(e->account, sizeof e->account, in->account_id);
    str_copy(e->counterparty, sizeof e->counterparty, in->counterparty_account);
    str_copy(e->merchant_id, sizeof e->merchant_id, in->merchant_id);
    str_copy(e->category, sizeof e->category, in->merchant_category);
    e->cents = in->amount_cents;
    e->type = in->type;
    e->channel = in->channel;
    if (in->country[0]) {
        str_copy(e->country, sizeof e->country, in->country);
        str_copy(e->city, sizeof e->city, in->city);
    } else if (c >= 0) {
        txn_rec_city(e, m->cust[c].city);
    } else {
        str_copy(e->country, sizeof e->country, "US");
    }
    e->api = true;
}

/* Not in customer c's home city (c < 0, a customer the bank does not
 * know: outside the US), as input_features has it. */
static bool away_from_home(const struct txn_model *m, int64_t c, const char *country,
                           const char *city)
{
    const struct txn_customer *cu = c >= 0 ? &m->cust[c] : NULL;

    if (strcmp(country, cu ? txn_cities[cu->city].country : "US") != 0)
        return true;
    return cu && city[0] && strcmp(city, txn_cities[cu->city].name) != 0;
}

static bool round_transfer(int64_t cents)
{
    return cents >= TXN_ROUND_MIN_CENTS && cents < TXN_HIGH_AMOUNT_CENTS && cents % 10000 == 0;
}

void txn_history_need(const struct txn_model *m, const struct txn_input *in, int64_t t_ms,
                      struct txn_history *h)
{
    struct txn_rec e;
    int64_t c = txn_customer_index(m, in->customer_id);

    memset(h, 0, sizeof *h);
    h->kind = -1;
    h->customer = c;
    memset(&e, 0, sizeof e);
    input_rec(m, c, in, &e);
    snprintf(h->needle[0], sizeof h->needle[0], "\"customer_id\":\"%s\"", in->customer_id);
    memcpy(h->needle[1], h->needle[0], sizeof h->needle[1]);
    if (in->type == TXN_T_PURCHASE && in->merchant_id[0] &&
        in->amount_cents <= TXN_FRAUD_MAX_CENTS && away_from_home(m, c, e.country, e.city)) {
        h->kind = TXN_A_FRAUD;
        h->from_ms = t_ms - TXN_FRAUD_WINDOW_MS;
        str_copy(h->merchant, sizeof h->merchant, in->merchant_id);
        snprintf(h->needle[1], sizeof h->needle[1], "\"merchant_id\":\"%s\"", in->merchant_id);
    } else if (in->type == TXN_T_TRANSFER && in->counterparty_account[0] &&
               round_transfer(in->amount_cents)) {
        h->kind = TXN_A_LAUNDERING;
        h->from_ms = t_ms - TXN_LAUNDER_WINDOW_MS;
    }
}

static const char *str_at(const cJSON *o, const char *k)
{
    const char *v = NULL;

    return json_as_str(json_get(o, k), &v) == BM_OK ? v : NULL;
}

/* A stored event's amount in cents, -1 if it has none. */
static int64_t cents_at(const cJSON *o)
{
    double d;

    if (json_as_double(json_get(o, "amount"), &d) != BM_OK)
        return -1;
    return llround(d * 100.0);
}

static bool fraud_row(const struct txn_model *m, const struct txn_history *h, const cJSON *o)
{
    const cJSON *loc = json_get(o, "location");
    const char *type = str_at(o, "transaction_type"), *mer = str_at(o, "merchant_id");
    const char *country = str_at(loc, "country"), *city = str_at(loc, "city");
    int64_t cents = cents_at(o);

    return type && strcmp(type, "purchase") == 0 && mer && strcmp(mer, h->merchant) == 0 &&
           cents > 0 && cents <= TXN_FRAUD_MAX_CENTS && country &&
           away_from_home(m, h->customer, country, city ? city : "");
}

/* A round transfer's counterparty, counted once. */
static bool laundering_row(struct txn_history *h, const cJSON *o)
{
    const char *type = str_at(o, "transaction_type"), *cp = str_at(o, "counterparty_account");

    if (!type || strcmp(type, "transfer") != 0 || !cp || !round_transfer(cents_at(o)))
        return false;
    for (int i = 0; i < h->payees && i < TXN_LAUNDER_MIN_PAYEES; i++)
        if (strcmp(h->payee[i], cp) == 0)
            return true;
    if (h->payees < TXN_LAUNDER_MIN_PAYEES)
        str_copy(h->payee[h->payees], sizeof h->payee[0], cp);
    h->payees++;
    return true;
}

void txn_history_add(const struct txn_model *m, struct txn_history *h, const char *body,
                     size_t len, bool api, const char *anomaly_type)
{
    cJSON *o = NULL;
    const char *id;
    bool part;

    if (h->kind < 0 || json_parse(body, len, &o) != BM_OK)
        return;
    part = h->kind == TXN_A_FRAUD ? fraud_row(m, h, o) : laundering_row(h, o);
    h->matches += part && h->kind == TXN_A_FRAUD;
    /* the newest API incident of the kind: rows come oldest first */
    if (part && api && anomaly_type && strcmp(anomaly_type, txn_anomaly_names[h->kind]) == 0 &&
        (id = str_at(o, "incident_id")) != NULL && strlen(id) == RNG_UUID_LEN)
        memcpy(h->incident_id, id, RNG_UUID_LEN + 1);
    cJSON_Delete(o);
}

/* The rule of h's kind, this event counted. */
static bool pattern_met(const struct txn_history *h, const struct txn_input *in)
{
    if (h->kind == TXN_A_FRAUD)
        return h->matches + 1 >= TXN_FRAUD_MIN_EVENTS;
    if (h->kind == TXN_A_LAUNDERING) {
        int n = h->payees;

        for (int i = 0; i < h->payees && i < TXN_LAUNDER_MIN_PAYEES; i++)
            if (strcmp(h->payee[i], in->counterparty_account) == 0)
                return n >= TXN_LAUNDER_MIN_PAYEES;
        return n + 1 >= TXN_LAUNDER_MIN_PAYEES;
    }
    return false;
}

enum bm_rc txn_from_input(const struct txn_model *m, const struct txn_input *in,
                          const struct txn_history *h, struct rng *r, int64_t t_us,
                          uint64_t seq, struct gen_event *ev)
{
    struct rng saved = *r;
    struct txn_rec e;
    struct txn_features f;
    int64_t c = txn_customer_index(m, in->customer_id);
    enum bm_rc rc;

    if (in->type < 0 || in->type >= TXN_T_COUNT || in->channel < 0 ||
        in->channel >= TXN_C_COUNT)
        return BM_EINVAL;
    memset(&e, 0, sizeof e);
    rng_uuid4(r, e.id);
    e.ts_ms = timefmt_ms_of_us(t_us);
    e.seq = seq;
    input_rec(m, c, in, &e);
    input_features(m, c, &e, &f);
    /* The data rule; an unknown customer's neutral profile makes it plain
     * "over $10,000". */
    e.anomaly = e.cents > TXN_HIGH_AMOUNT_CENTS && e.cents >= 10 * f.usual_hi
                    ? TXN_A_HIGH_AMOUNT
                    : -1;
    if (e.anomaly < 0 && h && pattern_met(h, in)) {
        e.anomaly = h->kind;
        if (h->incident_id[0])
            memcpy(e.incident_id, h->incident_id, sizeof e.incident_id);
        else
            rng_uuid4(r, e.incident_id);
    }
    txn_assess(&f, &e, r);
    rc = txn_rec_encode(&e, ev->json);
    if (rc != BM_OK) {
        *r = saved;
        return rc;
    }
    ev->ts_ms = e.ts_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? txn_anomaly_names[e.anomaly] : NULL;
    /* its incident (a single event's: its own id), complete as it stands:
     * a later event that meets the rule in the window extends it */
    if (e.anomaly >= 0)
        memcpy(ev->incident_id, e.incident_id[0] ? e.incident_id : e.id, sizeof ev->incident_id);
    ev->incident_open = false;
    return BM_OK;
}
