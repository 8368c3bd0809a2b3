/* generator.c - the monitoring service's pure next-sample function.
 *
 * Each call is one metric sample of one series (host x metric), the series
 * taken in a fixed cycle, so every metric of every host is sampled at the
 * same regular interval (MON_N_SERIES / events_per_second). A normal value
 * is a function of the host's profile, the traffic (the common shaping
 * factor, smoothed over ~20 minutes so the hourly steps become ramps) and
 * an AR(1) noise per series whose correlation time is in simulated
 * seconds. Disk fills slowly by the calendar (model.c).
 *
 * Anomalies are episodes on series. The deficit scheduler of anomaly.h
 * says when an incident is due and which type (the one furthest behind its
 * share). That type gets a reservation: the incident starts at the first
 * sample the type fits (its metric; that series, and whatever else the
 * incident needs, free), at most a cycle later unless the estate is busy.
 * A reservation counts as one labelled event while it waits, and as its
 * type's mean incident in later picks, so a type waiting for its sample (a
 * cascade for free dependents, say) holds up no other, and the labelled
 * count stays within about one incident of the target.
 *
 * The incident's labelled events are the next samples of its series.
 * After them a series recovers over a few normal samples, during which no
 * new episode starts on it, so on every series one incident is one
 * unbroken run and two never touch.
 *
 * Everything that varies comes from the rng, the state and t_us. */
#include <math.h>
#include <string.h>

#include "config.h"
#include "mon.h"
#include "shaping.h"
#include "timefmt.h"
#include "xincident.h"

#define US_PER_S     1e6
#define US_PER_DAY   86400e6
#define LOAD_TAU_S   1200.0 /* traffic smoothing */
#define MAX_CLAIMS   10 /* series one incident takes: a cascade of 5 hosts x 2 */
#define MAX_RESERVED 16 /* waiting starts per type */

/* Correlation time of each metric's noise, simulated seconds. */
static const double noise_tau_s[MON_M_COUNT] = {
    [MON_M_CPU] = 120, [MON_M_MEMORY] = 900, [MON_M_DISK] = 3600, [MON_M_NET_IN] = 60,
    [MON_M_NET_OUT] = 60, [MON_M_RESPONSE] = 60, [MON_M_ERROR] = 180,
};

/* Per type: labelled samples per series [lo, hi], recovery samples
 * [lo, hi] and the offset kept per recovery sample (per mille), for the
 * latency series and for the others (errors, utilisation). */
struct shape {
    uint8_t k_lo, k_hi, r_lo, r_hi;
    int16_t keep_rt, keep;
};
static const struct shape shapes[MON_A_COUNT] = {
    [MON_A_HIGH_CPU] = { 5, 14, 1, 3, 0, 450 },
    [MON_A_HIGH_MEMORY] = { 5, 14, 1, 2, 0, 100 }, /* restart after the leak */
    [MON_A_HIGH_DISK] = { 5, 14, 1, 3, 0, 500 },   /* cleanup */
    [MON_A_CASCADE] = { 2, 4, 1, 2, 300, 0 },      /* errors stop with the cause */
    [MON_A_DEGRADATION] = { 8, 24, 1, 2, 300, 0 }, /* rollback */
    [MON_A_TIMEOUT] = { 2, 5, 1, 1, 0, 0 },        /* the path comes back */
};

_Static_assert(5 * (4 + 5) <= MON_MAX_INCIDENT, "a cascade must fit an incident");
_Static_assert(1 + 4 * 2 <= MAX_CLAIMS, "a cascade's other series must fit the claims");
_Static_assert(24 <= MON_MAX_INCIDENT && MON_MAX_INCIDENT <= UINT8_MAX, "incident sizes");
_Static_assert(sizeof(struct mon_episode) == 12, "struct mon_episode has padding");
_Static_assert(sizeof(struct mon_incident) == RNG_UUID_LEN + 4, "struct mon_incident has padding");
_Static_assert(sizeof(struct mon_near) == 12, "struct mon_near has padding");

void mon_state_init(struct mon_state *st, struct rng *r)
{
    memset(st, 0, sizeof *st); /* padding too: the state is stored as bytes */
    st->version = MON_STATE_VERSION;
    anom_init(&st->sched, r, MON_A_COUNT);
    st->f_hour = INT64_MIN;
    st->load = -1.0;
    for (int s = 0; s < MON_N_SERIES; s++)
        st->noise[s] = rng_normal(r); /* the stationary distribution */
}

static bool episode_ok(const struct mon_state *st, const struct mon_episode *e)
{
    if (e->type > MON_A_COUNT || e->inc >= MON_N_SERIES || e->left > MON_MAX_INCIDENT)
        return false;
    if (e->type == 0)
        return e->left == 0;
    return e->left > 0 && st->inc[e->inc].type == e->type && st->inc[e->inc].left >= e->left;
}

static bool sched_ok(const struct mon_state *st)
{
    if (!anom_valid(&st->sched, MON_A_COUNT) || !isfinite(st->sched.expected) ||
        !isfinite(st->sched.emitted))
        return false;
    for (int t = 0; t < MON_A_COUNT; t++)
        if (st->reserved[t] > MAX_RESERVED)
            return false;
    return true;
}

