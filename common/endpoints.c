/* endpoints.c - the endpoints every service serves: /health, /metrics,
 * GET and POST /config, and the event list each service routes under its
 * own path (endpoints_h_events). They read the loop's status and live
 * settings through genloop.h and the database through a per-thread
 * reader. */
#include "endpoints.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "evfmt.h"
#include "genloop.h"
#include "incident_api.h"
#include "inject_api.h"
#include "scenario_api.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "pagecache.h"
#include "parse.h"
#include "openapi.h"
#include "query.h"
#include "score_api.h"
#include "sink.h"
#include "stream.h"
#include "svc.h"
#include "timefmt.h"

#define LIST_BODY_MAX (32u * 1024 * 1024)

static void send_unavailable(struct http_req *req, enum bm_rc rc)
{
    http_add_header(req, "Retry-After", "1");
    http_send_error(req, API_UNAVAIL, "", "cannot do that now: %s", bm_rc_str(rc));
}

static const char *health_status(const struct genloop_status *st, const struct sink_status *sk)
{
    if (!st->db_ok || strcmp(sk->state, "failing") == 0)
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
static _Thread_local char health_body[4096];
static _Thread_local size_t health_len;
static _Thread_local int64_t health_built_us;

static enum bm_rc health_render(struct app *app, struct buf *b)
{
    struct genloop_status st;
    struct sink_status sk;
    double p50, p99;
    uint64_t total, c4, c5;
    char sim[TIMEFMT_ISO_LEN + 1];
    enum bm_rc rc;

    genloop_status(app->gl, &st);
    sink_status(app->sink, &sk);
    http_latency(&p50, &p99);
    http_counts(&total, &c4, &c5);
    timefmt_iso(st.sim_now_ms, sim);
    rc = buf_printf(b,
                      "{\"status\":\"%s\",\"service\":\"%s\",\"version\":\"%s\","
                      "\"uptime_s\":%lld,\"head_sequence\":%llu,"
                      "\"backfill\":{\"done\":%lld,\"total\":%lld},"
                      "\"events_per_second\":{\"configured\":%g,\"expected\":%.2f,\"realised\":%.2f},"
                      "\"error_rate\":%.4f,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
                      "\"simulated_time\":\"%s\",\"stream_id\":\"%s\","
                      "\"shard\":{\"index\":%u,\"count\":%u,\"share\":%.6g}",
                      health_status(&st, &sk), cfg_svc_name(app->def->svc), BM_VERSION,
                      (long long)((time_mono_us() - app->started_us) / 1000000),
                      (unsigned long long)st.head_seq, (long long)st.backfill_done_s,
                      (long long)st.backfill_total_s, st.configured_rate, st.expected_rate,
                      st.realised_rate, total ? (double)c5 / (double)total : 0.0, p50, p99, sim, st.stream_id,
                      (unsigned)st.shard.index, (unsigned)st.shard.count, st.share);
    if (rc == BM_OK)
        rc = sink_json(app->sink, true, b);
    return rc == BM_OK ? buf_putc(b, '}') : rc;
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

/* The sink's lines: its Prometheus families, or "sink":{...} inside the
 * JSON object. */
static enum bm_rc metrics_sink(struct app *app, bool text, const char *service, struct buf *b)
{
    if (text)
        return sink_prometheus(app->sink, service, b);
    if (b->len == 0 || b->data[b->len - 1] != '}')
        return BM_EINVAL;
    b->len--;
    if (sink_json(app->sink, true, b) != BM_OK)
        return BM_ETOOBIG;
    return buf_putc(b, '}');
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
        http_server_limits(req, text, m.service, &b) != BM_OK ||
        (text && stream_metrics(app->streams, m.service, &b) != BM_OK) ||
        metrics_sink(app, text, m.service, &b) != BM_OK ||
        score_api_metrics(app, text, &b) != BM_OK) {
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
    if (rc == BM_EINVAL) {
        /* Valid alone, not on top of a change committed meanwhile: the
         * only check across keys is the type rates' sum. */
        api_fail_set(&f, API_BAD_VALUE, "anomaly_rate",
                     "the <type>_rate settings would sum above anomaly_rate with the change "
                     "committed meanwhile");
        http_send_fail(req, &f);
        return;
    }
    if (rc != BM_OK) {
        send_unavailable(req, rc);
        return;
    }
    /* Accepted and live: what is process-wide is applied here, by the
     * request that made the change (log_level is no runtime key today). */
    log_set_level((enum log_level)next.log_level);
    send_config(req, app);
}

/* Arguments every event list, export and stream takes, then the
 * service's body fields. */
#define ARGS_MAX 20
static void list_allowed(enum bm_svc svc, const char *const *own, const char **out)
{
    static const char *const filters[] = { "anomalies_only", "anomaly_type", "from", "to",
                                           "incident_id", NULL };
    const char *const *fields = query_fields(svc);
    size_t n = 0;

    for (size_t i = 0; own[i]; i++)
        out[n++] = own[i];
    for (size_t i = 0; filters[i]; i++)
        out[n++] = filters[i];
    for (size_t i = 0; fields[i] && n + 1 < ARGS_MAX; i++)
        out[n++] = fields[i];
    out[n] = NULL;
}

/* Parses the filters (and limit, since when asked for); format into *fmt
 * when fmt is not NULL. Answers a 400 itself. */
static bool parse_query(struct http_req *req, const struct service_def *def,
                        const char *const *own, struct db_list_query *q,
                        enum query_format *fmt)
{
    const char *allowed[ARGS_MAX + 1];
    const char *const *fields = query_fields(def->svc);
    struct query_filters qf;
    struct api_fail f;

    list_allowed(def->svc, own, allowed);
    if (!http_req_args_check(req, allowed))
        return false;
    memset(&qf, 0, sizeof(qf));
    qf.from = http_req_arg(req, "from");
    qf.to = http_req_arg(req, "to");
    qf.incident_id = http_req_arg(req, "incident_id");
    for (int i = 0; fields[i] && i < 4; i++)
        qf.field[i] = http_req_arg(req, fields[i]);
    if (query_parse_list(def->svc, http_req_arg(req, "limit"), http_req_arg(req, "since"),
                         http_req_arg(req, "anomalies_only"), http_req_arg(req, "anomaly_type"),
                         q, &f) != BM_OK ||
        query_parse_filters(def->svc, &qf, q, &f) != BM_OK ||
        (fmt && query_parse_format(http_req_arg(req, "format"), http_req_header(req, "Accept"),
                                   fmt, &f) != BM_OK)) {
        http_send_fail(req, &f);
        return false;
    }
    return true;
}

/* The newest-N JSON page is kept per worker thread (pagecache.h), at the
 * committed head it was read at; a query with a cursor or a filter the
 * key does not hold is never cached. */
static bool page_cacheable(const struct db_list_query *q, enum query_format fmt)
{
    return !q->has_since && !query_narrowed(q) && fmt == QF_JSON;
}

static void page_key(const struct db_list_query *q, uint64_t head, struct pagecache_key *k)
{
    k->limit = q->limit;
    k->anomalies_only = q->anomalies_only;
    k->anomaly_type = q->anomaly_type;
    k->version = head;
}

void endpoints_free_caches(void)
{
    pagecache_free_all();
}

/* Rows as NDJSON lines or CSV (a header row first). */
struct rows_out {
    enum query_format fmt;
    struct buf *out;
    int64_t n;
    bool header; /* the CSV header row is written */
};

/* The CSV header from the service's known columns, so an empty result
 * still has one; a service without a list takes the first event's keys.
 * A shard's events end with "shard" (shard.h). */
static enum bm_rc rows_header(struct rows_out *r, const struct app *app)
{
    const char *cols = svc_info(app->def->svc)->csv_columns;
    struct bm_shard sh = genloop_shard(app->gl);

    if (r->fmt != QF_CSV || r->header || !cols)
        return BM_OK;
    r->header = true;
    if (buf_puts(r->out, cols) != BM_OK || (shard_split(&sh) && buf_puts(r->out, ",shard") != BM_OK))
        return BM_ETOOBIG;
    return buf_puts(r->out, "\r\n");
}

static bool rows_put(void *ud, uint64_t seq, const char *body, size_t len)
{
    struct rows_out *r = ud;

    (void)seq;
    if (r->fmt == QF_JSON) {
        if (r->n && buf_putc(r->out, ',') != BM_OK)
            return false;
        if (buf_append(r->out, body, len) != BM_OK)
            return false;
    } else if (r->fmt == QF_NDJSON) {
        if (buf_append(r->out, body, len) != BM_OK || buf_putc(r->out, '\n') != BM_OK)
            return false;
    } else {
        if (!r->header && evfmt_csv_header(body, len, r->out) != BM_OK)
            return false;
        r->header = true;
        if (evfmt_csv_row(body, len, r->out) != BM_OK)
            return false;
    }
    r->n++;
    return true;
}

static void add_cursor_headers(struct http_req *req, const struct db_list_query *q)
{
    char v[24];

    snprintf(v, sizeof(v), "%llu", (unsigned long long)q->next_since);
    http_add_header(req, "X-Next-Since", v);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)q->oldest);
    http_add_header(req, "X-Oldest-Sequence", v);
}

