/* generator.c - the transaction service's pure next-event function:
 * normal traffic from the population's habits, and the three anomaly
 * scenarios, paced by the deficit scheduler of anomaly.h. Everything that
 * varies comes from the rng, the state and t_us, so a replay is exact. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "incident.h"
#include "timefmt.h"
#include "txn_internal.h"
#include "xincident.h"

#define US_PER_MIN 60000000LL
#define MS_PER_DAY 86400000LL

static const double type_weights[TXN_T_COUNT] = {
    [TXN_T_PURCHASE] = 70, [TXN_T_TRANSFER] = 12, [TXN_T_WITHDRAWAL] = 10, [TXN_T_DEPOSIT] = 8,
};

void txn_state_init(struct txn_state *st, struct rng *r)
{
    memset(st, 0, sizeof *st); /* padding too: the state is stored as bytes */
    st->version = TXN_STATE_VERSION;
    st->away_bucket = INT64_MIN;
    anom_init(&st->sched, r, TXN_A_COUNT);
}

/* ---- who, where ---- */

static uint32_t draw_customer(const struct txn_model *m, struct rng *r)
{
    uint32_t u = (uint32_t)rng_below(r, m->act_cum[m->n_cust - 1]);
    const uint32_t *base = m->act_cum;
    uint32_t n = m->n_cust;

    /* The first customer whose cumulative weight exceeds u, by a binary
     * search without branches on the data (a conditional move per step,
     * no mispredictions: this was an eighth of an event's time). */
    while (n > 1) {
        uint32_t half = n / 2;
        uint32_t take = 0u - (uint32_t)(base[half - 1] <= u); /* all ones or 0 */

        base += half & take;
        n -= half;
    }
    return (uint32_t)(base - m->act_cum); /* n == 1: *base > u */
}

/* Customers keep their hours: outside them they are seldom the one who
 * pays, so each customer's activity has a daily shape to learn. */
static uint32_t pick_customer(const struct txn_model *m, struct rng *r, int64_t t_ms)
{
    uint32_t c = 0;

    for (int i = 0; i < 4; i++) {
        const struct txn_hours *cu;
        int h;

        c = draw_customer(m, r);
        cu = &m->hours[c];
        h = timefmt_local_hour(t_ms, cu->utc_offset_min);
        if ((h >= cu->hour_lo && h < cu->hour_hi) || rng_chance(r, 0.1))
            break;
    }
    return c;
}

/* Another city than home, abroad abroad_in_10 times in ten; h picks. */
static int other_city(int home, uint64_t h, unsigned abroad_in_10)
{
    int first = 0, n = TXN_N_US_CITIES, city;

    if (h % 10 < abroad_in_10) {
        first = TXN_N_US_CITIES;
        n = TXN_N_CITIES - TXN_N_US_CITIES;
    }
    city = first + (int)((h / 10) % (uint64_t)n);
    return city == home ? first + (city - first + 1) % n : city;
}

/* Where customer c is on the day of t_ms: home, or a whole-day trip. */
static int customer_city(const struct txn_model *m, uint32_t c, int64_t t_ms)
{
    const struct txn_customer *cu = &m->cust[c];
    int64_t day = timefmt_floor_div(t_ms, MS_PER_DAY);
    uint64_t h = rng_hash(m->salt, c, ((uint64_t)day << 8) | 1u);

    if (h % 1000 >= cu->travel_pm)
        return cu->city;
    return other_city(cu->city, h >> 16, 2);
}

static uint32_t pos_merchant(const struct txn_model *m, uint32_t c, int city, struct rng *r)
{
    uint32_t first = m->city_first[city], n = m->city_first[city + 1] - first;

    /* At home, most purchases go to a handful of usual shops. */
    if (city == m->cust[c].city && rng_chance(r, 0.6))
        return first + (uint32_t)(rng_hash(m->salt, c, 10 + rng_below(r, 6)) % n);
    return first + (uint32_t)rng_below(r, n);
}

static uint32_t online_merchant(const struct txn_model *m, uint32_t c, struct rng *r)
{
    uint32_t n = m->n_merch - m->online_first;

    if (rng_chance(r, 0.5))
        return m->online_first + (uint32_t)(rng_hash(m->salt, c, 20 + rng_below(r, 4)) % n);
    return m->online_first + (uint32_t)rng_below(r, n);
}

/* A few draws for an online merchant of one of the wanted categories;
 * any online merchant if none turns up. */
static uint32_t online_merchant_of(const struct txn_model *m, struct rng *r, unsigned cats)
{
    uint32_t n = m->n_merch - m->online_first, k = 0;

    for (int i = 0; i < 16; i++) {
        k = m->online_first + (uint32_t)rng_below(r, n);
        if (cats & (1u << m->merch[k].category))
            break;
    }
    return k;
}

