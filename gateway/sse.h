/* sse.h - the gateway's GET /events/stream: common/stream.h's hub fed
 * from the merged buffer, each message's id its gateway_sequence. The
 * poller tells the hub when it added events (gw_sse_notify). */
#ifndef BM_GATEWAY_SSE_H
#define BM_GATEWAY_SSE_H

#include "aggregate.h"
#include "config.h"
#include "rc.h"
#include "stream.h"

/* The hub over agg's buffer, with c's stream_heartbeat_ms and
 * stream_buffer_bytes. */
enum bm_rc gw_sse_start(struct gw_agg *agg, const struct bm_config *c,
                        struct stream_hub **out) BM_WUR;

/* The poller's call after a page added events (ud: the hub). */
void gw_sse_notify(void *ud);

#endif
