/* population.c - authentication service: the stable user population,
 * built from the seed (homes, habits, devices, addresses, usernames), and
 * the record fields that name a user, a place or a device. Immutable once
 * built. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "str.h"
#include "xincident.h"

#define ID_MIN  100000u /* CUST_ numbers have 6 digits */
#define ID_SPAN 900000u
_Static_assert(AUTH_N_USERS == XINC_CUSTOMERS && ID_MIN == XINC_CUST_MIN && ID_SPAN == XINC_CUST_SPAN,
               "auth users are the bank's customers (xincident.h)");
#define MODEL_SEED_SALT 0x6d6f64656c617531ull /* "modelau1" */
#define NAME_SET 32768u /* open-addressing set of username hashes */

const struct auth_os auth_os_table[AUTH_N_OS] = {
    { "Windows 11", AUTH_D_DESKTOP }, { "Windows 10", AUTH_D_DESKTOP },
    { "macOS 14", AUTH_D_DESKTOP },   { "macOS 13", AUTH_D_DESKTOP },
    { "Ubuntu 22.04", AUTH_D_DESKTOP }, { "ChromeOS", AUTH_D_DESKTOP },
    { "iOS 17", AUTH_D_MOBILE },      { "iOS 16", AUTH_D_MOBILE },
    { "Android 14", AUTH_D_MOBILE },  { "Android 13", AUTH_D_MOBILE },
    { "Android 12", AUTH_D_MOBILE },  { "iPadOS 17", AUTH_D_TABLET },
    { "iPadOS 16", AUTH_D_TABLET },   { "Android 13", AUTH_D_TABLET },
};
/* How common each OS is among devices of its type. */
static const double os_share[AUTH_N_OS] = { 35, 25, 18, 10, 4, 8, 30, 15, 28, 17, 10, 55, 25, 20 };

static const char *const first_names[] = {
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william",
    "barbara", "david", "susan", "richard", "jessica", "joseph", "sarah", "thomas", "karen",
    "charles", "nancy", "chris", "lisa", "daniel", "betty", "matthew", "margaret", "anthony",
    "sandra", "mark", "ashley", "donald", "kimberly", "steven", "emily", "paul", "donna",
    "andrew", "michelle", "joshua", "carol", "kenneth", "amanda", "kevin", "melissa", "brian",
    "deborah", "george", "stephanie", "timothy", "rebecca", "ronald", "laura", "jason", "sharon",
    "edward", "cynthia", "jeffrey", "kathleen", "ryan", "amy", "jacob", "angela", "gary", "anna",
};
static const char *const last_names[] = {
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
    "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor",
    "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez",
    "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright",
    "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker", "hall",
    "rivera", "campbell", "mitchell", "carter", "roberts", "gomez", "phillips", "evans",
    "turner", "diaz", "parker", "cruz", "edwards", "collins", "reyes", "stewart", "morris",
    "morales", "murphy", "cook", "rogers", "gutierrez", "ortiz", "morgan", "cooper", "peterson",
    "bailey", "reed", "kelly", "howard", "ramos", "kim", "cox", "ward", "richardson", "watson",
    "brooks", "chavez", "wood", "james", "bennett", "gray", "mendoza", "ruiz", "hughes", "price",
    "alvarez", "castillo", "sanders", "patel", "myers",
};
#define N_FIRST (sizeof first_names / sizeof first_names[0])
#define N_LAST  (sizeof last_names / sizeof last_names[0])
static const char *const mail_domains[] = { "@gmail.com", "@yahoo.com", "@hotmail.com",
                                            "@outlook.com" };

void auth_fp_fmt(uint64_t hi, uint64_t lo, char out[65])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[i] = hex[(hi >> (60 - 4 * i)) & 0xf];
        out[16 + i] = hex[(lo >> (60 - 4 * i)) & 0xf];
    }
    out[32] = '\0';
}

/* Appends s to out (length *n, capacity size), truncating. */
static void put_str(char *out, size_t size, size_t *n, const char *s)
{
    while (*s && *n + 1 < size)
        out[(*n)++] = *s++;
    out[*n] = '\0';
}

