/* nearmiss.c - the monitoring service's normal look-alikes: busy hosts,
 * latency bumps, single spikes, partial cascades, network bursts. They are
 * normal traffic (is_anomaly false) that resembles an anomaly type without
 * meeting its rule, and their values cross the published severity
 * thresholds, so a sample's severity says what its value is, not whether
 * it is labelled.
 *
 * The rules they must not meet (SPEC §5) involve several series:
 * network_timeout is latency over 5 s with an error jump on one service,
 * cascade_failure onsets in both latency and errors of >= 3 services
 * within 60 s. So the look-alikes take turns by simulated time, a pure
 * function of the timestamp (no state, a restart keeps it):
 *  - each service alternates 10-minute windows in which only latency
 *    look-alikes start and windows in which only error spikes do, with
 *    2 quiet minutes at the start of each: a service's latency and error
 *    look-alike onsets are always more than 60 s apart;
 *  - partial cascades (latency and errors on one host) run on two
 *    services in every third 5-minute slot, in its first 200 s only: any
 *    60 s holds the partials of at most 2 services;
 *  - latency spikes over 5 s stay away from a service's partial slots
 *    (the slot before, its own and the one after), so no look-alike puts
 *    latency over 5 s next to an error jump.
 * Pure: PRNG and time come in as arguments. */
#include <string.h>

#include "mon.h"

const char *const mon_near_names[MON_N_COUNT] = {
    "none", "busy", "latency_bump", "latency_spike", "error_spike", "partial_cascade",
    "network_burst",
};

/* Chances that a look-alike starts on a free sample its turn allows. */
#define P_BUSY     0.0025 /* utilisation sample */
#define P_BURST    0.0045 /* network sample */
#define P_SPIKE    0.045  /* latency sample, latency turn */
#define P_BUMP     0.004  /* latency sample, latency turn */
#define P_PARTIAL  0.06   /* latency sample, partial slot */
#define P_ERRSPIKE 0.045  /* error sample, error turn */

#define TURN_S    600 /* latency / error turns */
#define QUIET_S   120 /* at the start of each turn */
#define SLOT_S    300 /* partial cascade slots */
#define ACTIVE_S  200 /* partials start in a slot's first ACTIVE_S only */

