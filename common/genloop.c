/* genloop.c - the generator thread.
 *
 * Simulated time runs in microseconds. Events arrive by a seeded Poisson
 * process whose rate is events_per_second times the shaping factor at
 * that simulated instant. During backfill the loop writes as fast as it
 * can; live, the simulated clock advances with the monotonic clock from
 * an anchor. Everything the stream depends on (PRNG, clock, the service's
 * incident state) is committed with each batch, so after any stop the
 * stream continues as if nothing happened.
 *
 * The live settings (g->live: the start-up configuration with the runtime
 * layer applied) have one owner, this loop, and no other copy exists.
 * They change only on the loop's thread, in run_config_job(): a change
 * (the keys a POST /config gave) is applied on top of the live settings
 * there and made live once committed to the database, so changes take
 * effect in the order they were persisted, none undoes another's keys,
 * and a failed write changes nothing. Writes take g->lock; the loop reads
 * its own settings without it (it is the only writer); every other thread
 * reads a copy taken under g->lock (genloop_config(), or the two rates in
 * genloop_status()). The request that submitted a change applies what is
 * process-wide (the log level) once the change is accepted; the loop
 * applies what it generates by (cfg_gen_params). */
#define _DEFAULT_SOURCE /* syscall(SYS_gettid) for the thread's nice value */
#include "genloop.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "arrival.h"
#include "json.h"
#include "log.h"
#include "parse.h"
#include "scenario.h"
#include "seedfile.h"
#include "service.h"
#include "shard.h"
#include "timefmt.h"

#define QUEUE_CAP      64
#define SUBMIT_WAIT_MS 3000
#define COMMIT_EVERY_US 100000 /* a batch never stays open longer */
/* Live events are gathered for this long after a commit before the next
 * one: a commit is a handful of writes and lock calls, and at the default
 * 100 events/s one per event kept each idle service at ~2% of a CPU. An
 * event is visible at most this late; its timestamp does not change. */
#define LIVE_GATHER_US 50000
#define EVENT_JSON_MAX (16 * 1024)
#define STATE_MAGIC    0x424d4731u /* "BMG1" */
#define RATE_WINDOW    60
#define INJECT_MAX     64 /* injections scheduled at once */

/* Persisted with every batch (then the service's state bytes). */
struct loop_state {
    uint32_t magic;
    uint32_t state_size;
    struct rng gen_rng;  /* the generated stream */
    struct rng api_rng;  /* API events, so POSTs do not perturb the stream */
    int64_t next_us;     /* simulated time of the next generated event */
    int64_t last_us;     /* timestamp of the newest event */
    uint64_t next_seq;
    uint64_t generated;
    uint64_t anomalies;
    uint64_t api_events;
};

enum job_kind { JOB_EVENT, JOB_CONFIG, JOB_WRITE, JOB_INJECT, JOB_SCENARIO };

/* Injections still to start, due first (then in the order they came);
 * the loop's own, like its state, and rolled back with it. */
struct pending {
    uint32_t n;
    struct db_injection at[INJECT_MAX];
};

struct job {
    enum job_kind kind;
    genloop_api_fn fn;
    genloop_write_fn write_fn; /* JOB_WRITE */
    void *arg;            /* owned copy of the caller's argument */
    cJSON *change;        /* JOB_CONFIG: owned copy of the runtime object */
    struct bm_config cfg; /* JOB_CONFIG: the live settings with change applied */
    struct genloop_injection inj; /* JOB_INJECT: in and out */
    struct scenario *scen;        /* JOB_SCENARIO: owned until installed */
    char *scen_text;              /* JOB_SCENARIO: its JSON, owned */
    struct buf out;       /* JOB_EVENT: stored JSON */
    enum bm_rc rc;
    bool done;
    int refs;             /* submitter + loop; last one frees */
};

struct genloop {
    const struct service_def *def;
    void *model; /* def->gen->model_new(seed), immutable once open */
    struct db *db;
    struct bm_config base; /* settings below the runtime layer */
    struct bm_config live; /* the live settings: see the top of the file */
    uint64_t seed;
    char stream_id[RNG_UUID_LEN + 1];
    struct bm_shard shard; /* this stream's slice of the bank (shard.h) */
    double share;          /* of the bank's rate: 1 unsharded */
    int64_t backfill_start_us;
    int64_t backfill_end_us;

    /* thread-private */
    struct loop_state ls;
    void *svc_state;
    struct loop_state saved_ls; /* as of the last commit, for rollback */
    void *saved_svc_state;
    struct pending pending;
    struct pending saved_pending;
    struct scenario *scen;     /* the scenario timeline, or NULL */
    int scen_pos;              /* its steps applied (or skipped) so far */
    int saved_scen_pos;
    struct bm_config saved_live; /* scenario steps change live inside a batch */
    struct buf state_blob;
    struct buf ev_json;
    int64_t anchor_sim_us;
    int64_t anchor_mono_us;
    bool was_paused;
    int64_t last_progress_us;
    int64_t backfill_mono_us;  /* when this run's backfill began, 0 = none */
    uint64_t backfill_from;    /* events generated before it */
    int64_t last_live_commit_us; /* monotonic */
    uint64_t rate_counts[RATE_WINDOW]; /* events per simulated second */
    int64_t rate_second;               /* newest second in the ring */
    int64_t rate_origin_s;             /* first second counted, -1 = none yet */
    struct arrival_cache shaping;      /* the shaping factor of the hour */
    struct gen_params params;

    pthread_t thread;
    bool started;

    /* guards: queue, q_*, stop, job fields, status; writes of live and
     * other threads' reads of it */
    pthread_mutex_t lock;
    pthread_cond_t wake;  /* loop waits on it */
    pthread_cond_t done;  /* submitters wait on it */
    struct job *queue[QUEUE_CAP];
    unsigned q_head, q_len;
    bool stop;
    struct genloop_status status;
    _Atomic uint64_t committed_head; /* newest committed sequence */
    /* The sink's cursor (sink.c): pruning keeps the events after it while
     * they are fewer than sink_max_lag_events. -1: no sink. */
    _Atomic int64_t sink_floor;
    /* guarded by lock: what GET /scenarios shows */
    char *scen_text;   /* the scenario's JSON as given, NULL none */
    int scen_total, scen_done, scen_skipped;
    int64_t scen_next_us; /* simulated time of the next step, INT64_MAX none */
};

/* ------------------------------------------------------------------ */
/* Shaping                                                              */

/* What the arrival process depends on, from the live settings. */
static struct arrival_rate rate_of(const struct genloop *g, double eps)
{
    struct arrival_rate r = {
        .events_per_second = eps * g->share, /* x 1.0 unsharded: the same double */
        .constant_rate = g->def->gen->constant_rate,
        .time_shaping = g->live.time_shaping,
        .tz_offset_min = g->params.tz_offset_min,
    };
    return r;
}

static double factor_at(struct genloop *g, int64_t us)
{
    struct arrival_rate r = rate_of(g, g->live.events_per_second);

    return arrival_factor(&g->shaping, &r, us);
}

/* Gap to the next arrival from time t. */
static int64_t next_gap_us(struct genloop *g, int64_t t_us, double eps)
{
    struct arrival_rate r = rate_of(g, eps);

    return arrival_gap_us(&g->shaping, &r, &g->ls.gen_rng, t_us);
}

/* ------------------------------------------------------------------ */
/* Persistence                                                          */

static enum bm_rc save_state(struct genloop *g)
{
    buf_reset(&g->state_blob);
    if (buf_append(&g->state_blob, &g->ls, sizeof(g->ls)) != BM_OK ||
        buf_append(&g->state_blob, g->svc_state, g->def->gen->state_size) != BM_OK)
        return BM_ENOMEM;
    return db_meta_set(g->db, "gen_state", g->state_blob.data, g->state_blob.len);
}

