/* incident.h - the table of multi-event incidents in flight and the pacing
 * of their steps, for generators whose anomalies span several events
 * (transaction, auth). Pure; every value it keeps lives in the caller's
 * POD state, so a replay is exact.
 *
 * Table: a binary min-heap of fixed-size slots on their due time. A slot
 * is the service's own POD incident struct, whose first member is
 * `int64_t next_us` (the simulated time its next event is due); slot 0 is
 * the next one due, and the slots past the count are kept zero, because
 * the state is stored as bytes. A generator works on a copy of the one
 * incident it steps or starts and applies what became of it with
 * inc_apply() once the event is out.
 *
 * Pacing: an incident holds a slot for its whole life, and by Little's law
 * the number in flight is starts/s x duration, so at high rates a table
 * of full-length incidents would fill, and refusing new incidents would
 * skew the labelled fraction and the type mix. Instead a new incident
 * gets its gaps scaled by 2^(-squeeze / 8) (inc_gap_us), the squeeze the
 * largest of:
 *
 * - load: from the arrival rate (inc_mean_dt: a moving average of the
 *   spacing of the event times), anomaly_rate and the weights, the service
 *   works out how many incidents would be in flight at full-length gaps.
 *   Above INC_LOAD_FIT of the table, gaps shrink in proportion, so the
 *   table settles near that fill whatever the rate.
 * - room: past nine tenths of the table (the first minutes of a stream,
 *   when every anomaly starts an incident; a burst), gaps shrink with
 *   (free / free at nine tenths)^3, so a nearly full table empties fast.
 * - the service's own lower bound, if it has one (auth: incidents span at
 *   most so many arrivals).
 *
 * Gaps never go below INC_GAP_FLOOR_US. An incident keeps the squeeze it
 * started with: those under way keep their schedule. */
#ifndef BM_COMMON_INCIDENT_H
#define BM_COMMON_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

#define INC_LOAD_FIT     0.8     /* the table's fill the load squeeze aims at */
#define INC_GAP_FLOOR_US 10000LL /* no gap is shorter */

/* What one call does to the table. */
enum inc_op {
    INC_NONE,
    INC_PUSH,        /* a new incident; the caller checked there is room */
    INC_REPLACE_TOP, /* slot 0 stepped and has steps to come */
    INC_POP_TOP,     /* slot 0 emitted its last step */
};

/* Applies op to the heap slots[0 .. *n) of `size`-byte slots. `in` is
 * the new or stepped incident for INC_PUSH and INC_REPLACE_TOP, unused
 * (may be NULL) otherwise. */
void inc_apply(void *slots, size_t size, uint32_t *n, enum inc_op op, const void *in);

/* The moving average of the arrival spacing (us) after an arrival at t_us,
 * given the previous arrival last_us and the average mean_dt_us over
 * *seen spacings; *seen is updated (it stops growing at the window).
 * 0 until there is a spacing; a spacing more than 8x the average counts
 * as 8x, so one long pause does not reset it. */
double inc_mean_dt(int64_t last_us, double mean_dt_us, uint32_t *seen, int64_t t_us);

/* The squeeze (eighths of a halving) of a new incident: load is the
 * number of incidents that would be in flight at full-length gaps,
 * n_active of max_active slots are in use, at_least the service's own
 * lower bound (0: none). */
uint8_t inc_squeeze(double load, uint32_t n_active, uint32_t max_active, double at_least);

/* A gap uniform in [lo, hi] us, scaled by 2^(-squeeze / 8), at least
 * INC_GAP_FLOOR_US. */
int64_t inc_gap_us(struct rng *r, int64_t lo, int64_t hi, uint8_t squeeze);

#endif
