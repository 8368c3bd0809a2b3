/* stream.h - server-sent events: one hub thread reads each newly committed
 * event once (per tick, only when the head moved) and formats it once
 * into a ring of messages bounded in bytes; a few sender threads own the
 * clients' sockets (taken from the HTTP server once the head is sent: see
 * http_send_stream_taken) and write each client the messages its filter
 * takes straight from the ring. No thread and no buffer per client: a
 * client is a cursor into the ring (and at most the rest of one message
 * its full socket cut), so memory does not grow with slow readers. A
 * client the ring has overtaken gets a final `event: overflow` naming the
 * last sequence it was sent, and its stream ends; one whose socket takes
 * nothing for the stall time is closed. A client resuming from before the
 * ring reads the gap from the source first; one resuming from before what
 * the source still keeps (the gateway's buffer) gets an `event: gap`
 * naming what is gone, then the stream goes on. */
#ifndef BM_COMMON_STREAM_H
#define BM_COMMON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "http_server.h"
#include "rc.h"

/* One event; false stops the read. ts_ms and anomaly_type are those of
 * the event when read unfiltered (they serve the clients' filters). */
typedef bool (*stream_event_fn)(void *ud, uint64_t seq, int64_t ts_ms, const char *anomaly_type,
                                const char *body, size_t len);

/* Where events come from: a service's database, the gateway's buffer. */
struct stream_source {
    void *ctx;
    /* Newest committed sequence, without I/O. */
    uint64_t (*head)(void *ctx);
    /* Events after `after`, oldest first, at most max: all of them when q
     * is NULL (the hub thread), else those matching q (a client's worker
     * catching up). *examined: the sequence to continue after (SPEC §6
     * next_since). Called from several threads. A source that keeps only
     * the newest events may answer a client's read (q set) BM_ERANGE when
     * the events right after `after` are gone: nothing emitted, *examined
     * the newest of those gone (the hub's read, q NULL, skips them). */
    enum bm_rc (*read)(void *ctx, const struct db_list_query *q, uint64_t after, int64_t max,
                       stream_event_fn emit, void *ud, uint64_t *examined);
};

struct stream_hub_opts {
    struct stream_source src;
    int64_t heartbeat_ms; /* a comment line after this long without a write */
    int64_t ring_bytes;   /* formatted messages kept for the clients */
    int64_t tick_ms;      /* how often the hub looks for new events (0: 10) */
    int64_t stall_ms;     /* a client whose socket takes nothing this long is
                             closed (0: 15000) */
};

struct stream_hub;

enum bm_rc stream_hub_start(const struct stream_hub_opts *o, struct stream_hub **out) BM_WUR;
/* Ends every stream and stops the hub's threads; new streams get 503.
 * Before the HTTP server stops (the streams' sockets count under its cap
 * and are closed through it). */
void stream_hub_shutdown(struct stream_hub *h);
/* After the HTTP server has stopped. */
void stream_hub_free(struct stream_hub *h);

/* Answers req with a text/event-stream of the events matching q (its
 * filters; limit and since ignored) after `after`, or from now on when
 * from_now. */
void stream_serve(struct stream_hub *h, struct http_req *req, const struct db_list_query *q,
                  bool from_now, uint64_t after);

/* New events may be in the source: the hub looks now rather than at its
 * next tick. Any thread; cheap. */
void stream_hub_notify(struct stream_hub *h);

struct stream_stats {
    uint64_t open;      /* streams open now */
    uint64_t overflows; /* streams ended by an overflow so far */
    uint64_t resumes;   /* times a stream was written to after waiting (only
                           when it had something new: an event it takes, a
                           heartbeat, an overflow notice) */
};

void stream_counts(struct stream_hub *h, struct stream_stats *out);
/* Appends them to a /metrics Prometheus text (bankmock_streams_open,
 * bankmock_stream_overflows_total, bankmock_stream_resumes_total). */
enum bm_rc stream_metrics(struct stream_hub *h, const char *service, struct buf *out) BM_WUR;

#endif