static void snapshot(struct genloop *g)
{
    g->saved_ls = g->ls;
    memcpy(g->saved_svc_state, g->svc_state, g->def->gen->state_size);
    g->saved_pending = g->pending;
    g->saved_scen_pos = g->scen_pos;
    g->saved_live = g->live;
}

static void scen_publish(struct genloop *g);
static enum bm_rc scen_open(struct genloop *g, const struct bm_config *cfg, char *err,
                            size_t errlen);

static void restore(struct genloop *g)
{
    g->ls = g->saved_ls;
    memcpy(g->svc_state, g->saved_svc_state, g->def->gen->state_size);
    g->pending = g->saved_pending;
    if (g->scen_pos != g->saved_scen_pos) { /* a step's settings go back too */
        g->scen_pos = g->saved_scen_pos;
        pthread_mutex_lock(&g->lock);
        g->live = g->saved_live;
        pthread_mutex_unlock(&g->lock);
        cfg_gen_params(&g->live, g->def->svc, &g->params);
        scen_publish(g);
    }
}

/* ---- injections ---- */

/* Files in after those due at the same time or earlier. */
static void pending_add(struct pending *p, const struct db_injection *in)
{
    uint32_t i = p->n;

    while (i > 0 && p->at[i - 1].at_us > in->at_us) {
        p->at[i] = p->at[i - 1];
        i--;
    }
    p->at[i] = *in;
    p->n++;
}

static void pending_pop(struct pending *p)
{
    memmove(&p->at[0], &p->at[1], (p->n - 1) * sizeof p->at[0]);
    p->n--;
}

static enum bm_rc load_one(void *ud, const struct db_injection *in)
{
    struct genloop *g = ud;

    if (g->pending.n == INJECT_MAX || in->inj.type < 0 ||
        in->inj.type >= svc_info(g->def->svc)->nrated_types)
        return BM_OK; /* not written by this binary: left alone */
    pending_add(&g->pending, in);
    return BM_OK;
}

static enum bm_rc tx_begin(struct genloop *g)
{
    snapshot(g);
    return db_begin(g->db);
}

/* A failed write: the database is not ok until the next commit. */
static void write_failed(struct genloop *g)
{
    pthread_mutex_lock(&g->lock);
    g->status.write_errors++;
    g->status.db_ok = false;
    pthread_mutex_unlock(&g->lock);
}

/* Commits the open batch with the state; on failure rolls back both. */
static enum bm_rc tx_commit(struct genloop *g)
{
    enum bm_rc rc = save_state(g);

    if (rc == BM_OK)
        rc = db_commit(g->db);
    if (rc != BM_OK) {
        log_error("database write failed (%s); retrying", db_errmsg(g->db));
        db_rollback(g->db);
        restore(g);
        write_failed(g);
        return rc;
    }
    /* The counts as committed, at once: an acknowledged POST shows in
     * /metrics and /health without waiting for the loop's next publish(). */
    pthread_mutex_lock(&g->lock);
    g->status.db_ok = true;
    g->status.head_seq = g->ls.next_seq - 1;
    g->status.generated = g->ls.generated;
    g->status.anomalies = g->ls.anomalies;
    g->status.api_events = g->ls.api_events;
    pthread_mutex_unlock(&g->lock);
    atomic_store_explicit(&g->committed_head, g->ls.next_seq - 1, memory_order_release);
    return BM_OK;
}

static enum bm_rc meta_text(struct db *db, const char *key, char *out, size_t len, bool *found)
{
    struct buf b;
    enum bm_rc rc;

    buf_init(&b, len - 1);
    rc = db_meta_get(db, key, &b, found);
    if (rc == BM_OK && *found)
        snprintf(out, len, "%s", b.data ? b.data : "");
    buf_free(&b);
    return rc;
}

static enum bm_rc meta_put_text(struct db *db, const char *key, const char *val)
{
    return db_meta_set(db, key, val, strlen(val));
}

/* A new stream: seed, start time, stream id, backfill window. */
static enum bm_rc stream_create(struct genloop *g, const struct bm_config *cfg, char *err,
                                size_t errlen)
{
    char num[32];
    int64_t start_ms;
    struct rng idr;
    enum bm_rc rc;

    if (cfg->seed_set) {
        g->seed = cfg->seed;
    } else if (cfg->seed_file[0]) {
        rc = seedfile_get(cfg->seed_file, &g->seed, err, errlen);
        if (rc != BM_OK)
            return rc;
    } else {
        g->seed = rng_os_u64();
    }
    start_ms = cfg->start_time_set ? cfg->start_time_ms : time_now_ms() - cfg->backfill_s * 1000;
    g->backfill_start_us = start_ms * 1000;
    g->backfill_end_us = g->backfill_start_us + cfg->backfill_s * 1000000;
    rng_seed(&idr, rng_os_u64());
    rng_uuid4(&idr, g->stream_id);

    memset(&g->ls, 0, sizeof(g->ls));
    g->ls.magic = STATE_MAGIC;
    g->ls.state_size = (uint32_t)g->def->gen->state_size;
    /* A shard's streams (of 2 or more) are its own: event ids do not
     * repeat across shards. */
    rng_seed(&g->ls.gen_rng,
             shard_stream_seed(&g->shard, arrival_stream_seed(g->seed, svc_info(g->def->svc)->name,
                                                              ARRIVAL_GENERATED)));
    rng_seed(&g->ls.api_rng,
             shard_stream_seed(&g->shard,
                               arrival_stream_seed(g->seed, svc_info(g->def->svc)->name,
                                                   ARRIVAL_API)));
    g->ls.next_seq = 1;
    g->def->gen->state_init(g->svc_state, &g->ls.gen_rng);
    g->ls.last_us = g->backfill_start_us;
    g->ls.next_us = g->backfill_start_us; /* the first event opens the stream */

    rc = tx_begin(g);
    if (rc != BM_OK)
        return rc;
    snprintf(num, sizeof(num), "%llu", (unsigned long long)g->seed);
    rc = meta_put_text(g->db, "seed", num);
    if (rc == BM_OK)
        rc = meta_put_text(g->db, "stream_id", g->stream_id);
    shard_text(&g->shard, num);
    if (rc == BM_OK)
        rc = meta_put_text(g->db, "shard", num);
    snprintf(num, sizeof(num), "%lld", (long long)g->backfill_start_us);
    if (rc == BM_OK)
        rc = meta_put_text(g->db, "backfill_start_us", num);
    snprintf(num, sizeof(num), "%lld", (long long)g->backfill_end_us);
    if (rc == BM_OK)
        rc = meta_put_text(g->db, "backfill_end_us", num);
    if (rc == BM_OK)
        rc = tx_commit(g);
    else
        db_rollback(g->db);
    return rc;
}

