/* xincident.c - the schedule of cross-service incidents (see xincident.h). */
#include "xincident.h"

#include <string.h>

#define XINC_SALT 0x78696e6369646e74ull /* "xincidnt" */

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
    rng_uuid4(&r, out->id);
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
