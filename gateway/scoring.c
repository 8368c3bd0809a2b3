/* scoring.c - the gateway's POST /score, GET /score/{id} and the newest
 * result in /metrics. The gateway holds no labels of its own (only a
 * bounded buffer of recent events), so each detection goes to every
 * service, in parallel: an id belongs to exactly one of them (random
 * UUIDs), and which one is not written in it. Each service answers its
 * tally (detail, unknown ids reported, nothing kept); the gateway merges
 * them (an incident two services share counts once) and renders the
 * answer as a service does. The last GW_SCORES_KEPT answers are kept in
 * memory. */
#include "scoring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "score.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "rng.h"
#include "svc.h"
#include "timefmt.h"

#define GW_SCORES_KEPT 16
#define GW_SCORE_ANSWER_MAX (32u * 1024 * 1024)
/* A service scans its whole store: give it longer than a proxied call. */
#define GW_SCORE_TIMEOUT_MS 30000

/* guards kept[], kept_next */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept {
    char id[RNG_UUID_LEN + 1];
    char *json;
    size_t len;
} kept[GW_SCORES_KEPT];
static unsigned kept_next; /* count of answers kept so far */

static void keep(const char *id, const struct buf *b)
{
    char *copy = malloc(b->len + 1);
    struct kept *k;

    if (!copy)
        return;
    memcpy(copy, b->data, b->len + 1);
    pthread_mutex_lock(&kept_lock);
    k = &kept[kept_next++ % GW_SCORES_KEPT];
    free(k->json);
    snprintf(k->id, sizeof(k->id), "%s", id);
    k->json = copy;
    k->len = b->len;
    pthread_mutex_unlock(&kept_lock);
}

/* Copies the answer of id (NULL: the newest) into out. */
static bool kept_get(const char *id, struct buf *out)
{
    bool found = false;

    pthread_mutex_lock(&kept_lock);
    for (unsigned i = 0; i < GW_SCORES_KEPT && i < kept_next; i++) {
        const struct kept *k = &kept[(kept_next - 1 - i) % GW_SCORES_KEPT];
        if (k->json && (!id || strcmp(k->id, id) == 0)) {
            found = buf_append(out, k->json, k->len) == BM_OK;
            break;
        }
    }
    pthread_mutex_unlock(&kept_lock);
    return found;
}

void gw_score_free(void)
{
    pthread_mutex_lock(&kept_lock);
    for (unsigned i = 0; i < GW_SCORES_KEPT; i++) {
        free(kept[i].json);
        kept[i].json = NULL;
    }
    kept_next = 0;
    pthread_mutex_unlock(&kept_lock);
}

/* ------------------------------------------------------------------ */
/* The fan-out                                                          */

struct call {
    struct gw_app *app;
    enum bm_svc svc;
    const char *body;
    size_t len;
    const char *const *headers;
    struct hc_resp resp;
    pthread_t th;
    bool started;
};

static void *call_run(void *arg)
{
    struct call *c = arg;
    int order[GW_REPLICAS_MAX];
    int n = gw_route_order(&c->app->agg, c->svc, order);

    for (int i = 0; i < n; i++) {
        char url[2048];
        struct hc_request rq = {
            .method = "POST",
            .url = url,
            .body = c->body,
            .body_len = c->len,
            .headers = c->headers,
            .timeout_ms = GW_SCORE_TIMEOUT_MS,
            .max_body = GW_SCORE_ANSWER_MAX,
        };
        if (i > 0)
            hc_resp_free(&c->resp);
        snprintf(url, sizeof(url), "%s/score", gw_agg_url(&c->app->agg, c->svc, order[i]));
        hc_request(&rq, &c->resp);
        if (c->resp.result != HC_CONNECT)
            break;
    }
    return NULL;
}

/* The body each service gets: the client's, asking for the tally. */
static char *forward_body(cJSON *root)
{
    cJSON_DeleteItemFromObjectCaseSensitive(root, "detail");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "unknown_ids");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "store");
    if (!cJSON_AddTrueToObject(root, "detail") ||
        !cJSON_AddStringToObject(root, "unknown_ids", "report") ||
        !cJSON_AddFalseToObject(root, "store"))
        return NULL;
    return cJSON_PrintUnformatted(root);
}

/* An upstream failure answered to the client; true if it was one. */
static bool relay_failure(struct http_req *req, const struct call *c)
{
    const char *name = svc_info(c->svc)->name;

    switch (c->resp.result) {
    case HC_OK:
        if (c->resp.status == 200)
            return false;
        http_send(req, (int)c->resp.status, HTTP_CT_JSON,
                  c->resp.body.data ? c->resp.body.data : "", c->resp.body.len);
        return true;
    case HC_TIMEOUT:
        http_send_error(req, API_GW_TIMEOUT, "", "%s did not answer /score in %d ms", name,
                        GW_SCORE_TIMEOUT_MS);
        return true;
    default:
        http_send_error(req, API_BAD_GATEWAY, "", "%s unreachable for /score: %.120s", name,
                        c->resp.error);
        return true;
    }
}

