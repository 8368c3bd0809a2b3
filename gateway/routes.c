/* routes.c - gateway endpoints, answered from the aggregate's memory,
 * and the /services/<name>/ proxy. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "dashboard.h"
#include "report.h"
#include "http_client.h"
#include "openapi.h"
#include "query.h"
#include "timefmt.h"

#define GW_LIST_MAX (32u * 1024 * 1024)
/* one proxied answer (an event page of 1000 is under 1 MB) */
#define GW_PROXY_MAX (8u * 1024 * 1024)

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
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    buf_init(&b, 1024);
    send_built(req,
               buf_printf(&b,
                          "{\"status\":\"ok\",\"service\":\"api-gateway\",\"version\":\"%s\","
                          "\"uptime_s\":%lld}",
                          BM_VERSION, (long long)((time_mono_us() - app->started_us) / 1000000)),
               HTTP_CT_JSON, &b);
}

/* anomaly_type may name any service's type. */
static const char *known_type(const char *t)
{
    for (int s = 0; s < SVC_NSOURCES; s++) {
        int i = svc_anomaly_index((enum bm_svc)s, t);
        if (i >= 0)
            return svc_info((enum bm_svc)s)->anomaly_types[i];
    }
    return NULL;
}

static void gw_h_events(struct http_req *req)
{
    static const char *const allowed[] = { "limit", "since", "anomalies_only", "anomaly_type",
                                           NULL };
    struct gw_app *app = http_req_app(req);
    const char *type = NULL;
    struct db_list_query q;
    struct api_fail f;
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    if (query_parse_list(SVC_GATEWAY, http_req_arg(req, "limit"), http_req_arg(req, "since"),
                         http_req_arg(req, "anomalies_only"), NULL, &q, &f) != BM_OK) {
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
    buf_init(&b, GW_LIST_MAX);
    send_built(req, gw_agg_list(&app->agg, &q, &b), HTTP_CT_JSON, &b);
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
    const char *fmt = http_req_arg(req, "format");
    int64_t up = (time_mono_us() - app->started_us) / 1000000;
    bool text;
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    if (fmt && strcmp(fmt, "prometheus") != 0 && strcmp(fmt, "text") != 0 &&
        strcmp(fmt, "json") != 0) {
        http_send_error(req, API_BAD_PARAM, "format", "format must be json or prometheus");
        return;
    }
    text = fmt ? strcmp(fmt, "json") != 0 : http_req_wants_text(req);
    buf_init(&b, 2 * 1024 * 1024);
    send_built(req,
               text ? gw_agg_metrics_prometheus(&app->agg, up, &b)
                    : gw_agg_metrics_json(&app->agg, up, &b),
               text ? HTTP_CT_TEXT : HTTP_CT_JSON, &b);
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

/* One attempt at a replica; true if the answer (or failure) is final. */
static bool proxy_once(struct http_req *req, struct gw_app *app, const char *url,
                       const struct fwd_headers *h, bool last)
{
    size_t blen = 0;
    const char *body = http_req_body(req, &blen);
    struct hc_request rq = {
        .method = http_req_method(req),
        .url = url,
        .body = blen ? body : NULL,
        .body_len = blen,
        .headers = h->list,
        .timeout_ms = app->upstream_timeout_ms,
        .max_body = GW_PROXY_MAX,
        .want_headers = true,
        .budget = &app->proxy_budget,
    };
    struct hc_resp r;

    hc_request(&rq, &r);
    if (r.result == HC_CONNECT && !last) {
        hc_budget_release(&app->proxy_budget, r.body.len);
        hc_resp_free(&r);
        return false;
    }
    switch (r.result) {
    case HC_OK:
        copy_response_headers(req, &r.headers);
        http_send(req, (int)r.status, r.ctype[0] ? r.ctype : HTTP_CT_JSON,
                  r.body.data ? r.body.data : "", r.body.len);
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
        http_send_error(req, API_BAD_GATEWAY, "", "upstream unreachable: %.120s", r.error);
        break;
    }
    hc_budget_release(&app->proxy_budget, r.body.len);
    hc_resp_free(&r);
    return true;
}

static void gw_h_proxy(struct http_req *req)
{
    struct gw_app *app = http_req_app(req);
    const char *path = http_req_path(req) + strlen("/services/");
    const char *slash = strchr(path, '/');
    size_t nlen = slash ? (size_t)(slash - path) : strlen(path);
    enum bm_svc s = svc_by_name(path, nlen);
    int order[GW_REPLICAS_MAX], n;
    struct fwd_headers h = { .n = 0 };
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
    h.list[0] = NULL;
    http_req_headers_each(req, fwd_request_header, &h);
    fwd_add(&h, "X-Request-ID", http_req_id(req));
    n = gw_route_order(&app->agg, s, order);
    for (int i = 0; i < n; i++) {
        char url[8192];
        const char *base = gw_agg_url(&app->agg, s, order[i]);
        int w = snprintf(url, sizeof(url), "%s%s%s%s", base, slash ? slash : "/",
                         q.len ? "?" : "", q.len ? q.data : "");
        if (w < 0 || (size_t)w >= sizeof(url)) {
            http_send_error(req, API_BAD_REQUEST, "", "request URL too long");
            break;
        }
        if (proxy_once(req, app, url, &h, i == n - 1))
            break;
    }
    fwd_free(&h);
    buf_free(&q);
}

const struct route gw_routes[] = {
    { "GET", "/", gw_h_root, 0 },
    { "GET", "/health", gw_h_health, 0 },
    { "GET", "/events", gw_h_events, 0 },
    { "GET", "/dashboard", gw_h_dashboard, 0 },
    { "GET", "/metrics", gw_h_metrics, 0 },
    { "GET", "/openapi.yaml", openapi_h_get, 0 },
    { "GET", "/system/health", gw_h_system_health, 0 },
    { "*", "/services/", gw_h_proxy, R_PREFIX | R_ANY_METHOD },
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);
