/* routes.h - the gateway's route table and its handlers' shared state. */
#ifndef BM_GATEWAY_ROUTES_H
#define BM_GATEWAY_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "http_server.h"
#include "poller.h"

/* What handlers reach through http_req_app(). */
struct gw_app {
    struct gw_agg agg;
    struct gw_upstream ups[GW_NSRC];
    long upstream_timeout_ms;
    int64_t started_us; /* monotonic */
};

extern const struct route gw_routes[];
extern const size_t gw_nroutes;

#endif