static int64_t secs(int64_t t_ms)
{
    return t_ms >= 0 ? t_ms / 1000 : -((-t_ms + 999) / 1000);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* 0: latency turn, 1: error turn, -1: quiet. */
static int turn(int sv, int64_t t_s)
{
    int64_t w = floor_div(t_s, TURN_S);

    if (t_s - w * TURN_S < QUIET_S)
        return -1;
    return (int)((w + sv) & 1);
}

/* Every third slot is a partial slot, for two services in turn. */
static bool partial_service(int sv, int64_t slot)
{
    int64_t a, first;

    if (slot % 3 != 0)
        return false;
    a = ((slot / 3) % MON_N_SERVICES + MON_N_SERVICES) % MON_N_SERVICES;
    first = (3 * a) % MON_N_SERVICES;
    return sv == first || sv == (first + 1) % MON_N_SERVICES;
}

static bool partial_open(int sv, int64_t t_s)
{
    int64_t slot = floor_div(t_s, SLOT_S);

    return t_s - slot * SLOT_S < ACTIVE_S && partial_service(sv, slot);
}

/* Within 2 minutes of a partial slot of sv's (its onsets fall in the
 * slot's first ACTIVE_S). */
static bool near_partials(int sv, int64_t t_s)
{
    int64_t slot = floor_div(t_s, SLOT_S), into = t_s - slot * SLOT_S;

    return partial_service(sv, slot) ||
           (into < ACTIVE_S + QUIET_S - SLOT_S && partial_service(sv, slot - 1)) ||
           (into >= SLOT_S - QUIET_S && partial_service(sv, slot + 1));
}

static struct mon_near make(int kind, int lo, int hi, struct rng *r)
{
    struct mon_near n;

    memset(&n, 0, sizeof n);
    n.kind = (uint8_t)kind;
    n.left = (uint8_t)rng_range(r, lo, hi);
    return n;
}

bool mon_near_begin(int series, int64_t t_ms, bool err_free, struct rng *r, struct mon_near *n,
                    struct mon_near *err)
{
    int m = MON_SERIES_METRIC(series), sv = mon_hosts[MON_SERIES_HOST(series)].service;
    int64_t t_s = secs(t_ms);
    int tn = turn(sv, t_s);
    double u = rng_double(r);

    memset(n, 0, sizeof *n);
    memset(err, 0, sizeof *err);
    switch (m) {
    case MON_M_CPU:
    case MON_M_MEMORY:
    case MON_M_DISK:
        if (u < P_BUSY)
            *n = make(MON_N_BUSY, 4, 12, r);
        break;
    case MON_M_NET_IN:
    case MON_M_NET_OUT:
        if (u < P_BURST)
            *n = make(MON_N_BURST, 2, 6, r);
        break;
    case MON_M_ERROR:
        if (tn == 1 && u < P_ERRSPIKE)
            *n = make(MON_N_ERRSPIKE, 1, 1, r);
        break;
    case MON_M_RESPONSE:
        if (partial_open(sv, t_s)) {
            if (err_free && u < P_PARTIAL) {
                *n = make(MON_N_PARTIAL, 2, 3, r);
                n->factor = (int32_t)rng_range(r, 2500, 5000);
                *err = make(MON_N_PARTIAL, n->left + 1, n->left + 1, r);
                err->factor = (int32_t)rng_range(r, 300, 900);
            }
        } else if (tn == 0) {
            if (u < P_SPIKE && !near_partials(sv, t_s)) {
                *n = make(MON_N_SPIKE, 1, 1, r);
            } else if (u >= P_SPIKE && u < P_SPIKE + P_BUMP) {
                *n = make(MON_N_BUMP, 6, 16, r);
                n->factor = (int32_t)rng_range(r, 1300, 1800);
            }
        }
        break;
    default:
        break;
    }
    return n->kind != MON_N_NONE;
}

static int32_t clamp_i32(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : (int32_t)v;
}

static int64_t scale(int32_t v, int32_t per_mille)
{
    return (int64_t)v * per_mille / 1000;
}

/* Rises in steps of 5-25 %, dips 5-20 % after at most 3 rises (or by
 * chance earlier): the value is never strictly rising over 4 samples, so
 * never over the many a degradation takes. */
static int32_t bump_step(struct mon_near *n, int32_t normal, struct rng *r)
{
    bool first = n->level == 0;
    bool rise = first || (n->run < 3 && rng_below(r, 4) != 0);
    int64_t v;

    if (!first)
        n->factor = (int32_t)scale(n->factor, rise ? (int32_t)rng_range(r, 1050, 1250)
                                                   : (int32_t)rng_range(r, 800, 950));
    n->factor = clamp_i32(n->factor, 1000, 6000);
    v = clamp_i32(scale(normal, n->factor), normal, MON_RT_NORMAL_MAX);
    if (!rise && v >= n->level)
        v = n->level - 1 - rng_range(r, 0, n->level / 20);
    n->run = rise ? (uint8_t)(n->run + 1) : 0;
    return clamp_i32(v, 20, MON_RT_NORMAL_MAX);
}

int32_t mon_near_step(struct mon_near *n, int metric, int32_t normal, struct rng *r)
{
    bool first = n->level == 0;
    int64_t v;

    switch (n->kind) {
    case MON_N_BUSY: /* a batch job or a cache warming up; never over 90 */
        v = first ? 8010 + rng_range(r, 0, 600) : n->level + rng_range(r, -150, 150);
        v = clamp_i32(v, 7900, MON_UTIL_NORMAL_MAX);
        break;
    case MON_N_BURST: /* a backup or a replica catching up */
        v = first ? 90100 + rng_range(r, 0, 8000) : n->level + rng_range(r, -3000, 2000);
        v = clamp_i32(v, 85000, 99000);
        break;
    case MON_N_SPIKE: /* a stop-the-world pause or a slow query */
        v = 500100 + rng_range(r, 0, 700000);
        break;
    case MON_N_ERRSPIKE: /* a burst of client errors */
        v = 1010 + rng_range(r, 0, 1000);
        break;
    case MON_N_PARTIAL:
        if (metric == MON_M_ERROR)
            v = clamp_i32(scale(n->factor, (int32_t)rng_range(r, 850, 1150)), 300, 990);
        else
            v = clamp_i32(scale(normal, n->factor), normal + 100, MON_RT_NORMAL_MAX);
        break;
    default:
        v = bump_step(n, normal, r);
        break;
    }
    n->level = (int32_t)v;
    if (n->left)
        n->left--;
    if (n->left == 0)
        memset(n, 0, sizeof *n);
    return (int32_t)v;
}

bool mon_near_valid(const struct mon_near *n)
{
    if (n->kind >= MON_N_COUNT || n->zero || n->run > 3 || n->left > 16)
        return false;
    return n->kind == MON_N_NONE ? n->left == 0 : n->left > 0;
}