static void set_merchant(const struct txn_model *m, uint32_t k, struct txn_rec *e,
                         struct txn_features *f)
{
    const struct txn_category_info *cat = &txn_categories[m->merch[k].category];

    txn_fmt_id(e->merchant_id, sizeof e->merchant_id, "MER_", m->merch[k].num);
    memcpy(e->category, cat->name, strlen(cat->name) + 1);
    f->cat_risk = cat->risk;
}

static void set_counterparty(const struct txn_model *m, uint32_t k, struct txn_rec *e)
{
    txn_fmt_id(e->counterparty, sizeof e->counterparty, "ACC", m->cust[k].account[0]);
}

/* Customer, place and the features that follow from them. */
static void set_scene(const struct txn_model *m, uint32_t c, int city, int64_t t_ms,
                      struct txn_rec *e, struct txn_features *f)
{
    const struct txn_customer *cu = &m->cust[c];

    txn_rec_customer(m, c, e);
    txn_rec_city(e, city);
    f->usual_hi = cu->usual_hi;
    f->away = city != cu->city;
    f->foreign = strcmp(txn_cities[city].country, txn_cities[cu->city].country) != 0;
    f->local_hour = timefmt_local_hour(t_ms, txn_cities[city].utc_offset_min);
}

/* ---- normal traffic ---- */

static int64_t usual_cap(const struct txn_customer *cu)
{
    int64_t cap = 4 * (int64_t)cu->usual_hi;

    return cap < TXN_HIGH_AMOUNT_CENTS ? cap : TXN_HIGH_AMOUNT_CENTS;
}

/* From the customer's own profile, scaled; never past usual_cap(). */
static int64_t draw_cents(struct rng *r, const struct txn_customer *cu, double mult,
                          double spread, int64_t floor_cents)
{
    int64_t cap = usual_cap(cu), c = cap;

    for (int i = 0; i < 3; i++) {
        double x = rng_lognormal(r, cu->mu + log(mult), cu->sigma * spread) * 100.0;

        if (x <= (double)cap) {
            c = llround(x);
            break;
        }
    }
    return c < floor_cents ? floor_cents : c;
}

static double digital(const struct txn_customer *cu)
{
    return cu->digital / 100.0;
}

static void purchase(const struct txn_model *m, uint32_t c, int city, struct rng *r,
                     struct txn_rec *e, struct txn_features *f)
{
    const struct txn_customer *cu = &m->cust[c];
    double p_online = 0.10 + 0.35 * digital(cu), p_mobile = 0.05 + 0.25 * digital(cu);
    double u = rng_double(r);
    uint32_t k;

    if (u < p_online + p_mobile) {
        e->channel = u < p_online ? TXN_C_ONLINE : TXN_C_MOBILE;
        k = online_merchant(m, c, r);
    } else {
        e->channel = TXN_C_POS;
        k = pos_merchant(m, c, city, r);
    }
    set_merchant(m, k, e, f);
    e->cents = draw_cents(r, cu, txn_categories[m->merch[k].category].amount_mult, 1.0, 100);
}

static int digital_channel(const struct txn_customer *cu, struct rng *r, int third,
                           double p_third)
{
    double u = rng_double(r);

    if (u < p_third)
        return third;
    return u < p_third + (1.0 - p_third) * (0.35 + 0.3 * digital(cu)) ? TXN_C_MOBILE
                                                                        : TXN_C_ONLINE;
}

static bool is_payee(const struct txn_model *m, uint32_t c, uint32_t k)
{
    for (int i = 0; i < TXN_N_PAYEES; i++)
        if (txn_payee(m, c, i) == k)
            return true;
    return false;
}

/* Whether t_ms falls on customer cu's rent days (rent_day and the two
 * after, in the customer's home time zone). */
static bool rent_due(const struct txn_customer *cu, int64_t t_ms)
{
    struct civil d;

    if (!cu->rent)
        return false;
    timefmt_civil(t_ms, txn_cities[cu->city].utc_offset_min, &d);
    return d.day >= cu->rent_day && d.day < cu->rent_day + 3;
}

/* Near misses of money laundering and of the high-amount rule: rent is a
 * round amount, but to one regular payee (the landlord, payee 0); payroll
 * and suppliers are over $10,000, but within the customer's usual top. */
