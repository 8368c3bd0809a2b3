/* aggregate.c - the gateway's state behind its lock: replicas, their
 * polled state and counters, and the merged buffer they feed. */
#include "aggregate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

static const char *const state_names[] = { "unknown", "ok", "degraded", "unreachable" };

const char *gw_state_name(enum gw_state s)
{
    return state_names[s];
}

enum bm_rc gw_agg_init(struct gw_agg *a, size_t max_bytes, int64_t poll_interval_ms)
{
    memset(a, 0, sizeof(*a));
    gw_buffer_init(&a->buf, max_bytes);
    a->poll_interval_ms = poll_interval_ms;
    if (pthread_mutex_init(&a->mu, NULL) != 0)
        return BM_EIO;
    return BM_OK;
}

void gw_agg_free(struct gw_agg *a)
{
    gw_buffer_free(&a->buf);
    for (int s = 0; s < SVC_NSOURCES; s++)
        for (int r = 0; r < a->svc[s].nrep; r++)
            free(a->svc[s].rep[r].metrics_json);
    pthread_mutex_destroy(&a->mu);
    memset(a, 0, sizeof(*a));
}

enum bm_rc gw_agg_set_replicas(struct gw_agg *a, enum bm_svc s, const char *const *urls, int n)
{
    struct gw_svc *v = &a->svc[s];

    if (n < 1 || n > GW_REPLICAS_MAX)
        return BM_EINVAL;
    for (int r = 0; r < n; r++) {
        size_t len = strlen(urls[r]);
        if (len >= sizeof(v->rep[r].url))
            return BM_EINVAL;
        memcpy(v->rep[r].url, urls[r], len + 1);
    }
    v->nrep = n;
    return BM_OK;
}

int gw_agg_nrep(const struct gw_agg *a, enum bm_svc s)
{
    return a->svc[s].nrep;
}

const char *gw_agg_url(const struct gw_agg *a, enum bm_svc s, int rep)
{
    return a->svc[s].rep[rep].url;
}

/* Counts one event the buffer kept from replica r of service src. */
static void count_kept(struct gw_agg *a, enum bm_svc src, struct gw_replica *r,
                       const struct gw_event *e, int type, int64_t now_ms)
{
    struct gw_svc *v = &a->svc[src];

    gw_history_count(&a->hist, now_ms, e->ts_ms, src, e->anomaly, type);
    r->events++;
    v->events++;
    if (e->anomaly) {
        v->anomalies++;
        if (type >= 0)
            v->by_type[type]++;
    }
}

