/* model.c - transaction service: the stable population (customers,
 * merchants), the event record's scoring and JSON encoding, and the
 * validation of POST /transactions bodies. Pure: no I/O, clocks or
 * mutable globals; the population is immutable once built. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jw.h"
#include "risk.h"
#include "str.h"
#include "txn_internal.h"

#define N_CUSTOMERS 10000u
#define N_MERCHANTS 2000u
#define N_ONLINE    400u /* of N_MERCHANTS, selling online */
#define MIN_PER_CITY 10u /* in-person merchants every city has */
#define ID_MIN 100000u   /* CUST_ and MER_ numbers have 6 digits */
#define ID_SPAN 900000u
#define ACC_MIN 1000000000ull /* account numbers have 10 digits */
#define ACC_SPAN 9000000000ull
/* Odd, prime to 3 and 5, hence to ACC_SPAN: a stride that visits every
 * account number once, so account numbers are unique by construction. */
#define ACC_STRIDE 2654435761ull
#define MODEL_SEED_SALT 0x6d6f64656c747831ull /* "modeltx1" */
#define MAX_AMOUNT_CENTS 100000000            /* $1,000,000 via the API */
#define HIGH_AMOUNT_CENTS 1000000             /* $10,000 */

/* struct txn_incident keeps customer and merchant indexes in 16 bits. */
_Static_assert(N_CUSTOMERS <= UINT16_MAX && N_MERCHANTS <= UINT16_MAX,
               "population too large for struct txn_incident");

const char *const txn_anomaly_names[TXN_A_COUNT] = {
    "suspicious_high_amount", "fraud_pattern", "money_laundering",
};
const char *const txn_type_names[TXN_T_COUNT] = {
    "purchase", "transfer", "withdrawal", "deposit",
};
const char *const txn_channel_names[TXN_C_COUNT] = {
    "online", "mobile", "atm", "branch", "pos",
};
const char *const txn_segment_names[TXN_SEG_COUNT] = {
    "retail", "business", "premium",
};
static const char *const status_names[TXN_ST_COUNT] = {
    "approved", "declined", "pending",
};

const struct txn_city txn_cities[TXN_N_CITIES] = {
    { "New York", "US", -300, 84 },      { "Los Angeles", "US", -480, 39 },
    { "Chicago", "US", -360, 27 },       { "Houston", "US", -360, 23 },
    { "Phoenix", "US", -420, 16 },       { "Philadelphia", "US", -300, 16 },
    { "San Antonio", "US", -360, 15 },   { "San Diego", "US", -480, 14 },
    { "Dallas", "US", -360, 13 },        { "San Jose", "US", -480, 10 },
    { "Austin", "US", -360, 10 },        { "Jacksonville", "US", -300, 9 },
    { "Fort Worth", "US", -360, 9 },     { "Columbus", "US", -300, 9 },
    { "Charlotte", "US", -300, 9 },      { "San Francisco", "US", -480, 9 },
    { "Indianapolis", "US", -300, 9 },   { "Seattle", "US", -480, 7 },
    { "Denver", "US", -420, 7 },         { "Washington", "US", -300, 7 },
    { "Boston", "US", -300, 7 },         { "Nashville", "US", -360, 7 },
    { "Detroit", "US", -300, 6 },        { "Portland", "US", -480, 6 },
    { "Las Vegas", "US", -480, 6 },      { "Memphis", "US", -360, 6 },
    { "Atlanta", "US", -300, 5 },        { "Miami", "US", -300, 5 },
    { "Minneapolis", "US", -360, 4 },    { "New Orleans", "US", -360, 4 },
    { "Toronto", "CA", -300, 1 },        { "London", "GB", 0, 1 },
    { "Mexico City", "MX", -360, 1 },    { "Paris", "FR", 60, 1 },
    { "Tokyo", "JP", 540, 1 },           { "Berlin", "DE", 60, 1 },
};