static bool habitual_transfer(const struct txn_model *m, uint32_t c, struct rng *r,
                              int64_t t_ms, struct txn_rec *e)
{
    const struct txn_customer *cu = &m->cust[c];
    double top = (double)cu->usual_hi;

    if (rent_due(cu, t_ms) && rng_chance(r, 0.5)) {
        set_counterparty(m, txn_payee(m, c, 0), e);
        e->cents = (int64_t)cu->rent * 100;
        return true;
    }
    if (!cu->big || !rng_chance(r, 0.6))
        return false;
    set_counterparty(m, txn_payee(m, c, (int)rng_below(r, TXN_N_PAYEES)), e);
    /* log-uniform over ($10,000, top]: cents, never round hundreds */
    e->cents = llround(TXN_HIGH_AMOUNT_CENTS *
                       exp(rng_double(r) * log(top / TXN_HIGH_AMOUNT_CENTS)));
    e->cents = e->cents <= TXN_HIGH_AMOUNT_CENTS ? TXN_HIGH_AMOUNT_CENTS + 1 : e->cents;
    if (e->cents % 10000 == 0)
        e->cents -= rng_range(r, 1, 99);
    return true;
}

static void transfer(const struct txn_model *m, uint32_t c, struct rng *r, int64_t t_ms,
                     struct txn_rec *e, struct txn_features *f)
{
    const struct txn_customer *cu = &m->cust[c];
    uint32_t k;

    e->channel = digital_channel(cu, r, TXN_C_BRANCH, 0.25 - 0.2 * digital(cu));
    if (cu->account[1] && rng_chance(r, 0.3))
        txn_fmt_id(e->account, sizeof e->account, "ACC", cu->account[1]);
    if (habitual_transfer(m, c, r, t_ms, e))
        return; /* to a regular payee: new_payee stays false */
    if (rng_chance(r, 0.85)) {
        k = txn_payee(m, c, (int)rng_below(r, TXN_N_PAYEES));
    } else {
        k = (uint32_t)rng_below(r, m->n_cust - 1);
        k += k >= c; /* anyone but c */
    }
    set_counterparty(m, k, e);
    f->new_payee = !is_payee(m, c, k);
    e->cents = draw_cents(r, cu, 3.0, 1.0, 500);
    /* Round hundreds are laundering's signature; everyday transfers are not. */
    if (e->cents % 10000 == 0)
        e->cents -= rng_range(r, 1, 99);
}

static void withdrawal(const struct txn_model *m, uint32_t c, struct rng *r, struct txn_rec *e)
{
    const struct txn_customer *cu = &m->cust[c];
    int64_t cap = usual_cap(cu) / 100, dollars;

    if (rng_chance(r, 0.85 + 0.1 * digital(cu))) {
        int64_t top = (cap < 800 ? cap : 800) / 20 * 20;

        e->channel = TXN_C_ATM;
        dollars = llround(rng_lognormal(r, cu->mu + log(2.5), 0.5) / 20.0) * 20;
        dollars = dollars < 20 ? 20 : dollars > top ? top : dollars;
    } else {
        e->channel = TXN_C_BRANCH;
        dollars = llround(rng_lognormal(r, cu->mu + log(6.0), cu->sigma));
        dollars = dollars < 50 ? 50 : dollars > cap ? cap : dollars;
    }
    e->cents = dollars * 100;
}

static void deposit(const struct txn_model *m, uint32_t c, struct rng *r, struct txn_rec *e)
{
    const struct txn_customer *cu = &m->cust[c];
    double u = rng_double(r), p_mobile = 0.2 + 0.5 * digital(cu);

    e->channel = u < p_mobile ? TXN_C_MOBILE : u < p_mobile + 0.25 ? TXN_C_ATM : TXN_C_BRANCH;
    if (cu->account[1] && rng_chance(r, 0.3))
        txn_fmt_id(e->account, sizeof e->account, "ACC", cu->account[1]);
    e->cents = draw_cents(r, cu, 4.0, 0.6, 1000);
}

/* Returns the customer. */
static uint32_t normal_event(const struct txn_model *m, struct rng *r, int64_t t_ms,
                             struct txn_rec *e, struct txn_features *f)
{
    uint32_t c = pick_customer(m, r, t_ms);
    int city = customer_city(m, c, t_ms);

    set_scene(m, c, city, t_ms, e, f);
    e->type = rng_weighted(r, type_weights, TXN_T_COUNT);
    switch (e->type) {
    case TXN_T_PURCHASE:
        purchase(m, c, city, r, e, f);
        break;
    case TXN_T_TRANSFER:
        transfer(m, c, r, t_ms, e, f);
        break;
    case TXN_T_WITHDRAWAL:
        withdrawal(m, c, r, e);
        break;
    default:
        deposit(m, c, r, e);
        break;
    }
    return c;
}

#define AWAY_BUCKET_US (15 * US_PER_MIN)

/* The near miss of fraud_pattern: small purchases away from home, one a
 * customer per 15-minute bucket (st->away_bits); a second one in the
 * bucket costs over $60 (its cents kept, so amounts stay unround).
 * Returns the customer to remember once the event is out, -1 if none. */