static enum bm_rc stream_restore(struct genloop *g, const struct bm_config *cfg,
                                 const struct buf *blob, char *err, size_t errlen)
{
    char text[64];
    bool found;
    uint64_t head, oldest;
    enum bm_rc rc;

    if (blob->len != sizeof(g->ls) + g->def->gen->state_size) {
        snprintf(err, errlen, "database generator state has an unknown layout");
        return BM_ESTATE;
    }
    memcpy(&g->ls, blob->data, sizeof(g->ls));
    memcpy(g->svc_state, blob->data + sizeof(g->ls), g->def->gen->state_size);
    if (g->ls.magic != STATE_MAGIC || g->ls.state_size != g->def->gen->state_size ||
        (g->def->gen->state_valid && !g->def->gen->state_valid(g->svc_state))) {
        snprintf(err, errlen, "database generator state has an unknown layout");
        return BM_ESTATE;
    }
    rc = meta_text(g->db, "seed", text, sizeof(text), &found);
    if (rc != BM_OK || !found) {
        snprintf(err, errlen, "database has no seed");
        return BM_ESTATE;
    }
    if (parse_u64(text, &g->seed) != BM_OK) {
        snprintf(err, errlen, "database's seed is not a number: \"%.40s\"", text);
        return BM_ESTATE;
    }
    if (cfg->seed_set && cfg->seed != g->seed) {
        snprintf(err, errlen,
                 "database %s was created with seed %llu, not %llu; use another --db or the same "
                 "seed",
                 cfg->db_path, (unsigned long long)g->seed, (unsigned long long)cfg->seed);
        return BM_EINVAL;
    }
    rc = meta_text(g->db, "shard", text, sizeof(text), &found);
    if (rc == BM_OK && found) { /* none: written before shards, the whole bank */
        char why[128];
        if (shard_parse(text, &g->shard, why, sizeof why) != BM_OK) {
            snprintf(err, errlen, "database's shard is not i/n: \"%.40s\"", text);
            return BM_ESTATE;
        }
    }
    if (rc == BM_OK && (g->shard.index != cfg->shard.index || g->shard.count != cfg->shard.count)) {
        char want[SHARD_TEXT];
        shard_text(&cfg->shard, want);
        snprintf(err, errlen,
                 "database %s holds shard %s of its bank, not %s; use another --db or the same "
                 "--shard",
                 cfg->db_path, found ? text : "0/1", want);
        return BM_EINVAL;
    }
    if (rc == BM_OK)
        rc = meta_text(g->db, "stream_id", g->stream_id, sizeof(g->stream_id), &found);
    if (rc == BM_OK)
        rc = meta_text(g->db, "backfill_start_us", text, sizeof(text), &found);
    g->backfill_start_us = 0;
    if (rc == BM_OK && found)
        rc = parse_i64(text, INT64_MIN, INT64_MAX, &g->backfill_start_us);
    if (rc == BM_OK)
        rc = meta_text(g->db, "backfill_end_us", text, sizeof(text), &found);
    g->backfill_end_us = 0;
    if (rc == BM_OK && found)
        rc = parse_i64(text, INT64_MIN, INT64_MAX, &g->backfill_end_us);
    if (rc == BM_OK)
        rc = db_bounds(g->db, &head, &oldest);
    if (rc != BM_OK) {
        snprintf(err, errlen, "cannot read database: %s", db_errmsg(g->db));
        return rc;
    }
    if (cfg->start_time_set || cfg->backfill_s)
        log_warn("database %s already holds a stream: continuing it; --start-time and "
                 "--backfill only shape a new database",
                 cfg->db_path);
    /* The state is committed with every batch, so it is never behind the
     * rows; this only guards against a hand-edited database. */
    if (head + 1 > g->ls.next_seq)
        g->ls.next_seq = head + 1;
    return BM_OK;
}

static enum bm_rc load_runtime(struct genloop *g, struct bm_config *cfg, char *err,
                               size_t errlen)
{
    struct buf b;
    bool found = false;
    cJSON *obj = NULL;
    struct api_fail f;
    enum bm_rc rc;

    if (cfg->reset_config) {
        rc = db_begin(g->db);
        if (rc == BM_OK)
            rc = db_meta_delete(g->db, "runtime_config");
        if (rc == BM_OK)
            rc = db_commit(g->db);
        if (rc == BM_OK)
            log_info("runtime settings reset to the configured ones");
        return rc;
    }
    buf_init(&b, 64 * 1024);
    rc = db_meta_get(g->db, "runtime_config", &b, &found);
    if (rc == BM_OK && found && b.len) {
        if (json_parse(b.data, b.len, &obj) != BM_OK ||
            cfg_apply_runtime(cfg, g->def->svc, obj, &f) != BM_OK) {
            /* Stored by an older binary with other limits: drop, say so. */
            log_warn("stored runtime settings no longer valid (%s); ignoring them",
                     obj ? f.msg : "bad JSON");
        } else {
            log_info("applied runtime settings stored in the database: %s", b.data);
        }
    }
    cJSON_Delete(obj);
    buf_free(&b);
    if (rc != BM_OK)
        snprintf(err, errlen, "cannot read database: %s", db_errmsg(g->db));
    return rc;
}

/* ------------------------------------------------------------------ */
/* Open / status                                                        */

enum bm_rc genloop_open(const struct service_def *def, struct db *db,
                        const struct bm_config *cfg, struct genloop **out, char *err,
                        size_t errlen)
{
    struct genloop *g = calloc(1, sizeof(*g));
    struct buf blob;
    bool found = false;
    enum bm_rc rc;
    pthread_condattr_t ca;

    if (!g)
        return BM_ENOMEM;
    g->def = def;
    g->db = db;
    g->shard = cfg->shard;
    g->share = 1.0;
    atomic_init(&g->sink_floor, -1);
    g->base = *cfg;
    g->live = *cfg;
    g->svc_state = calloc(1, def->gen->state_size);
    g->saved_svc_state = calloc(1, def->gen->state_size);
    buf_init(&g->state_blob, 1 << 20);
    buf_init(&g->ev_json, EVENT_JSON_MAX);
    arrival_cache_init(&g->shaping);
    g->rate_origin_s = -1;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_cond_init(&g->done, &ca);
    pthread_condattr_destroy(&ca);
    if (!g->svc_state || !g->saved_svc_state) {
        rc = BM_ENOMEM;
        goto fail;
    }

    buf_init(&blob, 1 << 20);
    rc = db_meta_get(db, "gen_state", &blob, &found);
    if (rc != BM_OK)
        snprintf(err, errlen, "cannot read database: %s", db_errmsg(db));
    else if (found)
        rc = stream_restore(g, cfg, &blob, err, errlen);
    else if ((err[0] = '\0', rc = stream_create(g, cfg, err, errlen)) != BM_OK && !err[0])
        snprintf(err, errlen, "cannot initialise database: %s", db_errmsg(db));
    buf_free(&blob);
    if (rc != BM_OK)
        goto fail;
    rc = load_runtime(g, &g->live, err, errlen);
    if (rc == BM_OK && (rc = db_injections_pending(db, load_one, g)) != BM_OK)
        snprintf(err, errlen, "cannot read database: %s", db_errmsg(db));
    if (rc != BM_OK)
        goto fail;
    if (g->pending.n)
        log_info("%u injected incident(s) scheduled", g->pending.n);
    g->live.seed = g->seed;
    g->live.seed_set = true;
    g->model = def->gen->model_new(g->seed, &g->live);
    if (!g->model) {
        snprintf(err, errlen, "out of memory building the model");
        rc = BM_ENOMEM;
        goto fail;
    }
    if (shard_split(&g->shard)) {
        char text[SHARD_TEXT];
        g->share = def->gen->rate_share ? def->gen->rate_share(g->model)
                                        : 1.0 / (double)g->shard.count;
        shard_text(&g->shard, text);
        if (!(g->share > 0.0)) {
            snprintf(err, errlen, "shard %s of %s has no entities: its population is smaller "
                                  "than %u; use fewer shards",
                     text, svc_info(def->svc)->name, (unsigned)g->shard.count);
            rc = BM_EINVAL;
            goto fail;
        }
        log_info("shard %s: %.4f of the bank's events", text, g->share);
    }
    cfg_gen_params(&g->live, g->def->svc, &g->params);
    g->scen_next_us = INT64_MAX;
    rc = scen_open(g, cfg, err, errlen);
    if (rc != BM_OK)
        goto fail;

    g->status.db_ok = true;
    /* What /health says before the loop's first publish(). */
    g->status.backfilling = g->ls.next_us < g->backfill_end_us;
    g->status.paused = g->live.paused;
    g->status.sim_now_ms = g->ls.last_us / 1000;
    g->status.head_seq = g->ls.next_seq - 1;
    atomic_init(&g->committed_head, g->ls.next_seq - 1);
    g->status.seed = g->seed;
    g->status.shard = g->shard;
    g->status.share = g->share;
    memcpy(g->status.stream_id, g->stream_id, sizeof(g->stream_id));
    g->status.backfill_total_s = (g->backfill_end_us - g->backfill_start_us) / 1000000;
    *out = g;
    return BM_OK;
fail:
    genloop_stop(g);
    return rc;
}

