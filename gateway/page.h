/* page.h - what the poller reads from a service, parsed: a page of its
 * event list and its /health body. Pure: no state, no lock. */
#ifndef BM_GATEWAY_PAGE_H
#define BM_GATEWAY_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"
#include "svc.h"

#define GW_TYPE_MAX 40

/* One event as received; json_rest is the service's object text without
 * its opening brace, so the gateway's members can be put in front. */
struct gw_event {
    uint64_t gseq;
    uint64_t seq;
    enum bm_svc src;
    uint64_t idh;        /* hash of (source, id), for dropping duplicates */
    bool anomaly;
    int64_t ts_ms;       /* its "timestamp" (ms since the epoch), 0 if none or bad */
    char type[GW_TYPE_MAX];
    char *json_rest;
    size_t len;
};

/* Parses one page of a service's event list into events (json_rest
 * allocated, gseq unset). *next_since and *count come from the page.
 * BM_EINVAL on a body that is not such a page. */
enum bm_rc gw_parse_page(enum bm_svc src, const char *body, size_t len, struct gw_event **out,
                         size_t *n, uint64_t *next_since) BM_WUR;
void gw_events_free(struct gw_event *ev, size_t n);

/* What the gateway keeps of a replica's /health body. */
struct gw_health {
    char stream_id[64];
    char status[24];
    uint64_t head_sequence;
    uint32_t shard_index; /* its "shard" (shard.h): 0/1 when it names none */
    uint32_t shard_count;
};

/* Parses a /health body: stream_id (string that fits), head_sequence
 * (integer >= 0), status (string, optional; "" if absent or too long),
 * shard {index, count} (optional, 0/1 if absent or not 0 <= i < n <=
 * SHARD_MAX).
 * BM_EINVAL if it is not that JSON. */
enum bm_rc gw_parse_health(const char *body, size_t len, struct gw_health *h) BM_WUR;

#endif
