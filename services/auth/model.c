/* model.c - authentication service: places, the stable user population,
 * the event record's scoring and JSON encoding, and POST /auth bodies.
 * Pure: no I/O, clocks or mutable globals; the population is immutable
 * once built. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "json.h"
#include "jw.h"
#include "risk.h"
#include "str.h"

#define ID_MIN  100000u /* CUST_ numbers have 6 digits */
#define ID_SPAN 900000u
#define MODEL_SEED_SALT 0x6d6f64656c617531ull /* "modelau1" */
#define EARTH_KM 6371.0088
#define DEG 0.017453292519943295
#define TWO_PI 6.283185307179586
#define NAME_SET 32768u /* open-addressing set of username hashes */

const char *const auth_anomaly_names[AUTH_A_COUNT] = {
    "brute_force", "credential_stuffing", "unusual_location",
};
const char *const auth_method_names[AUTH_M_COUNT] = { "password", "mfa", "biometric" };
const char *const auth_reason_names[AUTH_R_COUNT] = {
    "invalid_password", "expired_password", "mfa_failed", "biometric_failed",
    "account_locked",   "unknown_user",
};
const char *const auth_device_names[AUTH_D_COUNT] = { "desktop", "mobile", "tablet" };

#define NA AUTH_RG_NA
#define EU AUTH_RG_EU
#define AS AUTH_RG_AS
#define SA AUTH_RG_SA
#define AF AUTH_RG_AF
#define OC AUTH_RG_OC
/* name, country, lat, lon, UTC offset, region, home share, travel, attack */
const struct auth_city auth_cities[AUTH_N_CITIES] = {
    { "New York", "US", 40.7128, -74.0060, -300, NA, 84, 1, 0 },
    { "Los Angeles", "US", 34.0522, -118.2437, -480, NA, 39, 1, 0 },
    { "Chicago", "US", 41.8781, -87.6298, -360, NA, 27, 1, 0 },
    { "Houston", "US", 29.7604, -95.3698, -360, NA, 23, 1, 0 },
    { "Phoenix", "US", 33.4484, -112.0740, -420, NA, 16, 1, 0 },
    { "Philadelphia", "US", 39.9526, -75.1652, -300, NA, 16, 1, 0 },
    { "San Antonio", "US", 29.4241, -98.4936, -360, NA, 15, 1, 0 },
    { "San Diego", "US", 32.7157, -117.1611, -480, NA, 14, 1, 0 },
    { "Dallas", "US", 32.7767, -96.7970, -360, NA, 13, 1, 0 },
    { "San Jose", "US", 37.3382, -121.8863, -480, NA, 10, 1, 0 },
    { "Austin", "US", 30.2672, -97.7431, -360, NA, 10, 1, 0 },
    { "Jacksonville", "US", 30.3322, -81.6557, -300, NA, 9, 1, 0 },
    { "Columbus", "US", 39.9612, -82.9988, -300, NA, 9, 1, 0 },
    { "Charlotte", "US", 35.2271, -80.8431, -300, NA, 9, 1, 0 },
    { "San Francisco", "US", 37.7749, -122.4194, -480, NA, 9, 1, 0 },
    { "Indianapolis", "US", 39.7684, -86.1581, -300, NA, 9, 1, 0 },
    { "Seattle", "US", 47.6062, -122.3321, -480, NA, 7, 1, 0 },
    { "Denver", "US", 39.7392, -104.9903, -420, NA, 7, 1, 0 },
    { "Washington", "US", 38.9072, -77.0369, -300, NA, 7, 1, 0 },
    { "Boston", "US", 42.3601, -71.0589, -300, NA, 7, 1, 0 },
    { "Nashville", "US", 36.1627, -86.7816, -360, NA, 7, 1, 0 },
    { "Detroit", "US", 42.3314, -83.0458, -300, NA, 6, 1, 0 },
    { "Portland", "US", 45.5152, -122.6784, -480, NA, 6, 1, 0 },
    { "Las Vegas", "US", 36.1699, -115.1398, -480, NA, 6, 1, 0 },
    { "Memphis", "US", 35.1495, -90.0490, -360, NA, 6, 1, 0 },
    { "Atlanta", "US", 33.7490, -84.3880, -300, NA, 5, 1, 0 },
    { "Miami", "US", 25.7617, -80.1918, -300, NA, 5, 1, 0 },
    { "Minneapolis", "US", 44.9778, -93.2650, -360, NA, 4, 1, 0 },
    { "New Orleans", "US", 29.9511, -90.0715, -360, NA, 4, 1, 0 },
    { "Honolulu", "US", 21.3069, -157.8583, -600, NA, 2, 1, 0 },
    { "Toronto", "CA", 43.6532, -79.3832, -300, NA, 3, 1, 0 },
    { "Vancouver", "CA", 49.2827, -123.1207, -480, NA, 2, 1, 0 },
    { "Mexico City", "MX", 19.4326, -99.1332, -360, NA, 2, 1, 0 },
    { "Cancun", "MX", 21.1619, -86.8515, -300, NA, 0, 1, 0 },
    { "San Juan", "PR", 18.4655, -66.1057, -240, NA, 0, 1, 0 },
    { "London", "GB", 51.5074, -0.1278, 0, EU, 2, 1, 0 },
    { "Paris", "FR", 48.8566, 2.3522, 60, EU, 1, 1, 0 },
    { "Berlin", "DE", 52.5200, 13.4050, 60, EU, 1, 1, 0 },
    { "Madrid", "ES", 40.4168, -3.7038, 60, EU, 0, 1, 0 },
    { "Rome", "IT", 41.9028, 12.4964, 60, EU, 0, 1, 0 },
    { "Amsterdam", "NL", 52.3676, 4.9041, 60, EU, 0, 1, 1 },
    { "Frankfurt", "DE", 50.1109, 8.6821, 60, EU, 0, 0, 1 },
    { "Tokyo", "JP", 35.6762, 139.6503, 540, AS, 1, 1, 0 },
    { "Sydney", "AU", -33.8688, 151.2093, 600, OC, 0, 1, 0 },
    { "Singapore", "SG", 1.3521, 103.8198, 480, AS, 0, 1, 1 },
    { "Buenos Aires", "AR", -34.6037, -58.3816, -180, SA, 0, 1, 1 },
    { "Moscow", "RU", 55.7558, 37.6173, 180, EU, 0, 0, 1 },
    { "Saint Petersburg", "RU", 59.9311, 30.3609, 180, EU, 0, 0, 1 },
    { "Kyiv", "UA", 50.4501, 30.5234, 120, EU, 0, 0, 1 },
    { "Bucharest", "RO", 44.4268, 26.1025, 120, EU, 0, 0, 1 },
    { "Minsk", "BY", 53.9045, 27.5615, 180, EU, 0, 0, 1 },
    { "Istanbul", "TR", 41.0082, 28.9784, 180, EU, 0, 0, 1 },
    { "Lagos", "NG", 6.5244, 3.3792, 60, AF, 0, 0, 1 },
    { "Beijing", "CN", 39.9042, 116.4074, 480, AS, 0, 0, 1 },
    { "Shenzhen", "CN", 22.5431, 114.0579, 480, AS, 0, 0, 1 },
    { "Hong Kong", "HK", 22.3193, 114.1694, 480, AS, 0, 0, 1 },
    { "Ho Chi Minh City", "VN", 10.8231, 106.6297, 420, AS, 0, 0, 1 },
    { "Jakarta", "ID", -6.2088, 106.8456, 420, AS, 0, 0, 1 },
    { "Manila", "PH", 14.5995, 120.9842, 480, AS, 0, 0, 1 },
    { "Mumbai", "IN", 19.0760, 72.8777, 330, AS, 0, 0, 1 },
    { "Seoul", "KR", 37.5665, 126.9780, 540, AS, 0, 0, 1 },
    { "Sao Paulo", "BR", -23.5505, -46.6333, -180, SA, 0, 0, 1 },
};
#undef NA
#undef EU
#undef AS
#undef SA
#undef AF
#undef OC

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

