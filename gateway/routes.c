/* routes.c - gateway endpoints, answered from the aggregate's memory,
 * and the /services/<name>/ proxy. */
#include "routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dashboard.h"
#include "report.h"
#include "scoring.h"
#include "http_client.h"
#include "incidents.h"
#include "metrics.h"
#include "openapi.h"
#include "pagecache.h"
#include "parse.h"
#include "query.h"
#include "timefmt.h"

#define GW_LIST_MAX (32u * 1024 * 1024)
/* one proxied answer (an event page of 1000 is under 1 MB) */
#define GW_PROXY_MAX (8u * 1024 * 1024)
/* a proxied URL: a base URL (gw_upstream's) and the path and query */
#define GW_BASE_URL_MAX 256
#define GW_URL_MAX 8192

static void send_built(struct http_req *req, enum bm_rc rc, const char *ctype, struct buf *b)
{
    if (rc != BM_OK)
        http_send_error(req, API_INTERNAL, "", "response too large");
    else
        http_send_buf(req, 200, ctype, b);
    buf_free(b);
}

static void gw_h_health(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct gw_app *app = http_req_app(req);
    double p50, p99;
    uint64_t total, c4, c5;
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    /* the services' shape: 5xx share of the answers and request latency */
    http_latency(&p50, &p99);
    http_counts(&total, &c4, &c5);
    buf_init(&b, 1024);
    send_built(req,
               buf_printf(&b,
                          "{\"status\":\"ok\",\"service\":\"api-gateway\",\"version\":\"%s\","
                          "\"uptime_s\":%lld,\"error_rate\":%.4f,"
                          "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f}}",
                          BM_VERSION, (long long)((time_mono_us() - app->started_us) / 1000000),
                          total ? (double)c5 / (double)total : 0.0, p50, p99),
               HTTP_CT_JSON, &b);
}

/* anomaly_type may name any service's type, or a group of them
 * (resource_exhaustion). */
static const char *known_type(const char *t)
{
    const struct svc_type_group *g = svc_type_group(SVC_COUNT, t);

    if (g)
        return g->name;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        int i = svc_anomaly_index((enum bm_svc)s, t);
        if (i >= 0)
            return svc_info((enum bm_svc)s)->anomaly_types[i];
    }
    return NULL;
}

/* The newest-N page is kept per worker thread (common/pagecache.h) at
 * the list version it was built at, as the services keep theirs. */
void gw_routes_free_caches(void)
{
    pagecache_free_all();
}

static void gw_h_events(struct http_req *req)
{
    static const char *const allowed[] = { "limit", "since", "anomalies_only", "anomaly_type",
                                           "source", NULL };
    struct gw_app *app = http_req_app(req);
    const char *type = NULL;
    struct pagecache_key key = { 0, false, NULL, 0 };
    const struct buf *hit;
    bool cacheable = false;
    struct db_list_query q;
    struct api_fail f;
    struct buf b;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if (query_parse_list(SVC_GATEWAY, http_req_arg(req, "limit"), http_req_arg(req, "since"),
                         http_req_arg(req, "anomalies_only"), NULL, &q, &f) != BM_OK ||
        (http_req_has_arg(req, "source") &&
         query_parse_source(http_req_arg(req, "source"), &q, &f) != BM_OK)) {
        http_send_fail(req, &f);
        return;
    }
    if (http_req_has_arg(req, "anomaly_type")) {
        const char *t = http_req_arg(req, "anomaly_type");
        type = t ? known_type(t) : NULL;
        if (!type) {
            http_send_error(req, API_BAD_PARAM, "anomaly_type", "unknown anomaly_type \"%.40s\"",
                            t ? t : "");
            return;
        }
        q.anomaly_type = type;
    }
    if (!q.has_since && !q.source) {
        /* read before the page is built: a page built later is only
         * ever newer than its version says, and is rebuilt next time */
        key.limit = q.limit;
        key.anomalies_only = q.anomalies_only;
        key.anomaly_type = q.anomaly_type;
        key.version = gw_agg_list_version(&app->agg);
        cacheable = true;
        hit = pagecache_get(&key);
        if (hit) {
            http_send(req, 200, HTTP_CT_JSON, hit->data, hit->len);
            return;
        }
    }
    buf_init(&b, GW_LIST_MAX);
    rc = buf_reserve(&b, (size_t)q.limit * 800 + 256); /* one allocation for most pages */
    if (rc == BM_OK)
        rc = gw_agg_list(&app->agg, &q, &b);
    if (rc == BM_OK && cacheable)
        pagecache_put(&key, &b, GW_LIST_MAX);
    send_built(req, rc, HTTP_CT_JSON, &b);
}