enum bm_rc gw_agg_append(struct gw_agg *a, enum bm_svc src, int rep, struct gw_event *ev,
                         size_t n)
{
    struct gw_svc *v = &a->svc[src];
    struct gw_replica *r;
    int64_t now_ms = time_now_ms();
    enum bm_rc rc = BM_OK;

    if (rep < 0 || rep >= GW_REPLICAS_MAX)
        return BM_EINVAL;
    r = &v->rep[rep];
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        struct gw_event *e = &ev[i];
        int type = e->anomaly ? svc_anomaly_index(src, e->type) : -1;
        if ((r->cursor_set && e->seq <= r->cursor) || gw_buffer_has(&a->buf, e->idh)) {
            if (e->seq > r->cursor || !r->cursor_set) {
                r->cursor = e->seq; /* another replica's copy: move past it */
                r->cursor_set = true;
            }
            a->duplicates++;
            continue;
        }
        e->src = src;
        rc = gw_buffer_add(&a->buf, e, type);
        if (rc == BM_ETOOBIG) {
            a->oversized++; /* counted and skipped: the stream goes on */
            rc = BM_OK;
        } else if (rc != BM_OK) {
            break;
        } else {
            count_kept(a, src, r, e, type, now_ms);
        }
        r->cursor = e->seq;
        r->cursor_set = true;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

enum bm_rc gw_agg_list(struct gw_agg *a, const struct db_list_query *q, struct buf *out)
{
    enum bm_rc rc;

    pthread_mutex_lock(&a->mu);
    rc = gw_buffer_list(&a->buf, q, out);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

uint64_t gw_agg_list_version(struct gw_agg *a)
{
    uint64_t v;

    pthread_mutex_lock(&a->mu);
    v = a->buf.last_gseq;
    pthread_mutex_unlock(&a->mu);
    return v;
}

/* Text copied out by one gw_agg_read: a hub's read of 1024 events is
 * about 1 MB. */
#define GW_READ_TEXT_MAX (16u * 1024 * 1024)

enum bm_rc gw_agg_read(struct gw_agg *a, const struct db_list_query *q, uint64_t after,
                       size_t max, gw_agg_event_fn fn, void *ud, uint64_t *examined)
{
    struct gw_read_ev *ev = malloc((max ? max : 1) * sizeof(*ev));
    struct buf text;
    size_t n = 0;
    enum bm_rc rc;

    *examined = after;
    if (!ev)
        return BM_ENOMEM;
    buf_init(&text, GW_READ_TEXT_MAX);
    pthread_mutex_lock(&a->mu);
    rc = gw_buffer_read(&a->buf, q, after, max, ev, &n, &text, examined);
    pthread_mutex_unlock(&a->mu);
    for (size_t i = 0; rc == BM_OK && i < n; i++)
        if (!fn(ud, ev[i].gseq, ev[i].type, text.data + ev[i].off, ev[i].len)) {
            *examined = i ? ev[i - 1].gseq : after;
            break;
        }
    buf_free(&text);
    free(ev);
    return rc;
}

uint64_t gw_agg_cursor(struct gw_agg *a, enum bm_svc s, int rep)
{
    uint64_t c;

    pthread_mutex_lock(&a->mu);
    c = a->svc[s].rep[rep].cursor;
    pthread_mutex_unlock(&a->mu);
    return c;
}

bool gw_agg_mark_failed(struct gw_agg *a, enum bm_svc s, int rep, enum gw_state st,
                        const char *err)
{
    struct gw_replica *r = &a->svc[s].rep[rep];
    bool changed;

    pthread_mutex_lock(&a->mu);
    changed = r->state != st || strcmp(r->last_error, err) != 0;
    r->state = st;
    snprintf(r->last_error, sizeof(r->last_error), "%s", err);
    r->poll_errors++;
    pthread_mutex_unlock(&a->mu);
    return changed;
}

bool gw_agg_mark_ok(struct gw_agg *a, enum bm_svc s, int rep, int64_t now_ms,
                    int64_t now_mono_us)
{
    struct gw_replica *r = &a->svc[s].rep[rep];
    bool changed;

    pthread_mutex_lock(&a->mu);
    changed = r->state != GW_OK;
    r->state = GW_OK;
    r->last_error[0] = '\0';
    r->last_success_ms = now_ms;
    r->last_success_mono_us = now_mono_us;
    r->polls++;
    pthread_mutex_unlock(&a->mu);
    return changed;
}

bool gw_agg_apply_health(struct gw_agg *a, enum bm_svc s, int rep, const struct gw_health *h)
{
    struct gw_replica *r = &a->svc[s].rep[rep];
    bool restarted = false;

    pthread_mutex_lock(&a->mu);
    if (strcmp(r->stream_id, h->stream_id) != 0) {
        restarted = r->stream_id[0] != '\0';
        memcpy(r->stream_id, h->stream_id, sizeof(r->stream_id));
        r->cursor = h->head_sequence > GW_INITIAL_BACKLOG ? h->head_sequence - GW_INITIAL_BACKLOG
                                                           : 0;
        r->cursor_set = false;
    }
    r->head_sequence = h->head_sequence;
    r->shard_index = h->shard_index;
    r->shard_count = h->shard_count;
    memcpy(r->health_status, h->status, sizeof(r->health_status));
    pthread_mutex_unlock(&a->mu);
    return restarted;
}

void gw_agg_adopt_metrics(struct gw_agg *a, enum bm_svc s, int rep, char *json)
{
    char *old;

    pthread_mutex_lock(&a->mu);
    old = a->svc[s].rep[rep].metrics_json;
    a->svc[s].rep[rep].metrics_json = json;
    pthread_mutex_unlock(&a->mu);
    free(old); /* outside the lock: nothing else can reach it now */
}

enum gw_state gw_effective_state(const struct gw_replica *r, int64_t now_mono_us,
                                 int64_t poll_interval_ms)
{
    if (r->state == GW_OK &&
        (r->last_success_mono_us == 0 ||
         now_mono_us - r->last_success_mono_us > 3 * poll_interval_ms * 1000))
        return GW_DEGRADED;
    return r->state;
}

/* better states rank higher: ok, degraded, unreachable, unknown */
static int state_rank(enum gw_state st)
{
    switch (st) {
    case GW_OK:
        return 3;
    case GW_DEGRADED:
        return 2;
    case GW_UNREACHABLE:
        return 1;
    case GW_UNKNOWN:
    default:
        return 0;
    }
}

enum gw_state gw_svc_state(const struct gw_svc *s, int64_t now_mono_us, int64_t poll_interval_ms,
                           int *best)
{
    enum gw_state st = GW_UNKNOWN;
    int b = 0;

    for (int r = 0; r < s->nrep; r++) {
        enum gw_state x = gw_effective_state(&s->rep[r], now_mono_us, poll_interval_ms);
        if (r == 0 || state_rank(x) > state_rank(st)) {
            st = x;
            b = r;
        }
    }
    if (best)
        *best = b;
    if (st == GW_OK) {
        int ok, n = gw_svc_shards(s, now_mono_us, poll_interval_ms, &ok);
        if (ok < n)
            st = GW_DEGRADED; /* a slice of the events is missing */
    }
    return st;
}

int gw_svc_shards(const struct gw_svc *s, int64_t now_mono_us, int64_t poll_interval_ms,
                  int *ok)
{
    uint32_t n = 1;
    int up = 0;

    for (int r = 0; r < s->nrep; r++)
        if (s->rep[r].shard_count > n)
            n = s->rep[r].shard_count;
    if (n == 1) {
        for (int r = 0; r < s->nrep && !up; r++)
            up = gw_effective_state(&s->rep[r], now_mono_us, poll_interval_ms) == GW_OK;
        *ok = up;
        return 1;
    }
    for (uint32_t k = 0; k < n; k++) {
        bool found = false;
        for (int r = 0; r < s->nrep && !found; r++)
            found = s->rep[r].shard_count == n && s->rep[r].shard_index == k &&
                    gw_effective_state(&s->rep[r], now_mono_us, poll_interval_ms) == GW_OK;
        up += found;
    }
    *ok = up;
    return (int)n;
}

int gw_route_order(struct gw_agg *a, enum bm_svc s, int *order)
{
    int64_t now = time_mono_us();
    const struct gw_svc *v = &a->svc[s];
    int n = 0;

    pthread_mutex_lock(&a->mu);
    for (int r = 0; r < v->nrep; r++)
        if (gw_effective_state(&v->rep[r], now, a->poll_interval_ms) == GW_OK)
            order[n++] = r;
    for (int r = 0; r < v->nrep; r++)
        if (gw_effective_state(&v->rep[r], now, a->poll_interval_ms) != GW_OK)
            order[n++] = r;
    pthread_mutex_unlock(&a->mu);
    return n;
}
