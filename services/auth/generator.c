/* generator.c - the auth service's pure next-event function: normal logins
 * from the population's habits and whereabouts, and the three attack
 * patterns, paced by the deficit scheduler of anomaly.h. Everything that
 * varies comes from the rng, the state and t_us, so a replay is exact.
 *
 * Ground truth follows from the data alone (SPEC §5):
 * - normal logins never put a user >= 500 km from their previous normal
 *   login faster than 1,000 km/h: a user's whereabouts are a function of
 *   (seed, user, day) with no logins while in flight, and flights are
 *   slower than that (auth_where);
 * - normal failures are at most one per user per 40 s, so never ten for
 *   one username within 5 minutes (fail_bits);
 * - unusual_location follows one of the user's recent normal logins from
 *   a city far enough away that the speed is impossible (location_target),
 *   and as an anomaly it is nobody's baseline;
 * - brute force: 10-30 failures on one username from one address, seconds
 *   apart, all within 4 minutes; stuffing: 20-60 distinct usernames from
 *   one address, at most one success and then only in 21 or more. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "auth_internal.h"
#include "config.h"
#include "incident.h"
#include "timefmt.h"
#include "xincident.h"

#define US_PER_S       1000000LL
#define DAY_MS         86400000LL
#define HOUR_MS        3600000LL
#define PERIOD_DAYS    10        /* at most one trip per period */
#define FAIL_BUCKET_US (40 * US_PER_S)
#define SEEN_BUCKET_US (10 * US_PER_S)
#define TARGET_MIN_US  (20 * US_PER_S)      /* an attack follows a login by */
#define TARGET_MAX_US  (600 * US_PER_S)     /* 20 s to 10 min when it can */
#define TARGET_OLDEST_US (12 * 3600 * US_PER_S)
#define CITY_SPREAD_KM 70.0 /* two logins "in" a city lie this close */
#define OVERDUE_US     US_PER_S
#define NO_SUCCESS     0xffu

void auth_state_init(struct auth_state *st, struct rng *r)
{
    memset(st, 0, sizeof *st); /* padding too: the state is stored as bytes */
    st->version = AUTH_STATE_VERSION;
    st->fail_bucket = INT64_MIN;
    anom_init(&st->sched, r, AUTH_A_COUNT);
}

bool auth_state_valid(const struct auth_state *st)
{
    uint64_t pending = 0;

    for (int t = 0; t < AUTH_A_COUNT; t++)
        pending += st->pending[t];
    return st->version == AUTH_STATE_VERSION && st->n_active <= AUTH_MAX_ACTIVE &&
           st->seen_next < AUTH_SEEN && pending <= AUTH_MAX_ACTIVE * AUTH_MAX_INCIDENT &&
           st->typo_left <= 5 && st->typo_zero == 0 &&
           anom_valid(&st->sched, AUTH_A_COUNT);
}

/* ---- whereabouts ---- */

struct trip {
    int dest;
    int64_t dep, fly, ret; /* ms: leaves home, flight time, leaves for home */
};

static int travel_dest(const struct auth_model *m, int home, uint64_t h)
{
    int d;

    if (m->n_domestic[home] > 0 && h % 100 < 75)
        return m->domestic[home][(h >> 8) % m->n_domestic[home]];
    d = m->travel[(h >> 8) % m->n_travel];
    return d == home ? m->travel[((h >> 8) + 1) % m->n_travel] : d;
}

/* The trip of user u in travel period k, if any. A trip stays inside its
 * period with a day at home either side, so trips never overlap, and the
 * flight takes long enough that the speed from the last login at one end
 * to the first at the other stays under 700 km/h. */
static bool trip_in_period(const struct auth_model *m, uint32_t u, int64_t k, struct trip *tr)
{
    const struct auth_user *us = &m->users[u];
    uint64_t h = rng_hash(m->salt, u, ((uint64_t)k << 4) | 1u), h2;
    int64_t nights, min_nights, first, start_day;
    double fly_h;

    if (h % 1000 >= us->trip_pm)
        return false;
    h2 = rng_hash(m->salt, u, ((uint64_t)k << 4) | 2u);
    tr->dest = travel_dest(m, us->city, h2);
    fly_h = ((double)m->dist[us->city][tr->dest] + 100.0) / 700.0 + 1.0;
    fly_h = fly_h < 1.5 ? 1.5 : fly_h;
    /* Leaving at 6-20 h, back at 8-21 h: at least 6 h at the destination. */
    nights = 1 + (int64_t)((h2 >> 20) % 4);
    min_nights = (int64_t)ceil((fly_h + 18.0) / 24.0);
    nights = nights < min_nights ? min_nights : nights;
    first = 1 + (int64_t)((h2 >> 28) % (uint64_t)(PERIOD_DAYS - nights - 2));
    start_day = k * PERIOD_DAYS - us->phase;
    tr->fly = (int64_t)(fly_h * (double)HOUR_MS);
    tr->dep = (start_day + first) * DAY_MS + (6 + (int64_t)((h2 >> 36) % 15)) * HOUR_MS;
    tr->ret = (start_day + first + nights) * DAY_MS + (8 + (int64_t)((h2 >> 44) % 14)) * HOUR_MS;
    return true;
}

void auth_where(const struct auth_model *m, uint32_t u, int64_t t_ms, struct auth_where *w)
{
    const struct auth_user *us = &m->users[u];
    struct trip tr;
    int64_t k;

    w->city = us->city;
    w->home = true;
    if (!us->trip_pm)
        return;
    k = timefmt_floor_div(timefmt_floor_div(t_ms, DAY_MS) + us->phase, PERIOD_DAYS);
    if (!trip_in_period(m, u, k, &tr) || t_ms < tr.dep || t_ms >= tr.ret + tr.fly)
        return;
    w->home = false;
    w->city = t_ms < tr.dep + tr.fly || t_ms >= tr.ret ? -1 : tr.dest;
}

/* ---- who ---- */

static uint32_t draw_user(const struct auth_model *m, struct rng *r)
{
    uint32_t i = (uint32_t)rng_below(r, m->n_users);

    return (uint32_t)(rng_next(r) >> 32) < m->prob[i] ? i : m->alias[i];
}

