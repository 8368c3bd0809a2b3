/* xincident.h - the schedule of cross-service incidents: a pure function
 * of the stream seed and simulated time, so the three services, started
 * apart with the same --seed, agree on every shared incident (id, kind,
 * times, entity) without talking to each other. Each service takes its
 * own part of each one from the schedule; none needs the others running.
 *
 * Rules (docs/api.md, "Cross-service incidents"):
 * - Time is cut into UTC hours of simulated time (slot k is
 *   [k h, (k + 1) h) since the epoch), so a schedule does not depend on
 *   when a service started: two started a few ms apart agree.
 * - Each slot holds at most one incident: with chance XINC_CHANCE, drawn
 *   from its own stream (seeded by rng_hash of the seed, a salt and k).
 * - Its kind: an account takeover with chance XINC_TAKEOVER_SHARE, else an
 *   infrastructure cascade.
 * - Its start: uniform in the slot's first XINC_START_SPAN_MS, so it plays
 *   out within its hour (no two overlap).
 * - Its id: a UUID v4 from the same stream, shared by its events in every
 *   service.
 * - Its entity: 64 bits each service maps to its own population (a
 *   takeover's customer index as entity % customers; a cascade's origin
 *   among the backends with two dependent services or more).
 * - A takeover's follow-up lag: XINC_LAG_MIN_MS..XINC_LAG_MAX_MS after
 *   the login the transactions begin.
 * - The bank's XINC_CUSTOMERS customers have numbers (CUST_nnnnnn) that
 *   are a function of the seed alone (xincident_customer_nums), shared by
 *   the transaction population (customer i) and the auth one (user i), so
 *   entity % XINC_CUSTOMERS names the same customer in both.
 *
 * A service emits its part of an incident with its first event at or
 * after the part's planned time, when the previous event was before it
 * (xincident_due), so it needs no state of its own beyond the previous
 * event's time. */
#ifndef BM_COMMON_XINCIDENT_H
#define BM_COMMON_XINCIDENT_H

#include <stdbool.h>
#include <stdint.h>

#include "rc.h"
#include "rng.h"

#define XINC_SLOT_MS        3600000LL
#define XINC_CHANCE         0.5
#define XINC_TAKEOVER_SHARE (2.0 / 3.0)
#define XINC_START_SPAN_MS  (45LL * 60000)
#define XINC_LAG_MIN_MS     (2LL * 60000)
#define XINC_LAG_MAX_MS     (10LL * 60000)
#define XINC_CUSTOMERS      10000u  /* the bank's customers (and auth users) */
#define XINC_CUST_MIN       100000u /* customer numbers have 6 digits */
#define XINC_CUST_SPAN      900000u
/* A takeover's owner logs in normally this long before the attacker (so
 * the attacker's login is impossible travel from it). */
#define XINC_OWNER_MIN_MS   (30LL * 1000)
#define XINC_OWNER_MAX_MS   (4LL * 60000)

enum xinc_kind {
    XINC_TAKEOVER, /* auth: a login from an unusual place; then the customer's fraud */
    XINC_CASCADE,  /* monitoring: a cascade; auth failures, slow or declined payments */
};

struct xinc {
    char id[RNG_UUID_LEN + 1];
    uint8_t raw[16];  /* the id as bytes */
    int kind;         /* enum xinc_kind */
    int64_t slot;     /* the UTC hour it is in */
    int64_t start_ms; /* its first event's time (the login; the cascade's onset) */
    int64_t lag_ms;   /* takeover: from the login to the first transaction; else 0 */
    uint64_t entity;  /* mapped by each service to its population */
};

/* The incident of slot k, if it has one. */
bool xincident_of_slot(uint64_t seed, int64_t slot, struct xinc *out);
/* The incidents starting in [from_ms, to_ms), in time order, up to max
 * into out; returns how many there are in all (may exceed max). */
int xincident_schedule(uint64_t seed, int64_t from_ms, int64_t to_ms, struct xinc *out, int max);
/* The incident of kind whose part planned at at(x) (ms) falls in
 * (last_us, t_us]: the part the event at t_us must start. None when
 * last_us is 0 (the stream's first event: nothing before it). */
bool xincident_due(uint64_t seed, int kind, int64_t (*at)(const struct xinc *x),
                   int64_t last_us, int64_t t_us, struct xinc *out);
/* A takeover's owner login time (ms): XINC_OWNER_*_MS before its start. */
int64_t xincident_owner_ms(const struct xinc *x);
/* A takeover's first transaction time (ms). */
int64_t xincident_followup_ms(const struct xinc *x);
/* A cascade's or a takeover's start (ms). */
int64_t xincident_start_ms(const struct xinc *x);
/* The bank's customer numbers, increasing, XINC_CUST_MIN .. +SPAN: a
 * function of the seed alone. BM_ENOMEM. */
enum bm_rc xincident_customer_nums(uint64_t seed, uint32_t *out) BM_WUR;
/* A cascade's origin: entity % XINC_N_ORIGINS into the backends with two
 * dependent services or more (monitoring's estate); its window, in which
 * the services it hits show it: XINC_CASCADE_MIN_MS..MAX_MS from its
 * start. */
#define XINC_N_ORIGINS      4
#define XINC_CASCADE_MIN_MS (3LL * 60000)
#define XINC_CASCADE_MAX_MS (8LL * 60000)
extern const char *const xincident_origins[XINC_N_ORIGINS];
int xincident_cascade_origin(const struct xinc *x);
int64_t xincident_cascade_end_ms(const struct xinc *x);
/* The services a cascade reaches beyond monitoring, by origin (a bit per
 * XINC_HIT_*): the callers of the origin in monitoring's estate
 * (services/monitoring/model.c; test_mon_model checks the two agree).
 * core-database and redis-cache: auth and transactions; kafka and
 * fraud-scoring: transactions. */
#define XINC_HIT_AUTH 1u
#define XINC_HIT_TXN  2u
extern const unsigned xincident_cascade_hits[XINC_N_ORIGINS];
/* A cascade's part in a service it hits: n events (n_min..n_max, from the
 * id and the service's bit) planned in the window, the first
 * XINC_PART_DELAY_MS after the start, spread to its end in increasing
 * time. The service may leave any of them out but the last, which
 * closes the incident: it is owed from its planned time until the
 * service has emitted it, which it records as the part's slot + 1 in
 * `done` (xincident_part_done): every slot below done is settled.
 *
 * The event at t_us (after one at last_us) may carry: the last, while it
 * is owed (its slot, t's or the one before, is not below done);
 * else the k-th, the latest planned in (last_us, t_us]. None when
 * last_us is 0. */
#define XINC_PART_DELAY_MS (20LL * 1000)
struct xinc_part {
    struct xinc x;
    int k; /* 0 .. n - 1 */
    int n;
};
bool xincident_cascade_part(uint64_t seed, unsigned hit, int n_min, int n_max, uint32_t done,
                            int64_t last_us, int64_t t_us, struct xinc_part *out);
/* What a service keeps once it emitted a part's last event. */
uint32_t xincident_part_done(const struct xinc_part *p);
/* What it keeps at its stream's first event, at t_us: the parts whose
 * last is planned before it are settled (none of theirs is owed). */
uint32_t xincident_part_start(uint64_t seed, unsigned hit, int n_min, int n_max, int64_t t_us);
/* The slot of simulated time t_ms (floor division). */
int64_t xincident_slot_of(int64_t t_ms);

#endif