/* The merged events as server-sent events (sse.h): the filters of
 * /events; `since` or Last-Event-ID (which wins) resume after a
 * gateway_sequence, else it starts with the next event. */
static void gw_h_stream(struct http_req *req)
{
    static const char *const allowed[] = { "since", "anomalies_only", "anomaly_type", "source",
                                           NULL };
    struct gw_app *app = http_req_app(req);
    const char *last = http_req_header(req, "Last-Event-ID");
    struct db_list_query q;
    struct api_fail f;
    int64_t after = 0;

    if (!http_req_args_check(req, allowed))
        return;
    if (query_parse_list(SVC_GATEWAY, NULL, http_req_arg(req, "since"),
                         http_req_arg(req, "anomalies_only"), NULL, &q, &f) != BM_OK ||
        (http_req_has_arg(req, "source") &&
         query_parse_source(http_req_arg(req, "source"), &q, &f) != BM_OK)) {
        http_send_fail(req, &f);
        return;
    }
    if (http_req_has_arg(req, "anomaly_type")) {
        const char *t = http_req_arg(req, "anomaly_type");
        const char *type = t ? known_type(t) : NULL;
        const struct svc_type_group *g = type ? svc_type_group(SVC_COUNT, type) : NULL;
        if (!type) {
            http_send_error(req, API_BAD_PARAM, "anomaly_type", "unknown anomaly_type \"%.40s\"",
                            t ? t : "");
            return;
        }
        /* the stream matches by the event's type name: a group by its members */
        q.anomaly_type = type;
        q.types = g ? g->members : NULL;
        q.ntypes = g ? g->nmembers : 0;
    }
    if (last && parse_i64(last, 0, INT64_MAX, &after) != BM_OK) {
        http_send_error(req, API_BAD_PARAM, "Last-Event-ID",
                        "Last-Event-ID must be a non-negative integer gateway_sequence");
        return;
    }
    if (!last && q.has_since)
        after = (int64_t)q.since;
    stream_serve(app->streams, req, &q, !last && !q.has_since, (uint64_t)after);
}

/* JSON, or the page for a browser (Accept: text/html). */
static void gw_h_dashboard(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct gw_app *app = http_req_app(req);
    bool html = gw_dash_wants_html(http_req_header(req, "Accept"));
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    http_add_header(req, "Vary", "Accept");
    if (!html) {
        buf_init(&b, 256 * 1024);
        send_built(req, gw_agg_dashboard(&app->agg, &b), HTTP_CT_JSON, &b);
        return;
    }
    http_add_header(req, "Content-Security-Policy", GW_DASH_CSP);
    http_add_header(req, "Cache-Control", "no-store");
    buf_init(&b, 1024 * 1024);
    send_built(req, gw_dash_page(&app->agg, &b), GW_CT_HTML, &b);
}

/* The gateway's root: a browser is sent to the dashboard page; any
 * other client gets an index of the gateway's endpoints. */
static void gw_h_root(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    http_add_header(req, "Vary", "Accept");
    if (gw_dash_wants_html(http_req_header(req, "Accept"))) {
        http_add_header(req, "Location", "/dashboard");
        http_send(req, 302, GW_CT_HTML, "", 0);
        return;
    }
    buf_init(&b, 1024);
    send_built(req,
               buf_printf(&b,
                          "{\"service\":\"api-gateway\",\"version\":\"%s\",\"links\":{"
                          "\"dashboard\":\"/dashboard\",\"events\":\"/events\","
                          "\"system_health\":\"/system/health\",\"metrics\":\"/metrics\","
                          "\"health\":\"/health\",\"services\":\"/services/{service}/{path}\"}}",
                          BM_VERSION),
               HTTP_CT_JSON, &b);
}

static void gw_h_system_health(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct gw_app *app = http_req_app(req);
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    buf_init(&b, 64 * 1024);
    send_built(req, gw_agg_system_health(&app->agg, &b), HTTP_CT_JSON, &b);
}

static void gw_h_metrics(struct http_req *req)
{
    static const char *const allowed[] = { "format", NULL };
    struct gw_app *app = http_req_app(req);
    int64_t up = (time_mono_us() - app->started_us) / 1000000;
    bool text;
    struct buf b;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if (metrics_format(http_req_arg(req, "format"), http_req_header(req, "Accept"), &text) !=
        BM_OK) {
        http_send_error(req, API_BAD_PARAM, "format", "format must be json or prometheus");
        return;
    }
    buf_init(&b, 2 * 1024 * 1024);
    rc = text ? gw_agg_metrics_prometheus(&app->agg, up, &b)
              : gw_agg_metrics_json(&app->agg, up, &b);
    if (rc == BM_OK)
        rc = gw_score_metrics(text, &b);
    if (rc == BM_OK)
        rc = http_server_limits(req, text, "api-gateway", &b);
    if (rc == BM_OK && text)
        rc = stream_metrics(app->streams, "api-gateway", &b);
    send_built(req, rc, text ? HTTP_CT_TEXT : HTTP_CT_JSON, &b);
}