static bool in_hours(const struct auth_user *us, int city, int64_t t_ms)
{
    int h = timefmt_local_hour(t_ms, auth_cities[city].utc_offset_min);

    return h >= us->hour_lo && h < us->hour_hi;
}

/* Someone on the ground, mostly within their usual hours. A user in
 * flight cannot log in; a third of the users never travel, so the last
 * resort scan ends. */
static uint32_t pick_user(const struct auth_model *m, struct rng *r, int64_t t_ms,
                          struct auth_where *w)
{
    uint32_t u = 0, spare = UINT32_MAX;
    struct auth_where spare_w = { 0, true };

    for (int i = 0; i < 4; i++) {
        u = draw_user(m, r);
        auth_where(m, u, t_ms, w);
        if (w->city < 0)
            continue;
        if (in_hours(&m->users[u], w->city, t_ms) || rng_chance(r, 0.1))
            return u;
        if (spare == UINT32_MAX) {
            spare = u;
            spare_w = *w;
        }
    }
    if (spare != UINT32_MAX) {
        *w = spare_w;
        return spare;
    }
    for (uint32_t k = 1; k < m->n_slice; k++) { /* the slice's users after u */
        uint32_t v = shard_member(&m->shard, (u / m->shard.count + k) % m->n_slice);

        auth_where(m, v, t_ms, w);
        if (w->city >= 0)
            return v;
    }
    return u; /* unreachable: users with trip_pm 0 are always home */
}

/* ---- places, addresses, devices ---- */

static uint32_t host_bits(uint64_t h)
{
    return (uint32_t)(h & 0xff00u) | (uint32_t)((h >> 16) % 254u + 1u);
}

static void set_ip(struct auth_rec *e, struct auth_features *f, uint32_t ip)
{
    auth_ip_fmt(ip, e->ip);
    f->datacenter = auth_is_datacenter(ip);
}

static void new_device(uint64_t h1, uint64_t h2, int type, struct auth_rec *e)
{
    static const uint8_t os_of[AUTH_D_COUNT][3] = { { 0, 1, 2 }, { 6, 8, 9 }, { 11, 12, 13 } };

    e->has_device = true;
    auth_fp_fmt(h1, h2, e->fingerprint);
    e->device_type = type;
    memcpy(e->os, auth_os_table[os_of[type][h2 % 3]].name,
           strlen(auth_os_table[os_of[type][h2 % 3]].name) + 1);
}

static void set_features(const struct auth_model *m, uint32_t u, int city, double lat,
                         double lon, int64_t t_ms, struct auth_features *f)
{
    const struct auth_user *us = &m->users[u];

    f->foreign = strcmp(auth_cities[city].country, auth_cities[us->city].country) != 0;
    f->km_from_home = auth_distance_km(us->home_lat, us->home_lon, lat, lon);
    f->local_hour = timefmt_local_hour(t_ms, auth_cities[city].utc_offset_min);
}

/* ---- normal traffic ---- */

/* Where a normal login comes from; *kind: 0 home, 1 office, -1 an
 * address that changes with every login (cellular, hotel wifi). */
static uint32_t normal_ip(const struct auth_model *m, uint32_t u, const struct auth_where *w,
                          bool mobile, int64_t t_ms, struct rng *r, int *kind)
{
    const struct auth_user *us = &m->users[u];
    int h;

    *kind = -1;
    if (mobile && rng_chance(r, 0.45)) /* cellular, roaming or not */
        return us->carrier | host_bits(rng_next(r));
    if (!w->home) /* hotel or cafe wifi where they are */
        return auth_region_block(auth_cities[w->city].region,
                                 rng_hash(m->salt, (uint64_t)w->city, rng_below(r, 8))) |
               host_bits(rng_next(r));
    h = timefmt_local_hour(t_ms, auth_cities[w->city].utc_offset_min);
    if (us->work_ip && h >= 9 && h < 18 && rng_chance(r, 0.6)) {
        *kind = 1;
        return us->work_ip;
    }
    *kind = 0;
    return us->home_ip;
}

static int normal_reason(int method, struct rng *r)
{
    double v = rng_double(r);

    if (method == AUTH_M_BIOMETRIC && v < 0.6)
        return AUTH_R_BIOMETRIC_FAILED;
    if (method == AUTH_M_MFA && v < 0.3)
        return AUTH_R_MFA_FAILED;
    v = rng_double(r);
    return v < 0.75 ? AUTH_R_INVALID_PASSWORD : v < 0.95 ? AUTH_R_EXPIRED_PASSWORD
                                                         : AUTH_R_ACCOUNT_LOCKED;
}

/* A normal failure of user u from a stable address (kind 0 or 1) in the
 * 40-second bucket of t_us already. */
static bool failed_recently(const struct auth_state *st, uint32_t u, int kind, int64_t t_us)
{
    return kind >= 0 && timefmt_floor_div(t_us, FAIL_BUCKET_US) == st->fail_bucket &&
           (st->fail_bits[kind][u / 64] >> (u % 64) & 1u);
}

/* What one call changes beside the rng and the scheduler, applied only
 * once the event is out. */
struct side {
    int64_t fail_user; /* normal failure to remember, -1: none */
    int fail_kind;     /* from which stable address: 0 home, 1 office */
    int64_t seen_user; /* normal login to remember, -1: none */
    bool typo_set;     /* the handful below replaces the state's */
    int64_t typo_next_us;
    uint32_t typo_user, typo_ip, typo_left;
};

/* A normal login at t_us: of a user drawn by activity, or of `owner`
 * (>= 0, on the ground at t_us: xinc_owner) who logs in successfully. */
static void normal_event(const struct auth_model *m, const struct auth_state *st,
                         const struct gen_params *p, struct rng *r, int64_t t_us, int64_t owner,
                         struct auth_rec *e, struct auth_features *f, struct side *sd)
{
    int64_t t_ms = timefmt_ms_of_us(t_us);
    struct auth_where w;
    uint32_t u = owner >= 0 ? (uint32_t)owner : pick_user(m, r, t_ms, &w);
    const struct auth_user *us = &m->users[u];
    const struct auth_city *c;

    if (owner >= 0)
        auth_where(m, u, t_ms, &w);
    c = &auth_cities[w.city];
    double lat, lon;
    int kind;

