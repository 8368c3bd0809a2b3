/* gen.h - the contract between the common generator loop and a service's
 * pure generator: settings, output event. No I/O, no clocks, no globals. */
#ifndef BM_COMMON_GEN_H
#define BM_COMMON_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rc.h"
#include "rng.h"

#define GEN_MAX_TYPES 8

/* An incident asked for by POST /inject (or a scenario), due now: the
 * generator starts it with this event if it can (gen_event.inject_taken),
 * else the loop offers it again with the next event. */
struct gen_inject {
    int type;       /* index into the service's anomaly types */
    int64_t target; /* index into the service's population; -1: the generator draws one */
    int size;       /* events in all */
    uint8_t id[16]; /* the incident's id (a single-event anomaly's: its event's id) */
    /* A service's part of a cross-service incident (xincident.h), not an
     * injection: origin "generated", yet like an injection no part of the
     * anomaly_rate scheduler's count. Never stored. */
    bool scheduled;
};

/* Snapshot of the settings the generator needs for one event. */
struct gen_params {
    double anomaly_rate;               /* 0..0.5 */
    double weights[GEN_MAX_TYPES];     /* relative, service's type order */
    double failed_login_rate;          /* auth only */
    double segments[3];                /* retail, business, premium shares */
    int tz_offset_min;                 /* bank's time zone */
    const struct gen_inject *inject;   /* NULL, or an injection due at this event */
};

/* One event produced by a generator (or built from an API request). */
struct gen_event {
    int64_t ts_ms;            /* event timestamp (ms since epoch) */
    uint64_t seq;             /* sequence assigned by the loop */
    const char *anomaly_type; /* static string, NULL when normal */
    struct buf *json;         /* the generator appends the JSON object */
    const void *detail;       /* service-specific fields for store_event, or NULL */
    char incident_id[RNG_UUID_LEN + 1]; /* its incident (a single-event anomaly: its own
                                           id); "" if normal */
    bool incident_open;       /* more events of that incident are to come */
    bool injected;            /* of an injected incident: origin "injected", not counted
                                 toward anomaly_rate */
    bool inject_taken;        /* this event started params.inject */
};

struct bm_config;

/* A service's generator, as its generator library gives it (the
 * service's generator.c): all that steps a stream, in a daemon
 * (genloop.c) or without one (bankmock-generate). */
struct service_gen {
    size_t state_size;  /* generator state, persisted as bytes */
    bool constant_rate; /* sample at a constant rate (monitoring) */
    /* The immutable model the generator and handlers read, built once
     * the stream's seed is known. */
    void *(*model_new)(uint64_t seed, const struct bm_config *c);
    void (*model_free)(void *model);
    void (*state_init)(void *state, struct rng *r);
    /* false if restored bytes are not a state this binary understands */
    bool (*state_valid)(const void *state);
    enum bm_rc (*generate)(const void *model, void *state, const struct gen_params *p,
                           struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev);
    /* Sharded (shard.h; the model built with the config's shard): the
     * slice's share of the bank's events, 0 when the slice is empty
     * (events_per_second x share is the shard's rate), and whether an
     * injection's target (gen_inject.target, >= 0) is in the slice. */
    double (*rate_share)(const void *model);
    bool (*owns_target)(const void *model, int64_t target);
};

#endif
