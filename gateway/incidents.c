/* incidents.c - incidents at the gateway (see incidents.h).
 *
 * Asked per request rather than polled: incidents change as they grow
 * and close, a list is small next to the event stream, and an answer
 * then is never older than the services' own. The three requests run in
 * parallel on one multi handle made for the request, each bounded by the
 * upstream timeout; a service that does not answer is named in
 * `unavailable` and the others are still served. */
#include "incidents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_client.h"
#include "json.h"
#include "parse.h"
#include "routes.h"

#define INC_BODY_MAX (8u * 1024 * 1024)
#define INC_OUT_MAX  (32u * 1024 * 1024)
#define LIMIT_DEF    100
#define LIMIT_MAX    1000

enum bm_rc gw_inc_cursor_parse(const char *s, struct gw_inc_cursor *out)
{
    char part[24];

    for (int i = 0; i < SVC_NSOURCES; i++) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);

        if ((end == NULL) != (i == SVC_NSOURCES - 1) || n == 0 || n >= sizeof part)
            return BM_EINVAL;
        memcpy(part, s, n);
        part[n] = '\0';
        if (parse_u64(part, &out->seq[i]) != BM_OK || out->seq[i] > INT64_MAX)
            return BM_EINVAL;
        s = end ? end + 1 : s + n;
    }
    return BM_OK;
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 36 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* The three services' answers to one path (and query, per service). */
struct fanout {
    struct hc_resp resp[SVC_NSOURCES];
    bool asked[SVC_NSOURCES];
};

static void fanout_run(struct gw_app *app, char urls[SVC_NSOURCES][1024], struct fanout *f)
{
    const char *list[SVC_NSOURCES];
    int idx[SVC_NSOURCES];
    struct hc_resp got[SVC_NSOURCES];
    struct hc_multi *m = NULL;
    size_t n = 0;

    for (int s = 0; s < SVC_NSOURCES; s++) {
        hc_resp_init(&f->resp[s], 0);
        if (f->asked[s]) {
            idx[n] = s;
            list[n++] = urls[s];
        }
    }
    if (n == 0)
        return;
    if (hc_multi_new(&m) != BM_OK) {
        for (int s = 0; s < SVC_NSOURCES; s++)
            f->resp[s].result = HC_ERROR;
        return;
    }
    hc_multi_get(m, list, n, app->upstream_timeout_ms, INC_BODY_MAX, got);
    for (size_t i = 0; i < n; i++) {
        hc_resp_free(&f->resp[idx[i]]);
        f->resp[idx[i]] = got[i];
    }
    hc_multi_free(m);
}

static void fanout_free(struct fanout *f)
{
    for (int s = 0; s < SVC_NSOURCES; s++)
        hc_resp_free(&f->resp[s]);
}

/* The base URL of the service's replica to ask: the first in good state. */
static const char *base_url(struct gw_app *app, enum bm_svc s)
{
    int order[GW_REPLICAS_MAX];
    int n = gw_route_order(&app->agg, s, order);

    return n > 0 ? gw_agg_url(&app->agg, s, order[0]) : NULL;
}

/* ---- a cross-service incident, merged ----
 *
 * A cross-service incident (xincident.h) has one id in every service it
 * spans; the gateway shows it once: the part that started first, with
 * `sources` (the services, in order of start), started_at the earliest,
 * ended_at the latest (null while a part is open), state open while any
 * part is, event_count the sum, the entities' union, and `parts` (each
 * service's own incident, without events). Every incident has `sources`. */

static bool is_null_or_missing(const cJSON *v)
{
    return !v || cJSON_IsNull(v);
}

/* The value of key as a string, or "". */
static const char *str_or_empty(const cJSON *o, const char *key)
{
    const char *v;

    return json_as_str(json_get(o, key), &v) == BM_OK ? v : "";
}

