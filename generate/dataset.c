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
#include "shard.h"
#include "svc.h"
#include "txn.h"

#define EVENT_JSON_MAX (16 * 1024) /* as genloop.c */

static const struct service_gen *const gen_of[SVC_NSOURCES] = {
    [SVC_TRANSACTION] = &txn_gen_hooks,
    [SVC_AUTH] = &auth_gen_hooks,
    [SVC_MONITORING] = &mon_gen_hooks,
};

struct dataset {
    enum bm_svc svc;
    const struct service_gen *gen;
    enum dataset_format format;
    void *model;
    void *state;
    struct rng rng;
    struct gen_params params;
    struct arrival_rate rate;
    struct arrival_cache shaping;
    struct bm_shard shard;
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
    d->svc = spec->svc;
    d->gen = gen_of[spec->svc];
    d->format = spec->format;
    d->state = calloc(1, d->gen->state_size);
    buf_init(&d->ev_json, EVENT_JSON_MAX);
    /* The model is built from the live settings with the stream's seed,
     * as genloop_open builds it. */
    c.seed = spec->seed;
    c.seed_set = true;
    d->model = d->state ? d->gen->model_new(spec->seed, &c) : NULL;
    if (!d->model) {
        dataset_free(d);
        return BM_ENOMEM;
    }
    cfg_gen_params(&c, d->svc, &d->params);
    d->shard = c.shard;
    /* the shard's share of the bank's rate, as genloop_open takes it */
    d->rate.events_per_second = c.events_per_second;
    if (shard_split(&d->shard)) {
        double share = d->gen->rate_share ? d->gen->rate_share(d->model)
                                          : 1.0 / (double)d->shard.count;
        if (!(share > 0.0)) {
            dataset_free(d);
            return BM_ERANGE;
        }
        d->rate.events_per_second = c.events_per_second * share;
    }
    d->rate.constant_rate = d->gen->constant_rate;
    d->rate.time_shaping = c.time_shaping;
    d->rate.tz_offset_min = d->params.tz_offset_min;
    arrival_cache_init(&d->shaping);

    rng_seed(&d->rng, shard_stream_seed(&d->shard, arrival_stream_seed(spec->seed,
                                                                       svc_info(d->svc)->name,
                                                                       ARRIVAL_GENERATED)));
    d->gen->state_init(d->state, &d->rng);
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
        d->gen->model_free(d->model);
    free(d->state);
    buf_free(&d->ev_json);
    free(d);
}

/* CSV: the header row as the service writes it (its known columns), so an
 * empty window has one too; from the first event only for a service
 * without them. */
static enum bm_rc put_csv_header(struct dataset *d, struct buf *out, bool have_event)
{
    const char *cols = svc_info(d->svc)->csv_columns;

    if (cols) {
        d->csv_header = true;
        if (buf_puts(out, cols) != BM_OK ||
            (shard_split(&d->shard) && buf_puts(out, ",shard") != BM_OK) ||
            buf_puts(out, "\r\n") != BM_OK)
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
    rc = d->gen->generate(d->model, d->state, &d->params, &d->rng, t, d->next_seq, &ev);
    if (rc == BM_OK)
        rc = shard_tag_event(&d->shard, ev.json, ndjson ? mark : 0);
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
