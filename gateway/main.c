/* main.c - api-gateway: load the config, start the poller and the HTTP
 * server, wait for a signal, stop. */
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "poller.h"
#include "routes.h"
#include "str.h"
#include "timefmt.h"

static int gw_load(struct bm_config *cfg, struct gw_app *app, int argc, char **argv, int *exit_code)
{
    const char *name = cfg_svc_name(SVC_GATEWAY);
    const char *lists[GW_NSRC];
    char err[512] = "";

    if (cfg_load(cfg, SVC_GATEWAY, argc, argv, NULL, err, sizeof(err)) != BM_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        *exit_code = 2;
        return -1;
    }
    if (cfg->help) {
        cfg_print_help(SVC_GATEWAY, argc > 0 ? argv[0] : name);
        *exit_code = 0;
        return -1;
    }
    if (cfg->version) {
        printf("%s %s\n", name, BM_VERSION);
        *exit_code = 0;
        return -1;
    }
    lists[GW_TXN] = cfg->txn_urls;
    lists[GW_AUTH] = cfg->auth_urls;
    lists[GW_MON] = cfg->mon_urls;
    for (int s = 0; s < GW_NSRC; s++) {
        struct gw_upstream u;
        const char *urls[GW_REPLICAS_MAX];
        if (gw_parse_urls(lists[s], &u) == BM_OK) {
            for (int r = 0; r < u.nurls; r++)
                urls[r] = u.urls[r];
            if (gw_agg_set_replicas(&app->agg, (enum gw_src)s, urls, u.nurls) == BM_OK)
                continue;
        }
        {
            /* the reason stays on one line whatever the list holds */
            char shown[201];
            snprintf(shown, sizeof(shown), "%s", lists[s]);
            str_one_line(shown, sizeof(shown));
            fprintf(stderr, "%s: bad URL list for %s: \"%s\"\n", name,
                    gw_src_name((enum gw_src)s), shown);
        }
        *exit_code = 2;
        return -1;
    }
    if (cfg->check_config) {
        printf("%s: configuration ok (%s)\n", name, cfg->config_path);
        *exit_code = 0;
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct gw_app app;
    struct bm_config cfg;
    struct http_server *srv = NULL;
    struct gw_poller *poller = NULL;
    int status = 1;

#ifdef __GLIBC__
    /* a thread per connection would otherwise spread its short-lived
     * buffers over up to 8 arenas per core, each keeping some resident */
    mallopt(M_ARENA_MAX, 2);
#endif
    memset(&app, 0, sizeof(app));
    app.started_us = time_mono_us();
    log_init(cfg_svc_name(SVC_GATEWAY), LOG_INFO);
    if (gw_agg_init(&app.agg, 0, 0) != BM_OK)
        return 1;
    if (gw_load(&cfg, &app, argc, argv, &status) != 0) {
        gw_agg_free(&app.agg);
        return status;
    }
    log_set_level((enum log_level)cfg.log_level);
    app.agg.max_bytes = (size_t)cfg.buffer_bytes;
    app.agg.poll_interval_ms = cfg.poll_interval_ms;
    daemon_install_signals();
    app.upstream_timeout_ms = (long)cfg.upstream_timeout_ms;
    atomic_init(&app.proxy_budget.used, 0);
    app.proxy_budget.max = GW_PROXY_BUDGET;
    /* curl's global state, before any thread exists */
    if (http_client_global_init() != BM_OK) {
        fprintf(stderr, "api-gateway: cannot initialise libcurl\n");
        gw_agg_free(&app.agg);
        return 1;
    }
    {
        struct http_server_opts o = {
            .bind = cfg.bind,
            .port = (uint16_t)cfg.port,
            .routes = gw_routes,
            .nroutes = gw_nroutes,
            .app = &app,
            .admin_token = cfg.admin_token,
            .max_conns = 256,
            /* a proxied request blocks its thread for up to the upstream
             * timeout: with a thread per connection it blocks nothing else */
            .thread_per_connection = true,
            .conn_timeout_s = 15,
        };
        if (http_server_start(&o, &srv) != BM_OK) {
            fprintf(stderr, "api-gateway: cannot listen on %s:%lld\n", cfg.bind,
                    (long long)cfg.port);
            goto out_agg;
        }
    }
    if (gw_poller_start(&app.agg, &cfg, &poller) != BM_OK) {
        fprintf(stderr, "api-gateway: cannot start the poller\n");
        goto out_srv;
    }
    {
        char extra[160];
        snprintf(extra, sizeof(extra), "\"port\":%u,\"bind\":\"%s\"",
                 (unsigned)http_server_port(srv), cfg.bind);
        log_emit_fields(LOG_INFO, extra, "listening");
    }
    daemon_wait_for_signal();
    log_info("shutting down");
    status = 0;
    /* in-flight upstream requests end now, not at their timeout */
    hc_cancel_all();
    gw_poller_stop(poller);
out_srv:
    http_server_drain(srv, HTTP_DRAIN_MS);
    http_server_stop(srv);
out_agg:
    gw_agg_free(&app.agg);
    http_client_global_cleanup();
    if (status == 0)
        log_info("stopped");
    return status;
}