/* First octets of public address space handed out in each region; the
 * second octet is drawn from 1..254, so no reserved block is produced. */
static const uint8_t region_octets_na[] = { 23, 24, 47, 50, 63, 64, 65, 66, 67, 68, 69, 70, 71,
                                            72, 73, 74, 75, 76, 96, 97, 98, 99, 107, 108, 173,
                                            174, 184 };
static const uint8_t region_octets_eu[] = { 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 85,
                                            86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 109, 176,
                                            178, 188, 212, 213, 217 };
static const uint8_t region_octets_as[] = { 1, 14, 27, 36, 39, 42, 49, 58, 59, 60, 61, 101, 110,
                                            111, 112, 113, 114, 115, 116, 117, 118, 119, 120,
                                            121, 122, 123, 124, 125, 180, 182, 183, 210, 211,
                                            218, 219, 220, 221, 222 };
static const uint8_t region_octets_sa[] = { 177, 179, 181, 186, 187, 189, 190, 191, 200, 201 };
static const uint8_t region_octets_af[] = { 41, 102, 105, 154, 196, 197 };
static const uint8_t region_octets_oc[] = { 101, 110, 115, 120, 124, 139, 144, 150 };
/* Hosting providers' space: attackers rent servers there. */
static const uint8_t datacenter_octets[] = { 5, 45, 51, 103, 104, 138, 142, 159, 165, 167, 185,
                                             193, 194, 195, 209 };

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

