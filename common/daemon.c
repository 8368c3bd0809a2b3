/* daemon.c - the lifecycle of a service: load the configuration, open the
 * database and the generator loop, serve the common endpoints
 * (endpoints.c) and the service's routes, wait for a signal, drain, stop. */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "endpoints.h"
#include "genloop.h"
#include "http_client.h"
#include "log.h"
#include "signals.h"
#include "sink.h"
#include "stream.h"
#include "timefmt.h"

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */

static bool is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0;
}

/* The Kinesis sink, when one is configured (sink.h). */
static enum bm_rc start_sink(const struct bm_config *cfg, struct app *app)
{
    struct sink_opts sk = { .target = cfg->sink, .svc = app->def->svc,
                            .db_path = cfg->db_path, .sql = app->def->sql, .gl = app->gl };

    if (!cfg->sink[0])
        return BM_OK;
    if (http_client_global_init() != BM_OK) {
        fprintf(stderr, "%s: cannot initialise libcurl\n", cfg_svc_name(app->def->svc));
        return BM_EIO;
    }
    return sink_start(&sk, &app->sink);
}

int daemon_run(const struct service_def *def, int argc, char **argv)
{
    struct bm_config cfg;
    struct route *routes = NULL;
    struct http_server *srv = NULL;
    struct db *db = NULL;
    struct app app;
    char err[512] = "";
    enum bm_rc rc;
    int status = 1;
    const char *name = cfg_svc_name(def->svc);

    memset(&app, 0, sizeof(app));
    app.def = def;
    app.started_us = time_mono_us();
    status = cli_prepare_checked(def->svc, argc, argv, &cfg, sink_check_config);
    if (status >= 0)
        return status;
    status = 1;
    sig_block_stop();

    if (db_open_writer(cfg.db_path, def->sql, &db) != BM_OK) {
        fprintf(stderr, "%s: cannot open database %s\n", name, cfg.db_path);
        return 1;
    }
    snprintf(app.db_path, sizeof(app.db_path), "%s", cfg.db_path);
    /* the loop owns db from here, also on failure */
    rc = genloop_open(def, db, &cfg, &app.gl, err, sizeof(err));
    if (rc != BM_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        return rc == BM_ENOMEM ? 1 : 2; /* 2: the database and the flags disagree */
    }
    {
        struct stream_hub_opts so = { .heartbeat_ms = cfg.stream_heartbeat_ms,
                                      .ring_bytes = cfg.stream_buffer_bytes,
                                      .stall_ms = cfg.idle_timeout_s * 1000 };
        endpoints_stream_source(&app, &so.src);
        if (stream_hub_start(&so, &app.streams) != BM_OK)
            goto out;
    }
    if (start_sink(&cfg, &app) != BM_OK)
        goto out;
    routes = calloc(endpoints_ncommon + def->nroutes, sizeof(*routes));
    if (!routes)
        goto out;
    memcpy(routes, endpoints_common, endpoints_ncommon * sizeof(*routes));
    memcpy(routes + endpoints_ncommon, def->routes, def->nroutes * sizeof(*routes));
    {
        struct http_server_opts o = {
            .bind = cfg.bind,
            .port = (uint16_t)cfg.port,
            .routes = routes,
            .nroutes = endpoints_ncommon + def->nroutes,
            .app = &app,
            .admin_token = cfg.admin_token,
            .max_conns = (unsigned)cfg.max_connections, /* 0: from RLIMIT_NOFILE */
            .threads = 2,
            .conn_timeout_s = (unsigned)cfg.idle_timeout_s,
            .header_timeout_s = (unsigned)cfg.header_timeout_s,
            .cors_origins = cfg.cors_origins,
        };
        if (http_server_start(&o, &srv) != BM_OK) {
            fprintf(stderr, "%s: cannot listen on %s:%lld\n", name, cfg.bind,
                    (long long)cfg.port);
            goto out;
        }
    }
    if (genloop_start(app.gl) != BM_OK)
        goto out;
    if (!cfg.admin_token[0] && !is_loopback(cfg.bind))
        log_warn("ADMIN_TOKEN is not set and %s is not loopback: POST endpoints are open",
                 cfg.bind);
    {
        char extra[160];
        snprintf(extra, sizeof(extra), "\"port\":%u,\"bind\":\"%s\",\"seed\":%llu",
                 (unsigned)http_server_port(srv), cfg.bind,
                 (unsigned long long)genloop_seed(app.gl));
        log_emit_fields(LOG_INFO, extra, "listening");
    }

    sig_wait_stop();
    log_info("shutting down");
    status = 0;
out:
    /* End the event streams, answer no new requests, finish those in
     * flight, then the writer. */
    stream_hub_shutdown(app.streams);
    http_server_drain(srv, HTTP_DRAIN_MS);
    http_server_stop(srv);
    stream_hub_free(app.streams);
    sink_stop(app.sink); /* stores its cursor through the loop: before it stops */
    genloop_stop(app.gl);
    db_readers_close();
    endpoints_free_caches();
    free(routes);
    if (cfg.sink[0])
        http_client_global_cleanup();
    if (status == 0)
        log_info("stopped");
    return status;
}
