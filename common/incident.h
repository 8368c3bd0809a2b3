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
 * started with: those under way keep their schedule.
 *
 * Driver: one generator call goes inc_begin() (the arrival average and
 * the scheduler's tick), inc_drive() (the anomaly this event is, if any:
 * the due step of the incident on top of the table, else a new incident
 * or single-event anomaly when the scheduler says so), the service's
 * normal event if none, and once the event is encoded, inc_commit(). The
 * call works on a copy (struct inc_call) so a failed encoding leaves the
 * state as it was. What is the service's own - its incident slot, what an
 * incident of a type is, how one step looks, how heavily its types load
 * the table - it gives as hooks (struct inc_ops); where the services'
 * policies differ, a flag says which (INC_F_*). */
#ifndef BM_COMMON_INCIDENT_H
#define BM_COMMON_INCIDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anomaly.h"
#include "gen.h"
#include "rc.h"
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

/* ---- the driver ---- */

/* The driver's view of a service's POD state. */
struct inc_state {
    struct anom_sched *sched;
    int64_t *last_us;     /* the previous call's t_us */
    double *mean_dt_us;   /* inc_mean_dt() */
    uint32_t *dt_seen;
    void *slots;          /* the heap of incident slots */
    uint32_t *n_active;
};

/* One call's working copy of what it may change. */
struct inc_call {
    struct rng r;            /* the call's stream, written back by inc_commit */
    struct anom_sched sched;
    double mean_dt_us;
    uint32_t dt_seen;
    double rate;             /* anomaly rate in force */
    int64_t ts_us;           /* the event's timestamp: t_us unless ops->step_time moves it */
    void *in;                /* the service's slot stepped or started (ops->slot_size bytes) */
    enum inc_op op;          /* what becomes of *in, applied by inc_commit */
    int anomaly;             /* the type emitted, -1 none; set by the emitting hooks */
    bool injected;           /* the event is an injected incident's: not counted */
};

/* Policies where the services differ. */
enum {
    /* A due step waits an event or two while the labelled count is
     * ANOM_AHEAD_MAX ahead of the target (anom_step_ok). */
    INC_F_WAIT_AHEAD = 1u << 0,
    /* Should a start find the table full, the incident due next steps
     * early instead, so the count never falls behind. */
    INC_F_FULL_STEPS_EARLY = 1u << 1,
};

/* A service's incidents. svc is the service's context for the call (its
 * model, state, event); hooks that emit write the event and set
 * c->anomaly. Optional hooks may be NULL. */
struct inc_ops {
    size_t slot_size;     /* sizeof the service's incident, next_us first */
    uint32_t max_active;  /* slots in the table */
    unsigned flags;       /* INC_F_* */
    /* The type of a new anomaly; -1 if none has weight. */
    int (*pick)(void *svc, struct inc_call *c);
    /* Whether anomalies of type span several events (an incident). */
    bool (*is_multi)(int type);
    /* Optional: whether a single-event anomaly of type can be emitted now
     * (NULL: always). Called before anom_started(); may draw from c->r. */
    bool (*single_ready)(void *svc, struct inc_call *c, int type);
    /* Emits a single-event anomaly of type at c->ts_us. */
    void (*single)(void *svc, struct inc_call *c, int type);
    /* Fills the zeroed slot c->in with a new incident of type, all but
     * its squeeze; returns the service's lower bound on the squeeze
     * (0: none). */
    double (*init)(void *svc, struct inc_call *c, int type);
    /* Incidents that would be in flight at full-length gaps (the load of
     * inc_squeeze) under the weights of s, at rate and mean spacing. */
    double (*load)(const struct anom_sched *s, double rate, double mean_dt_us);
    void (*set_squeeze)(void *slot, uint8_t squeeze);
    /* Whether a slot read back from the state can be stepped. */
    bool (*valid)(const void *svc, const void *slot);
    /* Optional: the timestamp of a step due at next_us, at an arrival at
     * t_us (NULL: t_us). */
    int64_t (*step_time)(const void *svc, int64_t next_us, int64_t t_us);
    /* Emits the next event of c->in at c->ts_us and advances it (its
     * next_us when steps remain); true if steps remain. */
    bool (*step)(void *svc, struct inc_call *c);
    /* Injection (optional; NULL: the service takes none). Whether slot
     * is an injected incident's. */
    bool (*injected)(const void *slot);
    /* Fills the zeroed slot c->in with the injected incident inj (marked
     * injected), all but its squeeze; returns as init does. */
    double (*inject_init)(void *svc, struct inc_call *c, const struct gen_inject *inj);
    /* Emits inj, a single-event type, at c->ts_us; false if it cannot be
     * placed now (it is offered again with the next event). */
    bool (*inject_single)(void *svc, struct inc_call *c, const struct gen_inject *inj);
};

/* Starts a call at t_us: copies what it may change from st into c (its
 * slot work space is `in`), updates the arrival average, and ticks the
 * scheduler with the rate and n weights w; true if an anomaly is due.
 * w_out[n] receives the cleaned weights. */
bool inc_begin(struct inc_call *c, const struct inc_state *st, void *in, struct rng *r,
               double rate, const double *w, int n, double *w_out, int64_t t_us);
/* The anomaly, if any, of the event at t_us (see the driver above);
 * BM_ESTATE if a slot read back from the state is not valid. */
enum bm_rc inc_drive(const struct inc_ops *ops, void *svc, const struct inc_state *st,
                     struct inc_call *c, bool due, int64_t t_us) BM_WUR;
/* Instead of inc_drive: starts the injected incident inj with the event
 * at t_us and emits its first event (c->injected). The scheduler is not
 * told: an injection is no part of anomaly_rate, and an anomaly due now
 * stays owed. *taken is false (nothing emitted, INC_NONE) when it cannot
 * start now: the table is full, or a single event cannot be placed. */
void inc_inject(const struct inc_ops *ops, void *svc, const struct inc_state *st,
                struct inc_call *c, const struct gen_inject *inj, int64_t t_us, bool *taken);
/* Whether the event at t_us may carry an event of a cross-service part
 * (xincident.h): no anomaly is due (due, from inc_begin) and no
 * incident's step is due, so such a part never delays the service's own
 * incidents. */
bool inc_free_for_part(const struct inc_state *st, bool due, int64_t t_us);
/* Writes the call back into st and r, once its event is out. */
void inc_commit(const struct inc_ops *ops, const struct inc_state *st,
                const struct inc_call *c, int64_t t_us, struct rng *r);

#endif