const struct txn_category_info txn_categories[TXN_CAT_COUNT] = {
    [TXN_CAT_GROCERY] = { "grocery", 1.0, 0.00, 30, 0 },
    [TXN_CAT_RESTAURANT] = { "restaurant", 0.8, 0.00, 25, 0 },
    [TXN_CAT_FUEL] = { "fuel", 1.0, 0.01, 12, 0 },
    [TXN_CAT_PHARMACY] = { "pharmacy", 0.6, 0.00, 6, 0 },
    [TXN_CAT_CLOTHING] = { "clothing", 1.5, 0.02, 8, 10 },
    [TXN_CAT_HOME_IMPROVEMENT] = { "home_improvement", 2.0, 0.02, 5, 0 },
    [TXN_CAT_HEALTHCARE] = { "healthcare", 2.0, 0.01, 6, 0 },
    [TXN_CAT_ELECTRONICS] = { "electronics", 3.0, 0.06, 4, 15 },
    [TXN_CAT_ENTERTAINMENT] = { "entertainment", 0.6, 0.03, 4, 20 },
    [TXN_CAT_TRAVEL] = { "travel", 4.0, 0.05, 0, 15 },
    [TXN_CAT_ONLINE_RETAIL] = { "online_retail", 1.2, 0.04, 0, 30 },
    [TXN_CAT_UTILITIES] = { "utilities", 1.8, 0.00, 0, 10 },
};

/* Per segment: median purchase range (dollars), log spread range, lowest
 * digital leaning, travel days per mille, active-hour windows, and how
 * much more often than a retail customer they transact. */
struct segment_profile {
    double median_lo, median_hi;
    double sigma_lo, sigma_hi;
    int digital_lo;
    int travel_pm;
    int start_lo, start_hi, end_lo, end_hi;
    double activity;
};

static const struct segment_profile profiles[TXN_SEG_COUNT] = {
    [TXN_SEG_RETAIL] = { 20, 50, 0.50, 0.80, 10, 20, 6, 9, 20, 23, 1.0 },
    [TXN_SEG_BUSINESS] = { 250, 700, 0.50, 0.80, 40, 60, 7, 9, 17, 19, 2.5 },
    [TXN_SEG_PREMIUM] = { 150, 500, 0.55, 0.80, 20, 80, 6, 9, 19, 23, 1.5 },
};

static const double chan_risk[TXN_C_COUNT] = { 0.05, 0.03, 0.02, 0.0, 0.0 };
static const double chan_ms[TXN_C_COUNT] = { 260, 230, 850, 1400, 140 };

/* ---- small helpers shared with generator.c ---- */

uint32_t txn_payee(const struct txn_model *m, uint32_t c, int k)
{
    uint32_t p = (uint32_t)(rng_hash(m->salt, c, 100u + (uint64_t)k) % m->n_cust);

    return p == c ? (p + 1) % m->n_cust : p;
}

void txn_fmt_id(char *out, size_t size, const char *prefix, uint64_t num)
{
    char digits[20];
    size_t n = 0, i = 0;

    do {
        digits[n++] = (char)('0' + num % 10);
        num /= 10;
    } while (num && n < sizeof digits);
    for (; prefix[i] && i + 1 < size; i++)
        out[i] = prefix[i];
    while (n && i + 1 < size)
        out[i++] = digits[--n];
    out[i] = '\0';
}

void txn_rec_customer(const struct txn_model *m, uint32_t c, struct txn_rec *e)
{
    const struct txn_customer *cu = &m->cust[c];

    txn_fmt_id(e->customer_id, sizeof e->customer_id, "CUST_", cu->num);
    e->segment = cu->segment;
    txn_fmt_id(e->account, sizeof e->account, "ACC", cu->account[0]);
}

void txn_rec_city(struct txn_rec *e, int city)
{
    str_copy(e->country, sizeof e->country, txn_cities[city].country);
    str_copy(e->city, sizeof e->city, txn_cities[city].name);
}

/* ---- population ---- */

static int weighted_city(struct rng *r)
{
    double w[TXN_N_CITIES];

    for (int i = 0; i < TXN_N_CITIES; i++)
        w[i] = txn_cities[i].weight;
    return rng_weighted(r, w, TXN_N_CITIES);
}