const void *genloop_model(const struct genloop *g)
{
    return g->model;
}

void genloop_sink_floor(struct genloop *g, int64_t acked)
{
    atomic_store_explicit(&g->sink_floor, acked, memory_order_relaxed);
}

uint64_t genloop_head(struct genloop *g)
{
    return atomic_load_explicit(&g->committed_head, memory_order_acquire);
}

uint64_t genloop_seed(const struct genloop *g)
{
    return g->seed;
}

struct bm_shard genloop_shard(const struct genloop *g)
{
    return g->shard;
}

bool genloop_owns_target(const struct genloop *g, int64_t target)
{
    if (!shard_split(&g->shard) || target < 0 || !g->def->gen->owns_target)
        return true;
    return g->def->gen->owns_target(g->model, target);
}

void genloop_status(struct genloop *g, struct genloop_status *st)
{
    pthread_mutex_lock(&g->lock);
    *st = g->status;
    st->configured_rate = g->live.events_per_second;
    st->configured_anomaly_rate = g->live.anomaly_rate;
    pthread_mutex_unlock(&g->lock);
}

void genloop_config(struct genloop *g, struct bm_config *out)
{
    pthread_mutex_lock(&g->lock);
    *out = g->live;
    pthread_mutex_unlock(&g->lock);
}

/* ------------------------------------------------------------------ */
/* The loop                                                             */

static int64_t live_target(const struct genloop *g)
{
    return g->anchor_sim_us + (time_mono_us() - g->anchor_mono_us);
}

static void count_rate(struct genloop *g, int64_t ts_us)
{
    int64_t sec = ts_us / 1000000;

    if (g->rate_origin_s < 0) {
        g->rate_origin_s = sec;
        g->rate_second = sec;
    }
    if (sec > g->rate_second) {
        int64_t gap = sec - g->rate_second;
        for (int64_t i = 1; i <= gap && i <= RATE_WINDOW; i++)
            g->rate_counts[(g->rate_second + i) % RATE_WINDOW] = 0;
        g->rate_second = sec;
    }
    if (sec > g->rate_second - RATE_WINDOW)
        g->rate_counts[sec % RATE_WINDOW]++;
}

static void publish(struct genloop *g, bool backfilling, bool paused)
{
    uint64_t sum = 0;
    int64_t sim = g->ls.last_us;
    int64_t span;

    for (int i = 0; i < RATE_WINDOW; i++)
        sum += g->rate_counts[i];
    /* Right after start the window is not full yet: average over what
     * it covers, not over 60 s. */
    span = g->rate_origin_s < 0 ? 1 : g->rate_second - g->rate_origin_s + 1;
    if (span > RATE_WINDOW)
        span = RATE_WINDOW;
    pthread_mutex_lock(&g->lock);
    g->status.head_seq = g->ls.next_seq - 1;
    g->status.generated = g->ls.generated;
    g->status.anomalies = g->ls.anomalies;
    g->status.api_events = g->ls.api_events;
    g->status.backfilling = backfilling;
    g->status.paused = paused;
    g->status.sim_now_ms = sim / 1000;
    g->status.backfill_done_s =
        (g->ls.last_us < g->backfill_end_us ? g->ls.last_us : g->backfill_end_us) / 1000000 -
        g->backfill_start_us / 1000000;
    if (g->status.backfill_done_s < 0)
        g->status.backfill_done_s = 0;
    g->status.realised_rate = (double)sum / (double)span;
    g->status.expected_rate = g->live.events_per_second * g->share *
                              (g->def->gen->constant_rate ? 1.0 : factor_at(g, sim));
    g->status.realised_anomaly_fraction =
        g->ls.generated ? (double)g->ls.anomalies / (double)g->ls.generated : 0.0;
    pthread_mutex_unlock(&g->lock);
}

/* ---- scenario timelines (scenario.h) ---- */

/* What GET /scenarios shows, from the loop's own state. */
static void scen_publish(struct genloop *g)
{
    pthread_mutex_lock(&g->lock);
    g->scen_done = g->scen ? g->scen_pos : 0;
    g->scen_total = g->scen ? g->scen->n : 0;
    g->scen_next_us = g->scen && g->scen_pos < g->scen->n
                          ? g->backfill_start_us + g->scen->steps[g->scen_pos].at_us
                          : INT64_MAX;
    pthread_mutex_unlock(&g->lock);
}

static enum bm_rc scen_save_pos(struct genloop *g)
{
    char num[24];

    snprintf(num, sizeof num, "%d", g->scen_pos);
    return meta_put_text(g->db, "scenario_pos", num);
}

/* A set step: as a POST /config of its keys, in the open transaction. */
static enum bm_rc scen_set(struct genloop *g, const struct scenario_step *st)
{
    struct bm_config next = g->live;
    struct api_fail f;
    struct buf diff;
    enum bm_rc rc;

    if (cfg_apply_runtime(&next, g->def->svc, st->set, &f) != BM_OK) {
        /* checked when it was loaded; a POST /config since may clash */
        log_warn("scenario step at +%llds skipped: %s", (long long)(st->at_us / 1000000), f.msg);
        return BM_OK;
    }
    buf_init(&diff, 64 * 1024);
    rc = cfg_runtime_diff_json(&next, &g->base, g->def->svc, &diff);
    if (rc == BM_OK)
        rc = db_meta_set(g->db, "runtime_config", diff.data, diff.len);
    buf_free(&diff);
    if (rc != BM_OK)
        return rc;
    pthread_mutex_lock(&g->lock);
    g->live = next;
    pthread_mutex_unlock(&g->lock);
    cfg_gen_params(&g->live, g->def->svc, &g->params);
    return BM_OK;
}

/* An inject step: scheduled for its own time, so this event starts it. */
static enum bm_rc scen_inject(struct genloop *g, const struct scenario_step *st)
{
    struct db_injection row;
    enum bm_rc rc;

    /* Each shard reads the one timeline: an injection with a target is
     * its owner's, one without goes to shard (step % n). */
    if (st->inj.target >= 0 ? !genloop_owns_target(g, st->inj.target)
                            : (uint32_t)g->scen_pos % g->shard.count != g->shard.index)
        return BM_OK;
    if (g->pending.n == INJECT_MAX) {
        log_warn("scenario injection at +%llds skipped: %d injections wait already",
                 (long long)(st->at_us / 1000000), INJECT_MAX);
        return BM_OK;
    }
    memset(&row, 0, sizeof row);
    row.inj = st->inj;
    row.at_us = g->backfill_start_us + st->at_us;
    rng_uuid4_bytes(&g->ls.api_rng, row.inj.id);
    rng_uuid_text(row.inj.id, row.incident_id);
    rc = db_injection_add(g->db, &row);
    if (rc == BM_OK)
        pending_add(&g->pending, &row);
    return rc;
}

/* Applies every step due at or before t, in the open transaction. */
static enum bm_rc scenario_due(struct genloop *g, int64_t t)
{
    enum bm_rc rc = BM_OK;
    bool any = false;