    auth_rec_user(m, u, e);
    if (w.home)
        auth_near_point(rng_double(r), rng_double(r), us->home_lat, us->home_lon, 8.0, &lat,
                        &lon);
    else
        auth_near_point(rng_double(r), rng_double(r), c->lat, c->lon, 25.0, &lat, &lon);
    auth_rec_place(e, w.city, lat, lon);
    if (rng_chance(r, 0.03)) { /* a new phone or browser, kept for the day */
        uint64_t day = (uint64_t)timefmt_floor_div(t_ms, DAY_MS);

        new_device(rng_hash(m->salt, u, day << 8 | 1u), rng_hash(m->salt, u, day << 8 | 2u),
                   rng_chance(r, 0.6) ? AUTH_D_MOBILE : AUTH_D_DESKTOP, e);
        f->new_device = true;
    } else {
        auth_rec_user_device(m, u, us->ndev == 2 && rng_chance(r, 0.4) ? 1 : 0, e);
    }
    set_ip(e, f, normal_ip(m, u, &w, e->device_type != AUTH_D_DESKTOP, t_ms, r, &kind));
    if (e->device_type != AUTH_D_DESKTOP && rng_chance(r, 0.7))
        e->method = AUTH_M_BIOMETRIC;
    else
        e->method = us->mfa ? AUTH_M_MFA : AUTH_M_PASSWORD;
    e->reason = -1;
    if (owner < 0 && rng_chance(r, p->failed_login_rate) && !failed_recently(st, u, kind, t_us)) {
        e->failure = true;
        e->reason = normal_reason(e->method, r);
        if (kind >= 0) {
            sd->fail_user = u;
            sd->fail_kind = kind;
        }
    }
    set_features(m, u, w.city, lat, lon, t_ms, f);
    f->failure = e->failure;
    sd->seen_user = u;
}

/* ---- the near miss of brute force: a handful of typos ----
 *
 * Now and then a user mistypes a password three to six times, seconds
 * apart, from a phone on a cellular address of their carrier drawn for
 * the handful (so no other normal failure of theirs shares it), then gets
 * in. One handful at a time (the state's typo_*); a step falls due at
 * the first arrival after its time, and is dropped should the user be in
 * the air by then. */
#define TYPO_START_P   0.0003
#define TYPO_GAP_MIN_S 3
#define TYPO_GAP_MAX_S 20

/* The handful's next step at t_us, if one is due: a normal login of its
 * user from its address, failed while failures are left. */
static bool typo_step(const struct auth_model *m, const struct auth_state *st,
                      const struct gen_params *p, struct rng *r, int64_t t_us, struct auth_rec *e,
                      struct auth_features *f, struct side *sd)
{
    struct auth_where w;

    if (!st->typo_next_us || t_us < st->typo_next_us || st->typo_user >= m->n_users)
        return false;
    sd->typo_set = true; /* done with it unless a failure is left */
    sd->typo_next_us = 0;
    sd->typo_user = sd->typo_ip = sd->typo_left = 0;
    auth_where(m, st->typo_user, timefmt_ms_of_us(t_us), &w);
    if (w.city < 0)
        return false;
    normal_event(m, st, p, r, t_us, st->typo_user, e, f, sd);
    set_ip(e, f, st->typo_ip);
    if (st->typo_left > 0) {
        e->failure = f->failure = true;
        e->reason = AUTH_R_INVALID_PASSWORD;
        sd->typo_next_us = t_us + rng_range(r, TYPO_GAP_MIN_S, TYPO_GAP_MAX_S) * US_PER_S;
        sd->typo_user = st->typo_user;
        sd->typo_ip = st->typo_ip;
        sd->typo_left = st->typo_left - 1;
    }
    return true;
}

/* Turns the normal login just drawn into the first failure of a new
 * handful, now and then, when none is under way. */
static void typo_start(const struct auth_model *m, const struct auth_state *st, struct rng *r,
                       int64_t t_us, struct auth_rec *e, struct auth_features *f,
                       struct side *sd)
{
    uint32_t u;

    if (st->typo_next_us || sd->typo_set || sd->seen_user < 0 || !rng_chance(r, TYPO_START_P))
        return;
    u = (uint32_t)sd->seen_user;
    sd->typo_ip = m->users[u].carrier | host_bits(rng_next(r));
    set_ip(e, f, sd->typo_ip);
    e->failure = f->failure = true;
    e->reason = AUTH_R_INVALID_PASSWORD;
    sd->typo_set = true;
    sd->typo_next_us = t_us + rng_range(r, TYPO_GAP_MIN_S, TYPO_GAP_MAX_S) * US_PER_S;
    sd->typo_user = u;
    sd->typo_left = (uint32_t)rng_range(r, 2, 5); /* 3-6 failures in all */
}

/* ---- attackers ---- */

static uint64_t incident_hash(const struct auth_incident *in, uint64_t k)
{
    uint64_t a = 0, b = 0;

    for (int i = 0; i < 8; i++) {
        a = a << 8 | in->id[i];
        b = b << 8 | in->id[8 + i];
    }
    return rng_hash(a, b, k);
}

/* The attacker's address, place and machine: one per incident, from its
 * id. Mostly rented servers; some residential proxies. */
static void attacker(const struct auth_model *m, const struct auth_incident *in,
                     struct auth_rec *e, struct auth_features *f, int *city, double *lat,
                     double *lon)
{
    uint64_t h = incident_hash(in, 1), h2 = incident_hash(in, 2);
    const struct auth_city *c;
    uint32_t block;

    *city = m->attack[h % m->n_attack];
    c = &auth_cities[*city];
    block = (h >> 8) % 10 < 7 ? auth_datacenter_block(h >> 12)
                              : auth_region_block(c->region, h >> 12);
    set_ip(e, f, block | host_bits(h2));
    auth_near_point((double)(h2 >> 32 & 0xffff) / 65536.0, (double)(h2 >> 48) / 65536.0,
                    c->lat, c->lon, 20.0, lat, lon);
    new_device(incident_hash(in, 3), incident_hash(in, 4),
               (h2 >> 24) % 10 < 8 ? AUTH_D_DESKTOP : AUTH_D_MOBILE, e);
    f->new_device = true;
}

