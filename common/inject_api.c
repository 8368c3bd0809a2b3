/* inject_api.c - POST /inject (see inject_api.h). The body is read here,
 * the type, target and size are the service's to judge (its
 * inject_check, against its population), and the loop stores and
 * schedules it in one transaction. */
#include "inject_api.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "endpoints.h"
#include "genloop.h"
#include "json.h"
#include "service.h"
#include "timefmt.h"

#define SIZE_MAX_ANY 1000000

static const char *const members[] = { "type", "target", "at", "size" };

static enum bm_rc one_member(const cJSON *it, int i, void *ctx, struct api_fail *f)
{
    struct inject_req *r = ctx;
    const char *s;

    switch (i) {
    case 0:
        return json_want_str(it, "type", &r->type, f);
    case 1:
        if (cJSON_IsNull(it))
            return BM_OK;
        if (!cJSON_IsObject(it)) {
            api_fail_set(f, API_BAD_TYPE, "target", "target must be an object");
            return BM_EINVAL;
        }
        r->target = it;
        return BM_OK;
    case 2:
        if (json_want_str(it, "at", &s, f) != BM_OK)
            return BM_EINVAL;
        if (strcmp(s, "now") == 0)
            return BM_OK;
        if (timefmt_parse_iso(s, &r->at_ms) != BM_OK) {
            api_fail_set(f, API_BAD_VALUE, "at",
                         "at must be \"now\" or an ISO 8601 UTC time, e.g. 2026-01-05T09:00:00Z");
            return BM_EINVAL;
        }
        r->at_now = false;
        return BM_OK;
    default:
        if (!cJSON_IsNumber(it)) {
            api_fail_set(f, API_BAD_TYPE, "size", "size must be an integer");
            return BM_EINVAL;
        }
        if (json_as_i64(it, 1, SIZE_MAX_ANY, &r->size) != BM_OK) {
            api_fail_set(f, API_BAD_VALUE, "size", "size must be a positive integer");
            return BM_EINVAL;
        }
        return BM_OK;
    }
}

enum bm_rc inject_api_parse(const cJSON *body, struct inject_req *out, struct api_fail *f)
{
    const struct json_members spec = {
        .obj = "", .names = members, .n = 4, .required = 1u, .one = one_member,
    };

    memset(out, 0, sizeof *out);
    out->at_now = true;
    out->size = -1;
    return json_want_members(body, &spec, out, f);
}

static void send_scheduled(struct http_req *req, const struct app *app,
                           const struct genloop_injection *in, const cJSON *target)
{
    char planned[TIMEFMT_ISO_LEN + 1];
    char *t = target ? cJSON_PrintUnformatted(target) : NULL;
    struct buf b;

    timefmt_iso(in->planned_ms, planned);
    buf_init(&b, 64 * 1024);
    if (buf_printf(&b,
                   "{\"incident_id\":\"%s\",\"type\":\"%s\",\"service\":\"%s\","
                   "\"state\":\"scheduled\",\"origin\":\"injected\",\"planned_start\":\"%s\","
                   "\"planned_event_count\":%d,\"target\":%s}",
                   in->incident_id, svc_info(app->def->svc)->anomaly_types[in->inj.type],
                   svc_info(app->def->svc)->name, planned, in->inj.size,
                   t ? t : "null") != BM_OK)
        http_send_error(req, API_INTERNAL, "", "response too large");
    else
        http_send_buf(req, 201, HTTP_CT_JSON, &b);
    buf_free(&b);
    cJSON_free(t);
}

void inject_api_h_post(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    struct genloop_injection in;
    struct inject_req r;
    struct api_fail f;
    cJSON *body;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if ((body = endpoints_body_json(req)) == NULL)
        return;
    memset(&in, 0, sizeof in);
    rc = inject_api_parse(body, &r, &f);
    if (rc == BM_OK && svc_anomaly_index(app->def->svc, r.type) < 0) {
        api_fail_set(&f, API_BAD_VALUE, "type", "\"%.60s\" is no anomaly type of %s", r.type,
                     svc_info(app->def->svc)->name);
        rc = BM_EINVAL;
    }
    if (rc == BM_OK && !app->def->inject_check) {
        api_fail_set(&f, API_BAD_VALUE, "type", "%s takes no injections",
                     svc_info(app->def->svc)->name);
        rc = BM_EINVAL;
    }
    if (rc == BM_OK)
        rc = app->def->inject_check(genloop_model(app->gl), r.type, r.target, r.size, &in.inj,
                                    &f);
    if (rc != BM_OK) {
        cJSON_Delete(body);
        http_send_fail(req, &f);
        return;
    }
    in.at_now = r.at_now;
    in.at_ms = r.at_ms;
    rc = genloop_submit_inject(app->gl, &in);
    if (rc == BM_OK)
        send_scheduled(req, app, &in, r.target);
    else if (rc == BM_ERANGE)
        http_send_error(req, API_BAD_VALUE, "at",
                        "at is before the oldest event kept: the store cannot go back that far");
    else if (rc == BM_EFULL)
        http_send_error(req, API_BAD_VALUE, "at",
                        "64 injections are scheduled already; wait for one to start");
    else {
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "cannot schedule the injection now: %s",
                        bm_rc_str(rc));
    }
    cJSON_Delete(body);
}

/* ---- for the services' inject_check ---- */

enum bm_rc inject_api_size(int64_t size, int lo, int hi, int usual, int *out,
                           struct api_fail *f)
{
    if (size < 0) {
        *out = usual;
        return BM_OK;
    }
    if (size < lo || size > hi) {
        if (lo == hi)
            api_fail_set(f, API_BAD_VALUE, "size", "this type is always %d event(s)", lo);
        else
            api_fail_set(f, API_BAD_VALUE, "size", "size must be from %d to %d for this type",
                         lo, hi);
        return BM_EINVAL;
    }
    *out = (int)size;
    return BM_OK;
}

enum bm_rc inject_api_target(const cJSON *target, const char *key, const char **val,
                             struct api_fail *f)
{
    char name[80];

    *val = NULL;
    if (!target)
        return BM_OK;
    for (const cJSON *c = target->child; c; c = c->next) {
        snprintf(name, sizeof name, "target.%.60s", c->string ? c->string : "");
        if (!key || strcmp(c->string, key) != 0) {
            if (key)
                api_fail_set(f, API_UNKNOWN_FIELD, name, "this type's target takes only %s",
                             key);
            else
                api_fail_set(f, API_UNKNOWN_FIELD, name,
                             "this type takes no target: the generator chooses it");
            return BM_EINVAL;
        }
        if (json_want_str(c, name, val, f) != BM_OK)
            return BM_EINVAL;
    }
    return BM_OK;
}
