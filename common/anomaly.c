/* anomaly.c - deficit scheduler for labelled anomalies (see anomaly.h).
 *
 * Invariant, with D = expected - scheduled and M = max_incident: an
 * incident starts only once D >= threshold >= 0 and commits at most M
 * events, so D never drops below -M; and D stays below threshold < M until
 * it triggers. Hence |scheduled - expected| <= M whatever p does, as long
 * as the generator commits when told to (if it cannot, D simply waits). */
#include "anomaly.h"

static double draw_threshold(struct rng *r, int max_incident)
{
    return rng_double(r) * (double)max_incident;
}

void anom_init(struct anom_sched *s, struct rng *r, int max_incident)
{
    s->expected = 0.0;
    s->scheduled = 0.0;
    s->max_incident = max_incident > 0 ? max_incident : 1;
    s->threshold = draw_threshold(r, s->max_incident);
}

bool anom_tick(struct anom_sched *s, double p)
{
    /* !(p > 0) also catches NaN: a broken rate must not start incidents,
     * and a threshold of exactly 0 must not fire at rate 0. */
    if (!(p > 0.0))
        return false;
    s->expected += p;
    return s->expected - s->scheduled >= s->threshold;
}

void anom_commit(struct anom_sched *s, struct rng *r, int size)
{
    if (size > 0)
        s->scheduled += (double)size;
    s->threshold = draw_threshold(r, s->max_incident);
}
