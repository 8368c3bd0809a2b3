/* api.c - transaction service: an event from a POST /transactions
 * input: its customer, features, record and label. */
#include <string.h>

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

enum bm_rc txn_from_input(const struct txn_model *m, const struct txn_input *in,
                          struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
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
    txn_assess(&f, &e, r);
    rc = txn_rec_encode(&e, ev->json);
    if (rc != BM_OK) {
        *r = saved;
        return rc;
    }
    ev->ts_ms = e.ts_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? txn_anomaly_names[e.anomaly] : NULL;
    return BM_OK;
}
