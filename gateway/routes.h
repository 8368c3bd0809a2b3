/* routes.h - the gateway's route table and its handlers' shared state. */
#ifndef BM_GATEWAY_ROUTES_H
#define BM_GATEWAY_ROUTES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "http_client.h"
#include "http_server.h"
#include "poller.h"
#include "stream.h"

/* Bytes of proxied answers held at once, all requests together: with
 * GW_PROXY_MAX per answer, a crowd of huge answers costs at most this
 * (plus the buffers' growth slack) before the rest get 502. */
#define GW_PROXY_BUDGET (16u * 1024 * 1024)

/* Proxied requests waiting for their upstream at once; more get a 503.
 * Each holds a socket to its upstream beside its client's, and those are
 * among the descriptors kept out of the connection cap
 * (HTTP_FD_RESERVE). */
#define GW_PROXY_CALLS_MAX 128u

/* What handlers reach through http_req_app(). */
struct gw_app {
    struct gw_agg agg;
    long upstream_timeout_ms;
    struct hc_async *proxy;        /* runs the proxied requests */
    atomic_uint proxy_calls;       /* proxied requests in flight */
    struct hc_budget proxy_budget; /* proxied bodies held at once */
    struct stream_hub *streams;    /* GET /events/stream (sse.h) */
    int64_t started_us; /* monotonic */
};

extern const struct route gw_routes[];
extern const size_t gw_nroutes;

/* Frees the worker threads' page caches: once the server is stopped. */
void gw_routes_free_caches(void);

#endif
