/* anomaly.h - deficit scheduler that keeps the labelled fraction of a
 * generated stream on target whatever the incident sizes.
 *
 * Per generated event the generator calls anom_tick() with the current
 * anomaly rate p; `expected` grows by p. When expected - scheduled reaches
 * a random threshold in [0, max_incident), anom_tick() returns true and the
 * generator starts an incident of k events and calls anom_commit(k). So the
 * cumulative deficit stays within one maximum incident of the target while
 * the spacing between incidents stays irregular. Pure; state is POD so it
 * can be persisted as bytes. */
#ifndef BM_COMMON_ANOMALY_H
#define BM_COMMON_ANOMALY_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"

struct anom_sched {
    double expected;  /* sum of p over events seen */
    double scheduled; /* anomalous events committed to (incl. pending) */
    double threshold; /* deficit that starts the next incident */
    int max_incident; /* largest incident the service makes */
};

void anom_init(struct anom_sched *s, struct rng *r, int max_incident);
/* Account one event at rate p; true if an incident should start now. */
bool anom_tick(struct anom_sched *s, double p);
/* An incident of `size` anomalous events was started. */
void anom_commit(struct anom_sched *s, struct rng *r, int size);

#endif
