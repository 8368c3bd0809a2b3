/* aggregate.c - merged event buffer, dashboard and health of the gateway. */
#include "aggregate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "http_server.h"
#include "json.h"
#include "metrics.h"
#include "timefmt.h"

static const char *const state_names[] = { "unknown", "ok", "degraded", "unreachable" };

const char *gw_state_name(enum gw_state s)
{
    return state_names[s];
}

enum bm_rc gw_agg_init(struct gw_agg *a, size_t max_bytes, int64_t poll_interval_ms)
{
    memset(a, 0, sizeof(*a));
    a->max_bytes = max_bytes;
    a->poll_interval_ms = poll_interval_ms;
    if (pthread_mutex_init(&a->mu, NULL) != 0)
        return BM_EIO;
    return BM_OK;
}

void gw_agg_free(struct gw_agg *a)
{
    free(a->ring);
    free(a->text);
    free(a->ids);
    for (int s = 0; s < SVC_NSOURCES; s++)
        for (int r = 0; r < a->svc[s].nrep; r++)
            free(a->svc[s].rep[r].metrics_json);
    pthread_mutex_destroy(&a->mu);
    memset(a, 0, sizeof(*a));
}

enum bm_rc gw_agg_set_replicas(struct gw_agg *a, enum bm_svc s, const char *const *urls, int n)
{
    struct gw_svc *v = &a->svc[s];

    if (n < 1 || n > GW_REPLICAS_MAX)
        return BM_EINVAL;
    for (int r = 0; r < n; r++) {
        size_t len = strlen(urls[r]);
        if (len >= sizeof(v->rep[r].url))
            return BM_EINVAL;
        memcpy(v->rep[r].url, urls[r], len + 1);
    }
    v->nrep = n;
    return BM_OK;
}

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

static size_t ids_slot(const struct gw_agg *a, uint64_t h)
{
    size_t mask = a->ids_cap - 1, i = (size_t)(h ^ (h >> 29)) & mask;

    while (a->ids[i] && a->ids[i] != h)
        i = (i + 1) & mask;
    return i;
}

static bool ids_has(const struct gw_agg *a, uint64_t h)
{
    return a->ids_cap && a->ids[ids_slot(a, h)] == h;
}

static enum bm_rc ids_add(struct gw_agg *a, uint64_t h)
{
    if ((a->n + 1) * 2 > a->ids_cap) {
        size_t cap = a->ids_cap ? a->ids_cap * 2 : 2048;
        uint64_t *old = a->ids;
        size_t ocap = a->ids_cap;
        a->ids = calloc(cap, sizeof(*a->ids));
        if (!a->ids) {
            a->ids = old;
            return BM_ENOMEM;
        }
        a->ids_cap = cap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i])
                a->ids[ids_slot(a, old[i])] = old[i];
        free(old);
    }
    a->ids[ids_slot(a, h)] = h;
    return BM_OK;
}

/* Linear-probing delete: shift later members of the cluster back so
 * lookups never stop at the hole. */
static void ids_del(struct gw_agg *a, uint64_t h)
{
    size_t mask = a->ids_cap - 1, i, j;

    if (!a->ids_cap || a->ids[i = ids_slot(a, h)] != h)
        return;
    a->ids[i] = 0;
    for (j = (i + 1) & mask; a->ids[j]; j = (j + 1) & mask) {
        uint64_t k = a->ids[j];
        size_t home = (size_t)(k ^ (k >> 29)) & mask;
        /* k may move to the hole if its home is not in (i, j] cyclically */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            a->ids[i] = k;
            a->ids[j] = 0;
            i = j;
        }
    }
}

static enum bm_rc parse_one(enum bm_svc src, const cJSON *it, struct gw_event *e)
{
    const cJSON *seq = json_get(it, "sequence");
    const cJSON *anom = json_get(it, "is_anomaly");
    const cJSON *type = json_get(it, "anomaly_type");
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

static enum bm_rc ring_grow(struct gw_agg *a)
{
    size_t cap = a->cap ? a->cap * 2 : 1024;
    struct gw_slot *r = malloc(cap * sizeof(*r));