static enum bm_rc merge(struct call *calls, struct score_req *r, struct score_tally *t,
                        uint8_t *known)
{
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const struct buf *b = &calls[s].resp.body;
        cJSON *ans = NULL;
        const cJSON *tal;
        enum bm_rc rc = json_parse(b->data, b->len, &ans);
        if (rc == BM_OK)
            rc = score_tally_add_json(t, ans, known, r->ndets);
        tal = json_get(ans, "tally");
        if (rc == BM_OK) {
            int64_t from = (int64_t)cJSON_GetNumberValue(json_get(tal, "from_ms"));
            int64_t to = (int64_t)cJSON_GetNumberValue(json_get(tal, "to_ms"));
            int64_t sub = (int64_t)cJSON_GetNumberValue(json_get(tal, "submitted_ms"));
            if (s == 0 || from < t->from_ms)
                t->from_ms = from;
            if (s == 0 || to > t->to_ms)
                t->to_ms = to;
            if (sub > t->submitted_ms)
                t->submitted_ms = sub;
        }
        cJSON_Delete(ans);
        if (rc != BM_OK)
            return rc;
    }
    score_tally_merge_dups(t);
    for (size_t i = 0; i < r->ndets; i++) {
        r->dets[i].state = known[i] ? SCORE_DET_SCORED : SCORE_DET_UNKNOWN;
        if (!known[i])
            t->unknown++;
    }
    return BM_OK;
}

static void answer(struct http_req *req, struct score_req *r, struct score_tally *t)
{
    char id[RNG_UUID_LEN + 1];
    static _Thread_local struct rng rg;
    static _Thread_local bool ready;
    struct buf b;

    if (t->unknown > 0 && !r->report_unknown) {
        size_t i = 0;
        while (r->dets[i].state != SCORE_DET_UNKNOWN)
            i++;
        http_send_error(req, API_BAD_VALUE, "detections",
                        "%lld detection(s) name no stored event or incident of any service, "
                        "the first detections[%zu]: %.64s",
                        (long long)t->unknown, i, r->dets[i].id);
        return;
    }
    if (!ready) {
        rng_seed(&rg, rng_os_u64());
        ready = true;
    }
    rng_uuid4(&rg, id);
    buf_init(&b, GW_SCORE_ANSWER_MAX);
    if (score_render(t, r, id, svc_info(SVC_GATEWAY)->name, time_now_ms(), &b) != BM_OK) {
        buf_free(&b);
        http_send_error(req, API_INTERNAL, "", "answer too large");
        return;
    }
    if (r->store)
        keep(id, &b);
    http_send_buf(req, 200, HTTP_CT_JSON, &b);
}

static void fan_out(struct http_req *req, struct gw_app *app, struct score_req *r)
{
    static const char *const headers[] = { "Content-Type: application/json", NULL };
    struct call calls[SVC_NSOURCES];
    struct score_tally t;
    uint8_t *known = calloc(r->ndets ? r->ndets : 1, 1);
    char *body = forward_body(r->root);
    bool failed = false;

    memset(calls, 0, sizeof(calls));
    score_tally_init(&t);
    if (!known || !body) {
        http_send_error(req, API_INTERNAL, "", "out of memory");
        goto out;
    }
    for (int s = 0; s < SVC_NSOURCES; s++) {
        calls[s] = (struct call){ .app = app, .svc = (enum bm_svc)s, .body = body,
                                  .len = strlen(body), .headers = headers };
        hc_resp_init(&calls[s].resp, GW_SCORE_ANSWER_MAX);
        calls[s].started = pthread_create(&calls[s].th, NULL, call_run, &calls[s]) == 0;
        if (!calls[s].started)
            call_run(&calls[s]);
    }
    for (int s = 0; s < SVC_NSOURCES; s++)
        if (calls[s].started)
            pthread_join(calls[s].th, NULL);
    for (int s = 0; s < SVC_NSOURCES && !failed; s++)
        failed = relay_failure(req, &calls[s]);
    if (failed)
        goto out;
    t.received = (int64_t)r->ndets;
    if (merge(calls, r, &t, known) != BM_OK) {
        http_send_error(req, API_BAD_GATEWAY, "", "a service's /score answer could not be read");
        goto out;
    }
    answer(req, r, &t);
out:
    for (int s = 0; s < SVC_NSOURCES; s++)
        hc_resp_free(&calls[s].resp);
    score_tally_free(&t);
    cJSON_free(body);
    free(known);
}

void gw_score_h_post(struct http_req *req)
{
    struct gw_app *app = http_req_app(req);
    struct score_req r;
    struct api_fail f;
    size_t len;
    const char *body = http_req_body(req, &len);
    enum bm_rc rc = score_req_parse(body, len, &r, &f);

    if (rc == BM_OK)
        fan_out(req, app, &r);
    else if (rc == BM_ENOMEM)
        http_send_error(req, API_INTERNAL, "", "out of memory");
    else
        http_send_fail(req, &f);
    score_req_free(&r);
}

void gw_score_h_get(struct http_req *req)
{
    const char *id = http_req_path(req) + strlen("/score/");
    struct buf b;

    if (!http_req_args_check(req, (const char *const[]){ NULL }))
        return;
    buf_init(&b, GW_SCORE_ANSWER_MAX);
    if (!*id || !kept_get(id, &b)) {
        buf_free(&b);
        http_send_error(req, API_NOT_FOUND, "id",
                        "no such score: %.64s (the gateway keeps its last %d)", id,
                        GW_SCORES_KEPT);
        return;
    }
    http_send_buf(req, 200, HTTP_CT_JSON, &b);
}

enum bm_rc gw_score_metrics(bool text, struct buf *out)
{
    struct buf b;
    bool found;
    enum bm_rc rc;

    buf_init(&b, GW_SCORE_ANSWER_MAX);
    found = kept_get(NULL, &b);
    rc = score_metrics_append(found ? b.data : NULL, b.len, text, svc_info(SVC_GATEWAY)->name,
                              out);
    buf_free(&b);
    return rc;
}