    while (rc == BM_OK && g->scen_pos < g->scen->n &&
           g->backfill_start_us + g->scen->steps[g->scen_pos].at_us <= t) {
        const struct scenario_step *st = &g->scen->steps[g->scen_pos];

        rc = st->kind == SCEN_INJECT ? scen_inject(g, st) : scen_set(g, st);
        g->scen_pos++;
        any = true;
    }
    if (rc == BM_OK && any)
        rc = scen_save_pos(g);
    if (any)
        scen_publish(g);
    return rc;
}

/* Makes sc (owned from here) the timeline, its first pos steps done. */
static void scen_install(struct genloop *g, struct scenario *sc, char *text, int pos,
                         int skipped)
{
    char *old_text;

    if (g->scen) {
        scenario_free(g->scen);
        free(g->scen);
    }
    g->scen = sc;
    g->scen_pos = pos;
    g->saved_scen_pos = pos;
    pthread_mutex_lock(&g->lock);
    old_text = g->scen_text;
    g->scen_text = text;
    g->scen_skipped = skipped;
    pthread_mutex_unlock(&g->lock);
    free(old_text);
    scen_publish(g);
}

/* Steps before `now` are skipped: a timeline is offsets from the
 * stream's start, and the stream does not go back. */
static int scen_first_due(const struct genloop *g, const struct scenario *sc, int64_t now)
{
    int pos = 0;

    while (pos < sc->n && g->backfill_start_us + sc->steps[pos].at_us < now)
        pos++;
    return pos;
}

/* Stores a new timeline (in its own transaction) and installs it. */
static enum bm_rc scen_store(struct genloop *g, struct scenario *sc, char *text, int64_t now)
{
    int pos = scen_first_due(g, sc, now);
    char num[24];
    enum bm_rc rc = tx_begin(g);

    if (rc != BM_OK) {
        write_failed(g);
        return BM_EDB;
    }
    rc = meta_put_text(g->db, "scenario", text);
    snprintf(num, sizeof num, "%d", pos);
    if (rc == BM_OK)
        rc = meta_put_text(g->db, "scenario_pos", num);
    if (rc == BM_OK)
        rc = meta_put_text(g->db, "scenario_skipped", num);
    if (rc != BM_OK) {
        db_rollback(g->db);
        restore(g);
        write_failed(g);
        return rc;
    }
    rc = tx_commit(g);
    if (rc != BM_OK)
        return rc;
    if (pos)
        log_warn("scenario \"%s\": %d step(s) before the simulated now skipped", sc->name, pos);
    log_info("scenario \"%s\": %d step(s) from the stream's start", sc->name, sc->n);
    scen_install(g, sc, text, pos, pos);
    return BM_OK;
}

/* Reads, checks and parses a scenario's JSON text into *out (allocated). */
static enum bm_rc scen_parse_text(struct genloop *g, const char *text, size_t len,
                                  struct scenario **out, struct api_fail *f)
{
    struct scenario *sc = calloc(1, sizeof *sc);
    cJSON *root = NULL;
    enum bm_rc rc;

    if (!sc)
        return BM_ENOMEM;
    if (json_parse(text, len, &root) != BM_OK) {
        api_fail_set(f, API_BAD_JSON, "", "not JSON");
        free(sc);
        return BM_EINVAL;
    }
    rc = scenario_parse(root, g->def->svc, &g->live, g->def->inject_check, g->model, sc, f);
    cJSON_Delete(root);
    if (rc != BM_OK) {
        free(sc);
        return rc;
    }
    *out = sc;
    return BM_OK;
}

static enum bm_rc read_file(const char *path, struct buf *out)
{
    char chunk[4096];
    FILE *fp = fopen(path, "r");
    enum bm_rc rc = BM_OK;
    size_t n;

    if (!fp)
        return BM_EIO;
    while (rc == BM_OK && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        rc = buf_append(out, chunk, n);
    if (rc == BM_OK && ferror(fp))
        rc = BM_EIO;
    fclose(fp);
    return rc;
}

/* At open: the stored timeline, then --scenario FILE if it differs. */
static enum bm_rc scen_open(struct genloop *g, const struct bm_config *cfg, char *err,
                            size_t errlen)
{
    struct buf stored, file;
    struct scenario *sc = NULL;
    struct api_fail f;
    char num[24];
    bool found = false;
    int64_t pos = 0, skipped = 0;
    enum bm_rc rc;

    buf_init(&stored, SCENARIO_TEXT_MAX);
    buf_init(&file, SCENARIO_TEXT_MAX);
    rc = db_meta_get(g->db, "scenario", &stored, &found);
    if (rc == BM_OK && found && stored.len) {
        if (scen_parse_text(g, stored.data, stored.len, &sc, &f) != BM_OK) {
            log_warn("stored scenario no longer valid (%s: %s); dropped", f.field, f.msg);
        } else {
            if (meta_text(g->db, "scenario_pos", num, sizeof num, &found) != BM_OK || !found ||
                parse_i64(num, 0, sc->n, &pos) != BM_OK)
                pos = 0;
            if (meta_text(g->db, "scenario_skipped", num, sizeof num, &found) != BM_OK ||
                !found || parse_i64(num, 0, sc->n, &skipped) != BM_OK)
                skipped = 0;
            scen_install(g, sc, strdup(stored.data), (int)pos, (int)skipped);
            sc = NULL;
        }
    }
    if (rc == BM_OK && cfg->scenario[0]) {
        rc = read_file(cfg->scenario, &file);
        if (rc != BM_OK) {
            snprintf(err, errlen, "cannot read scenario %s", cfg->scenario);
            rc = BM_EINVAL;
        } else if (!file.len) {
            snprintf(err, errlen, "scenario %s is empty", cfg->scenario);
            rc = BM_EINVAL;
        } else if (g->scen_text && strcmp(g->scen_text, file.data) == 0) {
            log_info("scenario %s: continuing it (%d of %d steps done)", cfg->scenario,
                     g->scen_pos, g->scen->n);
        } else if (scen_parse_text(g, file.data, file.len, &sc, &f) != BM_OK) {
            snprintf(err, errlen, "scenario %s: %s: %s", cfg->scenario,
                     f.field[0] ? f.field : "(body)", f.msg);
            rc = BM_EINVAL;
        } else {
            char *text = strdup(file.data);
            rc = text ? scen_store(g, sc, text, g->ls.last_us) : BM_ENOMEM;
            if (rc != BM_OK) {
                free(text);
                scenario_free(sc);
                free(sc);
                snprintf(err, errlen, "cannot store scenario %s", cfg->scenario);
            }
        }
    }
    buf_free(&stored);
    buf_free(&file);
    return rc;
}

/* Generates and inserts the event due at ls.next_us. */
static enum bm_rc generate_one(struct genloop *g, double eps)
{
    struct gen_event ev = { .json = &g->ev_json };
    int64_t t = g->ls.next_us;
    enum bm_rc rc;

