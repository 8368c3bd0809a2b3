/* arrival.c - the generated stream's clock (arrival.h). */
#include "arrival.h"

#include "shaping.h"
#include "timefmt.h"

uint64_t arrival_stream_seed(uint64_t seed, const char *svc_name, enum arrival_stream which)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a of the name */

    for (const char *p = svc_name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return rng_hash(seed, h, (uint64_t)which);
}

void arrival_cache_init(struct arrival_cache *c)
{
    c->hour = INT64_MIN;
    c->factor = 1.0;
}

/* Keyed by the local hour, not the UTC one, so a half-hour time zone
 * gets its change of factor on time. */
double arrival_factor(struct arrival_cache *c, const struct arrival_rate *rate, int64_t t_us)
{
    int64_t ms = timefmt_ms_of_us(t_us);
    int64_t hour = shaping_hour(ms, rate->tz_offset_min);

    if (!rate->time_shaping)
        return 1.0; /* flat: the cache stays valid for later */
    if (hour != c->hour) {
        c->hour = hour;
        c->factor = shaping_factor(ms, rate->tz_offset_min);
    }
    return c->factor;
}

int64_t arrival_gap_us(struct arrival_cache *c, const struct arrival_rate *rate, struct rng *r,
                       int64_t t_us)
{
    double eps = rate->events_per_second;
    double gap;

    if (rate->constant_rate) {
        gap = 1e6 / eps;
    } else {
        eps *= arrival_factor(c, rate, t_us);
        gap = rng_exp(r, 1e6 / eps);
    }
    if (gap < 1.0)
        gap = 1.0; /* distinct microseconds keep the clock strictly ordered */
    if (gap > 3.6e9)
        gap = 3.6e9;
    return (int64_t)gap;
}
