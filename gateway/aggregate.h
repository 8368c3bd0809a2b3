/* aggregate.h - the gateway's state: the merged events (buffer.h) and
 * what is known of each service's replicas. Only the gateway's aggregate
 * code (aggregate.c, report.c) touches these fields: the poller and the
 * handlers go through the functions below, which take the lock, and
 * nothing logs or does I/O under it. */
#ifndef BM_GATEWAY_AGGREGATE_H
#define BM_GATEWAY_AGGREGATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "buffer.h"
#include "db.h"
#include "gen.h"
#include "history.h"
#include "page.h"
#include "rc.h"
#include "svc.h"

enum gw_state { GW_UNKNOWN, GW_OK, GW_DEGRADED, GW_UNREACHABLE };

#define GW_REPLICAS_MAX 8

/* A first contact, or a new stream, starts this far behind the head: the
 * buffer keeps only the newest events anyway. */
#define GW_INITIAL_BACKLOG 10000

/* One base URL of a service, polled on its own: its own stream and
 * cursor, so replicas with different data are all followed. */
struct gw_replica {
    char url[256];                /* fixed once the poller runs: read without the lock */
    enum gw_state state;
    char last_error[192];
    int64_t last_success_ms;      /* wall clock, 0 = never */
    int64_t last_success_mono_us; /* for the age of the data */
    char stream_id[sizeof(((struct gw_health *)0)->stream_id)];
    uint64_t cursor;              /* highest sequence received */
    bool cursor_set;
    uint64_t head_sequence;
    uint32_t shard_index, shard_count; /* from its /health; count 0: not heard yet */
    char health_status[sizeof(((struct gw_health *)0)->status)];
    uint64_t events;              /* kept from this replica (not duplicates) */
    uint64_t polls, poll_errors;
    char *metrics_json;           /* its last /metrics body */
};

struct gw_svc {
    int nrep;                     /* fixed once the poller runs */
    struct gw_replica rep[GW_REPLICAS_MAX];
    uint64_t events;              /* received since start, all replicas */
    uint64_t anomalies;
    uint64_t by_type[GEN_MAX_TYPES];
};

struct gw_agg {
    pthread_mutex_t mu; /* guards every field below (but the URLs and nrep) */
    struct gw_buffer buf;
    uint64_t oversized;  /* events over half the buffer, skipped */
    uint64_t duplicates;
    int64_t poll_interval_ms;
    struct gw_svc svc[SVC_NSOURCES];
    struct gw_history hist; /* what the dashboard page charts */
};

enum bm_rc gw_agg_init(struct gw_agg *a, size_t max_bytes, int64_t poll_interval_ms) BM_WUR;
void gw_agg_free(struct gw_agg *a);

/* Sets a service's replicas (before the poller starts; the URLs do not
 * change afterwards, so they may be read without the lock). */
enum bm_rc gw_agg_set_replicas(struct gw_agg *a, enum bm_svc s, const char *const *urls,
                               int n) BM_WUR;
int gw_agg_nrep(const struct gw_agg *a, enum bm_svc s);
const char *gw_agg_url(const struct gw_agg *a, enum bm_svc s, int rep);

const char *gw_state_name(enum gw_state s);

/* Copies events received from replica rep of src into the buffer (the
 * caller still frees ev), giving each the next gateway_sequence and
 * counting them; evicts the oldest over max_bytes. Events at or below the
 * replica's cursor, or whose (source, id) is already buffered (another
 * replica's copy), are dropped as duplicates; one larger than half the
 * buffer is skipped and counted in oversized. */
enum bm_rc gw_agg_append(struct gw_agg *a, enum bm_svc src, int rep, struct gw_event *ev,
                         size_t n) BM_WUR;

/* The merged list, same rules as the services' lists, over gseq. */
enum bm_rc gw_agg_list(struct gw_agg *a, const struct db_list_query *q, struct buf *out) BM_WUR;
/* The newest gateway_sequence given: every list answer, its
 * oldest_sequence included, stays the same while this does (events are
 * only ever added, and evicted only when one is). */
uint64_t gw_agg_list_version(struct gw_agg *a);

/* One event of gw_agg_read: its gateway_sequence, its anomaly type's
 * name (NULL: none) and its text as /events writes it. false stops. */
typedef bool (*gw_agg_event_fn)(void *ud, uint64_t gseq, const char *type, const char *json,
                                size_t len);
/* gw_buffer_read's events (buffer.h) copied under the lock, then handed
 * to fn outside it; when fn stops the read, *examined is the last event
 * it took (or `after`). */
enum bm_rc gw_agg_read(struct gw_agg *a, const struct db_list_query *q, uint64_t after,
                       size_t max, gw_agg_event_fn fn, void *ud, uint64_t *examined) BM_WUR;

/* What the poller learns of a replica. Each returns whether the change
 * is one to log (the caller logs, after the lock is released). */

/* The sequence to ask the replica's events after. */
uint64_t gw_agg_cursor(struct gw_agg *a, enum bm_svc s, int rep);
/* A poll failed: state st for the reason err (counted in poll_errors).
 * True if the state or the reason changed. */
bool gw_agg_mark_failed(struct gw_agg *a, enum bm_svc s, int rep, enum gw_state st,
                        const char *err);
/* A poll round reached the replica's head: ok, at these clocks (counted
 * in polls). True if it was not ok before. */
bool gw_agg_mark_ok(struct gw_agg *a, enum bm_svc s, int rep, int64_t now_ms,
                    int64_t now_mono_us);
/* Its /health: a new stream_id restarts the cursor GW_INITIAL_BACKLOG
 * behind the head. True if it replaced a stream seen before. */
bool gw_agg_apply_health(struct gw_agg *a, enum bm_svc s, int rep, const struct gw_health *h);
/* Its /metrics body (JSON, NUL-terminated), which the aggregate now owns. */
void gw_agg_adopt_metrics(struct gw_agg *a, enum bm_svc s, int rep, char *json);

/* A replica's polled state; its data is degraded when older than 3
 * poll intervals. */
enum gw_state gw_effective_state(const struct gw_replica *r, int64_t now_mono_us,
                                 int64_t poll_interval_ms);

/* A service's state is its best replica's (the service is served while
 * one replica is); *best is that replica, the lowest index among equals.
 * Shards (upstreams whose /health names different shard indexes, shard.h)
 * are slices, not copies: while one has no ok replica, or a shard of the
 * count they name has no upstream at all, an ok service is degraded. */
enum gw_state gw_svc_state(const struct gw_svc *s, int64_t now_mono_us, int64_t poll_interval_ms,
                           int *best);

/* The shards a service's upstreams name (1 when none is sharded) and how
 * many of them have an ok replica (into *ok). Under the lock. */
int gw_svc_shards(const struct gw_svc *s, int64_t now_mono_us, int64_t poll_interval_ms,
                  int *ok);

/* Replica indexes to try for a proxied request: ok ones first (in index
 * order), then the rest. Returns the count. Takes the lock. */
int gw_route_order(struct gw_agg *a, enum bm_svc s, int *order);

#endif