static void make_customer(struct rng *r, const double seg[TXN_SEG_COUNT], uint32_t i,
                          uint64_t acc_off, struct txn_customer *cu)
{
    int s = rng_weighted(r, seg, TXN_SEG_COUNT);
    const struct segment_profile *pr = &profiles[s < 0 ? 0 : s];
    double median = pr->median_lo + (pr->median_hi - pr->median_lo) * rng_double(r);
    double sigma = pr->sigma_lo + (pr->sigma_hi - pr->sigma_lo) * rng_double(r);
    /* p99 of the purchase profile, doubled for the dearer categories. */
    double hi = median * exp(2.33 * sigma) * 2.0 * 100.0;

    cu->segment = (uint8_t)(s < 0 ? 0 : s);
    cu->city = (uint8_t)weighted_city(r);
    cu->mu = (float)log(median);
    cu->sigma = (float)sigma;
    cu->usual_hi = (uint32_t)llround(hi);
    cu->digital = (uint8_t)rng_range(r, pr->digital_lo, 100);
    cu->travel_pm = (uint8_t)pr->travel_pm;
    cu->hour_lo = (uint8_t)rng_range(r, pr->start_lo, pr->start_hi);
    cu->hour_hi = (uint8_t)rng_range(r, pr->end_lo, pr->end_hi);
    cu->account[0] = ACC_MIN + (acc_off + (2ull * i) * ACC_STRIDE) % ACC_SPAN;
    cu->account[1] = rng_chance(r, 0.4)
                         ? ACC_MIN + (acc_off + (2ull * i + 1) * ACC_STRIDE) % ACC_SPAN
                         : 0;
}

static enum bm_rc build_customers(struct txn_model *m, struct rng *r, const double seg[3])
{
    uint32_t *ids = malloc(N_CUSTOMERS * sizeof *ids);
    uint64_t acc_off = rng_below(r, ACC_SPAN);
    uint64_t sum = 0;
    enum bm_rc rc;

    if (!ids)
        return BM_ENOMEM;
    rc = rng_distinct(r, ID_MIN, ID_SPAN, N_CUSTOMERS, ids);
    if (rc != BM_OK)
        goto out;
    for (uint32_t i = 0; i < N_CUSTOMERS; i++) {
        struct txn_customer *cu = &m->cust[i];
        double a;

        make_customer(r, seg, i, acc_off, cu);
        cu->num = ids[i];
        /* Activity is heavy-tailed: a few customers make many events. */
        a = rng_lognormal(r, 0.0, 0.9) * profiles[cu->segment].activity * 1000.0;
        sum += a < 1.0 ? 1u : a > 200000.0 ? 200000u : (uint64_t)a;
        m->act_cum[i] = (uint32_t)sum;
    }
    m->n_cust = N_CUSTOMERS;
out:
    free(ids);
    return rc;
}

static int weighted_category(struct rng *r, bool online)
{
    double w[TXN_CAT_COUNT];

    for (int i = 0; i < TXN_CAT_COUNT; i++)
        w[i] = online ? txn_categories[i].online_weight : txn_categories[i].pos_weight;
    return rng_weighted(r, w, TXN_CAT_COUNT);
}

static enum bm_rc build_merchants(struct txn_model *m, struct rng *r)
{
    uint32_t *ids = malloc(N_MERCHANTS * sizeof *ids);
    uint32_t n_pos = N_MERCHANTS - N_ONLINE, per_city[TXN_N_CITIES];
    uint32_t next = 0, i;
    enum bm_rc rc;