/* ------------------------------------------------------------------ */
/* Proxy                                                               */

/* Hop-by-hop headers and those this server sets itself are not passed
 * through in either direction. */
static bool is_own_header(const char *name)
{
    static const char *const own[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
        "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        "Content-Length", "Host", "Expect", "Date", "X-Request-ID", NULL,
    };

    for (size_t i = 0; own[i]; i++)
        if (strcasecmp(own[i], name) == 0)
            return true;
    return false;
}

#define PROXY_HEADERS_MAX 64

struct fwd_headers {
    const char *list[PROXY_HEADERS_MAX + 2];
    char *store[PROXY_HEADERS_MAX + 1];
    int n;
};

static void fwd_add(struct fwd_headers *h, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    char *line;

    if (h->n == PROXY_HEADERS_MAX + 1 || (line = malloc(len)) == NULL)
        return;
    snprintf(line, len, "%s: %s", name, value);
    h->store[h->n] = line;
    h->list[h->n++] = line;
    h->list[h->n] = NULL;
}

static void fwd_request_header(void *ud, const char *name, const char *value)
{
    struct fwd_headers *h = ud;

    if (!is_own_header(name) && h->n < PROXY_HEADERS_MAX)
        fwd_add(h, name, value);
}

static void fwd_free(struct fwd_headers *h)
{
    for (int i = 0; i < h->n; i++)
        free(h->store[i]);
    h->n = 0;
}

/* Copies the service's response headers ("Name: value\n" lines) onto
 * the answer, except those this server writes itself. */
static void copy_response_headers(struct http_req *req, const struct buf *hdrs)
{
    const char *p = hdrs->data, *end = hdrs->data ? hdrs->data + hdrs->len : NULL;

    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', (size_t)((nl ? nl : end) - p));
        size_t llen = (size_t)((nl ? nl : end) - p);
        if (colon && colon > p && llen < 4096) {
            char line[4096];
            char *val;
            memcpy(line, p, llen);
            line[llen] = '\0';
            line[colon - p] = '\0';
            val = line + (colon - p) + 1;
            while (*val == ' ' || *val == '\t')
                val++;
            if (!is_own_header(line) && strcasecmp(line, "Content-Type") != 0)
                http_add_header(req, line, val);
        }
        p = nl ? nl + 1 : end;
    }
}

/* A proxied request while it waits for its upstream: the connection is
 * suspended, the request is on the engine (app->proxy), and no thread
 * waits for it. Its replicas are tried in order while they refuse the
 * connection. */
struct proxy_call {
    struct http_req *req;
    struct gw_app *app;
    enum bm_svc svc;
    int order[GW_REPLICAS_MAX], n, at;
    struct fwd_headers h;
    char *suffix; /* path and query after the base URL */
};

static void proxy_call_free(struct proxy_call *c)
{
    fwd_free(&c->h);
    free(c->suffix);
    free(c);
}

/* Answers as the upstream did, or with the reason it did not. */
static void proxy_answer(struct http_req *req, struct gw_app *app, struct hc_resp *r)
{
    switch (r->result) {
    case HC_OK:
        copy_response_headers(req, &r->headers);
        if (r->body.len)
            http_send_buf(req, (int)r->status, r->ctype[0] ? r->ctype : HTTP_CT_JSON,
                          &r->body);
        else
            http_send(req, (int)r->status, r->ctype[0] ? r->ctype : HTTP_CT_JSON, "", 0);
        break;
    case HC_TIMEOUT:
        http_send_error(req, API_GW_TIMEOUT, "", "upstream timed out after %ld ms",
                        app->upstream_timeout_ms);
        break;
    case HC_TOOBIG:
        http_send_error(req, API_BAD_GATEWAY, "", "upstream response too large");
        break;
    case HC_CANCELLED:
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "the gateway is shutting down");
        break;
    case HC_CONNECT:
    case HC_ERROR:
    default:
        http_send_error(req, API_BAD_GATEWAY, "", "upstream unreachable: %.120s", r->error);
        break;
    }
}

static void proxy_submit(struct proxy_call *c);

/* The engine's call when an attempt ended (its thread, or the caller's
 * once the engine is cancelled). */
