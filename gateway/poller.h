/* poller.h - the one thread that polls every service with one libcurl
 * multi handle and feeds the aggregate. */
#ifndef BM_GATEWAY_POLLER_H
#define BM_GATEWAY_POLLER_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "config.h"
#include "rc.h"

struct gw_upstream {
    char urls[GW_REPLICAS_MAX][256];
    int nurls;
};

struct gw_poller;

/* Splits a comma-separated URL list; BM_EINVAL if empty or too long. */
enum bm_rc gw_parse_urls(const char *list, struct gw_upstream *u) BM_WUR;

/* Polls the replicas set in agg (gw_agg_set_replicas); calls notify
 * (if set) from its thread after a page added events to agg. */
enum bm_rc gw_poller_start(struct gw_agg *agg, const struct bm_config *c,
                           void (*notify)(void *ud), void *notify_ud,
                           struct gw_poller **out) BM_WUR;
void gw_poller_stop(struct gw_poller *p);

#endif
