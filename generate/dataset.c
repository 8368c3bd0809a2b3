/* dataset.c - the offline stream (dataset.h). It steps a new stream the
 * way genloop.c does: the generated stream's PRNG seeded from the seed
 * and the service's name, the service's state initialised from it, the
 * first event at the start, each next one a gap (arrival.h) after the
 * one before, while it falls before the end. */
#include "dataset.h"

#include <stdlib.h>
#include <string.h>

#include "arrival.h"
#include "auth.h"
#include "evfmt.h"
#include "mon.h"
#include "service.h"
#include "txn.h"

#define EVENT_JSON_MAX (16 * 1024) /* as genloop.c */

/* The generator hooks of each service, as its routes.c gives them to
 * genloop.c (a service_def without routes or tables). */
static void *txn_new(uint64_t seed, const struct bm_config *c)
{
    return txn_model_new(seed, c->segments);
}

static void txn_free(void *m)
{
    txn_model_free(m);
}

static void txn_init(void *st, struct rng *r)
{
    txn_state_init(st, r);
}

static enum bm_rc txn_gen(const void *model, void *state, const struct gen_params *p,
                          struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    return txn_generate(model, state, p, r, t_us, seq, ev);
}

static void *auth_new(uint64_t seed, const struct bm_config *c)
{
    (void)c;
    return auth_model_new(seed);
}

static void auth_free(void *m)
{
    auth_model_free(m);
}

static void auth_init(void *st, struct rng *r)
{
    auth_state_init(st, r);
}

static enum bm_rc auth_gen(const void *model, void *state, const struct gen_params *p,
                           struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    return auth_generate(model, state, p, r, t_us, seq, ev);
}

static void *mon_new(uint64_t seed, const struct bm_config *c)
{
    (void)c;
    return mon_model_new(seed);
}

static void mon_free(void *m)
{
    mon_model_free(m);
}

static void mon_init(void *st, struct rng *r)
{
    mon_state_init(st, r);
}

static enum bm_rc mon_gen(const void *model, void *state, const struct gen_params *p,
                          struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    return mon_generate(model, state, p, r, t_us, seq, ev);
}

static const struct service_def gen_defs[SVC_NSOURCES] = {
    [SVC_TRANSACTION] = { .svc = SVC_TRANSACTION, .state_size = sizeof(struct txn_state),
                          .model_new = txn_new, .model_free = txn_free,
                          .state_init = txn_init, .generate = txn_gen },
    [SVC_AUTH] = { .svc = SVC_AUTH, .state_size = sizeof(struct auth_state),
                   .model_new = auth_new, .model_free = auth_free, .state_init = auth_init,
                   .generate = auth_gen },
    [SVC_MONITORING] = { .svc = SVC_MONITORING, .state_size = sizeof(struct mon_state),
                         .constant_rate = true, .model_new = mon_new, .model_free = mon_free,
                         .state_init = mon_init, .generate = mon_gen },
};

struct dataset {
    const struct service_def *def;
    enum dataset_format format;
    void *model;
    void *state;
    struct rng rng;
    struct gen_params params;
    struct arrival_rate rate;
    struct arrival_cache shaping;
    int64_t start_us, end_us;
    int64_t next_us;
    uint64_t next_seq;
    uint64_t anomalies;
    bool csv_header; /* written */
    struct buf ev_json;
};

enum bm_rc dataset_open(const struct dataset_spec *spec, const struct bm_config *cfg,
                        struct dataset **out)
{
    struct bm_config c = *cfg;
    struct dataset *d;