/* ---- small helpers shared with generator.c ---- */


double auth_distance_km(double lat1, double lon1, double lat2, double lon2)
{
    double dlat = (lat2 - lat1) * DEG, dlon = (lon2 - lon1) * DEG;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * DEG) * cos(lat2 * DEG) * sin(dlon / 2) * sin(dlon / 2);

    if (a > 1.0)
        a = 1.0;
    return 2.0 * EARTH_KM * asin(sqrt(a));
}

bool auth_impossible_travel(double km, int64_t dt_ms)
{
    if (!(km >= AUTH_TRAVEL_MIN_KM))
        return false;
    return dt_ms <= 0 || km / ((double)dt_ms / 3600000.0) > AUTH_TRAVEL_MAX_KMH;
}

int auth_nearest_city(double lat, double lon, double *km)
{
    int best = 0;
    double best_km = INFINITY;

    for (int c = 0; c < AUTH_N_CITIES; c++) {
        double d = auth_distance_km(lat, lon, auth_cities[c].lat, auth_cities[c].lon);

        if (d < best_km) {
            best_km = d;
            best = c;
        }
    }
    *km = best_km;
    return best;
}

static uint32_t block_of(const uint8_t *octets, size_t n, uint64_t h)
{
    uint32_t a = octets[h % n], b = (uint32_t)((h >> 16) % 254u) + 1u;

    return a << 24 | b << 16;
}

uint32_t auth_region_block(int region, uint64_t h)
{
#define POOL(arr) block_of(arr, sizeof arr, h)
    switch (region) {
    case AUTH_RG_EU:
        return POOL(region_octets_eu);
    case AUTH_RG_AS:
        return POOL(region_octets_as);
    case AUTH_RG_SA:
        return POOL(region_octets_sa);
    case AUTH_RG_AF:
        return POOL(region_octets_af);
    case AUTH_RG_OC:
        return POOL(region_octets_oc);
    default:
        return POOL(region_octets_na);
    }
#undef POOL
}

uint32_t auth_datacenter_block(uint64_t h)
{
    return block_of(datacenter_octets, sizeof datacenter_octets, h);
}

