/* service.h - the service contract: what a service gives the common
 * code (struct service_def, one const instance per service, handed by its
 * main.c to daemon_run) and what its handlers get back (struct app).
 * Below both daemon.c, which runs a service, and genloop.c, which drives
 * its generator: it includes neither. */
#ifndef BM_COMMON_SERVICE_H
#define BM_COMMON_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_errors.h"
#include "config.h"
#include "gen.h"
#include "rc.h"
#include "rng.h"

struct cJSON;
struct db;
struct db_sql;
struct genloop;
struct route;
struct sink;
struct stream_hub;

struct service_def {
    enum bm_svc svc;
    const struct route *routes;   /* service routes beyond the common ones */
    size_t nroutes;
    /* the generator (gen.h): its model is built by genloop_open once the
     * stream's seed is known and freed by genloop_stop */
    const struct service_gen *gen;
    /* Optional service tables beside the common events table (store.c):
     * schema and statements (db.h); a write per event in the same
     * transaction as its row; pruning to the oldest sequence kept. */
    const struct db_sql *sql;
    enum bm_rc (*store_event)(struct db *db, const struct gen_event *ev);
    enum bm_rc (*prune_extra)(struct db *db, uint64_t oldest_kept);
    /* Optional (NULL: POST /inject answers 422 for every type): checks an
     * injection's type (one of the service's), target (NULL, or the
     * request's object) and size (size < 0: the type's usual) against the
     * model; fills inj's type, target (-1: the generator draws one) and
     * size, or f (422 naming the field). Pure. */
    enum bm_rc (*inject_check)(const void *model, const char *type, const struct cJSON *target,
                               int64_t size, struct gen_inject *inj, struct api_fail *f);
};

/* What handlers reach through http_req_app(): set up by daemon_run before
 * the HTTP server starts, read-only while it runs. */
struct app {
    const struct service_def *def;
    struct genloop *gl; /* also owns the model: genloop_model() */
    char db_path[512];
    int64_t started_us; /* monotonic */
    struct stream_hub *streams; /* server-sent events (stream.h) */
    struct sink *sink;          /* the Kinesis sink (sink.h), NULL none */
};

#endif
