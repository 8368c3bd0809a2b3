/* anomaly.c - deficit scheduler for labelled anomalies (see anomaly.h).
 *
 * Invariant, with D = expected - emitted: a new incident starts only once
 * D >= threshold >= 0, and its first event takes 1 off D; D stays below
 * threshold < 1 until it triggers. So the labelled count never trails the
 * target by more than one event (as long as the generator emits something
 * when told to). Later steps of incidents come when due, which may be
 * faster than the rate asks for (many incidents started together, the
 * rate just lowered); anom_step_ok() holds a due step back while it would
 * put the count more than ANOM_AHEAD_MAX ahead, so D >= -ANOM_AHEAD_MAX.
 *
 * Type shares: owed[i] gains weights[i] per anomalous event and loses 1 per
 * event of type i, so sum(owed) is constant and each owed[i] is the lag of
 * type i behind its share. Starting the type with the largest owed keeps
 * every lag within a few incidents; the jitter of up to PICK_JITTER events
 * only chooses among types about equally behind. */
#include <math.h>
#include <string.h>

#include "anomaly.h"

#define PICK_JITTER 1.0

void anom_init(struct anom_sched *s, struct rng *r, int n_types)
{
    memset(s, 0, sizeof *s);
    s->n_types = n_types < 1 ? 1 : n_types > ANOM_MAX_TYPES ? ANOM_MAX_TYPES : n_types;
    s->threshold = rng_double(r);
}

double anom_rate(double rate, const double *w, int n, double *out)
{
    double sum = 0.0;

    for (int i = 0; i < n; i++) {
        out[i] = isfinite(w[i]) && w[i] > 0.0 ? w[i] : 0.0;
        sum += out[i];
    }
    if (!(sum > 0.0) || !isfinite(sum) || !(rate > 0.0))
        return 0.0;
    return rate < 1.0 ? rate : 1.0;
}

bool anom_valid(const struct anom_sched *s, int n_types)
{
    return s->n_types == n_types && n_types >= 1 && n_types <= ANOM_MAX_TYPES &&
           s->zero == 0 && s->threshold >= 0.0 && s->threshold < 1.0;
}

void anom_weights(struct anom_sched *s, const double *w)
{
    double norm[ANOM_MAX_TYPES], sum = 0.0;
    bool same = true;

    for (int i = 0; i < s->n_types; i++)
        sum += isfinite(w[i]) && w[i] > 0.0 ? w[i] : 0.0;
    for (int i = 0; i < s->n_types; i++) {
        norm[i] = sum > 0.0 && isfinite(sum) && isfinite(w[i]) && w[i] > 0.0 ? w[i] / sum : 0.0;
        same = same && norm[i] == s->weights[i];
    }
    if (same)
        return;
    memcpy(s->weights, norm, sizeof norm[0] * (size_t)s->n_types);
    memset(s->owed, 0, sizeof s->owed);
}

bool anom_tick(struct anom_sched *s, double p)
{
    /* !(p > 0) also catches NaN: a broken rate must not start incidents,
     * and a threshold of exactly 0 must not fire at rate 0. */
    if (!(p > 0.0))
        return false;
    s->expected += p;
    return s->expected - s->emitted >= s->threshold;
}

int anom_pick(const struct anom_sched *s, struct rng *r)
{
    int best = -1;
    double best_v = 0.0;

    for (int i = 0; i < s->n_types; i++) {
        double v;

        if (!(s->weights[i] > 0.0))
            continue;
        v = s->owed[i] + PICK_JITTER * rng_double(r);
        if (best < 0 || v > best_v) {
            best = i;
            best_v = v;
        }
    }
    return best;
}

void anom_started(struct anom_sched *s, struct rng *r)
{
    s->threshold = rng_double(r);
}

void anom_emitted(struct anom_sched *s, int t)
{
    s->emitted += 1.0;
    if (t < 0 || t >= s->n_types)
        return;
    for (int i = 0; i < s->n_types; i++)
        s->owed[i] += s->weights[i];
    s->owed[t] -= 1.0;
}

bool anom_step_ok(const struct anom_sched *s, double p)
{
    if (!(p > 0.0))
        return true;
    return s->emitted + 1.0 - s->expected <= ANOM_AHEAD_MAX;
}