static int64_t away_guard(const struct txn_state *st, uint32_t c, int64_t t_us,
                          const struct txn_features *f, struct txn_rec *e)
{
    if (e->type != TXN_T_PURCHASE || !f->away || e->cents > TXN_FRAUD_MAX_CENTS ||
        c >= TXN_AWAY_WORDS * 64u)
        return -1;
    if (timefmt_floor_div(t_us, AWAY_BUCKET_US) == st->away_bucket &&
        (st->away_bits[c / 64] >> (c % 64) & 1u)) {
        e->cents = TXN_FRAUD_MAX_CENTS + 1 + e->cents % 1000;
        return -1;
    }
    return c;
}

static void away_remember(struct txn_state *st, int64_t c, int64_t t_us)
{
    int64_t b = timefmt_floor_div(t_us, AWAY_BUCKET_US);

    if (c < 0)
        return;
    if (b != st->away_bucket) {
        memset(st->away_bits, 0, sizeof st->away_bits);
        st->away_bucket = b;
    }
    st->away_bits[c / 64] |= 1ull << (c % 64);
}

/* ---- anomaly scenarios ---- */

/* One transaction over $10,000 and at least 10x the customer's usual top. */
static void high_amount_for(const struct txn_model *m, uint32_t c, struct rng *r, int64_t t_ms,
                            struct txn_rec *e, struct txn_features *f)
{
    uint32_t k;
    const struct txn_customer *cu = &m->cust[c];
    int64_t lo = 10 * (int64_t)cu->usual_hi;
    uint64_t kind = rng_below(r, 10);

    set_scene(m, c, customer_city(m, c, t_ms), t_ms, e, f);
    lo = lo > TXN_HIGH_AMOUNT_CENTS ? lo : TXN_HIGH_AMOUNT_CENTS + 1;
    e->cents = llround((double)lo * exp(rng_double(r) * log(3.0)));
    e->cents = e->cents < lo ? lo : e->cents;
    if (kind < 5) {
        e->type = TXN_T_PURCHASE;
        e->channel = rng_chance(r, 0.7) ? TXN_C_ONLINE : TXN_C_MOBILE;
        set_merchant(m,
                     online_merchant_of(m, r, 1u << TXN_CAT_ELECTRONICS | 1u << TXN_CAT_TRAVEL),
                     e, f);
    } else if (kind < 9) {
        e->type = TXN_T_TRANSFER;
        e->channel = digital_channel(cu, r, TXN_C_BRANCH, 0.15);
        k = (uint32_t)rng_below(r, m->n_cust - 1);
        k += k >= c;
        set_counterparty(m, k, e);
        f->new_payee = !is_payee(m, c, k);
        if (e->cents % 10000 == 0)
            e->cents += rng_range(r, 1, 99);
    } else {
        e->type = TXN_T_WITHDRAWAL;
        e->channel = TXN_C_BRANCH;
        e->cents = (e->cents + 99) / 100 * 100; /* cash: whole dollars, rounded up */
    }
}

static void high_amount_event(const struct txn_model *m, struct rng *r, int64_t t_ms,
                              struct txn_rec *e, struct txn_features *f)
{
    high_amount_for(m, draw_customer(m, r), r, t_ms, e, f);
}

/* Card testing: small purchases at one merchant, minutes apart, from
 * somewhere the customer is not. */
static void fraud_event(const struct txn_model *m, const struct txn_incident *in,
                        struct rng *r, int64_t t_ms, struct txn_rec *e, struct txn_features *f)
{
    const struct txn_merchant *mer = &m->merch[in->merchant];
    bool online = in->merchant >= m->online_first;
    int city = online ? other_city(m->cust[in->customer].city,
                                   rng_hash(m->salt, in->customer, 0x66000000u + in->merchant),
                                   5)
                      : mer->city;

    set_scene(m, in->customer, city, t_ms, e, f);
    e->type = TXN_T_PURCHASE;
    e->channel = online ? TXN_C_ONLINE : TXN_C_POS;
    set_merchant(m, in->merchant, e, f);
    e->cents = rng_range(r, 100, 6000);
}

static uint64_t id_half(const uint8_t *b)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Counterparty of step j of a laundering incident: a function of the
 * incident's random id, so the state need not remember the accounts used.
 * Steps 0 .. j are replayed to keep them distinct (at most 8 x 8 checks),
 * and none is the customer or one of the customer's regular payees. */
