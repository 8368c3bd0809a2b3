/* risk.c - the risk engine's noise and misfires (see risk.h). */
#include "risk.h"

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

double risk_score(double s, struct rng *r)
{
    s += 0.06 * rng_normal(r);
    /* Scoring models misfire: a few events of any kind score far too high. */
    if (rng_chance(r, 0.03))
        s += 0.25 + 0.35 * rng_double(r);
    return clamp01(s);
}