/* No consumer pool shares a first octet with the hosting pool. */
bool auth_is_datacenter(uint32_t ip)
{
    uint8_t a = (uint8_t)(ip >> 24);

    for (size_t i = 0; i < sizeof datacenter_octets; i++)
        if (datacenter_octets[i] == a)
            return true;
    return false;
}

static char *put_u8(char *p, unsigned v)
{
    if (v >= 100)
        *p++ = (char)('0' + v / 100);
    if (v >= 10)
        *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

void auth_ip_fmt(uint32_t ip, char out[16])
{
    char *p = out;

    for (int i = 3; i >= 0; i--) {
        p = put_u8(p, (ip >> (8 * i)) & 0xffu);
        if (i)
            *p++ = '.';
    }
    *p = '\0';
}

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

static void fmt_cust(char *out, size_t size, uint32_t num)
{
    size_t n = 0;

    out[0] = '\0';
    put_str(out, size, &n, "CUST_");
    put_num(out, size, &n, num, 6);
}

void auth_rec_user(const struct auth_model *m, uint32_t u, struct auth_rec *e)
{
    fmt_cust(e->customer_id, sizeof e->customer_id, m->users[u].num);
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

static void user_device_fp(const struct auth_model *m, uint32_t u, int k, char out[65])
{
    auth_fp_fmt(rng_hash(m->salt, u, 0x6670000u + (uint64_t)k),
                rng_hash(m->salt, u, 0x6671000u + (uint64_t)k), out);
}

void auth_rec_user_device(const struct auth_model *m, uint32_t u, int k, struct auth_rec *e)
{
    const struct auth_user *us = &m->users[u];

    e->has_device = true;
    user_device_fp(m, u, k, e->fingerprint);
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

/* ---- population ---- */

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

/* A point within km of (lat, lon), uniform over the disc. */
static void near_point(struct rng *r, double lat, double lon, double km, double *olat,
                       double *olon)
{
    double d = km * sqrt(rng_double(r)), a = TWO_PI * rng_double(r);

    *olat = lat + d * cos(a) / 111.32;
    *olon = lon + d * sin(a) / (111.32 * cos(lat * DEG));
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
    double lat, lon;

    us->city = (uint8_t)weighted_home(r);
    c = &auth_cities[us->city];
    near_point(r, c->lat, c->lon, 15.0, &lat, &lon);
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

static enum bm_rc build_users(struct auth_model *m, struct rng *r)
{
    uint32_t *ids = malloc(AUTH_N_USERS * sizeof *ids);
    double *activity = malloc(AUTH_N_USERS * sizeof *activity);
    enum bm_rc rc = BM_ENOMEM;

    if (!ids || !activity)
        goto out;
    rc = rng_distinct(r, ID_MIN, ID_SPAN, AUTH_N_USERS, ids);
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
    m->salt = rng_next(&r);
    build_places(m);
    if (build_users(m, &r) != BM_OK)
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

/* ---- scoring ---- */

/* Only what a bank's risk engine sees in one login, plus noise: travellers,
 * typos and new phones score high too, some attacks pass as ordinary. */
void auth_assess(const struct auth_features *f, struct auth_rec *e, struct rng *r)
{
    double s = 0.03 + 0.07 * rng_double(r);

    if (f->failure)
        s += 0.20;
    if (f->new_device)
        s += 0.16;
    if (f->foreign)
        s += 0.14;
    s += 0.10 * fmin(1.0, f->km_from_home / 3000.0);
    if (f->unknown_user)
        s += 0.10;
    if (f->datacenter)
        s += 0.12;
    if (f->local_hour < 5)
        s += 0.06;
    e->risk_milli = llround(risk_score(s, r) * 1000.0);
}

/* ---- encoding ---- */

static void encode_location(struct jw *w, const struct auth_rec *e)
{
    jw_raw(w, ",\"location\":{\"country\":");
    jw_str(w, e->has_location ? e->country : NULL);
    jw_raw(w, ",\"city\":");
    jw_str(w, e->has_location ? e->city : NULL);
    jw_raw(w, ",\"latitude\":");
    if (e->has_location)
        jw_fixed(w, e->lat_e4, 4);
    else
        jw_raw(w, "null");
    jw_raw(w, ",\"longitude\":");
    if (e->has_location)
        jw_fixed(w, e->lon_e4, 4);
    else
        jw_raw(w, "null");
    jw_raw(w, "}");
}

static void encode_device(struct jw *w, const struct auth_rec *e)
{
    jw_raw(w, ",\"device\":{\"fingerprint\":");
    jw_str(w, e->has_device ? e->fingerprint : NULL);
    jw_raw(w, ",\"type\":");
    jw_str(w, e->has_device && e->device_type >= 0 ? auth_device_names[e->device_type] : NULL);
    jw_raw(w, ",\"os\":");
    jw_str(w, e->has_device ? e->os : NULL);
    jw_raw(w, "}");
}

enum bm_rc auth_rec_encode(const struct auth_rec *e, struct buf *b)
{
    struct jw w;

    /* Generated events are built from the tables above and need no
     * escaping; a client's text always gets it. */
    jw_init(&w, b, !e->api);
    jw_event_head(&w, "event_id", e->id, e->ts_ms, e->seq);
    jw_raw(&w, ",\"customer_id\":");
    jw_str(&w, e->customer_id);
    jw_raw(&w, ",\"username\":");
    jw_str(&w, e->username);
    jw_raw(&w, e->failure ? ",\"result\":\"failure\",\"failure_reason\":"
                          : ",\"result\":\"success\",\"failure_reason\":");
    jw_str(&w, e->reason >= 0 ? auth_reason_names[e->reason] : NULL);
    jw_raw(&w, ",\"auth_method\":");
    jw_str(&w, auth_method_names[e->method]);
    jw_raw(&w, ",\"ip_address\":");
    jw_str(&w, e->ip);
    encode_location(&w, e);
    encode_device(&w, e);
    jw_raw(&w, ",\"risk_score\":");
    jw_fixed(&w, e->risk_milli, 3);
    jw_event_tail(&w, e->anomaly >= 0 ? auth_anomaly_names[e->anomaly] : NULL, e->incident_id,
                  e->api);
    return jw_finish(&w);
}

void auth_rec_detail(const struct auth_rec *e, struct auth_detail *d)
{
    memset(d, 0, sizeof *d);
    d->ts_ms = e->ts_ms;
    str_copy(d->username, sizeof d->username, e->username);
    str_copy(d->ip, sizeof d->ip, e->ip);
    d->failure = e->failure ? 1 : 0;
    d->baseline = e->anomaly < 0 && e->has_location ? 1 : 0;
    d->lat_e4 = e->lat_e4;
    d->lon_e4 = e->lon_e4;
}

/* ---- POST /auth ---- */

enum in_field {
    IF_USERNAME,
    IF_RESULT,
    IF_IP,
    IF_CUSTOMER,
    IF_REASON,
    IF_METHOD,
    IF_LOCATION,
    IF_DEVICE,
    IF_COUNT
};
#define IF_LAST_REQUIRED IF_IP

static const char *const in_names[IF_COUNT] = {
    "username", "result", "ip_address", "customer_id",
    "failure_reason", "auth_method", "location", "device",
};

/* Set by the server; a client sending one is told so, not ignored. */
static const char *const readonly_names[] = {
    "event_id", "timestamp", "sequence", "risk_score", "is_anomaly",
    "anomaly_type", "incident_id", "origin",
};

/* 1..size-1 bytes, each in `allowed` (or any printable byte if NULL). */
static enum bm_rc in_text(const cJSON *it, const char *name, const char *allowed, char *out,
                          size_t size, struct api_fail *fail)
{
    const char *s;
    size_t n;
    bool ok;

    if (json_want_str(it, name, &s, fail) != BM_OK)
        return BM_EINVAL;
    n = strlen(s);
    ok = n > 0 && n < size;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        ok = allowed ? (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || (c && strchr(allowed, c))
                     : c >= 0x20 && c != 0x7f;
    }
    if (!ok) {
        if (allowed)
            api_fail_set(fail, API_BAD_VALUE, name,
                         "%s must be 1-%zu characters of A-Z a-z 0-9 and %s", name, size - 1,
                         allowed);
        else
            api_fail_set(fail, API_BAD_VALUE, name, "%s must be 1-%zu printable bytes", name,
                         size - 1);
        return BM_EINVAL;
    }
    memcpy(out, s, n + 1);
    return BM_OK;
}

/* Dotted quad, each part 0..255 without leading zeros. */
static bool parse_ipv4(const char *s, uint32_t *out)
{
    uint32_t ip = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        int digits = 0;

        if (part && *s++ != '.')
            return false;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            if (digits == 1 && v == 0)
                return false; /* leading zero */
            v = v * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || v > 255)
            return false;
        ip = ip << 8 | v;
    }
    if (*s)
        return false;
    *out = ip;
    return true;
}

static enum bm_rc in_ip(const cJSON *it, struct auth_input *in, struct api_fail *fail)
{
    const char *s;
    uint32_t ip;

    if (json_want_str(it, "ip_address", &s, fail) != BM_OK)
        return BM_EINVAL;
    if (strlen(s) >= sizeof in->ip || !parse_ipv4(s, &ip)) {
        api_fail_set(fail, API_BAD_VALUE, "ip_address",
                     "ip_address must be a dotted IPv4 address");
        return BM_EINVAL;
    }
    memcpy(in->ip, s, strlen(s) + 1);
    return BM_OK;
}

static enum bm_rc in_coord(const cJSON *it, const char *name, double lim, double *out,
                           struct api_fail *fail)
{
    double d;

    if (!cJSON_IsNumber(it)) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must be a number", name);
        return BM_EINVAL;
    }
    if (json_as_double(it, &d) != BM_OK || d < -lim || d > lim) {
        api_fail_set(fail, API_BAD_VALUE, name, "%s must be within -%g..%g", name, lim, lim);
        return BM_EINVAL;
    }
    *out = d;
    return BM_OK;
}

static const char *const loc_names[] = { "country", "city", "latitude", "longitude" };

static enum bm_rc in_loc_member(const cJSON *c, int k, void *ctx, struct api_fail *fail)
{
    struct auth_input *in = ctx;

    switch (k) {
    case 0:
        return json_want_country(c, "location.country", in->country, fail);
    case 1:
        if (cJSON_IsNull(c))
            return BM_OK;
        return in_text(c, "location.city", NULL, in->city, sizeof in->city, fail);
    case 2:
        return in_coord(c, "location.latitude", 90.0, &in->lat, fail);
    default:
        return in_coord(c, "location.longitude", 180.0, &in->lon, fail);
    }
}

static const char *const dev_names[] = { "fingerprint", "type", "os" };

static enum bm_rc in_dev_member(const cJSON *c, int k, void *ctx, struct api_fail *fail)
{
    struct auth_input *in = ctx;

    if (cJSON_IsNull(c))
        return BM_OK;
    switch (k) {
    case 0:
        return in_text(c, "device.fingerprint", "_-", in->fingerprint, sizeof in->fingerprint,
                       fail);
    case 1:
        return json_want_choice(c, "device.type", auth_device_names, AUTH_D_COUNT, &in->device_type,
                         fail);
    default:
        return in_text(c, "device.os", NULL, in->os, sizeof in->os, fail);
    }
}

static enum bm_rc in_field(const cJSON *it, int f, void *ctx, struct api_fail *fail)
{
    static const struct json_members loc = {
        .obj = "location", .names = loc_names, .n = 4, .required = 0xdu, .one = in_loc_member,
    };
    static const struct json_members dev = {
        .obj = "device", .names = dev_names, .n = 3, .one = in_dev_member,
    };
    struct auth_input *in = ctx;
    const char *name = in_names[f];

    /* Required fields: null is a wrong type, not an absence. */
    if (f <= IF_LAST_REQUIRED && cJSON_IsNull(it)) {
        api_fail_set(fail, API_BAD_TYPE, name, "%s must not be null", name);
        return BM_EINVAL;
    }
    if (cJSON_IsNull(it))
        return BM_OK;
    switch (f) {
    case IF_USERNAME:
        return in_text(it, name, "._@+-", in->username, sizeof in->username, fail);
    case IF_RESULT:
        return json_want_choice(it, name, (const char *const[]){ "success", "failure" }, 2,
                         &in->result, fail);
    case IF_IP:
        return in_ip(it, in, fail);
    case IF_CUSTOMER:
        return json_want_code(it, name, "CUST_", 6, in->customer_id, sizeof in->customer_id,
                              fail);
    case IF_REASON:
        return json_want_choice(it, name, auth_reason_names, AUTH_R_COUNT, &in->reason, fail);
    case IF_METHOD:
        return json_want_choice(it, name, auth_method_names, AUTH_M_COUNT, &in->method, fail);
    case IF_LOCATION:
        in->has_location = true;
        return json_want_members(it, &loc, in, fail);
    default:
        in->has_device = true;
        return json_want_members(it, &dev, in, fail);
    }
}

enum bm_rc auth_input_from_json(const struct cJSON *body, struct auth_input *in,
                                struct api_fail *fail)
{
    static const struct json_members fields = {
        .obj = "",
        .names = in_names,
        .n = IF_COUNT,
        .required = (1u << (IF_LAST_REQUIRED + 1)) - 1, /* the first fields */
        .readonly = readonly_names,
        .n_readonly = sizeof readonly_names / sizeof readonly_names[0],
        .one = in_field,
    };

    memset(in, 0, sizeof *in);
    in->reason = -1;
    in->method = -1;
    in->device_type = -1;
    if (json_want_members(body, &fields, in, fail) != BM_OK)
        return BM_EINVAL;
    if (in->result == 0 && in->reason >= 0) {
        api_fail_set(fail, API_BAD_VALUE, "failure_reason",
                     "failure_reason applies to failed logins only");
        return BM_EINVAL;
    }
    return BM_OK;
}

enum bm_rc auth_input_check(const struct auth_model *m, const struct auth_input *in,
                            struct api_fail *fail)
{
    int64_t u = auth_find_user(m, in->username);
    char mine[16];

    if (u < 0 || !in->customer_id[0])
        return BM_OK;
    fmt_cust(mine, sizeof mine, m->users[u].num);
    if (strcmp(mine, in->customer_id) != 0) {
        api_fail_set(fail, API_BAD_VALUE, "customer_id",
                     "customer_id does not belong to username %s", m->users[u].username);
        return BM_EINVAL;
    }
    return BM_OK;
}

/* ---- events from the API ---- */

static bool is_user_device(const struct auth_model *m, uint32_t u, const char *fp)
{
    char mine[65];

    for (int k = 0; k < m->users[u].ndev; k++) {
        user_device_fp(m, u, k, mine);
        if (strcmp(mine, fp) == 0)
            return true;
    }
    return false;
}

static void input_rec(const struct auth_model *m, int64_t u, const struct auth_input *in,
                      struct auth_rec *e)
{
    str_copy(e->username, sizeof e->username, in->username);
    if (u >= 0)
        auth_rec_user(m, (uint32_t)u, e);
    else
        str_copy(e->customer_id, sizeof e->customer_id, in->customer_id);
    e->failure = in->result == 1;
    e->reason = !e->failure       ? -1
                : in->reason >= 0 ? in->reason
                : u < 0           ? AUTH_R_UNKNOWN_USER
                                  : AUTH_R_INVALID_PASSWORD;
    e->method = in->method >= 0 ? in->method : AUTH_M_PASSWORD;
    str_copy(e->ip, sizeof e->ip, in->ip);
    /* A login without a place stays without one: neither judged nor a
     * baseline for the travel rule. */
    if (in->has_location) {
        e->has_location = true;
        str_copy(e->country, sizeof e->country, in->country);
        str_copy(e->city, sizeof e->city, in->city);
        e->lat_e4 = llround(in->lat * 1e4);
        e->lon_e4 = llround(in->lon * 1e4);
    }
    e->has_device = in->has_device;
    str_copy(e->fingerprint, sizeof e->fingerprint, in->fingerprint);
    e->device_type = in->device_type;
    str_copy(e->os, sizeof e->os, in->os);
    e->api = true;
}

/* What the risk engine knows about an API login; u < 0: unknown user. */
static void input_features(const struct auth_model *m, int64_t u, const struct auth_rec *e,
                           struct auth_features *f)
{
    const struct auth_user *us = u >= 0 ? &m->users[u] : NULL;
    double lat = (double)e->lat_e4 / 1e4, lon = (double)e->lon_e4 / 1e4, km = 0.0;
    int offset = us ? auth_cities[us->city].utc_offset_min : 0;
    uint32_t ip = 0;

    memset(f, 0, sizeof *f);
    f->failure = e->failure;
    f->unknown_user = us == NULL;
    f->new_device = !us || !e->fingerprint[0] || !is_user_device(m, (uint32_t)u, e->fingerprint);
    if (e->has_location) {
        int c = auth_nearest_city(lat, lon, &km);

        if (km < 300.0)
            offset = auth_cities[c].utc_offset_min;
        f->foreign = strcmp(e->country, us ? auth_cities[us->city].country : "US") != 0;
        if (us)
            f->km_from_home = auth_distance_km(us->home_lat, us->home_lon, lat, lon);
    }
    f->local_hour = timefmt_local_hour(e->ts_ms, offset);
    if (parse_ipv4(e->ip, &ip))
        f->datacenter = auth_is_datacenter(ip);
}

/* The data rules of SPEC §5 on what the database holds. */
static int label_of(const struct auth_rec *e, const struct auth_history *h)
{
    if (e->failure && h->failures + 1 >= AUTH_BRUTE_MIN_FAILURES)
        return AUTH_A_BRUTE_FORCE;
    if (h->has_prev && e->has_location) {
        double km = auth_distance_km(h->prev_lat, h->prev_lon, (double)e->lat_e4 / 1e4,
                                     (double)e->lon_e4 / 1e4);

        if (auth_impossible_travel(km, e->ts_ms - h->prev_ts_ms))
            return AUTH_A_LOCATION;
    }
    return -1;
}

enum bm_rc auth_from_input(const struct auth_model *m, const struct auth_input *in,
                           const struct auth_history *h, struct rng *r, int64_t t_us,
                           uint64_t seq, struct gen_event *ev, struct auth_detail *detail)
{
    struct rng saved = *r;
    struct auth_rec e;
    struct auth_features f;
    int64_t u = auth_find_user(m, in->username);
    enum bm_rc rc;

    if (in->result < 0 || in->result > 1 || in->reason >= AUTH_R_COUNT ||
        in->method >= AUTH_M_COUNT || in->device_type >= AUTH_D_COUNT)
        return BM_EINVAL;
    memset(&e, 0, sizeof e);
    rng_uuid4(r, e.id);
    e.ts_ms = timefmt_ms_of_us(t_us);
    e.seq = seq;
    input_rec(m, u, in, &e);
    input_features(m, u, &e, &f);
    e.anomaly = label_of(&e, h);
    auth_assess(&f, &e, r);
    rc = auth_rec_encode(&e, ev->json);
    if (rc != BM_OK) {
        *r = saved;
        return rc;
    }
    auth_rec_detail(&e, detail);
    ev->ts_ms = e.ts_ms;
    ev->seq = seq;
    ev->anomaly_type = e.anomaly >= 0 ? auth_anomaly_names[e.anomaly] : NULL;
    ev->detail = detail;
    return BM_OK;
}