static uint32_t laundering_counterparty(const struct txn_model *m,
                                        const struct txn_incident *in, int j)
{
    uint64_t seed = rng_hash(id_half(in->id), id_half(in->id + 8), 0x6c61756e64u);
    uint32_t c = in->customer, used[TXN_MAX_INCIDENT], payee[TXN_N_PAYEES];

    for (int k = 0; k < TXN_N_PAYEES; k++)
        payee[k] = txn_payee(m, c, k);
    for (int i = 0; i <= j; i++) {
        uint32_t k = (uint32_t)(rng_hash(seed, (uint64_t)i, 0) % m->n_cust);
        bool clash;

        do { /* terminates: n_cust is far above the accounts ruled out */
            clash = k == c;
            for (int q = 0; q < TXN_N_PAYEES && !clash; q++)
                clash = payee[q] == k;
            for (int q = 0; q < i && !clash; q++)
                clash = used[q] == k;
            if (clash)
                k = (k + 1) % m->n_cust;
        } while (clash);
        used[i] = k;
    }
    return used[j];
}

/* Structuring: round transfers below $10,000, each to a new account. */
static void laundering_event(const struct txn_model *m, const struct txn_incident *in,
                             struct rng *r, int64_t t_ms, struct txn_rec *e,
                             struct txn_features *f)
{
    uint32_t c = in->customer;

    set_scene(m, c, customer_city(m, c, t_ms), t_ms, e, f);
    e->type = TXN_T_TRANSFER;
    e->channel = digital_channel(&m->cust[c], r, TXN_C_BRANCH, 0.1);
    set_counterparty(m, laundering_counterparty(m, in, in->done), e);
    f->new_payee = true;
    e->cents = rng_range(r, 4, 19) * 50000;
}

/* A stolen card is tried online, or in a shop far from the owner's home. */
static uint32_t fraud_merchant(const struct txn_model *m, uint32_t c, struct rng *r)
{
    const unsigned cats = 1u << TXN_CAT_ELECTRONICS | 1u << TXN_CAT_ONLINE_RETAIL |
                          1u << TXN_CAT_ENTERTAINMENT;

    if (rng_chance(r, 0.5))
        return online_merchant_of(m, r, cats);
    return pos_merchant(m, c, other_city(m->cust[c].city, rng_next(r), 5), r);
}

/* ---- incident pacing ----
 *
 * Left alone, fraud steps come 1-5 simulated minutes apart and laundering
 * steps 2-30 minutes apart: at rate 0.02 and equal weights about
 * 6 x events_per_second incidents would be in flight (Little's law), more
 * than the table holds from ~130 events/s. So new incidents get their
 * gaps squeezed (incident.h: load and room): at 100 events/s gaps keep
 * their minutes; at 1,000 events/s and rate 0.03 they are tens of
 * seconds, at 5,000 events/s seconds, and only at the extreme corner of
 * the settings (5,000 events/s shaped up to 2.7x, rate 0.5) fractions of
 * a second. Those already under way keep their schedule, except that a
 * due step waits an event or so while the labelled count is already
 * ANOM_AHEAD_MAX ahead of the target (anomaly.h), and that should the
 * table ever be full the incident due next steps early
 * (INC_F_FULL_STEPS_EARLY). */

/* Mean full-length gap, seconds. */
static double mean_gap_s(int type)
{
    return type == TXN_A_FRAUD ? 3.0 * 60.0 : 16.0 * 60.0;
}

/* Incidents in flight at full-length gaps: starts/s of each type (its share
 * of the anomalous events over a mean size of 5.5) times its duration
 * (4.5 mean gaps). */
static double full_length_load(const struct anom_sched *s, double rate, double mean_dt_us)
{
    const double mean_size = (3 + TXN_MAX_INCIDENT) / 2.0;
    double per_s = 0.0;

    if (!(mean_dt_us > 0.0) || !(rate > 0.0))
        return 0.0;
    for (int t = TXN_A_FRAUD; t <= TXN_A_LAUNDERING; t++)
        per_s += s->weights[t] * mean_gap_s(t);
    return rate * 1e6 / mean_dt_us * per_s * (mean_size - 1.0) / mean_size;
}

/* An injected incident keeps its type's shape; the flag only keeps it
 * out of the scheduler's count (incident.h) and names its origin. A
 * cross-service incident's part (xincident.h) starts as an injection
 * does but is not flagged: origin "generated", counted. */
#define INJECTED_FLAG 0x80u

static int inc_type(const struct txn_incident *in)
{
    return (int)(in->type & (INJECTED_FLAG - 1u));
}

static int64_t gap_us(const struct txn_incident *in, struct rng *r)
{
    if (inc_type(in) == TXN_A_FRAUD)
        return inc_gap_us(r, 1 * US_PER_MIN, 5 * US_PER_MIN, in->squeeze);
    return inc_gap_us(r, 2 * US_PER_MIN, 30 * US_PER_MIN, in->squeeze);
}

/* Emits the next event of incident in and advances it; in->done ==
 * in->size afterwards when that was the last. */