    if (!ids)
        return BM_ENOMEM;
    rc = rng_distinct(r, ID_MIN, ID_SPAN, N_MERCHANTS, ids);
    if (rc != BM_OK)
        goto out;
    /* Ids in random order: merchants are grouped by city, ids should not be. */
    for (i = N_MERCHANTS - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_below(r, (uint64_t)i + 1), t = ids[i];

        ids[i] = ids[j];
        ids[j] = t;
    }
    for (int c = 0; c < TXN_N_CITIES; c++)
        per_city[c] = MIN_PER_CITY;
    for (i = MIN_PER_CITY * TXN_N_CITIES; i < n_pos; i++)
        per_city[weighted_city(r)]++;
    for (int c = 0; c < TXN_N_CITIES; c++) {
        m->city_first[c] = next;
        for (i = 0; i < per_city[c]; i++, next++) {
            m->merch[next].num = ids[next];
            m->merch[next].category = (uint8_t)weighted_category(r, false);
            m->merch[next].city = (uint8_t)c;
        }
    }
    m->city_first[TXN_N_CITIES] = next;
    m->online_first = next;
    for (; next < N_MERCHANTS; next++) {
        m->merch[next].num = ids[next];
        m->merch[next].category = (uint8_t)weighted_category(r, true);
        m->merch[next].city = (uint8_t)rng_below(r, TXN_N_US_CITIES);
    }
    m->n_merch = N_MERCHANTS;
out:
    free(ids);
    return rc;
}

/* Shares must be finite, non-negative and not all zero. */
static bool segments_ok(const double segments[3], double out[3])
{
    double sum = 0.0;

    for (int i = 0; i < 3; i++) {
        if (!isfinite(segments[i]) || segments[i] < 0.0)
            return false;
        out[i] = segments[i];
        sum += segments[i];
    }
    return sum > 0.0;
}

struct txn_model *txn_model_new(uint64_t seed, const double segments[3])
{
    struct txn_model *m;
    struct rng r;
    double seg[3];

    if (!segments_ok(segments, seg))
        return NULL;
    m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cust = calloc(N_CUSTOMERS, sizeof *m->cust);
    m->act_cum = calloc(N_CUSTOMERS, sizeof *m->act_cum);
    m->merch = calloc(N_MERCHANTS, sizeof *m->merch);
    if (!m->cust || !m->act_cum || !m->merch)
        goto fail;
    rng_seed(&r, seed ^ MODEL_SEED_SALT);
    m->salt = rng_next(&r);
    if (build_customers(m, &r, seg) != BM_OK || build_merchants(m, &r) != BM_OK)
        goto fail;
    return m;
fail:
    txn_model_free(m);
    return NULL;
}

void txn_model_free(struct txn_model *m)
{
    if (!m)
        return;
    free(m->merch);
    free(m->act_cum);
    free(m->cust);
    free(m);
}

size_t txn_model_customers(const struct txn_model *m)
{
    return m ? m->n_cust : 0;
}

/* ---- scoring ---- */

/* Only what a bank's risk engine sees in one event, plus noise: so normal
 * events can score high and anomalies low, and the label stays hidden. */
static double risk_of(const struct txn_features *f, const struct txn_rec *e, struct rng *r)
{
    double s = 0.03 + 0.08 * rng_double(r);
    double ratio = (double)e->cents / (double)(f->usual_hi > 0 ? f->usual_hi : 1);

    if (ratio > 0.5)
        s += 0.30 * fmin(1.0, (ratio - 0.5) / 3.5);
    if (e->cents > HIGH_AMOUNT_CENTS)
        s += 0.15;
    s += chan_risk[e->channel];
    if (f->foreign)
        s += 0.15;
    else if (f->away)
        s += 0.05;
    if (f->local_hour < 5)
        s += 0.08;
    s += f->cat_risk;
    if (e->cents >= 100000 && e->cents % 50000 == 0)
        s += 0.10;
    if (f->new_payee)
        s += 0.06;
    return risk_score(s, r);
}

static int status_of(const struct txn_rec *e, double risk, struct rng *r)
{
    double decline = 0.008 + 0.85 / (1.0 + exp(-(risk - 0.62) * 14.0));
    double pending = 0.0;

    if (e->type == TXN_T_WITHDRAWAL || e->type == TXN_T_TRANSFER)
        decline += 0.006; /* insufficient funds */
    if (rng_chance(r, decline))
        return TXN_ST_DECLINED;
    if (e->type == TXN_T_TRANSFER)
        pending = 0.04;
    else if (e->type == TXN_T_DEPOSIT && e->channel != TXN_C_ATM)
        pending = 0.05;
    else if (e->type == TXN_T_PURCHASE && e->channel == TXN_C_ONLINE)
        pending = 0.01;
    return rng_chance(r, pending) ? TXN_ST_PENDING : TXN_ST_APPROVED;
}

