/* gateway.c - the api-gateway's lifecycle: load the config, start the
 * HTTP server and the poller, wait for a signal, stop. */
#include "gateway.h"

#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "cli.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "poller.h"
#include "routes.h"
#include "scoring.h"
#include "signals.h"
#include "sse.h"
#include "str.h"
#include "timefmt.h"

/* The comma-separated base URLs configured for service s. */
static const char *urls_of(const struct bm_config *c, enum bm_svc s)
{
    switch (s) {
    case SVC_TRANSACTION:
        return c->txn_urls;
    case SVC_AUTH:
        return c->auth_urls;
    case SVC_MONITORING:
    default:
        return c->mon_urls;
    }
}

enum bm_rc gw_check_config(const struct bm_config *c, char *err, size_t errlen)
{
    for (int s = 0; s < SVC_NSOURCES; s++) {
        struct gw_upstream u;
        const char *list = urls_of(c, (enum bm_svc)s);
        char shown[201];

        if (gw_parse_urls(list, &u) == BM_OK)
            continue;
        /* the reason stays on one line whatever the list holds */
        snprintf(shown, sizeof(shown), "%.200s", list);
        str_one_line(shown, sizeof(shown));
        snprintf(err, errlen, "bad URL list for %s: \"%s\"", svc_info((enum bm_svc)s)->name,
                 shown);
        return BM_EINVAL;
    }
    return BM_OK;
}

/* Sets every service's replicas from the (checked) configuration. */
static enum bm_rc set_replicas(struct gw_agg *agg, const struct bm_config *c)
{
    for (int s = 0; s < SVC_NSOURCES; s++) {
        struct gw_upstream u;
        const char *urls[GW_REPLICAS_MAX];
        enum bm_rc rc = gw_parse_urls(urls_of(c, (enum bm_svc)s), &u);

        for (int r = 0; rc == BM_OK && r < u.nurls; r++)
            urls[r] = u.urls[r];
        if (rc == BM_OK)
            rc = gw_agg_set_replicas(agg, (enum bm_svc)s, urls, u.nurls);
        if (rc != BM_OK)
            return rc;
    }
    return BM_OK;
}

static enum bm_rc start_server(struct gw_app *app, const struct bm_config *cfg,
                               struct http_server **srv)
{
    struct http_server_opts o = {
        .bind = cfg->bind,
        .port = (uint16_t)cfg->port,
        .routes = gw_routes,
        .nroutes = gw_nroutes,
        .app = app,
        .admin_token = cfg->admin_token,
        .cors_origins = cfg->cors_origins,
        .max_conns = (unsigned)cfg->max_connections, /* 0: from RLIMIT_NOFILE */
        /* event-driven like the services: a proxied request waits for its
         * upstream suspended, on the proxy engine's thread, not a worker */
        .threads = 2,
        .allow_defer = true,
        .conn_timeout_s = (unsigned)cfg->idle_timeout_s,
        .header_timeout_s = (unsigned)cfg->header_timeout_s,
    };

    return http_server_start(&o, srv);
}

int gw_run(int argc, char **argv)
{
    static struct gw_app app;
    struct bm_config cfg;
    struct http_server *srv = NULL;
    struct gw_poller *poller = NULL;
    int status;

#ifdef __GLIBC__
    /* the workers, the poller and the proxy engine would otherwise
     * spread their short-lived buffers over up to 8 arenas per core, each
     * keeping some resident */
    mallopt(M_ARENA_MAX, 2);
#endif
    status = cli_prepare_checked(SVC_GATEWAY, argc, argv, &cfg, gw_check_config);
    if (status >= 0)
        return status;
    status = 1;
    memset(&app, 0, sizeof(app));
    app.started_us = time_mono_us();
    app.upstream_timeout_ms = (long)cfg.upstream_timeout_ms;
    atomic_init(&app.proxy_budget.used, 0);
    atomic_init(&app.proxy_calls, 0);
    app.proxy_budget.max = GW_PROXY_BUDGET;
    if (gw_agg_init(&app.agg, (size_t)cfg.buffer_bytes, cfg.poll_interval_ms) != BM_OK)
        return 1;
    if (set_replicas(&app.agg, &cfg) != BM_OK)
        goto out_agg; /* checked by cli_prepare_checked: cannot happen */
    sig_block_stop();
    /* curl's global state, before any thread exists */
    if (http_client_global_init() != BM_OK) {
        fprintf(stderr, "api-gateway: cannot initialise libcurl\n");
        goto out_agg;
    }
    if (hc_async_start(&app.proxy) != BM_OK) {
        fprintf(stderr, "api-gateway: cannot start the proxy\n");
        goto out_curl;
    }
    if (gw_sse_start(&app.agg, &cfg, &app.streams) != BM_OK) {
        fprintf(stderr, "api-gateway: cannot start the event streams\n");
        goto out_proxy;
    }
    if (start_server(&app, &cfg, &srv) != BM_OK) {
        fprintf(stderr, "api-gateway: cannot listen on %s:%lld\n", cfg.bind,
                (long long)cfg.port);
        goto out_proxy;
    }
    if (gw_poller_start(&app.agg, &cfg, gw_sse_notify, app.streams, &poller) != BM_OK) {
        fprintf(stderr, "api-gateway: cannot start the poller\n");
        goto out_srv;
    }
    {
        char extra[160];
        snprintf(extra, sizeof(extra), "\"port\":%u,\"bind\":\"%s\"",
                 (unsigned)http_server_port(srv), cfg.bind);
        log_emit_fields(LOG_INFO, extra, "listening");
    }
    sig_wait_stop();
    log_info("shutting down");
    status = 0;
    /* in-flight upstream requests end now, not at their timeout: the
     * proxied ones are answered 503 and resumed before the drain waits
     * for them, and any later one is answered so at once */
    hc_cancel_all();
    hc_async_cancel(app.proxy);
    gw_poller_stop(poller);
out_srv:
    hc_async_cancel(app.proxy); /* no request is left suspended at the stop */
    /* the event streams end first: their sockets are closed through the
     * server (they count under its cap) */
    stream_hub_shutdown(app.streams);
    http_server_drain(srv, HTTP_DRAIN_MS);
    http_server_stop(srv);
    gw_routes_free_caches();
out_proxy:
    stream_hub_free(app.streams);
    hc_async_free(app.proxy);
out_curl:
    http_client_global_cleanup();
out_agg:
    gw_agg_free(&app.agg);
    gw_score_free();
    if (status == 0)
        log_info("stopped");
    return status;
}
