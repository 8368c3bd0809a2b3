/* routes.c - monitoring-service: its service definition and routes. */
#include <stdlib.h>
#include <string.h>

#include "endpoints.h"
#include "db.h"
#include "mon.h"
#include "parse.h"

#define REPORT_MAX   (256 * 1024)
#define RECENT_DEF   10
#define RECENT_MAX   100

const struct service_def mon_service;

static enum bm_rc store_event(struct db *db, const struct gen_event *ev)
{
    return mon_store_event(db, ev);
}

static enum bm_rc prune_extra(struct db *db, uint64_t oldest_kept)
{
    return mon_store_prune(db, oldest_kept);
}

static void send_unavailable(struct http_req *req, enum bm_rc rc)
{
    http_add_header(req, "Retry-After", "1");
    http_send_error(req, API_UNAVAIL, "", "cannot read the database now: %s", bm_rc_str(rc));
}

/* What a report is rendered from: one snapshot, and for the dashboard
 * the counts and the newest events read with it. */
struct report_in {
    const struct mon_snapshot *snap;
    const struct mon_counts *counts;
    const struct buf *recent;
};

typedef enum bm_rc (*render_fn)(const struct report_in *in, struct buf *out);

/* Reads one snapshot (with the counts and the n_recent newest events if
 * n_recent >= 0) and sends what render makes of it. */
static void send_report(struct http_req *req, render_fn render, int n_recent)
{
    struct app *app = http_req_app(req);
    struct mon_snapshot *snap;
    struct mon_counts counts;
    struct report_in in;
    struct db *db;
    struct buf recent, b;
    bool dash = n_recent >= 0;
    enum bm_rc rc = db_reader(app->db_path, app->def->sql, &db);

    if (rc != BM_OK) {
        send_unavailable(req, rc);
        return;
    }
    snap = malloc(sizeof *snap);
    if (!snap) {
        send_unavailable(req, BM_ENOMEM);
        return;
    }
    buf_init(&recent, REPORT_MAX);
    buf_init(&b, dash ? 2 * REPORT_MAX : REPORT_MAX);
    rc = mon_store_read(db, snap, dash ? &counts : NULL, dash ? n_recent : 0,
                        dash ? &recent : NULL);
    in = (struct report_in){ snap, &counts, &recent };
    if (rc == BM_OK)
        rc = render(&in, &b);
    if (rc == BM_OK)
        http_send_buf(req, 200, HTTP_CT_JSON, &b);
    else
        send_unavailable(req, rc);
    buf_free(&b);
    buf_free(&recent);
    free(snap);
}

static enum bm_rc render_metrics(const struct report_in *in, struct buf *out)
{
    return mon_report_metrics(in->snap, out);
}

static enum bm_rc render_health(const struct report_in *in, struct buf *out)
{
    return mon_report_health(in->snap, out);
}

static enum bm_rc render_dashboard(const struct report_in *in, struct buf *out)
{
    return mon_report_dashboard(in->snap, in->counts, in->recent->data, in->recent->len, out);
}

static void h_system_metrics(struct http_req *req)
{
    static const char *const allowed[] = { NULL };

    if (http_req_args_check(req, allowed))
        send_report(req, render_metrics, -1);
}

static void h_system_health(struct http_req *req)
{
    static const char *const allowed[] = { NULL };

    if (http_req_args_check(req, allowed))
        send_report(req, render_health, -1);
}

static void h_dashboard(struct http_req *req)
{
    static const char *const allowed[] = { "recent", NULL };
    const char *arg;
    int64_t n = RECENT_DEF;

    if (!http_req_args_check(req, allowed))
        return;
    arg = http_req_arg(req, "recent");
    if (arg && parse_i64(arg, 0, RECENT_MAX, &n) != BM_OK) {
        http_send_error(req, API_BAD_PARAM, "recent", "recent must be an integer 0..%d",
                        RECENT_MAX);
        return;
    }
    send_report(req, render_dashboard, (int)n);
}

static const struct route mon_routes[] = {
    { "GET", "/metrics/events", endpoints_h_events, 0 },
    { "GET", "/metrics/events/stream", endpoints_h_stream, 0 },
    { "GET", "/metrics/export", endpoints_h_export, 0 },
    { "GET", "/system/health", h_system_health, 0 },
    { "GET", "/system/metrics", h_system_metrics, 0 },
    { "GET", "/dashboard", h_dashboard, 0 },
};

const struct service_def mon_service = {
    .svc = SVC_MONITORING,
    .routes = mon_routes,
    .nroutes = sizeof(mon_routes) / sizeof(mon_routes[0]),
    .gen = &mon_gen_hooks,
    .sql = &mon_store_sql,
    .store_event = store_event,
    .prune_extra = prune_extra,
    .inject_check = mon_inject_check,
};
