/* sink.h - the Kinesis sink: a thread that reads the service's committed
 * events past its cursor and delivers them with PutRecords, at least
 * once, in order per entity (docs/kinesis.md). The cursor (the newest
 * sequence delivered with every one before it) is kept in the service's
 * meta table, written through the generator loop's queue. */
#ifndef BM_COMMON_SINK_H
#define BM_COMMON_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "rc.h"
#include "svc.h"

#define SINK_STREAM_MAX 128 /* Kinesis stream names: 1..128 of [a-zA-Z0-9_.-] */

struct db_sql;
struct genloop;
struct sink;

/* The configuration's sink setting: "" (none) or kinesis:STREAM. A
 * cli_check_fn. */
enum bm_rc sink_check_config(const struct bm_config *c, char *err, size_t errlen) BM_WUR;

struct sink_opts {
    const char *target;        /* cfg.sink: "" none, or kinesis:STREAM */
    enum bm_svc svc;
    const char *db_path;       /* the service's database, read on a reader */
    const struct db_sql *sql;
    struct genloop *gl;        /* head, cursor writes, the pruning floor */
};

/* Starts the sink thread; *out is NULL when target is "". Needs
 * http_client_global_init() done. */
enum bm_rc sink_start(const struct sink_opts *o, struct sink **out) BM_WUR;
/* Stops the thread (a request in flight is cancelled), stores the cursor
 * through the loop (so before genloop_stop), frees. NULL is a no-op. */
void sink_stop(struct sink *s);

struct sink_status {
    const char *state;               /* "off", "ok", "failing" */
    char stream[SINK_STREAM_MAX + 1];
    char error[256];                 /* "" none: the last failure while failing */
    uint64_t cursor;                 /* delivered with every event before it */
    uint64_t lag_events;             /* committed events after the cursor */
    double lag_seconds;              /* how long the oldest of them has waited */
    uint64_t delivered;              /* records acknowledged (by this process) */
    uint64_t dropped;                /* events pruned before delivery */
    uint64_t requests, retries, throttled, failed_records;
};

/* s NULL: state "off". */
void sink_status(struct sink *s, struct sink_status *st);
/* Appends "sink":{...} (for /health and /metrics JSON); with a leading
 * comma when comma is true. */
enum bm_rc sink_json(struct sink *s, bool comma, struct buf *out) BM_WUR;
/* Appends the Prometheus text of a configured sink (nothing when s is
 * NULL). */
enum bm_rc sink_prometheus(struct sink *s, const char *service, struct buf *out) BM_WUR;

#endif
