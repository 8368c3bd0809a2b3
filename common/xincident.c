/* xincident.c - the schedule of cross-service incidents (see xincident.h). */
#include "xincident.h"

#include <string.h>

#define XINC_SALT 0x78696e6369646e74ull /* "xincidnt" */
#define CUST_SALT 0x78637573746f6d72ull /* "xcustomr" */

int64_t xincident_slot_of(int64_t t_ms)
{
    return t_ms >= 0 ? t_ms / XINC_SLOT_MS : -((-t_ms + XINC_SLOT_MS - 1) / XINC_SLOT_MS);
}

bool xincident_of_slot(uint64_t seed, int64_t slot, struct xinc *out)
{
    struct rng r;

    rng_seed(&r, rng_hash(XINC_SALT, seed, (uint64_t)slot));
    if (!rng_chance(&r, XINC_CHANCE))
        return false;
    memset(out, 0, sizeof *out);
    out->slot = slot;
    out->kind = rng_chance(&r, XINC_TAKEOVER_SHARE) ? XINC_TAKEOVER : XINC_CASCADE;
    out->start_ms = slot * XINC_SLOT_MS + (int64_t)rng_below(&r, (uint64_t)XINC_START_SPAN_MS);
    rng_uuid4_bytes(&r, out->raw); /* as rng_uuid4 draws */
    rng_uuid_text(out->raw, out->id);
    out->entity = rng_next(&r);
    if (out->kind == XINC_TAKEOVER)
        out->lag_ms = rng_range(&r, XINC_LAG_MIN_MS, XINC_LAG_MAX_MS);
    return true;
}

int xincident_schedule(uint64_t seed, int64_t from_ms, int64_t to_ms, struct xinc *out, int max)
{
    int n = 0;

    if (to_ms <= from_ms)
        return 0;
    for (int64_t k = xincident_slot_of(from_ms); k <= xincident_slot_of(to_ms - 1); k++) {
        struct xinc x;

        if (!xincident_of_slot(seed, k, &x) || x.start_ms < from_ms || x.start_ms >= to_ms)
            continue;
        if (n < max)
            out[n] = x;
        n++;
    }
    return n;
}

bool xincident_due(uint64_t seed, int kind, int64_t (*at)(const struct xinc *x),
                   int64_t last_us, int64_t t_us, struct xinc *out)
{
    int64_t last_ms = last_us / 1000, t_ms = t_us / 1000;

    if (last_us <= 0 || t_us <= last_us)
        return false;
    /* a part is planned within an hour either side of its slot */
    for (int64_t k = xincident_slot_of(last_ms) - 1; k <= xincident_slot_of(t_ms) + 1; k++) {
        struct xinc x;
        int64_t p;

        if (!xincident_of_slot(seed, k, &x) || x.kind != kind)
            continue;
        p = at(&x);
        if (p > last_ms && p <= t_ms) {
            *out = x;
            return true;
        }
    }
    return false;
}

int64_t xincident_owner_ms(const struct xinc *x)
{
    return x->start_ms - XINC_OWNER_MIN_MS -
           (int64_t)((x->entity >> 40) % (uint64_t)(XINC_OWNER_MAX_MS - XINC_OWNER_MIN_MS));
}

int64_t xincident_followup_ms(const struct xinc *x)
{
    return x->start_ms + x->lag_ms;
}

int64_t xincident_start_ms(const struct xinc *x)
{
    return x->start_ms;
}

enum bm_rc xincident_customer_nums(uint64_t seed, uint32_t *out)
{
    struct rng r;

    rng_seed(&r, rng_hash(CUST_SALT, seed, 0));
    return rng_distinct(&r, XINC_CUST_MIN, XINC_CUST_SPAN, XINC_CUSTOMERS, out);
}

/* Monitoring's backends with two dependent services or more, in its
 * estate's order (services/monitoring/model.c checks the names). */
const char *const xincident_origins[XINC_N_ORIGINS] = {
    "core-database", "redis-cache", "kafka", "fraud-scoring",
};

int xincident_cascade_origin(const struct xinc *x)
{
    return (int)(x->entity % XINC_N_ORIGINS);
}

int64_t xincident_cascade_end_ms(const struct xinc *x)
{
    return x->start_ms + XINC_CASCADE_MIN_MS +
           (int64_t)((x->entity >> 40) % (uint64_t)(XINC_CASCADE_MAX_MS - XINC_CASCADE_MIN_MS));
}