static void proxy_done(void *ud, struct hc_resp *r)
{
    struct proxy_call *c = ud;
    struct gw_app *app = c->app;
    struct http_req *req = c->req;
    size_t held = r->body.len;

    if (r->result == HC_CONNECT && c->at + 1 < c->n) {
        hc_budget_release(&app->proxy_budget, held);
        c->at++;
        proxy_submit(c);
        return;
    }
    proxy_answer(req, app, r);
    hc_budget_release(&app->proxy_budget, held);
    proxy_call_free(c);
    atomic_fetch_sub(&app->proxy_calls, 1);
    http_req_resume(req); /* req is the worker's again */
}

static void proxy_submit(struct proxy_call *c)
{
    char url[GW_URL_MAX];
    size_t blen = 0;
    const char *body = http_req_body(c->req, &blen);
    struct hc_request rq = {
        .method = http_req_method(c->req),
        .url = url,
        .body = blen ? body : NULL,
        .body_len = blen,
        .headers = c->h.list,
        .timeout_ms = c->app->upstream_timeout_ms,
        .max_body = GW_PROXY_MAX,
        .want_headers = true,
        .budget = &c->app->proxy_budget,
    };

    /* fits: the suffix was checked against what is left beside a base */
    snprintf(url, sizeof(url), "%s%s", gw_agg_url(&c->app->agg, c->svc, c->order[c->at]),
             c->suffix);
    hc_async_submit(c->app->proxy, &rq, proxy_done, c);
}

/* Runs on the worker once the connection is suspended. */
static void proxy_start(struct http_req *req, void *ctx)
{
    (void)req;
    proxy_submit(ctx);
}

static void gw_h_proxy(struct http_req *req)
{
    struct gw_app *app = http_req_app(req);
    const char *path = http_req_path(req) + strlen("/services/");
    const char *slash = strchr(path, '/');
    size_t nlen = slash ? (size_t)(slash - path) : strlen(path);
    enum bm_svc s = svc_by_name(path, nlen);
    struct proxy_call *c = NULL;
    struct buf q;

    if (s >= SVC_NSOURCES) { /* none, or the gateway itself */
        http_send_error(req, API_NOT_FOUND, "", "no service named \"%.*s\"",
                        (int)(nlen > 60 ? 60 : nlen), path);
        return;
    }
    buf_init(&q, 16 * 1024);
    if (http_req_query(req, &q) != BM_OK) {
        buf_free(&q);
        http_send_error(req, API_BAD_REQUEST, "", "query string too long");
        return;
    }
    if (strlen(slash ? slash : "/") + q.len + 2 > GW_URL_MAX - GW_BASE_URL_MAX) {
        buf_free(&q);
        http_send_error(req, API_BAD_REQUEST, "", "request URL too long");
        return;
    }
    /* each waiting request holds a socket to its upstream: a bound below
     * the descriptors kept out of the connection cap */
    if (atomic_fetch_add(&app->proxy_calls, 1) >= GW_PROXY_CALLS_MAX) {
        atomic_fetch_sub(&app->proxy_calls, 1);
        buf_free(&q);
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "more than %u proxied requests in flight",
                        GW_PROXY_CALLS_MAX);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c) {
        size_t len = strlen(slash ? slash : "/") + q.len + 2;
        c->suffix = malloc(len);
        if (c->suffix)
            snprintf(c->suffix, len, "%s%s%s", slash ? slash : "/", q.len ? "?" : "",
                     q.len ? q.data : "");
    }
    buf_free(&q);
    if (!c || !c->suffix) {
        free(c);
        atomic_fetch_sub(&app->proxy_calls, 1);
        http_send_error(req, API_INTERNAL, "", "out of memory");
        return;
    }
    c->req = req;
    c->app = app;
    c->svc = s;
    c->h.list[0] = NULL;
    http_req_headers_each(req, fwd_request_header, &c->h);
    fwd_add(&c->h, "X-Request-ID", http_req_id(req));
    c->n = gw_route_order(&app->agg, s, c->order);
    http_req_defer(req, proxy_start, c);
}

const struct route gw_routes[] = {
    { "GET", "/", gw_h_root, 0 },
    { "GET", "/health", gw_h_health, 0 },
    { "GET", "/events", gw_h_events, 0 },
    { "GET", "/events/stream", gw_h_stream, 0 },
    { "GET", "/dashboard", gw_h_dashboard, 0 },
    { "GET", "/metrics", gw_h_metrics, 0 },
    { "GET", "/openapi.yaml", openapi_h_get, 0 },
    { "GET", "/system/health", gw_h_system_health, 0 },
    { "GET", "/incidents", gw_h_incidents, 0 },
    { "GET", "/incidents/", gw_h_incident, R_PREFIX },
    { "POST", "/score", gw_score_h_post, R_JSON_BODY | R_BIG_BODY },
    { "GET", "/score/", gw_score_h_get, R_PREFIX },
    { "*", "/services/", gw_h_proxy, R_PREFIX | R_ANY_METHOD },
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);
