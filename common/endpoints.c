/* endpoints.c - the endpoints every service serves: /health, /metrics,
 * GET and POST /config, and the event list each service routes under its
 * own path (endpoints_h_events). They read the loop's status and live
 * settings through genloop.h and the database through a per-thread
 * reader. */
#include "endpoints.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "genloop.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "query.h"
#include "timefmt.h"

#define LIST_BODY_MAX (32u * 1024 * 1024)

static void send_unavailable(struct http_req *req, enum bm_rc rc)
{
    http_add_header(req, "Retry-After", "1");
    http_send_error(req, API_UNAVAIL, "", "cannot do that now: %s", bm_rc_str(rc));
}

static const char *health_status(const struct genloop_status *st)
{
    if (!st->db_ok)
        return "degraded";
    if (st->backfilling)
        return "backfilling";
    if (st->paused)
        return "paused";
    return "ok";
}

/* /health is polled hard (load balancers, the gateway, benchmarks): each
 * worker thread keeps its last body for a few milliseconds instead of
 * taking the status locks and formatting numbers on every request. */
#define HEALTH_TTL_US 5000
static _Thread_local char health_body[1024];
static _Thread_local size_t health_len;
static _Thread_local int64_t health_built_us;

static enum bm_rc health_render(struct app *app, struct buf *b)
{
    struct genloop_status st;
    double p50, p99;
    uint64_t total, c4, c5;
    char sim[TIMEFMT_ISO_LEN + 1];

    genloop_status(app->gl, &st);
    http_latency(&p50, &p99);
    http_counts(&total, &c4, &c5);
    timefmt_iso(st.sim_now_ms, sim);
    return buf_printf(b,
                      "{\"status\":\"%s\",\"service\":\"%s\",\"version\":\"%s\","
                      "\"uptime_s\":%lld,\"head_sequence\":%llu,"
                      "\"backfill\":{\"done\":%lld,\"total\":%lld},"
                      "\"events_per_second\":{\"configured\":%g,\"realised\":%.2f},"
                      "\"error_rate\":%.4f,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
                      "\"simulated_time\":\"%s\",\"stream_id\":\"%s\"}",
                      health_status(&st), cfg_svc_name(app->def->svc), BM_VERSION,
                      (long long)((time_mono_us() - app->started_us) / 1000000),
                      (unsigned long long)st.head_seq, (long long)st.backfill_done_s,
                      (long long)st.backfill_total_s, st.configured_rate, st.realised_rate,
                      total ? (double)c5 / (double)total : 0.0, p50, p99, sim, st.stream_id);
}

void endpoints_h_health(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    int64_t now = time_mono_us();

    if (!http_req_args_check(req, allowed))
        return;
    if (health_len == 0 || now - health_built_us > HEALTH_TTL_US) {
        struct buf b;
        buf_init(&b, sizeof(health_body) - 1);
        if (health_render(app, &b) != BM_OK) {
            buf_free(&b);
            http_send_error(req, API_INTERNAL, "", "health too large");
            return;
        }
        memcpy(health_body, b.data, b.len);
        health_len = b.len;
        health_built_us = now;
        buf_free(&b);
    }
    http_send(req, 200, HTTP_CT_JSON, health_body, health_len);
}