    if (spec->svc >= SVC_NSOURCES || spec->duration_s < 0)
        return BM_EINVAL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return BM_ENOMEM;
    d->def = &gen_defs[spec->svc];
    d->format = spec->format;
    d->state = calloc(1, d->def->state_size);
    buf_init(&d->ev_json, EVENT_JSON_MAX);
    /* The model is built from the live settings with the stream's seed,
     * as genloop_open builds it. */
    c.seed = spec->seed;
    c.seed_set = true;
    d->model = d->state ? d->def->model_new(spec->seed, &c) : NULL;
    if (!d->model) {
        dataset_free(d);
        return BM_ENOMEM;
    }
    cfg_gen_params(&c, d->def->svc, &d->params);
    d->rate.events_per_second = c.events_per_second;
    d->rate.constant_rate = d->def->constant_rate;
    d->rate.time_shaping = c.time_shaping;
    d->rate.tz_offset_min = d->params.tz_offset_min;
    arrival_cache_init(&d->shaping);

    rng_seed(&d->rng,
             arrival_stream_seed(spec->seed, svc_info(d->def->svc)->name, ARRIVAL_GENERATED));
    d->def->state_init(d->state, &d->rng);
    d->start_us = spec->start_ms * 1000;
    d->end_us = d->start_us + spec->duration_s * 1000000;
    d->next_us = d->start_us; /* the first event opens the stream */
    d->next_seq = 1;
    *out = d;
    return BM_OK;
}

void dataset_free(struct dataset *d)
{
    if (!d)
        return;
    if (d->model)
        d->def->model_free(d->model);
    free(d->state);
    buf_free(&d->ev_json);
    free(d);
}

/* CSV: the header row as the service writes it (its known columns), so an
 * empty window has one too; from the first event only for a service
 * without them. */
static enum bm_rc put_csv_header(struct dataset *d, struct buf *out, bool have_event)
{
    const char *cols = svc_info(d->def->svc)->csv_columns;

    if (cols) {
        d->csv_header = true;
        if (buf_puts(out, cols) != BM_OK || buf_puts(out, "\r\n") != BM_OK)
            return BM_ENOMEM;
        return BM_OK;
    }
    if (!have_event)
        return BM_OK;
    d->csv_header = true;
    return evfmt_csv_header(d->ev_json.data, d->ev_json.len, out);
}

/* CSV: the event's JSON (in ev_json) as a row, the header row first. */
static enum bm_rc put_csv(struct dataset *d, struct buf *out)
{
    if (!d->csv_header && put_csv_header(d, out, true) != BM_OK)
        return BM_ENOMEM;
    return evfmt_csv_row(d->ev_json.data, d->ev_json.len, out);
}

enum bm_rc dataset_next(struct dataset *d, struct buf *out, bool *done)
{
    /* NDJSON: the generator appends the event to out itself (the JSON
     * writer starts where the buffer ends), saving a copy per event. */
    bool ndjson = d->format == DATASET_NDJSON;
    struct gen_event ev = { .json = ndjson ? out : &d->ev_json };
    int64_t t = d->next_us;
    size_t mark = out->len;
    enum bm_rc rc;

    *done = t >= d->end_us;
    if (*done)
        return d->format == DATASET_CSV && !d->csv_header ? put_csv_header(d, out, false)
                                                          : BM_OK;
    buf_reset(&d->ev_json);
    rc = d->def->generate(d->model, d->state, &d->params, &d->rng, t, d->next_seq, &ev);
    if (rc == BM_OK)
        rc = ndjson ? buf_putc(out, '\n') : put_csv(d, out);
    if (rc != BM_OK) {
        buf_truncate(out, mark); /* never half a line */
        return rc;
    }
    d->next_seq++;
    if (ev.anomaly_type)
        d->anomalies++;
    d->next_us = t + arrival_gap_us(&d->shaping, &d->rate, &d->rng, t);
    return BM_OK;
}

void dataset_progress(const struct dataset *d, struct dataset_progress *p)
{
    int64_t span = d->end_us - d->start_us;
    int64_t done = (d->next_us < d->end_us ? d->next_us : d->end_us) - d->start_us;

    p->events = d->next_seq - 1;
    p->anomalies = d->anomalies;
    p->sim_us = d->next_us;
    p->fraction = span > 0 ? (double)done / (double)span : 1.0;
}
