/* xincident.c - the schedule of cross-service incidents (see xincident.h). */
#include "xincident.h"

#include <string.h>

#define XINC_SALT 0x78696e6369646e74ull /* "xincidnt" */
#define CUST_SALT 0x78637573746f6d72ull /* "xcustomr" */

int64_t xincident_slot_of(int64_t t_ms)
{
    return t_ms >= 0 ? t_ms / XINC_SLOT_MS : -((-t_ms + XINC_SLOT_MS - 1) / XINC_SLOT_MS);
}

/* A slot's incident is asked for several times per event (each part's
 * due check looks at the slots around the event), so the last few are
 * kept per thread: a pure function's memo, the same answers. */
#define MEMO_SLOTS 4
struct memo {
    uint64_t seed;
    int64_t slot;
    bool valid, has;
    struct xinc x;
};
static _Thread_local struct memo memo[MEMO_SLOTS];
static _Thread_local unsigned memo_next;

static bool slot_draw(uint64_t seed, int64_t slot, struct xinc *out);

bool xincident_of_slot(uint64_t seed, int64_t slot, struct xinc *out)
{
    struct memo *m;

    for (int i = 0; i < MEMO_SLOTS; i++) {
        m = &memo[i];
        if (m->valid && m->slot == slot && m->seed == seed) {
            if (m->has)
                *out = m->x;
            return m->has;
        }
    }
    m = &memo[memo_next++ % MEMO_SLOTS];
    m->seed = seed;
    m->slot = slot;
    m->has = slot_draw(seed, slot, &m->x);
    m->valid = true;
    if (m->has)
        *out = m->x;
    return m->has;
}

static bool slot_draw(uint64_t seed, int64_t slot, struct xinc *out)
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

const unsigned xincident_cascade_hits[XINC_N_ORIGINS] = {
    XINC_HIT_AUTH | XINC_HIT_TXN, /* core-database */
    XINC_HIT_AUTH | XINC_HIT_TXN, /* redis-cache */
    XINC_HIT_TXN,                 /* kafka */
    XINC_HIT_TXN,                 /* fraud-scoring */
};

_Static_assert(XINC_START_SPAN_MS + XINC_CASCADE_MAX_MS < XINC_SLOT_MS,
               "a cascade's window ends within its slot");

#define PART_SALT 0x78706172746d7321ull /* "xpartms!" */

/* The k-th of n planned times (ms) of slot x's part for service bit hit. */
static int64_t part_ms(const struct xinc *x, unsigned hit, int k, int n)
{
    int64_t a = x->start_ms + XINC_PART_DELAY_MS, span = xincident_cascade_end_ms(x) - a;
    /* within its n-th of the span, in its first nine tenths: increasing */
    uint64_t u = rng_hash(PART_SALT ^ x->entity, hit, (uint64_t)k) % 900u;

    return a + (span * k) / n + (span * (int64_t)u) / (1000 * (int64_t)n);
}

/* Whether slot's incident is a cascade that hits `hit`, with the part's
 * size in *n. */
static bool part_of_slot(uint64_t seed, int64_t slot, unsigned hit, int n_min, int n_max,
                         struct xinc *x, int *n)
{
    if (!xincident_of_slot(seed, slot, x) || x->kind != XINC_CASCADE ||
        !(xincident_cascade_hits[xincident_cascade_origin(x)] & hit))
        return false;
    *n = n_min + (int)(rng_hash(PART_SALT, x->entity, hit) % (uint64_t)(n_max - n_min + 1));
    return true;
}

uint32_t xincident_part_done(const struct xinc_part *p)
{
    return (uint32_t)p->x.slot + 1u;
}

uint32_t xincident_part_start(uint64_t seed, unsigned hit, int n_min, int n_max, int64_t t_us)
{
    int64_t t_ms = t_us / 1000, s = xincident_slot_of(t_ms);
    struct xinc x;
    int n;

    if (part_of_slot(seed, s, hit, n_min, n_max, &x, &n) && part_ms(&x, hit, n - 1, n) > t_ms)
        return (uint32_t)s; /* the slot before is settled, this one to come */
    return (uint32_t)s + 1u;
}

bool xincident_cascade_part(uint64_t seed, unsigned hit, int n_min, int n_max, uint32_t done,
                            int64_t last_us, int64_t t_us, struct xinc_part *out)
{
    int64_t last_ms = last_us / 1000, t_ms = t_us / 1000, s_t = xincident_slot_of(t_ms);

    if (last_us <= 0 || t_us <= last_us || n_min < 1 || n_max < n_min)
        return false;
    /* the last owed: a window ends within its slot (XINC_START_SPAN_MS +
     * XINC_CASCADE_MAX_MS is under an hour), so its last is owed from then
     * on in its slot, and in the next should the events be that sparse */
    for (int64_t s = s_t - 1; s <= s_t; s++) {
        struct xinc x;
        int n;

        if ((int64_t)done <= s && part_of_slot(seed, s, hit, n_min, n_max, &x, &n) &&
            part_ms(&x, hit, n - 1, n) <= t_ms) {
            out->x = x;
            out->k = n - 1;
            out->n = n;
            return true;
        }
    }
    /* else the latest planned in (last, t]: the slots of the two ends can
     * hold it, the later first, as its part is the newer */
    for (int64_t s = s_t; s >= xincident_slot_of(last_ms); s--) {
        struct xinc x;
        int n;

        if (!part_of_slot(seed, s, hit, n_min, n_max, &x, &n))
            continue;
        for (int k = n - 2; k >= 0; k--) {
            int64_t p = part_ms(&x, hit, k, n);

            if (p <= last_ms)
                break;
            if (p <= t_ms) {
                out->x = x;
                out->k = k;
                out->n = n;
                return true;
            }
        }
    }
    return false;
}
