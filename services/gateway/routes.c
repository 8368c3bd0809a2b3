/* routes.c - gateway endpoints, answered from the aggregate's memory,
 * and the /services/<name>/ proxy. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_client.h"
#include "query.h"
#include "timefmt.h"

#define GW_LIST_MAX (32u * 1024 * 1024)
#define GW_PROXY_MAX (32u * 1024 * 1024)

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
    for (int s = 0; s < SVC_GATEWAY; s++) {
        const char *const *names;
        int n = cfg_anomaly_types((enum bm_svc)s, &names);
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], t) == 0)
                return names[i];
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

static void gw_h_dashboard(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct gw_app *app = http_req_app(req);
    struct buf b;

    if (!http_req_args_check(req, allowed))
        return;
    buf_init(&b, 256 * 1024);
    send_built(req, gw_agg_dashboard(&app->agg, &b), HTTP_CT_JSON, &b);
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

static void add_header(const char **hdrs, char store[][512], int *n, struct http_req *req,
                       const char *name, const char *value)
{
    if (!value)
        value = http_req_header(req, name);
    if (!value)
        return;
    snprintf(store[*n], sizeof(store[0]), "%s: %s", name, value);
    hdrs[*n] = store[*n];
    (*n)++;
}

/* One attempt at a replica; true if the answer (or failure) is final. */
static bool proxy_once(struct http_req *req, struct gw_app *app, const char *url, bool last)
{
    const char *hdrs[5];
    char store[4][512];
    int nh = 0;
    size_t blen = 0;
    const char *body = http_req_body(req, &blen);
    struct hc_request rq = {
        .method = http_req_method(req),
        .url = url,
        .body = blen ? body : NULL,
        .body_len = blen,
        .headers = hdrs,
        .timeout_ms = app->upstream_timeout_ms,
        .max_body = GW_PROXY_MAX,
    };
    struct hc_resp r;

    add_header(hdrs, store, &nh, req, "Content-Type", NULL);
    add_header(hdrs, store, &nh, req, "Authorization", NULL);
    add_header(hdrs, store, &nh, req, "Accept", NULL);
    add_header(hdrs, store, &nh, req, "X-Request-ID", http_req_id(req));
    hdrs[nh] = NULL;
    hc_request(&rq, &r);
    if (r.result == HC_CONNECT && !last) {
        hc_resp_free(&r);
        return false;
    }
    switch (r.result) {
    case HC_OK:
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
    default:
        http_send_error(req, API_BAD_GATEWAY, "", "upstream unreachable: %.120s", r.error);
        break;
    }
    hc_resp_free(&r);
    return true;
}

static void gw_h_proxy(struct http_req *req)
{
    struct gw_app *app = http_req_app(req);
    const char *path = http_req_path(req) + strlen("/services/");
    const char *slash = strchr(path, '/');
    size_t nlen = slash ? (size_t)(slash - path) : strlen(path);
    int s = gw_src_by_name(path, nlen);
    struct gw_upstream *u;
    struct buf q;
    int first;

    if (s < 0) {
        http_send_error(req, API_NOT_FOUND, "", "no service named \"%.*s\"",
                        (int)(nlen > 60 ? 60 : nlen), path);
        return;
    }
    u = &app->ups[s];
    buf_init(&q, 16 * 1024);
    if (http_req_query(req, &q) != BM_OK) {
        buf_free(&q);
        http_send_error(req, API_BAD_REQUEST, "", "query string too long");
        return;
    }
    pthread_mutex_lock(&app->agg.mu);
    first = u->current;
    pthread_mutex_unlock(&app->agg.mu);
    for (int i = 0; i < u->nurls; i++) {
        char url[8192];
        int k = (first + i) % u->nurls;
        int w = snprintf(url, sizeof(url), "%s%s%s%s", u->urls[k], slash ? slash : "/",
                         q.len ? "?" : "", q.len ? q.data : "");
        if (w < 0 || (size_t)w >= sizeof(url)) {
            http_send_error(req, API_BAD_REQUEST, "", "request URL too long");
            break;
        }
        if (proxy_once(req, app, url, i == u->nurls - 1))
            break;
    }
    buf_free(&q);
}

const struct route gw_routes[] = {
    { "GET", "/health", gw_h_health, 0 },
    { "GET", "/events", gw_h_events, 0 },
    { "GET", "/dashboard", gw_h_dashboard, 0 },
    { "GET", "/metrics", gw_h_metrics, 0 },
    { "GET", "/system/health", gw_h_system_health, 0 },
    { "*", "/services/", gw_h_proxy, R_PREFIX | R_ANY_METHOD },
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);
