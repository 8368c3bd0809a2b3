/* scenario_api.c - GET and POST /scenarios (see scenario_api.h). A POST
 * is checked here as a whole (every step as the request that would make
 * it), then stored and installed by the generator's loop. */
#include "scenario_api.h"

#include <stdlib.h>

#include <cjson/cJSON.h>

#include "endpoints.h"
#include "genloop.h"
#include "scenario.h"
#include "service.h"

static void send_list(struct http_req *req, struct app *app, int status)
{
    struct buf b;

    buf_init(&b, 2 * SCENARIO_TEXT_MAX);
    if (genloop_scenarios(app->gl, &b) != BM_OK)
        http_send_error(req, API_INTERNAL, "", "response too large");
    else
        http_send_buf(req, status, HTTP_CT_JSON, &b);
    buf_free(&b);
}

void scenario_api_h_get(struct http_req *req)
{
    static const char *const allowed[] = { NULL };

    if (!http_req_args_check(req, allowed))
        return;
    send_list(req, http_req_app(req), 200);
}

void scenario_api_h_post(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    struct scenario *sc;
    struct bm_config live;
    struct api_fail f;
    cJSON *body;
    char *text;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    if ((body = endpoints_body_json(req)) == NULL)
        return;
    sc = calloc(1, sizeof *sc);
    if (!sc) {
        cJSON_Delete(body);
        http_send_error(req, API_INTERNAL, "", "out of memory");
        return;
    }
    genloop_config(app->gl, &live);
    rc = scenario_parse(body, app->def->svc, &live, app->def->inject_check,
                        genloop_model(app->gl), sc, &f);
    text = rc == BM_OK ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (rc != BM_OK) {
        free(sc);
        http_send_fail(req, &f);
        return;
    }
    if (!text) {
        scenario_free(sc);
        free(sc);
        http_send_error(req, API_INTERNAL, "", "out of memory");
        return;
    }
    /* cJSON's allocator is malloc's here: the loop frees it with free() */
    rc = genloop_submit_scenario(app->gl, sc, text);
    if (rc != BM_OK) {
        http_add_header(req, "Retry-After", "1");
        http_send_error(req, API_UNAVAIL, "", "cannot store the scenario now: %s",
                        bm_rc_str(rc));
        return;
    }
    send_list(req, app, 201);
}