/* One guess at one account from one address. */
static void brute_force_event(const struct auth_model *m, const struct auth_incident *in,
                              int64_t t_ms, struct auth_rec *e, struct auth_features *f)
{
    int city;
    double lat, lon;

    auth_rec_user(m, in->user, e);
    attacker(m, in, e, f, &city, &lat, &lon);
    auth_rec_place(e, city, lat, lon);
    e->method = AUTH_M_PASSWORD;
    e->failure = in->done != in->success_at;
    e->reason = e->failure ? AUTH_R_INVALID_PASSWORD : -1;
    set_features(m, in->user, city, lat, lon, t_ms, f);
    f->failure = e->failure;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/* A stride that visits every residue of n once: distinct entries. */
static uint64_t coprime_stride(uint64_t h, uint64_t n)
{
    uint64_t s = (h % n) | 1u;

    while (gcd_u64(s, n) != 1)
        s += 2;
    return s;
}

/* Which steps of a stuffing list name real users (about a quarter). */
static uint64_t real_mask(const struct auth_incident *in)
{
    return incident_hash(in, 5) & incident_hash(in, 6);
}

/* Step j of a credential-stuffing list: a leaked username tried with a
 * leaked password. Real users are walked with one stride and names the
 * bank does not know with another, so no username comes twice. */
static void stuffing_event(const struct auth_model *m, const struct auth_incident *in,
                           int64_t t_ms, struct auth_rec *e, struct auth_features *f)
{
    uint64_t mask = real_mask(in), below = in->done ? mask & ((1ull << in->done) - 1) : 0;
    uint64_t k = (uint64_t)__builtin_popcountll(below);
    int city;
    double lat, lon;

    attacker(m, in, e, f, &city, &lat, &lon);
    auth_rec_place(e, city, lat, lon);
    e->method = AUTH_M_PASSWORD;
    e->failure = in->done != in->success_at;
    if (mask >> in->done & 1u) {
        uint64_t h = incident_hash(in, 7);
        uint32_t u = shard_member(
            &m->shard, (uint32_t)((h + k * coprime_stride(h >> 20, m->n_slice)) % m->n_slice));

        auth_rec_user(m, u, e);
        e->reason = e->failure ? AUTH_R_INVALID_PASSWORD : -1;
        set_features(m, u, city, lat, lon, t_ms, f);
    } else {
        uint64_t h = incident_hash(in, 8), n = auth_unknown_space();

        auth_unknown_username((h + (in->done - k) * coprime_stride(h >> 20, n)) % n, e->username,
                              sizeof e->username);
        e->reason = AUTH_R_UNKNOWN_USER;
        e->failure = true;
        f->unknown_user = true;
        f->foreign = strcmp(auth_cities[city].country, "US") != 0;
        f->local_hour = timefmt_local_hour(t_ms, auth_cities[city].utc_offset_min);
    }
    f->failure = e->failure;
}

/* ---- unusual location ---- */

struct target {
    uint32_t user;
    int city;        /* where the user is: their last normal logins were here */
    int attack_city; /* where the attacker is */
};

/* A city at least min_km from `from`, preferring attackers' cities. */
static int far_city(const struct auth_model *m, int from, double min_km, struct rng *r)
{
    int best = -1;

    for (int i = 0; i < 8; i++) {
        int c = m->attack[rng_below(r, m->n_attack)];

        if ((double)m->dist[from][c] >= min_km && (double)m->dist[from][c] >= 1500.0)
            return c;
    }
    for (int c = 0; c < AUTH_N_CITIES; c++)
        if (best < 0 || m->dist[from][c] > m->dist[from][best])
            best = c;
    return (double)m->dist[from][best] >= min_km ? best : -1;
}

/* Whether the ring entry can be followed by an attack now: the user is
 * in the same city as at that login and has not flown since (same stay:
 * stays in one city are more than 12 h apart), and some city is far
 * enough that even from anywhere in the user's city the speed is over
 * the limit with a quarter to spare. */
static bool try_target(const struct auth_model *m, const struct auth_seen *s, int64_t t_us,
                       struct rng *r, struct target *tg)
{
    int64_t age = t_us - s->t_us;
    struct auth_where then, now;
    double min_km;

    if (s->t_us == 0 || s->user >= m->n_users || age < 0 || age > TARGET_OLDEST_US)
        return false;
    auth_where(m, s->user, timefmt_ms_of_us(s->t_us), &then);
    auth_where(m, s->user, timefmt_ms_of_us(t_us), &now);
    if (then.city < 0 || then.city != now.city)
        return false;
    min_km = 1.25 * AUTH_TRAVEL_MAX_KMH * (double)age / 3600e6;
    min_km = (min_km > AUTH_TRAVEL_MIN_KM ? min_km : AUTH_TRAVEL_MIN_KM) + CITY_SPREAD_KM;
    tg->attack_city = far_city(m, now.city, min_km, r);
    if (tg->attack_city < 0)
        return false;
    tg->user = s->user;
    tg->city = now.city;
    return true;
}

/* A recent normal login to follow: one 20 s - 10 min old if there is
 * one, else the newest that works. */
static bool location_target(const struct auth_model *m, const struct auth_state *st,
                            struct rng *r, int64_t t_us, struct target *tg)
{
    uint32_t start = (uint32_t)rng_below(r, AUTH_SEEN);

    for (uint32_t i = 0; i < AUTH_SEEN; i++) {
        const struct auth_seen *s = &st->seen[(start + i) % AUTH_SEEN];
        int64_t age = t_us - s->t_us;

        if (age >= TARGET_MIN_US && age <= TARGET_MAX_US && try_target(m, s, t_us, r, tg))
            return true;
    }
    for (uint32_t i = 1; i <= AUTH_SEEN; i++)
        if (try_target(m, &st->seen[(st->seen_next + AUTH_SEEN - i) % AUTH_SEEN], t_us, r, tg))
            return true;
    return false;
}

/* The account is used from the other side of the world minutes after its
 * owner logged in at home: stolen credentials, a session replayed. */
static void location_event(const struct auth_model *m, const struct target *tg, struct rng *r,
                           int64_t t_ms, struct auth_rec *e, struct auth_features *f)
{
    const struct auth_city *c = &auth_cities[tg->attack_city];
    double lat, lon;

    auth_rec_user(m, tg->user, e);
    auth_near_point(rng_double(r), rng_double(r), c->lat, c->lon, 20.0, &lat, &lon);
    auth_rec_place(e, tg->attack_city, lat, lon);
    set_ip(e, f,
           (rng_chance(r, 0.7) ? auth_region_block(c->region, rng_next(r))
                               : auth_datacenter_block(rng_next(r))) |
               host_bits(rng_next(r)));
    if (rng_chance(r, 0.25)) { /* a copied device fingerprint */
        auth_rec_user_device(m, tg->user, 0, e);
    } else {
        new_device(rng_next(r), rng_next(r), rng_chance(r, 0.6) ? AUTH_D_DESKTOP : AUTH_D_MOBILE,
                   e);
        f->new_device = true;
    }
    e->method = rng_chance(r, 0.7) ? AUTH_M_PASSWORD : AUTH_M_MFA;
    e->failure = rng_chance(r, 0.15);
    e->reason = !e->failure ? -1 : e->method == AUTH_M_MFA ? AUTH_R_MFA_FAILED
                                                            : AUTH_R_INVALID_PASSWORD;
    set_features(m, tg->user, tg->attack_city, lat, lon, t_ms, f);
    f->failure = e->failure;
}

/* ---- incident pacing ----
 *
 * Left alone, brute-force guesses come 1-7 s apart and stuffing attempts
 * 1-5 s apart. An incident holds a slot of st->active for its whole life;
 * by Little's law the number in flight is starts/s x duration, which at
 * 5,000 events/s and rate 0.5 would be thousands. So, as in the
 * transaction service, new incidents get their gaps squeezed (incident.h:
 * load and room), and here also by span: an incident lasts at most
 * SPAN_EVENTS arrivals (200 s at 100 events/s, where nothing is squeezed;
 * 4 s at 5,000), so any window of 100,000 events holds many incidents'
 * whole lives and the types' shares of it follow the weights.
 *
 * Squeezing only shortens gaps, so a brute force stays within 4 minutes.
 * An incident keeps the squeeze it started with. */
#define SPAN_EVENTS 20000.0
#define BRUTE_MIN   10
#define BRUTE_MAX   30
#define STUFF_MIN   20
#define STUFF_MAX   60

_Static_assert(BRUTE_MAX + 1 <= AUTH_MAX_INCIDENT && STUFF_MAX <= AUTH_MAX_INCIDENT,
               "incidents larger than the scheduler's bound");
_Static_assert(STUFF_MAX <= 64, "the stuffing mask has 64 bits");
_Static_assert(BRUTE_MIN >= AUTH_BRUTE_MIN_FAILURES, "a brute force must show the rule");
_Static_assert(BRUTE_MAX * 7 < 300, "a brute force must fit in 5 minutes");

static void gap_range(int type, int64_t *lo, int64_t *hi)
{
    *lo = US_PER_S;
    *hi = (type == AUTH_A_BRUTE_FORCE ? 7 : 5) * US_PER_S;
}

static double mean_size(int type)
{
    return type == AUTH_A_BRUTE_FORCE ? (BRUTE_MIN + BRUTE_MAX) / 2.0 + 0.3
                                      : (STUFF_MIN + STUFF_MAX) / 2.0;
}

/* Incidents in flight at full-length gaps: starts/s of each type (its
 * share of the anomalous events over its mean size) times its duration. */
static double full_length_load(const struct anom_sched *s, double rate, double mean_dt_us)
{
    double per_s = 0.0;

    if (!(mean_dt_us > 0.0) || !(rate > 0.0))
        return 0.0;
    for (int t = AUTH_A_BRUTE_FORCE; t <= AUTH_A_STUFFING; t++) {
        int64_t lo, hi;

        gap_range(t, &lo, &hi);
        per_s += s->weights[t] * (mean_size(t) - 1.0) / mean_size(t) *
                 ((double)(lo + hi) / 2.0 / 1e6);
    }
    return rate * 1e6 / mean_dt_us * per_s;
}

/* Squeeze so an incident spans at most SPAN_EVENTS arrivals: at high
 * rates a full-length incident would outlast whole windows of events,
 * and the types' shares would wander within them. */
static double span_squeeze(const struct auth_incident *in, double mean_dt_us)
{
    int64_t lo, hi;
    double full;

    if (!(mean_dt_us > 0.0))
        return 0.0;
    gap_range(in->type, &lo, &hi);
    full = (double)(in->size - 1) * (double)(lo + hi) / 2.0;
    return full > SPAN_EVENTS * mean_dt_us ? 8.0 * log2(full / (SPAN_EVENTS * mean_dt_us))
                                           : 0.0;
}

static int64_t gap_us(const struct auth_incident *in, struct rng *r)
{
    int64_t lo, hi;

    gap_range(in->type, &lo, &hi);
    return inc_gap_us(r, lo, hi, in->squeeze);
}

/* Emits the next event of incident in at ts_us and advances it. */
static void incident_step(const struct auth_model *m, struct auth_incident *in, struct rng *r,
                          int64_t ts_us, struct auth_rec *e, struct auth_features *f)
{
    int64_t t_ms = timefmt_ms_of_us(ts_us);

    if (in->type == AUTH_A_BRUTE_FORCE)
        brute_force_event(m, in, t_ms, e, f);
    else
        stuffing_event(m, in, t_ms, e, f);
    e->anomaly = in->type;
    e->injected = (in->flags & AUTH_INC_INJECTED) != 0;
    rng_uuid_text(in->id, e->incident_id);
    in->done++;
    if (in->done < in->size)
        in->next_us = ts_us + gap_us(in, r);
}

static void remember(struct auth_state *st, const struct side *sd)
{
    if (sd->typo_set) {
        st->typo_next_us = sd->typo_next_us;
        st->typo_user = sd->typo_user;
        st->typo_ip = sd->typo_ip;
        st->typo_left = sd->typo_left;
    }
    if (sd->fail_user >= 0) {
        uint32_t u = (uint32_t)sd->fail_user;
        int64_t b = timefmt_floor_div(st->last_ts_us, FAIL_BUCKET_US);

        if (b != st->fail_bucket) {
            memset(st->fail_bits, 0, sizeof st->fail_bits);
            st->fail_bucket = b;
        }
        st->fail_bits[sd->fail_kind][u / 64] |= 1ull << (u % 64);
    }
    if (sd->seen_user >= 0) {
        const struct auth_seen *newest = &st->seen[(st->seen_next + AUTH_SEEN - 1) % AUTH_SEEN];

        /* one a 10-s bucket: the ring reaches back ~10 minutes at any rate */
        if (newest->t_us == 0 || timefmt_floor_div(newest->t_us, SEEN_BUCKET_US) !=
                                     timefmt_floor_div(st->last_ts_us, SEEN_BUCKET_US)) {
            st->seen[st->seen_next].t_us = st->last_ts_us;
            st->seen[st->seen_next].user = (uint32_t)sd->seen_user;
            st->seen_next = (st->seen_next + 1) % AUTH_SEEN;
        }
    }
}

/* ---- the incident driver's hooks (incident.h) ---- */

/* One call's context for the hooks. */
struct auth_call {
    const struct auth_model *m;
    const struct auth_state *st;
    struct auth_rec *e;
    struct auth_features *f;
    struct target tg; /* an unusual_location's, between ready and emit */
};

/* The scheduler's pick as if the steps of the incidents in flight were
 * out already: a long incident just started must not look like a debt of
 * its type (it would start another). Each pending step will add its
 * weight to every type's debt and take one off its own. */
static int hook_pick(void *svc, struct inc_call *c)
{
    const struct auth_state *st = ((struct auth_call *)svc)->st;
    struct anom_sched proj = c->sched;
    double all = 0.0;

    for (int t = 0; t < AUTH_A_COUNT; t++)
        all += st->pending[t];
    for (int t = 0; t < AUTH_A_COUNT; t++)
        proj.owed[t] += proj.weights[t] * all - st->pending[t];
    return anom_pick(&proj, &c->r);
}

static bool hook_is_multi(int type)
{
    return type != AUTH_A_LOCATION;
}

/* An unusual_location needs a recent normal login to follow. */
static bool hook_single_ready(void *svc, struct inc_call *c, int type)
{
    struct auth_call *x = svc;

    (void)type;
    return location_target(x->m, x->st, &c->r, c->ts_us, &x->tg);
}

static void hook_single(void *svc, struct inc_call *c, int type)
{
    struct auth_call *x = svc;

    location_event(x->m, &x->tg, &c->r, timefmt_ms_of_us(c->ts_us), x->e, x->f);
    x->e->anomaly = type;
    c->anomaly = type;
}

/* The step of a stuffing list that gets in, if any: only a real user, and
 * only in a list long enough that one success stays under 5 %. */
static uint8_t stuffing_success(const struct auth_incident *in, struct rng *r)
{
    uint64_t mask = real_mask(in);
    uint32_t start;

    if (in->size < 21 || !rng_chance(r, 0.5))
        return NO_SUCCESS;
    start = (uint32_t)rng_below(r, in->size);
    for (uint32_t i = 0; i < in->size; i++) {
        uint32_t j = (start + i) % in->size;

        if (mask >> j & 1u)
            return (uint8_t)j;
    }
    return NO_SUCCESS;
}

static double hook_init(void *svc, struct inc_call *c, int type)
{
    const struct auth_model *m = ((struct auth_call *)svc)->m;
    struct auth_incident *in = c->in;

    in->type = (uint8_t)type;
    rng_uuid4_bytes(&c->r, in->id);
    if (type == AUTH_A_BRUTE_FORCE) {
        in->user = (uint16_t)shard_member(&m->shard, (uint32_t)rng_below(&c->r, m->n_slice));
        in->size = (uint8_t)rng_range(&c->r, BRUTE_MIN, BRUTE_MAX);
        in->success_at = NO_SUCCESS;
        if (rng_chance(&c->r, 0.3)) { /* the password was guessed */
            in->success_at = in->size;
            in->size++;
        }
    } else {
        in->size = (uint8_t)rng_range(&c->r, STUFF_MIN, STUFF_MAX);
        in->success_at = stuffing_success(in, &c->r);
    }
    return span_squeeze(in, c->mean_dt_us);
}

static void hook_set_squeeze(void *slot, uint8_t squeeze)
{
    ((struct auth_incident *)slot)->squeeze = squeeze;
}

/* Persisted bytes come back from disk: an incident is checked before it
 * is used to index the population. */
static bool hook_valid(const void *svc, const void *slot)
{
    const struct auth_model *m = ((const struct auth_call *)svc)->m;
    const struct auth_incident *in = slot;

    return (in->type == AUTH_A_BRUTE_FORCE || in->type == AUTH_A_STUFFING) &&
           in->user < m->n_users && in->size >= 2 && in->size <= AUTH_MAX_INCIDENT &&
           in->done >= 1 && in->done < in->size && (in->flags & ~AUTH_INC_INJECTED) == 0 &&
           (in->success_at == NO_SUCCESS || in->success_at < in->size);
}

/* A due step keeps its own schedule when arrivals are sparse (it would
 * otherwise wait for one, and a brute force would spread over hours);
 * otherwise, like everything else, it happens at the arrival. */
static int64_t hook_step_time(const void *svc, int64_t next_us, int64_t t_us)
{
    const struct auth_state *st = ((const struct auth_call *)svc)->st;

    if (t_us - next_us <= OVERDUE_US)
        return t_us;
    return next_us > st->last_ts_us ? next_us : st->last_ts_us;
}

static bool hook_step(void *svc, struct inc_call *c)
{
    struct auth_call *x = svc;
    struct auth_incident *in = c->in;

    incident_step(x->m, in, &c->r, c->ts_us, x->e, x->f);
    c->anomaly = in->type;
    return in->done < in->size;
}

static bool hook_injected(const void *slot)
{
    return (((const struct auth_incident *)slot)->flags & AUTH_INC_INJECTED) != 0;
}

/* As hook_init, with the injection's id, size and user: a brute force
 * that never gets in (exactly `size` failures); a stuffing list with its
 * usual chance of one success. */
static double hook_inject_init(void *svc, struct inc_call *c, const struct gen_inject *inj)
{
    const struct auth_model *m = ((struct auth_call *)svc)->m;
    struct auth_incident *in = c->in;

    in->type = (uint8_t)inj->type;
    in->flags = AUTH_INC_INJECTED;
    memcpy(in->id, inj->id, sizeof in->id);
    in->size = (uint8_t)inj->size;
    if (inj->type == AUTH_A_BRUTE_FORCE) {
        in->user = (uint16_t)(inj->target >= 0 && inj->target < (int64_t)m->n_users
                                  ? (uint32_t)inj->target
                                  : shard_member(&m->shard,
                                                 (uint32_t)rng_below(&c->r, m->n_slice)));
        in->success_at = NO_SUCCESS;
    } else {
        in->success_at = stuffing_success(in, &c->r);
    }
    return span_squeeze(in, c->mean_dt_us);
}

/* An unusual location follows a recent normal login, as a generated one
 * does; the event's own id is the incident's. */
static bool hook_inject_single(void *svc, struct inc_call *c, const struct gen_inject *inj)
{
    struct auth_call *x = svc;

    if (!location_target(x->m, x->st, &c->r, c->ts_us, &x->tg))
        return false;
    location_event(x->m, &x->tg, &c->r, timefmt_ms_of_us(c->ts_us), x->e, x->f);
    rng_uuid_text(inj->id, x->e->id);
    x->e->anomaly = inj->type;
    x->e->injected = true;
    c->anomaly = inj->type;
    return true;
}

/* Unlike the transaction service's, a due step never waits while the
 * count is ahead, and a full table does not step an incident early: a
 * start then simply waits for a later tick. Pending steps shape the pick
 * (hook_pick), and a step overdue at a sparse arrival keeps its own time
 * (hook_step_time). */
static const struct inc_ops auth_incidents = {
    .slot_size = sizeof(struct auth_incident),
    .max_active = AUTH_MAX_ACTIVE,
    .flags = 0,
    .pick = hook_pick,
    .is_multi = hook_is_multi,
    .single_ready = hook_single_ready,
    .single = hook_single,
    .init = hook_init,
    .load = full_length_load,
    .set_squeeze = hook_set_squeeze,
    .valid = hook_valid,
    .step_time = hook_step_time,
    .step = hook_step,
    .injected = hook_injected,
    .inject_init = hook_inject_init,
    .inject_single = hook_inject_single,
};

static struct inc_state inc_view(struct auth_state *st)
{
    return (struct inc_state){
        .sched = &st->sched, .last_us = &st->last_us, .mean_dt_us = &st->mean_dt_us,
        .dt_seen = &st->dt_seen, .slots = st->active, .n_active = &st->n_active,
    };
}

/* What the driver does not keep: the event's timestamp, the normal
 * login remembered, and the steps still to come per type (a push adds
 * the new incident's, a step of the top takes one off). */
static void commit(struct auth_state *st, const struct inc_state *view, const struct inc_call *c,
                   const struct auth_incident *in, const struct side *sd, int64_t t_us,
                   struct rng *r)
{
    st->last_ts_us = c->ts_us;
    remember(st, sd);
    /* an injected incident is no part of the pick's projection */
    if (c->op == INC_PUSH && !c->injected)
        st->pending[in->type] += (uint32_t)(in->size - in->done);
    else if (c->op != INC_NONE && !c->injected)
        st->pending[in->type] -= st->pending[in->type] ? 1u : 0u;
    inc_commit(&auth_incidents, view, c, t_us, r);
}

/* ---- cross-service incidents (xincident.h) ----
 *
 * An account takeover's auth part: its owner (user entity % users, the
 * bank's customer the transaction service's fraud follows) logs in
 * normally XINC_OWNER_* before the start, from where they are; at the
 * start the attacker logs in successfully from a city too far to reach
 * since (unusual_location's rule), under the incident's shared id. Both
 * need the owner on the ground (not flying) in one city at both times,
 * else this service has no part in it. None while the anomaly rate in
 * force or unusual_location's weight is 0 (a clean stream stays clean).
 * The attacker's login counts toward anomaly_rate like the scheduler's
 * own anomalies (it owes one fewer), so the labelled fraction holds. */

static uint32_t xinc_owner(const struct auth_model *m, const struct xinc *x)
{
    return (uint32_t)(x->entity % m->n_users);
}

/* Whether the owner can log in at t_ms and again, in the same city, at
 * the start: the takeover's login then follows theirs. */
static bool xinc_grounded(const struct auth_model *m, const struct xinc *x)
{
    struct auth_where a, b;
    uint32_t u = xinc_owner(m, x);

    auth_where(m, u, xincident_owner_ms(x), &a);
    auth_where(m, u, x->start_ms, &b);
    return a.city >= 0 && a.city == b.city;
}

/* 1: the owner's login is due, 2: the attacker's, 0: nothing. */
static int xinc_due(const struct auth_model *m, const struct auth_state *st, const double *w,
                    double rate, int64_t t_us, struct xinc *x)
{
    if (!(rate > 0.0) || !(w[AUTH_A_LOCATION] > 0.0))
        return 0;
    /* another shard's user: that shard plays both logins */
    if (xincident_due(m->seed, XINC_TAKEOVER, xincident_owner_ms, st->last_us, t_us, x))
        return shard_owns(&m->shard, xinc_owner(m, x)) && xinc_grounded(m, x) ? 1 : 0;
    if (xincident_due(m->seed, XINC_TAKEOVER, xincident_start_ms, st->last_us, t_us, x))
        return shard_owns(&m->shard, xinc_owner(m, x)) && xinc_grounded(m, x) ? 2 : 0;
    return 0;
}

/* The attacker's login: from a city at least as far from the owner's as
 * the time since the owner's login allows at 1.25 times the limit. */
static bool xinc_takeover(const struct auth_model *m, const struct xinc *x, struct rng *r,
                          int64_t t_us, struct auth_rec *e, struct auth_features *f)
{
    struct auth_seen owner = { .t_us = xincident_owner_ms(x) * 1000, .user = xinc_owner(m, x) };
    struct target tg;

    if (!try_target(m, &owner, t_us, r, &tg))
        return false;
    location_event(m, &tg, r, timefmt_ms_of_us(t_us), e, f);
    e->failure = false; /* the attacker gets in */
    e->reason = -1;
    f->failure = false;
    e->anomaly = AUTH_A_LOCATION;
    memcpy(e->incident_id, x->id, sizeof e->incident_id);
    return true;
}

/* An infrastructure cascade's auth part (xincident.h), when its origin is
 * one auth calls (the database or the cache): CASCADE_PART_* logins of
 * ordinary users, each from where the user is, fail with
 * service_unavailable (no normal failure has that reason), under the
 * cascade's shared id. Not remembered as the user's failure or login (the
 * rules look past anomalous events). None while the anomaly rate in force
 * is 0; like the transactions' part, it comes on top of anomaly_rate.
 * One is left out where the service's own incidents need the event
 * (inc_free_for_part); its last waits for a free event instead. */
#define CASCADE_PART_MIN 5
#define CASCADE_PART_MAX 12

static void cascade_event(const struct auth_model *m, const struct auth_state *st,
                          const struct gen_params *p, struct rng *r, int64_t t_us,
                          const struct xinc_part *xp, struct auth_rec *e, struct auth_features *f,
                          struct side *sd)
{
    normal_event(m, st, p, r, t_us, -1, e, f, sd);
    e->failure = true;
    e->reason = AUTH_R_UNAVAILABLE;
    f->failure = true;
    sd->fail_user = -1;
    sd->seen_user = -1;
    e->anomaly = AUTH_A_CASCADE;
    memcpy(e->incident_id, xp->x.id, sizeof e->incident_id);
}

/* ---- the next event ---- */

_Static_assert(sizeof(struct auth_incident) == 32, "struct auth_incident has padding");
_Static_assert(offsetof(struct auth_incident, next_us) == 0,
               "incident.h: a slot begins with next_us");
_Static_assert(sizeof(struct auth_seen) == 16, "struct auth_seen has padding");
_Static_assert(sizeof(struct auth_detail) == 112, "struct auth_detail has padding");
_Static_assert(sizeof(struct auth_state) <= 32 * 1024, "the state is persisted every batch");

enum bm_rc auth_generate(const struct auth_model *m, struct auth_state *st,
                         const struct gen_params *p, struct rng *r, int64_t t_us, uint64_t seq,
                         struct gen_event *ev)
{
    struct inc_state view = inc_view(st);
    struct inc_call c;
    struct auth_incident in;
    struct side side = { .fail_user = -1, .fail_kind = 0, .seen_user = -1, .typo_set = false };
    struct auth_rec e;
    struct auth_features f;
    struct auth_call x = { .m = m, .st = st, .e = &e, .f = &f };
    double w[AUTH_A_COUNT];
    struct xinc xi;
    struct xinc_part xp;
    enum bm_rc rc;
    int xpart;
    bool due, taken = false, cascade = false;

    if (!auth_state_valid(st))
        return BM_ESTATE;
    memset(&e, 0, sizeof e);
    memset(&f, 0, sizeof f);
    e.anomaly = -1;
    e.device_type = -1;
    due = inc_begin(&c, &view, &in, r, p->anomaly_rate, p->weights, AUTH_A_COUNT, w, t_us);
    rng_uuid4(&c.r, e.id);
    /* a cross-service incident's part first: an injection waits an event,
     * an anomaly due stays owed */
    xpart = xinc_due(m, st, w, c.rate, t_us, &xi);
    if (xpart == 2 && !xinc_takeover(m, &xi, &c.r, t_us, &e, &f))
        xpart = 0;
    if (xpart == 2)
        anom_emitted(&c.sched, AUTH_A_LOCATION);
    if (!xpart && c.rate > 0.0 &&
        xincident_cascade_part(m->seed, XINC_HIT_AUTH, CASCADE_PART_MIN, CASCADE_PART_MAX,
                               st->xdone, st->last_us, t_us, &xp) &&
        inc_free_for_part(&view, due, t_us)) {
        cascade_event(m, st, p, &c.r, t_us, &xp, &e, &f, &side);
        cascade = true;
        xpart = 3;
    }
    if (p->inject && !xpart)
        inc_inject(&auth_incidents, &x, &view, &c, p->inject, t_us, &taken);
    if (!taken && !xpart) {
        rc = inc_drive(&auth_incidents, &x, &view, &c, due, t_us);
        if (rc != BM_OK)
            return rc;
    }
    if (e.anomaly < 0 && (xpart == 1 || !typo_step(m, st, p, &c.r, t_us, &e, &f, &side))) {
        normal_event(m, st, p, &c.r, t_us, xpart == 1 ? (int64_t)xinc_owner(m, &xi) : -1, &e,
                     &f, &side);
        if (xpart != 1)
            typo_start(m, st, &c.r, t_us, &e, &f, &side);
    }
    e.ts_ms = timefmt_ms_of_us(c.ts_us);
    e.seq = seq;
    auth_assess(&f, &e, &c.r);
    rc = auth_rec_encode(&e, ev->json);
    if (rc != BM_OK) /* as if this call never happened */
        return rc;
    if (st->last_us == 0) /* the stream's first event */
        st->xdone = xincident_part_start(m->seed, XINC_HIT_AUTH, CASCADE_PART_MIN,
                                         CASCADE_PART_MAX, t_us);
    else if (cascade && xp.k == xp.n - 1)
        st->xdone = xincident_part_done(&xp);
    commit(st, &view, &c, &in, &side, t_us, r);
    auth_rec_detail(&e, &st->out);
    ev->ts_ms = e.ts_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? auth_anomaly_names[e.anomaly] : NULL;
    ev->detail = &st->out;
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
    struct auth_model *m = auth_model_new(seed);

    if (m && shard_split(&c->shard) && auth_model_slice(m, &c->shard) != BM_OK) {
        auth_model_free(m);
        return NULL;
    }
    return m;
}

static double hook_rate_share(const void *m)
{
    return auth_model_share(m);
}

static bool hook_owns_target(const void *m, int64_t target)
{
    return auth_model_owns(m, target);
}

static void hook_model_free(void *m)
{
    auth_model_free(m);
}

static void hook_state_init(void *st, struct rng *r)
{
    auth_state_init(st, r);
}

static bool hook_state_valid(const void *st)
{
    return auth_state_valid(st);
}

static enum bm_rc hook_generate(const void *model, void *state, const struct gen_params *p,
                                struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    return auth_generate(model, state, p, r, t_us, seq, ev);
}

const struct service_gen auth_gen_hooks = {
    .state_size = sizeof(struct auth_state),
    .constant_rate = false,
    .model_new = hook_model_new,
    .model_free = hook_model_free,
    .state_init = hook_state_init,
    .state_valid = hook_state_valid,
    .generate = hook_generate,
    .rate_share = hook_rate_share,
    .owns_target = hook_owns_target,
};
