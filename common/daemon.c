/* daemon.c - the lifecycle of a service: load the configuration, open the
 * database and the generator loop, serve the common endpoints
 * (endpoints.c) and the service's routes, wait for a signal, drain, stop. */
#include "daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "db.h"
#include "endpoints.h"
#include "genloop.h"
#include "log.h"
#include "timefmt.h"

/* SIGINT and SIGTERM are blocked here, before any thread exists, so every
 * thread inherits the mask and only the main thread takes them, with
 * sigwait: no handler runs on a worker and no flag is shared. */
static sigset_t stop_signals;

void daemon_install_signals(void)
{
    struct sigaction sa;

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    /* Past RLIMIT_FSIZE a write must fail with EFBIG, which SQLite turns
     * into an error we answer 503 to, not kill the process. */
    sigaction(SIGXFSZ, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */

/* Raises the open-file limit and returns a connection cap that fits. */
static unsigned connection_cap(unsigned want, unsigned threads)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)(want + 64) * threads + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 128;
    if (rl.rlim_cur < need && rl.rlim_max != rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= need)
        return want;
    if (rl.rlim_cur < 64 * (rlim_t)threads + 192)
        return 32;
    return (unsigned)((rl.rlim_cur - 64) / threads - 64);
}

static bool is_loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

void daemon_wait_for_signal(void)
{
    int sig;

    while (sigwait(&stop_signals, &sig) != 0)
        sleep_ms(50);
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
    const char *prog = argc > 0 ? argv[0] : cfg_svc_name(def->svc);
    const char *name = cfg_svc_name(def->svc);

    memset(&app, 0, sizeof(app));
    app.def = def;
    app.started_us = time_mono_us();
    log_init(name, LOG_INFO);
    if (cfg_load(&cfg, def->svc, argc, argv, NULL, err, sizeof(err)) != BM_OK) {
        fprintf(stderr, "%s: %s\n", name, err);
        return 2;
    }
    if (cfg.help) {
        cfg_print_help(def->svc, prog);
        return 0;
    }
    if (cfg.version) {
        printf("%s %s\n", name, BM_VERSION);
        return 0;
    }
    if (cfg.check_config) {
        printf("%s: configuration ok (%s)\n", name, cfg.config_path);
        return 0;
    }
    log_set_level((enum log_level)cfg.log_level);
    daemon_install_signals();

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
            .max_conns = connection_cap(512, 2),
            .threads = 2,
            .conn_timeout_s = 15,
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

    daemon_wait_for_signal();
    log_info("shutting down");
    status = 0;
out:
    /* Answer no new requests, finish those in flight, then the writer. */
    http_server_drain(srv, HTTP_DRAIN_MS);
    http_server_stop(srv);
    genloop_stop(app.gl);
    db_readers_close();
    endpoints_free_caches();
    free(routes);
    if (status == 0)
        log_info("stopped");
    return status;
}