static void set_item(cJSON *o, const char *key, cJSON *v)
{
    if (!v)
        return;
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

/* Adds other's entity values base lacks. */
static void merge_entities(cJSON *base, const cJSON *other)
{
    cJSON *be = cJSON_GetObjectItemCaseSensitive(base, "entities");
    const cJSON *oe = cJSON_GetObjectItemCaseSensitive(other, "entities");

    if (!cJSON_IsObject(oe))
        return;
    if (!cJSON_IsObject(be)) {
        set_item(base, "entities", cJSON_Duplicate(oe, true));
        return;
    }
    for (const cJSON *k = oe->child; k; k = k->next) {
        cJSON *have = cJSON_GetObjectItemCaseSensitive(be, k->string);

        if (!cJSON_IsArray(have)) {
            cJSON_AddItemToObject(be, k->string, cJSON_Duplicate(k, true));
            continue;
        }
        for (const cJSON *v = cJSON_IsArray(k) ? k->child : NULL; v; v = v->next) {
            bool seen = false;

            for (const cJSON *h = have->child; h && !seen; h = h->next)
                seen = cJSON_Compare(h, v, true);
            if (!seen)
                cJSON_AddItemToArray(have, cJSON_Duplicate(v, true));
        }
    }
}

/* The incident's own fields as a part (no events, no gateway fields). */
static cJSON *part_of(const cJSON *inc, enum bm_svc s)
{
    cJSON *p = cJSON_Duplicate(inc, true);

    if (!p)
        return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(p, "events");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "source");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "sources");
    cJSON_DeleteItemFromObjectCaseSensitive(p, "parts");
    set_item(p, "source", cJSON_CreateString(svc_info(s)->name));
    return p;
}

/* Folds other (of service s, started no earlier) into base, which has its
 * `sources` and `parts` already. */
static void merge_part(cJSON *base, const cJSON *other, enum bm_svc s)
{
    cJSON *sources = cJSON_GetObjectItemCaseSensitive(base, "sources");
    cJSON *parts = cJSON_GetObjectItemCaseSensitive(base, "parts");
    const cJSON *bend = json_get(base, "ended_at"), *oend = json_get(other, "ended_at");
    double n = cJSON_GetNumberValue(json_get(base, "event_count")) +
               cJSON_GetNumberValue(json_get(other, "event_count"));

    cJSON_AddItemToArray(sources, cJSON_CreateString(svc_info(s)->name));
    if (!parts) {
        parts = cJSON_AddArrayToObject(base, "parts");
        cJSON_AddItemToArray(parts, part_of(base, svc_by_name(str_or_empty(base, "source"),
                                                               strlen(str_or_empty(base, "source")))));
    }
    cJSON_AddItemToArray(parts, part_of(other, s));
    set_item(base, "event_count", cJSON_CreateNumber(n));
    if (strcmp(str_or_empty(other, "state"), "open") == 0)
        set_item(base, "state", cJSON_CreateString("open"));
    if (is_null_or_missing(bend) || is_null_or_missing(oend))
        set_item(base, "ended_at", cJSON_CreateNull());
    else if (strcmp(str_or_empty(other, "ended_at"), str_or_empty(base, "ended_at")) > 0)
        set_item(base, "ended_at", cJSON_CreateString(str_or_empty(other, "ended_at")));
    merge_entities(base, other);
}

/* ---- GET /incidents ---- */

struct item {
    cJSON *obj;
    const char *started; /* started_at, for the merge */
    int src;
    size_t idx; /* order in the services' answers */
};

static int newest_first(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(y->started, x->started);

    return c ? c : x->src - y->src;
}

struct list_req {
    int64_t limit;
    const char *type;
    const char *state;
    bool has_since;
    struct gw_inc_cursor since;
};

