/* buffer.h - the merged events: a ring of slots, oldest first, over one
 * circular allocation of their text, and the set of their (source, id)
 * hashes; bounded by max_bytes, evicting the oldest. It has no lock: the
 * aggregate's mutex guards it (aggregate.h). */
#ifndef BM_GATEWAY_BUFFER_H
#define BM_GATEWAY_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "db.h"
#include "page.h"
#include "rc.h"

/* One buffered event; its text is json_rest, kept in the text ring. */
struct gw_slot {
    uint64_t gseq;
    uint64_t seq;
    uint64_t idh;
    uint32_t off, len; /* in gw_buffer.text */
    uint8_t src;       /* enum bm_svc */
    int8_t type;       /* index among the source's anomaly types, -1 none */
    bool anomaly;
};

struct gw_buffer {
    struct gw_slot *ring;
    size_t cap, head, n; /* ring[head] is the oldest */
    char *text;          /* the events' text: one circular allocation */
    size_t text_cap, text_tail;
    size_t bytes, max_bytes; /* text plus slots of the buffered events */
    uint64_t last_gseq;  /* newest assigned; 0 = none */
    uint64_t evicted;
    uint64_t *ids;       /* open-addressing set of the buffered events' idh */
    size_t ids_cap;      /* power of two, > 2 * n */
};

void gw_buffer_init(struct gw_buffer *b, size_t max_bytes);
void gw_buffer_free(struct gw_buffer *b);

/* Is an event with this (source, id) hash buffered? */
bool gw_buffer_has(const struct gw_buffer *b, uint64_t idh);

/* Copies e in as the newest event, with the next gateway_sequence and
 * type (its index among its source's anomaly types, -1 none), evicting
 * the oldest to make room. BM_ETOOBIG (nothing changed) if e is larger
 * than half the buffer: one event may not push out all the others. */
enum bm_rc gw_buffer_add(struct gw_buffer *b, const struct gw_event *e, int type) BM_WUR;

/* Appends the merged list body, same rules as the services' lists over
 * gseq: {"events":[...],"count":n,"next_since":s,"oldest_sequence":o}. */
enum bm_rc gw_buffer_list(const struct gw_buffer *b, const struct db_list_query *q,
                          struct buf *out) BM_WUR;

/* One event read by gw_buffer_read: its gateway_sequence, its anomaly
 * type's name (NULL: not an anomaly; "unknown": an anomaly of a type the
 * gateway does not know) and where its text, as /events writes the
 * event, is in the caller's buffer. */
struct gw_read_ev {
    uint64_t gseq;
    const char *type;
    size_t off, len;
};

/* The events after gateway_sequence `after`, oldest first: at most max,
 * all of them when q is NULL, else those matching q (as /events filters)
 * among at most GW_READ_SCAN examined. Their text goes into out, their
 * places into ev[0..*n). *examined: the gateway_sequence to continue
 * after. With q set, BM_ERANGE (nothing read) when the events right
 * after `after` were evicted, *examined then the newest evicted; with q
 * NULL those are skipped. */
#define GW_READ_SCAN 8192
enum bm_rc gw_buffer_read(const struct gw_buffer *b, const struct db_list_query *q,
                          uint64_t after, size_t max, struct gw_read_ev *ev, size_t *n,
                          struct buf *out, uint64_t *examined) BM_WUR;

/* The oldest gateway_sequence buffered (the next one when none is). */
uint64_t gw_buffer_oldest(const struct gw_buffer *b);

#endif