static void put_num(char *out, size_t size, size_t *n, unsigned v, int min_digits)
{
    char d[12];
    int k = 0;

    do {
        d[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k < 11);
    while (k < min_digits && k < 11)
        d[k++] = '0';
    while (k && *n + 1 < size)
        out[(*n)++] = d[--k];
    out[*n] = '\0';
}

void auth_fmt_cust(char *out, size_t size, uint32_t num)
{
    size_t n = 0;

    out[0] = '\0';
    put_str(out, size, &n, "CUST_");
    put_num(out, size, &n, num, 6);
}

void auth_rec_user(const struct auth_model *m, uint32_t u, struct auth_rec *e)
{
    auth_fmt_cust(e->customer_id, sizeof e->customer_id, m->users[u].num);
    str_copy(e->username, sizeof e->username, m->users[u].username);
}

void auth_rec_place(struct auth_rec *e, int c, double lat, double lon)
{
    e->has_location = true;
    str_copy(e->country, sizeof e->country, auth_cities[c].country);
    str_copy(e->city, sizeof e->city, auth_cities[c].name);
    e->lat_e4 = llround(lat * 1e4);
    e->lon_e4 = llround(lon * 1e4);
}

void auth_user_device_fp(const struct auth_model *m, uint32_t u, int k, char out[65])
{
    auth_fp_fmt(rng_hash(m->salt, u, 0x6670000u + (uint64_t)k),
                rng_hash(m->salt, u, 0x6671000u + (uint64_t)k), out);
}

void auth_rec_user_device(const struct auth_model *m, uint32_t u, int k, struct auth_rec *e)
{
    const struct auth_user *us = &m->users[u];

    e->has_device = true;
    auth_user_device_fp(m, u, k, e->fingerprint);
    e->device_type = us->dev_type[k];
    str_copy(e->os, sizeof e->os, auth_os_table[us->dev_os[k]].name);
}

uint64_t auth_unknown_space(void)
{
    return (uint64_t)N_FIRST * N_LAST * 100u * 4u;
}

/* Mixed radix over (first, last, number, style), and each style spells
 * the three parts with separators no name contains: distinct k, distinct
 * usernames. */
void auth_unknown_username(uint64_t k, char *out, size_t size)
{
    const char *first = first_names[k % N_FIRST];
    const char *last = last_names[k / N_FIRST % N_LAST];
    unsigned num = (unsigned)(k / N_FIRST / N_LAST % 100u);
    unsigned style = (unsigned)(k / N_FIRST / N_LAST / 100u % 4u);
    size_t n = 0;

    out[0] = '\0';
    switch (style) {
    case 0: /* james_miller07 */
        put_str(out, size, &n, first);
        put_str(out, size, &n, "_");
        put_str(out, size, &n, last);
        put_num(out, size, &n, num, 2);
        break;
    case 1: /* james.miller07@gmail.com */
        put_str(out, size, &n, first);
        put_str(out, size, &n, ".");
        put_str(out, size, &n, last);
        put_num(out, size, &n, num, 2);
        put_str(out, size, &n, mail_domains[num % 4]);
        break;
    case 2: /* miller_james_07 */
        put_str(out, size, &n, last);
        put_str(out, size, &n, "_");
        put_str(out, size, &n, first);
        put_str(out, size, &n, "_");
        put_num(out, size, &n, num, 2);
        break;
    default: /* james-miller07@yahoo.com */
        put_str(out, size, &n, first);
        put_str(out, size, &n, "-");
        put_str(out, size, &n, last);
        put_num(out, size, &n, num, 2);
        put_str(out, size, &n, mail_domains[(num + 1) % 4]);
        break;
    }
}


static int weighted_home(struct rng *r)
{
    double w[AUTH_N_CITIES];

    for (int i = 0; i < AUTH_N_CITIES; i++)
        w[i] = auth_cities[i].home;
    return rng_weighted(r, w, AUTH_N_CITIES);
}

static int draw_os(struct rng *r, int type)
{
    double w[AUTH_N_OS];

    for (int i = 0; i < AUTH_N_OS; i++)
        w[i] = auth_os_table[i].type == type ? os_share[i] : 0.0;
    return rng_weighted(r, w, AUTH_N_OS);
}

/* A candidate username in one of four house styles: jsmith42,
 * john.smith, john1984, smithj3. Never '_' or '@' (see
 * auth_unknown_username). At most 23 bytes. */
static void make_username(struct rng *r, char *out, size_t size)
{
    const char *first = first_names[rng_below(r, N_FIRST)];
    const char *last = last_names[rng_below(r, N_LAST)];
    char f[2] = { first[0], '\0' };
    size_t n = 0;

    out[0] = '\0';
    switch (rng_below(r, 4)) {
    case 0:
        put_str(out, size, &n, f);
        put_str(out, size, &n, last);
        if (rng_chance(r, 0.6))
            put_num(out, size, &n, (unsigned)rng_range(r, 1, 999), 1);
        break;
    case 1:
        put_str(out, size, &n, first);
        put_str(out, size, &n, ".");
        put_str(out, size, &n, last);
        if (rng_chance(r, 0.4))
            put_num(out, size, &n, (unsigned)rng_range(r, 1, 99), 1);
        break;
    case 2:
        put_str(out, size, &n, first);
        put_num(out, size, &n, (unsigned)rng_range(r, 1955, 2005), 4);
        break;
    default:
        put_str(out, size, &n, last);
        put_str(out, size, &n, f);
        put_num(out, size, &n, (unsigned)rng_range(r, 1, 99), 1);
        break;
    }
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ? h : 1;
}

/* Inserts h; false if it was there already. */
static bool set_add(uint64_t *set, uint64_t h)
{
    uint32_t i = (uint32_t)(h % NAME_SET);

    while (set[i]) {
        if (set[i] == h)
            return false;
        i = (i + 1) % NAME_SET;
    }
    set[i] = h;
    return true;
}

static void make_devices(struct rng *r, struct auth_user *us)
{
    double u = rng_double(r);
    int t0 = u < 0.55 ? AUTH_D_MOBILE : u < 0.95 ? AUTH_D_DESKTOP : AUTH_D_TABLET;

    us->ndev = rng_chance(r, 0.6) ? 2 : 1;
    us->dev_type[0] = (uint8_t)t0;
    us->dev_type[1] = (uint8_t)(t0 != AUTH_D_MOBILE   ? AUTH_D_MOBILE
                                : rng_chance(r, 0.7) ? AUTH_D_DESKTOP
                                                     : AUTH_D_TABLET);
    for (int k = 0; k < 2; k++)
        us->dev_os[k] = (uint8_t)draw_os(r, us->dev_type[k]);
}

static void make_addresses(const struct auth_model *m, struct rng *r, uint32_t i,
                           struct auth_user *us)
{
    const struct auth_city *c = &auth_cities[us->city];
    uint64_t isp = rng_hash(m->salt, us->city, rng_below(r, 8));
    uint64_t country = str_hash(c->country);

    us->home_ip = auth_region_block(c->region, isp) |
                  (uint32_t)(rng_hash(m->salt, i, 0x686f6d65u) & 0xff00u) |
                  (uint32_t)rng_range(r, 1, 254);
    us->carrier = auth_region_block(c->region, rng_hash(m->salt, country, rng_below(r, 3)));
    us->work_ip = 0;
    if (rng_chance(r, 0.25)) { /* an office NAT, shared by colleagues */
        uint64_t co = rng_hash(m->salt, us->city, 0x636f0000u + rng_below(r, 40));

        us->work_ip = auth_region_block(c->region, co) | (uint32_t)((co >> 40) & 0xff00u) |
                      (uint32_t)((co >> 56) % 254u + 1u);
    }
}

static void make_user(const struct auth_model *m, struct rng *r, uint32_t i,
                      struct auth_user *us)
{
    const struct auth_city *c;
    double lat, lon, u1, u2;

    us->city = (uint8_t)weighted_home(r);
    c = &auth_cities[us->city];
    u1 = rng_double(r); /* in this order: the population replays from the seed */
    u2 = rng_double(r);
    auth_near_point(u1, u2, c->lat, c->lon, 15.0, &lat, &lon);
    us->home_lat = (float)lat;
    us->home_lon = (float)lon;
    /* A third of the users never travel, so someone is always on the ground. */
    us->trip_pm = (uint16_t)(i % 3 == 0 ? 0 : rng_range(r, 40, 400));
    us->phase = (uint8_t)rng_below(r, 10);
    make_devices(r, us);
    us->mfa = rng_chance(r, 0.55) ? 1 : 0;
    if (rng_chance(r, 0.08)) { /* night owls */
        us->hour_lo = (uint8_t)rng_range(r, 10, 13);
        us->hour_hi = 24;
    } else {
        us->hour_lo = (uint8_t)rng_range(r, 6, 9);
        us->hour_hi = (uint8_t)rng_range(r, 20, 23);
    }
    make_addresses(m, r, i, us);
}

struct name_idx {
    char name[24];
    uint32_t idx;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

static enum bm_rc build_names(struct auth_model *m, struct rng *r)
{
    uint64_t *set = calloc(NAME_SET, sizeof *set);
    struct name_idx *sorted = malloc(m->n_users * sizeof *sorted);
    enum bm_rc rc = BM_ENOMEM;

    if (!set || !sorted)
        goto out;
    for (uint32_t i = 0; i < m->n_users; i++) {
        char *name = m->users[i].username;

        do
            make_username(r, name, sizeof m->users[i].username);
        while (!set_add(set, str_hash(name)));
        memcpy(sorted[i].name, name, sizeof sorted[i].name);
        sorted[i].idx = i;
    }
    qsort(sorted, m->n_users, sizeof *sorted, cmp_name);
    for (uint32_t i = 0; i < m->n_users; i++)
        m->by_name[i] = sorted[i].idx;
    rc = BM_OK;
out:
    free(sorted);
    free(set);
    return rc;
}

/* Vose's construction of the alias table for weights w[0 .. n). */
static enum bm_rc build_alias(struct auth_model *m, const double *w, uint32_t n)
{
    double *p = malloc(n * sizeof *p), sum = 0.0;
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    uint32_t ns = 0, nl = 0;
    enum bm_rc rc = BM_ENOMEM;

    if (!p || !small || !large)
        goto out;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    for (uint32_t i = 0; i < n; i++) {
        p[i] = w[i] * (double)n / sum;
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];

        m->prob[s] = (uint32_t)(p[s] * 4294967296.0);
        m->alias[s] = l;
        p[l] -= 1.0 - p[s];
        if (p[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl) { /* what rounding left: always itself */
        uint32_t i = large[--nl];

        m->prob[i] = UINT32_MAX;
        m->alias[i] = i;
    }
    while (ns) {
        uint32_t i = small[--ns];

        m->prob[i] = UINT32_MAX;
        m->alias[i] = i;
    }
    rc = BM_OK;
out:
    free(large);
    free(small);
    free(p);
    return rc;
}

static enum bm_rc build_users(struct auth_model *m, uint64_t seed, struct rng *r)
{
    uint32_t *ids = malloc(AUTH_N_USERS * sizeof *ids);
    double *activity = malloc(AUTH_N_USERS * sizeof *activity);
    enum bm_rc rc = BM_ENOMEM;

    if (!ids || !activity)
        goto out;
    /* User i is the bank's customer i (xincident.h), as in the transaction
     * population; the model's own draw is kept so the rest is as it was. */
    rc = rng_distinct(r, ID_MIN, ID_SPAN, AUTH_N_USERS, ids);
    if (rc == BM_OK)
        rc = xincident_customer_nums(seed, ids);
    if (rc != BM_OK)
        goto out;
    m->n_users = AUTH_N_USERS;
    for (uint32_t i = 0; i < AUTH_N_USERS; i++) {
        double a;

        make_user(m, r, i, &m->users[i]);
        m->users[i].num = ids[i];
        /* Activity is heavy-tailed: a few users log in far more often. */
        a = rng_lognormal(r, 0.0, 0.9);
        activity[i] = a < 0.001 ? 0.001 : a > 200.0 ? 200.0 : a;
    }
    rc = build_alias(m, activity, AUTH_N_USERS);
    m->n_slice = AUTH_N_USERS;
    if (rc == BM_OK)
        rc = build_names(m, r);
out:
    free(activity);
    free(ids);
    return rc;
}

static void build_places(struct auth_model *m)
{
    for (int a = 0; a < AUTH_N_CITIES; a++) {
        for (int b = 0; b < AUTH_N_CITIES; b++)
            m->dist[a][b] = (float)auth_distance_km(auth_cities[a].lat, auth_cities[a].lon,
                                                    auth_cities[b].lat, auth_cities[b].lon);
        if (auth_cities[a].attack)
            m->attack[m->n_attack++] = (uint8_t)a;
        if (auth_cities[a].travel)
            m->travel[m->n_travel++] = (uint8_t)a;
        for (int b = 0; b < AUTH_N_CITIES; b++)
            if (b != a && auth_cities[b].travel &&
                strcmp(auth_cities[a].country, auth_cities[b].country) == 0)
                m->domestic[a][m->n_domestic[a]++] = (uint8_t)b;
    }
}

struct auth_model *auth_model_new(uint64_t seed)
{
    struct auth_model *m = calloc(1, sizeof *m);
    struct rng r;

    if (!m)
        return NULL;
    m->users = calloc(AUTH_N_USERS, sizeof *m->users);
    m->prob = calloc(AUTH_N_USERS, sizeof *m->prob);
    m->alias = calloc(AUTH_N_USERS, sizeof *m->alias);
    m->by_name = calloc(AUTH_N_USERS, sizeof *m->by_name);
    if (!m->users || !m->prob || !m->alias || !m->by_name)
        goto fail;
    rng_seed(&r, seed ^ MODEL_SEED_SALT);
    m->seed = seed;
    m->salt = rng_next(&r);
    m->shard = (struct bm_shard){ 0, 1 };
    m->share = 1.0;
    build_places(m);
    if (build_users(m, seed, &r) != BM_OK)
        goto fail;
    return m;
fail:
    auth_model_free(m);
    return NULL;
}

void auth_model_free(struct auth_model *m)
{
    if (!m)
        return;
    free(m->by_name);
    free(m->alias);
    free(m->prob);
    free(m->users);
    free(m);
}

/* Each user's chance of a draw, read back from the alias table: its own
 * column's kept part and what the columns aliased to it pass on. */
static void alias_weights(const struct auth_model *m, double *w)
{
    const double scale = 1.0 / 4294967296.0;

    for (uint32_t i = 0; i < m->n_users; i++)
        w[i] = 0.0;
    for (uint32_t i = 0; i < m->n_users; i++) {
        double keep = m->prob[i] == UINT32_MAX ? 1.0 : (double)m->prob[i] * scale;

        w[i] += keep;
        if (m->alias[i] != i)
            w[m->alias[i]] += 1.0 - keep;
    }
}

enum bm_rc auth_model_slice(struct auth_model *m, const struct bm_shard *s)
{
    double *w = malloc(m->n_users * sizeof *w), all = 0.0, mine = 0.0;
    enum bm_rc rc = BM_ENOMEM;

    if (!w)
        return rc;
    alias_weights(m, w);
    for (uint32_t i = 0; i < m->n_users; i++) {
        all += w[i];
        if (!shard_owns(s, i))
            w[i] = 0.0;
        mine += w[i];
    }
    m->shard = *s;
    m->n_slice = shard_slice_size(s, m->n_users);
    m->share = all > 0.0 ? mine / all : 0.0;
    rc = mine > 0.0 ? build_alias(m, w, m->n_users) : BM_OK;
    free(w);
    return rc;
}

double auth_model_share(const struct auth_model *m)
{
    return m->share;
}

bool auth_model_owns(const struct auth_model *m, int64_t u)
{
    return u >= 0 && shard_owns(&m->shard, (uint64_t)u);
}

size_t auth_model_users(const struct auth_model *m)
{
    return m ? m->n_users : 0;
}

int64_t auth_find_user(const struct auth_model *m, const char *name)
{
    uint32_t lo = 0, hi = m->n_users;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (strcmp(m->users[m->by_name[mid]].username, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_users && strcmp(m->users[m->by_name[lo]].username, name) == 0
               ? (int64_t)m->by_name[lo]
               : -1;
}