static void incident_step(const struct txn_model *m, struct txn_incident *in, struct rng *r,
                          int64_t t_us, struct txn_rec *e, struct txn_features *f)
{
    int64_t t_ms = timefmt_ms_of_us(t_us);

    if (inc_type(in) == TXN_A_FRAUD)
        fraud_event(m, in, r, t_ms, e, f);
    else
        laundering_event(m, in, r, t_ms, e, f);
    e->anomaly = inc_type(in);
    e->injected = (in->type & INJECTED_FLAG) != 0;
    rng_uuid_text(in->id, e->incident_id);
    in->done++;
    if (in->done < in->size)
        in->next_us = t_us + gap_us(in, r);
}

/* ---- the incident driver's hooks (incident.h) ---- */

/* One call's context for the hooks. */
struct txn_call {
    const struct txn_model *m;
    struct txn_rec *e;
    struct txn_features *f;
};

static int hook_pick(void *svc, struct inc_call *c)
{
    (void)svc;
    return anom_pick(&c->sched, &c->r);
}

static bool hook_is_multi(int type)
{
    return type != TXN_A_HIGH_AMOUNT;
}

static void hook_single(void *svc, struct inc_call *c, int type)
{
    struct txn_call *x = svc;

    high_amount_event(x->m, &c->r, timefmt_ms_of_us(c->ts_us), x->e, x->f);
    x->e->anomaly = type;
    c->anomaly = type;
}

static double hook_init(void *svc, struct inc_call *c, int type)
{
    struct txn_call *x = svc;
    struct txn_incident *in = c->in;

    in->type = (uint8_t)type;
    in->size = (uint8_t)rng_range(&c->r, 3, TXN_MAX_INCIDENT);
    in->customer = (uint16_t)draw_customer(x->m, &c->r);
    if (type == TXN_A_FRAUD)
        in->merchant = (uint16_t)fraud_merchant(x->m, in->customer, &c->r);
    rng_uuid4_bytes(&c->r, in->id);
    return 0.0;
}

static void hook_set_squeeze(void *slot, uint8_t squeeze)
{
    ((struct txn_incident *)slot)->squeeze = squeeze;
}

/* Persisted bytes come back from disk: an incident is checked before it
 * is used to index the population. */
static bool hook_valid(const void *svc, const void *slot)
{
    const struct txn_model *m = ((const struct txn_call *)svc)->m;
    const struct txn_incident *in = slot;

    return (inc_type(in) == TXN_A_FRAUD || inc_type(in) == TXN_A_LAUNDERING) &&
           in->customer < m->n_cust && in->merchant < m->n_merch && in->size >= 2 &&
           in->size <= TXN_MAX_INCIDENT && in->done >= 1 && in->done < in->size;
}

static bool hook_step(void *svc, struct inc_call *c)
{
    struct txn_call *x = svc;
    struct txn_incident *in = c->in;

    incident_step(x->m, in, &c->r, c->ts_us, x->e, x->f);
    c->anomaly = inc_type(in);
    return in->done < in->size;
}

static bool hook_injected(const void *slot)
{
    return (((const struct txn_incident *)slot)->type & INJECTED_FLAG) != 0;
}

static uint32_t inject_customer(const struct txn_call *x, struct inc_call *c,
                                const struct gen_inject *inj)
{
    if (inj->target >= 0 && inj->target < (int64_t)x->m->n_cust)
        return (uint32_t)inj->target;
    return draw_customer(x->m, &c->r);
}

static double hook_inject_init(void *svc, struct inc_call *c, const struct gen_inject *inj)
{
    struct txn_call *x = svc;
    struct txn_incident *in = c->in;

    in->type = (uint8_t)((unsigned)inj->type | (inj->scheduled ? 0u : INJECTED_FLAG));
    in->size = (uint8_t)inj->size;
    in->customer = (uint16_t)inject_customer(x, c, inj);
    if (inj->type == TXN_A_FRAUD)
        in->merchant = (uint16_t)fraud_merchant(x->m, in->customer, &c->r);
    memcpy(in->id, inj->id, sizeof in->id);
    return 0.0;
}

/* A high amount: the event's own id is the incident's. */
static bool hook_inject_single(void *svc, struct inc_call *c, const struct gen_inject *inj)
{
    struct txn_call *x = svc;

    high_amount_for(x->m, inject_customer(x, c, inj), &c->r, timefmt_ms_of_us(c->ts_us), x->e,
                    x->f);
    rng_uuid_text(inj->id, x->e->id);
    x->e->anomaly = inj->type;
    x->e->injected = true;
    c->anomaly = inj->type;
    return true;
}

/* A due step waits while the count is ahead, and should the table ever
 * be full the incident due next steps early, so the count never falls
 * behind; with the squeeze above that only happens at the extreme corner
 * of the settings. */