void txn_assess(const struct txn_features *f, struct txn_rec *e, struct rng *r)
{
    double risk = risk_of(f, e, r);
    double ms;

    e->risk_milli = llround(risk * 1000.0);
    e->status = status_of(e, risk, r);
    /* Riskier requests take longer (more checks); declines return early. */
    ms = chan_ms[e->channel] * exp(0.35 * rng_normal(r)) * (1.0 + 0.8 * risk);
    if (e->status == TXN_ST_DECLINED)
        ms *= 0.8;
    e->proc_ms = ms < 5.0 ? 5 : ms > 30000.0 ? 30000 : llround(ms);
}

/* ---- encoding ---- */

enum bm_rc txn_rec_encode(const struct txn_rec *e, struct buf *b)
{
    struct jw w;

    jw_init(&w, b, false);
    jw_event_head(&w, "transaction_id", e->id, e->ts_ms, e->seq);
    jw_raw(&w, ",\"customer_id\":");
    jw_str(&w, e->customer_id);
    jw_raw(&w, ",\"customer_segment\":");
    jw_str(&w, e->segment >= 0 ? txn_segment_names[e->segment] : NULL);
    jw_raw(&w, ",\"account_id\":");
    jw_str(&w, e->account);
    jw_raw(&w, ",\"counterparty_account\":");
    jw_str(&w, e->counterparty);
    jw_raw(&w, ",\"merchant_id\":");
    jw_str(&w, e->merchant_id);
    jw_raw(&w, ",\"merchant_category\":");
    jw_str(&w, e->category);
    jw_raw(&w, ",\"amount\":");
    jw_fixed(&w, e->cents, 2);
    jw_raw(&w, ",\"currency\":\"USD\",\"transaction_type\":");
    jw_str(&w, txn_type_names[e->type]);
    jw_raw(&w, ",\"channel\":");
    jw_str(&w, txn_channel_names[e->channel]);
    jw_raw(&w, ",\"location\":{\"country\":");
    jw_str(&w, e->country);
    jw_raw(&w, ",\"city\":");
    jw_str(&w, e->city);
    jw_raw(&w, "},\"status\":");
    jw_str(&w, status_names[e->status]);
    jw_raw(&w, ",\"processing_time_ms\":");
    jw_fixed(&w, e->proc_ms, 0);
    jw_raw(&w, ",\"risk_score\":");
    jw_fixed(&w, e->risk_milli, 3);
    jw_event_tail(&w, e->anomaly >= 0 ? txn_anomaly_names[e->anomaly] : NULL, e->incident_id,
                  e->api);
    return jw_finish(&w);
}

/* ---- POST /transactions ---- */

enum in_field {
    IF_CUSTOMER,
    IF_AMOUNT,
    IF_TYPE,
    IF_CHANNEL,
    IF_MERCHANT,
    IF_CATEGORY,
    IF_COUNTERPARTY,
    IF_ACCOUNT,
    IF_LOCATION,
    IF_CURRENCY,
    IF_COUNT
};

static const char *const in_names[IF_COUNT] = {
    "customer_id", "amount", "transaction_type", "channel", "merchant_id",
    "merchant_category", "counterparty_account", "account_id", "location", "currency",
};

/* Set by the server; a client sending one is told so, not ignored. */
static const char *const readonly_names[] = {
    "transaction_id", "timestamp", "sequence", "customer_segment", "status",
    "processing_time_ms", "risk_score", "is_anomaly", "anomaly_type", "incident_id",
    "origin",
};

