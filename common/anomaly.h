/* anomaly.h - deficit scheduler that keeps the labelled fraction of a
 * generated stream, and each anomaly type's share of it, on target
 * whatever the incident sizes and durations.
 *
 * Per generated event the generator calls anom_weights() and anom_tick()
 * with the current weights and anomaly rate p; `expected` grows by p.
 * Every anomalous event the generator emits, the first of an incident or a
 * later step, is reported with anom_emitted(). When expected - emitted
 * reaches a random threshold in [0, 1), anom_tick() returns true; the
 * generator then asks anom_pick() for the type of a new incident, emits its
 * first event and calls anom_started().
 *
 * Pacing by events emitted, not by events promised, keeps the labelled
 * fraction right over any window even while long incidents are still
 * under way (after a start, when the rate changes): later steps of running
 * incidents simply stand in for new starts. The count trails the target by
 * less than one event and leads it by at most ANOM_AHEAD_MAX, as long as
 * the generator asks anom_step_ok() before a later step and always emits
 * an anomaly when anom_tick() says so. anom_pick() chooses the type
 * that is furthest behind its share of the anomalous events emitted, with
 * a little jitter so the order is not a fixed pattern, so type shares
 * match the weights whatever the incident sizes. Pure; state is POD so it
 * can be persisted as bytes. */
#ifndef BM_COMMON_ANOMALY_H
#define BM_COMMON_ANOMALY_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"

#define ANOM_MAX_TYPES 8

struct anom_sched {
    double expected;  /* sum of p over events seen */
    double emitted;   /* anomalous events emitted */
    double threshold; /* deficit that starts the next incident, [0, 1) */
    /* Normalised weights in force, and per type its share of the anomalous
     * events emitted under them minus its own events. Reset when the
     * weights change, so old debts do not starve a type afterwards. */
    double weights[ANOM_MAX_TYPES];
    double owed[ANOM_MAX_TYPES];
    int32_t n_types; /* 1 .. ANOM_MAX_TYPES */
    int32_t zero;    /* padding, kept 0: the state is stored as bytes */
};

void anom_init(struct anom_sched *s, struct rng *r, int n_types);
/* The rate p that applies: rate capped at 1, with the weights w[n] cleaned
 * into out[n] (negative and non-finite ones 0); 0 when no type has weight
 * (or rate is not positive), so no deficit piles up while all are off. */
double anom_rate(double rate, const double *w, int n, double *out);
/* True if s is in range: bytes from disk are checked before use. */
bool anom_valid(const struct anom_sched *s, int n_types);
/* Takes the current relative weights w[n_types] (non-negative, finite). */
void anom_weights(struct anom_sched *s, const double *w);
/* Accounts one event at rate p; true if an incident should start now. */
bool anom_tick(struct anom_sched *s, double p);
/* The type of the incident to start: among types with weight, the one
 * furthest behind its share; -1 if no type has weight. */
int anom_pick(const struct anom_sched *s, struct rng *r);
/* An incident was started (its first event goes to anom_emitted()). */
void anom_started(struct anom_sched *s, struct rng *r);
/* One anomalous event of type t (0 .. n_types - 1) was emitted. */
void anom_emitted(struct anom_sched *s, int t);
/* True if a later step of an incident under way may be emitted now at
 * rate p: the labelled count then stays within ANOM_AHEAD_MAX of the
 * target. Else the step waits for an event or two (it is due, not late).
 * At rate 0 always true: incidents under way finish on schedule. */
bool anom_step_ok(const struct anom_sched *s, double p);

#define ANOM_AHEAD_MAX 7.0 /* below one maximum incident (8 events) */

#endif