static bool parse_list(struct http_req *req, struct list_req *q)
{
    static const char *const allowed[] = { "limit", "since", "type", "state", NULL };
    const char *limit = http_req_arg(req, "limit"), *since = http_req_arg(req, "since");

    if (!http_req_args_check(req, allowed))
        return false;
    memset(q, 0, sizeof *q);
    q->limit = LIMIT_DEF;
    q->type = http_req_arg(req, "type");
    q->state = http_req_arg(req, "state");
    if (limit && parse_i64(limit, 1, LIMIT_MAX, &q->limit) != BM_OK) {
        http_send_error(req, API_BAD_PARAM, "limit", "limit must be an integer from 1 to %d",
                        LIMIT_MAX);
        return false;
    }
    if (since) {
        if (gw_inc_cursor_parse(since, &q->since) != BM_OK) {
            http_send_error(req, API_BAD_PARAM, "since",
                            "since must be the gateway's cursor: three sequence numbers, "
                            "transaction,auth,monitoring (a next_since)");
            return false;
        }
        q->has_since = true;
    }
    if (q->state && strcmp(q->state, "open") != 0 && strcmp(q->state, "closed") != 0) {
        http_send_error(req, API_BAD_PARAM, "state", "state must be open or closed");
        return false;
    }
    if (q->type) {
        bool known = false;
        for (int s = 0; s < SVC_NSOURCES && !known; s++)
            known = svc_type_or_group((enum bm_svc)s, q->type);
        if (!known) {
            http_send_error(req, API_BAD_PARAM, "type", "\"%.60s\" is no service's anomaly type",
                            q->type);
            return false;
        }
    }
    return true;
}

static bool list_url(struct gw_app *app, const struct list_req *q, enum bm_svc s, char *url,
                     size_t size)
{
    const char *base = base_url(app, s);
    char since[32] = "";
    int w;

    if (!base || (q->type && !svc_type_or_group(s, q->type)))
        return false; /* no replica; or the type is another service's */
    if (q->has_since)
        snprintf(since, sizeof since, "&since=%llu", (unsigned long long)q->since.seq[s]);
    w = snprintf(url, size, "%s/incidents?limit=%lld%s%s%s%s%s", base, (long long)q->limit,
                 q->type ? "&type=" : "", q->type ? q->type : "", q->state ? "&state=" : "",
                 q->state ? q->state : "", since);
    return w > 0 && (size_t)w < size;
}

/* Adds `source` to each incident of a service's answer and collects them;
 * the service's next_since into *next. */
static bool take_list(const struct hc_resp *r, enum bm_svc s, cJSON **root, struct item *items,
                      size_t *n, uint64_t *next)
{
    cJSON *list;
    int64_t v;

    if (r->result != HC_OK || r->status != 200 ||
        json_parse(r->body.data, r->body.len, root) != BM_OK)
        return false;
    list = json_get(*root, "incidents");
    if (!cJSON_IsArray(list) ||
        json_as_i64(json_get(*root, "next_since"), 0, INT64_MAX, &v) != BM_OK)
        return false;
    *next = (uint64_t)v;
    for (cJSON *it = list->child; it; it = it->next) {
        const char *started;
        cJSON *sources;
        if (json_as_str(json_get(it, "started_at"), &started) != BM_OK)
            continue;
        cJSON_AddStringToObject(it, "source", svc_info(s)->name);
        sources = cJSON_AddArrayToObject(it, "sources");
        cJSON_AddItemToArray(sources, cJSON_CreateString(svc_info(s)->name));
        items[*n].obj = it;
        items[*n].started = started;
        items[*n].src = (int)s;
        items[*n].idx = *n;
        ++*n;
    }
    return true;
}

static int answer_order(const void *a, const void *b)
{
    const struct item *x = a, *y = b;

    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int by_id_then_start(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(str_or_empty(x->obj, "incident_id"), str_or_empty(y->obj, "incident_id"));

    if (c)
        return c;
    c = strcmp(x->started, y->started);
    return c ? c : x->src - y->src;
}

/* Folds the parts of each cross-service incident into the one that
 * started first; returns the items left. */
static size_t merge_shared(struct item *items, size_t n)
{
    size_t out = 0;

    qsort(items, n, sizeof *items, by_id_then_start);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;

        while (j < n && strcmp(str_or_empty(items[j].obj, "incident_id"),
                               str_or_empty(items[i].obj, "incident_id")) == 0) {
            merge_part(items[i].obj, items[j].obj, (enum bm_svc)items[j].src);
            j++;
        }
        items[out++] = items[i];
        i = j;
    }
    return out;
}