static const struct inc_ops txn_incidents = {
    .slot_size = sizeof(struct txn_incident),
    .max_active = TXN_MAX_ACTIVE,
    .flags = INC_F_WAIT_AHEAD | INC_F_FULL_STEPS_EARLY,
    .pick = hook_pick,
    .is_multi = hook_is_multi,
    .single = hook_single,
    .init = hook_init,
    .load = full_length_load,
    .set_squeeze = hook_set_squeeze,
    .valid = hook_valid,
    .step = hook_step,
    .injected = hook_injected,
    .inject_init = hook_inject_init,
    .inject_single = hook_inject_single,
};

static struct inc_state inc_view(struct txn_state *st)
{
    return (struct inc_state){
        .sched = &st->sched, .last_us = &st->last_us, .mean_dt_us = &st->mean_dt_us,
        .dt_seen = &st->dt_seen, .slots = st->active, .n_active = &st->n_active,
    };
}

/* ---- the next event ---- */

_Static_assert(sizeof(struct txn_incident) == 32, "struct txn_incident has padding");
_Static_assert(offsetof(struct txn_incident, next_us) == 0,
               "incident.h: a slot begins with next_us");

/* The due incident is the heap's top, and only it or a new one changes:
 * the cost of a call does not grow with TXN_MAX_ACTIVE (O(log n) to
 * re-file one incident). */
/* The transaction part of an account takeover (xincident.h) due at
 * t_us: the stolen account's customer (entity % customers) starts fraud
 * purchases (three in four) or a laundering run, XINC_LAG_* after the
 * login, under the incident's shared id. None while the anomaly rate in
 * force is 0 or both types are off (a clean stream stays clean). Its
 * events count toward anomaly_rate like the scheduler's own: the
 * scheduler owes that many fewer, so the labelled fraction holds. */
static bool scheduled_part(const struct txn_model *m, const struct txn_state *st,
                           const double *w, double rate, int64_t t_us, struct gen_inject *out)
{
    struct xinc x;
    int type;

    if (!(rate > 0.0) ||
        !xincident_due(m->seed, XINC_TAKEOVER, xincident_followup_ms, st->last_us, t_us, &x))
        return false;
    type = (x.entity >> 8 & 3u) == 0 ? TXN_A_LAUNDERING : TXN_A_FRAUD;
    if (!(w[type] > 0.0)) /* a type switched off stays off */
        type = type == TXN_A_FRAUD ? TXN_A_LAUNDERING : TXN_A_FRAUD;
    if (!(w[type] > 0.0))
        return false;
    if (!shard_owns(&m->shard, x.entity % m->n_cust)) /* another shard's customer */
        return false;
    memset(out, 0, sizeof *out);
    out->scheduled = true;
    out->target = (int64_t)(x.entity % m->n_cust);
    out->type = type;
    out->size = 3 + (int)(x.entity >> 12 & 3u); /* 3-6 */
    memcpy(out->id, x.raw, sizeof out->id);
    return true;
}

/* The transaction part of an infrastructure cascade (xincident.h) whose
 * origin transactions call (all four: the database, the cache, the queue,
 * the fraud scorer): XINC_PART sized, its k-th event due at t_us. The
 * event is an ordinary customer's transaction caught by the outage:
 * TXN_CASCADE_MIN_MS..MAX_MS to process (no normal one takes over
 * TXN_PROC_MAX_MS), then declined (seven in ten) or approved late. None
 * while the anomaly rate in force is 0. Like an injection, and unlike a
 * takeover's part, it comes on top of anomaly_rate: the cascade is
 * monitoring's anomaly, this its effect here. An event of it is left out
 * where the service's own incidents need the event (inc_free_for_part);
 * its last waits for a free event instead (xincident.h). */
#define CASCADE_PART_MIN 6
#define CASCADE_PART_MAX 16

static bool cascade_part(const struct txn_model *m, const struct txn_state *st,
                         const struct inc_state *view, double rate, bool due, int64_t t_us,
                         struct xinc_part *xp)
{
    return rate > 0.0 &&
           xincident_cascade_part(m->seed, XINC_HIT_TXN, CASCADE_PART_MIN, CASCADE_PART_MAX,
                                  st->xdone, st->last_us, t_us, xp) &&
           inc_free_for_part(view, due, t_us);
}

static void cascade_outcome(struct rng *r, struct txn_rec *e)
{
    e->proc_ms = rng_range(r, TXN_CASCADE_MIN_MS, TXN_CASCADE_MAX_MS);
    e->status = rng_chance(r, 0.7) ? TXN_ST_DECLINED : TXN_ST_APPROVED;
}