/* Channels each type can use; the generator keeps to the same table. */
static const unsigned type_channels[TXN_T_COUNT] = {
    [TXN_T_PURCHASE] = 1u << TXN_C_ONLINE | 1u << TXN_C_MOBILE | 1u << TXN_C_POS,
    [TXN_T_TRANSFER] = 1u << TXN_C_ONLINE | 1u << TXN_C_MOBILE | 1u << TXN_C_BRANCH,
    [TXN_T_WITHDRAWAL] = 1u << TXN_C_ATM | 1u << TXN_C_BRANCH,
    [TXN_T_DEPOSIT] = 1u << TXN_C_ATM | 1u << TXN_C_BRANCH | 1u << TXN_C_MOBILE,
};
static const int default_channel[TXN_T_COUNT] = {
    TXN_C_ONLINE, TXN_C_ONLINE, TXN_C_ATM, TXN_C_BRANCH,
};

static bool is_ident_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* An optional identifier: 1..size-1 bytes of [A-Za-z0-9_-]; null = absent. */
static enum bm_rc in_ident(const cJSON *it, const char *name, char *out, size_t size,
                           struct api_fail *fail)
{
    const char *s;
    size_t n;
    bool ok;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    n = strlen(s);
    ok = n > 0 && n < size;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_ident_char(s[i]);
    if (!ok) {
        api_fail_set(fail, API_BAD_VALUE, name,
                     "%s must be 1-%zu characters of A-Z a-z 0-9 _ -", name, size - 1);
        return BM_EINVAL;
    }
    memcpy(out, s, n + 1);
    return BM_OK;
}

static enum bm_rc in_amount(const cJSON *it, struct txn_input *in, struct api_fail *fail)
{
    double d, c;

    if (!cJSON_IsNumber(it)) {
        api_fail_set(fail, API_BAD_TYPE, "amount", "amount must be a number");
        return BM_EINVAL;
    }
    /* json_as_double() refuses non-finite values such as 1e999. */
    if (json_as_double(it, &d) != BM_OK || d <= 0.0 || d > MAX_AMOUNT_CENTS / 100) {
        api_fail_set(fail, API_BAD_VALUE, "amount", "amount must be > 0 and <= 1000000");
        return BM_EINVAL;
    }
    c = d * 100.0;
    /* Cents are exact; the tolerance only absorbs binary fractions. */
    if (fabs(c - round(c)) > 1e-6 || round(c) < 1.0) {
        api_fail_set(fail, API_BAD_VALUE, "amount", "amount must have at most 2 decimals");
        return BM_EINVAL;
    }
    in->amount_cents = llround(c);
    return BM_OK;
}

static enum bm_rc in_city(const cJSON *it, struct txn_input *in, struct api_fail *fail)
{
    const char *s;
    size_t n;
    bool ok;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (json_want_str(it, "location.city", &s, fail) != BM_OK)
        return BM_EINVAL;
    n = strlen(s);
    ok = n > 0 && n < sizeof in->city;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok) {
        api_fail_set(fail, API_BAD_VALUE, "location.city",
                     "location.city must be 1-%zu printable bytes", sizeof in->city - 1);
        return BM_EINVAL;
    }
    memcpy(in->city, s, n + 1);
    return BM_OK;
}

static const char *const loc_names[] = { "country", "city" };

static enum bm_rc in_loc_member(const cJSON *it, int k, void *ctx, struct api_fail *fail)
{
    struct txn_input *in = ctx;

    if (k == 0)
        return json_want_country(it, "location.country", in->country, fail);
    return in_city(it, in, fail);
}

static enum bm_rc in_location(const cJSON *it, struct txn_input *in, struct api_fail *fail)
{
    static const struct json_members loc = {
        .obj = "location", .names = loc_names, .n = 2, .required = 1u, .one = in_loc_member,
    };

    if (cJSON_IsNull(it))
        return BM_OK;
    return json_want_members(it, &loc, in, fail);
}

static enum bm_rc in_currency(const cJSON *it, struct api_fail *fail)
{
    const char *s;

    if (cJSON_IsNull(it))
        return BM_OK;
    if (json_want_str(it, "currency", &s, fail) != BM_OK)
        return BM_EINVAL;
    if (strcmp(s, "USD") != 0) {
        api_fail_set(fail, API_BAD_VALUE, "currency", "only USD is supported");
        return BM_EINVAL;
    }
    return BM_OK;
}