void endpoints_h_metrics(struct http_req *req)
{
    static const char *const allowed[] = { "format", NULL };
    struct app *app = http_req_app(req);
    struct genloop_status st;
    struct metrics_snapshot m;
    struct buf b;
    bool text;

    if (!http_req_args_check(req, allowed))
        return;
    if (metrics_format(http_req_arg(req, "format"), http_req_header(req, "Accept"), &text) !=
        BM_OK) {
        http_send_error(req, API_BAD_PARAM, "format", "format must be json or prometheus");
        return;
    }
    genloop_status(app->gl, &st);
    memset(&m, 0, sizeof(m));
    m.service = cfg_svc_name(app->def->svc);
    m.uptime_s = (time_mono_us() - app->started_us) / 1000000;
    http_counts(&m.requests, &m.requests_4xx, &m.requests_5xx);
    http_latency(&m.latency_p50_ms, &m.latency_p99_ms);
    m.has_durations = text;
    if (text)
        http_durations(&m.durations);
    m.generated = st.generated;
    m.anomalies = st.anomalies;
    m.api_events = st.api_events;
    m.head_sequence = st.head_seq;
    m.rate_configured = st.configured_rate;
    m.rate_expected = st.expected_rate;
    m.rate_realised = st.realised_rate;
    m.anomaly_rate_configured = st.configured_anomaly_rate;
    m.anomaly_rate_realised = st.realised_anomaly_fraction;
    m.db_bytes = db_file_bytes(app->db_path);
    m.db_write_errors = st.write_errors;
    m.db_ok = st.db_ok;
    m.rss_bytes = metrics_rss_bytes();
    m.backfilling = st.backfilling;
    buf_init(&b, 64 * 1024);
    if ((text ? metrics_prometheus(&m, &b) : metrics_json(&m, &b)) != BM_OK ||
        http_server_limits(req, text, m.service, &b) != BM_OK) {
        buf_free(&b);
        http_send_error(req, API_INTERNAL, "", "metrics too large");
        return;
    }
    http_send_buf(req, 200, text ? HTTP_CT_TEXT : HTTP_CT_JSON, &b);
    buf_free(&b);
}

/* The runtime keys of the live settings: GET /config, and the answer to
 * an accepted POST /config. */
static void send_config(struct http_req *req, const struct app *app)
{
    struct bm_config cur;
    struct buf b;

    genloop_config(app->gl, &cur);
    buf_init(&b, 64 * 1024);
    if (cfg_runtime_json(&cur, app->def->svc, &b) != BM_OK) {
        buf_free(&b);
        http_send_error(req, API_INTERNAL, "", "config too large");
        return;
    }
    http_send_buf(req, 200, HTTP_CT_JSON, &b);
    buf_free(&b);
}

void endpoints_h_config_get(struct http_req *req)
{
    static const char *const allowed[] = { NULL };

    if (!http_req_args_check(req, allowed))
        return;
    send_config(req, http_req_app(req));
}

cJSON *endpoints_body_json(struct http_req *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    cJSON *obj = NULL;

    if (len == 0) {
        http_send_error(req, API_BAD_JSON, "", "request body is empty; expected JSON");
        return NULL;
    }
    if (json_parse(body, len, &obj) != BM_OK) {
        http_send_error(req, API_BAD_JSON, "", "request body is not valid JSON");
        return NULL;
    }
    return obj;
}

void endpoints_h_config_set(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct app *app = http_req_app(req);
    struct bm_config next;
    struct api_fail f;
    cJSON *obj;
    enum bm_rc rc;

    if (!http_req_args_check(req, allowed))
        return;
    obj = endpoints_body_json(req);
    if (!obj)
        return;
    genloop_config(app->gl, &next);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        http_send_error(req, API_BAD_TYPE, "", "body must be a JSON object");
        return;
    }
    /* Checked here, for a 422 naming the field; applied by the loop, on
     * top of whatever changed meanwhile. */
    rc = cfg_apply_runtime(&next, app->def->svc, obj, &f);
    if (rc != BM_OK) {
        cJSON_Delete(obj);
        http_send_fail(req, &f);
        return;
    }
    rc = genloop_submit_config(app->gl, obj);
    cJSON_Delete(obj);
    if (rc != BM_OK) {
        send_unavailable(req, rc);
        return;
    }
    /* Accepted and live: what is process-wide is applied here, by the
     * request that made the change (log_level is no runtime key today). */
    log_set_level((enum log_level)next.log_level);
    send_config(req, app);
}

static bool parse_list_query(struct http_req *req, const struct service_def *def,
                             struct db_list_query *q)
{
    static const char *const allowed[] = { "limit", "since", "anomalies_only", "anomaly_type",
                                           NULL };
    struct api_fail f;

    if (!http_req_args_check(req, allowed))
        return false;
    if (query_parse_list(def->svc, http_req_arg(req, "limit"), http_req_arg(req, "since"),
                         http_req_arg(req, "anomalies_only"), http_req_arg(req, "anomaly_type"),
                         q, &f) != BM_OK) {
        http_send_fail(req, &f);
        return false;
    }
    return true;
}