bool mon_state_valid(const struct mon_state *st)
{
    if (st->version != MON_STATE_VERSION || st->cursor >= MON_N_SERIES ||
        !sched_ok(st) || !isfinite(st->load) || !isfinite(st->load_keep) ||
        !isfinite(st->f_val))
        return false;
    for (int i = 0; i < MON_N_SERIES; i++) {
        if (!isfinite(st->noise[i]) || fabs(st->noise[i]) > 1e3 || !episode_ok(st, &st->ep[i]))
            return false;
        if (!mon_near_valid(&st->near[i]) ||
            (st->near[i].kind && (st->ep[i].type || st->ep[i].recover)))
            return false;
        if (st->inc[i].type > MON_A_COUNT || (st->inc[i].flags & ~MON_INC_INJECTED) ||
            st->inc[i].id[RNG_UUID_LEN] != '\0' || st->inc[i].left > MON_MAX_INCIDENT)
            return false;
    }
    for (int m = 0; m < MON_M_COUNT; m++)
        if (!(st->phi[m] >= 0.0 && st->phi[m] <= 1.0))
            return false;
    return true;
}

/* ---- one call's work, on copies, written back once the event is out ---- */

struct claim {
    int series;
    struct mon_episode ep;
};

struct step {
    struct rng r;
    struct anom_sched sched;
    uint8_t reserved[MON_A_COUNT];
    /* traffic and noise coefficients */
    int64_t coef_dt_us, f_hour;
    double f_val, load, load_keep, phi[MON_M_COUNT];
    double z;              /* the sampled series' new noise */
    struct mon_episode ep; /* the sampled series' episode after this sample */
    int32_t value;
    int anomaly;           /* enum mon_anomaly, -1 normal */
    int slot;              /* incident slot of a labelled sample, -1 none */
    bool started;          /* a new incident, in new_inc at slot */
    struct mon_incident new_inc;
    int n_claims;          /* other series the new incident takes */
    struct claim claim[MAX_CLAIMS];
    struct mon_near near;     /* the sampled series' look-alike after this sample */
    struct mon_near near_err; /* a partial cascade's, for near_err_series */
    int near_err_series;
    int near_kind;            /* of this sample, 0 if not a look-alike's */
    uint16_t xinc;            /* mon_state.xinc after this sample */
    struct bm_shard shard;    /* the model's: hosts of other shards are never free */
    bool out_of_turn;         /* an injection's series, sampled before its turn */
};

/* Shaping factor and smoothed traffic at t_us; AR coefficients for the
 * spacing since the previous sample. */
static void advance_traffic(const struct mon_state *st, const struct gen_params *p,
                            struct step *s, int64_t t_us)
{
    int64_t ms = timefmt_ms_of_us(t_us);
    int64_t hour = shaping_hour(ms, p->tz_offset_min);
    int64_t dt = st->last_us && t_us > st->last_us ? t_us - st->last_us : 0;

    s->f_hour = st->f_hour;
    s->f_val = st->f_val;
    if (hour != st->f_hour) {
        s->f_hour = hour;
        s->f_val = shaping_factor(ms, p->tz_offset_min);
    }
    s->coef_dt_us = st->coef_dt_us;
    s->load_keep = st->load_keep;
    memcpy(s->phi, st->phi, sizeof s->phi);
    if (dt != st->coef_dt_us) {
        /* a series is sampled once per cycle */
        double every_s = (double)dt * MON_N_SERIES / US_PER_S;

        s->coef_dt_us = dt;
        s->load_keep = exp(-(double)dt / US_PER_S / LOAD_TAU_S);
        for (int m = 0; m < MON_M_COUNT; m++)
            s->phi[m] = exp(-every_s / noise_tau_s[m]);
    }
    if (st->load < 0.0)
        s->load = s->f_val;
    else
        s->load = s->f_val + (st->load - s->f_val) * s->load_keep;
}