static enum bm_rc put_list(struct buf *b, const struct item *items, size_t n, size_t take,
                           const uint64_t *next, const bool *down)
{
    enum bm_rc rc = buf_puts(b, "{\"incidents\":[");
    bool any = false;

    for (size_t i = 0; rc == BM_OK && i < n && i < take; i++) {
        char *text = cJSON_PrintUnformatted(items[i].obj);
        if (!text)
            return BM_ENOMEM;
        rc = buf_printf(b, "%s%s", i ? "," : "", text);
        cJSON_free(text);
    }
    if (rc == BM_OK)
        rc = buf_printf(b, "],\"count\":%zu,\"next_since\":\"%llu,%llu,%llu\",\"unavailable\":[",
                        n < take ? n : take, (unsigned long long)next[0],
                        (unsigned long long)next[1], (unsigned long long)next[2]);
    for (int s = 0; rc == BM_OK && s < SVC_NSOURCES; s++) {
        if (!down[s])
            continue;
        rc = buf_printf(b, "%s\"%s\"", any ? "," : "", svc_info((enum bm_svc)s)->name);
        any = true;
    }
    return rc == BM_OK ? buf_puts(b, "]}") : rc;
}

void gw_h_incidents(struct http_req *req)
{
    struct gw_app *app = http_req_app(req);
    struct list_req q;
    char urls[SVC_NSOURCES][1024];
    struct fanout f = { .asked = { false } };
    cJSON *roots[SVC_NSOURCES] = { NULL };
    struct item *items = NULL;
    uint64_t next[SVC_NSOURCES] = { 0 };
    bool down[SVC_NSOURCES] = { false };
    size_t n = 0;
    struct buf b;
    enum bm_rc rc;

    if (!parse_list(req, &q))
        return;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        f.asked[s] = list_url(app, &q, (enum bm_svc)s, urls[s], sizeof urls[s]);
        next[s] = q.has_since ? q.since.seq[s] : 0;
    }
    fanout_run(app, urls, &f);
    items = calloc((size_t)q.limit * SVC_NSOURCES, sizeof *items);
    if (!items) {
        fanout_free(&f);
        http_send_error(req, API_INTERNAL, "", "out of memory");
        return;
    }
    for (int s = 0; s < SVC_NSOURCES; s++)
        if (f.asked[s] &&
            !take_list(&f.resp[s], (enum bm_svc)s, &roots[s], items, &n, &next[s]))
            down[s] = true;
    /* Each service's newest changes, newest incident first, a shared one
     * once; with a cursor every change each service gave (up to limit
     * each), so that no service's cursor moves past one not sent. */
    n = merge_shared(items, n);
    qsort(items, n, sizeof *items, q.has_since ? answer_order : newest_first);
    buf_init(&b, INC_OUT_MAX);
    rc = put_list(&b, items, n, q.has_since ? n : (size_t)q.limit, next, down);
    if (rc != BM_OK)
        http_send_error(req, API_INTERNAL, "", "response too large: ask for a smaller limit");
    else
        http_send_buf(req, 200, HTTP_CT_JSON, &b);
    buf_free(&b);
    for (int s = 0; s < SVC_NSOURCES; s++)
        cJSON_Delete(roots[s]);
    free(items);
    fanout_free(&f);
}

/* ---- GET /incidents/{id} ---- */

/* The service's answer, with `source` and `sources` added and `source`
 * on each event; NULL if it has none. */
static cJSON *found(const struct hc_resp *r, enum bm_svc s)
{
    cJSON *root = NULL, *sources, *events;

    if (r->result != HC_OK || r->status != 200 ||
        json_parse(r->body.data, r->body.len, &root) != BM_OK)
        return NULL;
    if (!cJSON_IsString(json_get(root, "started_at"))) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(root, "source", svc_info(s)->name);
    sources = cJSON_AddArrayToObject(root, "sources");
    cJSON_AddItemToArray(sources, cJSON_CreateString(svc_info(s)->name));
    events = cJSON_GetObjectItemCaseSensitive(root, "events");
    for (cJSON *e = cJSON_IsArray(events) ? events->child : NULL; e; e = e->next)
        if (cJSON_IsObject(e))
            cJSON_AddStringToObject(e, "source", svc_info(s)->name);
    return root;
}