    if (!r)
        return BM_ENOMEM;
    for (size_t i = 0; i < a->n; i++)
        r[i] = a->ring[(a->head + i) % a->cap];
    free(a->ring);
    a->ring = r;
    a->cap = cap;
    a->head = 0;
    return BM_OK;
}

static void evict_oldest(struct gw_agg *a)
{
    struct gw_slot *e = &a->ring[a->head];

    a->bytes -= e->len + sizeof(*e);
    ids_del(a, e->idh);
    a->head = (a->head + 1) % a->cap;
    a->n--;
    a->evicted++;
}

/* Where len bytes of text can go in the text ring without overwriting a
 * buffered event, or -1. The live text runs from the oldest event's
 * offset to text_tail, possibly wrapped; a strict inequality keeps the
 * tail from meeting the head, so a full ring never looks empty. */
static long text_room(const struct gw_agg *a, size_t len)
{
    size_t head;

    if (a->n == 0)
        return len <= a->text_cap ? 0 : -1;
    head = a->ring[a->head].off;
    if (a->text_tail > head) {
        if (len <= a->text_cap - a->text_tail)
            return (long)a->text_tail;
        return len < head ? 0 : -1; /* wrap to the start */
    }
    return len < head - a->text_tail ? (long)a->text_tail : -1;
}

/* Copies one event into the buffer, evicting the oldest to make room. */
static enum bm_rc buffer_event(struct gw_agg *a, const struct gw_event *e)
{
    struct gw_slot *slot;
    long at;

