/* arrival.h - the generated stream's clock, pure: the seeds of a
 * service's streams and its arrival process (a Poisson process at
 * events_per_second x the shaping factor, or evenly spaced samples).
 * genloop.c drives a service's stream with it and bankmock-generate
 * replays the same stream offline, so the two agree byte for byte: the
 * order and number of draws here are part of every stream's bytes. */
#ifndef BM_COMMON_ARRIVAL_H
#define BM_COMMON_ARRIVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"

/* The streams a service draws from, each with its own PRNG. */
enum arrival_stream { ARRIVAL_GENERATED = 0, ARRIVAL_API = 1 };

/* What the next gap depends on besides the time and the PRNG. */
struct arrival_rate {
    double events_per_second;
    bool constant_rate; /* evenly spaced, no draw (monitoring's samples) */
    bool time_shaping;  /* false: a flat rate (load tests) */
    int tz_offset_min;  /* the bank's time zone, for the shaping factor */
};

/* The shaping factor's cache: constant within a local hour. */
struct arrival_cache {
    int64_t hour; /* INT64_MIN: empty */
    double factor;
};

/* The seed of one of a service's streams: the service's name is mixed
 * in, so one --seed never gives two services the same ids. */
uint64_t arrival_stream_seed(uint64_t seed, const char *svc_name, enum arrival_stream which);

void arrival_cache_init(struct arrival_cache *c);

/* The shaping factor at t_us (1.0 when shaping is off). */
double arrival_factor(struct arrival_cache *c, const struct arrival_rate *rate, int64_t t_us);

/* The gap from an arrival at t_us to the next one: one exponential draw
 * from r unless the rate is constant; at least 1 us (so times are
 * strictly increasing), at most an hour. */
int64_t arrival_gap_us(struct arrival_cache *c, const struct arrival_rate *rate, struct rng *r,
                       int64_t t_us);

#endif
