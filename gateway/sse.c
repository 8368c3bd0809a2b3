/* sse.c - the gateway's event stream source (see sse.h). */
#include "sse.h"

/* The hub looks on its own this often; the poller's notice comes first. */
#define GW_SSE_TICK_MS 100

static uint64_t src_head(void *ctx)
{
    return gw_agg_list_version(ctx);
}

struct src_emit {
    stream_event_fn emit;
    void *ud;
};

static bool src_event(void *ud, uint64_t gseq, const char *type, const char *json, size_t len)
{
    struct src_emit *e = ud;

    /* no timestamp filter at the gateway: its time is not needed */
    return e->emit(e->ud, gseq, 0, type, json, len);
}

static enum bm_rc src_read(void *ctx, const struct db_list_query *q, uint64_t after, int64_t max,
                           stream_event_fn emit, void *ud, uint64_t *examined)
{
    struct src_emit e = { emit, ud };

    return gw_agg_read(ctx, q, after, max > 0 ? (size_t)max : 1, src_event, &e, examined);
}

enum bm_rc gw_sse_start(struct gw_agg *agg, const struct bm_config *c, struct stream_hub **out)
{
    struct stream_hub_opts o = {
        .src = { .ctx = agg, .head = src_head, .read = src_read },
        .heartbeat_ms = c->stream_heartbeat_ms,
        .ring_bytes = c->stream_buffer_bytes,
        .tick_ms = GW_SSE_TICK_MS,
        .stall_ms = c->idle_timeout_s * 1000,
    };

    return stream_hub_start(&o, out);
}

void gw_sse_notify(void *ud)
{
    stream_hub_notify(ud);
}