    if (e->len > a->max_bytes / 2 || e->len > UINT32_MAX)
        return BM_ETOOBIG; /* one event may not push out the whole buffer */
    if (!a->text) {
        /* one allocation for the whole budget: pages become resident only
         * as they are filled, and nothing fragments */
        a->text = malloc(a->max_bytes);
        if (!a->text)
            return BM_ENOMEM;
        a->text_cap = a->max_bytes;
    }
    if (a->n == a->cap && ring_grow(a) != BM_OK)
        return BM_ENOMEM;
    while (a->n > 0 && a->bytes + e->len + sizeof(*slot) > a->max_bytes)
        evict_oldest(a);
    while ((at = text_room(a, e->len)) < 0)
        evict_oldest(a);
    if (ids_add(a, e->idh) != BM_OK)
        return BM_ENOMEM;
    memcpy(a->text + at, e->json_rest, e->len);
    a->text_tail = (size_t)at + e->len;
    slot = &a->ring[(a->head + a->n) % a->cap];
    slot->gseq = ++a->last_gseq;
    slot->seq = e->seq;
    slot->idh = e->idh;
    slot->off = (uint32_t)at;
    slot->len = (uint32_t)e->len;
    slot->src = (uint8_t)e->src;
    slot->type = (int8_t)(e->anomaly ? svc_anomaly_index(e->src, e->type) : -1);
    slot->anomaly = e->anomaly;
    a->n++;
    a->bytes += e->len + sizeof(*slot);
    return BM_OK;
}

enum bm_rc gw_agg_append(struct gw_agg *a, enum bm_svc src, int rep, struct gw_event *ev,
                         size_t n)
{
    enum bm_rc rc = BM_OK;

    if (rep < 0 || rep >= GW_REPLICAS_MAX)
        return BM_EINVAL;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        struct gw_svc *s = &a->svc[src];
        struct gw_replica *r = &s->rep[rep];
        struct gw_event *e = &ev[i];
        if ((r->cursor_set && e->seq <= r->cursor) || ids_has(a, e->idh)) {
            if (e->seq > r->cursor || !r->cursor_set) {
                r->cursor = e->seq; /* another replica's copy: move past it */
                r->cursor_set = true;
            }
            a->duplicates++;
            continue;
        }
        e->src = src;
        rc = buffer_event(a, e);
        if (rc == BM_ETOOBIG) {
            a->oversized++; /* counted and skipped: the stream goes on */
            rc = BM_OK;
        } else if (rc != BM_OK) {
            break;
        } else {
            r->events++;
            s->events++;
            if (e->anomaly) {
                int t = a->ring[(a->head + a->n - 1) % a->cap].type;
                s->anomalies++;
                if (t >= 0)
                    s->by_type[t]++;
            }
        }
        r->cursor = e->seq;
        r->cursor_set = true;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static bool matches(const struct gw_slot *e, const struct db_list_query *q)
{
    const struct svc_info *v = svc_info((enum bm_svc)e->src);

    if (q->anomalies_only && !e->anomaly)
        return false;
    if (!q->anomaly_type)
        return true;
    return e->type >= 0 && e->type < v->nanomaly_types &&
           strcmp(q->anomaly_type, v->anomaly_types[e->type]) == 0;
}

static enum bm_rc put_event(struct buf *b, const struct gw_agg *a, const struct gw_slot *e,
                            bool first)
{
    const char *text = a->text + e->off;
    enum bm_rc rc = buf_printf(b, "%s{\"gateway_sequence\":%llu,\"source\":\"%s\"%s",
                               first ? "" : ",", (unsigned long long)e->gseq,
                               svc_info((enum bm_svc)e->src)->name, text[0] == '}' ? "" : ",");
    return rc != BM_OK ? rc : buf_append(b, text, e->len);
}

enum bm_rc gw_agg_list(struct gw_agg *a, const struct db_list_query *q, struct buf *out)
{
    enum bm_rc rc;
    int64_t count = 0;
    uint64_t next, oldest;

    pthread_mutex_lock(&a->mu);
    oldest = a->n ? a->ring[a->head].gseq : a->last_gseq + 1;
    next = a->last_gseq;
    rc = buf_puts(out, "{\"events\":[");
    if (q->has_since) {
        size_t start = q->since < oldest ? 0 : (size_t)(q->since - oldest + 1);
        for (size_t i = start; rc == BM_OK && i < a->n; i++) {
            const struct gw_slot *e = &a->ring[(a->head + i) % a->cap];
            if (!matches(e, q))
                continue;
            rc = put_event(out, a, e, count == 0);
            if (++count == q->limit) {
                next = e->gseq;
                break;
            }
        }
    } else {
        for (size_t i = a->n; rc == BM_OK && i > 0 && count < q->limit; i--) {
            const struct gw_slot *e = &a->ring[(a->head + i - 1) % a->cap];
            if (!matches(e, q))
                continue;
            rc = put_event(out, a, e, count == 0);
            count++;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (rc == BM_OK)
        rc = buf_printf(out, "],\"count\":%lld,\"next_since\":%llu,\"oldest_sequence\":%llu}",
                        (long long)count, (unsigned long long)next, (unsigned long long)oldest);
    return rc;
}

enum gw_state gw_effective_state(const struct gw_replica *r, int64_t now_mono_us,
                                 int64_t poll_interval_ms)
{
    if (r->state == GW_OK &&
        (r->last_success_mono_us == 0 ||
         now_mono_us - r->last_success_mono_us > 3 * poll_interval_ms * 1000))
        return GW_DEGRADED;
    return r->state;
}

/* better states rank higher: ok, degraded, unreachable, unknown */
static int state_rank(enum gw_state st)
{
    switch (st) {
    case GW_OK:
        return 3;
    case GW_DEGRADED:
        return 2;
    case GW_UNREACHABLE:
        return 1;
    case GW_UNKNOWN:
    default:
        return 0;
    }
}

enum gw_state gw_svc_state(const struct gw_svc *s, int64_t now_mono_us, int64_t poll_interval_ms,
                           int *best)
{
    enum gw_state st = GW_UNKNOWN;
    int b = 0;

    for (int r = 0; r < s->nrep; r++) {
        enum gw_state x = gw_effective_state(&s->rep[r], now_mono_us, poll_interval_ms);
        if (r == 0 || state_rank(x) > state_rank(st)) {
            st = x;
            b = r;
        }
    }
    if (best)
        *best = b;
    return st;
}

int gw_route_order(struct gw_agg *a, enum bm_svc s, int *order)
{
    int64_t now = time_mono_us();
    const struct gw_svc *v = &a->svc[s];
    int n = 0;

    pthread_mutex_lock(&a->mu);
    for (int r = 0; r < v->nrep; r++)
        if (gw_effective_state(&v->rep[r], now, a->poll_interval_ms) == GW_OK)
            order[n++] = r;
    for (int r = 0; r < v->nrep; r++)
        if (gw_effective_state(&v->rep[r], now, a->poll_interval_ms) != GW_OK)
            order[n++] = r;
    pthread_mutex_unlock(&a->mu);
    return n;
}

static int64_t age_ms(const struct gw_replica *r, int64_t now_us)
{
    return r->last_success_mono_us ? (now_us - r->last_success_mono_us) / 1000 : -1;
}

/* The members that describe one replica, without braces. */
static enum bm_rc put_replica_fields(struct buf *b, const struct gw_replica *r, enum gw_state st,
                                     int64_t now_us)
{
    char ts[TIMEFMT_ISO_LEN + 1] = "";
    enum bm_rc rc;

    if (r->last_success_ms)
        timefmt_iso(r->last_success_ms, ts);
    rc = buf_printf(b, "\"state\":\"%s\",\"url\":", gw_state_name(st));
    if (rc == BM_OK)
        rc = buf_put_json_str(b, r->url);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"last_error\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, r->last_error[0] ? r->last_error : NULL);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"last_success\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, ts[0] ? ts : NULL);
    if (rc == BM_OK)
        rc = buf_printf(b, ",\"data_age_ms\":%lld,\"status\":", (long long)age_ms(r, now_us));
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, r->health_status[0] ? r->health_status : NULL);
    if (rc == BM_OK)
        rc = buf_puts(b, ",\"stream_id\":");
    if (rc == BM_OK)
        rc = buf_put_json_str_or_null(b, r->stream_id[0] ? r->stream_id : NULL);
    if (rc == BM_OK)
        rc = buf_printf(b, ",\"head_sequence\":%llu,\"cursor\":%llu",
                        (unsigned long long)r->head_sequence, (unsigned long long)r->cursor);
    return rc;
}

/* A service: its best replica's fields, the service's totals, and every
 * replica in "replicas". */
static enum bm_rc put_svc_health(struct buf *b, const struct gw_svc *s, int64_t now_us,
                                 int64_t interval_ms)
{
    int best;
    enum gw_state st = gw_svc_state(s, now_us, interval_ms, &best);
    enum bm_rc rc = buf_putc(b, '{');

    if (rc == BM_OK)
        rc = put_replica_fields(b, &s->rep[best], st, now_us);
    if (rc == BM_OK)
        rc = buf_printf(b, ",\"events_received\":%llu,\"replicas\":[",
                        (unsigned long long)s->events);
    for (int r = 0; r < s->nrep && rc == BM_OK; r++) {
        rc = buf_puts(b, r ? ",{" : "{");
        if (rc == BM_OK)
            rc = put_replica_fields(b, &s->rep[r],
                                    gw_effective_state(&s->rep[r], now_us, interval_ms), now_us);
        if (rc == BM_OK)
            rc = buf_printf(b, ",\"events_received\":%llu}",
                            (unsigned long long)s->rep[r].events);
    }
    return rc == BM_OK ? buf_puts(b, "]}") : rc;
}

enum bm_rc gw_agg_system_health(struct gw_agg *a, struct buf *out)
{
    int64_t now = time_mono_us();
    int ok = 0;
    enum bm_rc rc;

    pthread_mutex_lock(&a->mu);
    for (int s = 0; s < SVC_NSOURCES; s++)
        ok += gw_svc_state(&a->svc[s], now, a->poll_interval_ms, NULL) == GW_OK;
    rc = buf_printf(out, "{\"status\":\"%s\",\"poll_interval_ms\":%lld,\"services\":{",
                    ok == SVC_NSOURCES ? "ok" : ok == 0 ? "down" : "degraded",
                    (long long)a->poll_interval_ms);
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        rc = buf_printf(out, "%s\"%s\":", s ? "," : "", svc_info((enum bm_svc)s)->name);
        if (rc == BM_OK)
            rc = put_svc_health(out, &a->svc[s], now, a->poll_interval_ms);
    }
    pthread_mutex_unlock(&a->mu);
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

enum bm_rc gw_agg_dashboard(struct gw_agg *a, struct buf *out)
{
    int64_t now = time_mono_us();
    uint64_t total = 0, anomalies = 0;
    enum bm_rc rc = BM_OK;

    pthread_mutex_lock(&a->mu);
    for (int s = 0; s < SVC_NSOURCES; s++) {
        total += a->svc[s].events;
        anomalies += a->svc[s].anomalies;
    }
    rc = buf_printf(out, "{\"totals\":{\"events\":%llu,\"anomalies\":%llu,\"buffered\":%zu,"
                         "\"buffer_bytes\":%zu,\"last_gateway_sequence\":%llu},"
                         "\"anomalies_by_type\":{",
                    (unsigned long long)total, (unsigned long long)anomalies, a->n, a->bytes,
                    (unsigned long long)a->last_gseq);
    for (int s = 0, first = 1; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct svc_info *info = svc_info((enum bm_svc)s);
        for (int i = 0; i < info->nanomaly_types && rc == BM_OK; i++, first = 0)
            rc = buf_printf(out, "%s\"%s\":%llu", first ? "" : ",", info->anomaly_types[i],
                            (unsigned long long)a->svc[s].by_type[i]);
    }
    if (rc == BM_OK)
        rc = buf_puts(out, "},\"services\":{");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct gw_svc *v = &a->svc[s];
        const struct svc_info *info = svc_info((enum bm_svc)s);
        int best, up = 0;
        enum gw_state st = gw_svc_state(v, now, a->poll_interval_ms, &best);
        for (int r = 0; r < v->nrep; r++)
            up += gw_effective_state(&v->rep[r], now, a->poll_interval_ms) == GW_OK;
        rc = buf_printf(out, "%s\"%s\":{\"state\":\"%s\",\"data_age_ms\":%lld,"
                             "\"replicas\":%d,\"replicas_ok\":%d,\"events\":%llu,"
                             "\"anomalies\":%llu,\"anomalies_by_type\":{",
                        s ? "," : "", svc_info((enum bm_svc)s)->name, gw_state_name(st),
                        (long long)age_ms(&v->rep[best], now), v->nrep, up,
                        (unsigned long long)v->events, (unsigned long long)v->anomalies);
        for (int i = 0; i < info->nanomaly_types && rc == BM_OK; i++)
            rc = buf_printf(out, "%s\"%s\":%llu", i ? "," : "", info->anomaly_types[i],
                            (unsigned long long)v->by_type[i]);
        if (rc == BM_OK)
            rc = buf_puts(out, "}}");
    }
    pthread_mutex_unlock(&a->mu);
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

static enum bm_rc gateway_own(struct gw_agg *a, int64_t uptime_s, struct metrics_snapshot *m)
{
    memset(m, 0, sizeof(*m));
    m->service = svc_info(SVC_GATEWAY)->name;
    m->uptime_s = uptime_s;
    http_counts(&m->requests, &m->requests_4xx, &m->requests_5xx);
    http_latency(&m->latency_p50_ms, &m->latency_p99_ms);
    m->rss_bytes = metrics_rss_bytes();
    m->db_ok = true;
    m->head_sequence = a->last_gseq;
    for (int s = 0; s < SVC_NSOURCES; s++) {
        m->generated += a->svc[s].events;
        m->anomalies += a->svc[s].anomalies;
    }
    return BM_OK;
}

/* One service in the gateway's JSON metrics: poll counts over all
 * replicas, "metrics" of the best replica, then each replica's. */
static enum bm_rc put_svc_metrics(struct buf *b, const struct gw_svc *v, int64_t now,
                                  int64_t interval_ms)
{
    uint64_t polls = 0, errors = 0;
    int best;
    enum bm_rc rc;

    (void)gw_svc_state(v, now, interval_ms, &best);
    for (int r = 0; r < v->nrep; r++) {
        polls += v->rep[r].polls;
        errors += v->rep[r].poll_errors;
    }
    rc = buf_printf(b, "{\"polls\":%llu,\"poll_errors\":%llu,\"metrics\":%s,\"replicas\":[",
                    (unsigned long long)polls, (unsigned long long)errors,
                    v->nrep && v->rep[best].metrics_json ? v->rep[best].metrics_json : "null");
    for (int r = 0; r < v->nrep && rc == BM_OK; r++) {
        rc = buf_puts(b, r ? ",{\"url\":" : "{\"url\":");
        if (rc == BM_OK)
            rc = buf_put_json_str(b, v->rep[r].url);
        if (rc == BM_OK)
            rc = buf_printf(b, ",\"polls\":%llu,\"poll_errors\":%llu,\"metrics\":%s}",
                            (unsigned long long)v->rep[r].polls,
                            (unsigned long long)v->rep[r].poll_errors,
                            v->rep[r].metrics_json ? v->rep[r].metrics_json : "null");
    }
    return rc == BM_OK ? buf_puts(b, "]}") : rc;
}

enum bm_rc gw_agg_metrics_json(struct gw_agg *a, int64_t uptime_s, struct buf *out)
{
    struct metrics_snapshot m;
    int64_t now = time_mono_us();
    enum bm_rc rc;

    pthread_mutex_lock(&a->mu);
    rc = gateway_own(a, uptime_s, &m);
    if (rc == BM_OK)
        rc = buf_puts(out, "{\"gateway\":");
    if (rc == BM_OK)
        rc = metrics_json(&m, out);
    if (rc == BM_OK)
        rc = buf_printf(out, ",\"buffer\":{\"events\":%zu,\"bytes\":%zu,\"max_bytes\":%zu,"
                             "\"evicted\":%llu,\"duplicates_dropped\":%llu,\"oversized_skipped\":%llu},"
                             "\"services\":{",
                        a->n, a->bytes, a->max_bytes, (unsigned long long)a->evicted,
                        (unsigned long long)a->duplicates, (unsigned long long)a->oversized);
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        rc = buf_printf(out, "%s\"%s\":", s ? "," : "", svc_info((enum bm_svc)s)->name);
        if (rc == BM_OK)
            rc = put_svc_metrics(out, &a->svc[s], now, a->poll_interval_ms);
    }
    pthread_mutex_unlock(&a->mu);
    return rc == BM_OK ? buf_puts(out, "}}") : rc;
}

enum bm_rc gw_agg_metrics_prometheus(struct gw_agg *a, int64_t uptime_s, struct buf *out)
{
    struct metrics_snapshot m, svc[SVC_NSOURCES];
    const struct metrics_snapshot *all[SVC_NSOURCES + 1];
    size_t n = 0;
    int64_t now = time_mono_us();
    enum bm_rc rc;