    buf_reset(&g->ev_json);
    if (g->scen && g->scen_pos < g->scen->n && (rc = scenario_due(g, t)) != BM_OK)
        return rc;
    g->params.inject = g->pending.n && g->pending.at[0].at_us <= t ? &g->pending.at[0].inj : NULL;
    rc = g->def->gen->generate(g->model, g->svc_state, &g->params, &g->ls.gen_rng, t,
                          g->ls.next_seq, &ev);
    g->params.inject = NULL;
    if (rc == BM_OK)
        rc = shard_tag_event(&g->shard, &g->ev_json, 0);
    if (rc != BM_OK)
        return rc;
    rc = db_insert_event(g->db, g->ls.next_seq, ev.ts_ms, ev.anomaly_type, false,
                         g->ev_json.data, g->ev_json.len);
    if (rc == BM_OK && ev.incident_id[0])
        rc = db_note_incident_as(g->db, ev.incident_id, ev.anomaly_type,
                                 ev.injected ? DB_ORIGIN_INJECTED : DB_ORIGIN_GENERATED,
                                 g->ls.next_seq, ev.ts_ms, ev.incident_open);
    if (rc == BM_OK && g->def->store_event)
        rc = g->def->store_event(g->db, &ev);
    if (rc == BM_OK && ev.inject_taken) {
        rc = db_injection_taken(g->db, g->pending.at[0].incident_id, g->ls.next_seq);
        if (rc == BM_OK) {
            log_info("injected incident %s started at sequence %llu",
                     g->pending.at[0].incident_id, (unsigned long long)g->ls.next_seq);
            pending_pop(&g->pending);
        }
    }
    if (rc != BM_OK)
        return rc;
    g->ls.next_seq++;
    g->ls.generated++;
    if (ev.anomaly_type && !ev.injected) /* injections are no part of anomaly_rate */
        g->ls.anomalies++;
    g->ls.last_us = t;
    count_rate(g, t);
    if (g->scen && g->scen->nramps)
        eps = scenario_eps(g->scen, t - g->backfill_start_us, eps);
    g->ls.next_us = t + next_gap_us(g, t, eps);
    return BM_OK;
}

static int64_t sim_now_us(const struct genloop *g, bool backfilling)
{
    int64_t t = backfilling ? g->ls.last_us : live_target(g);
    return t > g->ls.last_us ? t : g->ls.last_us;
}

static void job_free(struct job *j);

static void finish_job(struct genloop *g, struct job *j, enum bm_rc rc)
{
    bool free_it;

    pthread_mutex_lock(&g->lock);
    j->rc = rc;
    j->done = true;
    free_it = --j->refs == 0;
    pthread_cond_broadcast(&g->done);
    pthread_mutex_unlock(&g->lock);
    if (free_it)
        job_free(j);
}

static enum bm_rc run_event_job(struct genloop *g, struct job *j, bool backfilling)
{
    struct gen_event ev = { .json = &g->ev_json };
    int64_t t = sim_now_us(g, backfilling);
    enum bm_rc rc;

    buf_reset(&g->ev_json);
    rc = tx_begin(g);
    if (rc != BM_OK) {
        write_failed(g);
        return BM_EDB;
    }
    rc = j->fn(j->arg, g->db, g->model, &g->ls.api_rng, t, g->ls.next_seq, &ev);
    if (rc == BM_OK)
        rc = shard_tag_event(&g->shard, &g->ev_json, 0);
    if (rc != BM_OK) {
        db_rollback(g->db);
        restore(g);
        return rc;
    }
    rc = db_insert_event(g->db, g->ls.next_seq, ev.ts_ms, ev.anomaly_type, true,
                         g->ev_json.data, g->ev_json.len);
    if (rc == BM_OK && ev.incident_id[0])
        rc = db_note_incident(g->db, ev.incident_id, ev.anomaly_type, true, g->ls.next_seq,
                              ev.ts_ms, ev.incident_open);
    if (rc == BM_OK && g->def->store_event)
        rc = g->def->store_event(g->db, &ev);
    if (rc == BM_OK) {
        g->ls.next_seq++;
        g->ls.api_events++;
        if (t > g->ls.last_us)
            g->ls.last_us = t;
        if (g->ls.next_us < g->ls.last_us)
            g->ls.next_us = g->ls.last_us;
        rc = tx_commit(g);
    } else {
        db_rollback(g->db);
        restore(g);
        write_failed(g);
    }
    if (rc == BM_OK && buf_append(&j->out, g->ev_json.data, g->ev_json.len) != BM_OK)
        rc = BM_ENOMEM;
    return rc;
}

static enum bm_rc run_config_job(struct genloop *g, struct job *j)
{
    struct api_fail f;
    struct buf diff;
    enum bm_rc rc;

    /* On top of the live settings as they are now, not as the request
     * read them: two changes of different keys both hold. The request
     * validated it; the one check across keys (the type rates' sum
     * against anomaly_rate) may fail on top of a change committed
     * meanwhile: BM_EINVAL, answered 422. */
    j->cfg = g->live;
    if (cfg_apply_runtime(&j->cfg, g->def->svc, j->change, &f) != BM_OK)
        return BM_EINVAL;
    buf_init(&diff, 64 * 1024);
    rc = cfg_runtime_diff_json(&j->cfg, &g->base, g->def->svc, &diff);
    if (rc != BM_OK)
        goto out; /* the diff could not be built: not a database failure */
    rc = tx_begin(g);
    if (rc == BM_OK) {
        rc = db_meta_set(g->db, "runtime_config", diff.data, diff.len);
        if (rc == BM_OK) {
            rc = tx_commit(g); /* counts its own failure */
            goto out;
        }
        db_rollback(g->db);
    }
    write_failed(g);
out:
    if (rc == BM_OK) {
        pthread_mutex_lock(&g->lock);
        g->live = j->cfg;
        pthread_mutex_unlock(&g->lock);
        cfg_gen_params(&g->live, g->def->svc, &g->params);
        log_info("runtime settings changed: %s", diff.data);
    }
    buf_free(&diff);
    return rc;
}

/* Schedules an injection: its id from the API stream (so a replay of the
 * same requests gives the same ids), its time no earlier than the
 * simulated now, stored in its own transaction. */
static enum bm_rc run_inject_job(struct genloop *g, struct job *j, bool backfilling)
{
    struct genloop_injection *in = &j->inj;
    struct db_injection row;
    int64_t now = sim_now_us(g, backfilling), at = in->at_now ? now : in->at_ms * 1000;
    uint64_t head, oldest;
    int64_t oldest_ms = 0;
    bool found = false;
    enum bm_rc rc;

    if (g->pending.n == INJECT_MAX)
        return BM_EFULL;
    if (!in->at_now && at < now) {
        /* the past is taken back to now, unless it is before the store */
        rc = db_bounds(g->db, &head, &oldest);
        if (rc == BM_OK && oldest)
            rc = db_event_ts(g->db, oldest, &oldest_ms, &found);
        if (rc != BM_OK)
            return BM_EDB;
        if (!found || in->at_ms < oldest_ms)
            return BM_ERANGE;
    }
    memset(&row, 0, sizeof row);
    row.inj = in->inj;
    row.at_us = at > now ? at : now;
    rc = tx_begin(g);
    if (rc != BM_OK) {
        write_failed(g);
        return BM_EDB;
    }
    rng_uuid4_bytes(&g->ls.api_rng, row.inj.id);
    rng_uuid_text(row.inj.id, row.incident_id);
    rc = db_injection_add(g->db, &row);
    if (rc == BM_OK) {
        pending_add(&g->pending, &row);
        rc = tx_commit(g); /* rolls back and counts its own failure */
    } else {
        db_rollback(g->db);
        restore(g);
        write_failed(g);
    }
    if (rc != BM_OK)
        return rc;
    /* a future time up to the next arrival is that arrival's */
    memcpy(in->incident_id, row.incident_id, sizeof in->incident_id);
    in->planned_ms = timefmt_ms_of_us(row.at_us > g->ls.next_us ? row.at_us : g->ls.next_us);
    memcpy(in->inj.id, row.inj.id, sizeof in->inj.id);
    log_info("injection %s (%s, %d events) scheduled for %lld ms", row.incident_id,
             svc_info(g->def->svc)->anomaly_types[row.inj.type], row.inj.size,
             (long long)in->planned_ms);
    return BM_OK;
}

static enum bm_rc run_scenario_job(struct genloop *g, struct job *j, bool backfilling)
{
    enum bm_rc rc = scen_store(g, j->scen, j->scen_text, sim_now_us(g, backfilling));