static enum bm_rc in_field(const cJSON *it, int f, void *ctx, struct api_fail *fail)
{
    struct txn_input *in = ctx;
    const char *name = in_names[f];

    /* Required fields: null is a wrong type, not an absence. */
    if (f <= IF_TYPE && cJSON_IsNull(it)) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must not be null", name);
        return BM_EINVAL;
    }
    switch (f) {
    case IF_CUSTOMER:
        return json_want_code(it, name, "CUST_", 6, in->customer_id, sizeof in->customer_id,
                              fail);
    case IF_AMOUNT:
        return in_amount(it, in, fail);
    case IF_TYPE:
        return json_want_choice(it, name, txn_type_names, TXN_T_COUNT, &in->type, fail);
    case IF_CHANNEL:
        if (cJSON_IsNull(it))
            return BM_OK;
        return json_want_choice(it, name, txn_channel_names, TXN_C_COUNT, &in->channel, fail);
    case IF_MERCHANT:
        return in_ident(it, name, in->merchant_id, sizeof in->merchant_id, fail);
    case IF_CATEGORY:
        return in_ident(it, name, in->merchant_category, sizeof in->merchant_category, fail);
    case IF_COUNTERPARTY:
        return in_ident(it, name, in->counterparty_account, sizeof in->counterparty_account,
                        fail);
    case IF_ACCOUNT:
        return in_ident(it, name, in->account_id, sizeof in->account_id, fail);
    case IF_LOCATION:
        return in_location(it, in, fail);
    default:
        return in_currency(it, fail);
    }
}

/* Rules across fields, checked once every field is known to be sound. */
static enum bm_rc in_consistent(struct txn_input *in, struct api_fail *fail)
{
    if (in->channel < 0)
        in->channel = default_channel[in->type];
    if (!(type_channels[in->type] & (1u << in->channel))) {
        api_fail_set(fail, API_BAD_VALUE, "channel", "channel %s does not allow a %s",
                     txn_channel_names[in->channel], txn_type_names[in->type]);
        return BM_EINVAL;
    }
    if (in->type != TXN_T_PURCHASE && (in->merchant_id[0] || in->merchant_category[0])) {
        const char *f = in->merchant_id[0] ? "merchant_id" : "merchant_category";

        api_fail_set(fail, API_BAD_VALUE, f, "%s applies to purchases only", f);
        return BM_EINVAL;
    }
    if (in->type != TXN_T_TRANSFER && in->counterparty_account[0]) {
        api_fail_set(fail, API_BAD_VALUE, "counterparty_account",
                     "counterparty_account applies to transfers only");
        return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc txn_input_from_json(const struct cJSON *body, struct txn_input *in,
                               struct api_fail *fail)
{
    static const struct json_members fields = {
        .obj = "",
        .names = in_names,
        .n = IF_COUNT,
        .required = 1u << IF_CUSTOMER | 1u << IF_AMOUNT | 1u << IF_TYPE,
        .readonly = readonly_names,
        .n_readonly = sizeof readonly_names / sizeof readonly_names[0],
        .one = in_field,
    };

    memset(in, 0, sizeof *in);
    in->channel = -1;
    if (json_want_members(body, &fields, in, fail) != BM_OK)
        return BM_EINVAL;
    return in_consistent(in, fail);
}

/* ---- events from the API ---- */

/* Index of the customer with this "CUST_nnnnnn" id, -1 if none. */
static int64_t find_customer(const struct txn_model *m, const char *id)
{
    uint32_t num = 0, lo = 0, hi = m->n_cust;

    for (int i = 5; i < 11; i++)
        num = num * 10 + (uint32_t)(id[i] - '0');
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (m->cust[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_cust && m->cust[lo].num == num ? (int64_t)lo : -1;
}

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
    int64_t c = find_customer(m, in->customer_id);
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
    e.anomaly = e.cents > HIGH_AMOUNT_CENTS && e.cents >= 10 * f.usual_hi
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
