/* routes.c - transaction-service: its service definition and routes. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "endpoints.h"
#include "genloop.h"
#include "json.h"
#include "timefmt.h"
#include "txn.h"

const struct service_def txn_service;

/* Runs on the writer thread, in the write transaction of this event
 * before its row (the input was validated by the handler): every event
 * before it is there to see for the rules' look-up, which runs only for
 * an input that could complete a pattern. */
static enum bm_rc build_api_event(void *arg, struct db *db, const void *model, struct rng *r,
                                  int64_t t_us, uint64_t seq, struct gen_event *ev)
{
    struct txn_history h;
    enum bm_rc rc;

    txn_history_need(model, arg, timefmt_ms_of_us(t_us), &h);
    rc = txn_store_history(db, model, &h);
    if (rc != BM_OK)
        return rc;
    return txn_from_input(model, arg, &h, r, t_us, seq, ev);
}

static void h_post_transaction(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    struct txn_input in;
    struct api_fail f;
    struct buf out;
    cJSON *obj;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if ((obj = endpoints_body_json(req)) == NULL)
        return;
    memset(&in, 0, sizeof(in));
    rc = txn_input_from_json(obj, &in, &f);
    cJSON_Delete(obj);
    if (rc != BM_OK) {
        http_send_fail(req, &f);
        return;
    }
    buf_init(&out, 64 * 1024);
    rc = genloop_submit_event(app->gl, build_api_event, &in, sizeof(in), &out);
    if (rc != BM_OK) {
        buf_free(&out);
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "cannot store the transaction now: %s",
                        bm_rc_str(rc));
        return;
    }
    http_send_buf(req, 201, HTTP_CT_JSON, &out);
    buf_free(&out);
}

static const struct route txn_routes[] = {
    { "GET", "/transactions/events", endpoints_h_events, 0 },
    { "GET", "/transactions/events/stream", endpoints_h_stream, 0 },
    { "GET", "/transactions/export", endpoints_h_export, 0 },
    { "POST", "/transactions", h_post_transaction, R_JSON_BODY },
};

const struct service_def txn_service = {
    .svc = SVC_TRANSACTION,
    .routes = txn_routes,
    .nroutes = sizeof(txn_routes) / sizeof(txn_routes[0]),
    .gen = &txn_gen_hooks,
    .sql = &txn_store_sql,
    .inject_check = txn_inject_check,
};