    pthread_mutex_lock(&a->mu);
    rc = gateway_own(a, uptime_s, &m);
    all[n++] = &m;
    /* each service's own figures, from its best replica's last /metrics */
    for (int s = 0; s < SVC_NSOURCES; s++) {
        const struct gw_svc *v = &a->svc[s];
        int best;
        (void)gw_svc_state(v, now, a->poll_interval_ms, &best);
        if (v->nrep && v->rep[best].metrics_json &&
            metrics_from_json(v->rep[best].metrics_json, strlen(v->rep[best].metrics_json),
                              svc_info((enum bm_svc)s)->name, &svc[s]) == BM_OK)
            all[n++] = &svc[s];
    }
    if (rc == BM_OK)
        rc = metrics_prometheus_n(all, n, out);
    if (rc == BM_OK)
        rc = buf_printf(out, "# TYPE bankmock_gateway_buffer_events gauge\n"
                             "bankmock_gateway_buffer_events %zu\n"
                             "# TYPE bankmock_gateway_buffer_bytes gauge\n"
                             "bankmock_gateway_buffer_bytes %zu\n"
                             "# TYPE bankmock_gateway_duplicates_dropped_total counter\n"
                             "bankmock_gateway_duplicates_dropped_total %llu\n"
                             "# TYPE bankmock_gateway_upstream_up gauge\n",
                        a->n, a->bytes, (unsigned long long)a->duplicates);
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++)
        rc = buf_printf(out, "bankmock_gateway_upstream_up{service=\"%s\"} %d\n", svc_info((enum bm_svc)s)->name,
                        gw_svc_state(&a->svc[s], now, a->poll_interval_ms, NULL) == GW_OK);
    if (rc == BM_OK)
        rc = buf_puts(out, "# TYPE bankmock_gateway_upstream_events_total counter\n");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++)
        rc = buf_printf(out, "bankmock_gateway_upstream_events_total{service=\"%s\"} %llu\n",
                        svc_info((enum bm_svc)s)->name, (unsigned long long)a->svc[s].events);
    if (rc == BM_OK)
        rc = buf_puts(out, "# TYPE bankmock_gateway_upstream_head_sequence gauge\n");
    for (int s = 0; s < SVC_NSOURCES && rc == BM_OK; s++) {
        const struct gw_svc *v = &a->svc[s];
        for (int r = 0; r < v->nrep && rc == BM_OK; r++)
            rc = buf_printf(out,
                            "bankmock_gateway_upstream_head_sequence{service=\"%s\",replica=\"%d\"} "
                            "%llu\n",
                            svc_info((enum bm_svc)s)->name, r, (unsigned long long)v->rep[r].head_sequence);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}
