/* routes.c - auth-service: its service definition and routes. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "endpoints.h"
#include "db.h"
#include "genloop.h"
#include "json.h"
#include "parse.h"
#include "timefmt.h"

#define FAILED_BODY_MAX (1024 * 1024)

const struct service_def auth_service;

/* A POST /auth on its way to the writer thread (copied by the queue). */
struct api_job {
    struct auth_input in;
    struct auth_baseline seen; /* what the request's thread found */
    struct auth_detail detail; /* ev->detail points here for the store */
};

/* Runs on the writer thread, on the writer connection, in the write
 * transaction of this event before its row: every event before it is
 * there to see, and nothing is written between the look-up and the
 * insert. The long part of the look-up was done by the request's thread
 * on its reader (job->seen); this adds what was written since. */
static enum bm_rc build_api_event(void *arg, struct db *db, const void *model, struct rng *r,
                                  int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    struct api_job *job = arg;
    struct auth_history h;
    int64_t ts_ms = timefmt_ms_of_us(t_us);
    enum bm_rc rc =
        auth_store_history(db, job->in.username, job->in.ip, ts_ms, seq, &job->seen, &h);

    if (rc != BM_OK)
        return rc;
    return auth_from_input(model, &job->in, &h, r, t_us, seq, ev, &job->detail);
}

static void h_post_auth(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    struct api_job *job = NULL;
    struct genloop_status st;
    struct api_fail f;
    struct db *db;
    struct buf out;
    cJSON *obj;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if ((obj = endpoints_body_json(req)) == NULL)
        return;
    job = calloc(1, sizeof *job);
    if (!job) {
        cJSON_Delete(obj);
        http_send_error(req, API_INTERNAL, "", "out of memory");
        return;
    }
    rc = auth_input_from_json(obj, &job->in, &f);
    cJSON_Delete(obj);
    if (rc == BM_OK)
        rc = auth_input_check(genloop_model(app->gl), &job->in, &f);
    if (rc != BM_OK) {
        free(job);
        http_send_fail(req, &f);
        return;
    }
    genloop_status(app->gl, &st);
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc == BM_OK)
        rc = auth_store_baseline(db, job->in.username, st.sim_now_ms, &job->seen);
    if (rc != BM_OK) {
        free(job);
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "cannot read the database now: %s",
                        bm_rc_str(rc));
        return;
    }
    buf_init(&out, 64 * 1024);
    rc = genloop_submit_event(app->gl, build_api_event, job, sizeof *job, &out);
    free(job);
    if (rc != BM_OK) {
        buf_free(&out);
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "cannot store the login now: %s", bm_rc_str(rc));
        return;
    }
    http_send_buf(req, 201, HTTP_CT_JSON, &out);
    buf_free(&out);
}

/* An optional integer query argument in [min, max]; answers 400 itself. */
static bool int_arg(struct http_req *req, const char *name, int64_t min, int64_t max,
                    int64_t def, int64_t *out)
{
    const char *v = http_req_arg(req, name);

    *out = def;
    if (!v)
        return true;
    if (parse_i64(v, min, max, out) != BM_OK) {
        http_send_error(req, API_BAD_PARAM, name, "%s must be an integer in %lld..%lld", name,
                        (long long)min, (long long)max);
        return false;
    }
    return true;
}

/* Failures in the `window` seconds up to the service's simulated now,
 * grouped by username and by source address, counted by the database. */
static void h_failed_attempts(struct http_req *req)
{
    static const char *const allowed[] = { "window", "limit", NULL };
    struct app *app = http_req_app(req);
    struct auth_failed_query q;
    struct genloop_status st;
    struct db *db;
    struct buf b;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed) ||
        !int_arg(req, "window", 1, 86400, 300, &q.window_s) ||
        !int_arg(req, "limit", 1, 1000, 100, &q.limit))
        return;
    genloop_status(app->gl, &st);
    q.to_ms = st.sim_now_ms;
    q.from_ms = st.sim_now_ms - q.window_s * 1000;
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc == BM_OK) {
        buf_init(&b, FAILED_BODY_MAX);
        rc = auth_store_failed_attempts(db, &q, &b);
        if (rc == BM_OK) {
            http_send_buf(req, 200, HTTP_CT_JSON, &b);
            buf_free(&b);
            return;
        }
        buf_free(&b);
    }
    http_add_header(req, "Retry-After", "1");
    http_send_error(req, API_UNAVAIL, "", "cannot read failed attempts now: %s",
                    bm_rc_str(rc));
}

static enum bm_rc store_event(struct db *db, const struct gen_event *ev)
{
    return auth_store_event(db, ev);
}

static enum bm_rc prune_extra(struct db *db, uint64_t oldest_kept)
{
    return auth_store_prune(db, oldest_kept);
}

static const struct route auth_routes[] = {
    { "GET", "/auth/events", endpoints_h_events, 0 },
    { "GET", "/auth/events/stream", endpoints_h_stream, 0 },
    { "GET", "/auth/export", endpoints_h_export, 0 },
    { "POST", "/auth", h_post_auth, R_JSON_BODY },
    { "GET", "/security/failed-attempts", h_failed_attempts, 0 },
};

const struct service_def auth_service = {
    .svc = SVC_AUTH,
    .routes = auth_routes,
    .nroutes = sizeof(auth_routes) / sizeof(auth_routes[0]),
    .gen = &auth_gen_hooks,
    .sql = &auth_store_sql,
    .store_event = store_event,
    .prune_extra = prune_extra,
    .inject_check = auth_inject_check,
};
