/* page.c - a service's event page and /health body, parsed. */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "shard.h"
#include "timefmt.h"

void gw_events_free(struct gw_event *ev, size_t n)
{
    for (size_t i = 0; ev && i < n; i++)
        free(ev[i].json_rest);
    free(ev);
}

/* FNV-1a over the source and the id's text; 0 marks an empty slot. */
static uint64_t id_hash(enum bm_svc src, const cJSON *id)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)src;
    char num[32];
    const char *t = cJSON_IsString(id) ? id->valuestring : num;

    if (!cJSON_IsString(id))
        snprintf(num, sizeof(num), "%.17g", id->valuedouble);
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ull;
    return h ? h : 1;
}

static enum bm_rc parse_one(enum bm_svc src, const cJSON *it, struct gw_event *e)
{
    const cJSON *seq = json_get(it, "sequence");
    const cJSON *anom = json_get(it, "is_anomaly");
    const cJSON *type = json_get(it, "anomaly_type");
    const cJSON *ts = json_get(it, "timestamp");
    const cJSON *id = json_get(it, svc_info(src)->id_field);
    int64_t s;
    char *text;

    memset(e, 0, sizeof(*e));
    if (!cJSON_IsObject(it) || json_as_i64(seq, 0, INT64_MAX, &s) != BM_OK || !id)
        return BM_EINVAL;
    e->seq = (uint64_t)s;
    e->src = src;
    e->anomaly = cJSON_IsTrue(anom);
    e->idh = id_hash(src, id);
    if (cJSON_IsString(type))
        snprintf(e->type, sizeof(e->type), "%s", type->valuestring);
    /* only the dashboard's history reads it: a bad one is no reason to refuse */
    if (!cJSON_IsString(ts) || timefmt_parse_iso(ts->valuestring, &e->ts_ms) != BM_OK)
        e->ts_ms = 0;
    text = cJSON_PrintUnformatted(it);
    if (!text)
        return BM_ENOMEM;
    e->len = strlen(text) - 1;
    memmove(text, text + 1, e->len + 1);
    e->json_rest = text;
    return BM_OK;
}

enum bm_rc gw_parse_page(enum bm_svc src, const char *body, size_t len, struct gw_event **out,
                         size_t *n, uint64_t *next_since)
{
    cJSON *root = NULL;
    const cJSON *events, *it;
    struct gw_event *ev = NULL;
    int64_t ns;
    size_t cnt = 0, i = 0;
    enum bm_rc rc = BM_EINVAL;

    *out = NULL;
    *n = 0;
    if (json_parse(body, len, &root) != BM_OK)
        goto out;
    events = json_get(root, "events");
    if (!cJSON_IsArray(events) || json_as_i64(json_get(root, "next_since"), 0, INT64_MAX,
                                              &ns) != BM_OK)
        goto out;
    cnt = (size_t)cJSON_GetArraySize(events);
    ev = calloc(cnt ? cnt : 1, sizeof(*ev));
    if (!ev) {
        rc = BM_ENOMEM;
        goto out;
    }
    cJSON_ArrayForEach(it, events) {
        rc = parse_one(src, it, &ev[i]);
        if (rc != BM_OK)
            goto out;
        i++;
    }
    *next_since = (uint64_t)ns;
    *out = ev;
    *n = cnt;
    ev = NULL;
    rc = BM_OK;
out:
    gw_events_free(ev, i);
    cJSON_Delete(root);
    return rc;
}

/* A service's slice of its bank (shard.h), as its /health names it. */
static void parse_shard(const cJSON *o, struct gw_health *h)
{
    int64_t i, n;

    h->shard_index = 0;
    h->shard_count = 1;
    if (json_as_i64(json_get(o, "count"), 1, SHARD_MAX, &n) != BM_OK ||
        json_as_i64(json_get(o, "index"), 0, n - 1, &i) != BM_OK)
        return;
    h->shard_index = (uint32_t)i;
    h->shard_count = (uint32_t)n;
}

enum bm_rc gw_parse_health(const char *body, size_t len, struct gw_health *h)
{
    cJSON *root = NULL;
    const char *sid = NULL, *status = NULL;
    int64_t head = 0;

    memset(h, 0, sizeof(*h));
    if (json_parse(body, len, &root) != BM_OK ||
        json_as_str(json_get(root, "stream_id"), &sid) != BM_OK ||
        json_as_i64(json_get(root, "head_sequence"), 0, INT64_MAX, &head) != BM_OK) {
        cJSON_Delete(root);
        return BM_EINVAL;
    }
    /* Cut short, a stream_id could equal another stream's and hide a
     * restart: one that does not fit is not the expected JSON. A status
     * that does not fit (or none) is kept as unknown, not cut
     * mid-character. */
    if (strlen(sid) >= sizeof(h->stream_id)) {
        cJSON_Delete(root);
        return BM_EINVAL;
    }
    if (json_as_str(json_get(root, "status"), &status) != BM_OK ||
        strlen(status) >= sizeof(h->status))
        status = "";
    memcpy(h->stream_id, sid, strlen(sid) + 1);
    memcpy(h->status, status, strlen(status) + 1);
    h->head_sequence = (uint64_t)head;
    parse_shard(json_get(root, "shard"), h);
    cJSON_Delete(root);
    return BM_OK;
}