    if (rc == BM_OK) { /* installed: the loop owns them now */
        j->scen = NULL;
        j->scen_text = NULL;
    }
    return rc;
}

/* A write of the API's own (a stored score) in a transaction of its own. */
static enum bm_rc run_write_job(struct genloop *g, struct job *j)
{
    enum bm_rc rc = tx_begin(g);

    if (rc == BM_OK) {
        rc = j->write_fn(j->arg, g->db);
        if (rc == BM_OK)
            return tx_commit(g);
        db_rollback(g->db);
        restore(g);
    }
    write_failed(g);
    return rc;
}

/* Runs queued jobs; returns false when asked to stop. */
static bool drain_jobs(struct genloop *g, bool backfilling)
{
    for (;;) {
        struct job *j;
        enum bm_rc rc;

        pthread_mutex_lock(&g->lock);
        if (g->q_len == 0) {
            bool stop = g->stop;
            pthread_mutex_unlock(&g->lock);
            return !stop;
        }
        j = g->queue[g->q_head];
        g->q_head = (g->q_head + 1) % QUEUE_CAP;
        g->q_len--;
        pthread_mutex_unlock(&g->lock);

        if (j->kind == JOB_EVENT)
            rc = run_event_job(g, j, backfilling);
        else if (j->kind == JOB_WRITE)
            rc = run_write_job(g, j);
        else if (j->kind == JOB_INJECT)
            rc = run_inject_job(g, j, backfilling);
        else if (j->kind == JOB_SCENARIO)
            rc = run_scenario_job(g, j, backfilling);
        else
            rc = run_config_job(g, j);
        finish_job(g, j, rc);
    }
}

static void wait_for(struct genloop *g, int64_t us)
{
    struct timespec ts;
    int64_t until;

    if (us <= 0)
        return;
    until = time_mono_us() + us;
    ts.tv_sec = (time_t)(until / 1000000);
    ts.tv_nsec = (long)((until % 1000000) * 1000);
    pthread_mutex_lock(&g->lock);
    if (!g->stop && g->q_len == 0)
        (void)pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    pthread_mutex_unlock(&g->lock);
}

static void progress_line(struct genloop *g)
{
    int64_t now = time_mono_us();
    char ts[TIMEFMT_ISO_LEN + 1];

    if (now - g->last_progress_us < 1000000)
        return;
    g->last_progress_us = now;
    timefmt_iso(g->ls.last_us / 1000, ts);
    log_info("backfill: %lld of %lld simulated seconds, %llu events, at %s",
             (long long)((g->ls.last_us - g->backfill_start_us) / 1000000),
             (long long)((g->backfill_end_us - g->backfill_start_us) / 1000000),
             (unsigned long long)g->ls.generated, ts);
}

/* The newest events to keep: retention_events, or more while a sink has
 * not delivered them, up to sink_max_lag_events of them; the sink counts
 * the ones pruned past that bound as dropped. */
static int64_t keep_events(struct genloop *g, const struct bm_config *cur)
{
    int64_t floor = atomic_load_explicit(&g->sink_floor, memory_order_relaxed);
    int64_t head = (int64_t)g->ls.next_seq - 1, lag;

    if (floor < 0 || floor >= head)
        return cur->retention_events;
    lag = head - floor;
    if (lag > cur->sink_max_lag_events)
        lag = cur->sink_max_lag_events;
    return lag > cur->retention_events ? lag : cur->retention_events;
}

/* The backfill is over: the writer's page cache goes back to its usual
 * size, and a last line says what it wrote and how fast (bench/run.sh
 * reads it, so the shards' rate needs no polling). */
static void backfill_done(struct genloop *g)
{
    double secs = (double)(time_mono_us() - g->backfill_mono_us) / 1e6;
    uint64_t n = g->ls.generated - g->backfill_from;

    if (g->backfill_mono_us == 0)
        return;
    if (db_cache_kib(g->db, DB_CACHE_KIB) != BM_OK)
        log_warn("backfill: the writer's page cache stays large");
    log_info("backfill: done, %llu events in %.3f s (%.0f events/s)", (unsigned long long)n,
             secs, secs > 0 ? (double)n / secs : 0.0);
    g->backfill_mono_us = 0;
}

/* Rows per write transaction while backfilling, when batch_size is
 * smaller. History is regenerated byte for byte after a crash, so a
 * backfill's batches may be long; each commit writes the generator state
 * (up to 32 KB) and again the index pages the batch touched, and at 500
 * rows WAL checksums alone were 8 % of auth-service's backfill time. */
#define BACKFILL_BATCH 4096

/* One batch: generate what is due (up to batch_size, BACKFILL_BATCH while
 * backfilling; at most 100 ms of work), prune, commit. Returns the number
 * of events generated. */
static int64_t run_batch(struct genloop *g, const struct bm_config *cur, int64_t target,
                         bool backfilling)
{
    int64_t n = 0, begun = time_mono_us(), pruned;
    int64_t cap = backfilling && cur->batch_size < BACKFILL_BATCH ? BACKFILL_BATCH
                                                                  : cur->batch_size;
    enum bm_rc rc;

    if (g->ls.next_us > target)
        return 0;
    if (tx_begin(g) != BM_OK) {
        write_failed(g);
        return -1;
    }
    while (g->ls.next_us <= target && n < cap) {
        rc = generate_one(g, cur->events_per_second);
        if (rc != BM_OK)
            goto fail;
        n++;
        if ((n & 63) == 0 && time_mono_us() - begun > COMMIT_EVERY_US)
            break;
    }
    /* Prune a little more than we added, so retention keeps up. */
    if (db_prune(g->db, keep_events(g, cur), 2 * n + 64, &pruned) != BM_OK)
        goto fail;
    if (pruned && g->def->prune_extra) {
        uint64_t head, oldest;
        if (db_bounds(g->db, &head, &oldest) != BM_OK ||
            g->def->prune_extra(g->db, oldest) != BM_OK)
            goto fail;
    }
    if (tx_commit(g) != BM_OK)
        return -1;
    return n;
fail:
    log_error("generation failed: %s", db_errmsg(g->db));
    db_rollback(g->db);
    restore(g);
    write_failed(g);
    return -1;
}

static void *loop_main(void *arg)
{
    struct genloop *g = arg;
    const struct bm_config *cur = &g->live; /* changes only in drain_jobs() */

    /* Requests wait on this machine's cores, generation does not: event
     * times come from the simulated clock, so a generator that yields the
     * CPU to request threads changes no data, only when it is written.
     * Linux applies a nice value per thread. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5) != 0)
        log_debug("generator thread keeps the default priority");

    g->anchor_sim_us = g->ls.last_us > g->backfill_end_us ? g->ls.last_us : g->backfill_end_us;
    g->anchor_mono_us = time_mono_us();
    g->was_paused = cur->paused;
    if (g->ls.next_us < g->backfill_end_us) {
        g->backfill_mono_us = g->anchor_mono_us;
        g->backfill_from = g->ls.generated;
        if (db_cache_kib(g->db, DB_BACKFILL_CACHE_KIB) != BM_OK)
            log_warn("backfill: the writer keeps its usual page cache");
    }

    for (;;) {
        bool backfilling = g->ls.next_us < g->backfill_end_us;
        int64_t target, n;

        if (!drain_jobs(g, backfilling))
            break;
        if (cur->paused) {
            g->was_paused = true;
            publish(g, backfilling, true);
            wait_for(g, 100000);
            continue;
        }
        if (g->was_paused) {
            /* No catch-up for the paused span: skip to now. */
            int64_t now = live_target(g);
            g->was_paused = false;
            if (!backfilling && g->ls.next_us < now)
                g->ls.next_us = now + next_gap_us(g, now, cur->events_per_second);
        }
        target = backfilling ? g->backfill_end_us - 1 : live_target(g);
        n = run_batch(g, cur, target, backfilling);
        publish(g, g->ls.next_us < g->backfill_end_us, false);
        if (backfilling)
            progress_line(g);
        if (backfilling && g->ls.next_us >= g->backfill_end_us)
            backfill_done(g);
        if (n > 0 && !backfilling)
            g->last_live_commit_us = time_mono_us();
        if (n < 0) {
            wait_for(g, 1000000); /* back off after a write failure */
        } else if (!backfilling && g->ls.next_us > target) {
            /* Caught up with what was due (a batch cut short by its size
             * or time cap goes on at once): gather until the next. */
            int64_t due = g->ls.next_us - live_target(g);
            int64_t gather = g->last_live_commit_us + LIVE_GATHER_US - time_mono_us();

            if (due < gather)
                due = gather;
            wait_for(g, due < COMMIT_EVERY_US ? due : COMMIT_EVERY_US);
        }
    }
    /* Fail whatever is still queued. */
    pthread_mutex_lock(&g->lock);
    while (g->q_len) {
        struct job *j = g->queue[g->q_head];
        g->q_head = (g->q_head + 1) % QUEUE_CAP;
        g->q_len--;
        pthread_mutex_unlock(&g->lock);
        finish_job(g, j, BM_ESTATE);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

enum bm_rc genloop_start(struct genloop *g)
{
    if (pthread_create(&g->thread, NULL, loop_main, g) != 0)
        return BM_EIO;
    g->started = true;
    return BM_OK;
}

void genloop_stop(struct genloop *g)
{
    if (!g)
        return;
    if (g->started) {
        pthread_mutex_lock(&g->lock);
        g->stop = true;
        pthread_cond_broadcast(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    db_close(g->db);
    if (g->model)
        g->def->gen->model_free(g->model);
    pthread_cond_destroy(&g->wake);
    pthread_cond_destroy(&g->done);
    pthread_mutex_destroy(&g->lock);
    buf_free(&g->state_blob);
    buf_free(&g->ev_json);
    if (g->scen) {
        scenario_free(g->scen);
        free(g->scen);
    }
    free(g->scen_text);
    free(g->svc_state);
    free(g->saved_svc_state);
    free(g);
}

/* ------------------------------------------------------------------ */
/* Submissions from request threads                                     */

static void job_free(struct job *j)
{
    if (j->scen) {
        scenario_free(j->scen);
        free(j->scen);
    }
    free(j->scen_text);
    cJSON_Delete(j->change);
    buf_free(&j->out);
    free(j->arg);
    free(j);
}

/* A job of kind with a copy of arg (none when arg_size is 0) and an
 * answer buffer of out_cap; NULL when memory runs out. */
static struct job *job_new(enum job_kind kind, size_t out_cap, const void *arg, size_t arg_size)
{
    struct job *j = calloc(1, sizeof(*j));

    if (!j)
        return NULL;
    j->kind = kind;
    if (arg_size) {
        j->arg = malloc(arg_size);
        if (!j->arg) {
            free(j);
            return NULL;
        }
        memcpy(j->arg, arg, arg_size);
    }
    buf_init(&j->out, out_cap);
    return j;
}

/* Queues j and waits. The job is shared with the loop until both sides
 * let go of it (refs), so a submitter that times out leaves safely. */
static enum bm_rc submit(struct genloop *g, struct job *j, struct buf *out,
                         struct genloop_injection *inj)
{
    struct timespec ts;
    int64_t until = time_mono_us() + SUBMIT_WAIT_MS * 1000;
    enum bm_rc rc;
    bool free_it;

    ts.tv_sec = (time_t)(until / 1000000);
    ts.tv_nsec = (long)((until % 1000000) * 1000);
    j->refs = 2;
    pthread_mutex_lock(&g->lock);
    if (g->stop || g->q_len == QUEUE_CAP) {
        pthread_mutex_unlock(&g->lock);
        job_free(j);
        return g->stop ? BM_ESTATE : BM_EFULL;
    }
    g->queue[(g->q_head + g->q_len) % QUEUE_CAP] = j;
    g->q_len++;
    pthread_cond_signal(&g->wake);
    while (!j->done) {
        if (pthread_cond_timedwait(&g->done, &g->lock, &ts) == ETIMEDOUT)
            break;
    }
    rc = j->done ? j->rc : BM_ETIMEOUT;
    if (rc == BM_OK && out && buf_append(out, j->out.data, j->out.len) != BM_OK)
        rc = BM_ENOMEM;
    if (rc == BM_OK && inj)
        *inj = j->inj;
    free_it = --j->refs == 0;
    pthread_mutex_unlock(&g->lock);
    if (free_it)
        job_free(j);
    return rc;
}

enum bm_rc genloop_submit_event(struct genloop *g, genloop_api_fn fn, const void *arg,
                                size_t arg_size, struct buf *out)
{
    struct job *j = job_new(JOB_EVENT, EVENT_JSON_MAX, arg, arg_size);

    if (!j)
        return BM_ENOMEM;
    j->fn = fn;
    return submit(g, j, out, NULL);
}

enum bm_rc genloop_submit_config(struct genloop *g, const cJSON *change)
{
    struct job *j = job_new(JOB_CONFIG, 16, NULL, 0);

    if (!j)
        return BM_ENOMEM;
    j->change = cJSON_Duplicate(change, true);
    if (!j->change) {
        job_free(j);
        return BM_ENOMEM;
    }
    return submit(g, j, NULL, NULL);
}

enum bm_rc genloop_submit_inject(struct genloop *g, struct genloop_injection *in)
{
    struct job *j = job_new(JOB_INJECT, 16, NULL, 0);

    if (!j)
        return BM_ENOMEM;
    j->inj = *in;
    return submit(g, j, NULL, in);
}

enum bm_rc genloop_submit_scenario(struct genloop *g, struct scenario *sc, char *text)
{
    struct job *j = job_new(JOB_SCENARIO, 16, NULL, 0);

    if (!j) {
        scenario_free(sc);
        free(sc);
        free(text);
        return BM_ENOMEM;
    }
    j->scen = sc;
    j->scen_text = text;
    return submit(g, j, NULL, NULL);
}

enum bm_rc genloop_scenarios(struct genloop *g, struct buf *out)
{
    char start[TIMEFMT_ISO_LEN + 1], next[TIMEFMT_ISO_LEN + 1];
    enum bm_rc rc;

    timefmt_iso(g->backfill_start_us / 1000, start);
    pthread_mutex_lock(&g->lock);
    if (!g->scen_text) {
        pthread_mutex_unlock(&g->lock);
        return buf_puts(out, "{\"scenarios\":[]}");
    }
    if (g->scen_next_us != INT64_MAX)
        timefmt_iso(g->scen_next_us / 1000, next);
    rc = buf_printf(out,
                    "{\"scenarios\":[{\"stream_start\":\"%s\",\"steps_total\":%d,"
                    "\"steps_done\":%d,\"steps_skipped\":%d,\"next_step_at\":%s%s%s,"
                    "\"state\":\"%s\",\"scenario\":%s}]}",
                    start, g->scen_total, g->scen_done, g->scen_skipped,
                    g->scen_next_us != INT64_MAX ? "\"" : "",
                    g->scen_next_us != INT64_MAX ? next : "null",
                    g->scen_next_us != INT64_MAX ? "\"" : "",
                    g->scen_done < g->scen_total ? "running" : "done", g->scen_text);
    pthread_mutex_unlock(&g->lock);
    return rc;
}

enum bm_rc genloop_submit_write(struct genloop *g, genloop_write_fn fn, const void *arg,
                                size_t arg_size)
{
    struct job *j = job_new(JOB_WRITE, 16, arg, arg_size);

    if (!j)
        return BM_ENOMEM;
    j->write_fn = fn;
    return submit(g, j, NULL, NULL);
}
