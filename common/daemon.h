/* daemon.h - a service's life: parse, open the database, start the
 * generator and HTTP server, wait for a signal, drain, stop. */
#ifndef BM_COMMON_DAEMON_H
#define BM_COMMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "gen.h"
#include "http_server.h"
#include "rng.h"

struct db;

struct genloop;

struct service_def {
    enum bm_svc svc;
    const char *events_path;      /* "/transactions/events" */
    const struct route *routes;   /* service routes beyond the common ones */
    size_t nroutes;
    size_t state_size;            /* generator state, persisted as bytes */
    bool constant_rate;           /* sample at a constant rate (monitoring) */
    void *(*model_new)(uint64_t seed, const struct bm_config *c);
    void (*model_free)(void *model);
    void (*state_init)(void *state, struct rng *r);
    /* false if restored bytes are not a state this binary understands */
    bool (*state_valid)(const void *state);
    enum bm_rc (*generate)(const void *model, void *state, const struct gen_params *p,
                           struct rng *r, int64_t t_us, uint64_t seq, struct gen_event *ev);
    /* Optional service tables beside the common events table (store.c):
     * schema run on the writer at open; a write per event in the same
     * transaction as its row; pruning to the oldest sequence kept. */
    const char *extra_schema;
    enum bm_rc (*store_event)(struct db *db, const struct gen_event *ev);
    enum bm_rc (*prune_extra)(struct db *db, uint64_t oldest_kept);
};

/* What handlers reach through http_req_app(). */
struct app {
    const struct service_def *def;
    struct genloop *gl;
    void *model;
    char db_path[512];
    int64_t started_us; /* monotonic */
};

int daemon_run(const struct service_def *def, int argc, char **argv);

/* For processes with their own lifecycle (the gateway). Call before any
 * thread starts: SIGINT/SIGTERM are blocked in every thread and the wait
 * (main thread) returns when one arrives; SIGPIPE and SIGXFSZ are ignored. */
void daemon_install_signals(void);
void daemon_wait_for_signal(void);

/* The request body parsed as JSON (the caller deletes it); on an empty
 * or invalid body answers the 400 itself and returns NULL. */
struct cJSON *daemon_body_json(struct http_req *req);

/* Common handlers (also used by tests). */
void daemon_h_health(struct http_req *req);
void daemon_h_metrics(struct http_req *req);
void daemon_h_config_get(struct http_req *req);
void daemon_h_config_set(struct http_req *req);
void daemon_h_events(struct http_req *req);

#endif
