/* incident.c - the table of incidents in flight and their pacing (see
 * incident.h). The heap works on slots as bytes, as qsort does, so each
 * service keeps its own incident struct and the layout of its persisted
 * state; only the first 8 bytes, the due time, are read. */
#include <math.h>
#include <string.h>

#include "incident.h"

#define SQUEEZE_FROM_NUM   9 /* the room squeeze from 90% full */
#define SQUEEZE_FROM_DEN   10
#define SQUEEZE_PER_OCTAVE 24.0 /* 8 steps per halving, cubed */
#define SQUEEZE_MAX        200  /* 2^-25: far below the floor already */
#define DT_WINDOW          1024u /* arrivals in the moving average */
#define DT_CLAMP           8.0   /* one long pause moves it 8x at most */

/* ---- the heap ---- */

static unsigned char *slot(unsigned char *slots, size_t size, uint32_t i)
{
    return slots + (size_t)i * size;
}

static int64_t due_us(unsigned char *slots, size_t size, uint32_t i)
{
    int64_t t;

    memcpy(&t, slot(slots, size, i), sizeof t);
    return t;
}

static void swap(unsigned char *slots, size_t size, uint32_t i, uint32_t j)
{
    unsigned char *a = slot(slots, size, i), *b = slot(slots, size, j);

    for (size_t k = 0; k < size; k++) {
        unsigned char t = a[k];

        a[k] = b[k];
        b[k] = t;
    }
}

static void heap_up(unsigned char *slots, size_t size, uint32_t i)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;

        if (due_us(slots, size, parent) <= due_us(slots, size, i))
            break;
        swap(slots, size, parent, i);
        i = parent;
    }
}

static void heap_down(unsigned char *slots, size_t size, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, best = i;

        if (l < n && due_us(slots, size, l) < due_us(slots, size, best))
            best = l;
        if (l + 1 < n && due_us(slots, size, l + 1) < due_us(slots, size, best))
            best = l + 1;
        if (best == i)
            break;
        swap(slots, size, best, i);
        i = best;
    }
}

void inc_apply(void *slots, size_t size, uint32_t *n, enum inc_op op, const void *in)
{
    unsigned char *s = slots;

    switch (op) {
    case INC_PUSH:
        memcpy(slot(s, size, *n), in, size);
        heap_up(s, size, (*n)++);
        break;
    case INC_REPLACE_TOP:
        memcpy(s, in, size);
        heap_down(s, size, *n, 0);
        break;
    case INC_POP_TOP:
        if (*n == 0)
            break;
        --*n;
        memmove(s, slot(s, size, *n), size); /* the same slot when it was the last */
        memset(slot(s, size, *n), 0, size);
        heap_down(s, size, *n, 0);
        break;
    default:
        break;
    }
}

/* ---- pacing ---- */

double inc_mean_dt(int64_t last_us, double mean_dt_us, uint32_t *seen, int64_t t_us)
{
    double dt = (double)t_us - (double)last_us; /* no int overflow on bad bytes */
    double m = mean_dt_us;

    if (*seen == 0 && last_us == 0) /* the first call: no spacing yet */
        return 0.0;
    if (!(dt > 0.0) || !isfinite(dt))
        return m;
    if (*seen == 0 || !(m > 0.0) || !isfinite(m)) { /* the first spacing, or bad bytes */
        *seen = 1;
        return dt;
    }
    if (dt > DT_CLAMP * m)
        dt = DT_CLAMP * m;
    if (*seen < DT_WINDOW)
        ++*seen;
    return m + (dt - m) / (double)*seen;
}

uint8_t inc_squeeze(double load, uint32_t n_active, uint32_t max_active, double at_least)
{
    const uint32_t free0 = max_active - max_active * SQUEEZE_FROM_NUM / SQUEEZE_FROM_DEN;
    const double fit = INC_LOAD_FIT * (double)max_active;
    uint32_t free_now = n_active < max_active ? max_active - n_active : 0;
    double q = at_least > 0.0 ? at_least : 0.0;

    if (load > fit && 8.0 * log2(load / fit) > q)
        q = 8.0 * log2(load / fit);
    if (free_now < free0) {
        double room =
            SQUEEZE_PER_OCTAVE * log2((double)free0 / (double)(free_now ? free_now : 1));

        q = room > q ? room : q;
    }
    return (uint8_t)(q < SQUEEZE_MAX ? lround(q) : SQUEEZE_MAX);
}

int64_t inc_gap_us(struct rng *r, int64_t lo, int64_t hi, uint8_t squeeze)
{
    int64_t g = rng_range(r, lo, hi);

    if (squeeze)
        g = llround((double)g * exp2(-(double)squeeze / 8.0));
    return g > INC_GAP_FLOOR_US ? g : INC_GAP_FLOOR_US;
}

/* ---- the driver ---- */

