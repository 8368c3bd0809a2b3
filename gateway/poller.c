/* poller.c - every interval: /health, /metrics and the next page of
 * events of every service in parallel, then further pages until each
 * service is caught up. Cursors follow `since`; a new stream_id restarts
 * a service's cursor. */
#include "poller.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "http_client.h"
#include "json.h"
#include "log.h"
#include "page.h"
#include "timefmt.h"

/* small pages: a round parses one page per service at a time, and the
 * parse trees of big pages would be most of the gateway's peak memory */
#define PAGE_LIMIT 250
#define PAGE_MAX_BODY (4u * 1024 * 1024) /* a page of 250 events is about 200 KB */
#define SMALL_MAX_BODY (256u * 1024)
#define PAGES_PER_ROUND 200 /* up to 50,000 events per replica per round */

struct gw_poller {
    struct gw_agg *agg;
    struct hc_multi *multi;
    int64_t interval_ms;
    long timeout_ms;
    pthread_t thread;
    atomic_bool stop;
    void (*notify)(void *ud); /* after a page added events; may be NULL */
    void *notify_ud;
};

/* http:// or https://, a host, and no space or control byte: what curl
 * is given must be a URL, not whatever a flag held. */
static bool base_url_ok(const char *p, size_t len)
{
    size_t skip = len >= 7 && strncmp(p, "http://", 7) == 0     ? 7
                  : len >= 8 && strncmp(p, "https://", 8) == 0 ? 8
                                                                : 0;

    if (skip == 0 || skip == len || p[skip] == '/' || p[skip] == ':')
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

enum bm_rc gw_parse_urls(const char *list, struct gw_upstream *u)
{
    const char *p = list;

    memset(u, 0, sizeof(*u));
    while (*p) {
        const char *end = strchr(p, ',');
        size_t full = end ? (size_t)(end - p) : strlen(p), len = full;
        while (len > 0 && p[len - 1] == '/')
            len--; /* base URLs are joined with paths that start with / */
        if (len == 0 || len >= sizeof(u->urls[0]) || u->nurls == GW_REPLICAS_MAX ||
            !base_url_ok(p, len))
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

/* Marks a replica failed; logs when its state or reason changed. */
static void set_failure(struct gw_poller *p, enum bm_svc s, int rep, enum gw_state st,
                        const char *err)
{
    if (gw_agg_mark_failed(p->agg, s, rep, st, err))
        log_warn("%s (%s) is %s: %s", svc_info(s)->name, gw_agg_url(p->agg, s, rep),
                 gw_state_name(st), err);
}

/* Applies a /health body: stream_id change restarts the replica's cursor.
 * Returns false (and marks the replica) on a failure or a bad body. */
static bool apply_health(struct gw_poller *p, enum bm_svc s, int rep,
                         const struct hc_resp *resp)
{
    struct gw_agg *a = p->agg;
    struct gw_health h;
    char err[192];
    enum gw_state st = classify(resp, err, sizeof(err));

    if (st != GW_OK) {
        set_failure(p, s, rep, st, err);
        return false;
    }
    if (gw_parse_health(resp->body.data ? resp->body.data : "", resp->body.len, &h) != BM_OK) {
        set_failure(p, s, rep, GW_DEGRADED, "health body is not the expected JSON");
        return false;
    }
    if (gw_agg_apply_health(a, s, rep, &h))
        log_info("%s (%s): stream_id changed, restarting its cursor",
                 svc_info(s)->name, gw_agg_url(a, s, rep));
    return true;
}

static void apply_metrics(struct gw_poller *p, enum bm_svc s, int rep, struct hc_resp *resp)
{
    char err[192];
    char *text;
    cJSON *root = NULL;

    if (classify(resp, err, sizeof(err)) != GW_OK || !resp->body.len)
        return;
    /* it is embedded verbatim in the gateway's /metrics: must be JSON */
    if (json_parse(resp->body.data, resp->body.len, &root) != BM_OK)
        return;
    cJSON_Delete(root);
    text = buf_take(&resp->body, NULL);
    if (!text)
        return;
    gw_agg_adopt_metrics(p->agg, s, rep, text);
}

/* Applies one events page; *more is set when the page was full. */
static bool apply_events(struct gw_poller *p, enum bm_svc s, int rep,
                         const struct hc_resp *resp, bool *more)
{
    struct gw_event *ev = NULL;
    size_t n = 0;
    uint64_t next = 0;
    char err[192];
    enum gw_state st = classify(resp, err, sizeof(err));

    *more = false;
    if (st != GW_OK) {
        set_failure(p, s, rep, st, err);
        return false;
    }
    if (gw_parse_page(s, resp->body.data ? resp->body.data : "", resp->body.len, &ev,
                      &n, &next) != BM_OK) {
        set_failure(p, s, rep, GW_DEGRADED, "events body is not the expected JSON");
        return false;
    }
    if (gw_agg_append(p->agg, s, rep, ev, n) != BM_OK)
        log_error("out of memory appending events");
    gw_events_free(ev, n);
    if (n && p->notify)
        p->notify(p->notify_ud); /* the event streams send them now */
    *more = n >= PAGE_LIMIT;
    return true;
}

static void events_url(struct gw_poller *p, enum bm_svc s, int rep, char *out, size_t len)
{
    snprintf(out, len, "%s%s?since=%llu&limit=%d", gw_agg_url(p->agg, s, rep),
             svc_info(s)->events_path, (unsigned long long)gw_agg_cursor(p->agg, s, rep),
             PAGE_LIMIT);
}

static void mark_ok(struct gw_poller *p, enum bm_svc s, int rep)
{
    if (gw_agg_mark_ok(p->agg, s, rep, time_now_ms(), time_mono_us()))
        log_info("%s (%s) is ok", svc_info(s)->name, gw_agg_url(p->agg, s, rep));
}

#define GW_TARGETS (SVC_NSOURCES * GW_REPLICAS_MAX)

/* One round: /health and /metrics of every replica of every service in
 * parallel, then pages of events from each until it is caught up. */
static void poll_round(struct gw_poller *p)
{
    static char urls[GW_TARGETS * 2][512]; /* only the poller thread runs this */
    const char *up[GW_TARGETS * 2] = { NULL };
    struct hc_resp r[GW_TARGETS * 2];
    enum bm_svc tsvc[GW_TARGETS];
    int trep[GW_TARGETS], idx[GW_TARGETS];
    bool ok[GW_TARGETS], more[GW_TARGETS];
    size_t nt = 0, n;

    for (int s = 0; s < SVC_NSOURCES; s++)
        for (int rep = 0; rep < gw_agg_nrep(p->agg, (enum bm_svc)s); rep++) {
            tsvc[nt] = (enum bm_svc)s;
            trep[nt++] = rep;
        }
    /* health and metrics first: a stream change must be seen before a
     * page is read with the old cursor */
    for (size_t t = 0; t < nt; t++) {
        const char *base = gw_agg_url(p->agg, tsvc[t], trep[t]);
        snprintf(urls[2 * t], sizeof(urls[0]), "%s/health", base);
        snprintf(urls[2 * t + 1], sizeof(urls[0]), "%s/metrics", base);
        up[2 * t] = urls[2 * t];
        up[2 * t + 1] = urls[2 * t + 1];
    }
    hc_multi_get(p->multi, up, nt * 2, p->timeout_ms, SMALL_MAX_BODY, r);
    for (size_t t = 0; t < nt; t++) {
        ok[t] = apply_health(p, tsvc[t], trep[t], &r[2 * t]);
        if (ok[t])
            apply_metrics(p, tsvc[t], trep[t], &r[2 * t + 1]);
        more[t] = ok[t];
    }
    for (size_t i = 0; i < nt * 2; i++)
        hc_resp_free(&r[i]);

    for (int page = 0; page < PAGES_PER_ROUND && !atomic_load(&p->stop); page++) {
        n = 0;
        for (size_t t = 0; t < nt; t++) {
            if (!more[t])
                continue;
            events_url(p, tsvc[t], trep[t], urls[n], sizeof(urls[0]));
            up[n] = urls[n];
            idx[n++] = (int)t;
        }
        if (n == 0)
            break;
        hc_multi_get(p->multi, up, n, p->timeout_ms, PAGE_MAX_BODY, r);
        for (size_t i = 0; i < n; i++) {
            int t = idx[i];
            ok[t] = apply_events(p, tsvc[t], trep[t], &r[i], &more[t]);
            if (ok[t] && !more[t])
                mark_ok(p, tsvc[t], trep[t]);
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
#ifdef __GLIBC__
        /* a round parses pages of up to megabytes into short-lived trees;
         * give the freed memory back rather than keep it resident */
        malloc_trim(0);
#endif
        left = p->interval_ms - (time_mono_us() - start) / 1000;
        while (left > 0 && !atomic_load(&p->stop)) {
            int64_t step = left < 50 ? left : 50;
            sleep_ms(step);
            left -= step;
        }
    }
    return NULL;
}

enum bm_rc gw_poller_start(struct gw_agg *agg, const struct bm_config *c,
                           void (*notify)(void *ud), void *notify_ud, struct gw_poller **out)
{
    struct gw_poller *p = calloc(1, sizeof(*p));

    if (!p)
        return BM_ENOMEM;
    p->agg = agg;
    p->notify = notify;
    p->notify_ud = notify_ud;
    p->interval_ms = c->poll_interval_ms;
    p->timeout_ms = (long)c->upstream_timeout_ms;
    atomic_init(&p->stop, false);
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