enum bm_rc txn_generate(const struct txn_model *m, struct txn_state *st,
                        const struct gen_params *p, struct rng *r,
                        int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    struct inc_state view = inc_view(st);
    struct inc_call c;
    struct txn_incident in;
    struct txn_rec e;
    struct txn_features f;
    struct txn_call x = { m, &e, &f };
    double w[TXN_A_COUNT];
    int64_t t_ms = timefmt_ms_of_us(t_us);
    struct gen_inject sched;
    struct xinc_part xp;
    enum bm_rc rc;
    bool due, taken = false, sched_taken = false, cascade;
    int64_t away = -1;

    if (st->version != TXN_STATE_VERSION || st->n_active > TXN_MAX_ACTIVE ||
        !anom_valid(&st->sched, TXN_A_COUNT))
        return BM_ESTATE;
    memset(&e, 0, sizeof e);
    memset(&f, 0, sizeof f);
    e.anomaly = -1;
    due = inc_begin(&c, &view, &in, r, p->anomaly_rate, p->weights, TXN_A_COUNT, w, t_us);
    rng_uuid4(&c.r, e.id);
    /* a cross-service incident's part first: an injection waits an event,
     * an anomaly due stays owed */
    cascade = cascade_part(m, st, &view, c.rate, due, t_us, &xp);
    if (cascade) {
        normal_event(m, &c.r, t_ms, &e, &f);
        e.anomaly = TXN_A_CASCADE;
        memcpy(e.incident_id, xp.x.id, sizeof e.incident_id);
        sched_taken = true;
    } else if (scheduled_part(m, st, w, c.rate, t_us, &sched)) {
        inc_inject(&txn_incidents, &x, &view, &c, &sched, t_us, &sched_taken);
        if (sched_taken)
            anom_emitted(&c.sched, c.anomaly);
    }
    if (p->inject && !sched_taken)
        inc_inject(&txn_incidents, &x, &view, &c, p->inject, t_us, &taken);
    if (!taken && !sched_taken) {
        rc = inc_drive(&txn_incidents, &x, &view, &c, due, t_us);
        if (rc != BM_OK)
            return rc;
    }
    if (e.anomaly < 0)
        away = away_guard(st, normal_event(m, &c.r, t_ms, &e, &f), t_us, &f, &e);
    e.ts_ms = t_ms;
    e.seq = seq;
    txn_assess(&f, &e, &c.r);
    if (cascade)
        cascade_outcome(&c.r, &e);
    rc = txn_rec_encode(&e, ev->json);
    if (rc != BM_OK) /* as if this call never happened */
        return rc;
    if (st->last_us == 0) /* the stream's first event */
        st->xdone =
            xincident_part_start(m->seed, XINC_HIT_TXN, CASCADE_PART_MIN, CASCADE_PART_MAX, t_us);
    else if (cascade && xp.k == xp.n - 1)
        st->xdone = xincident_part_done(&xp);
    inc_commit(&txn_incidents, &view, &c, t_us, r);
    away_remember(st, away, t_us);
    ev->ts_ms = t_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? txn_anomaly_names[e.anomaly] : NULL;
    ev->injected = e.injected;
    ev->inject_taken = taken;
    /* A single-event anomaly is an incident of one event, named by the
     * event's own id (its JSON's incident_id stays null). */
    if (e.anomaly >= 0 && e.incident_id[0]) {
        memcpy(ev->incident_id, e.incident_id, sizeof ev->incident_id);
        ev->incident_open =
            cascade ? xp.k < xp.n - 1 : c.op == INC_PUSH || c.op == INC_REPLACE_TOP;
    } else if (e.anomaly >= 0) {
        memcpy(ev->incident_id, e.id, sizeof ev->incident_id);
    }
    return BM_OK;
}

/* ------------------------------------------------------------------ */
/* The generator's hooks (gen.h)                                        */

static void *hook_model_new(uint64_t seed, const struct bm_config *c)
{
    struct txn_model *m = txn_model_new(seed, c->segments);

    if (m && shard_split(&c->shard))
        txn_model_slice(m, &c->shard);
    return m;
}

static double hook_rate_share(const void *m)
{
    return txn_model_share(m);
}

static bool hook_owns_target(const void *m, int64_t target)
{
    return txn_model_owns(m, target);
}

static void hook_model_free(void *m)
{
    txn_model_free(m);
}

static void hook_state_init(void *st, struct rng *r)
{
    txn_state_init(st, r);
}

static bool hook_state_valid(const void *st)
{
    return ((const struct txn_state *)st)->version == TXN_STATE_VERSION;
}

static enum bm_rc hook_generate(const void *model, void *state, const struct gen_params *p,
                                struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    return txn_generate(model, state, p, r, t_us, seq, ev);
}

const struct service_gen txn_gen_hooks = {
    .state_size = sizeof(struct txn_state),
    .constant_rate = false,
    .model_new = hook_model_new,
    .model_free = hook_model_free,
    .state_init = hook_state_init,
    .state_valid = hook_state_valid,
    .generate = hook_generate,
    .rate_share = hook_rate_share,
    .owns_target = hook_owns_target,
};
