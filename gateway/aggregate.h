/* aggregate.h - the gateway's state: the bounded buffer of merged events
 * with their gateway_sequence, and what is known of each service. Every
 * field is guarded by gw_agg.mu; readers copy out under the lock, no I/O
 * happens under it. */
#ifndef BM_GATEWAY_AGGREGATE_H
#define BM_GATEWAY_AGGREGATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "gen.h"
#include "rc.h"
#include "svc.h"

enum gw_state { GW_UNKNOWN, GW_OK, GW_DEGRADED, GW_UNREACHABLE };

#define GW_TYPE_MAX 40
#define GW_ID_MAX 64

/* One event as received; json_rest is the service's object text without
 * its opening brace, so the gateway's members can be put in front. */
struct gw_event {
    uint64_t gseq;
    uint64_t seq;
    enum bm_svc src;
    uint64_t idh;        /* hash of (source, id), for dropping duplicates */
    bool anomaly;
    char type[GW_TYPE_MAX];
    char *json_rest;
    size_t len;
};

#define GW_REPLICAS_MAX 8

/* One base URL of a service, polled on its own: its own stream and
 * cursor, so replicas with different data are all followed. */
struct gw_replica {
    char url[256];
    enum gw_state state;
    char last_error[192];
    int64_t last_success_ms;      /* wall clock, 0 = never */
    int64_t last_success_mono_us; /* for the age of the data */
    char stream_id[64];
    uint64_t cursor;              /* highest sequence received */
    bool cursor_set;
    uint64_t head_sequence;
    char health_status[24];
    uint64_t events;              /* kept from this replica (not duplicates) */
    uint64_t polls, poll_errors;
    char *metrics_json;           /* its last /metrics body */
};

struct gw_svc {
    int nrep;
    struct gw_replica rep[GW_REPLICAS_MAX];
    uint64_t events;              /* received since start, all replicas */
    uint64_t anomalies;
    uint64_t by_type[GEN_MAX_TYPES];
};

/* One buffered event; its text is json_rest, kept in the agg's text ring. */
struct gw_slot {
    uint64_t gseq;
    uint64_t seq;
    uint64_t idh;
    uint32_t off, len; /* in gw_agg.text */
    uint8_t src;
    int8_t type;       /* index among the source's anomaly types, -1 none */
    bool anomaly;
};

struct gw_agg {
    pthread_mutex_t mu; /* guards every field below */
    struct gw_slot *ring;
    size_t cap, head, n; /* ring[head] is the oldest */
    char *text;          /* the events' text: one circular allocation */
    size_t text_cap, text_tail;
    size_t bytes, max_bytes; /* text plus slots of the buffered events */
    uint64_t oversized;  /* events over half the buffer, skipped */
    uint64_t last_gseq;  /* newest assigned; 0 = none */
    uint64_t evicted;
    uint64_t duplicates;
    uint64_t *ids;       /* open-addressing set of the buffered events' idh */
    size_t ids_cap;      /* power of two, > 2 * n */
    int64_t poll_interval_ms;
    struct gw_svc svc[SVC_NSOURCES];
};

enum bm_rc gw_agg_init(struct gw_agg *a, size_t max_bytes, int64_t poll_interval_ms) BM_WUR;
void gw_agg_free(struct gw_agg *a);

/* Sets a service's replicas (before the poller starts; the URLs do not
 * change afterwards, so they may be read without the lock). */
enum bm_rc gw_agg_set_replicas(struct gw_agg *a, enum bm_svc s, const char *const *urls,
                               int n) BM_WUR;

const char *gw_state_name(enum gw_state s);

/* Parses one page of a service's event list into events (json_rest
 * allocated, gseq unset). *next_since and *count come from the page.
 * BM_EINVAL on a body that is not such a page. */
enum bm_rc gw_parse_page(enum bm_svc src, const char *body, size_t len, struct gw_event **out,
                         size_t *n, uint64_t *next_since) BM_WUR;
void gw_events_free(struct gw_event *ev, size_t n);

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

/* A replica's polled state; its data is degraded when older than 3
 * poll intervals. */
enum gw_state gw_effective_state(const struct gw_replica *r, int64_t now_mono_us,
                                 int64_t poll_interval_ms);

/* A service's state is its best replica's (the service is served while
 * one replica is); *best is that replica, the lowest index among equals. */
enum gw_state gw_svc_state(const struct gw_svc *s, int64_t now_mono_us, int64_t poll_interval_ms,
                           int *best);

/* Replica indexes to try for a proxied request: ok ones first (in index
 * order), then the rest. Returns the count. Takes the lock. */
int gw_route_order(struct gw_agg *a, enum bm_svc s, int *order);

enum bm_rc gw_agg_dashboard(struct gw_agg *a, struct buf *out) BM_WUR;
enum bm_rc gw_agg_system_health(struct gw_agg *a, struct buf *out) BM_WUR;
enum bm_rc gw_agg_metrics_json(struct gw_agg *a, int64_t uptime_s, struct buf *out) BM_WUR;
enum bm_rc gw_agg_metrics_prometheus(struct gw_agg *a, int64_t uptime_s, struct buf *out) BM_WUR;

#endif