void endpoints_h_events(struct http_req *req)
{
    static const char *const own[] = { "limit", "since", "format", NULL };
    struct app *app = http_req_app(req);
    struct db_list_query q;
    enum query_format fmt;
    struct pagecache_key key;
    const struct buf *hit = NULL;
    bool cacheable;
    struct db *db;
    struct buf b;
    enum bm_rc rc;

    if (!parse_query(req, app->def, own, &q, &fmt))
        return;
    cacheable = page_cacheable(&q, fmt);
    page_key(&q, genloop_head(app->gl), &key);
    buf_init(&b, LIST_BODY_MAX);
    if (cacheable)
        hit = pagecache_get(&key);
    if (hit) {
        if (buf_append(&b, hit->data, hit->len) == BM_OK)
            http_send_buf_gz(req, 200, HTTP_CT_JSON, &b);
        else
            http_send_error(req, API_INTERNAL, "", "no memory");
        buf_free(&b);
        return;
    }
    rc = db_reader(app->db_path, app->def->sql, &db);
    /* One allocation for a typical page instead of a dozen regrowths. */
    if (rc == BM_OK)
        rc = buf_reserve(&b, (size_t)q.limit * 640 + 256);
    if (rc == BM_OK && fmt == QF_JSON) {
        rc = db_list_events(db, &q, &b);
    } else if (rc == BM_OK) {
        struct rows_out r = { fmt, &b, 0, false };
        int64_t count;
        rc = rows_header(&r, app);
        if (rc == BM_OK)
            rc = db_scan_events(db, &q, rows_put, &r, &count);
    }
    if (rc != BM_OK) {
        buf_free(&b);
        send_unavailable(req, rc);
        return;
    }
    if (cacheable) {
        page_key(&q, q.head, &key); /* the head the page was read at */
        pagecache_put(&key, &b, LIST_BODY_MAX);
    } else if (fmt != QF_JSON) {
        add_cursor_headers(req, &q);
    }
    http_send_buf_gz(req, 200, query_format_ctype(fmt), &b);
    buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Export: a time range streamed page by page as it is read             */

#define EXPORT_PAGE 256

struct export {
    struct app *app;
    struct db_list_query q; /* since: the cursor */
    enum query_format fmt;
    uint64_t end;           /* the head when the export began: its last sequence */
    struct rows_out rows;
    struct buf pending;
    size_t off;
    bool started, done;
};

static bool export_row(void *ud, uint64_t seq, const char *body, size_t len)
{
    struct export *e = ud;

    if (seq > e->end)
        return true; /* came in after the export began */
    return rows_put(&e->rows, seq, body, len);
}

/* Reads the next page into pending; false on a database error. */
static bool export_fill(struct export *e)
{
    struct db *db;
    int64_t count = 0;

    buf_reset(&e->pending);
    e->off = 0;
    if (!e->started) {
        e->started = true;
        if (e->fmt == QF_JSON && buf_putc(&e->pending, '[') != BM_OK)
            return false;
        if (rows_header(&e->rows, e->app) != BM_OK)
            return false;
    }
    if (e->q.since < e->end) {
        if (db_reader(e->app->db_path, e->app->def->sql, &db) != BM_OK ||
            db_scan_events(db, &e->q, export_row, e, &count) != BM_OK)
            return false;
        e->q.since = e->q.next_since;
    }
    if (count < e->q.limit || e->q.since >= e->end) {
        e->done = true;
        if (e->fmt == QF_JSON && buf_puts(&e->pending, "]\n") != BM_OK)
            return false;
    }
    return true;
}

static long export_read(void *ud, char *out, size_t max)
{
    struct export *e = ud;
    size_t n = 0;

    while (n < max) {
        size_t left = e->pending.len - e->off, k;
        if (left == 0) {
            if (e->done)
                break;
            if (!export_fill(e)) {
                log_error("export: database read failed");
                return HTTP_STREAM_ERROR;
            }
            continue;
        }
        k = left < max - n ? left : max - n;
        memcpy(out + n, e->pending.data + e->off, k);
        e->off += k;
        n += k;
    }
    return n ? (long)n : HTTP_STREAM_END;
}

static void export_done(void *ud)
{
    struct export *e = ud;

    buf_free(&e->pending);
    free(e);
}

void endpoints_h_export(struct http_req *req)
{
    static const char *const own[] = { "format", NULL };
    struct app *app = http_req_app(req);
    struct export *e = calloc(1, sizeof(*e));

    if (!e) {
        send_unavailable(req, BM_ENOMEM);
        return;
    }
    if (!parse_query(req, app->def, own, &e->q, &e->fmt)) {
        free(e);
        return;
    }
    e->app = app;
    e->q.has_since = true;
    e->q.since = 0;
    e->q.limit = EXPORT_PAGE;
    e->end = genloop_head(app->gl);
    e->rows.fmt = e->fmt;
    e->rows.out = &e->pending;
    buf_init(&e->pending, LIST_BODY_MAX);
    http_add_header(req, "Vary", "Accept-Encoding");
    http_send_stream(req, 200, query_format_ctype(e->fmt), http_req_wants_gzip(req),
                     export_read, export_done, e);
}

/* ------------------------------------------------------------------ */
/* Server-sent events                                                   */

void endpoints_h_stream(struct http_req *req)
{
    static const char *const own[] = { "since", NULL };
    struct app *app = http_req_app(req);
    const char *last = http_req_header(req, "Last-Event-ID");
    struct db_list_query q;
    int64_t after = 0;

    if (!parse_query(req, app->def, own, &q, NULL))
        return;
    if (last && parse_i64(last, 0, INT64_MAX, &after) != BM_OK) {
        http_send_error(req, API_BAD_PARAM, "Last-Event-ID",
                        "Last-Event-ID must be a non-negative integer sequence");
        return;
    }
    if (!last && q.has_since)
        after = (int64_t)q.since;
    stream_serve(app->streams, req, &q, !last && !q.has_since, (uint64_t)after);
}

static uint64_t source_head(void *ctx)
{
    return genloop_head(((struct app *)ctx)->gl);
}

struct source_rows {
    stream_event_fn emit;
    void *ud;
    uint64_t last;
};

static bool source_row(void *ud, uint64_t seq, const char *body, size_t len)
{
    struct source_rows *r = ud;

    r->last = seq;
    return r->emit(r->ud, seq, 0, NULL, body, len);
}

static bool source_event(void *ud, uint64_t seq, int64_t ts_ms, const char *atype,
                         const char *body, size_t len)
{
    struct source_rows *r = ud;

    r->last = seq;
    return r->emit(r->ud, seq, ts_ms, atype, body, len);
}

static enum bm_rc source_read(void *ctx, const struct db_list_query *q, uint64_t after,
                              int64_t max, stream_event_fn emit, void *ud, uint64_t *examined)
{
    struct app *app = ctx;
    struct source_rows r = { emit, ud, after };
    struct db_list_query page;
    struct db *db;
    int64_t count;
    enum bm_rc rc = db_reader(app->db_path, app->def->sql, &db);

    if (rc != BM_OK)
        return rc;
    if (!q) {
        rc = db_read_after(db, after, max, source_event, &r);
        *examined = r.last;
        return rc;
    }
    page = *q;
    page.has_since = true;
    page.since = after;
    page.limit = max;
    rc = db_scan_events(db, &page, source_row, &r, &count);
    *examined = page.next_since;
    return rc;
}

void endpoints_stream_source(struct app *app, struct stream_source *out)
{
    out->ctx = app;
    out->head = source_head;
    out->read = source_read;
}

const struct route endpoints_common[] = {
    { "GET", "/health", endpoints_h_health, 0 },
    { "GET", "/metrics", endpoints_h_metrics, 0 },
    { "GET", "/openapi.yaml", openapi_h_get, 0 },
    { "GET", "/config", endpoints_h_config_get, 0 },
    { "POST", "/config", endpoints_h_config_set, R_JSON_BODY },
    { "GET", "/incidents", incident_api_h_list, 0 },
    { "GET", "/incidents/", incident_api_h_get, R_PREFIX },
    { "POST", "/inject", inject_api_h_post, R_JSON_BODY },
    { "GET", "/scenarios", scenario_api_h_get, 0 },
    { "POST", "/scenarios", scenario_api_h_post, R_JSON_BODY },
    { "POST", "/score", score_api_h_post, R_JSON_BODY | R_BIG_BODY },
    { "GET", "/score/", score_api_h_get, R_PREFIX },
};
const size_t endpoints_ncommon = sizeof(endpoints_common) / sizeof(endpoints_common[0]);
