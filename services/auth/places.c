/* places.c - authentication service: where logins come from. The cities,
 * the address space of each region and of hosting providers, and the
 * geometry between places (great-circle distance, impossible travel,
 * nearest city, a point near a place). Pure tables and functions. */
#include <math.h>

#include "auth_internal.h"

#define EARTH_KM 6371.0088
#define DEG      0.017453292519943295
#define TWO_PI   6.283185307179586

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

void auth_near_point(double u1, double u2, double lat, double lon, double km, double *olat,
                     double *olon)
{
    double d = km * sqrt(u1), a = TWO_PI * u2;

    *olat = lat + d * cos(a) / 111.32;
    *olon = lon + d * sin(a) / (111.32 * cos(lat * DEG));
}