static int32_t clamp_i32(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

/* Scales v by a factor drawn in [lo, hi]. */
static int64_t jitter(struct rng *r, int64_t v, double lo, double hi)
{
    return llround((double)v * (lo + (hi - lo) * rng_double(r)));
}

/* The next labelled value of episode e (type t) on a series of metric m
 * whose normal value would be `normal`. */
static int32_t labelled_value(struct mon_episode *e, int t, int m, int32_t normal,
                              struct rng *r)
{
    bool first = e->level == 0;
    int64_t v;

    switch (t) {
    case MON_A_HIGH_CPU: /* pegged: wanders between 90 and 100 */
        v = first ? 9050 + rng_range(r, 0, 450) : e->level + rng_range(r, -150, 250);
        return clamp_i32(v, MON_UTIL_ANOMALY_MIN + 9, 9990);
    case MON_A_HIGH_MEMORY: /* a leak: only ever grows */
        v = first ? 9010 + rng_range(r, 0, 200) : e->level + rng_range(r, 10, 120);
        return clamp_i32(v, MON_UTIL_ANOMALY_MIN + 9, 9990);
    case MON_A_HIGH_DISK: /* a runaway log fills the disk */
        v = first ? 9005 + rng_range(r, 0, 150) : e->level + rng_range(r, 2, 40);
        return clamp_i32(v, MON_UTIL_ANOMALY_MIN + 4, 9999);
    case MON_A_DEGRADATION: {
        /* strictly rising by param ppm per sample, give or take 3 %; never
         * so high that the samples still to come cannot keep rising */
        int64_t cap = MON_RT_NORMAL_MAX + 30000 - e->left;

        if (first)
            v = jitter(r, normal, 1.15, 1.30);
        else
            v = jitter(r, e->level, 0.97 * (double)e->param / 1e6, 1.03 * (double)e->param / 1e6);
        if (!first && v <= e->level)
            v = e->level + 1;
        return clamp_i32(v, normal + 1, (int32_t)cap);
    }
    case MON_A_TIMEOUT:
        if (m == MON_M_RESPONSE) /* requests run into the client's timeout */
            return clamp_i32(jitter(r, e->param, 0.86, 1.02), MON_RT_TIMEOUT_MIN, 6000000);
        return clamp_i32(jitter(r, e->param, 0.85, 1.15), 1000, 9500);
    default: /* cascade */
        if (m == MON_M_RESPONSE)
            return clamp_i32(jitter(r, normal, 0.9 * e->param / 100.0, 1.1 * e->param / 100.0),
                             normal + 1000, MON_RT_NORMAL_MAX + 30000);
        return clamp_i32(jitter(r, e->param, 0.8, 1.2), MON_ERR_ANOMALY_MIN, 6000);
    }
}

/* A labelled sample of the episode on the sampled series; after its last
 * one the series goes into recovery with the offset it ends at. */
static void labelled_step(struct step *s, int m, int32_t normal)
{
    int t = s->ep.type - 1;
    const struct shape *sh = &shapes[t];

    s->value = labelled_value(&s->ep, t, m, normal, &s->r);
    s->ep.level = s->value;
    s->anomaly = t;
    s->slot = s->ep.inc;
    if (--s->ep.left == 0) {
        s->ep.type = 0;
        s->ep.level = s->value - normal;
        s->ep.param = m == MON_M_RESPONSE ? sh->keep_rt : sh->keep;
    }
}

static void recovery_step(struct step *s, int m, int32_t normal)
{
    s->ep.level = (int32_t)((int64_t)s->ep.level * s->ep.param / 1000);
    s->value = mon_clamp_normal(m, (double)(normal + s->ep.level) / 100.0);
    s->ep.recover--;
    if (s->ep.recover == 0)
        memset(&s->ep, 0, sizeof s->ep);
}

/* A look-alike's sample; after its last one the series rests a sample
 * (no incident starts on it), so an anomaly never follows a spike
 * directly and its jump is a jump. */
static void near_step(struct step *s, int m, int32_t normal)
{
    s->near_kind = s->near.kind;
    s->value = mon_near_step(&s->near, m, normal, &s->r);
    if (s->near.kind == MON_N_NONE) {
        memset(&s->ep, 0, sizeof s->ep);
        s->ep.recover = 1;
    }
}

/* ---- starting an incident ---- */

static bool series_free(const struct mon_state *st, int series)
{
    return st->ep[series].type == 0 && st->ep[series].recover == 0 &&
           st->near[series].kind == MON_N_NONE;
}

static struct mon_episode new_episode(int t, int slot, int32_t param, struct rng *r)
{
    const struct shape *sh = &shapes[t];
    struct mon_episode e;

    memset(&e, 0, sizeof e);
    e.type = (uint8_t)(t + 1);
    e.inc = (uint8_t)slot;
    e.param = param;
    e.left = (uint8_t)rng_range(r, sh->k_lo, sh->k_hi);
    e.recover = (uint8_t)rng_range(r, sh->r_lo, sh->r_hi);
    return e;
}

static void add_claim(struct step *s, int series, struct mon_episode e)
{
    s->claim[s->n_claims].series = series;
    s->claim[s->n_claims].ep = e;
    s->n_claims++;
}

/* A cascade's error episode on host h: from its latency's first sample to
 * one after its last (retries and backlog outlast the slowness). */
static void add_errors(struct step *s, int h, int rt_left, int32_t lo, int slot)
{
    struct mon_episode e =
        new_episode(MON_A_CASCADE, slot, (int32_t)rng_range(&s->r, lo, 4000), &s->r);

    e.left = (uint8_t)(rt_left + 1);
    add_claim(s, MON_SERIES(MON_M_ERROR, h), e);
}

/* Hosts after `origin` of a dependent service with latency and error
 * series free, at most one per service (drawn among its free hosts). */
static int free_dependents(const struct mon_state *st, const struct bm_shard *sh, int origin,
                           struct rng *r, int hosts[MON_N_SERVICES])
{
    unsigned deps = mon_services[mon_hosts[origin].service].dependents;
    int n = 0;

    for (int sv = 0; sv < MON_N_SERVICES; sv++) {
        int seen = 0, pick = -1;

        if (!(deps & (1u << sv)))
            continue;
        for (int h = origin + 1; h < MON_N_HOSTS; h++) {
            if (mon_hosts[h].service != sv || !shard_owns(sh, (uint64_t)h) ||
                !series_free(st, MON_SERIES(MON_M_RESPONSE, h)) ||
                !series_free(st, MON_SERIES(MON_M_ERROR, h)))
                continue;
            if (rng_below(r, (uint64_t)++seen) == 0) /* reservoir: uniform among free */
                pick = h;
        }
        if (pick >= 0)
            hosts[n++] = pick;
    }
    return n;
}

/* Claims for a cascade from host h (its latency is being sampled): it and
 * 2-4 dependent services' hosts, latency and errors each. Later hosts'
 * latency samples come later in this cycle's latency block and every
 * error sample in the error block right after, so all the onsets fall
 * within two blocks (2 x MON_N_HOSTS samples). */
static bool plan_cascade(const struct mon_state *st, struct step *s, int h, int slot)
{
    int hosts[MON_N_SERVICES], n, want;

    n = free_dependents(st, &s->shard, h, &s->r, hosts);
    if (n < 2)
        return false;
    want = (int)rng_range(&s->r, 2, n < 4 ? n : 4);
    for (int i = 0; i < want; i++) { /* a random subset: partial shuffle */
        int j = i + (int)rng_below(&s->r, (uint64_t)(n - i)), tmp = hosts[i];

        hosts[i] = hosts[j];
        hosts[j] = tmp;
    }
    s->ep = new_episode(MON_A_CASCADE, slot, (int32_t)rng_range(&s->r, 300, 1000), &s->r);
    add_errors(s, h, s->ep.left, 800, slot);
    for (int i = 0; i < want; i++) {
        struct mon_episode rt =
            new_episode(MON_A_CASCADE, slot, (int32_t)rng_range(&s->r, 300, 1000), &s->r);

        add_claim(s, MON_SERIES(MON_M_RESPONSE, hosts[i]), rt);
        add_errors(s, hosts[i], rt.left, 600, slot);
    }
    return true;
}

static int free_slot(const struct mon_state *st)
{
    for (int i = 0; i < MON_N_SERIES; i++)
        if (st->inc[i].type == 0)
            return i;
    return -1; /* cannot happen: see struct mon_state */
}

/* Does incident type t fit the sample being taken (series `series`),
 * with everything else it needs free? If so the plan is in s. */
static bool plan_start(const struct mon_state *st, struct step *s, int t, int series, int slot)
{
    int m = MON_SERIES_METRIC(series), h = MON_SERIES_HOST(series);
    int err = MON_SERIES(MON_M_ERROR, h);

    s->n_claims = 0;
    switch (t) {
    case MON_A_HIGH_CPU:
    case MON_A_HIGH_MEMORY:
    case MON_A_HIGH_DISK:
        if (m != MON_M_CPU + t)
            return false;
        s->ep = new_episode(t, slot, 0, &s->r);
        return true;
    case MON_A_DEGRADATION: {
        double growth; /* over the whole episode */

        if (m != MON_M_RESPONSE)
            return false;
        growth = 2.5 + 3.5 * rng_double(&s->r);
        s->ep = new_episode(t, slot, 0, &s->r);
        s->ep.param = (int32_t)llround(1e6 * pow(growth, 1.0 / (s->ep.left - 1)));
        return true;
    }
    case MON_A_TIMEOUT: {
        static const int32_t timeouts_ms[] = { 6000, 10000, 15000, 30000 };

        if (m != MON_M_RESPONSE || !series_free(st, err))
            return false;
        s->ep = new_episode(t, slot, 100 * timeouts_ms[rng_below(&s->r, 4)], &s->r);
        add_claim(s, err, new_episode(t, slot, (int32_t)rng_range(&s->r, 1500, 6000), &s->r));
        /* one outage: errors from the first slow sample to one after the last */
        s->claim[0].ep.left = (uint8_t)(s->ep.left + 1);
        return true;
    }
    default:
        return m == MON_M_RESPONSE && series_free(st, err) && plan_cascade(st, s, h, slot);
    }
}

/* Labelled events an incident of each type has on average (shapes[]):
 * what a reservation stands for when the next type is picked. */
static const double mean_size[MON_A_COUNT] = {
    [MON_A_HIGH_CPU] = 9.5, [MON_A_HIGH_MEMORY] = 9.5, [MON_A_HIGH_DISK] = 9.5,
    [MON_A_CASCADE] = 3.7 * (3 + 4), [MON_A_DEGRADATION] = 16, [MON_A_TIMEOUT] = 3.5 + 4.5,
};

/* The metric whose sample an incident of type t starts on. */
static int start_metric(int t)
{
    return t <= MON_A_HIGH_DISK ? MON_M_CPU + t : MON_M_RESPONSE;
}

/* Free series of the sampled one's metric from it to the block's end. */
static uint64_t free_left(const struct mon_state *st, const struct bm_shard *sh, int series)
{
    int m = MON_SERIES_METRIC(series);
    uint64_t n = 0;

    for (int h = MON_SERIES_HOST(series); h < MON_N_HOSTS; h++)
        n += shard_owns(sh, (uint64_t)h) && series_free(st, MON_SERIES(m, h));
    return n ? n : 1;
}

/* The sampled series is free: start the reserved type that fits here
 * (metric, and whatever else it needs free) furthest behind its share. */
static void try_start(const struct mon_state *st, struct step *s, int series)
{
    struct anom_sched cand;
    int slot, t, total, fitting = 0;

    for (int k = 0; k < MON_A_COUNT; k++)
        fitting += s->reserved[k] && start_metric(k) == MON_SERIES_METRIC(series);
    slot = fitting ? free_slot(st) : -1;
    if (slot < 0)
        return;
    /* anom_pick() over the reserved types of this metric only */
    cand = s->sched;
    for (int k = 0; k < MON_A_COUNT; k++)
        if (!s->reserved[k] || start_metric(k) != MON_SERIES_METRIC(series))
            cand.weights[k] = 0.0;
    for (;;) {
        t = anom_pick(&cand, &s->r);
        if (t < 0)
            return;
        /* A one-host type starts here with chance 1 / (free series left
         * in the metric's block), so its start is uniform over them, not
         * always the first (db-01) after the reservation, and never passes
         * the last. A cascade needs dependents after its origin: it takes
         * the first fitting host. */
        if ((t == MON_A_CASCADE || rng_below(&s->r, free_left(st, &s->shard, series)) == 0) &&
            plan_start(st, s, t, series, slot))
            break;
        cand.weights[t] = 0.0;
    }
    total = s->ep.left;
    for (int i = 0; i < s->n_claims; i++)
        total += s->claim[i].ep.left;
    s->reserved[t]--;
    memset(&s->new_inc, 0, sizeof s->new_inc);
    rng_uuid4(&s->r, s->new_inc.id);
    s->new_inc.type = (uint8_t)(t + 1);
    s->new_inc.left = (uint8_t)total;
    s->started = true;
}

/* The estate has no room for some rates (one utilisation type alone far
 * above a seventh of the samples, say): a deficit beyond what waiting up
 * to a cycle and a half for fitting samples explains is forgiven, and so
 * are reservations beyond it, so a later, feasible setting is not
 * followed by a burst. Feasible settings stay well below it. */
static void forgive(struct step *s, double rate)
{
    double cap = 2.0 + 1.5 * rate * MON_N_SERIES;
    int waiting = 0;

    if (s->sched.expected - s->sched.emitted > cap)
        s->sched.expected = s->sched.emitted + cap;
    for (int k = 0; k < MON_A_COUNT; k++)
        waiting += s->reserved[k];
    while (waiting > cap) {
        int most = 0;

        for (int k = 1; k < MON_A_COUNT; k++)
            if (s->reserved[k] > s->reserved[most])
                most = k;
        s->reserved[most]--;
        waiting--;
    }
}

/* Accounts this sample at the configured rate and grants at most one
 * reservation, to the type furthest behind its share counting what its
 * incidents under way and its reservations will still bring. A
 * reservation stands in for the incident's first event until it starts;
 * one for a type switched off is dropped. */
static void schedule(const struct mon_state *st, struct step *s, const struct gen_params *p)
{
    double w[MON_A_COUNT], rate = anom_rate(p->anomaly_rate, p->weights, MON_A_COUNT, w);
    double waiting = 0.0;
    struct anom_sched cand;
    int t;

    anom_weights(&s->sched, w);
    for (int k = 0; k < MON_A_COUNT; k++)
        if (!(w[k] > 0.0) || !(rate > 0.0))
            s->reserved[k] = 0;
    if (!anom_tick(&s->sched, rate))
        return;
    forgive(s, rate);
    for (int k = 0; k < MON_A_COUNT; k++)
        waiting += s->reserved[k];
    if (s->sched.expected - s->sched.emitted - waiting < s->sched.threshold)
        return;
    cand = s->sched;
    for (int k = 0; k < MON_A_COUNT; k++) {
        cand.owed[k] -= s->reserved[k] * mean_size[k];
        if (s->reserved[k] >= MAX_RESERVED)
            cand.weights[k] = 0.0;
    }
    for (int i = 0; i < MON_N_SERIES; i++)
        if (st->inc[i].type && !(st->inc[i].flags & MON_INC_INJECTED))
            cand.owed[st->inc[i].type - 1] -= st->inc[i].left;
    t = anom_pick(&cand, &s->r);
    if (t < 0)
        return;
    s->reserved[t]++;
    anom_started(&s->sched, &s->r);
}

/* ---- injection ---- */

const struct mon_inject_size mon_inject_sizes[MON_A_COUNT] = {
    [MON_A_HIGH_CPU] = { 5, 24, 10 },    [MON_A_HIGH_MEMORY] = { 5, 24, 10 },
    [MON_A_HIGH_DISK] = { 5, 24, 10 },   [MON_A_CASCADE] = { 15, 50, 26 },
    [MON_A_DEGRADATION] = { 8, 24, 16 }, [MON_A_TIMEOUT] = { 5, 11, 7 },
};

_Static_assert(50 <= MON_MAX_INCIDENT, "an injected cascade must fit an incident");

int mon_split_latency(int events)
{
    return (events - 1) / 2;
}

/* 5 to 10 events a host (2-4 latency samples, errors one or two more),
 * as few hosts as that allows, at least the origin and two dependents. */
int mon_cascade_hosts(int size)
{
    int h = (size + 9) / 10;

    return h < 3 ? 3 : h;
}

/* Does the sampled series suit injection inj's target? */
static bool inject_target_ok(const struct gen_inject *inj, int h)
{
    if (inj->target < 0)
        return true;
    if (inj->target >= MON_TARGET_SERVICE)
        return mon_hosts[h].service == inj->target - MON_TARGET_SERVICE;
    return inj->target == h;
}

/* An injected cascade of `size` events from host h: it and as few
 * dependent services' hosts as the size allows, the events spread evenly. */
static bool plan_inject_cascade(const struct mon_state *st, struct step *s, int h, int slot,
                                int size)
{
    int hosts[MON_N_SERVICES], n, want = mon_cascade_hosts(size) - 1;

    n = free_dependents(st, &s->shard, h, &s->r, hosts);
    if (n < want)
        return false;
    for (int i = 0; i < want; i++) { /* a random subset: partial shuffle */
        int j = i + (int)rng_below(&s->r, (uint64_t)(n - i)), tmp = hosts[i];

        hosts[i] = hosts[j];
        hosts[j] = tmp;
    }
    for (int i = 0; i <= want; i++) {
        int host = i ? hosts[i - 1] : h;
        int ev = size / (want + 1) + (i < size % (want + 1));
        struct mon_episode rt =
            new_episode(MON_A_CASCADE, slot, (int32_t)rng_range(&s->r, 300, 1000), &s->r);

        rt.left = (uint8_t)mon_split_latency(ev);
        if (i == 0)
            s->ep = rt;
        else
            add_claim(s, MON_SERIES(MON_M_RESPONSE, host), rt);
        add_errors(s, host, rt.left, i ? 600 : 800, slot);
        s->claim[s->n_claims - 1].ep.left = (uint8_t)(ev - rt.left);
    }
    return true;
}

/* inj as mon_inject_check takes it (a stored row it did not write is
 * made so): its size within the type's range, its target a host, a
 * service or none. False: no such type. */
static bool inject_as_taken(const struct gen_inject *asked, struct gen_inject *in)
{
    int t = asked->type;

    if (t < 0 || t >= MON_A_COUNT)
        return false;
    *in = *asked;
    if (in->size < mon_inject_sizes[t].lo || in->size > mon_inject_sizes[t].hi)
        in->size = mon_inject_sizes[t].usual;
    if (in->target >= MON_N_HOSTS &&
        (in->target < MON_TARGET_SERVICE || in->target >= MON_TARGET_SERVICE + MON_N_SERVICES))
        in->target = -1;
    return true;
}

/* The series an injection due now starts on at this sample: the sampled
 * one if it fits, else the first owned series from the sampled host on
 * that fits (its type's metric, its target, whatever else it needs free),
 * which is then sampled out of turn (the cycle's cursor stays), so live
 * its first event comes at the next sample, not a cycle later. -1: none
 * fits now (the incident table full, the target busy); it waits. */
static int inject_series(const struct mon_model *m, const struct mon_state *st,
                         const struct gen_inject *asked, const struct rng *r, int series)
{
    struct gen_inject in;
    int t = asked->type;

    if (!inject_as_taken(asked, &in) || free_slot(st) < 0)
        return -1;
    for (int k = 0; k < MON_N_HOSTS; k++) {
        int h = (MON_SERIES_HOST(series) + k) % MON_N_HOSTS;
        int at = MON_SERIES(start_metric(t), h), err = MON_SERIES(MON_M_ERROR, h);

        if (!shard_owns(&m->shard, (uint64_t)h) || !inject_target_ok(&in, h) ||
            !series_free(st, at))
            continue;
        if ((t == MON_A_TIMEOUT || t == MON_A_CASCADE) && !series_free(st, err))
            continue;
        if (t == MON_A_CASCADE) {
            struct rng scratch = *r; /* counting draws nothing */
            int hosts[MON_N_SERVICES];

            if (free_dependents(st, &m->shard, h, &scratch, hosts) <
                mon_cascade_hosts(in.size) - 1)
                continue;
        }
        return at;
    }
    return -1;
}

/* Starts injection inj on the sampled (free) series if it fits there: the
 * type's metric, its target, whatever else it needs free (inject_series
 * chose it for an injection; a cross-service cascade comes at its turn). */
static void try_inject(const struct mon_state *st, struct step *s, int series,
                       const struct gen_inject *asked)
{
    struct gen_inject in, *inj = &in;
    int t = asked->type, m = MON_SERIES_METRIC(series), h = MON_SERIES_HOST(series);
    int err = MON_SERIES(MON_M_ERROR, h), slot = free_slot(st), total;

    if (!inject_as_taken(asked, &in))
        return;
    if (m != start_metric(t) || slot < 0 || !inject_target_ok(inj, h))
        return;
    s->n_claims = 0;
    switch (t) {
    case MON_A_HIGH_CPU:
    case MON_A_HIGH_MEMORY:
    case MON_A_HIGH_DISK:
        s->ep = new_episode(t, slot, 0, &s->r);
        s->ep.left = (uint8_t)inj->size;
        break;
    case MON_A_DEGRADATION:
        s->ep = new_episode(t, slot, 0, &s->r);
        s->ep.left = (uint8_t)inj->size;
        s->ep.param =
            (int32_t)llround(1e6 * pow(2.5 + 3.5 * rng_double(&s->r), 1.0 / (inj->size - 1)));
        break;
    case MON_A_TIMEOUT: {
        static const int32_t timeouts_ms[] = { 6000, 10000, 15000, 30000 };

        if (!series_free(st, err))
            return;
        s->ep = new_episode(t, slot, 100 * timeouts_ms[rng_below(&s->r, 4)], &s->r);
        s->ep.left = (uint8_t)mon_split_latency(inj->size);
        add_claim(s, err, new_episode(t, slot, (int32_t)rng_range(&s->r, 1500, 6000), &s->r));
        s->claim[0].ep.left = (uint8_t)(inj->size - s->ep.left);
        break;
    }
    default:
        if (!series_free(st, err) || !plan_inject_cascade(st, s, h, slot, inj->size))
            return;
        break;
    }
    total = s->ep.left;
    for (int i = 0; i < s->n_claims; i++)
        total += s->claim[i].ep.left;
    memset(&s->new_inc, 0, sizeof s->new_inc);
    rng_uuid_text(inj->id, s->new_inc.id);
    s->new_inc.type = (uint8_t)(t + 1);
    s->new_inc.left = (uint8_t)total;
    s->new_inc.flags = (uint8_t)(inj->scheduled ? 0u : MON_INC_INJECTED); /* a scheduled one counts */
    s->started = true;
}

/* No incident starts on the free sampled series: perhaps a look-alike. */
static void near_start(const struct mon_state *st, struct step *s, int series, int64_t t_us,
                       int m, int32_t normal)
{
    int err = MON_SERIES(MON_M_ERROR, MON_SERIES_HOST(series));

    if (!mon_near_begin(series, timefmt_ms_of_us(t_us), series_free(st, err), &s->r, &s->near,
                        &s->near_err))
        return;
    s->near_err_series = err;
    near_step(s, m, normal);
}

/* ---- writing back ---- */

static void step_commit(struct mon_state *st, const struct step *s, int series, int64_t t_us,
                        struct rng *r)
{
    *r = s->r;
    st->sched = s->sched;
    memcpy(st->reserved, s->reserved, sizeof st->reserved);
    st->coef_dt_us = s->coef_dt_us;
    st->f_hour = s->f_hour;
    st->f_val = s->f_val;
    st->load = s->load;
    st->load_keep = s->load_keep;
    memcpy(st->phi, s->phi, sizeof st->phi);
    st->last_us = t_us;
    st->noise[series] = s->z;
    st->ep[series] = s->ep;
    st->near[series] = s->near;
    if (s->near_err.kind)
        st->near[s->near_err_series] = s->near_err;
    if (s->started) {
        st->inc[s->slot] = s->new_inc;
        for (int i = 0; i < s->n_claims; i++)
            st->ep[s->claim[i].series] = s->claim[i].ep;
    }
    if (s->slot >= 0 && --st->inc[s->slot].left == 0)
        memset(&st->inc[s->slot], 0, sizeof st->inc[s->slot]);
    if (!s->out_of_turn)
        st->cursor = (uint32_t)((series + 1) % MON_N_SERIES);
    st->xinc[0] = (uint8_t)(s->xinc & 0xffu);
    st->xinc[1] = (uint8_t)(s->xinc >> 8);
}

/* ---- cross-service cascades (xincident.h) ----
 *
 * Monitoring's part of an infrastructure cascade: a cascade_failure from
 * the scheduled origin service (a host of it, when its response latency
 * is sampled free, with enough free dependents), started as an injection
 * is, at the first sample that fits from the schedule's start until the
 * end of its window, under the shared id; origin "generated", counted
 * toward anomaly_rate. Waiting, it is kept in the state as its hour. None
 * while the rate or cascade_failure's weight is 0. */

static uint16_t xinc_tag(int64_t slot)
{
    return (uint16_t)((slot % 65535 + 65535) % 65535 + 1);
}

static int origin_service(const struct xinc *x)
{
    const char *name = xincident_origins[xincident_cascade_origin(x)];

    for (int i = 0; i < MON_N_SERVICES; i++)
        if (strcmp(mon_services[i].name, name) == 0)
            return i;
    return -1;
}

/* The cascade waiting to start at t_us, if any (*out), and the tag to
 * keep after this sample (if it does not start). */
static uint16_t xinc_waiting(const struct mon_model *m, const struct mon_state *st,
                             const struct gen_params *p, int64_t t_us, struct xinc *out,
                             bool *due)
{
    uint16_t tag = (uint16_t)(st->xinc[0] | st->xinc[1] << 8);
    int64_t k = xincident_slot_of(timefmt_ms_of_us(t_us));

    *due = false;
    if (!(p->anomaly_rate > 0.0) || !(p->weights[MON_A_CASCADE] > 0.0))
        return 0;
    if (xincident_due(m->seed, XINC_CASCADE, xincident_start_ms, st->last_us, t_us, out)) {
        tag = xinc_tag(out->slot);
    } else if (tag) {
        if (!(xinc_tag(k) == tag && xincident_of_slot(m->seed, k, out)) &&
            !(xinc_tag(k - 1) == tag && xincident_of_slot(m->seed, k - 1, out)))
            return 0;
    } else {
        return 0;
    }
    if (out->kind != XINC_CASCADE || timefmt_ms_of_us(t_us) >= xincident_cascade_end_ms(out) ||
        origin_service(out) < 0 || !mon_model_owns_origin(m, origin_service(out)))
        return 0;
    *due = true;
    return tag;
}

/* A shard samples its own hosts' series only, in the same cycle: the
 * first from `series` on, -1 if it has none. */
static int owned_series(const struct mon_model *m, int series)
{
    for (int k = 0; k < MON_N_SERIES; k++, series = (series + 1) % MON_N_SERIES)
        if (shard_owns(&m->shard, (uint64_t)MON_SERIES_HOST(series)))
            return series;
    return -1;
}

enum bm_rc mon_generate(const struct mon_model *m, struct mon_state *st,
                        const struct gen_params *p, struct rng *r, int64_t t_us, uint64_t seq,
                        struct gen_event *ev)
{
    struct step s;
    struct mon_sample smp;
    char event_id[RNG_UUID_LEN + 1];
    int series = (int)st->cursor, metric = MON_SERIES_METRIC(series);
    int32_t normal;
    enum bm_rc rc;
    struct xinc xc;
    bool injected = false, taken = false, xdue = false, out_of_turn = false;

    if (st->version != MON_STATE_VERSION || st->cursor >= MON_N_SERIES || !sched_ok(st) ||
        !episode_ok(st, &st->ep[series]))
        return BM_ESTATE;
    series = owned_series(m, series);
    if (series < 0 || !episode_ok(st, &st->ep[series]))
        return BM_ESTATE; /* an empty slice (genloop refuses one) or a bad state */
    if (p->inject) {
        int due = inject_series(m, st, p->inject, r, series);

        out_of_turn = due >= 0 && due != series;
        if (out_of_turn)
            series = due;
    }
    metric = MON_SERIES_METRIC(series);
    memset(&s, 0, sizeof s);
    s.out_of_turn = out_of_turn;
    s.shard = m->shard;
    s.r = *r;
    s.sched = st->sched;
    memcpy(s.reserved, st->reserved, sizeof s.reserved);
    s.anomaly = -1;
    s.slot = -1;
    advance_traffic(st, p, &s, t_us);
    s.z = s.phi[metric] * st->noise[series] +
          sqrt(1.0 - s.phi[metric] * s.phi[metric]) * rng_normal(&s.r);
    normal = mon_normal_value(m, series, (double)t_us / US_PER_DAY, s.load, s.z,
                              st->noise[MON_SERIES(MON_M_CPU, MON_SERIES_HOST(series))],
                              rng_normal(&s.r));
    schedule(st, &s, p);
    rng_uuid4(&s.r, event_id);
    s.xinc = xinc_waiting(m, st, p, t_us, &xc, &xdue);

    s.ep = st->ep[series];
    s.near = st->near[series];
    if (s.ep.type) {
        labelled_step(&s, metric, normal);
    } else if (s.ep.recover) {
        recovery_step(&s, metric, normal);
    } else if (s.near.kind) {
        near_step(&s, metric, normal);
    } else {
        s.value = normal;
        if (xdue && !out_of_turn) {
            struct gen_inject xi = { .type = MON_A_CASCADE,
                                     .target = MON_TARGET_SERVICE + origin_service(&xc),
                                     .size = mon_inject_sizes[MON_A_CASCADE].usual,
                                     .scheduled = true };

            memcpy(xi.id, xc.raw, sizeof xi.id);
            try_inject(st, &s, series, &xi);
            if (s.started)
                s.xinc = 0;
        }
        if (p->inject && !s.started) {
            try_inject(st, &s, series, p->inject);
            taken = s.started;
        }
        if (!s.started)
            try_start(st, &s, series);
        if (s.started) {
            s.slot = s.ep.inc;
            labelled_step(&s, metric, normal);
        } else {
            near_start(st, &s, series, t_us, metric, normal);
        }
    }

    if (s.slot >= 0)
        injected = ((s.started ? s.new_inc.flags : st->inc[s.slot].flags) & MON_INC_INJECTED) != 0;
    if (s.anomaly >= 0 && !injected) /* an injection is no part of anomaly_rate */
        anom_emitted(&s.sched, s.anomaly);

    memset(&smp, 0, sizeof smp);
    smp.event_id = event_id;
    smp.ts_ms = timefmt_ms_of_us(t_us);
    smp.seq = seq;
    smp.series = series;
    smp.value = s.value;
    smp.severity = mon_severity_of(metric, s.value);
    smp.anomaly = s.anomaly;
    smp.incident_id = s.slot < 0 ? NULL : s.started ? s.new_inc.id : st->inc[s.slot].id;
    smp.injected = injected;
    rc = mon_sample_encode(&smp, ev->json);
    if (rc != BM_OK) /* as if this call never happened */
        return rc;

    st->out.series = series;
    st->out.value = s.value;
    st->out.severity = smp.severity;
    st->out.anomaly = s.anomaly;
    st->out.near = s.near_kind;
    st->out.zero = 0;
    st->out.incident = smp.incident_id ? mon_incident_key(smp.incident_id) : 0;
    if (smp.incident_id) /* the incidents table (db.h): before the slot may be freed */
        memcpy(ev->incident_id, smp.incident_id, sizeof ev->incident_id);
    step_commit(st, &s, series, t_us, r);
    ev->incident_open = s.slot >= 0 && st->inc[s.slot].type != 0;
    ev->ts_ms = smp.ts_ms;
    ev->seq = seq;
    ev->anomaly_type = s.anomaly >= 0 ? mon_anomaly_names[s.anomaly] : NULL;
    ev->detail = &st->out;
    ev->injected = injected;
    ev->inject_taken = taken;
    return BM_OK;
}

/* ------------------------------------------------------------------ */
/* The generator's hooks (gen.h)                                        */

static void *hook_model_new(uint64_t seed, const struct bm_config *c)
{
    struct mon_model *m = mon_model_new(seed);

    if (m && shard_split(&c->shard))
        mon_model_slice(m, &c->shard);
    return m;
}

static double hook_rate_share(const void *m)
{
    return mon_model_share(m);
}

static bool hook_owns_target(const void *m, int64_t target)
{
    return mon_model_owns(m, target);
}

static void hook_model_free(void *m)
{
    mon_model_free(m);
}

static void hook_state_init(void *st, struct rng *r)
{
    mon_state_init(st, r);
}

static bool hook_state_valid(const void *st)
{
    return mon_state_valid(st);
}

static enum bm_rc hook_generate(const void *model, void *state, const struct gen_params *p,
                                struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    return mon_generate(model, state, p, r, t_us, seq, ev);
}

const struct service_gen mon_gen_hooks = {
    .state_size = sizeof(struct mon_state),
    .constant_rate = true,
    .model_new = hook_model_new,
    .model_free = hook_model_free,
    .state_init = hook_state_init,
    .state_valid = hook_state_valid,
    .generate = hook_generate,
    .rate_share = hook_rate_share,
    .owns_target = hook_owns_target,
};