static int event_time_order(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int c = strcmp(str_or_empty(x, "timestamp"), str_or_empty(y, "timestamp"));

    return c ? c : (x < y ? -1 : x > y);
}

/* The parts found, folded into the one that started first (merge_part),
 * with every part's events in time order; sent. */
static bool send_merged(struct http_req *req, cJSON *got[SVC_NSOURCES])
{
    int first = -1;
    cJSON *events, **all = NULL;
    size_t n = 0, k = 0;
    char *text;

    for (int s = 0; s < SVC_NSOURCES; s++)
        if (got[s] && (first < 0 || strcmp(str_or_empty(got[s], "started_at"),
                                           str_or_empty(got[first], "started_at")) < 0))
            first = s;
    if (first < 0)
        return false;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        cJSON *ev = got[s] ? cJSON_GetObjectItemCaseSensitive(got[s], "events") : NULL;

        n += (size_t)(cJSON_IsArray(ev) ? cJSON_GetArraySize(ev) : 0);
        if (got[s] && s != first)
            merge_part(got[first], got[s], (enum bm_svc)s);
    }
    all = calloc(n ? n : 1, sizeof *all);
    if (!all)
        return false;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        cJSON *ev = got[s] ? cJSON_GetObjectItemCaseSensitive(got[s], "events") : NULL;

        while (cJSON_IsArray(ev) && ev->child && k < n)
            all[k++] = cJSON_DetachItemViaPointer(ev, ev->child);
    }
    qsort(all, k, sizeof *all, event_time_order);
    cJSON_DeleteItemFromObjectCaseSensitive(got[first], "events");
    events = cJSON_AddArrayToObject(got[first], "events");
    for (size_t i = 0; i < k; i++)
        cJSON_AddItemToArray(events, all[i]);
    free(all);
    text = cJSON_PrintUnformatted(got[first]);
    if (!text)
        return false;
    http_send(req, 200, HTTP_CT_JSON, text, strlen(text));
    cJSON_free(text);
    return true;
}

void gw_h_incident(struct http_req *req)
{
    static const char *const allowed[] = { NULL };
    struct gw_app *app = http_req_app(req);
    const char *id = http_req_path(req) + strlen("/incidents/");
    char urls[SVC_NSOURCES][1024];
    struct fanout f = { .asked = { false } };
    cJSON *got[SVC_NSOURCES] = { NULL };
    bool done = false, any_down = false;

    if (!http_req_args_check(req, allowed))
        return;
    if (!id_ok(id)) {
        http_send_error(req, API_NOT_FOUND, "incident_id", "no incident \"%.40s\"", id);
        return;
    }
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const char *base = base_url(app, (enum bm_svc)s);
        int w = base ? snprintf(urls[s], sizeof urls[s], "%s/incidents/%s", base, id) : -1;
        f.asked[s] = w > 0 && (size_t)w < sizeof urls[s];
    }
    fanout_run(app, urls, &f);
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const struct hc_resp *r = &f.resp[s];
        got[s] = f.asked[s] ? found(r, (enum bm_svc)s) : NULL;
        any_down |= !f.asked[s] || r->result != HC_OK || (r->status != 200 && r->status != 404);
    }
    /* a cross-service incident: every service's part of it, as one */
    done = send_merged(req, got);
    for (int s = 0; s < SVC_NSOURCES; s++)
        cJSON_Delete(got[s]);
    if (!done && any_down)
        http_send_error(req, API_BAD_GATEWAY, "",
                        "no service that answered has incident \"%s\", and one did not answer",
                        id);
    else if (!done)
        http_send_error(req, API_NOT_FOUND, "incident_id", "no incident \"%s\"", id);
    fanout_free(&f);
}
