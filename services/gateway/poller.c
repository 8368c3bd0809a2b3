/* poller.c - every interval: /health, /metrics and the next page of
 * events of every service in parallel, then further pages until each
 * service is caught up. Cursors follow `since`; a new stream_id restarts
 * a service's cursor. */
#include "poller.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "http_client.h"
#include "json.h"
#include "log.h"
#include "timefmt.h"

#define PAGE_LIMIT 1000
#define PAGE_MAX_BODY (16u * 1024 * 1024)
#define SMALL_MAX_BODY (256u * 1024)
#define PAGES_PER_ROUND 50
/* a first contact starts this far behind the head: the buffer keeps
 * only the newest events anyway */
#define INITIAL_BACKLOG 10000

static const char *const events_paths[GW_NSRC] = {
    "/transactions/events", "/auth/events", "/metrics/events",
};

struct gw_poller {
    struct gw_agg *agg;
    struct gw_upstream *ups;
    struct hc_multi *multi;
    int64_t interval_ms;
    long timeout_ms;
    pthread_t thread;
    atomic_bool stop;
};

enum bm_rc gw_parse_urls(const char *list, struct gw_upstream *u)
{
    const char *p = list;

    memset(u, 0, sizeof(*u));
    while (*p) {
        const char *end = strchr(p, ',');
        size_t full = end ? (size_t)(end - p) : strlen(p), len = full;
        while (len > 0 && p[len - 1] == '/')
            len--; /* base URLs are joined with paths that start with / */
        if (len == 0 || len >= sizeof(u->urls[0]) || u->nurls == GW_REPLICAS_MAX)
            return BM_EINVAL;
        memcpy(u->urls[u->nurls], p, len);
        u->urls[u->nurls][len] = '\0';
        u->nurls++;
        p = end ? end + 1 : p + full;
    }
    return u->nurls ? BM_OK : BM_EINVAL;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static bool is_json(const struct hc_resp *r)
{
    return strncmp(r->ctype, "application/json", 16) == 0;
}

/* Classifies a response; on failure writes the reason. */
static enum gw_state classify(const struct hc_resp *r, char *err, size_t errlen)
{
    switch (r->result) {
    case HC_OK:
        break;
    case HC_CONNECT:
        snprintf(err, errlen, "connect: %s", r->error);
        return GW_UNREACHABLE;
    case HC_TIMEOUT:
        snprintf(err, errlen, "timeout: %s", r->error);
        return GW_UNREACHABLE;
    case HC_TOOBIG:
        snprintf(err, errlen, "response body too large");
        return GW_DEGRADED;
    case HC_ERROR:
    default:
        snprintf(err, errlen, "%s", r->error[0] ? r->error : "transfer failed");
        return GW_DEGRADED;
    }
    if (r->status < 200 || r->status > 299) {
        snprintf(err, errlen, "HTTP status %ld", r->status);
        return GW_DEGRADED;
    }
    if (!is_json(r)) {
        snprintf(err, errlen, "unexpected content type \"%.60s\"", r->ctype);
        return GW_DEGRADED;
    }
    return GW_OK;
}

static void set_failure(struct gw_poller *p, int s, enum gw_state st, const char *err)
{
    struct gw_agg *a = p->agg;

    pthread_mutex_lock(&a->mu);
    if (a->svc[s].state != st || strcmp(a->svc[s].last_error, err) != 0)
        log_warn("%s is %s: %s", gw_src_name((enum gw_src)s), gw_state_name(st), err);
    a->svc[s].state = st;
    snprintf(a->svc[s].last_error, sizeof(a->svc[s].last_error), "%s", err);
    a->svc[s].poll_errors++;
    pthread_mutex_unlock(&a->mu);
    /* the next round tries the next replica */
    if (st == GW_UNREACHABLE && p->ups[s].nurls > 1) {
        pthread_mutex_lock(&a->mu);
        p->ups[s].current = (p->ups[s].current + 1) % p->ups[s].nurls;
        pthread_mutex_unlock(&a->mu);
    }
}

/* Applies a /health body: stream_id change restarts the cursor. Returns
 * false (and marks the service degraded) on a bad body. */
static bool apply_health(struct gw_poller *p, int s, const struct hc_resp *r)
{
    struct gw_agg *a = p->agg;
    cJSON *root = NULL;
    const char *sid = NULL, *status = NULL;
    int64_t head = 0;
    char err[192];
    enum gw_state st = classify(r, err, sizeof(err));

    if (st != GW_OK) {
        set_failure(p, s, st, err);
        return false;
    }
    if (json_parse(r->body.data ? r->body.data : "", r->body.len, &root) != BM_OK ||
        json_as_str(json_get(root, "stream_id"), &sid) != BM_OK ||
        json_as_i64(json_get(root, "head_sequence"), 0, INT64_MAX, &head) != BM_OK) {
        cJSON_Delete(root);
        set_failure(p, s, GW_DEGRADED, "health body is not the expected JSON");
        return false;
    }
    if (json_as_str(json_get(root, "status"), &status) != BM_OK)
        status = "";
    pthread_mutex_lock(&a->mu);
    {
        struct gw_svc *v = &a->svc[s];
        if (strcmp(v->stream_id, sid) != 0) {
            if (v->stream_id[0])
                log_info("%s: stream_id changed, restarting its cursor",
                         gw_src_name((enum gw_src)s));
            snprintf(v->stream_id, sizeof(v->stream_id), "%s", sid);
            v->cursor = (uint64_t)head > INITIAL_BACKLOG ? (uint64_t)head - INITIAL_BACKLOG : 0;
            v->cursor_set = false;
        }
        v->head_sequence = (uint64_t)head;
        snprintf(v->health_status, sizeof(v->health_status), "%s", status);
        snprintf(v->url, sizeof(v->url), "%s", p->ups[s].urls[p->ups[s].current]);
    }
    pthread_mutex_unlock(&a->mu);
    cJSON_Delete(root);
    return true;
}

static void apply_metrics(struct gw_poller *p, int s, struct hc_resp *r)
{
    char err[192];
    char *text;
    cJSON *root = NULL;

    if (classify(r, err, sizeof(err)) != GW_OK || !r->body.len)
        return;
    /* it is embedded verbatim in the gateway's /metrics: must be JSON */
    if (json_parse(r->body.data, r->body.len, &root) != BM_OK)
        return;
    cJSON_Delete(root);
    text = buf_take(&r->body, NULL);
    if (!text)
        return;
    pthread_mutex_lock(&p->agg->mu);
    free(p->agg->svc[s].metrics_json);
    p->agg->svc[s].metrics_json = text;
    pthread_mutex_unlock(&p->agg->mu);
}

/* Applies one events page; *more is set when the page was full. */
static bool apply_events(struct gw_poller *p, int s, const struct hc_resp *r, bool *more)
{
    struct gw_event *ev = NULL;
    size_t n = 0;
    uint64_t next = 0;
    char err[192];
    enum gw_state st = classify(r, err, sizeof(err));

    *more = false;
    if (st != GW_OK) {
        set_failure(p, s, st, err);
        return false;
    }
    if (gw_parse_page((enum gw_src)s, r->body.data ? r->body.data : "", r->body.len, &ev, &n,
                      &next) != BM_OK) {
        set_failure(p, s, GW_DEGRADED, "events body is not the expected JSON");
        return false;
    }
    if (gw_agg_append(p->agg, (enum gw_src)s, ev, n) != BM_OK)
        log_error("out of memory appending events");
    gw_events_free(ev, n);
    *more = n >= PAGE_LIMIT;
    return true;
}

static void events_url(struct gw_poller *p, int s, char *out, size_t len)
{
    uint64_t since;
    const char *base;

    pthread_mutex_lock(&p->agg->mu);
    since = p->agg->svc[s].cursor;
    base = p->ups[s].urls[p->ups[s].current];
    snprintf(out, len, "%s%s?since=%llu&limit=%d", base, events_paths[s],
             (unsigned long long)since, PAGE_LIMIT);
    pthread_mutex_unlock(&p->agg->mu);
}

static void mark_ok(struct gw_poller *p, int s)
{
    struct gw_agg *a = p->agg;

    pthread_mutex_lock(&a->mu);
    if (a->svc[s].state != GW_OK)
        log_info("%s is ok", gw_src_name((enum gw_src)s));
    a->svc[s].state = GW_OK;
    a->svc[s].last_error[0] = '\0';
    a->svc[s].last_success_ms = time_now_ms();
    a->svc[s].last_success_mono_us = time_mono_us();
    a->svc[s].polls++;
    pthread_mutex_unlock(&a->mu);
}

static void poll_round(struct gw_poller *p)
{
    char urls[GW_NSRC * 2][512];
    const char *up[GW_NSRC * 2];
    struct hc_resp r[GW_NSRC * 2];
    bool ok[GW_NSRC], more[GW_NSRC];
    int idx[GW_NSRC];
    size_t n = 0;

    /* health and metrics first: a stream change must be seen before a
     * page is read with the old cursor */
    for (int s = 0; s < GW_NSRC; s++) {
        const char *base;
        pthread_mutex_lock(&p->agg->mu);
        base = p->ups[s].urls[p->ups[s].current];
        snprintf(urls[2 * s], sizeof(urls[0]), "%s/health", base);
        snprintf(urls[2 * s + 1], sizeof(urls[0]), "%s/metrics", base);
        pthread_mutex_unlock(&p->agg->mu);
        up[2 * s] = urls[2 * s];
        up[2 * s + 1] = urls[2 * s + 1];
    }
    hc_multi_get(p->multi, up, GW_NSRC * 2, p->timeout_ms, SMALL_MAX_BODY, r);
    for (int s = 0; s < GW_NSRC; s++) {
        ok[s] = apply_health(p, s, &r[2 * s]);
        if (ok[s])
            apply_metrics(p, s, &r[2 * s + 1]);
        more[s] = ok[s];
    }
    for (size_t i = 0; i < GW_NSRC * 2; i++)
        hc_resp_free(&r[i]);

    for (int page = 0; page < PAGES_PER_ROUND && !atomic_load(&p->stop); page++) {
        n = 0;
        for (int s = 0; s < GW_NSRC; s++) {
            if (!more[s])
                continue;
            events_url(p, s, urls[n], sizeof(urls[0]));
            up[n] = urls[n];
            idx[n++] = s;
        }
        if (n == 0)
            break;
        hc_multi_get(p->multi, up, n, p->timeout_ms, PAGE_MAX_BODY, r);
        for (size_t i = 0; i < n; i++) {
            int s = idx[i];
            ok[s] = apply_events(p, s, &r[i], &more[s]);
            if (ok[s] && !more[s])
                mark_ok(p, s);
            hc_resp_free(&r[i]);
        }
    }
}

static void *poller_main(void *arg)
{
    struct gw_poller *p = arg;

    while (!atomic_load(&p->stop)) {
        int64_t start = time_mono_us(), left;
        poll_round(p);
        left = p->interval_ms - (time_mono_us() - start) / 1000;
        while (left > 0 && !atomic_load(&p->stop)) {
            int64_t step = left < 50 ? left : 50;
            sleep_ms(step);
            left -= step;
        }
    }
    return NULL;
}

enum bm_rc gw_poller_start(struct gw_agg *agg, struct gw_upstream *ups,
                           const struct bm_config *c, struct gw_poller **out)
{
    struct gw_poller *p = calloc(1, sizeof(*p));

    if (!p)
        return BM_ENOMEM;
    p->agg = agg;
    p->ups = ups;
    p->interval_ms = c->poll_interval_ms;
    p->timeout_ms = (long)c->upstream_timeout_ms;
    atomic_init(&p->stop, false);
    for (int s = 0; s < GW_NSRC; s++)
        snprintf(agg->svc[s].url, sizeof(agg->svc[s].url), "%s", ups[s].urls[0]);
    if (hc_multi_new(&p->multi) != BM_OK) {
        free(p);
        return BM_ENOMEM;
    }
    if (pthread_create(&p->thread, NULL, poller_main, p) != 0) {
        hc_multi_free(p->multi);
        free(p);
        return BM_EIO;
    }
    *out = p;
    return BM_OK;
}

void gw_poller_stop(struct gw_poller *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    hc_multi_free(p->multi);
    free(p);
}