/* The newest-N page (no `since`) is the same for everyone until the next
 * commit, and dashboards poll it hard: each worker thread keeps its last
 * such page with the head sequence it was read at, and serves it again
 * while the committed head has not moved. */
struct page_cache {
    int64_t limit;
    bool anomalies_only;
    const char *anomaly_type; /* one of the static type names, or NULL */
    uint64_t head;
    struct buf body;
    bool valid;
};
/* Each thread's cache is on the heap and listed, so shutdown frees them
 * after the worker threads are gone. */
#define PAGE_CACHES_MAX 64
static pthread_mutex_t page_caches_lock = PTHREAD_MUTEX_INITIALIZER; /* guards page_caches */
static struct page_cache *page_caches[PAGE_CACHES_MAX];
static _Thread_local struct page_cache *my_page_cache;

static struct page_cache *page_cache_get(void)
{
    struct page_cache *c = my_page_cache;

    if (c)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_lock(&page_caches_lock);
    for (int i = 0; i < PAGE_CACHES_MAX; i++)
        if (!page_caches[i]) {
            page_caches[i] = c;
            my_page_cache = c;
            break;
        }
    pthread_mutex_unlock(&page_caches_lock);
    if (!my_page_cache) {
        free(c);
        return NULL;
    }
    buf_init(&c->body, LIST_BODY_MAX);
    return c;
}

void endpoints_free_caches(void)
{
    pthread_mutex_lock(&page_caches_lock);
    for (int i = 0; i < PAGE_CACHES_MAX; i++)
        if (page_caches[i]) {
            buf_free(&page_caches[i]->body);
            free(page_caches[i]);
            page_caches[i] = NULL;
        }
    pthread_mutex_unlock(&page_caches_lock);
    my_page_cache = NULL;
}

static bool page_cache_hit(const struct page_cache *c, const struct db_list_query *q,
                           uint64_t head)
{
    return c && c->valid && !q->has_since && c->head == head && c->limit == q->limit &&
           c->anomalies_only == q->anomalies_only && c->anomaly_type == q->anomaly_type;
}

static void page_cache_store(struct page_cache *c, const struct db_list_query *q,
                             const struct buf *b)
{
    if (!c)
        return;
    c->valid = false;
    if (q->has_since)
        return;
    buf_reset(&c->body);
    if (buf_append(&c->body, b->data, b->len) != BM_OK)
        return;
    c->limit = q->limit;
    c->anomalies_only = q->anomalies_only;
    c->anomaly_type = q->anomaly_type;
    c->head = q->head;
    c->valid = true;
}

void endpoints_h_events(struct http_req *req)
{
    struct app *app = http_req_app(req);
    struct db_list_query q;
    struct page_cache *cache;
    struct db *db;
    struct buf b;
    enum bm_rc rc;

    if (!parse_list_query(req, app->def, &q))
        return;
    cache = q.has_since ? NULL : page_cache_get();
    if (page_cache_hit(cache, &q, genloop_head(app->gl))) {
        http_send(req, 200, HTTP_CT_JSON, cache->body.data, cache->body.len);
        return;
    }
    rc = db_reader(app->db_path, app->def->sql, &db);
    if (rc != BM_OK) {
        send_unavailable(req, rc);
        return;
    }
    buf_init(&b, LIST_BODY_MAX);
    /* One allocation for a typical page instead of a dozen regrowths. */
    rc = buf_reserve(&b, (size_t)q.limit * 640 + 256);
    if (rc == BM_OK)
        rc = db_list_events(db, &q, &b);
    if (rc != BM_OK) {
        buf_free(&b);
        send_unavailable(req, rc);
        return;
    }
    page_cache_store(cache, &q, &b);
    http_send_buf(req, 200, HTTP_CT_JSON, &b);
    buf_free(&b);
}

const struct route endpoints_common[] = {
    { "GET", "/health", endpoints_h_health, 0 },
    { "GET", "/metrics", endpoints_h_metrics, 0 },
    { "GET", "/openapi.yaml", openapi_h_get, 0 },
    { "GET", "/config", endpoints_h_config_get, 0 },
    { "POST", "/config", endpoints_h_config_set, R_JSON_BODY },
};
const size_t endpoints_ncommon = sizeof(endpoints_common) / sizeof(endpoints_common[0]);
