/* gen.h - the contract between the common generator loop and a service's
 * pure generator: settings, output event. No I/O, no clocks, no globals. */
#ifndef BM_COMMON_GEN_H
#define BM_COMMON_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "rng.h"

#define GEN_MAX_TYPES 8

/* Snapshot of the settings the generator needs for one event. */
struct gen_params {
    double anomaly_rate;               /* 0..0.5 */
    double weights[GEN_MAX_TYPES];     /* relative, service's type order */
    double failed_login_rate;          /* auth only */
    double segments[3];                /* retail, business, premium shares */
    int tz_offset_min;                 /* bank's time zone */
};

/* One event produced by a generator (or built from an API request). */
struct gen_event {
    int64_t ts_ms;            /* event timestamp (ms since epoch) */
    uint64_t seq;             /* sequence assigned by the loop */
    const char *anomaly_type; /* static string, NULL when normal */
    struct buf *json;         /* the generator appends the JSON object */
    const void *detail;       /* service-specific fields for store_event, or NULL */
    char incident_id[RNG_UUID_LEN + 1]; /* its multi-event incident; "" if none */
    bool incident_open;       /* more events of that incident are to come */
};

#endif
