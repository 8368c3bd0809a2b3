/* population.c - transaction service: the stable population built from
 * the seed (customers with their segment, home, habits, accounts and
 * payees; merchants by city and category), its cities and categories,
 * and the record fields that name a customer or a city. Immutable once
 * built. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"
#include "txn_internal.h"
#include "xincident.h"

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

/* struct txn_incident keeps customer and merchant indexes in 16 bits. */
_Static_assert(N_CUSTOMERS == XINC_CUSTOMERS && ID_MIN == XINC_CUST_MIN && ID_SPAN == XINC_CUST_SPAN,
               "the customers are the bank's (xincident.h)");
_Static_assert(N_CUSTOMERS <= UINT16_MAX && N_MERCHANTS <= UINT16_MAX,
               "population too large for struct txn_incident");

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

/* Share of each segment (per cent) paying payroll or suppliers over
 * $10,000, and paying rent. */
static const unsigned big_pct[TXN_SEG_COUNT] = { 0, 40, 20 };
static const unsigned rent_pct[TXN_SEG_COUNT] = { 45, 0, 35 };

/* Habits that are functions of the seed's salt and the customer's index,
 * not draws from the stream, so the rest of the population is as before.
 * A big customer's usual top is $15,000-$50,000: amounts over $10,000 are
 * normal for them, and a high-amount anomaly is ten times that. */
static void add_habits(const struct txn_model *m, uint32_t i, struct txn_customer *cu)
{
    uint64_t h = rng_hash(m->salt, i, 0x6269672d72656e74ull); /* "big-rent" */
    uint64_t lo = 1500000, span = TXN_BIG_TOP_MAX - lo;

    if (h % 100 < big_pct[cu->segment]) {
        uint32_t top = (uint32_t)(lo + (h >> 8) % span);

        cu->big = 1;
        cu->usual_hi = cu->usual_hi > top ? cu->usual_hi : top;
    }
    h = rng_hash(m->salt, i, 0x72656e74ull); /* "rent" */
    if (h % 100 < rent_pct[cu->segment]) {
        /* whole hundreds: retail $900-$3,000, premium $2,500-$6,000 */
        unsigned steps = cu->segment == TXN_SEG_PREMIUM ? 36 : 22;
        unsigned base = cu->segment == TXN_SEG_PREMIUM ? 2500 : 900;

        cu->rent = (uint16_t)(base + ((h >> 8) % steps) * 100);
        cu->rent_day = (uint8_t)(1 + (h >> 24) % 28);
    }
}

static enum bm_rc build_customers(struct txn_model *m, uint64_t seed, struct rng *r,
                                  const double seg[3])
{
    uint32_t *ids = malloc(N_CUSTOMERS * sizeof *ids);
    uint64_t acc_off = rng_below(r, ACC_SPAN);
    uint64_t sum = 0;
    enum bm_rc rc;

    if (!ids)
        return BM_ENOMEM;
    /* The numbers are the bank's (xincident.h), shared with the auth
     * population; the draw of the model's own stream is kept so the rest
     * of the population is what it was. */
    rc = rng_distinct(r, ID_MIN, ID_SPAN, N_CUSTOMERS, ids);
    if (rc == BM_OK)
        rc = xincident_customer_nums(seed, ids);
    if (rc != BM_OK)
        goto out;
    for (uint32_t i = 0; i < N_CUSTOMERS; i++) {
        struct txn_customer *cu = &m->cust[i];
        double a;

        make_customer(r, seg, i, acc_off, cu);
        cu->num = ids[i];
        add_habits(m, i, cu);
        /* Activity is heavy-tailed: a few customers make many events. */
        a = rng_lognormal(r, 0.0, 0.9) * profiles[cu->segment].activity * 1000.0;
        sum += a < 1.0 ? 1u : a > 200000.0 ? 200000u : (uint64_t)a;
        m->act_cum[i] = (uint32_t)sum;
        m->hours[i] = (struct txn_hours){ (int16_t)txn_cities[cu->city].utc_offset_min, cu->hour_lo,
                                          cu->hour_hi };
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
    m->hours = calloc(N_CUSTOMERS, sizeof *m->hours);
    if (!m->cust || !m->act_cum || !m->merch || !m->hours)
        goto fail;
    rng_seed(&r, seed ^ MODEL_SEED_SALT);
    m->seed = seed;
    m->salt = rng_next(&r);
    m->shard = (struct bm_shard){ 0, 1 };
    m->share = 1.0;
    if (build_customers(m, seed, &r, seg) != BM_OK || build_merchants(m, &r) != BM_OK)
        goto fail;
    return m;
fail:
    txn_model_free(m);
    return NULL;
}

/* Customers outside the slice get no activity: the draws (a search of
 * act_cum) never land on them, and those inside keep their weights, so
 * each is as active as in the whole bank. */
void txn_model_slice(struct txn_model *m, const struct bm_shard *s)
{
    uint64_t sum = 0, prev = 0, all = m->n_cust ? m->act_cum[m->n_cust - 1] : 0;

    m->shard = *s;
    for (uint32_t i = 0; i < m->n_cust; i++) {
        uint64_t w = m->act_cum[i] - prev;

        prev = m->act_cum[i];
        if (shard_owns(s, i))
            sum += w;
        m->act_cum[i] = (uint32_t)sum;
    }
    m->share = all ? (double)sum / (double)all : 0.0;
}

double txn_model_share(const struct txn_model *m)
{
    return m->share;
}

bool txn_model_owns(const struct txn_model *m, int64_t c)
{
    return c >= 0 && shard_owns(&m->shard, (uint64_t)c);
}

void txn_model_free(struct txn_model *m)
{
    if (!m)
        return;
    free(m->hours);
    free(m->merch);
    free(m->act_cum);
    free(m->cust);
    free(m);
}

size_t txn_model_customers(const struct txn_model *m)
{
    return m ? m->n_cust : 0;
}

/* Index of the customer with this "CUST_nnnnnn" id, -1 if none (or not
 * such an id). */
int64_t txn_customer_index(const struct txn_model *m, const char *id)
{
    uint32_t num = 0, lo = 0, hi = m->n_cust;

    if (strlen(id) != 11 || strncmp(id, "CUST_", 5) != 0 ||
        strspn(id + 5, "0123456789") != 6)
        return -1;
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
