/* generator.c - the transaction service's pure next-event function:
 * normal traffic from the population's habits, and the three anomaly
 * scenarios, paced by the deficit scheduler of anomaly.h. Everything that
 * varies comes from the rng, the state and t_us, so a replay is exact. */
#include <math.h>
#include <string.h>

#include "txn_internal.h"

#define US_PER_MIN 60000000LL
#define MS_PER_DAY 86400000LL
#define HIGH_AMOUNT_CENTS 1000000 /* $10,000 */

static const double type_weights[TXN_T_COUNT] = {
    [TXN_T_PURCHASE] = 70, [TXN_T_TRANSFER] = 12, [TXN_T_WITHDRAWAL] = 10, [TXN_T_DEPOSIT] = 8,
};

void txn_state_init(struct txn_state *st, struct rng *r)
{
    memset(st, 0, sizeof *st); /* padding too: the state is stored as bytes */
    st->version = TXN_STATE_VERSION;
    anom_init(&st->sched, r, TXN_MAX_INCIDENT);
    for (int i = 0; i < TXN_MAX_ACTIVE; i++)
        st->active[i].type = -1;
}

/* ---- who, where ---- */

static uint32_t draw_customer(const struct txn_model *m, struct rng *r)
{
    uint32_t u = (uint32_t)rng_below(r, m->act_cum[m->n_cust - 1]);
    uint32_t lo = 0, hi = m->n_cust - 1;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (m->act_cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Customers keep their hours: outside them they are seldom the one who
 * pays, so each customer's activity has a daily shape to learn. */
static uint32_t pick_customer(const struct txn_model *m, struct rng *r, int64_t t_ms)
{
    uint32_t c = 0;

    for (int i = 0; i < 4; i++) {
        const struct txn_customer *cu;
        int h;

        c = draw_customer(m, r);
        cu = &m->cust[c];
        h = txn_local_hour(t_ms, txn_cities[cu->city].utc_offset_min);
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
    int64_t day = t_ms >= 0 ? t_ms / MS_PER_DAY : -((-t_ms + MS_PER_DAY - 1) / MS_PER_DAY);
    uint64_t h = txn_hash(m->salt, c, ((uint64_t)day << 8) | 1u);

    if (h % 1000 >= cu->travel_pm)
        return cu->city;
    return other_city(cu->city, h >> 16, 2);
}

static uint32_t pos_merchant(const struct txn_model *m, uint32_t c, int city, struct rng *r)
{
    uint32_t first = m->city_first[city], n = m->city_first[city + 1] - first;

    /* At home, most purchases go to a handful of usual shops. */
    if (city == m->cust[c].city && rng_chance(r, 0.6))
        return first + (uint32_t)(txn_hash(m->salt, c, 10 + rng_below(r, 6)) % n);
    return first + (uint32_t)rng_below(r, n);
}

static uint32_t online_merchant(const struct txn_model *m, uint32_t c, struct rng *r)
{
    uint32_t n = m->n_merch - m->online_first;

    if (rng_chance(r, 0.5))
        return m->online_first + (uint32_t)(txn_hash(m->salt, c, 20 + rng_below(r, 4)) % n);
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
    f->local_hour = txn_local_hour(t_ms, txn_cities[city].utc_offset_min);
}

/* ---- normal traffic ---- */

static int64_t usual_cap(const struct txn_customer *cu)
{
    int64_t cap = 4 * (int64_t)cu->usual_hi;

    return cap < HIGH_AMOUNT_CENTS ? cap : HIGH_AMOUNT_CENTS;
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

static void transfer(const struct txn_model *m, uint32_t c, struct rng *r, struct txn_rec *e,
                     struct txn_features *f)
{
    const struct txn_customer *cu = &m->cust[c];
    uint32_t k;

    e->channel = digital_channel(cu, r, TXN_C_BRANCH, 0.25 - 0.2 * digital(cu));
    if (rng_chance(r, 0.85)) {
        k = txn_payee(m, c, (int)rng_below(r, TXN_N_PAYEES));
    } else {
        k = (uint32_t)rng_below(r, m->n_cust - 1);
        k += k >= c; /* anyone but c */
    }
    set_counterparty(m, k, e);
    f->new_payee = !is_payee(m, c, k);
    if (cu->account[1] && rng_chance(r, 0.3))
        txn_fmt_id(e->account, sizeof e->account, "ACC", cu->account[1]);
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

static void normal_event(const struct txn_model *m, struct rng *r, int64_t t_ms,
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
        transfer(m, c, r, e, f);
        break;
    case TXN_T_WITHDRAWAL:
        withdrawal(m, c, r, e);
        break;
    default:
        deposit(m, c, r, e);
        break;
    }
}

/* ---- anomaly scenarios ---- */

/* One transaction over $10,000 and at least 10x the customer's usual top. */
static void high_amount_event(const struct txn_model *m, struct rng *r, int64_t t_ms,
                              struct txn_rec *e, struct txn_features *f)
{
    uint32_t c = draw_customer(m, r), k;
    const struct txn_customer *cu = &m->cust[c];
    int64_t lo = 10 * (int64_t)cu->usual_hi;
    uint64_t kind = rng_below(r, 10);

    set_scene(m, c, customer_city(m, c, t_ms), t_ms, e, f);
    lo = lo > HIGH_AMOUNT_CENTS ? lo : HIGH_AMOUNT_CENTS + 1;
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

/* Card testing: small purchases at one merchant, minutes apart, from
 * somewhere the customer is not. */
static void fraud_event(const struct txn_model *m, const struct txn_incident *in,
                        struct rng *r, int64_t t_ms, struct txn_rec *e, struct txn_features *f)
{
    const struct txn_merchant *mer = &m->merch[in->merchant];
    bool online = in->merchant >= m->online_first;
    int city = online ? other_city(m->cust[in->customer].city,
                                   txn_hash(m->salt, in->customer, 0x66000000u + in->merchant),
                                   5)
                      : mer->city;

    set_scene(m, in->customer, city, t_ms, e, f);
    e->type = TXN_T_PURCHASE;
    e->channel = online ? TXN_C_ONLINE : TXN_C_POS;
    set_merchant(m, in->merchant, e, f);
    e->cents = rng_range(r, 100, 6000);
}

/* Structuring: round transfers below $10,000, each to a new account. */
static void laundering_event(const struct txn_model *m, struct txn_incident *in,
                             struct rng *r, int64_t t_ms, struct txn_rec *e,
                             struct txn_features *f)
{
    int used = in->total - in->remaining;
    uint32_t c = in->customer, k = (uint32_t)rng_below(r, m->n_cust);
    bool clash;

    set_scene(m, c, customer_city(m, c, t_ms), t_ms, e, f);
    e->type = TXN_T_TRANSFER;
    e->channel = digital_channel(&m->cust[c], r, TXN_C_BRANCH, 0.1);
    do { /* terminates: n_cust is far above the accounts ruled out */
        clash = k == c || is_payee(m, c, k);
        for (int i = 0; i < used && !clash; i++)
            clash = in->used_counterparties[i] == k;
        if (clash)
            k = (k + 1) % m->n_cust;
    } while (clash);
    in->used_counterparties[used] = k;
    set_counterparty(m, k, e);
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

static int64_t gap_us(int type, struct rng *r)
{
    return type == TXN_A_FRAUD ? rng_range(r, 1 * US_PER_MIN, 5 * US_PER_MIN)
                               : rng_range(r, 2 * US_PER_MIN, 30 * US_PER_MIN);
}

/* Emits the next event of incident in and advances or frees it. */
static void incident_step(const struct txn_model *m, struct txn_incident *in, struct rng *r,
                          int64_t t_us, struct txn_rec *e, struct txn_features *f)
{
    int64_t t_ms = txn_ms_of_us(t_us);

    if (in->type == TXN_A_FRAUD)
        fraud_event(m, in, r, t_ms, e, f);
    else
        laundering_event(m, in, r, t_ms, e, f);
    e->anomaly = in->type;
    memcpy(e->incident_id, in->incident_id, sizeof e->incident_id);
    in->remaining--;
    if (in->remaining > 0) {
        in->next_us = t_us + gap_us(in->type, r);
        return;
    }
    memset(in, 0, sizeof *in);
    in->type = -1;
}

/* The due incident step with the earliest due time, -1 if none. */
static int due_incident(const struct txn_state *st, int64_t t_us)
{
    int best = -1;

    for (int i = 0; i < TXN_MAX_ACTIVE; i++) {
        const struct txn_incident *in = &st->active[i];

        if (in->type >= 0 && in->next_us <= t_us &&
            (best < 0 || in->next_us < st->active[best].next_us))
            best = i;
    }
    return best;
}

static int free_slot(const struct txn_state *st)
{
    for (int i = 0; i < TXN_MAX_ACTIVE; i++)
        if (st->active[i].type < 0)
            return i;
    return -1;
}

/* Starts an incident of a type drawn by weight and emits its first event.
 * False, with nothing committed, if no type has weight or a multi-event
 * incident has no free slot: the deficit then waits for a later tick. */
static bool start_incident(const struct txn_model *m, struct txn_state *st, const double *w,
                           struct rng *r, int64_t t_us, struct txn_rec *e,
                           struct txn_features *f)
{
    int type = rng_weighted(r, w, TXN_A_COUNT), slot, size;
    struct txn_incident *in;

    if (type < 0)
        return false;
    if (type == TXN_A_HIGH_AMOUNT) {
        anom_commit(&st->sched, r, 1);
        high_amount_event(m, r, txn_ms_of_us(t_us), e, f);
        e->anomaly = TXN_A_HIGH_AMOUNT;
        return true;
    }
    slot = free_slot(st);
    if (slot < 0)
        return false;
    size = (int)rng_range(r, 3, TXN_MAX_INCIDENT);
    anom_commit(&st->sched, r, size);
    in = &st->active[slot];
    memset(in, 0, sizeof *in);
    in->type = type;
    in->customer = draw_customer(m, r);
    if (type == TXN_A_FRAUD)
        in->merchant = fraud_merchant(m, in->customer, r);
    in->total = size;
    in->remaining = size;
    rng_uuid4(r, in->incident_id);
    incident_step(m, in, r, t_us, e, f);
    return true;
}

/* ---- the next event ---- */

/* Weights cleaned into w; the rate that applies: 0 when nothing could be
 * drawn, so the deficit does not pile up while all types are off. */
static double effective_rate(const struct gen_params *p, double w[TXN_A_COUNT])
{
    double sum = 0.0;

    for (int i = 0; i < TXN_A_COUNT; i++) {
        w[i] = isfinite(p->weights[i]) && p->weights[i] > 0.0 ? p->weights[i] : 0.0;
        sum += w[i];
    }
    if (!(sum > 0.0) || !(p->anomaly_rate > 0.0))
        return 0.0;
    return p->anomaly_rate < 1.0 ? p->anomaly_rate : 1.0;
}

/* Persisted bytes come back from disk: check them before indexing. */
static bool state_ok(const struct txn_model *m, const struct txn_state *st)
{
    if (st->version != TXN_STATE_VERSION || st->sched.max_incident != TXN_MAX_INCIDENT)
        return false;
    for (int i = 0; i < TXN_MAX_ACTIVE; i++) {
        const struct txn_incident *in = &st->active[i];

        if (in->type == -1)
            continue;
        if ((in->type != TXN_A_FRAUD && in->type != TXN_A_LAUNDERING) ||
            in->customer >= m->n_cust || in->merchant >= m->n_merch || in->total < 1 ||
            in->total > TXN_MAX_INCIDENT || in->remaining < 1 || in->remaining >= in->total ||
            in->incident_id[RNG_UUID_LEN] != '\0')
            return false;
        for (int k = 0; k < in->total - in->remaining; k++)
            if (in->used_counterparties[k] >= m->n_cust)
                return false;
    }
    return true;
}

enum bm_rc txn_generate(const struct txn_model *m, struct txn_state *st,
                        const struct gen_params *p, struct rng *r,
                        int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    struct txn_state saved = *st;
    struct rng saved_r = *r;
    struct txn_rec e;
    struct txn_features f;
    double w[TXN_A_COUNT];
    int64_t t_ms = txn_ms_of_us(t_us);
    int slot;
    bool due;
    enum bm_rc rc;

    if (!state_ok(m, st))
        return BM_ESTATE;
    memset(&e, 0, sizeof e);
    memset(&f, 0, sizeof f);
    e.anomaly = -1;
    due = anom_tick(&st->sched, effective_rate(p, w));
    rng_uuid4(r, e.id);
    slot = due_incident(st, t_us);
    if (slot >= 0)
        incident_step(m, &st->active[slot], r, t_us, &e, &f);
    else if (!due || !start_incident(m, st, w, r, t_us, &e, &f))
        normal_event(m, r, t_ms, &e, &f);
    e.ts_ms = t_ms;
    e.seq = seq;
    txn_assess(&f, &e, r);
    rc = txn_rec_encode(&e, ev->json);
    if (rc != BM_OK) { /* as if this call never happened */
        *st = saved;
        *r = saved_r;
        return rc;
    }
    ev->ts_ms = t_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? txn_anomaly_names[e.anomaly] : NULL;
    return BM_OK;
}