bool inc_begin(struct inc_call *c, const struct inc_state *st, void *in, struct rng *r,
               double rate, const double *w, int n, double *w_out, int64_t t_us)
{
    c->r = *r;
    c->sched = *st->sched;
    c->dt_seen = *st->dt_seen;
    c->mean_dt_us = inc_mean_dt(*st->last_us, *st->mean_dt_us, &c->dt_seen, t_us);
    c->rate = anom_rate(rate, w, n, w_out);
    c->ts_us = t_us;
    c->in = in;
    c->op = INC_NONE;
    c->anomaly = -1;
    c->injected = false;
    anom_weights(&c->sched, w_out);
    return anom_tick(&c->sched, c->rate);
}

/* Emits the next step of the incident on top of the table. */
static enum bm_rc step_top(const struct inc_ops *ops, void *svc, const struct inc_state *st,
                           struct inc_call *c, int64_t t_us)
{
    memcpy(c->in, st->slots, ops->slot_size);
    if (!ops->valid(svc, c->in))
        return BM_ESTATE;
    c->ts_us = ops->step_time ? ops->step_time(svc, due_us(st->slots, ops->slot_size, 0), t_us) : t_us;
    c->injected = ops->injected && ops->injected(c->in);
    c->op = ops->step(svc, c) ? INC_REPLACE_TOP : INC_POP_TOP;
    return BM_OK;
}

/* Starts an anomaly of the type the service picks and emits its first
 * event. Nothing (INC_NONE, no event) if no type has weight, a
 * single-event anomaly cannot be placed now, or an incident finds the
 * table full: the deficit then waits for a later tick, and the same type
 * is still owed. */
static void start(const struct inc_ops *ops, void *svc, const struct inc_state *st,
                  struct inc_call *c)
{
    int type = ops->pick(svc, c);
    double at_least;

    if (type < 0)
        return;
    if (!ops->is_multi(type)) {
        if (ops->single_ready && !ops->single_ready(svc, c, type))
            return;
        anom_started(&c->sched, &c->r);
        ops->single(svc, c, type);
        return;
    }
    if (*st->n_active >= ops->max_active)
        return;
    anom_started(&c->sched, &c->r);
    memset(c->in, 0, ops->slot_size);
    at_least = ops->init(svc, c, type);
    ops->set_squeeze(c->in, inc_squeeze(ops->load(&c->sched, c->rate, c->mean_dt_us),
                                        *st->n_active, ops->max_active, at_least));
    ops->step(svc, c);
    c->op = INC_PUSH;
}

enum bm_rc inc_drive(const struct inc_ops *ops, void *svc, const struct inc_state *st,
                     struct inc_call *c, bool due, int64_t t_us)
{
    enum bm_rc rc = BM_OK;
    bool full = *st->n_active >= ops->max_active;

    c->op = INC_NONE;
    c->ts_us = t_us;
    c->anomaly = -1;
    c->injected = false;
    if (*st->n_active > 0 && due_us(st->slots, ops->slot_size, 0) <= t_us &&
        (!(ops->flags & INC_F_WAIT_AHEAD) || anom_step_ok(&c->sched, c->rate)))
        rc = step_top(ops, svc, st, c, t_us);
    else if (due)
        start(ops, svc, st, c);
    if (rc == BM_OK && (ops->flags & INC_F_FULL_STEPS_EARLY) && due && c->anomaly < 0 && full)
        rc = step_top(ops, svc, st, c, t_us);
    if (c->anomaly >= 0 && !c->injected)
        anom_emitted(&c->sched, c->anomaly);
    return rc;
}

void inc_inject(const struct inc_ops *ops, void *svc, const struct inc_state *st,
                struct inc_call *c, const struct gen_inject *inj, int64_t t_us, bool *taken)
{
    double at_least;

    c->op = INC_NONE;
    c->ts_us = t_us;
    c->anomaly = -1;
    c->injected = true;
    *taken = false;
    if (!ops->inject_init || !ops->inject_single)
        return;
    if (!ops->is_multi(inj->type)) {
        *taken = ops->inject_single(svc, c, inj);
        return;
    }
    if (*st->n_active >= ops->max_active)
        return;
    memset(c->in, 0, ops->slot_size);
    at_least = ops->inject_init(svc, c, inj);
    ops->set_squeeze(c->in, inc_squeeze(ops->load(&c->sched, c->rate, c->mean_dt_us),
                                        *st->n_active, ops->max_active, at_least));
    ops->step(svc, c);
    c->op = INC_PUSH;
    *taken = true;
}

void inc_commit(const struct inc_ops *ops, const struct inc_state *st,
                const struct inc_call *c, int64_t t_us, struct rng *r)
{
    *r = c->r;
    *st->sched = c->sched;
    *st->mean_dt_us = c->mean_dt_us;
    *st->dt_seen = c->dt_seen;
    *st->last_us = t_us;
    inc_apply(st->slots, ops->slot_size, st->n_active, c->op, c->in);
}

bool inc_free_for_part(const struct inc_state *st, bool due, int64_t t_us)
{
    int64_t top_next_us;

    if (due)
        return false;
    if (*st->n_active == 0)
        return true;
    memcpy(&top_next_us, st->slots, sizeof top_next_us); /* a slot begins with next_us */
    return top_next_us > t_us;
}
