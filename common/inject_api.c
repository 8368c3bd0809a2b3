/* inject_api.c - POST /inject (see inject_api.h). The body is read by
 * inject_req.c, the type, target and size are the service's to judge (its
 * inject_check, against its population), and the loop stores and
 * schedules it in one transaction. */
#include "inject_api.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "endpoints.h"
#include "genloop.h"
#include "inject_req.h"
#include "json.h"
#include "service.h"
#include "shard.h"
#include "timefmt.h"

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
    rc = inject_req_parse(body, &r, &f);
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
    if (rc == BM_OK && !genloop_owns_target(app->gl, in.inj.target)) {
        struct bm_shard sh = genloop_shard(app->gl);
        char text[SHARD_TEXT];

        shard_text(&sh, text);
        api_fail_set(&f, API_BAD_VALUE, "target",
                     "target is not in this shard's slice (shard %s owns the entities whose "
                     "index %% %u is %u): send it to the shard that owns it",
                     text, (unsigned)sh.count, (unsigned)sh.index);
        rc = BM_EINVAL;
    }
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
