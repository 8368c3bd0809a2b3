/* score.c - authentication service: the risk score of a login, from
 * what a bank's risk engine could see of it. */
#include <math.h>

#include "auth_internal.h"
#include "risk.h"

/* Only what a bank's risk engine sees in one login, plus noise: travellers,
 * typos and new phones score high too, some attacks pass as ordinary. */
void auth_assess(const struct auth_features *f, struct auth_rec *e, struct rng *r)
{
    double s = 0.03 + 0.07 * rng_double(r);

    if (f->failure)
        s += 0.20;
    if (f->new_device)
        s += 0.16;
    if (f->foreign)
        s += 0.14;
    s += 0.10 * fmin(1.0, f->km_from_home / 3000.0);
    if (f->unknown_user)
        s += 0.10;
    if (f->datacenter)
        s += 0.12;
    if (f->local_hour < 5)
        s += 0.06;
    e->risk_milli = llround(risk_score(s, r) * 1000.0);
}
